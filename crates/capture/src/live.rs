//! Live capture from a network interface through libpcap (`-i`).
//!
//! It owns opening the interface (snap length, kernel buffer size, a read
//! timeout that bounds delivery delay), applying the BPF filter in the kernel, and
//! reporting the kernel's and the interface's drop counts. A read that times
//! out yields a clock tick, so the caller can expire connections on a quiet
//! link: timeouts run on packet time plus the wall clock.
//!
//! It does not choose threads or batching.

use crate::{CaptureError, CaptureErrorKind, Frame};
use pcap::{Active, Capture};
use quartet_wire::Timestamp;
use std::time::{SystemTime, UNIX_EPOCH};

/// Settings of a live capture.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    pub interface: String,
    /// Bytes kept of each frame.
    pub snaplen: u32,
    /// Kernel buffer in bytes.
    pub buffer_size: u32,
    /// BPF filter compiled by libpcap and run in the kernel.
    pub filter: Option<String>,
    /// How long a read waits before it yields a tick, in milliseconds.
    pub tick_ms: u32,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            interface: String::new(),
            // Zeek's defaults (Pcap::snaplen, Pcap::bufsize). In immediate
            // mode libpcap's ring has one slot per packet sized by the snap
            // length (up to the link's MTU), so 9216 bytes in 128 MiB holds
            // about 14,000 packets where 65535 in 64 MiB held about 1,000
            // (docs/operations.md, "Size the kernel ring in packets").
            snaplen: 9_216,
            buffer_size: 128 << 20,
            filter: None,
            tick_ms: 250,
        }
    }
}

/// What a live read gave.
#[derive(Debug)]
pub enum LiveEvent<'a> {
    Frame(Frame<'a>),
    /// Nothing arrived within the tick; `now` is the wall clock.
    Tick(Timestamp),
}

/// Counts the kernel keeps for a capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// Frames the filter passed.
    pub received: u64,
    /// Dropped because the kernel buffer was full.
    pub dropped: u64,
    /// Dropped by the interface or its driver.
    pub if_dropped: u64,
}

/// An open interface.
pub struct LiveSource {
    name: String,
    cap: Capture<Active>,
    linktype: u32,
    tick: std::time::Duration,
    last_event: std::time::Instant,
    buf: Vec<u8>,
}

fn live_err(name: &str, e: pcap::Error) -> CaptureError {
    CaptureError {
        path: name.to_owned(),
        offset: 0,
        kind: CaptureErrorKind::Corrupt(e.to_string()),
    }
}

/// The wall clock as packet time.
pub fn wall_clock() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_micros(d.as_micros() as i64)
}

impl LiveSource {
    pub fn open(cfg: &LiveConfig) -> Result<Self, CaptureError> {
        let name = cfg.interface.as_str();
        let inactive = Capture::from_device(name)
            .map_err(|e| live_err(name, e))?
            .snaplen(cfg.snaplen.min(i32::MAX as u32) as i32)
            .buffer_size(cfg.buffer_size.min(i32::MAX as u32) as i32)
            .immediate_mode(true);
        // Non-blocking: on Linux (TPACKET_V3) a blocking read with a timeout
        // still waits forever while no packet at all arrives, and a quiet
        // link must tick. An empty read sleeps 1 ms instead.
        let mut cap = inactive
            .open()
            .and_then(|c| c.setnonblock())
            .map_err(|e| live_err(name, e))?;
        if let Some(f) = &cfg.filter {
            cap.filter(f, true).map_err(|e| live_err(name, e))?;
        }
        let linktype = cap.get_datalink().0 as u32;
        Ok(LiveSource {
            name: name.to_owned(),
            cap,
            linktype,
            tick: std::time::Duration::from_millis(cfg.tick_ms.max(1) as u64),
            buf: Vec::with_capacity(cfg.snaplen as usize),
            last_event: std::time::Instant::now(),
        })
    }

    /// The next frame, or a tick when none arrived within the tick period.
    /// The frame is copied out of libpcap's ring (the read loop cannot
    /// lend it), one copy per packet at live rates.
    pub fn next_event(&mut self) -> Result<LiveEvent<'_>, CaptureError> {
        let (ts, wire_len) = loop {
            match self.cap.next_packet() {
                Ok(p) => {
                    // time_t and suseconds_t are i64 here but narrower elsewhere.
                    #[allow(clippy::unnecessary_cast)]
                    let ts = Timestamp::from_micros(
                        p.header.ts.tv_sec as i64 * 1_000_000 + p.header.ts.tv_usec as i64,
                    );
                    self.buf.clear();
                    self.buf.extend_from_slice(p.data);
                    break (ts, p.header.len);
                }
                Err(pcap::Error::TimeoutExpired) => {
                    if self.last_event.elapsed() >= self.tick {
                        self.last_event = std::time::Instant::now();
                        return Ok(LiveEvent::Tick(wall_clock()));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(e) => return Err(live_err(&self.name, e)),
            }
        };
        self.last_event = std::time::Instant::now();
        Ok(LiveEvent::Frame(Frame {
            ts,
            linktype: self.linktype,
            wire_len,
            data: &self.buf,
            shared: None,
        }))
    }

    /// The kernel's counters so far.
    pub fn stats(&mut self) -> LiveStats {
        match self.cap.stats() {
            Ok(s) => LiveStats {
                received: s.received as u64,
                dropped: s.dropped as u64,
                if_dropped: s.if_dropped as u64,
            },
            Err(_) => LiveStats::default(),
        }
    }

    pub fn linktype(&self) -> u32 {
        self.linktype
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_interface_is_an_error_naming_it() {
        let cfg = LiveConfig {
            interface: "quartet-no-such-if0".to_string(),
            ..Default::default()
        };
        match LiveSource::open(&cfg) {
            Ok(_) => panic!("opened an interface that does not exist"),
            Err(e) => assert!(e.to_string().contains("quartet-no-such-if0"), "{e}"),
        }
    }

    #[test]
    fn loopback_ticks_when_quiet() {
        // Needs CAP_NET_RAW (CI runs as root); a test never skips silently.
        let cfg = LiveConfig {
            interface: "lo".to_string(),
            filter: Some("udp port 9".to_string()),
            tick_ms: 50,
            ..Default::default()
        };
        let mut src = LiveSource::open(&cfg).expect("opening lo needs root (CI runs as root)");
        let mut ticks = 0;
        for _ in 0..100 {
            if let LiveEvent::Tick(t) = src.next_event().expect("reading lo") {
                assert!(t.micros() > 1_600_000_000_000_000);
                ticks += 1;
                if ticks == 2 {
                    break;
                }
            }
        }
        assert_eq!(ticks, 2);
    }
}
