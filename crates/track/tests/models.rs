//! The two TCP models side by side (docs/tcp-models.md). Every test crafts a
//! trace, runs it through `TcpModel::Zeek` and `TcpModel::Strict`, and
//! asserts the exact rows of each, plus the packet accounting of each run.
//!
//! A row is compared as one line:
//! `orig resp conn_state history duration bytes orig_pkts resp_pkts @when`
//! where bytes is `orig/resp`, the packet columns are `pkts/ip_bytes`,
//! duration is in microseconds (`-` when unset) and `@when` is the index of
//! the packet whose processing wrote the row (`@end` for rows flushed at the
//! end of input).

mod common;

use std::collections::HashMap;

use quartet_record::ConnRecord;
use quartet_testkit::{Conversation, Packet, PacketBuilder, Tcp, TcpFlags};
use quartet_track::{Disposition, TcpModel, TrackConfig, TrackStats};

use common::{at, ms, sa, secs, sorted, track_with};

const C: &str = "10.0.0.1:40000";
const S: &str = "10.0.0.2:80";

const SYN: TcpFlags = TcpFlags::SYN;
const ACK: TcpFlags = TcpFlags::ACK;
const FIN_ACK: TcpFlags = TcpFlags(TcpFlags::FIN.0 | TcpFlags::ACK.0);
const RST: TcpFlags = TcpFlags::RST;
const RST_ACK: TcpFlags = TcpFlags(TcpFlags::RST.0 | TcpFlags::ACK.0);
const SYN_ACK: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::ACK.0);

fn conv(isn_c: u32, isn_s: u32) -> Conversation {
    Conversation::new(sa(C), sa(S)).isn(isn_c, isn_s)
}

/// A segment with explicit header fields, `t` microseconds after `T0`.
fn seg(t: u64, src: &str, dst: &str, flags: TcpFlags, seq: u32, ack: u32, len: usize) -> Packet {
    common::seg(at(t), src, dst, Tcp::new(flags).seq(seq).ack(ack), len)
}

/// The usual first connection: handshake, 100 bytes up, 200 bytes down
/// (client ISN 1000, server ISN 5000). Client final sequence number (after
/// its FIN) 1102, server 5202.
fn old_conn() -> Conversation {
    let mut c = conv(1000, 5000);
    c.syn(at(0))
        .synack(at(ms(10)))
        .ack(at(ms(20)))
        .data_c2s(at(ms(30)), 100)
        .data_s2c(at(ms(40)), 200);
    c
}

/// `old_conn` closed by the client first: FIN 50 ms, FIN 60 ms, ACK 70 ms.
fn client_first_close() -> Vec<Packet> {
    let mut c = old_conn();
    c.fin_c2s(at(ms(50)))
        .fin_s2c(at(ms(60)))
        .ack_c2s(at(ms(70)));
    c.into_packets()
}

/// `old_conn` closed by the server first: FIN 50 ms, FIN 60 ms, ACK 70 ms.
fn server_first_close() -> Vec<Packet> {
    let mut c = old_conn();
    c.fin_s2c(at(ms(50)))
        .fin_c2s(at(ms(60)))
        .ack_s2c(at(ms(70)));
    c.into_packets()
}

/// The row of `old_conn` closed by the server first (`server_first_close`).
fn server_first_sf(when: &str) -> String {
    r(&format!("SF ShADdfFa 60000 100/200 4/260 4/360 {when}"))
}

/// The row of `old_conn` closed by the client first (`client_first_close`).
fn client_first_sf(when: &str) -> String {
    r(&format!("SF ShADdFf 60000 100/200 5/300 3/320 {when}"))
}

/// A short connection from `C` to `S` starting at `start`: client ISN
/// `isn`, server ISN 9000, handshake (SYN-ACK at +10 ms, ACK at +20 ms), 10
/// bytes up at +30 ms, the client's FIN at +40 ms, the server's at +50 ms,
/// the last ACK at +60 ms.
fn short_conn(isn: u32, start: u64) -> Vec<Packet> {
    let mut n = conv(isn, 9000);
    n.syn(at(start))
        .synack(at(start + ms(10)))
        .ack(at(start + ms(20)))
        .data_c2s(at(start + ms(30)), 10)
        .fin_c2s(at(start + ms(40)))
        .fin_s2c(at(start + ms(50)))
        .ack(at(start + ms(60)));
    n.into_packets()
}

/// The row of `short_conn` when nothing interferes with it.
fn short_conn_sf() -> String {
    r("SF ShADFf 50000 10/0 5/210 2/80 @end")
}

/// The reused-port exchange at `t`: a SYN with ISN 500 (below the client's
/// final sequence number 1102 in `old_conn`), the server's bare ACK of its
/// old connection 1 µs later, and the client's RST at that ACK's number
/// (1102) 1 µs after that.
fn stale_ack_exchange(t: u64) -> [Packet; 3] {
    [
        seg(t, C, S, SYN, 500, 0, 0),
        seg(t + 1, S, C, ACK, 5202, 1102, 0),
        seg(t + 2, C, S, RST, 1102, 0, 0),
    ]
}

// ---------------------------------------------------------------------------
// Running a trace

/// One run of a trace through one model.
struct Run {
    rows: Vec<String>,
    stats: TrackStats,
    weirds: HashMap<&'static str, u64>,
}

impl Run {
    fn weird(&self, name: &str) -> u64 {
        self.weirds.get(name).copied().unwrap_or(0)
    }
}

