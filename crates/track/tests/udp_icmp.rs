//! UDP (§5), ICMP (§3.3, §6) and unknown-transport (§7) rules, one test per
//! rule, on decoded frames built with `quartet-testkit`.

mod common;

use quartet_record::{ConnState, Proto};
use quartet_testkit::{Icmp, PacketBuilder};

use common::{at, expect, ip, pkt, records, rows, sa, track, udp};

// ---------------------------------------------------------------------------
// UDP

/// A request and its reply: `Dd`, SF; bytes from the UDP length field.
#[test]
fn udp_request_and_reply_is_dd_sf() {
    let recs = records(&[
        udp(at(0), "10.0.0.1:40000", "10.0.0.2:5000", 30),
        udp(at(2_500), "10.0.0.2:5000", "10.0.0.1:40000", 40),
        udp(at(3_000), "10.0.0.1:40000", "10.0.0.2:5000", 12),
    ]);
    assert_eq!(
        rows(&recs),
        vec![expect(
            "10.0.0.1:40000",
            "10.0.0.2:5000",
            Proto::Udp,
            ConnState::SF,
            "Dd",
            Some(3_000),
            (42, 40),
            (2, 58 + 40),
            (1, 68)
        )]
    );
    assert_eq!(recs[0].ip_proto, 17);
}

/// A single datagram from a likely server port to an unlikely one is
/// flipped at creation: `^d`, SHR, only the responder counted.
#[test]
fn udp_reply_only_is_flipped_caret_d_shr() {
    let recs = records(&[udp(at(0), "10.0.0.2:161", "10.0.0.1:40000", 20)]);
    assert_eq!(
        rows(&recs),
        vec![expect(
            "10.0.0.1:40000",
            "10.0.0.2:161",
            Proto::Udp,
            ConnState::SHR,
            "^d",
            None,
            (0, 20),
            (0, 0),
            (1, 48)
        )]
    );
}

/// Empty datagrams still record `D`/`d` and make their side active.
#[test]
fn udp_empty_datagrams_still_record_d() {
    let recs = records(&[
        udp(at(0), "10.0.0.1:40000", "10.0.0.2:5000", 0),
        udp(at(1_000), "10.0.0.2:5000", "10.0.0.1:40000", 0),
    ]);
    assert_eq!(
        rows(&recs),
        vec![expect(
            "10.0.0.1:40000",
            "10.0.0.2:5000",
            Proto::Udp,
            ConnState::SF,
            "Dd",
            Some(1_000),
            (0, 0),
            (1, 28),
            (1, 28)
        )]
    );

    let recs = records(&[
        udp(at(0), "10.0.0.1:40001", "10.0.0.2:5000", 0),
        udp(at(1_000), "10.0.0.1:40001", "10.0.0.2:5000", 0),
    ]);
    assert_eq!(
        rows(&recs),
        vec![expect(
            "10.0.0.1:40001",
            "10.0.0.2:5000",
            Proto::Udp,
            ConnState::S0,
            "D",
            Some(1_000),
            (0, 0),
            (2, 56),
            (0, 0)
        )]
    );
}

/// A bad UDP checksum records `C` and nothing else; the connection still
/// exists (OTH when nothing valid was seen).
#[test]
fn udp_bad_checksum_only_is_oth_c() {
    let recs = records(&[pkt(
        at(0),
        PacketBuilder::udp(sa("10.0.0.1:40000"), sa("10.0.0.2:5000"))
            .payload_len(10)
            .corrupt_checksum(),
    )]);
    assert_eq!(
        rows(&recs),
        vec![expect(
            "10.0.0.1:40000",
            "10.0.0.2:5000",
            Proto::Udp,
            ConnState::OTH,
            "C",
            None,
            (0, 0),
            (0, 0),
            (0, 0)
        )]
    );
}

/// UDP inactivity (60 s) is inclusive: a datagram exactly 60 s after the
/// last one starts a new connection, 1 µs earlier it joins.
#[test]
fn udp_inactivity_boundary_is_inclusive() {
    let a = "10.0.0.1:40000";
    let b = "10.0.0.2:5000";
    let out = track(&[udp(at(0), a, b, 1), udp(at(60_000_000), a, b, 1)]);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].during, Some(1));
    assert_eq!(out[0].rec.orig_pkts, 1);
    assert_eq!(out[1].rec.orig_pkts, 1);

    let recs = records(&[udp(at(0), a, b, 1), udp(at(59_999_999), a, b, 1)]);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].orig_pkts, 2);
    assert_eq!(recs[0].duration_micros(), Some(59_999_999));
}

/// Zeek's DNS analyzer ends a UDP DNS session after 10 s without packets
/// (`dns_session_timeout`, checked every 10 s from creation): a pause of
/// 16 s splits the flow (btest tunnels.teredo), 9 s does not, and a flow on
/// another port keeps the 60 s UDP timeout.
#[test]
fn udp_dns_session_ends_after_ten_idle_seconds() {
    let c = "10.0.0.1:40000";
    let dns = "10.0.0.2:53";
    let pause = |gap: u64, server: &str| {
        track(&[
            udp(at(0), c, server, 30),
            udp(at(100_000), server, c, 60),
            udp(at(gap), c, server, 30),
            udp(at(gap + 100_000), server, c, 60),
        ])
    };
    let split = pause(16_000_000, dns);
    assert_eq!(split.len(), 2);
    assert_eq!(
        split[0].during,
        Some(2),
        "removed when the third packet came"
    );
    assert_eq!((split[0].rec.orig_pkts, split[0].rec.resp_pkts), (1, 1));
    assert_eq!(split[0].rec.duration_micros(), Some(100_000));
    assert_eq!((split[1].rec.orig_pkts, split[1].rec.resp_pkts), (1, 1));
    assert_eq!(split[1].rec.history, "Dd");

    let kept = pause(9_000_000, dns);
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].rec.orig_pkts, kept[0].rec.resp_pkts), (2, 2));

    let other = pause(16_000_000, "10.0.0.2:5000");
    assert_eq!(other.len(), 1);
    assert_eq!((other[0].rec.orig_pkts, other[0].rec.resp_pkts), (2, 2));
}

