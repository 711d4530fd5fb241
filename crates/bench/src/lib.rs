//! Benchmark workloads for quartet.
//!
//! The `quartet-benchgen` binary writes two synthetic captures with a known
//! number of TCP connections, built with `quartet-testkit`'s
//! [`PacketBuilder`] and [`PcapWriter`]:
//!
//! * [`Flows`]: many short flows (SYN, SYN-ACK, ACK, data, FIN, FIN, ACK),
//!   `open` of them in progress at any moment, interleaved packet by packet.
//! * [`Concurrent`]: `conns` three-way handshakes, and only after the last
//!   one a reset for each, so every connection is open at the same time:
//!   the capture behind the memory-per-connection figure.
//! * [`SynFlood`]: `syns` SYNs, each on its own 4-tuple and never answered:
//!   a flood that fills any connection table (the `--max-conns` test).
//!
//! Every connection has its own 4-tuple, so the truth is simply the number
//! of connections generated. The criterion micro-benchmarks live in
//! `benches/` (`cargo bench -p quartet-bench`).

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use quartet_testkit::{PacketBuilder, PcapWriter, Tcp, TcpFlags};

/// Capture start: 2023-11-14 22:13:20 UTC.
pub const START_SECS: u64 = 1_700_000_000;

/// Packets per generated short flow.
pub const FLOW_PACKETS: u64 = 7;

const CLIENT_ISN: u32 = 1000;
const SERVER_ISN: u32 = 5000;
const REQUEST: usize = 64;

/// The two endpoints of connection `i`: a distinct client address in
/// 10.0.0.0/8 (source ports change every 2^24 connections) and one of 200
/// servers on port 80 or 443.
pub fn endpoints(i: u64) -> (SocketAddr, SocketAddr) {
    let low = (i & 0xff_ffff) as u32;
    let client = Ipv4Addr::from(0x0a00_0000 | low);
    let sport = 1024 + ((i >> 24) as u16 % 60000);
    let server = Ipv4Addr::new(172, 16, 0, 1 + (i % 200) as u8);
    let dport = if i % 2 == 0 { 80 } else { 443 };
    (
        SocketAddr::new(IpAddr::V4(client), sport),
        SocketAddr::new(IpAddr::V4(server), dport),
    )
}

/// Frame `k` (0..7) of short flow `i`.
pub fn flow_frame(i: u64, k: u64) -> Vec<u8> {
    use TcpFlags as F;
    let (c, s) = endpoints(i);
    let (ci, si) = (CLIENT_ISN, SERVER_ISN);
    let req = REQUEST as u32;
    let c2s = |t: Tcp| PacketBuilder::tcp(c, s, t);
    let s2c = |t: Tcp| PacketBuilder::tcp(s, c, t);
    let b = match k {
        0 => c2s(Tcp::new(F::SYN).seq(ci)),
        1 => s2c(Tcp::new(F::SYN | F::ACK).seq(si).ack(ci + 1)),
        2 => c2s(Tcp::new(F::ACK).seq(ci + 1).ack(si + 1)),
        3 => c2s(Tcp::new(F::PSH | F::ACK).seq(ci + 1).ack(si + 1)).payload_len(REQUEST),
        4 => c2s(Tcp::new(F::FIN | F::ACK).seq(ci + 1 + req).ack(si + 1)),
        5 => s2c(Tcp::new(F::FIN | F::ACK).seq(si + 1).ack(ci + 2 + req)),
        _ => c2s(Tcp::new(F::ACK).seq(ci + 2 + req).ack(si + 2)),
    };
    b.build()
}

/// Frame `k` (0..4) of a connection of the concurrent capture: the
/// handshake (0..3), then a client reset (3).
pub fn concurrent_frame(i: u64, k: u64) -> Vec<u8> {
    use TcpFlags as F;
    let (c, s) = endpoints(i);
    let (ci, si) = (CLIENT_ISN, SERVER_ISN);
    let b = match k {
        0 => PacketBuilder::tcp(c, s, Tcp::new(F::SYN).seq(ci)),
        1 => PacketBuilder::tcp(s, c, Tcp::new(F::SYN | F::ACK).seq(si).ack(ci + 1)),
        2 => PacketBuilder::tcp(c, s, Tcp::new(F::ACK).seq(ci + 1).ack(si + 1)),
        _ => PacketBuilder::tcp(c, s, Tcp::new(F::RST).seq(ci + 1)),
    };
    b.build()
}

/// What a generator wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub connections: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Most connections open (SYN seen, final packet not yet) at once.
    pub max_open: u64,
}

impl Summary {
    pub fn json(&self, mode: &str) -> String {
        format!(
            "{{\"mode\": \"{mode}\", \"connections\": {}, \"tcp_connections\": {}, \"packets\": {}, \"bytes\": {}, \"max_open\": {}}}\n",
            self.connections, self.connections, self.packets, self.bytes, self.max_open
        )
    }
}

struct Out<W: Write> {
    w: PcapWriter<W>,
    packets: u64,
    bytes: u64,
    step_us: u64,
}

impl<W: Write> Out<W> {
    fn put(&mut self, frame: &[u8]) -> io::Result<()> {
        let ts =
            Duration::from_secs(START_SECS) + Duration::from_micros(self.packets * self.step_us);
        self.w.write(ts, frame)?;
        self.packets += 1;
        self.bytes += 16 + frame.len() as u64;
        Ok(())
    }
}