fn line(r: &ConnRecord, during: Option<usize>) -> String {
    let dur = r
        .duration_micros()
        .map_or_else(|| "-".to_string(), |d| d.to_string());
    let when = during.map_or_else(|| "end".to_string(), |i| i.to_string());
    format!(
        "{}:{} {}:{} {} {} {} {}/{} {}/{} {}/{} @{}",
        r.orig_h,
        r.orig_p,
        r.resp_h,
        r.resp_p,
        r.conn_state.name(),
        if r.history.is_empty() {
            "-"
        } else {
            &r.history
        },
        dur,
        r.orig_bytes,
        r.resp_bytes,
        r.orig_pkts,
        r.orig_ip_bytes,
        r.resp_pkts,
        r.resp_ip_bytes,
        when
    )
}

/// Tracks `packets` in the given order with `model` (`common::track_with`,
/// which checks the invariants every run must satisfy) and checks what both
/// models must satisfy besides.
fn run(model: TcpModel, packets: &[Packet]) -> Run {
    let config = TrackConfig {
        tcp_model: model,
        ..TrackConfig::default()
    };
    let t = track_with(config, packets);

    // Every packet fed ends up in exactly one place: a row's packet count
    // (`common::track_with` checked it against `stats.counted`) or one of
    // the drop counters.
    let s = &t.stats;
    let in_rows: u64 = t
        .out
        .iter()
        .map(|e| e.rec.orig_pkts + e.rec.resp_pkts)
        .sum();
    let dropped =
        s.dropped_bad_header + s.dropped_bad_checksum + s.icmp_incomplete + s.absorbed_time_wait;
    assert_eq!(
        packets.len() as u64,
        in_rows + dropped,
        "{model:?}: packets fed vs rows + drop counters ({s:?})"
    );
    let disp = &t.dispositions;
    let counted = disp.iter().filter(|d| **d == Disposition::Counted).count();
    let absorbed = disp
        .iter()
        .filter(|d| **d == Disposition::Dropped("time_wait_absorbed"))
        .count();
    assert_eq!(counted as u64, s.counted, "{model:?}: dispositions");
    assert_eq!(
        absorbed as u64, s.absorbed_time_wait,
        "{model:?}: dispositions"
    );

    // The strict model's counters stay at zero in the zeek model
    // (`time_wait_reopened`, the assassination diagnostic, is counted in
    // both models).
    if model == TcpModel::Zeek {
        assert_eq!(
            (
                s.absorbed_time_wait,
                s.stale_peer_syns,
                s.rst_outside_window
            ),
            (0, 0, 0),
            "zeek model uses no strict counter"
        );
    }

    Run {
        rows: t.out.iter().map(|e| line(&e.rec, e.during)).collect(),
        stats: t.stats,
        weirds: t.weirds,
    }
}

/// Runs `packets` through both models: (zeek, strict).
fn both(packets: &[Packet]) -> (Run, Run) {
    (run(TcpModel::Zeek, packets), run(TcpModel::Strict, packets))
}

/// Runs `packets` through both models and asserts that each writes exactly
/// the rows `want`: (zeek, strict).
#[track_caller]
fn both_write(packets: &[Packet], want: &[String]) -> (Run, Run) {
    let (z, s) = both(packets);
    assert_eq!(z.rows, want, "zeek rows");
    assert_eq!(s.rows, want, "strict rows");
    (z, s)
}

/// One expected row between `C` (originator) and `S`: `rest` is
/// `conn_state history duration bytes orig_pkts resp_pkts @when`.
fn r(rest: &str) -> String {
    format!("{C} {S} {rest}")
}

// ---------------------------------------------------------------------------
// Reordering

/// The client sent an ACK of the server's data, then a RST/ACK; the tap sees
/// the RST/ACK first (both carry seq 1101, ack 5201). The RST is in the
/// window, so both models end the connection on it (RSTO); the late ACK
/// still joins it and extends the duration (the server had not closed).
#[test]
fn rst_ack_captured_before_the_ack_sent_before_it() {
    let mut c = old_conn();
    c.rst_c2s(at(ms(50))).ack_c2s(at(ms(51)));
    let want = vec![r("RSTO ShADdR 51000 100/200 5/300 2/280 @end")];
    let (_, s) = both_write(c.packets(), &want);
    assert_eq!(s.stats.rst_outside_window, 0);
}

// ---------------------------------------------------------------------------
// TIME_WAIT

/// A new SYN on the old 4-tuple 20 s after a server-first close (the server
/// is in TIME_WAIT, the old row already written), with an ISN (500) below
/// the client's old final sequence number (1102). The server answers with a
/// bare ACK of the old connection, the client resets it (seq 1102, the ACK's
/// number), and the SYN is retried a second later and accepted.
///
/// zeek: the refused attempt is a row of its own (`SaR`, RSTOS0). strict:
/// the tombstone absorbs the SYN (refused), the ACK and the RST (which ends
/// the tombstone), and the retried SYN opens the new connection.
#[test]
fn reused_port_syn_answered_by_old_ack_then_rst_and_retry() {
    let mut p = server_first_close();
    p.extend(stale_ack_exchange(secs(20)));
    p.extend(short_conn(500, secs(21)));
    let (z, s) = both(&p);
    let retried = short_conn_sf();
    assert_eq!(
        z.rows,
        vec![
            server_first_sf("@8"),
            r("RSTOS0 SaR 2 0/0 2/80 1/40 @11"),
            retried.clone()
        ]
    );
    assert_eq!(s.rows, vec![server_first_sf("@8"), retried]);
    assert_eq!(s.stats.absorbed_time_wait, 3);
    assert_eq!(s.stats.stale_peer_syns, 1);
    assert_eq!(s.weird("SYN_refused_by_TIME_WAIT"), 1);
    assert_eq!(s.stats.time_wait_reopened, 0);
}

