//! Test support for quartet: build packets, write captures, compare logs.
//!
//! Everything here is dependency-free and deterministic, so tests anywhere in
//! the workspace can describe a trace in a few lines and get byte-identical
//! captures on every run:
//!
//! * [`packet`]: one frame at a time: Ethernet (with optional VLAN tags) or
//!   raw IP, IPv4/IPv6, TCP/UDP/ICMP/ICMPv6 or any other IP protocol, with
//!   correct checksums unless asked to corrupt one.
//! * [`pcap`]: a classic (microsecond) pcap writer with a link type and an
//!   optional snaplen that truncates frames as a capture would.
//! * [`conversation`]: a TCP script that tracks both sides' sequence numbers
//!   (`c.syn(t).synack(t).ack(t).data_c2s(t, 100)...`).
//! * [`noise`]: a seeded xorshift generator for tests that fill or mutate
//!   bytes.
//! * [`connlog`] and [`json`]: reading conn.log output (Zeek TSV or JSON
//!   lines), masking volatile values, and printing a line diff.
//! * [`shared_path`]: the shared traces, corpus and tools beside the
//!   repository, or a loud failure when they are missing.
//! * [`is_root`]: whether a test may capture live (the loopback tests fail,
//!   never skip, without root).
//!
//! Test helpers panic on misuse (for example an IPv4 source with an IPv6
//! destination): a broken test should stop loudly, not produce a subtly
//! wrong capture.
#![forbid(unsafe_code)]

pub mod checksum;
pub mod connlog;
pub mod conversation;
pub mod golden;
pub mod json;
pub mod noise;
pub mod packet;
pub mod pcap;

pub use conversation::{Conversation, Dir};
pub use packet::{Icmp, PacketBuilder, Tcp, TcpFlags};
pub use pcap::{linktype, Packet, PcapWriter};

/// `rel` inside `shared/`, the directory beside the repository root that
/// holds Zeek's traces and conformance corpus and the shared tools. Panics,
/// naming the path, when it is not there: tests that need it fail in CI
/// rather than skip.
pub fn shared_path(rel: &str) -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    assert!(
        p.exists(),
        "{} is missing: the tests expect a checkout of shared/ beside the repository root",
        p.display()
    );
    p
}

/// Whether the process runs as root (effective uid 0): live capture on
/// `lo` needs it. Read from `/proc/self/status` (the second field of its
/// `Uid:` line), so the testkit stays free of libc bindings.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[test]
    #[should_panic(expected = "is missing")]
    fn a_missing_shared_path_fails_loudly() {
        super::shared_path("no-such-entry-in-shared");
    }
}
