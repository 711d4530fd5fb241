//! TCP rules of the conn.log semantics (§4, §9, §15 worked examples), one
//! test per rule. Packets are built as real frames with `quartet-testkit`,
//! decoded with `quartet-decode` (checksums verified) and fed to the tracker;
//! every test asserts the exact rows and the tracker's bookkeeping invariants.

mod common;

use quartet_record::{ConnState, Proto};
use quartet_testkit::{Conversation, Dir, Packet, PacketBuilder, Tcp, TcpFlags};
use quartet_track::{TcpModel, TrackConfig};
use quartet_wire::Timestamp;

use common::{
    addr, at, emitted_rows, expect, ms, records, row, rows, sa, secs, seg, sorted, track, udp,
};

const C: &str = "10.0.0.1:40000";
const S: &str = "10.0.0.2:80";
/// A server port that is not a likely server port (no creation flips).
const S_PLAIN: &str = "10.0.0.2:7000";

fn conv(client: &str, server: &str) -> Conversation {
    Conversation::new(sa(client), sa(server))
}

// ---------------------------------------------------------------------------
// §15 worked examples

/// E3: RSTR; the second RST (same seq) arrives after both endpoints closed:
/// counted, no second `r`, and not part of the duration.
#[test]
fn e3_rstr_trailing_rst_excluded_from_duration() {
    let mut c = conv("192.168.2.1:55179", "192.168.2.158:2200");
    c.syn(at(0))
        .synack(at(ms(100)))
        .ack(at(ms(200)))
        .data_c2s(at(ms(300)), 100)
        .ack_s2c(at(ms(400)))
        .data_s2c(at(ms(500)), 50)
        .fin_c2s(at(ms(600)))
        .rst_s2c(at(ms(700)))
        .rst_s2c(at(ms(900)));
    let recs = records(c.packets());
    assert_eq!(recs.len(), 1);
    assert_eq!(
        row(&recs[0]),
        expect(
            "192.168.2.1:55179",
            "192.168.2.158:2200",
            Proto::Tcp,
            ConnState::RSTR,
            "ShADadFr",
            Some(ms(700) as i64),
            (100, 50),
            (4, 40 + 40 + 140 + 40),
            (5, 40 + 40 + 90 + 40 + 40),
        )
    );
    assert_eq!(recs[0].ts, Timestamp::from_micros(at(0).as_micros() as i64));
    assert_eq!(recs[0].local_orig, Some(true));
    assert_eq!(recs[0].local_resp, Some(true));
    assert_eq!(recs[0].proto, Proto::Tcp);
    assert_eq!(recs[0].ip_proto, 6);
}

/// E4: on one tuple, a FIN+ACK from port 80 and the client's ACK (`^fA`,
/// SHR, removed 5 s after the complete close), a client RST 10 s later (`R`,
/// OTH, a new uid), and a server RST 26 s later (`^r`, RSTRH).
#[test]
fn e4_shr_then_oth_then_rstrh_on_one_tuple() {
    let client = "192.168.2.16:1576";
    let server = "75.126.130.163:80";
    let mut c = conv(client, server);
    c.send(at(0), Dir::S2C, TcpFlags::FIN | TcpFlags::ACK, 0)
        .ack_c2s(at(357))
        .rst_c2s(at(10_270_160))
        .rst_s2c(at(26_320_203));
    let out = track(c.packets());
    assert_eq!(
        emitted_rows(&out),
        vec![
            expect(
                client,
                server,
                Proto::Tcp,
                ConnState::SHR,
                "^fA",
                Some(357),
                (0, 0),
                (1, 40),
                (1, 40)
            ),
            expect(
                client,
                server,
                Proto::Tcp,
                ConnState::OTH,
                "R",
                None,
                (0, 0),
                (1, 40),
                (0, 0)
            ),
            expect(
                client,
                server,
                Proto::Tcp,
                ConnState::RSTRH,
                "^r",
                None,
                (0, 0),
                (0, 0),
                (1, 40)
            ),
        ]
    );
    // Row 1 was removed by its delete timer before the RST created row 2,
    // row 2 likewise before row 3; row 3 is flushed at the end.
    assert_eq!(out[0].during, Some(2));
    assert_eq!(out[1].during, Some(3));
    assert_eq!(out[2].during, None);
    let ts: Vec<i64> = out.iter().map(|e| e.rec.ts.micros()).collect();
    let base = at(0).as_micros() as i64;
    assert_eq!(ts, vec![base, base + 10_270_160, base + 26_320_203]);
    assert_eq!(out[0].rec.local_orig, Some(true));
    assert_eq!(out[0].rec.local_resp, Some(false));
}