/// The new incarnation of `time_wait_assassination_*`: ISN 200000, beyond
/// both of the old connection's final sequence numbers.
fn new_incarnation(start: u64) -> Vec<Packet> {
    short_conn(200_000, start)
}

/// A SYN with a larger ISN 1 s after a server-first close, while the old
/// connection is still in the table: both models write the old row at once
/// (on the SYN) and start the new connection with it.
#[test]
fn time_wait_assassination_right_after_server_first_close() {
    let mut p = server_first_close();
    p.extend(new_incarnation(secs(1)));
    let want = vec![server_first_sf("@8"), short_conn_sf()];
    let (z, s) = both_write(&p, &want);
    assert_eq!(z.weird("premature_connection_reuse"), 1);
    assert_eq!(s.weird("premature_connection_reuse"), 0);
}

/// The same SYN 20 s after the close: the old row went out with its delete
/// timer; in strict the SYN meets the tombstone and reopens the 4-tuple.
#[test]
fn time_wait_assassination_from_the_tombstone() {
    let mut p = server_first_close();
    p.extend(new_incarnation(secs(20)));
    let want = vec![server_first_sf("@8"), short_conn_sf()];
    let (_, s) = both_write(&p, &want);
    assert_eq!(s.stats.time_wait_reopened, 1);
    assert_eq!(s.weird("TIME_WAIT_assassinated"), 1);
    assert_eq!(s.stats.absorbed_time_wait, 0);
}

/// Once bug 10 (fixed): a SYN beyond the old final sequence numbers with
/// a corrupt checksum, 20 s after a server-first close, reopened the
/// 4-tuple from the tombstone (and a corrupt RST ended it) although the
/// host holding TIME_WAIT drops both. Now both are dropped as corrupt
/// (`bad_checksum`) and the tombstone lives: the server's late FIN/ACK at
/// 22 s is absorbed, and only the sound SYN at 25 s reopens.
#[test]
fn fixed_corrupt_segments_leave_the_tombstone_alone() {
    let mut p = server_first_close();
    p.push(common::pkt(
        at(secs(20)),
        PacketBuilder::tcp(sa(C), sa(S), Tcp::new(SYN).seq(200_000)).corrupt_checksum(),
    ));
    p.push(common::pkt(
        at(secs(21)),
        PacketBuilder::tcp(sa(S), sa(C), Tcp::new(RST).seq(5202)).corrupt_checksum(),
    ));
    p.push(seg(secs(22), S, C, FIN_ACK, 5201, 1102, 0));
    p.extend(new_incarnation(secs(25)));
    let (_, s) = both(&p);
    assert_eq!(s.rows, vec![server_first_sf("@8"), short_conn_sf()]);
    assert_eq!(s.stats.dropped_bad_checksum, 2);
    assert_eq!(s.stats.absorbed_time_wait, 1);
    assert_eq!(s.stats.time_wait_reopened, 1);
    assert_eq!(s.stats.stale_peer_syns, 0);
    assert_eq!(s.weird("TIME_WAIT_assassinated"), 1);
    assert_eq!(s.weird("bad_TCP_checksum"), 2);
}

/// The same with a corrupt SYN whose ISN is below the old final sequence
/// numbers, answered by a SYN-ACK: the SYN is dropped, not refused and kept
/// for a replay, so the SYN-ACK is a late segment the tombstone absorbs.
#[test]
fn fixed_corrupt_syn_below_the_tombstone_is_not_kept() {
    let mut p = server_first_close();
    p.push(common::pkt(
        at(secs(20)),
        PacketBuilder::tcp(sa(C), sa(S), Tcp::new(SYN).seq(500)).corrupt_checksum(),
    ));
    p.push(seg(secs(20) + ms(10), S, C, SYN_ACK, 9000, 501, 0));
    let (_, s) = both(&p);
    assert_eq!(s.rows, vec![server_first_sf("@8")]);
    assert_eq!(s.stats.dropped_bad_checksum, 1);
    assert_eq!(s.stats.absorbed_time_wait, 1);
    assert_eq!(s.stats.stale_peer_syns, 0);
    assert_eq!(s.stats.time_wait_reopened, 0);
}

/// After a client-first close the server's FIN/ACK is retransmitted (the
/// final ACK was lost), acknowledged again, and the server sends a RST/ACK,
/// all before the 5 s delete: they join the old row in both models (no new
/// letters but `r`; SF stays SF; no duration change).
#[test]
fn late_fin_ack_and_rst_before_the_delete() {
    let mut p = client_first_close();
    p.push(seg(secs(1) + ms(60), S, C, FIN_ACK, 5201, 1102, 0));
    p.push(seg(secs(1) + ms(61), C, S, ACK, 1102, 5202, 0));
    p.push(seg(secs(2), S, C, RST_ACK, 5202, 1102, 0));
    let want = vec![r("SF ShADdFfr 60000 100/200 6/340 5/400 @end")];
    let (_, s) = both_write(&p, &want);
    assert_eq!(s.stats.absorbed_time_wait, 0);
}

