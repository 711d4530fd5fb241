//! The harness shared by the tracker's integration tests (`models.rs`,
//! `tcp_semantics.rs`, `udp_icmp.rs`): building frames with
//! `quartet-testkit`, decoding them with `quartet-decode` (checksums
//! verified), running a `Tracker` over them, checking the bookkeeping every
//! run must satisfy, and comparing rows column by column.
//!
//! Each file in `tests/` is a crate of its own and takes this module in with
//! `mod common;`.

// Every test crate compiles all of this module but uses only part of it
// (udp_icmp.rs builds no TCP segments, models.rs compares its rows as
// lines, not `Row`s), and what one crate leaves unused must not fail
// `clippy -D warnings`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use quartet_decode::{decode, DecodeConfig, Decoded};
use quartet_record::{ConnRecord, ConnState, Proto};
use quartet_testkit::{linktype, Packet, PacketBuilder, Tcp};
use quartet_track::{Disposition, TrackConfig, TrackStats, Tracker};
use quartet_wire::{Addr, Timestamp};

// ---------------------------------------------------------------------------
// Times and addresses

/// 2001-09-09 01:46:40 UTC: an arbitrary, round start time.
pub const T0: u64 = 1_000_000_000;

/// `T0 + micros`.
pub fn at(micros: u64) -> Duration {
    Duration::from_secs(T0) + Duration::from_micros(micros)
}

/// `n` milliseconds in microseconds.
pub fn ms(n: u64) -> u64 {
    n * 1_000
}

/// `n` seconds in microseconds.
pub fn secs(n: u64) -> u64 {
    n * 1_000_000
}

pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn addr(s: &str) -> Addr {
    Addr::from(ip(s))
}

// ---------------------------------------------------------------------------
// Packets

/// The frame `b` builds, captured at `t`.
pub fn pkt(t: Duration, b: PacketBuilder) -> Packet {
    Packet {
        ts: t,
        frame: b.build(),
    }
}

/// A bare TCP segment with `len` bytes of payload, for flags or fields
/// `Conversation` does not offer.
pub fn seg(t: Duration, src: &str, dst: &str, tcp: Tcp, len: usize) -> Packet {
    pkt(
        t,
        PacketBuilder::tcp(sa(src), sa(dst), tcp).payload_len(len),
    )
}

/// A UDP datagram with `len` bytes of payload.
pub fn udp(t: Duration, src: &str, dst: &str, len: usize) -> Packet {
    pkt(t, PacketBuilder::udp(sa(src), sa(dst)).payload_len(len))
}

/// Packets sorted by time (stable: same-time packets keep their order).
pub fn sorted(mut p: Vec<Packet>) -> Vec<Packet> {
    p.sort_by_key(|p| p.ts);
    p
}

// ---------------------------------------------------------------------------
// Running a trace

/// A record and the packet (index into the input) whose processing emitted
/// it; `None` for records flushed by `finish`.
pub struct Emitted {
    pub during: Option<usize>,
    pub rec: ConnRecord,
}

/// What one run of a trace left: the records in the order written, what
/// `process` reported for each packet, and the tracker's counters.
pub struct Tracked {
    pub out: Vec<Emitted>,
    pub dispositions: Vec<Disposition>,
    pub stats: TrackStats,
    pub weirds: HashMap<&'static str, u64>,
}

