//! conn.log formatting: `quartet_record::TsvWriter` and `JsonWriter`
//! writing rows to `io::sink()`, on records shaped like those of a busy
//! link (TCP with and without payload, DNS over UDP, an ICMP echo, some
//! IPv6, a tunnelled one). Every record of a run passes through here once,
//! on the merger's thread: on captures of many short connections it is a
//! tenth of a one-thread run.
//!
//! `cargo bench -p quartet-bench --bench record`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quartet_record::{Columns, ConnRecord, ConnState, JsonWriter, Proto, Sink, TsvWriter, Uid};
use quartet_wire::{Addr, Timestamp};

const T0: i64 = 1_700_000_000_000_000;

fn records(n: u32) -> Vec<ConnRecord> {
    (0..n)
        .map(|i| {
            let ts = Timestamp::from_micros(T0 + i as i64 * 1_337);
            let kind = i % 8;
            let (proto, ip_proto, resp_p, service, state, history) = match kind {
                0..=3 => (Proto::Tcp, 6, 443, None, ConnState::SF, "ShADadFf"),
                4 => (Proto::Tcp, 6, 80, Some("http"), ConnState::S0, "S"),
                5 | 6 => (Proto::Udp, 17, 53, Some("dns"), ConnState::SF, "Dd"),
                _ => (Proto::Icmp, 1, 0, None, ConnState::OTH, ""),
            };
            let v6 = i % 16 == 15;
            let orig_h = if v6 {
                Addr::v6([
                    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, i as u8,
                ])
            } else {
                Addr::v4([10, (i >> 16) as u8, (i >> 8) as u8, i as u8])
            };
            let resp_h = if v6 {
                Addr::v6([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
            } else {
                Addr::v4([93, 184, 216, (i % 200) as u8])
            };
            let bytes = u64::from(i % 7) * 1_234 + 61;
            ConnRecord {
                ts,
                last_ts: ts.add_micros(if kind == 4 { 0 } else { 250_000 + i as i64 }),
                uid: Uid {
                    hi: i.wrapping_mul(2_654_435_761),
                    lo: u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                },
                orig_h,
                orig_p: 32_768 + (i % 28_000) as u16,
                resp_h,
                resp_p,
                proto,
                service: service.map(String::from),
                orig_bytes: bytes,
                resp_bytes: bytes * 11,
                conn_state: state,
                local_orig: Some(true),
                local_resp: Some(false),
                missed_bytes: 0,
                history: history.into(),
                orig_pkts: u64::from(i % 9) + 1,
                orig_ip_bytes: bytes + 400,
                resp_pkts: u64::from(i % 13) + 1,
                resp_ip_bytes: bytes * 11 + 600,
                tunnel_parents: if i % 32 == 31 {
                    vec![Uid { hi: 7, lo: 99 }]
                } else {
                    Vec::new()
                },
                ip_proto,
                orig_l2_addr: None,
                resp_l2_addr: None,
                vlan: None,
                inner_vlan: None,
                order: Default::default(),
            }
        })
        .collect()
}

fn bench_write(c: &mut Criterion) {
    let recs = records(4096);
    let mut g = c.benchmark_group("conn_log");
    g.throughput(Throughput::Elements(recs.len() as u64));
    g.bench_function("tsv", |b| {
        let mut w = TsvWriter::new(std::io::sink(), Columns::default());
        b.iter(|| {
            for r in &recs {
                w.write(black_box(r)).expect("a sink takes every row");
            }
        })
    });
    g.bench_function("json", |b| {
        let mut w = JsonWriter::new(std::io::sink(), Columns::default());
        b.iter(|| {
            for r in &recs {
                w.write(black_box(r)).expect("a sink takes every row");
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench_write);
criterion_main!(benches);