/// The same late segments after the delete (7 s) but within 2MSL: zeek
/// makes a new partial connection of them (`^fAr`, RSTRH); strict absorbs
/// the FIN/ACK, the ACK and the RST, and the RST ends the tombstone, so a
/// FIN/ACK at 9 s is a new partial connection in strict too (`^f`, SHR).
#[test]
fn late_fin_ack_and_rst_after_the_delete_within_2msl() {
    let mut p = client_first_close();
    p.push(seg(secs(7) + ms(60), S, C, FIN_ACK, 5201, 1102, 0));
    p.push(seg(secs(7) + ms(61), C, S, ACK, 1102, 5202, 0));
    p.push(seg(secs(8), S, C, RST_ACK, 5202, 1102, 0));
    p.push(seg(secs(9), S, C, FIN_ACK, 5201, 1102, 0));
    let (z, s) = both(&p);
    assert_eq!(
        z.rows,
        vec![
            client_first_sf("@8"),
            r("RSTRH ^fAr 1940000 0/0 1/40 3/120 @end")
        ]
    );
    assert_eq!(
        s.rows,
        vec![client_first_sf("@8"), r("SHR ^f - 0/0 0/0 1/40 @end")]
    );
    assert_eq!(s.stats.absorbed_time_wait, 3);
    assert_eq!(z.weird("FIN_after_reset"), 1);
}

/// The tombstone lasts 2MSL = 60 s from the old connection's last_time (the
/// second FIN at 60 ms): a FIN/ACK at 60.05 s is absorbed, one at 60.07 s
/// starts a new partial connection. In zeek both join one partial row.
#[test]
fn tombstone_ends_2msl_after_the_close() {
    let mut p = client_first_close();
    p.push(seg(secs(60) + ms(50), S, C, FIN_ACK, 5201, 1102, 0));
    p.push(seg(secs(60) + ms(70), S, C, FIN_ACK, 5201, 1102, 0));
    let (z, s) = both(&p);
    assert_eq!(
        z.rows,
        vec![client_first_sf("@8"), r("SHR ^f 20000 0/0 0/0 2/80 @end")]
    );
    assert_eq!(
        s.rows,
        vec![client_first_sf("@8"), r("SHR ^f - 0/0 0/0 1/40 @end")]
    );
    assert_eq!(s.stats.absorbed_time_wait, 1);
    assert_eq!(quartet_track::STRICT_MSL, 30_000_000);
}

// ---------------------------------------------------------------------------
// A SYN inside an established connection

fn stray_prefix() -> Conversation {
    let mut c = conv(1000, 5000);
    c.syn(at(0))
        .synack(at(ms(10)))
        .ack(at(ms(20)))
        .data_c2s(at(ms(30)), 100);
    c
}

/// A SYN with a new ISN (777777) from the client's port in the middle of an
/// established connection; the server answers with a challenge ACK of the
/// old connection and the old connection goes on and closes.
///
/// zeek: the SYN splits it (`active_connection_reuse`): an S1 row up to the
/// SYN, then a row of the SYN plus the rest (with a wrapped byte count).
/// strict: one SF row; the SYN is counted in it without a letter.
#[test]
fn stray_syn_unanswered_does_not_split_in_strict() {
    let mut p = stray_prefix().into_packets();
    p.push(seg(ms(40), C, S, SYN, 777_777, 0, 0));
    p.push(seg(ms(41), S, C, ACK, 5001, 1101, 0));
    p.push(seg(ms(50), S, C, TcpFlags(0x18), 5001, 1101, 200));
    p.push(seg(ms(60), C, S, FIN_ACK, 1101, 5201, 0));
    p.push(seg(ms(70), S, C, FIN_ACK, 5201, 1102, 0));
    p.push(seg(ms(80), C, S, ACK, 1102, 5202, 0));
    let (z, s) = both(&p);
    assert_eq!(
        z.rows,
        vec![
            r("S1 ShAD 30000 100/0 3/220 1/40 @4"),
            r("SF SadFfA 40000 4294190619/200 3/120 3/320 @end"),
        ]
    );
    assert_eq!(
        s.rows,
        vec![r("SF ShADadFf 70000 100/200 6/340 4/360 @end")]
    );
    assert_eq!(z.weird("active_connection_reuse"), 1);
    assert_eq!(s.weird("SYN_inside_connection"), 1);
    assert_eq!(s.weird("active_connection_reuse"), 0);
}

/// The same SYN answered by a SYN-ACK acking 777778 (the server had
/// forgotten the old connection): both models give the same two rows, but
/// zeek writes the old one on the SYN (packet 4) and strict on the SYN-ACK
/// (packet 5), when the new connection is certain.
#[test]
fn stray_syn_answered_by_syn_ack_splits_in_both() {
    let mut p = stray_prefix().into_packets();
    let mut n = conv(777_777, 9000);
    n.syn(at(ms(40)))
        .synack(at(ms(41)))
        .ack(at(ms(42)))
        .data_c2s(at(ms(50)), 10)
        .fin_c2s(at(ms(60)))
        .fin_s2c(at(ms(70)))
        .ack(at(ms(80)));
    p.extend(n.into_packets());
    let (z, s) = both(&p);
    let new = r("SF ShADFf 30000 10/0 5/210 2/80 @end");
    assert_eq!(
        z.rows,
        vec![r("S1 ShAD 30000 100/0 3/220 1/40 @4"), new.clone()]
    );
    assert_eq!(s.rows, vec![r("S1 ShAD 30000 100/0 3/220 1/40 @5"), new]);
    assert_eq!(s.weird("stray_SYN_answered"), 1);
    assert_eq!(s.weird("SYN_inside_connection"), 1);
}