/// E5: two SYNs with the same ISN 1.018 ms apart are one S0 connection of
/// two packets; the attempt timer removes it 5 s after the first SYN.
#[test]
fn e5_repeated_syn_same_isn_is_one_s0_row() {
    let mut c = conv("1.1.1.6:57005", "2.2.2.2:48879").isn(0, 0);
    c.syn(at(0)).syn(at(1_018));
    let mut packets = c.into_packets();
    // An unrelated packet exactly 5 s after the first SYN fires the timer.
    packets.push(udp(at(secs(5)), "10.9.9.9:1111", "10.9.9.8:2222", 4));
    let out = track(&packets);
    assert_eq!(out.len(), 2);
    assert_eq!(
        row(&out[0].rec),
        expect(
            "1.1.1.6:57005",
            "2.2.2.2:48879",
            Proto::Tcp,
            ConnState::S0,
            "S",
            Some(1_018),
            (0, 0),
            (2, 80),
            (0, 0),
        )
    );
    assert_eq!(out[0].during, Some(2), "attempt timer at first SYN + 5 s");
    assert_eq!(out[0].rec.local_orig, Some(false));
    assert_eq!(out[0].rec.local_resp, Some(false));
}

/// E6: SYN, RST+ACK, retransmitted SYN (same ISN), ...: after the
/// responder's RST every SYN is a reuse, so each attempt is its own REJ row
/// (`Sr`), logged the moment the next SYN arrives.
#[test]
fn e6_syn_rst_retried_syn_gives_one_rej_per_syn() {
    let client = "192.168.0.4:26242";
    let server = "212.227.15.188:110";
    let mut c = conv(client, server).isn(3_145_310_914, 0);
    c.syn(at(0))
        .rst_s2c(at(50_692))
        .syn(at(548_764))
        .rst_s2c(at(609_611))
        .syn(at(1_109_789))
        .rst_s2c(at(1_160_756));
    let out = track(c.packets());
    let rej = |d| {
        expect(
            client,
            server,
            Proto::Tcp,
            ConnState::REJ,
            "Sr",
            Some(d),
            (0, 0),
            (1, 40),
            (1, 40),
        )
    };
    assert_eq!(
        emitted_rows(&out),
        vec![rej(50_692), rej(60_847), rej(50_967)]
    );
    assert_eq!(out[0].during, Some(2), "row 1 logged by the reuse");
    assert_eq!(out[1].during, Some(4), "row 2 logged by the reuse");
    assert_ne!(out[2].during, Some(4));
    let base = at(0).as_micros() as i64;
    assert_eq!(out[1].rec.ts.micros(), base + 548_764);
    assert_eq!(out[2].rec.ts.micros(), base + 1_109_789);
}

