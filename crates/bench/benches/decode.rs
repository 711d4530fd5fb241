//! Decoding throughput of typical frames through `quartet_decode::decode`,
//! the layered decoder it bypasses for them, and `quartet_decode::peek`.
//!
//! `cargo bench -p quartet-bench --bench decode`

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quartet_decode::{decode, decode_layered, peek, DecodeConfig, Decoded};
use quartet_testkit::{linktype, PacketBuilder, Tcp, TcpFlags};
use quartet_wire::Timestamp;

fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let c4: SocketAddr = "192.168.1.10:51234".parse().unwrap();
    let s4: SocketAddr = "93.184.216.34:443".parse().unwrap();
    let c6: SocketAddr = "[2001:db8::10]:53124".parse().unwrap();
    let s6: SocketAddr = "[2001:4860:4860::8888]:53".parse().unwrap();
    let tcp = |flags, len| {
        PacketBuilder::tcp(c4, s4, Tcp::new(flags).seq(1000).ack(2000))
            .payload_len(len)
            .build()
    };
    vec![
        ("eth_ipv4_tcp_syn", {
            let t = Tcp::new(TcpFlags::SYN)
                .seq(1000)
                .option(&quartet_testkit::packet::tcp_option::mss(1460))
                .option(&quartet_testkit::packet::tcp_option::window_scale(7));
            PacketBuilder::tcp(c4, s4, t).build()
        }),
        ("eth_ipv4_tcp_ack", tcp(TcpFlags::ACK, 0)),
        (
            "eth_ipv4_tcp_data_1400",
            tcp(TcpFlags::ACK | TcpFlags::PSH, 1400),
        ),
        (
            "eth_ipv6_udp_dns",
            PacketBuilder::udp(c6, s6).payload_len(40).build(),
        ),
        (
            "eth_vlan_ipv6_udp_512",
            PacketBuilder::udp(c6, s6)
                .vlan(100)
                .payload_len(512)
                .build(),
        ),
    ]
}

fn bench_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    for checksums in [true, false] {
        let cfg = DecodeConfig {
            ignore_checksums: !checksums,
        };
        for (name, frame) in frames() {
            let id = format!("{name}/{}", if checksums { "checksums" } else { "-C" });
            let mut out: Vec<Decoded> = Vec::with_capacity(4);
            let ts = Timestamp::from_secs(1_700_000_000);
            g.bench_function(id, |b| {
                b.iter(|| {
                    out.clear();
                    decode(
                        &cfg,
                        ts,
                        linktype::ETHERNET,
                        frame.len() as u32,
                        black_box(&frame),
                        &mut out,
                    );
                    black_box(out.len())
                })
            });
        }
    }
    g.finish();
}

/// What the sharded reader does per frame: `peek` (key only, IPv4 header
/// checksum) against the full decode, and the layered decoder that `decode`
/// bypasses for these frames.
fn bench_peek(c: &mut Criterion) {
    let mut g = c.benchmark_group("peek");
    g.throughput(Throughput::Elements(1));
    let cfg = DecodeConfig::default();
    let ts = Timestamp::from_secs(1_700_000_000);
    for (name, frame) in frames() {
        let wire = frame.len() as u32;
        g.bench_function(format!("{name}/peek"), |b| {
            b.iter(|| peek(&cfg, linktype::ETHERNET, wire, black_box(&frame)).is_some())
        });
        let mut out: Vec<Decoded> = Vec::with_capacity(4);
        g.bench_function(format!("{name}/layered"), |b| {
            b.iter(|| {
                out.clear();
                decode_layered(
                    &cfg,
                    ts,
                    linktype::ETHERNET,
                    wire,
                    black_box(&frame),
                    &mut out,
                );
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_decode, bench_peek);
criterion_main!(benches);
