//! Live capture on the loopback device into a pcap savefile.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{anyhow, Context, Result};

use crate::CaptureStats;

/// A running capture: a thread reading packets and writing them out.
pub struct Capture {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<CaptureStats>>,
}

impl Capture {
    /// Opens `device` (immediate mode, `buffer_bytes` ring, `snaplen`), sets
    /// `filter` and starts writing every packet to `out`. When this returns,
    /// the filter is in place and packets are being buffered.
    pub fn start(
        device: &str,
        filter: &str,
        snaplen: i32,
        buffer_bytes: i32,
        out: &Path,
    ) -> Result<Capture> {
        let mut cap = pcap::Capture::from_device(device)
            .with_context(|| format!("pcap: no device {device}"))?
            .immediate_mode(true)
            .buffer_size(buffer_bytes)
            .snaplen(snaplen)
            .timeout(50)
            .open()
            .with_context(|| {
                format!("pcap: cannot open {device} for live capture (needs root or CAP_NET_RAW)")
            })?;
        cap.filter(filter, true)
            .with_context(|| format!("pcap: bad filter `{filter}`"))?;
        // Non-blocking reads: with a memory-mapped ring, libpcap's blocking
        // read keeps polling past the read timeout while nothing arrives, so
        // the thread could never notice the stop request.
        let mut cap = cap
            .setnonblock()
            .context("pcap: cannot make the capture non-blocking")?;
        let mut save = cap
            .savefile(out)
            .with_context(|| format!("pcap: cannot write {}", out.display()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || -> Result<CaptureStats> {
                let mut written = 0u64;
                let mut stop_seen: Option<std::time::Instant> = None;
                loop {
                    match cap.next_packet() {
                        Ok(p) => {
                            save.write(&p);
                            written += 1;
                            // Unrelated traffic on the filtered ports must not
                            // keep the capture alive for ever.
                            if stop2.load(Ordering::Acquire) {
                                let t = *stop_seen.get_or_insert_with(std::time::Instant::now);
                                if t.elapsed() > std::time::Duration::from_secs(2) {
                                    break;
                                }
                            }
                        }
                        // The ring is empty: stop if asked to (the grace
                        // period has passed, so the link is quiet).
                        Err(pcap::Error::TimeoutExpired) => {
                            if stop2.load(Ordering::Acquire) {
                                break;
                            }
                            std::thread::sleep(std::time::Duration::from_millis(1));
                        }
                        Err(e) => return Err(anyhow!("pcap: reading packets: {e}")),
                    }
                }
                save.flush().context("pcap: flushing the savefile")?;
                let st = cap.stats().context("pcap: reading statistics")?;
                Ok(CaptureStats {
                    received: u64::from(st.received),
                    dropped: u64::from(st.dropped),
                    if_dropped: u64::from(st.if_dropped),
                    written,
                })
            })
            .context("spawning the capture thread")?;
        Ok(Capture { stop, thread })
    }

    /// Asks the capture to stop once the device has been quiet for one read
    /// timeout, and returns libpcap's counters.
    pub fn finish(self) -> Result<CaptureStats> {
        self.stop.store(true, Ordering::Release);
        self.thread
            .join()
            .map_err(|_| anyhow!("the capture thread panicked"))?
    }
}