/// E7: a client SYN with a bad checksum creates a connection that records
/// only `C` (OTH, nothing counted); the server's valid SYN-ACK is a reuse and
/// starts a second row with the server as originator. The client's next bad
/// packet adds `c`, so the server's ACK does not trigger the `^h` flip:
/// `HcADF`, SH.
#[test]
fn e7_bad_checksum_syn_then_synack_gives_oth_c_and_hcadf_sh() {
    let client = "192.168.1.28:53246";
    // Not a likely server port, so the SYN-ACK sender stays originator.
    let server = "35.221.46.9:9999";
    let mut c = conv(client, server).isn(1_000_000, 7_000_000);
    let bad = |p: PacketBuilder| p.corrupt_checksum();
    let syn = TcpFlags::SYN;
    let ack = TcpFlags::ACK;
    c.send_with(at(0), Dir::C2S, 1_000_000, syn, 0, bad)
        .synack(at(ms(28)))
        .send_with(at(ms(29)), Dir::C2S, 1_000_001, ack, 0, bad)
        .ack_s2c(at(ms(30)))
        .data_s2c(at(ms(40)), 432)
        .fin_s2c(at(63_810 + ms(28)))
        .send_with(at(ms(100)), Dir::C2S, 1_000_001, ack, 0, bad);
    let out = track(c.packets());
    assert_eq!(
        emitted_rows(&out),
        vec![
            expect(
                client,
                server,
                Proto::Tcp,
                ConnState::OTH,
                "C",
                None,
                (0, 0),
                (0, 0),
                (0, 0)
            ),
            expect(
                server,
                client,
                Proto::Tcp,
                ConnState::SH,
                "HcADF",
                Some(63_810),
                (432, 0),
                (4, 40 + 40 + 472 + 40),
                (0, 0),
            ),
        ]
    );
    assert_eq!(
        out[0].during,
        Some(1),
        "row 1 logged by the SYN-ACK's reuse"
    );
    assert_eq!(out[0].rec.local_orig, Some(true));
    assert_eq!(out[0].rec.local_resp, Some(false));
    assert_eq!(out[1].rec.local_orig, Some(false));
    assert_eq!(out[1].rec.local_resp, Some(true));
}

const E10_CLIENT: &str = "10.0.0.1:51889";
const E10_SERVER: &str = "192.168.0.1:80";

/// E10's partial, two-sided connection (18 bytes from the client at 30 µs,
/// the server's ACK at 40 µs) and the client's retransmission of its data
/// at `retransmit_at` µs.
fn e10_trace(retransmit_at: u64) -> Vec<Packet> {
    let mut c = conv(E10_CLIENT, E10_SERVER).isn(100, 900);
    c.data_c2s(at(30), 18)
        .ack_s2c(at(40))
        .retransmit(at(retransmit_at), Dir::C2S, 18);
    c.into_packets()
}

/// E10: a retransmission exactly 300 s after the last packet of a partial,
/// two-sided connection (tcp_inactivity_timeout, boundary inclusive) starts
/// a new connection.
#[test]
fn e10_inactivity_boundary_is_inclusive() {
    let out = track(&e10_trace(40 + secs(300)));
    assert_eq!(
        emitted_rows(&out),
        vec![
            expect(
                E10_CLIENT,
                E10_SERVER,
                Proto::Tcp,
                ConnState::OTH,
                "Da",
                Some(10),
                (18, 0),
                (1, 58),
                (1, 40)
            ),
            expect(
                E10_CLIENT,
                E10_SERVER,
                Proto::Tcp,
                ConnState::OTH,
                "D",
                None,
                (18, 0),
                (1, 58),
                (0, 0)
            ),
        ]
    );
    assert_eq!(out[0].during, Some(2), "expired before the packet");
}

/// The other side of the E10 boundary: 1 µs earlier the retransmission joins
/// the connection (`T`).
#[test]
fn e10_one_microsecond_before_the_boundary_joins() {
    let recs = records(&e10_trace(39 + secs(300)));
    assert_eq!(
        rows(&recs),
        vec![expect(
            E10_CLIENT,
            E10_SERVER,
            Proto::Tcp,
            ConnState::OTH,
            "DaT",
            Some(secs(300) as i64 + 9),
            (18, 0),
            (2, 116),
            (1, 40)
        )]
    );
}

// ---------------------------------------------------------------------------
// Timers