/// The stray SYN of `stray_syn_answered_by_syn_ack_splits_in_both` arrives
/// with a corrupt checksum. strict: a corrupt segment decides nothing, so
/// it is dropped (`bad_checksum`) instead of being counted as a stray SYN
/// and then, when the SYN-ACK answers it, uncounted again after its
/// `Counted` disposition was reported (found by the track fuzz target).
/// Every packet keeps the one disposition it was given (`run` checks it).
#[test]
fn fixed_corrupt_syn_decides_no_reuse() {
    let mut p = stray_prefix().into_packets();
    p.push(common::pkt(
        at(ms(40)),
        PacketBuilder::tcp(sa(C), sa(S), Tcp::new(SYN).seq(777_777)).corrupt_checksum(),
    ));
    p.push(seg(ms(41), S, C, SYN_ACK, 9000, 777_778, 0));
    let (z, s) = both(&p);
    for run in [&z, &s] {
        assert_eq!(run.stats.dropped_bad_checksum, 1);
    }
    assert_eq!(s.weird("SYN_inside_connection"), 0);
    assert_eq!(s.weird("stray_SYN_answered"), 0);
    assert_eq!(s.rows.len(), 1, "strict: no split on a corrupt SYN");
}

// ---------------------------------------------------------------------------
// RST and the window

/// An established connection (window 65535, optionally both SYNs with
/// window scale `scale`) that goes on for 11 s; a RST/ACK "from the server"
/// with sequence number `rst_seq` arrives at 1 s (the server's RCV.NXT as
/// acknowledged by the client is 5001).
fn rst_trace(rst_seq: u32, scale: Option<u8>) -> Vec<Packet> {
    let mut c = stray_prefix();
    c.data_s2c(at(secs(2)), 200)
        .data_c2s(at(secs(3)), 50)
        .data_s2c(at(secs(10)), 300)
        .fin_c2s(at(secs(11)))
        .fin_s2c(at(secs(11) + ms(10)))
        .ack(at(secs(11) + ms(20)));
    let mut p = c.into_packets();
    if let Some(s) = scale {
        let ws = quartet_testkit::packet::tcp_option::window_scale(s);
        p[0] = common::seg(at(0), C, S, Tcp::new(SYN).seq(1000).option(&ws), 0);
        let synack = Tcp::new(SYN_ACK).seq(5000).ack(1001).option(&ws);
        p[1] = common::seg(at(ms(10)), S, C, synack, 0);
    }
    p.push(seg(secs(1), S, C, RST_ACK, rst_seq, 1101, 0));
    sorted(p)
}

/// A blind RST 2 000 000 beyond the window: zeek resets the connection
/// (RSTR, written by its delete timer; the rest becomes a partial SF row),
/// strict keeps the `r` but nothing else changes (one SF row).
#[test]
fn rst_outside_the_window_is_ignored_by_strict() {
    let (z, s) = both(&rst_trace(5001 + 2_000_000, None));
    assert_eq!(
        z.rows,
        vec![
            r("RSTR ShADrd 3000000 150/200 4/310 3/320 @7"),
            r("SF ^dFfA 1010000 0/300 2/80 2/380 @end"),
        ]
    );
    assert_eq!(
        s.rows,
        vec![r("SF ShADrdFf 11010000 150/500 6/390 5/700 @end")]
    );
    assert_eq!(s.stats.rst_outside_window, 1);
    assert_eq!(s.weird("RST_outside_window"), 1);
}

/// A RST 100 000 beyond RCV.NXT, inside the window scaled by 4 (both SYNs
/// carry window scale 2), in a connection that goes on: zeek honours it
/// (RSTR; its sequence jump, under 1 MiB, is trusted, so the server's size
/// includes it). strict follows RFC 5961 3.2, as the stacks do: a RST in
/// the window but not at RCV.NXT draws a challenge ACK and resets nothing,
/// so the connection is one SF row (the `r` kept).
#[test]
fn rst_inside_the_window_but_not_at_rcv_nxt_is_challenged_in_strict() {
    let (z, s) = both(&rst_trace(5001 + 100_000, Some(2)));
    assert_eq!(
        z.rows,
        vec![r("RSTR ShADrdFf 11020000 150/99999 6/394 5/704 @end")]
    );
    assert_eq!(
        s.rows,
        vec![r("SF ShADrdFf 11010000 150/500 6/394 5/704 @end")]
    );
    assert_eq!(s.stats.rst_outside_window, 1);
}

/// A RST at exactly RCV.NXT (the server's next sequence number, 5201 after
/// its 200 bytes, acknowledged by the client) resets the connection in
/// both models; so does one at the sequence number of data the server sent
/// but the client has not acknowledged yet (RCV.NXT lies somewhere up to
/// there: the tracker cannot tell how far the client has received).
#[test]
fn rst_at_rcv_nxt_resets_in_both() {
    for unacked in [0, 300] {
        let mut c = stray_prefix();
        c.data_s2c(at(secs(2)), 200).data_c2s(at(secs(3)), 50);
        if unacked > 0 {
            c.data_s2c(at(secs(4)), unacked);
        }
        let mut p = c.into_packets();
        p.push(seg(secs(5), S, C, RST_ACK, 5201 + unacked as u32, 1151, 0));
        let (z, s) = both(&p);
        assert_eq!(z.rows, s.rows, "unacked {unacked}");
        assert_eq!(s.stats.rst_outside_window, 0, "unacked {unacked}");
        assert!(s.rows[0].contains(" RSTR "), "{:?}", s.rows);
    }
}

/// `old_conn` closed by the server first, with a RST from the server at
/// 5 ms, while the client's SYN is still unanswered, with the given flags,
/// sequence and acknowledgment numbers.
fn rst_in_syn_sent(flags: TcpFlags, seq: u32, ack: u32) -> Vec<Packet> {
    let mut p = server_first_close();
    p.push(seg(ms(5), S, C, flags, seq, ack, 0));
    sorted(p)
}

