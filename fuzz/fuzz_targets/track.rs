//! A sequence of packets in arbitrary order, built directly as `PacketMeta`
//! values, fed to a `Tracker` in both TCP models and then `finish`ed.
//!
//! Invariants checked after `finish`, per model:
//! - every created connection is written exactly once:
//!   `conns_created == conns_removed == records written`;
//! - nothing is left: `len() == 0`, `pending_timers() == 0`;
//! - `stats.counted` equals the packets the records count
//!   (`orig_pkts + resp_pkts` summed), and the `Counted` dispositions.
//!
//! Input: two option bytes, then 10-byte records (see `Rec::meta`). A few
//! addresses and ports make packets of different records meet in the same
//! connections; sequence numbers are offsets from fixed initial sequence
//! numbers (one of them close to the 2^32 wrap) so that the offsets of a
//! handshake, data and FINs line up.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quartet_decode::{
    tcp_flags, Checksum, Encap, EncapStack, IcmpMeta, L2Info, PacketMeta, TcpHeaderStatus, TcpMeta,
    Transport, UdpMeta,
};
use quartet_track::{Disposition, TcpModel, TrackConfig, Tracker};
use quartet_wire::{Addr, Timestamp};

const REC: usize = 10;
const MAX_RECORDS: usize = 512;

/// Client and server address of each pair; the last pair is one host
/// talking to itself.
const V6_A: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V6_B: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const PAIRS: [(Addr, Addr); 4] = [
    (Addr::v4([10, 0, 0, 1]), Addr::v4([10, 0, 0, 2])),
    (Addr::v4([10, 0, 0, 1]), Addr::v4([192, 168, 1, 3])),
    (Addr::v6(V6_A), Addr::v6(V6_B)),
    (Addr::v4([10, 0, 0, 2]), Addr::v4([10, 0, 0, 2])),
];
const CLIENT_PORTS: [u16; 8] = [40000, 40001, 53, 0, 80, 1024, 123, 65535];
const SERVER_PORTS: [u16; 8] = [80, 22, 53, 123, 40000, 21, 0, 5353];
/// Initial sequence numbers of the client and the server.
const ISN: [u32; 2] = [0xffff_ff00, 1000];

/// One packet, 10 bytes:
/// - 0: time step: bits 7-6 the unit (ms forward, s forward, minute
///   forward, ms backward), bits 5-0 how many;
/// - 1: bit 0 direction (server to client), bits 2-1 protocol (TCP, TCP,
///   UDP, ICMP-or-other), bits 4-3 address pair, bit 5 inside a UDP tunnel,
///   bit 6 a VLAN tag, bit 7 MAC addresses;
/// - 2: bits 2-0 client port, bits 5-3 server port, bits 7-6 IP options
///   (extra IP header bytes: 0, 4, 40 or a short `ip_len`);
/// - 3: TCP flags (bits 5-0), bit 6 bad checksum, bit 7 bad TCP header /
///   truncated capture (ICMP incomplete, UDP payload cut short);
/// - 4-5: sequence offset (LE) from the sender's ISN; ICMP type and code;
///   byte 4 is also the first UDP payload byte and byte 5 its third;
/// - 6-7: acknowledgement offset (LE) from the receiver's ISN;
/// - 8: payload length (255: 1460);
/// - 9: TCP window (bits 7-4, scaled by 4096), window scale option (bit 3
///   set: bits 2-0); for protocol 3: bit 7 ICMP, else bits 6-0 the protocol.
struct Rec<'a>(&'a [u8]);