/// `half-duplex-client`: the attempt timer removes an S0 5 s after the first
/// SYN even though the originator keeps sending; its later packets start a
/// new, partial connection (`DAF`, SH).
#[test]
fn attempt_timer_removes_s0_although_originator_keeps_sending() {
    let mut c = conv(C, S);
    c.syn(at(0))
        .ack_c2s(at(secs(1)))
        .data_c2s(at(secs(2)), 100)
        .data_c2s(at(secs(6)), 100)
        .ack_c2s(at(secs(7)))
        .fin_c2s(at(secs(8)));
    let out = track(c.packets());
    assert_eq!(
        emitted_rows(&out),
        vec![
            expect(
                C,
                S,
                Proto::Tcp,
                ConnState::S0,
                "SAD",
                Some(secs(2) as i64),
                (100, 0),
                (3, 40 + 40 + 140),
                (0, 0)
            ),
            expect(
                C,
                S,
                Proto::Tcp,
                ConnState::SH,
                "DAF",
                Some(secs(2) as i64),
                (100, 0),
                (3, 140 + 40 + 40),
                (0, 0)
            ),
        ]
    );
    assert_eq!(out[0].during, Some(3), "removed before the packet at +6 s");
}

/// The attempt timer also fires at end of input (S0 is unchanged by it).
#[test]
fn attempt_timer_runs_at_end_of_input() {
    let mut c = conv(C, S);
    c.syn(at(0));
    let recs = records(c.packets());
    assert_eq!(
        rows(&recs),
        vec![expect(
            C,
            S,
            Proto::Tcp,
            ConnState::S0,
            "S",
            None,
            (0, 0),
            (1, 40),
            (0, 0)
        )]
    );
}

// ---------------------------------------------------------------------------
// conn_state and history rules (§4.4, §4.5, §3.4)

/// `H` alone (a SYN-ACK from a port that is not a likely server port, so no
/// creation flip) is OTH, not S0.
#[test]
fn lone_synack_is_oth() {
    let mut c = conv(C, S_PLAIN);
    c.synack(at(0));
    let recs = records(c.packets());
    assert_eq!(
        rows(&recs),
        vec![expect(
            S_PLAIN,
            C,
            Proto::Tcp,
            ConnState::OTH,
            "H",
            None,
            (0, 0),
            (1, 40),
            (0, 0)
        )]
    );
}

/// `Sh` (no third ACK) is S1.
#[test]
fn syn_synack_is_s1() {
    let mut c = conv(C, S);
    c.syn(at(0)).synack(at(ms(20)));
    let recs = records(c.packets());
    assert_eq!(
        rows(&recs),
        vec![expect(
            C,
            S,
            Proto::Tcp,
            ConnState::S1,
            "Sh",
            Some(ms(20) as i64),
            (0, 0),
            (1, 40),
            (1, 40)
        )]
    );
}

/// After a lone SYN-ACK (history exactly `H`), the first ACK flips the
/// connection and rewrites the history to `^h`; the final ACK after both
/// FINs is counted but does not extend the duration.
#[test]
fn first_ack_after_lone_synack_flips_to_caret_h() {
    let mut c = conv(C, S_PLAIN);
    c.synack(at(0))
        .ack_c2s(at(ms(10)))
        .data_c2s(at(ms(20)), 10)
        .data_s2c(at(ms(30)), 20)
        .fin_c2s(at(ms(40)))
        .fin_s2c(at(ms(50)))
        .ack_c2s(at(ms(60)));
    let recs = records(c.packets());
    assert_eq!(
        rows(&recs),
        vec![expect(
            C,
            S_PLAIN,
            Proto::Tcp,
            ConnState::SF,
            "^hADdFf",
            Some(ms(50) as i64),
            (10, 20),
            (4, 40 + 50 + 40 + 40),
            (3, 40 + 60 + 40)
        )]
    );
}