/// A bare RST from the server while the client's SYN is unanswered, at a
/// number of an older connection (the server's answer to that connection's
/// late ACK, captured after the new SYN; seen on loopback): the client, in
/// SYN-SENT, drops a RST that does not acknowledge its SYN (RFC 793 3.9)
/// and the connection goes on. zeek honours it (the server's later
/// segments do not undo the reset); strict keeps the `r` and nothing else,
/// also for a RST/ACK acknowledging anything but ISN + 1.
#[test]
fn rst_in_syn_sent_without_the_ack_of_the_syn_is_ignored_by_strict() {
    for (flags, ack) in [(RST, 0), (RST_ACK, 1000), (RST_ACK, 1002)] {
        let (z, s) = both(&rst_in_syn_sent(flags, 4242, ack));
        assert_eq!(
            z.rows,
            vec![r("RSTR SrhADdfFa 60000 100/200 4/260 5/400 @end")],
            "zeek {flags:?} ack {ack}"
        );
        assert_eq!(
            s.rows,
            vec![r("SF SrhADdfFa 60000 100/200 4/260 5/400 @end")],
            "strict {flags:?} ack {ack}"
        );
        assert_eq!(s.stats.rst_outside_window, 1);
    }
}

/// The refusal itself, a RST/ACK acknowledging the SYN, rejects the
/// attempt in both models; so does one acknowledging the SYN and the 10
/// bytes it carried (TCP Fast Open: SND.NXT includes them). A RST/ACK
/// acknowledging more than was sent is dropped in SYN-SENT: strict ignores
/// it.
#[test]
fn rst_acknowledging_the_syn_rejects_in_both() {
    for (len, ack, rejects) in [
        (0, 1001, true),
        (10, 1011, true),
        (10, 1001, true),
        (0, 1002, false),
    ] {
        let p = vec![
            seg(0, C, S, SYN, 1000, 0, len),
            seg(ms(5), S, C, RST_ACK, 0, ack, 0),
        ];
        let (z, s) = both(&p);
        assert!(
            z.rows[0].contains(" REJ "),
            "zeek {len} {ack}: {:?}",
            z.rows
        );
        if rejects {
            assert_eq!(s.rows, z.rows, "len {len} ack {ack}");
            assert_eq!(s.stats.rst_outside_window, 0, "len {len} ack {ack}");
        } else {
            assert!(
                s.rows[0].contains(" S0 "),
                "strict {len} {ack}: {:?}",
                s.rows
            );
            assert_eq!(s.stats.rst_outside_window, 1);
        }
    }
    let p = vec![
        seg(0, C, S, SYN, 1000, 0, 0),
        seg(ms(5), S, C, RST_ACK, 0, 1001, 0),
    ];
    both_write(&p, &[r("REJ Sr 5000 0/0 1/40 1/40 @end")]);
}

/// The SYN-ACK was not captured, but the client's ACK of it was: the
/// client is past SYN-SENT, so the server's bare RST at the sequence
/// number the client acknowledged resets it, in both models alike.
#[test]
fn rst_after_an_ack_of_a_missed_syn_ack_resets_in_both() {
    let p = vec![
        seg(0, C, S, SYN, 1000, 0, 0),
        seg(ms(10), C, S, ACK, 1001, 5001, 0),
        seg(ms(20), S, C, RST, 5001, 0, 0),
    ];
    let (_, s) = both_write(&p, &[r("REJ SAr 20000 0/0 2/80 1/40 @end")]);
    assert_eq!(s.stats.rst_outside_window, 0);
}

/// A client that sent an ACK and then its SYN again (without ACK, same
/// ISN, so it stays in the connection) says it is in SYN-SENT once more: a
/// bare RST meeting that SYN is ignored by strict again.
#[test]
fn a_syn_puts_its_sender_back_in_syn_sent() {
    let p = vec![
        seg(0, C, S, SYN, 1000, 0, 0),
        seg(ms(10), C, S, ACK, 1001, 5001, 0),
        seg(secs(1), C, S, SYN, 1000, 0, 0),
        seg(secs(1) + ms(1), S, C, RST, 5001, 0, 0),
    ];
    let (z, s) = both(&p);
    assert_eq!(z.rows, vec![r("REJ SAr 1001000 0/0 3/120 1/40 @end")]);
    assert_eq!(s.rows, vec![r("S0 SAr 1001000 0/0 3/120 1/40 @end")]);
    assert_eq!(s.stats.rst_outside_window, 1);
}

/// The server closes first; the client aborts (RST/ACK), and its ACK of
/// the server's FIN, sent before the RST but captured after it, meets a
/// server with no connection left, which answers with a bare RST (seen in
/// churn.py's `rst` mode on loopback). Zeek lets the later RST decide
/// (`rs == RESET` wins: RSTR); strict keeps who aborted: the client's RST
/// ended the connection at both ends, the server's answers a segment that
/// met nothing (RSTO, `rst_outside_window` 1).
#[test]
fn rst_after_the_peers_rst_resets_nothing_in_strict() {
    let mut c = old_conn();
    c.fin_s2c(at(ms(50)))
        .rst_c2s(at(ms(60)))
        .ack_c2s(at(ms(61)));
    let mut p = c.into_packets();
    p.push(seg(ms(62), S, C, RST, 5202, 0, 0));
    let (z, s) = both(&p);
    assert_eq!(
        z.rows,
        vec![r("RSTR ShADdfRr 60000 100/200 5/300 4/360 @end")]
    );
    assert_eq!(
        s.rows,
        vec![r("RSTO ShADdfRr 60000 100/200 5/300 4/360 @end")]
    );
    assert_eq!(s.stats.rst_outside_window, 1);
}

// ---------------------------------------------------------------------------
// Duplicates and close orders