impl Rec<'_> {
    fn step(&self) -> i64 {
        let m = i64::from(self.0[0] & 0x3f);
        match self.0[0] >> 6 {
            0 => m * 1_000,
            1 => m * 1_000_000,
            2 => m * 60_000_000,
            _ => -m * 1_000,
        }
    }

    fn meta(&self, ts: Timestamp) -> PacketMeta {
        let b = self.0;
        let dir = usize::from(b[1] & 1);
        let (client, server) = PAIRS[usize::from(b[1] >> 3 & 3)];
        let (cport, sport) = (
            CLIENT_PORTS[usize::from(b[2] & 7)],
            SERVER_PORTS[usize::from(b[2] >> 3 & 7)],
        );
        let (src, dst, srcp, dstp) = if dir == 0 {
            (client, server, cport, sport)
        } else {
            (server, client, sport, cport)
        };
        let v6 = !src.is_v4();
        let ip_hdr: u32 = if v6 { 40 } else { 20 } + [0, 4, 40, 0][usize::from(b[2] >> 6)];
        let short = b[2] >> 6 == 3;
        let bad_sum = b[3] & 0x40 != 0;
        let bad = b[3] & 0x80 != 0;
        let checksum = if bad_sum {
            Checksum::Bad
        } else if bad {
            Checksum::Unchecked
        } else {
            Checksum::Good
        };
        let off16 = |i: usize| u32::from(u16::from_le_bytes([b[i], b[i + 1]]));
        let payload = if b[8] == 255 { 1460 } else { u32::from(b[8]) };
        let proto_sel = b[1] >> 1 & 3;
        let (ip_proto, transport, l4_hdr) = match proto_sel {
            0 | 1 => {
                let flags = b[3] & 0x3f;
                let t = TcpMeta {
                    sport: srcp,
                    dport: dstp,
                    seq: ISN[dir].wrapping_add(off16(4)),
                    ack: ISN[1 - dir].wrapping_add(off16(6)),
                    flags,
                    window: u16::from(b[9] >> 4) << 12,
                    window_scale: (flags & tcp_flags::SYN != 0 && b[9] & 8 != 0)
                        .then_some(b[9] & 7),
                    header_status: match (bad, b[9] & 1) {
                        (false, _) => TcpHeaderStatus::Ok,
                        (true, 0) => TcpHeaderStatus::BadHeaderLen,
                        (true, _) => TcpHeaderStatus::Truncated,
                    },
                    payload_len: payload,
                    payload_caplen: payload,
                    checksum,
                };
                (6, Transport::Tcp(t), 20)
            }
            2 => {
                let mut head = [0; 16];
                head[0] = b[4];
                head[2] = b[5];
                let u = UdpMeta {
                    sport: srcp,
                    dport: dstp,
                    udp_len: (8 + payload) as u16,
                    payload_len: payload,
                    payload_caplen: if bad { payload / 2 } else { payload },
                    checksum,
                    head,
                    tunnel: None,
                };
                (17, Transport::Udp(u), 8)
            }
            _ if b[9] & 0x80 != 0 => {
                let i = IcmpMeta {
                    v6,
                    icmp_type: b[4],
                    code: b[5],
                    len: 8 + payload,
                    complete: !bad,
                    checksum,
                };
                (if v6 { 58 } else { 1 }, Transport::Icmp(i), 0)
            }
            _ => {
                let p = match b[9] & 0x7f {
                    1 | 6 | 17 | 58 => 132,
                    p => p,
                };
                (p, Transport::Other, 0)
            }
        };
        let ip_len = if short {
            ip_hdr / 2
        } else {
            ip_hdr + l4_hdr + payload
        };
        let mut encap = EncapStack::default();
        if b[1] & 0x20 != 0 {
            let (a, z) = PAIRS[0];
            encap.push(Encap::udp(a, 40000, z, 4789));
        }
        let l2 = L2Info {
            src: (b[1] & 0x80 != 0).then_some([0, 0x11, 0x22, 0x33, 0x44, dir as u8]),
            dst: (b[1] & 0x80 != 0).then_some([0, 0x11, 0x22, 0x33, 0x44, 1 - dir as u8]),
            vlan: (b[1] & 0x40 != 0).then_some(10),
            inner_vlan: None,
        };
        PacketMeta {
            ts,
            src,
            dst,
            ip_proto,
            ip_len,
            transport,
            l2,
            encap,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (opts, body) = data.split_at(2);
    let mut ts = Timestamp::from_secs(1_000_000_000);
    let packets: Vec<PacketMeta> = body
        .chunks_exact(REC)
        .take(MAX_RECORDS)
        .map(|b| {
            let r = Rec(b);
            ts = ts.add_micros(r.step());
            r.meta(ts)
        })
        .collect();

    for model in [TcpModel::Zeek, TcpModel::Strict] {
        let mut tracker = Tracker::new(TrackConfig {
            uid_seed: u64::from(opts[1]),
            weird_log: opts[0] & 8 != 0,
            tcp_model: model,
            // 0: no limit; otherwise a tiny table that evicts.
            max_conns: usize::from(opts[0] & 7),
            ..Default::default()
        });
        let mut records = Vec::new();
        let mut counted = 0u64;
        for m in &packets {
            if tracker.process(m, &mut |r| records.push(r)) == Disposition::Counted {
                counted += 1;
            }
            let max = usize::from(opts[0] & 7);
            assert!(
                max == 0 || tracker.len() <= max,
                "{model:?}: {} connections tracked, max_conns {max}",
                tracker.len()
            );
        }
        tracker.finish(&mut |r| records.push(r));

        let s = &tracker.stats;
        assert_eq!(s.conns_created, s.conns_removed, "{model:?}: {s:?}");
        assert_eq!(
            s.conns_removed,
            records.len() as u64,
            "{model:?}: records written {} vs {s:?}",
            records.len()
        );
        assert_eq!(tracker.len(), 0, "{model:?}: connections left after finish");
        assert_eq!(
            tracker.pending_timers(),
            0,
            "{model:?}: timers left after finish"
        );
        let pkts: u64 = records.iter().map(|r| r.orig_pkts + r.resp_pkts).sum();
        assert_eq!(
            s.counted, pkts,
            "{model:?}: counted vs the records' packets"
        );
        assert_eq!(
            s.counted, counted,
            "{model:?}: counted vs Counted dispositions"
        );
        let mut seen = std::collections::HashMap::new();
        for r in &records {
            if let Some(prev) = seen.insert(r.uid, r) {
                panic!("{model:?}: duplicate uid:\n{prev:?}\n{r:?}");
            }
        }
    }
});