/// `ShADadFRf`: FIN, then RST from the same side, then the peer's FIN puts
/// the reset endpoint back to CLOSED → SF.
#[test]
fn fin_then_rst_then_peer_fin_is_sf() {
    let mut c = conv(C, S);
    c.syn(at(0))
        .synack(at(ms(10)))
        .ack_c2s(at(ms(20)))
        .data_c2s(at(ms(30)), 100)
        .ack_s2c(at(ms(40)))
        .data_s2c(at(ms(50)), 50)
        .fin_c2s(at(ms(60)))
        .rst_c2s(at(ms(70)))
        .fin_s2c(at(ms(80)));
    let recs = records(c.packets());
    assert_eq!(
        rows(&recs),
        vec![expect(
            C,
            S,
            Proto::Tcp,
            ConnState::SF,
            "ShADadFRf",
            Some(ms(80) as i64),
            (100, 50),
            (5, 40 + 40 + 140 + 40 + 40),
            (4, 40 + 40 + 90 + 40)
        )]
    );
}

/// Sizes > 4 GiB from sequence numbers, with the client's sequence space
/// wrapping (ISN near 2^32) and a segment every 1 GiB. The server never
/// acknowledges the data (no gaps); its bare FIN closes the connection.
#[test]
fn sequence_wraparound_counts_more_than_4_gib() {
    let isn: u32 = 0xF000_0000;
    let mut c = conv(C, S).isn(isn, 5000);
    c.syn(at(0)).synack(at(ms(1))).ack_c2s(at(ms(2)));
    let step: u32 = 1 << 30;
    for k in 0..=5u32 {
        let seq = isn.wrapping_add(1).wrapping_add(k.wrapping_mul(step));
        let t = at(ms(10 + u64::from(k)));
        c.send_at(t, Dir::C2S, seq, TcpFlags::PSH | TcpFlags::ACK, 1000);
    }
    c.fin_c2s(at(ms(20)))
        .send(at(ms(30)), Dir::S2C, TcpFlags::FIN, 0);
    let recs = records(c.packets());
    assert_eq!(
        rows(&recs),
        vec![expect(
            C,
            S,
            Proto::Tcp,
            ConnState::SF,
            "ShADFf",
            Some(ms(30) as i64),
            (5 * (1u64 << 30) + 1000, 0),
            (9, 40 * 3 + 6 * 1040),
            (2, 80)
        )]
    );
    assert_eq!(recs[0].missed_bytes, 0);
}

/// `T` is logarithmic: nine retransmissions record one `T`, the tenth a
/// second one.
#[test]
fn retransmission_letter_at_first_and_tenth() {
    for (n, history) in [
        (1, "ShADaT"),
        (9, "ShADaT"),
        (10, "ShADaTT"),
        (11, "ShADaTT"),
    ] {
        let mut c = conv(C, S);
        c.syn(at(0))
            .synack(at(ms(1)))
            .ack_c2s(at(ms(2)))
            .data_c2s(at(ms(3)), 100)
            .ack_s2c(at(ms(4)));
        for i in 0..n {
            c.retransmit(at(ms(10 + i)), Dir::C2S, 100);
        }
        let recs = records(c.packets());
        assert_eq!(
            rows(&recs),
            vec![expect(
                C,
                S,
                Proto::Tcp,
                ConnState::S1,
                history,
                Some(ms(10 + n - 1) as i64),
                (100, 0),
                (3 + n, 40 + 40 + 140 + 140 * n),
                (2, 80)
            )],
            "{n} retransmissions"
        );
    }
}

/// A zero advertised window records `w` for the sender (once, logarithmic).
#[test]
fn zero_window_records_w() {
    let mut c = conv(C, S);
    c.syn(at(0))
        .synack(at(ms(1)))
        .ack_c2s(at(ms(2)))
        .data_c2s(at(ms(3)), 100);
    let (cseq, sseq) = (c.next_seq(Dir::C2S), c.next_seq(Dir::S2C));
    let mut packets = c.into_packets();
    for i in 0..2 {
        let tcp = Tcp::new(TcpFlags::ACK).seq(sseq).ack(cseq).window(0);
        packets.push(seg(at(ms(4 + i)), S, C, tcp, 0));
    }
    let recs = records(&sorted(packets));
    assert_eq!(
        rows(&recs),
        vec![expect(
            C,
            S,
            Proto::Tcp,
            ConnState::S1,
            "ShADaw",
            Some(ms(5) as i64),
            (100, 0),
            (3, 40 + 40 + 140),
            (3, 120)
        )]
    );
}