/// Every packet of handshake, data and close delivered twice (same time):
/// the data copies are retransmissions (`T`, `t`), everything else adds
/// nothing but packets. Same in both models.
#[test]
fn duplicate_delivery_of_every_packet() {
    let mut p = Vec::new();
    for pk in client_first_close() {
        p.push(pk.clone());
        p.push(pk);
    }
    let want = vec![r("SF ShADTdtFf 60000 100/200 10/600 6/640 @end")];
    both_write(&p, &want);
}

#[test]
fn client_fin_first() {
    both_write(&client_first_close(), &[client_first_sf("@end")]);
}

#[test]
fn server_fin_first() {
    both_write(&server_first_close(), &[server_first_sf("@end")]);
}

// ---------------------------------------------------------------------------
// RST and FIN together

/// Client FIN, server RST/ACK: RSTR in both; no tombstone (a RST ended it),
/// so the client's FIN/ACK retransmitted at 7 s is a new partial row (SH)
/// in both models.
#[test]
fn rst_after_fin() {
    let mut c = old_conn();
    c.fin_c2s(at(ms(50))).rst_s2c(at(ms(60)));
    let mut p = c.into_packets();
    p.push(seg(secs(7), C, S, FIN_ACK, 1101, 5201, 0));
    let want = vec![
        r("RSTR ShADdFr 60000 100/200 4/260 3/320 @7"),
        r("SH F - 0/0 1/40 0/0 @end"),
    ];
    let (_, s) = both_write(&p, &want);
    assert_eq!(s.stats.absorbed_time_wait, 0);
}

/// Both FINs, then the client's RST instead of the final ACK: the RST
/// changes no state after a complete FIN exchange (SF, `R` kept).
#[test]
fn rst_after_both_fins() {
    let mut c = old_conn();
    c.fin_c2s(at(ms(50)))
        .fin_s2c(at(ms(60)))
        .rst_c2s(at(ms(70)));
    let want = vec![r("SF ShADdFfR 60000 100/200 5/300 3/320 @end")];
    both_write(c.packets(), &want);
}

/// Client RST, then the server's FIN (sent before it saw the RST): RSTO.
#[test]
fn fin_after_rst() {
    let mut c = old_conn();
    c.rst_c2s(at(ms(50))).fin_s2c(at(ms(60)));
    let want = vec![r("RSTO ShADdRf 60000 100/200 4/260 3/320 @end")];
    both_write(c.packets(), &want);
}

/// Client FIN, client RST, server FIN: the FIN puts the resetting client
/// back to CLOSED (§4.3), so the row is SF in both models.
#[test]
fn fin_rst_then_peer_fin() {
    let mut c = old_conn();
    c.fin_c2s(at(ms(50)))
        .rst_c2s(at(ms(55)))
        .fin_s2c(at(ms(60)));
    let want = vec![r("SF ShADdFRf 60000 100/200 5/300 3/320 @end")];
    both_write(c.packets(), &want);
}

// ---------------------------------------------------------------------------
// Known bugs of the strict model (docs/tcp-models.md, "Known bugs"). Each
// asserts what the strict model should do; run with `--ignored`.

/// Once bug 1 (fixed): The reused-port case while the old connection is still in the
/// table: the SYN (ISN 500, not beyond) and its retry are kept aside, the
/// retry is answered by a SYN-ACK, so the old row is written and the new
/// connection should start with the kept SYN. Instead removing the old row
/// leaves its tombstone, which absorbs the kept SYN (moving it from
/// `counted` to `absorbed_time_wait`), the SYN-ACK and the whole new
/// connection. As of commit 5a44211 the refused-SYN rescue reopens on the
/// SYN-ACK, so the rows come out right, but the kept SYN is still refused
/// first by the old row's own tombstone (`SYN_refused_by_TIME_WAIT`,
/// `stale_peer_syns`, then `TIME_WAIT_assassinated`, `time_wait_reopened`).
#[test]
fn fixed_answered_stray_syn_after_close_is_absorbed() {
    let mut p = server_first_close();
    p.extend(stale_ack_exchange(secs(1)));
    p.extend(short_conn(500, secs(2)));
    let s = run(TcpModel::Strict, &p);
    assert_eq!(
        s.rows,
        vec![
            r("SF ShADdfFaR 60000 100/200 6/340 5/400 @12"),
            short_conn_sf(),
        ]
    );
    // The kept SYN was answered; no tombstone should ever have refused it.
    assert_eq!(s.weird("SYN_refused_by_TIME_WAIT"), 0);
    assert_eq!(
        (s.stats.stale_peer_syns, s.stats.time_wait_reopened),
        (0, 0)
    );
}

/// Once bug 2 (fixed): A SYN beyond the old final sequence numbers 1 s after a
/// server-first close reopens the 4-tuple from the table, but the old row
/// still leaves its tombstone (and neither `time_wait_reopened` nor
/// `TIME_WAIT_assassinated` is counted). The new connection ends with a RST
/// (no tombstone of its own), and a SYN at 10 s with ISN 700, which the
/// server rejects with a RST/ACK, is then refused by the old row's stale
/// tombstone and the RST/ACK absorbed too: the REJ row is lost. (Were the
/// SYN answered by a SYN-ACK, the refused-SYN rescue would hide this, at the
/// cost of a `TIME_WAIT_assassinated` on a tuple with no TIME_WAIT.)
#[test]
fn fixed_reopen_from_the_table_leaves_a_stale_tombstone() {
    let mut p = server_first_close();
    let mut n = conv(200_000, 9000);
    n.syn(at(secs(1)))
        .synack(at(secs(1) + ms(10)))
        .ack(at(secs(1) + ms(20)))
        .rst_c2s(at(secs(1) + ms(30)));
    p.extend(n.into_packets());
    p.push(seg(secs(10), C, S, SYN, 700, 0, 0));
    p.push(seg(secs(10) + ms(10), S, C, RST_ACK, 0, 701, 0));
    let want = vec![
        server_first_sf("@8"),
        r("RSTO ShAR 30000 0/0 3/120 1/40 @12"),
        r("REJ Sr 10000 0/0 1/40 1/40 @end"),
    ];
    both_write(&p, &want);
}

