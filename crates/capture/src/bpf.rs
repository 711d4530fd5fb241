//! BPF filtering (`-f`) of raw frames, compiled and run by libpcap through
//! the `pcap` crate, so expressions mean exactly what they mean to Zeek.
//!
//! It owns compiling one program per link type, lazily, because a pcapng file
//! may mix link types and a BPF program is only valid for the link type it
//! was compiled for. It does not decide what to do with frames that do not
//! match.
//!
//! Known difference from a libpcap read loop: `pcap::BpfProgram::filter`
//! (pcap 2.x) presents the frame with `len == caplen`, so primitives that test
//! the original length (`greater`, `less`, `len`) see the captured length of
//! frames cut by a snap length.
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::{env, process};

use pcap::{BpfProgram, Capture, Linktype};

use crate::Frame;

/// LINKTYPE_ETHERNET, the link type an expression is validated against.
const LINKTYPE_ETHERNET: u32 = 1;
/// Snap length of the handles programs are compiled on; it is only the value
/// an accepting program returns.
const SNAPLEN: u32 = 262_144;

/// A compiled `-f` expression.
pub struct BpfFilter {
    expr: String,
    /// Programs by link type; `None` where libpcap cannot filter that link
    /// type. Captures use one or a few link types, so a scan is enough.
    programs: Vec<(u32, Option<BpfProgram>)>,
}

impl BpfFilter {
    /// Validates `expr` by compiling it for Ethernet; the message is
    /// libpcap's.
    pub fn new(expr: &str) -> Result<Self, String> {
        let program = compile(expr, LINKTYPE_ETHERNET)?;
        Ok(BpfFilter {
            expr: expr.to_owned(),
            programs: vec![(LINKTYPE_ETHERNET, Some(program))],
        })
    }

    /// The expression as given.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// True if the frame passes the filter. A frame whose link type the
    /// expression cannot be compiled for (libpcap refuses it, as it would
    /// refuse to read such a file with this filter) never matches.
    pub fn matches(&mut self, frame: &Frame) -> bool {
        let at = match self
            .programs
            .iter()
            .position(|(lt, _)| *lt == frame.linktype)
        {
            Some(at) => at,
            None => {
                let program = compile(&self.expr, frame.linktype).ok();
                self.programs.push((frame.linktype, program));
                self.programs.len() - 1
            }
        };
        self.programs[at]
            .1
            .as_ref()
            .is_some_and(|p| p.filter(frame.data))
    }
}

impl fmt::Debug for BpfFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BpfFilter")
            .field("expr", &self.expr)
            .finish()
    }
}

fn compile(expr: &str, linktype: u32) -> Result<BpfProgram, String> {
    match compile_for_savefile(expr, linktype) {
        Some(result) => result,
        None => compile_for_dead(expr, linktype),
    }
}

/// libpcap generates different code for a savefile than for a live or dead
/// handle: on DLT_NULL/DLT_LOOP/DLT_ENC it recognises IPv6 by every BSD
/// `AF_INET6` value a capture file may hold (24, 28, 30) instead of the host's
/// own (10 on Linux). Zeek compiles against the file it reads, so we compile
/// against a header-only savefile of the same link type, written in host
/// byte order (libpcap also byte-swaps that AF value for files from an
/// opposite-endian host, which we do not model). `None` if no temporary file
/// can be written; the caller then falls back to a dead handle.
fn compile_for_savefile(expr: &str, linktype: u32) -> Option<Result<BpfProgram, String>> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let path = env::temp_dir().join(format!("quartet-bpf-{}-{seq}.pcap", process::id()));
    let mut header = Vec::with_capacity(24);
    header.extend(0xa1b2_c3d4u32.to_ne_bytes());
    header.extend(2u16.to_ne_bytes());
    header.extend(4u16.to_ne_bytes());
    header.extend([0; 8]); // thiszone, sigfigs
    header.extend(SNAPLEN.to_ne_bytes());
    header.extend(linktype.to_ne_bytes());
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| f.write_all(&header));
    let capture = written.ok().map(|()| Capture::from_file(&path));
    let _ = fs::remove_file(&path);
    Some(
        capture?
            .ok()?
            .compile(expr, true)
            .map_err(|e| e.to_string()),
    )
}

fn compile_for_dead(expr: &str, linktype: u32) -> Result<BpfProgram, String> {
    let dlt = Linktype(linktype_to_dlt(linktype) as i32);
    let dead = Capture::dead(dlt).map_err(|e| e.to_string())?;
    // Optimised, with netmask 0, as Zeek compiles its filters.
    dead.compile(expr, true).map_err(|e| e.to_string())
}

/// Frames carry LINKTYPE_* values (what files store; libpcap maps them itself
/// when it opens a savefile); `pcap_open_dead` takes the host's DLT_* values.
/// They differ for a few old types (libpcap's `linktype_to_dlt`, Linux values).
fn linktype_to_dlt(linktype: u32) -> u32 {
    match linktype {
        100 => 11, // ATM_RFC1483
        101 => 12, // RAW
        102 => 15, // SLIP_BSDOS
        103 => 16, // PPP_BSDOS
        106 => 19, // ATM_CLIP
        other => other,
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::testgen::eth_ipv4_tcp;
    use quartet_wire::Timestamp;

    fn frame(linktype: u32, data: &[u8]) -> Frame<'_> {
        Frame {
            ts: Timestamp::ZERO,
            linktype,
            wire_len: data.len() as u32,
            data,
            shared: None,
        }
    }

    #[test]
    fn matches_ethernet_ipv4_tcp() {
        let http = eth_ipv4_tcp(80);
        let ssh = eth_ipv4_tcp(22);
        let mut f = BpfFilter::new("tcp port 80 and host 10.0.0.2").unwrap();
        assert!(f.matches(&frame(1, &http)));
        assert!(!f.matches(&frame(1, &ssh)));
        assert!(!f.matches(&frame(1, &http[..20])));
        assert_eq!(f.expr(), "tcp port 80 and host 10.0.0.2");
    }

    #[test]
    fn compiles_per_linktype() {
        let eth = eth_ipv4_tcp(80);
        let raw = &eth[14..]; // the same packet without its Ethernet header
        let mut f = BpfFilter::new("tcp dst port 80").unwrap();
        assert!(f.matches(&frame(101, raw)));
        assert!(f.matches(&frame(1, &eth)));
        assert!(!f.matches(&frame(101, &eth)));
        // Ethernet-only primitives cannot compile for raw IP: no match.
        let mut f = BpfFilter::new("ether host 02:00:00:00:00:01").unwrap();
        assert!(f.matches(&frame(1, &eth)));
        assert!(!f.matches(&frame(101, raw)));
    }

    #[test]
    fn loopback_ipv6_uses_savefile_af_values() {
        // DLT_NULL with AF_INET6 as written by macOS (30), host byte order.
        let mut null = 30u32.to_ne_bytes().to_vec();
        null.extend_from_slice(&[0x60, 0, 0, 0, 0, 20, 6, 64]);
        null.extend_from_slice(&[0; 32]); // addresses
        let mut f = BpfFilter::new("ip6 and tcp").unwrap();
        assert!(f.matches(&frame(0, &null)));
        assert!(!BpfFilter::new("ip").unwrap().matches(&frame(0, &null)));
    }

    #[test]
    fn rejects_bad_expressions() {
        let err = BpfFilter::new("tcp port banana").unwrap_err();
        assert!(!err.is_empty());
        assert!(BpfFilter::new("((").is_err());
    }
}