/// Many short flows, `open` in progress at once.
#[derive(Clone, Copy, Debug)]
pub struct Flows {
    pub flows: u64,
    pub open: u64,
    /// Microseconds between consecutive packets.
    pub step_us: u64,
}

impl Flows {
    /// Lane `j` carries flows `j`, `j + open`, `j + 2 open`, ...; every round
    /// emits the next packet of each lane, lanes staggered by `j % 7` rounds
    /// so that handshakes and teardowns are spread evenly.
    pub fn write<W: Write>(&self, w: PcapWriter<W>) -> io::Result<(Summary, W)> {
        let open = self.open.clamp(1, self.flows.max(1));
        let mut out = Out {
            w,
            packets: 0,
            bytes: 0,
            step_us: self.step_us,
        };
        let per_lane = self.flows.div_ceil(open);
        let rounds = per_lane * FLOW_PACKETS + FLOW_PACKETS;
        for r in 0..rounds {
            for j in 0..open {
                let off = j % FLOW_PACKETS;
                let Some(idx) = r.checked_sub(off) else {
                    continue;
                };
                let flow = (idx / FLOW_PACKETS) * open + j;
                if idx / FLOW_PACKETS >= per_lane || flow >= self.flows {
                    continue;
                }
                out.put(&flow_frame(flow, idx % FLOW_PACKETS))?;
            }
        }
        let w = out.w.finish()?;
        let s = Summary {
            connections: self.flows,
            packets: out.packets,
            bytes: out.bytes,
            max_open: open,
        };
        Ok((s, w))
    }
}

/// `conns` connections that are all open at the same time.
#[derive(Clone, Copy, Debug)]
pub struct Concurrent {
    pub conns: u64,
    pub step_us: u64,
}

impl Concurrent {
    pub fn write<W: Write>(&self, w: PcapWriter<W>) -> io::Result<(Summary, W)> {
        let mut out = Out {
            w,
            packets: 0,
            bytes: 0,
            step_us: self.step_us,
        };
        for i in 0..self.conns {
            for k in 0..3 {
                out.put(&concurrent_frame(i, k))?;
            }
        }
        for i in 0..self.conns {
            out.put(&concurrent_frame(i, 3))?;
        }
        let w = out.w.finish()?;
        let s = Summary {
            connections: self.conns,
            packets: out.packets,
            bytes: out.bytes,
            max_open: self.conns,
        };
        Ok((s, w))
    }
}

/// Frame of SYN `i` of the flood: connection `i`'s first packet.
pub fn syn_frame(i: u64) -> Vec<u8> {
    let (c, s) = endpoints(i);
    PacketBuilder::tcp(c, s, Tcp::new(TcpFlags::SYN).seq(CLIENT_ISN)).build()
}

/// `syns` unanswered SYNs, each on a 4-tuple of its own, `step_us` apart.
#[derive(Clone, Copy, Debug)]
pub struct SynFlood {
    pub syns: u64,
    pub step_us: u64,
}

impl SynFlood {
    pub fn write<W: Write>(&self, w: PcapWriter<W>) -> io::Result<(Summary, W)> {
        let mut out = Out {
            w,
            packets: 0,
            bytes: 0,
            step_us: self.step_us,
        };
        for i in 0..self.syns {
            out.put(&syn_frame(i))?;
        }
        let w = out.w.finish()?;
        let s = Summary {
            connections: self.syns,
            packets: out.packets,
            bytes: out.bytes,
            max_open: self.syns,
        };
        Ok((s, w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quartet_testkit::linktype;

    #[test]
    fn flows_emit_every_packet_once() {
        let g = Flows {
            flows: 103,
            open: 10,
            step_us: 1,
        };
        let (s, bytes) = g.write(PcapWriter::in_memory(linktype::ETHERNET)).unwrap();
        assert_eq!(s.packets, 103 * FLOW_PACKETS);
        assert_eq!(s.bytes + 24, bytes.len() as u64);
    }

    #[test]
    fn concurrent_counts() {
        let g = Concurrent {
            conns: 50,
            step_us: 1,
        };
        let (s, _) = g.write(PcapWriter::in_memory(linktype::ETHERNET)).unwrap();
        assert_eq!(s.packets, 200);
        assert_eq!(s.max_open, 50);
    }

    #[test]
    fn syn_flood_is_one_syn_per_tuple() {
        let g = SynFlood {
            syns: 1000,
            step_us: 1,
        };
        let (s, bytes) = g.write(PcapWriter::in_memory(linktype::ETHERNET)).unwrap();
        assert_eq!((s.connections, s.packets), (1000, 1000));
        assert_eq!(s.bytes + 24, bytes.len() as u64);
        // Ethernet + IPv4 + TCP with only SYN set (byte 47: TCP flags).
        let first = &bytes[24 + 16..];
        assert_eq!(first[14 + 20 + 13], 0x02);
        assert_ne!(syn_frame(0), syn_frame(1));
    }

    #[test]
    fn endpoints_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000 {
            assert!(seen.insert(endpoints(i)));
        }
        assert_ne!(endpoints(0), endpoints(1 << 24));
    }
}