/// Once bug 3 (fixed): A RST after a complete FIN exchange that arrives before the 5 s
/// delete changes no state (Zeek's rule), so the row still leaves a
/// tombstone at removal, although the RST ended TIME_WAIT. The server's
/// FIN/ACK retransmitted at 7 s is absorbed instead of starting a partial
/// row (a RST arriving after the delete does end the tombstone).
#[test]
fn fixed_rst_before_the_delete_does_not_end_the_tombstone() {
    let mut c = old_conn();
    c.fin_c2s(at(ms(50)))
        .fin_s2c(at(ms(60)))
        .rst_c2s(at(ms(70)));
    let mut p = c.into_packets();
    p.push(seg(secs(7), S, C, FIN_ACK, 5201, 1102, 0));
    let want = vec![
        r("SF ShADdFfR 60000 100/200 5/300 3/320 @8"),
        r("SHR ^f - 0/0 0/0 1/40 @end"),
    ];
    both_write(&p, &want);
}

/// Once bug 4 (fixed): A RST 100 000 beyond RCV.NXT with an unscaled 65535 window is
/// outside the window and flagged so, but its sequence number still
/// advances the server's last_seq (the jump is under 1 MiB): resp_bytes
/// becomes 99999 instead of 500 and the server's next data segment counts
/// as a retransmission (`t`).
#[test]
fn fixed_rst_outside_the_window_still_moves_last_seq() {
    let s = run(TcpModel::Strict, &rst_trace(5001 + 100_000, None));
    assert_eq!(s.stats.rst_outside_window, 1);
    assert_eq!(
        s.rows,
        vec![r("SF ShADrdFf 11010000 150/500 6/390 5/700 @end")]
    );
}

/// Once bug 5 (fixed): RFC 793: a segment is in the window when RCV.NXT <= SEG.SEQ <
/// RCV.NXT + RCV.WND. A RST at exactly RCV.NXT + RCV.WND (nothing
/// unacknowledged; window 65535 << 5, so the jump is over 1 MiB and bug 4
/// plays no part) is accepted as in the window and resets the connection.
#[test]
fn fixed_rst_at_the_window_edge_is_accepted() {
    let s = run(TcpModel::Strict, &rst_trace(5001 + (65_535 << 5), Some(5)));
    assert_eq!(s.stats.rst_outside_window, 1);
    assert_eq!(
        s.rows,
        vec![r("SF ShADrdFf 11010000 150/500 6/394 5/704 @end")]
    );
}

/// After a client-first close only the client holds TIME_WAIT; the server
/// accepts a SYN with any ISN. A SYN 20 s later with ISN 500 (below the old
/// final 1102) is refused by the tombstone, then answered by a SYN-ACK, and
/// a whole connection follows: the answer reopens the 4-tuple with the
/// refused SYN.
#[test]
fn fixed_tombstone_absorbs_an_answered_connection() {
    let mut p = client_first_close();
    p.extend(short_conn(500, secs(20)));
    let z = run(TcpModel::Zeek, &p);
    assert_eq!(z.rows, vec![client_first_sf("@8"), short_conn_sf()]);
    // Strict: the SYN was booked as absorbed by the tombstone when it came
    // (that is what `process` reported for it); it builds the reopened
    // connection's state but is not counted a second time.
    let s = run(TcpModel::Strict, &p);
    assert_eq!(
        s.rows,
        vec![
            client_first_sf("@8"),
            r("SF ShADFf 50000 10/0 4/170 2/80 @end")
        ]
    );
    assert_eq!(s.stats.absorbed_time_wait, 1);
    assert_eq!(s.stats.stale_peer_syns, 0);
    assert_eq!(s.stats.time_wait_reopened, 1);
}

/// The reused-port exchange when the tracker never saw the old connection
/// (capture started later, so no tombstone): SYN (ISN 500), the server's
/// bare ACK of its old connection, the client's RST at that ACK's number,
/// and the SYN retried a second later and accepted.
///
/// zeek: the RST ends the attempt (`SaR`, RSTOS0) and the retry is a new row.
/// strict: a RST from a SYN_SENT side whose sequence number is neither the
/// ISN nor ISN + 1 answers the stale ACK and ends nothing of this attempt
/// (`RST_outside_window`), so the retry (same ISN) continues the same row.
/// Bug 7: that row says 600 bytes from the client (10 were sent) and counts
/// its data as a retransmission (`T`): the ignored RST (seq 1102) still
/// moves the client's last_seq (bug 4), and the stale ACK's number (1102)
/// is taken as an acknowledgement of the client's data.
#[test]
fn fixed_stale_ack_and_its_rst_inflate_the_attempt() {
    let mut p = stale_ack_exchange(0).to_vec();
    p.extend(short_conn(500, secs(1)));
    let (z, s) = both(&p);
    assert_eq!(
        z.rows,
        vec![r("RSTOS0 SaR 2 0/0 2/80 1/40 @3"), short_conn_sf()]
    );
    assert_eq!(s.rows, vec![r("SF SaRhADFf 1050000 10/0 7/290 3/120 @end")]);
    assert_eq!(s.stats.rst_outside_window, 1);
}