/// Decodes and tracks `packets` in the given order with `config`, finishes,
/// and checks the invariants every run must satisfy: nothing is left in the
/// table or the timer queue, the rows hold exactly the packets counted,
/// every connection created is written once, and no uid is written twice.
pub fn track_with(config: TrackConfig, packets: &[Packet]) -> Tracked {
    let model = config.tcp_model;
    let mut tracker = Tracker::new(config);
    let cfg = DecodeConfig {
        ignore_checksums: false,
    };
    let mut out: Vec<Emitted> = Vec::new();
    let mut dispositions = Vec::new();
    let mut decoded = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        decoded.clear();
        let ts = Timestamp::from_micros(p.ts.as_micros() as i64);
        decode(
            &cfg,
            ts,
            linktype::ETHERNET,
            p.frame.len() as u32,
            &p.frame,
            &mut decoded,
        );
        let metas: Vec<_> = decoded
            .iter()
            .filter_map(|d| match d {
                Decoded::Packet(m) => Some(m),
                _ => None,
            })
            .collect();
        assert_eq!(
            metas.len(),
            1,
            "packet {i} did not decode to one PacketMeta: {decoded:?}"
        );
        dispositions.push(tracker.process(metas[0], &mut |rec| {
            out.push(Emitted {
                during: Some(i),
                rec,
            })
        }));
    }
    tracker.finish(&mut |rec| out.push(Emitted { during: None, rec }));

    assert_eq!(tracker.len(), 0, "{model:?}: connections left after finish");
    assert_eq!(tracker.pending_timers(), 0, "{model:?}: timers left");
    let s = &tracker.stats;
    let in_rows: u64 = out.iter().map(|e| e.rec.orig_pkts + e.rec.resp_pkts).sum();
    assert_eq!(s.counted, in_rows, "{model:?}: stats.counted vs rows");
    assert_eq!(s.conns_created, out.len() as u64, "{model:?}: created");
    assert_eq!(s.conns_removed, out.len() as u64, "{model:?}: removed");
    let mut uids: Vec<_> = out.iter().map(|e| e.rec.uid).collect();
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), out.len(), "{model:?}: a uid written twice");

    Tracked {
        out,
        dispositions,
        stats: tracker.stats.clone(),
        weirds: tracker.weirds.counts().into_iter().collect(),
    }
}

/// `track_with` the default configuration.
pub fn track(packets: &[Packet]) -> Vec<Emitted> {
    track_with(TrackConfig::default(), packets).out
}

/// The records of `track`, without when they were written.
pub fn records(packets: &[Packet]) -> Vec<ConnRecord> {
    track(packets).into_iter().map(|e| e.rec).collect()
}

// ---------------------------------------------------------------------------
// Comparing rows

/// The columns the tests compare, in a form that prints well on failure.
#[derive(Debug, PartialEq, Eq)]
pub struct Row {
    pub orig: (Addr, u16),
    pub resp: (Addr, u16),
    pub proto: Proto,
    pub state: ConnState,
    pub history: String,
    pub duration: Option<i64>,
    pub bytes: (u64, u64),
    pub orig_pkts: (u64, u64),
    pub resp_pkts: (u64, u64),
}

pub fn row(r: &ConnRecord) -> Row {
    Row {
        orig: (r.orig_h, r.orig_p),
        resp: (r.resp_h, r.resp_p),
        proto: r.proto,
        state: r.conn_state,
        history: r.history.to_string(),
        duration: r.duration_micros(),
        bytes: (r.orig_bytes, r.resp_bytes),
        orig_pkts: (r.orig_pkts, r.orig_ip_bytes),
        resp_pkts: (r.resp_pkts, r.resp_ip_bytes),
    }
}

pub fn rows(recs: &[ConnRecord]) -> Vec<Row> {
    recs.iter().map(row).collect()
}

pub fn emitted_rows(out: &[Emitted]) -> Vec<Row> {
    out.iter().map(|e| row(&e.rec)).collect()
}

/// An expected row; `orig` and `resp` are `ip:port` (for ICMP the ports are
/// type and code). The packet columns are `(packets, ip_bytes)`.
#[allow(clippy::too_many_arguments)]
pub fn expect(
    orig: &str,
    resp: &str,
    proto: Proto,
    state: ConnState,
    history: &str,
    duration: Option<i64>,
    bytes: (u64, u64),
    orig_pkts: (u64, u64),
    resp_pkts: (u64, u64),
) -> Row {
    let (o, r) = (sa(orig), sa(resp));
    Row {
        orig: (Addr::from(o.ip()), o.port()),
        resp: (Addr::from(r.ip()), r.port()),
        proto,
        state,
        history: history.to_string(),
        duration,
        bytes,
        orig_pkts,
        resp_pkts,
    }
}