/// Bookkeeping across many connections on distinct tuples, closed in all
/// the ways above, some still open at the end.
#[test]
fn invariants_hold_over_a_mixed_run() {
    let mut lists = Vec::new();
    for i in 0..40u16 {
        let client = format!("10.1.{}.{}:{}", i / 200, i % 200 + 1, 30000 + i);
        let mut c = conv(&client, S);
        let base = u64::from(i) * ms(700);
        c.syn(at(base));
        match i % 5 {
            0 => {}
            1 => {
                c.rst_s2c(at(base + ms(1)));
            }
            2 => {
                c.synack(at(base + ms(1)))
                    .ack_c2s(at(base + ms(2)))
                    .data_c2s(at(base + ms(3)), 10)
                    .fin_c2s(at(base + ms(4)))
                    .fin_s2c(at(base + ms(5)))
                    .ack_c2s(at(base + ms(6)));
            }
            3 => {
                c.synack(at(base + ms(1))).rst_c2s(at(base + ms(2)));
            }
            _ => {
                c.synack(at(base + ms(1)))
                    .ack_c2s(at(base + ms(2)))
                    .data_s2c(at(base + ms(3)), 30);
            }
        }
        lists.push(c.into_packets());
    }
    let packets = quartet_testkit::pcap::merge(lists);
    let recs = records(&packets);
    assert_eq!(recs.len(), 40);
    let total: u64 = recs.iter().map(|r| r.orig_pkts + r.resp_pkts).sum();
    assert_eq!(total, packets.len() as u64);
    assert_eq!(
        recs.iter()
            .filter(|r| r.conn_state == ConnState::REJ)
            .count(),
        8
    );
    assert!(recs.iter().all(|r| r.orig_h != addr("10.0.0.2")));
}

/// FINs sequenced one below each side's SYN put the FIN mark at relative 0;
/// an ACK at or past it is clamped to the mark minus one, which wraps to the
/// top of the 64-bit relative space as Zeek's unsigned sequences do. The
/// content gaps then add up past 2^64: the count wraps like Zeek's `count`
/// and the connection is still written (found by the track fuzz target,
/// where the sum aborted the record).
#[test]
fn fins_below_the_syns_wrap_missed_bytes_without_losing_the_row() {
    let mut c = conv(C, S_PLAIN);
    c.syn(at(0)).synack(at(ms(1))).ack(at(ms(2)));
    let packets: Vec<Packet> = c
        .into_packets()
        .into_iter()
        .chain([
            seg(
                at(ms(3)),
                C,
                S_PLAIN,
                Tcp::new(TcpFlags::FIN | TcpFlags::ACK).seq(999).ack(5001),
                0,
            ),
            seg(
                at(ms(4)),
                S_PLAIN,
                C,
                Tcp::new(TcpFlags::FIN | TcpFlags::ACK).seq(4999).ack(1001),
                0,
            ),
            seg(
                at(ms(5)),
                C,
                S_PLAIN,
                Tcp::new(TcpFlags::ACK).seq(1001).ack(5001),
                0,
            ),
            seg(
                at(ms(6)),
                S_PLAIN,
                C,
                Tcp::new(TcpFlags::ACK).seq(5001).ack(1001),
                0,
            ),
        ])
        .collect();
    for model in [TcpModel::Zeek, TcpModel::Strict] {
        let config = TrackConfig {
            tcp_model: model,
            ..TrackConfig::default()
        };
        let out = common::track_with(config, &packets).out;
        assert_eq!(out.len(), 1, "{model:?}");
        let r = &out[0].rec;
        assert_eq!((r.orig_pkts, r.resp_pkts), (4, 3), "{model:?}");
        // Each side's gap runs from relative 1 to 2^64 - 1: 2^64 - 2 bytes,
        // and the two add up modulo 2^64.
        let gap = u64::MAX - 1;
        assert_eq!(r.missed_bytes, gap.wrapping_add(gap), "{model:?}");
    }
}
