//! Connection-table throughput of `quartet_track::Tracker`, fed `PacketMeta`
//! values built directly (no decoding):
//!
//! * `lifecycle`: complete short TCP flows (SYN, SYN-ACK, ACK, data, FIN,
//!   FIN, ACK), many open at once: insert, lookups, removal, log record.
//! * `lookup`: data packets on established connections of a full table.
//! * `expire`: idle UDP connections removed by the inactivity timer.
//!
//! `cargo bench -p quartet-bench --bench table`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use quartet_decode::{tcp_flags as F, PacketMeta, TcpMeta, Transport, UdpMeta};
use quartet_track::{TrackConfig, Tracker};
use quartet_wire::{Addr, Timestamp};

const T0: i64 = 1_700_000_000_000_000;

fn client(i: u32) -> Addr {
    Addr::v4((0x0a00_0000 | (i & 0xff_ffff)).to_be_bytes())
}

fn server(i: u32) -> Addr {
    Addr::v4([172, 16, 0, 1 + (i % 200) as u8])
}

fn tcp(ts: i64, src: Addr, dst: Addr, t: TcpMeta) -> PacketMeta {
    PacketMeta {
        ts: Timestamp::from_micros(ts),
        src,
        dst,
        ip_proto: 6,
        ip_len: 40 + t.payload_len,
        transport: Transport::Tcp(t),
        ..Default::default()
    }
}

/// Packet `k` (0..7) of flow `i` at time `ts`.
fn flow_packet(i: u32, k: u32, ts: i64) -> PacketMeta {
    let (c, s) = (client(i), server(i));
    let (sport, dport) = (1024 + (i >> 24) as u16, 80);
    let c2s = |flags, seq, ack, len| {
        let t = TcpMeta {
            sport,
            dport,
            seq,
            ack,
            flags,
            window: 65535,
            payload_len: len,
            payload_caplen: len,
            ..Default::default()
        };
        tcp(ts, c, s, t)
    };
    let s2c = |flags, seq, ack| {
        let t = TcpMeta {
            sport: dport,
            dport: sport,
            seq,
            ack,
            flags,
            window: 65535,
            ..Default::default()
        };
        tcp(ts, s, c, t)
    };
    match k {
        0 => c2s(F::SYN, 1000, 0, 0),
        1 => s2c(F::SYN | F::ACK, 5000, 1001),
        2 => c2s(F::ACK, 1001, 5001, 0),
        3 => c2s(F::PSH | F::ACK, 1001, 5001, 64),
        4 => c2s(F::FIN | F::ACK, 1065, 5001, 0),
        5 => s2c(F::FIN | F::ACK, 5001, 1066),
        _ => c2s(F::ACK, 1066, 5002, 0),
    }
}

/// `flows` complete flows, `open` at once, interleaved packet by packet.
fn lifecycle_stream(flows: u32, open: u32) -> Vec<PacketMeta> {
    let mut v = Vec::with_capacity(flows as usize * 7);
    let mut ts = T0;
    let lanes = flows.div_ceil(open);
    for round in 0..lanes * 7 {
        for j in 0..open {
            let flow = (round / 7) * open + j;
            if flow < flows {
                v.push(flow_packet(flow, round % 7, ts));
                ts += 1;
            }
        }
    }
    v
}

fn sink() -> impl FnMut(quartet_record::ConnRecord) {
    |r| {
        black_box(r);
    }
}

fn bench_lifecycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("table/lifecycle");
    g.sample_size(10);
    for (flows, open) in [(100_000u32, 1_000u32), (100_000, 100_000)] {
        let stream = lifecycle_stream(flows, open);
        g.throughput(Throughput::Elements(stream.len() as u64));
        g.bench_function(format!("{flows}_flows_{open}_open"), |b| {
            b.iter(|| {
                let mut t = Tracker::new(TrackConfig::default());
                let mut out = sink();
                for m in &stream {
                    t.process(m, &mut out);
                }
                t.finish(&mut out);
                t.len()
            })
        });
    }
    g.finish();
}

fn bench_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("table/lookup");
    for conns in [10_000u32, 1_000_000] {
        let mut t = Tracker::new(TrackConfig::default());
        let mut out = sink();
        for i in 0..conns {
            for k in 0..3 {
                t.process(&flow_packet(i, k, T0), &mut out);
            }
        }
        // Data packets on existing connections in a scattered order.
        let probes: Vec<PacketMeta> = (0..10_000u32)
            .map(|n| flow_packet(n.wrapping_mul(2_654_435_761) % conns, 3, T0))
            .collect();
        g.throughput(Throughput::Elements(probes.len() as u64));
        g.bench_function(format!("{conns}_conns"), |b| {
            b.iter(|| {
                for m in &probes {
                    t.process(m, &mut out);
                }
            })
        });
    }
    g.finish();
}

fn bench_expire(c: &mut Criterion) {
    let mut g = c.benchmark_group("table/expire");
    g.sample_size(10);
    let conns = 100_000u32;
    g.throughput(Throughput::Elements(conns as u64));
    g.bench_function(format!("{conns}_udp_idle"), |b| {
        b.iter_batched(
            || {
                let mut t = Tracker::new(TrackConfig::default());
                let mut out = sink();
                for i in 0..conns {
                    let u = UdpMeta {
                        sport: 1024 + (i >> 24) as u16,
                        dport: 53,
                        udp_len: 40,
                        payload_len: 32,
                        payload_caplen: 32,
                        ..Default::default()
                    };
                    let m = PacketMeta {
                        ts: Timestamp::from_micros(T0 + i as i64),
                        src: client(i),
                        dst: server(i),
                        ip_proto: 17,
                        ip_len: 60,
                        transport: Transport::Udp(u),
                        ..Default::default()
                    };
                    t.process(&m, &mut out);
                }
                t
            },
            |mut t| {
                let mut out = sink();
                t.advance(Timestamp::from_micros(T0 + 3_600_000_000), &mut out);
                assert!(t.is_empty());
                t
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_lifecycle, bench_lookup, bench_expire);
criterion_main!(benches);