// ---------------------------------------------------------------------------
// ICMP

/// Echo request/reply: ports 8 → 0, OTH, no history; the echo id is not
/// part of the key, so two pings with different ids share one row.
#[test]
fn icmp_echo_is_one_oth_row_with_ports_8_and_0() {
    let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
    let echo = |t, src, dst, icmp| pkt(t, PacketBuilder::icmp(src, dst, icmp).payload_len(56));
    let recs = records(&[
        echo(at(0), a, b, Icmp::echo_request(7, 1)),
        echo(at(1_000), b, a, Icmp::echo_reply(7, 1)),
        echo(at(1_000_000), a, b, Icmp::echo_request(9, 1)),
        echo(at(1_001_500), b, a, Icmp::echo_reply(9, 1)),
    ]);
    assert_eq!(
        rows(&recs),
        vec![expect(
            "10.0.0.1:8",
            "10.0.0.2:0",
            Proto::Icmp,
            ConnState::OTH,
            "",
            Some(1_001_500),
            (112, 112),
            (2, 168),
            (2, 168)
        )]
    );
    assert_eq!(recs[0].ip_proto, 1);
}

/// A reply seen first makes its sender the originator (`B 0 → A 8`); ICMP
/// never flips.
#[test]
fn icmp_reply_first_is_keyed_from_the_reply() {
    let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
    let recs = records(&[
        pkt(
            at(0),
            PacketBuilder::icmp(b, a, Icmp::echo_reply(1, 1)).payload_len(8),
        ),
        pkt(
            at(10),
            PacketBuilder::icmp(a, b, Icmp::echo_request(1, 2)).payload_len(8),
        ),
    ]);
    assert_eq!(
        rows(&recs),
        vec![expect(
            "10.0.0.2:0",
            "10.0.0.1:8",
            Proto::Icmp,
            ConnState::OTH,
            "",
            Some(10),
            (8, 8),
            (1, 36),
            (1, 36)
        )]
    );
}

/// One-way types (unreachable) are keyed sender first, not canonicalised:
/// messages in opposite directions are two connections, ports type/code.
#[test]
fn icmp_unreachable_is_keyed_sender_first() {
    let (r, h) = (ip("10.0.0.9"), ip("10.0.0.1"));
    // The quoted datagram: an IP header and the first 8 bytes of UDP.
    let quoted = |src: &str, dst: &str| {
        let mut q = PacketBuilder::udp(sa(src), sa(dst))
            .payload_len(4)
            .build_ip();
        q.truncate(28);
        q
    };
    let q1 = quoted("10.0.0.1:5353", "10.0.0.9:53");
    let q2 = quoted("10.0.0.9:7", "10.0.0.1:9");
    let recs = records(&[
        pkt(
            at(0),
            PacketBuilder::icmp(r, h, Icmp::new(3, 3)).payload(&q1),
        ),
        pkt(
            at(5),
            PacketBuilder::icmp(h, r, Icmp::new(3, 3)).payload(&q2),
        ),
        pkt(
            at(9),
            PacketBuilder::icmp(r, h, Icmp::new(3, 3)).payload(&q1),
        ),
    ]);
    let mut got = rows(&recs);
    got.sort_by_key(|r| r.orig);
    assert_eq!(
        got,
        vec![
            expect(
                "10.0.0.1:3",
                "10.0.0.9:3",
                Proto::Icmp,
                ConnState::OTH,
                "",
                None,
                (28, 0),
                (1, 56),
                (0, 0)
            ),
            expect(
                "10.0.0.9:3",
                "10.0.0.1:3",
                Proto::Icmp,
                ConnState::OTH,
                "",
                Some(9),
                (56, 0),
                (2, 112),
                (0, 0)
            ),
        ]
    );
}

// ---------------------------------------------------------------------------
// Unknown transport

/// Unknown IP protocols: ports 0/0, OTH, no history, packets counted, byte
/// sizes 0.
#[test]
fn unknown_transport_counts_packets_not_bytes() {
    let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
    let recs = records(&[
        pkt(at(0), PacketBuilder::ip(a, b, 99).payload_len(30)),
        pkt(at(700), PacketBuilder::ip(b, a, 99).payload_len(10)),
        pkt(at(900), PacketBuilder::ip(a, b, 99).payload_len(0)),
    ]);
    assert_eq!(
        rows(&recs),
        vec![expect(
            "10.0.0.1:0",
            "10.0.0.2:0",
            Proto::UnknownTransport,
            ConnState::OTH,
            "",
            Some(900),
            (0, 0),
            (2, 50 + 20),
            (1, 30)
        )]
    );
    assert_eq!(recs[0].ip_proto, 99);
}
