//! The TCP machine: two endpoints, each with its own state, sequence
//! bookkeeping, scaled history counters and a content-gap reassembler that
//! tracks byte ranges (never payload).
//!
//! The rules are those of Zeek's TCP session adapter as written down in
//! `zeek-conn-semantics.md` §4; section numbers below refer to it. The
//! endpoints live in an array indexed by *role* (0 = originator); a role
//! flip swaps the array, so "the endpoint that sent this packet" is tracked
//! by index while processing.

use crate::history::{History, Letter, Scaled, Seen};
use crate::timer::{TimerKind, TimerQueue};
use crate::Weirds;
use quartet_decode::{tcp_flags as F, TcpMeta, Transport};
use quartet_wire::Timestamp;

/// Sequence jumps larger than this in a SYN or RST are not trusted.
const TOO_LARGE_SEQ_DELTA: i32 = 1_048_576;
/// Zeek's `tcp_max_initial_window`.
const MAX_INITIAL_WINDOW: u64 = 16_384;
/// Zeek's `tcp_max_above_hole_without_any_acks`.
const MAX_ABOVE_HOLE_WITHOUT_ACKS: u64 = 16_384;
/// Zeek's `tcp_excessive_data_without_further_acks`.
const EXCESSIVE_DATA_WITHOUT_ACKS: u64 = 10 * 1024 * 1024;

pub(crate) const SECOND: i64 = 1_000_000;
/// `tcp_attempt_delay`, `tcp_close_delay`, `tcp_connection_linger`, `tcp_SYN_timeout`.
pub(crate) const FIVE_SECONDS: i64 = 5 * SECOND;
/// `tcp_session_timer`.
pub(crate) const SESSION_TIMER: i64 = 6 * SECOND;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TcpState {
    #[default]
    Inactive,
    SynSent,
    SynAckSent,
    Partial,
    Established,
    Closed,
    Reset,
}

impl TcpState {
    fn is_handshake(self) -> bool {
        matches!(
            self,
            TcpState::Inactive | TcpState::SynSent | TcpState::SynAckSent
        )
    }

    /// "Inactive" for conn_state: INACTIVE or PARTIAL (§4.4).
    pub fn is_inactive(self) -> bool {
        matches!(self, TcpState::Inactive | TcpState::Partial)
    }
}

fn seq_delta(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

fn full_seq(seq: u32, wraps: u32) -> u64 {
    ((wraps as u64) << 32) + seq as u64
}

/// Byte ranges of one direction's stream in relative sequence space (the
/// first data byte is 1), buffered until the peer acknowledges them (§4.7),
/// and the counters of what only some directions see (retransmissions,
/// zero windows, content gaps, bad checksums) and the sequence marks of its
/// FIN. Kept in `Rare`, allocated when either direction first carries
/// data, sends a FIN or counts one of those: a connection that never does
/// (a scan, a handshake, an idle session, one ended by a RST) pays one
/// pointer for both.
#[derive(Clone, Debug)]
struct Ranges {
    /// Everything below has been delivered or declared missing.
    last_reassem: u64,
    /// Everything below has been acknowledged and forgotten.
    trim_seq: u64,
    /// Sorted, disjoint `[seq, upper)` ranges above `trim_seq`.
    blocks: Vec<(u64, u64)>,
    /// Content gaps counted for this direction (`missed_bytes`).
    missed: u64,
    /// Relative sequence just past the FIN octet, and that of the last FIN
    /// (a repeated `F` is recorded only at a new one).
    fin_seq: u64,
    hist_last_fin: u64,
    /// Relative sequence of the last SYN (a repeated `S`/`H` is recorded
    /// only at a new one). A SYN's is 0 unless the endpoint's ISN was kept
    /// across it, so it is written (and the part allocated) only when it
    /// changes.
    hist_last_syn: u64,
    /// How often this direction's sequence and acknowledgement numbers
    /// wrapped past 2^32 (Zeek's `seq_wraps`, `ack_wraps`): a connection
    /// whose numbers never wrap, nearly every one, allocates nothing for
    /// them.
    seq_wraps: u32,
    ack_wraps: u32,
    checksum_errors: Scaled,
    rxmits: Scaled,
    zero_windows: Scaled,
    gaps: Scaled,
}

/// The ranges of a direction nothing was allocated for.
static NO_RANGES: Ranges = Ranges::EMPTY;

impl Ranges {
    const EMPTY: Ranges = Ranges {
        last_reassem: 1,
        trim_seq: 1,
        blocks: Vec::new(),
        missed: 0,
        fin_seq: 0,
        hist_last_fin: 0,
        hist_last_syn: 0,
        seq_wraps: 0,
        ack_wraps: 0,
        checksum_errors: Scaled::ZERO,
        rxmits: Scaled::ZERO,
        zero_windows: Scaled::ZERO,
        gaps: Scaled::ZERO,
    };

    fn has_blocks(&self) -> bool {
        !self.blocks.is_empty()
    }

    fn undelivered_bytes(&self) -> u64 {
        self.blocks
            .last()
            .map_or(0, |&(_, upper)| upper.saturating_sub(self.last_reassem))
    }

    fn data_size(&self) -> u64 {
        self.blocks.iter().map(|&(s, u)| u - s).sum()
    }
}

/// What only some TCP connections need, in one allocation made when one
/// first does: both directions' ranges and counters, the time a stale ACK
/// answered the SYN, the strict model's stray SYN.
#[derive(Clone, Debug)]
struct Rare {
    ranges: [Ranges; 2],
    /// When a stale ACK first answered this connection's SYN (`NEVER`:
    /// none); the delay until the real SYN-ACK is what the stale peer state
    /// cost.
    stale_ack_at: Timestamp,
    /// By role: the high 32 bits of the last RST mark (`TcpConn::
    /// hist_last_rst`), written only when they change from 0.
    rst_hi: [u32; 2],
    /// Strict model: an unanswered SYN seen inside the established
    /// connection, with the role index of its sender.
    pending_syn: Option<Box<(quartet_decode::PacketMeta, usize)>>,
}

/// No time (`Rare::stale_ack_at`).
const NEVER: Timestamp = Timestamp(i64::MIN);

/// Direction `x`'s ranges in `rare` (the empty ones while none were
/// allocated).
fn ranges_in(rare: &Option<Box<Rare>>, x: usize) -> &Ranges {
    rare.as_deref().map_or(&NO_RANGES, |r| &r.ranges[x])
}

impl Default for Rare {
    fn default() -> Self {
        Rare {
            ranges: [Ranges::EMPTY, Ranges::EMPTY],
            stale_ack_at: NEVER,
            rst_hi: [0; 2],
            pending_syn: None,
        }
    }
}

/// One direction's ranges, as a view of `TcpConn::rare`: reads see the
/// empty ranges while nothing is allocated, and only a write that changes
/// something allocates.
struct Reassembler<'a> {
    rare: &'a mut Option<Box<Rare>>,
    x: usize,
}

impl Reassembler<'_> {
    fn get(&self) -> &Ranges {
        ranges_in(self.rare, self.x)
    }

    fn ranges(&mut self) -> &mut Ranges {
        &mut self.rare.get_or_insert_with(Default::default).ranges[self.x]
    }

    fn set_last_reassem(&mut self, seq: u64) {
        if seq != self.get().last_reassem {
            self.ranges().last_reassem = seq;
        }
    }

    fn clear_blocks(&mut self) {
        if let Some(r) = self.rare {
            r.ranges[self.x].blocks = Vec::new();
        }
    }

    /// Adds `[seq, upper)` minus what is already held, then delivers any
    /// run that now starts at `last_reassem`.
    fn insert(&mut self, seq: u64, upper: u64) {
        if upper <= self.get().trim_seq || seq >= upper {
            return;
        }
        let r = self.ranges();
        let seq = seq.max(r.trim_seq);
        // Merge into the sorted list; content is not kept, so overlapping
        // ranges simply coalesce.
        let pos = r.blocks.partition_point(|&(_, u)| u < seq);
        let mut lo = seq;
        let mut hi = upper;
        let mut end = pos;
        while end < r.blocks.len() && r.blocks[end].0 <= hi {
            lo = lo.min(r.blocks[end].0);
            hi = hi.max(r.blocks[end].1);
            end += 1;
        }
        r.blocks.splice(pos..end, std::iter::once((lo, hi)));
        for &(s, u) in &r.blocks {
            if s > r.last_reassem {
                break;
            }
            if u > r.last_reassem {
                r.last_reassem = u;
            }
        }
    }

    /// Forgets acknowledged ranges below `seq`.
    fn trim_blocks(&mut self, seq: u64) {
        if seq <= self.get().trim_seq && !self.get().has_blocks() {
            return;
        }
        let r = self.ranges();
        let keep = r.blocks.partition_point(|&(_, u)| u <= seq);
        r.blocks.drain(..keep);
        if let Some(first) = r.blocks.first_mut() {
            if first.0 < seq {
                first.0 = seq;
            }
        }
        if seq > r.trim_seq {
            r.trim_seq = seq;
        }
    }
}

/// `Endpoint::flags`: a FIN was seen (Zeek counts them, and asks only
/// whether any was).
const FIN_SEEN: u8 = 1;
const DID_CLOSE: u8 = 2;
/// Gave up on this direction's ranges (too much data without acks).
const REASM_SKIP: u8 = 4;
const DID_EOF: u8 = 8;
/// The endpoint sent a segment with the ACK flag: it is past SYN-SENT,
/// whether or not the tracker saw what it acknowledged.
const SENT_ACK: u8 = 16;

/// One side of a TCP connection: 16 bytes (the flags in one byte, the last
/// RST mark in `TcpConn`, the wrap counts and the last SYN mark in
/// `Ranges`), so that the whole machine takes 56 bytes of the TCP slab.
#[derive(Clone, Debug, Default)]
pub(crate) struct Endpoint {
    pub state: TcpState,
    pub prev_state: TcpState,
    /// `FIN_SEEN`, `DID_CLOSE`, `REASM_SKIP`, `DID_EOF`, `SENT_ACK`.
    flags: u8,
    /// The ISN as Zeek keeps it (a 64-bit field, only ever set from a
    /// 32-bit sequence number).
    start_seq: u32,
    last_seq: u32,
    ack_seq: u32,
}

impl Endpoint {
    fn flag(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    fn set_flag(&mut self, f: u8, on: bool) {
        if on {
            self.flags |= f;
        } else {
            self.flags &= !f;
        }
    }

    fn init_start(&mut self, seq: u32) {
        self.start_seq = seq;
    }

    fn start(&self) -> i64 {
        i64::from(self.start_seq)
    }

    /// Moves `last_seq` forward; true when it wrapped past 2^32.
    fn update_last_seq(&mut self, seq: u32) -> bool {
        let wrapped = seq < self.last_seq;
        self.last_seq = seq;
        wrapped
    }

    /// Moves `ack_seq` forward; true when it wrapped past 2^32.
    fn update_ack_seq(&mut self, seq: u32) -> bool {
        let wrapped = seq < self.ack_seq;
        self.ack_seq = seq;
        wrapped
    }

    fn to_relative(&self, seq: u32, wraps: u32) -> u64 {
        (full_seq(seq, wraps) as i64).wrapping_sub(self.start()) as u64
    }

    /// Relative sequence of `cur` (§4.2), with the underflow flag.
    fn relative_seq(&self, cur: u32, last: u32, mut wraps: u32) -> (u64, bool) {
        let delta = seq_delta(cur, last);
        if delta < 0 {
            if wraps > 0 && cur > last {
                wraps -= 1;
            }
        } else if delta > 0 && cur < last {
            wraps += 1;
        }
        if wraps == 0 {
            let d = seq_delta(cur, self.start_seq);
            return (d as i64 as u64, d < 0);
        }
        (self.to_relative(cur, wraps), false)
    }

    fn no_data_acked(&self, r: &Ranges) -> bool {
        let ack = full_seq(self.ack_seq, r.ack_wraps) as i64;
        ack == self.start() || ack == self.start() + 1
    }

    /// Payload bytes of this direction from sequence numbers (§4.6); `r`
    /// is the direction's `Ranges` (its wrap counts).
    fn raw_size(&self, r: &Ranges) -> u64 {
        let last = full_seq(self.last_seq, r.seq_wraps);
        let ack = full_seq(self.ack_seq, r.ack_wraps);
        let mut size = (last.max(ack) as i64).wrapping_sub(self.start()) as u64;
        if size != 0 {
            size = size.wrapping_sub(1);
        }
        if self.flag(FIN_SEEN) && size != 0 {
            size = size.wrapping_sub(1);
        }
        size
    }

    fn set_state(&mut self, new: TcpState, peer_state: TcpState, switch_timeout: &mut bool) {
        if new != self.state {
            if !new.is_handshake() && self.state.is_handshake() && peer_state.is_handshake() {
                *switch_timeout = true;
            }
            self.prev_state = self.state;
            self.state = new;
        }
    }

    fn is_clean(&self) -> bool {
        self.state == TcpState::Established
            || (self.state == TcpState::Closed && self.prev_state == TcpState::Established)
    }

    fn is_active(&self) -> bool {
        self.state != TcpState::Inactive && !self.flag(DID_CLOSE)
    }
}

/// What the TCP machine asks of its connection while handling a packet.
pub(crate) struct TcpCtx<'a> {
    pub now: Timestamp,
    pub history: &'a mut History,
    /// The seen bits of `history`'s letters.
    pub seen: &'a mut Seen,
    pub last_time: &'a mut Timestamp,
    pub timers: &'a mut TimerQueue,
    pub slot: u32,
    pub gen: u32,
    pub weirds: &'a mut Weirds,
    /// Number of role flips done while handling the packet.
    pub flips: u32,
    /// The handshake finished: switch to `tcp_inactivity_timeout`.
    pub switch_timeout: bool,
    /// Strict model rules apply (RSTs checked against the window).
    pub strict: bool,
    /// A RST was outside the window and did not change any state.
    pub rst_ignored: bool,
    /// The handshake completed after a stale ACK: the delay it cost (µs).
    pub stale_delay: Option<i64>,
    /// The connection was established (port-based inactivity timeouts).
    pub established: bool,
}

impl TcpCtx<'_> {
    fn schedule(&mut self, due: Timestamp, kind: TimerKind, epoch: u8) {
        self.timers.schedule(due, self.slot, self.gen, kind, epoch);
    }
}

/// Outcome of the reuse test (§4.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reuse {
    No,
    /// Remove the connection and start a new one with this packet (with a
    /// weird to raise).
    Yes(Option<&'static str>),
    /// Strict model: a SYN that belongs to neither incarnation yet; counted
    /// in the connection, kept aside, not run through the machine.
    Stray,
    /// Strict model: the responder answered the kept-aside SYN.
    Answered,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct TcpConn {
    /// Indexed by role: 0 = originator, 1 = responder.
    pub ep: [Endpoint; 2],
    is_partial: bool,
    first_packet_seen: u8,
    close_deferred: bool,
    deferred_gen_event: bool,
    /// Cleared once the connection was finished, reset or gave up.
    is_active: bool,
    /// A RST came after the FIN exchange: no TIME_WAIT remains.
    reset_after_close: bool,
    /// Analyzer-timer epoch: the analyzer timers scheduled with an older
    /// one are cancelled (see `cancel_timers`).
    pub epoch: u8,
    /// By role: relative sequence of the last RST (a repeated `R` is
    /// recorded only at a new one; the last SYN's and FIN's are in
    /// `Ranges`), its low 32 bits; the high ones in `Rare::rst_hi`.
    hist_last_rst: [u32; 2],
    /// Ranges, rare counters, stale-ACK time and stray SYN, allocated on
    /// first use.
    rare: Option<Box<Rare>>,
}

const ORIG_SEEN: u8 = 1;
const RESP_SEEN: u8 = 2;

impl TcpConn {
    pub fn new() -> Self {
        TcpConn {
            is_active: true,
            ..Default::default()
        }
    }

    /// Cancels the pending analyzer timers. Called only when a close
    /// completes, right after an endpoint's `DID_CLOSE` flag is first set
    /// (`connection_closed`), so at most twice per connection: the epoch
    /// stays far below the `timer::EPOCHS` an entry can carry.
    fn cancel_timers(&mut self) {
        debug_assert!(self.epoch + 1 < crate::timer::EPOCHS);
        self.epoch += 1;
    }

    /// Endpoint `x`'s ranges (the empty ones while none were allocated).
    fn ranges(&self, x: usize) -> &Ranges {
        ranges_in(&self.rare, x)
    }

    /// Endpoint `x`'s ranges, to change.
    fn reasm(&mut self, x: usize) -> Reassembler<'_> {
        Reassembler {
            rare: &mut self.rare,
            x,
        }
    }

    /// Strict model: keeps aside an unanswered SYN seen inside the
    /// established connection, sent by role `dir`.
    pub fn set_pending_syn(&mut self, m: quartet_decode::PacketMeta, dir: usize) {
        self.rare.get_or_insert_with(Default::default).pending_syn = Some(Box::new((m, dir)));
    }

    pub fn take_pending_syn(&mut self) -> Option<Box<(quartet_decode::PacketMeta, usize)>> {
        self.rare.as_mut().and_then(|r| r.pending_syn.take())
    }

    pub fn is_closed(&self) -> bool {
        self.ep[0].flag(DID_CLOSE) || self.ep[1].flag(DID_CLOSE)
    }

    fn both_closed(&self) -> bool {
        self.ep[0].flag(DID_CLOSE) && self.ep[1].flag(DID_CLOSE)
    }

    fn last_rst(&self, x: usize) -> u64 {
        let hi = self.rare.as_ref().map_or(0, |r| r.rst_hi[x]);
        (hi as u64) << 32 | self.hist_last_rst[x] as u64
    }

    fn set_last_rst(&mut self, x: usize, rel_seq: u64) {
        self.hist_last_rst[x] = rel_seq as u32;
        let hi = (rel_seq >> 32) as u32;
        if hi != self.rare.as_ref().map_or(0, |r| r.rst_hi[x]) {
            self.rare.get_or_insert_with(Default::default).rst_hi[x] = hi;
        }
    }

    /// Swaps roles (§3.4).
    fn flip(&mut self, ctx: &mut TcpCtx) {
        self.ep.swap(0, 1);
        self.hist_last_rst.swap(0, 1);
        if let Some(r) = &mut self.rare {
            r.ranges.swap(0, 1);
            r.rst_hi.swap(0, 1);
        }
        self.first_packet_seen = (if self.first_packet_seen & ORIG_SEEN != 0 {
            RESP_SEEN
        } else {
            0
        }) | (if self.first_packet_seen & RESP_SEEN != 0 {
            ORIG_SEEN
        } else {
            0
        });
        self.is_partial = false;
        ctx.flips += 1;
    }

    /// The reuse test for a SYN arriving on an existing connection (§4.10).
    pub fn is_reuse(&self, t: &TcpMeta, now: Timestamp, last_time: Timestamp) -> Reuse {
        if t.header_status == quartet_decode::TcpHeaderStatus::BadHeaderLen || !t.has(F::SYN) {
            return Reuse::No;
        }
        let (orig, resp) = (&self.ep[0], &self.ep[1]);
        let mut conn_orig = orig;
        if t.has(F::ACK) {
            if orig.state != TcpState::Inactive {
                return Reuse::No;
            }
            conn_orig = resp;
        }
        let no_reset = orig.state != TcpState::Reset && resp.state != TcpState::Reset;
        if !self.is_closed() {
            if t.seq == conn_orig.start_seq {
                return Reuse::No;
            }
            if !t.has(F::ACK)
                && conn_orig.state == TcpState::SynAckSent
                && resp.state == TcpState::Inactive
                && t.seq == resp.start_seq
            {
                return Reuse::No;
            }
            if conn_orig.state == TcpState::SynSent {
                return Reuse::Yes(Some("SYN_seq_jump"));
            }
            return Reuse::Yes(Some("active_connection_reuse"));
        }
        if (orig.is_active() || resp.is_active()) && no_reset {
            Reuse::Yes(Some("active_connection_reuse"))
        } else if now.micros() - last_time.micros() < FIVE_SECONDS && no_reset {
            Reuse::Yes(Some("premature_connection_reuse"))
        } else {
            Reuse::Yes(None)
        }
    }

    /// The strict model's reuse test. SYN-ACKs follow Zeek's rule; a SYN
    /// starts a new connection only when the old one is over by RFC 1122
    /// (a RST ended it, or the ISN lies beyond the old incarnation), or when
    /// the old one never got past its handshake. A segment that fails its
    /// checksum or header checks decides nothing: it is not split on,
    /// remembered as a stray SYN or taken as the answer to one (the
    /// connection drops it with its weird, as any other corrupt segment).
    pub fn strict_reuse(&self, t: &TcpMeta, is_orig: bool) -> Reuse {
        if t.header_status != quartet_decode::TcpHeaderStatus::Ok
            || t.checksum == quartet_decode::Checksum::Bad
            || !t.has(F::SYN)
        {
            return Reuse::No;
        }
        if t.has(F::ACK) {
            if let Some(p) = self.rare.as_ref().and_then(|r| r.pending_syn.as_ref()) {
                let Transport::Tcp(ps) = &p.0.transport else {
                    return Reuse::No;
                };
                let from_peer = (p.1 == 0) != is_orig;
                if from_peer && t.ack == ps.seq.wrapping_add(1) {
                    return Reuse::Answered;
                }
            }
            return self.is_reuse(t, Timestamp::ZERO, Timestamp::ZERO);
        }
        let sender = if is_orig { 0 } else { 1 };
        let (orig, resp) = (&self.ep[0], &self.ep[1]);
        if self.is_closed() {
            let reset = orig.state == TcpState::Reset || resp.state == TcpState::Reset;
            let beyond = seq_delta(t.seq, self.ep[sender].last_seq) > 0;
            return if reset || beyond {
                Reuse::Yes(None)
            } else {
                Reuse::Stray
            };
        }
        if t.seq == orig.start_seq {
            return Reuse::No;
        }
        let answered = resp.state != TcpState::Inactive
            && !matches!(orig.state, TcpState::SynSent | TcpState::SynAckSent);
        if answered {
            return Reuse::Stray;
        }
        self.is_reuse(t, Timestamp::ZERO, Timestamp::ZERO)
    }

    /// What a TIME_WAIT tombstone keeps of a connection closed by a FIN
    /// exchange: the final sequence number of each role. `None` when the
    /// connection did not close that way.
    pub fn time_wait_seqs(&self) -> Option<[u32; 2]> {
        let fin_closed = !self.reset_after_close
            && self
                .ep
                .iter()
                .all(|e| e.flag(DID_CLOSE) && e.state == TcpState::Closed);
        fin_closed.then(|| [self.ep[0].last_seq, self.ep[1].last_seq])
    }

    /// Strict model: would the peer of endpoint `e` accept a RST from it?
    /// In SYN-SENT, RFC 793 3.9: only a RST acknowledging the SYN. After
    /// that, RFC 5961 3.2, as every current stack does: only a RST at
    /// exactly RCV.NXT resets; one elsewhere in the window draws a
    /// challenge ACK and leaves the connection as it was. A passive tracker
    /// knows RCV.NXT only as far as between what the peer acknowledged and
    /// everything the endpoint sent, and accepts that range.
    fn rst_acceptable(&self, e: usize, t: &TcpMeta) -> bool {
        let seq = t.seq;
        let ep = &self.ep[e];
        let peer = &self.ep[1 - e];
        if peer.state == TcpState::Reset {
            // The peer's own RST already ended the connection at both ends:
            // this one answers a segment that met no connection (a late
            // ACK behind the RST) and resets nothing (the first RST says
            // who aborted).
            return false;
        }
        if ep.state == TcpState::Inactive {
            // A RST meeting the peer's lone SYN: a peer that has
            // acknowledged nothing is in SYN-SENT, where a RST counts only
            // if it acknowledges that SYN and no more than was sent with
            // it (SND.UNA < SEG.ACK =< SND.NXT, RFC 793 3.9, as stacks do:
            // a SYN may carry data); any other is dropped. Such a RST
            // answers an older connection's late segment and was sent
            // after this SYN left. (A peer that sent an ACK is past
            // SYN-SENT even when the tracker missed the SYN-ACK.)
            if peer.state == TcpState::SynSent && !peer.flag(SENT_ACK) {
                return t.flags & F::ACK != 0
                    && seq_delta(t.ack, peer.start_seq) > 0
                    && seq_delta(t.ack, peer.last_seq) <= 0;
            }
            return true;
        }
        if peer.state == TcpState::Inactive {
            // Only the sender's own SYN was seen: a RST of its own attempt
            // carries the ISN or ISN + 1. One answering a stale ACK of an
            // older connection carries that ACK's number instead (RFC 793
            // 3.4) and ends nothing of this attempt.
            if matches!(ep.state, TcpState::SynSent | TcpState::SynAckSent) {
                let d = seq_delta(seq, ep.start_seq);
                return (0..=1).contains(&d);
            }
            return true;
        }
        let low = ep.ack_seq;
        let d = seq_delta(seq, low);
        let sent = seq_delta(ep.last_seq, low).max(0);
        (0..=sent).contains(&d)
    }

    /// Records a bad checksum for the sender (`C`/`c`, scaled).
    pub fn checksum_error(&mut self, is_orig: bool, history: &mut History) {
        if self
            .reasm(if is_orig { 0 } else { 1 })
            .ranges()
            .checksum_errors
            .event()
        {
            history.add(b'C', is_orig);
        }
    }

    fn record_letter(&mut self, e: &mut usize, letter: Letter, c: u8, ctx: &mut TcpCtx) -> bool {
        // First productive packet after a lone SYN-ACK flips the connection
        // and rewrites the history to `^h` (§3.4, later flip 1).
        if matches!(letter, Letter::Ack | Letter::Data) && *ctx.history == "H" {
            self.flip(ctx);
            *e = 1 - *e;
            ctx.history.clear();
            ctx.history.push_str("^h");
        }
        ctx.history.check(ctx.seen, letter, c, *e == 0)
    }

    fn update_history(
        &mut self,
        e: &mut usize,
        flags: u8,
        rel_seq: u64,
        len: u32,
        ctx: &mut TcpCtx,
    ) {
        let syn = flags & F::SYN != 0;
        let fin = flags & F::FIN != 0;
        let rst = flags & F::RST != 0;
        let bits = syn as u8 + fin as u8 + rst as u8;
        if bits > 1 {
            if fin && rst {
                self.record_letter(e, Letter::FinRst, b'I', ctx);
            } else {
                self.record_letter(e, Letter::MultiFlag, b'Q', ctx);
            }
        } else if bits == 1 {
            if syn {
                let code = if flags & F::ACK != 0 { b'H' } else { b'S' };
                if self.record_letter(e, Letter::Syn, code, ctx)
                    && rel_seq != self.ranges(*e).hist_last_syn
                {
                    ctx.history.add(code, *e == 0);
                }
                if rel_seq != self.ranges(*e).hist_last_syn {
                    self.reasm(*e).ranges().hist_last_syn = rel_seq;
                }
            }
            if fin {
                let at = rel_seq.wrapping_add(len as u64);
                if self.record_letter(e, Letter::Fin, b'F', ctx)
                    && at != self.ranges(*e).hist_last_fin
                {
                    ctx.history.add(b'F', *e == 0);
                }
                self.reasm(*e).ranges().hist_last_fin = at;
            }
            if rst {
                if self.record_letter(e, Letter::Rst, b'R', ctx) && rel_seq != self.last_rst(*e) {
                    ctx.history.add(b'R', *e == 0);
                }
                self.set_last_rst(*e, rel_seq);
            }
        } else if len > 0 {
            self.record_letter(e, Letter::Data, b'D', ctx);
        } else if flags & F::ACK != 0 {
            self.record_letter(e, Letter::Ack, b'A', ctx);
        }
    }

    /// Handles one TCP packet whose header and checksum are valid (§4.1
    /// steps 4–14). `is_orig` is the sender's role before the packet.
    ///
    /// Always inlined into its one caller (`Tracker::tcp_segment`): left to
    /// itself LLVM stops inlining it as the machine grows, and the call
    /// costs about 40 instructions a TCP packet (callgrind, mix).
    #[inline(always)]
    pub fn process(&mut self, is_orig: bool, t: &TcpMeta, ctx: &mut TcpCtx) {
        let flags = t.flags;
        let has = |f: u8| flags & f != 0;
        let len = t.payload_len;
        let mut e = if is_orig { 0usize } else { 1 };

        // SetPartialStatus.
        if e == 0 {
            if self.first_packet_seen & ORIG_SEEN == 0 {
                self.is_partial = !has(F::SYN) || has(F::ACK);
            }
        } else if self.first_packet_seen & RESP_SEEN == 0 && !self.is_partial {
            self.is_partial = !has(F::SYN);
        }

        let seg_len = len as i64 + has(F::SYN) as i64 + has(F::FIN) as i64
            - if has(F::RST) { len as i64 } else { 0 };
        let base_seq = t.seq;
        let ack_seq = t.ack;
        let seq_end = base_seq.wrapping_add(seg_len as u32);

        self.init_endpoint(e, flags, base_seq, seq_end, ctx);

        let ep = &self.ep[e];
        let wraps = self.ranges(e).seq_wraps;
        let (rel_seq, underflow) = ep.relative_seq(base_seq, ep.last_seq, wraps);
        if underflow && !has(F::RST) {
            ctx.weirds.add("TCP_seq_underflow_or_misorder");
        }

        self.update_history(&mut e, flags, rel_seq, len, ctx);
        let p = 1 - e;

        // Strict model: a RST the receiver would not honour
        // (`rst_acceptable`) stays in the history but changes no state.
        let mut t_sm = *t;
        if ctx.strict && has(F::RST) && !self.rst_acceptable(e, t) {
            ctx.weirds.add("RST_outside_window");
            ctx.rst_ignored = true;
            t_sm.flags &= !F::RST;
        }
        // A SYN without ACK puts its sender (back) into SYN-SENT.
        if has(F::ACK) {
            self.ep[e].set_flag(SENT_ACK, true);
        } else if has(F::SYN) {
            self.ep[e].set_flag(SENT_ACK, false);
        }
        // A RST after both FINs means no host keeps TIME_WAIT any more.
        if has(F::RST) && !ctx.rst_ignored && self.ep.iter().all(|x| x.state == TcpState::Closed) {
            self.reset_after_close = true;
        }

        // Zero window (§4.5 `W`).
        if t.window == 0
            && !has(F::RST)
            && self.ep[p].state != TcpState::Closed
            && self.ep[e].state != TcpState::Reset
            && self.reasm(e).ranges().zero_windows.event()
        {
            ctx.history.add(b'W', e == 0);
        }

        if !self.both_closed() {
            *ctx.last_time = ctx.now;
        }

        if has(F::FIN) {
            self.ep[e].set_flag(FIN_SEEN, true);
            self.reasm(e).ranges().fin_seq = rel_seq.wrapping_add(seg_len as u64);
        }
        let mut stale_ack = false;
        // A SYN answered by a bare ACK that does not acknowledge it: the
        // peer still holds an older connection on this 4-tuple (stale peer
        // state, typically TIME_WAIT). Both models note it.
        if e == 1
            && has(F::ACK)
            && !has(F::SYN)
            && !has(F::RST)
            && !has(F::FIN)
            && self.ep[0].state == TcpState::SynSent
            && self.ep[1].state == TcpState::Inactive
            && t.ack != (self.ep[0].start_seq).wrapping_add(1)
        {
            ctx.weirds.add("SYN_answered_by_stale_ACK");
            let rare = self.rare.get_or_insert_with(Default::default);
            if rare.stale_ack_at == NEVER {
                rare.stale_ack_at = ctx.now;
            }
            stale_ack = ctx.strict;
        }

        let mut rel_ack = 0u64;
        // The strict model does not let a stale ACK (it acknowledges another
        // connection's data) nor the ACK of an ignored RST (the receiver
        // drops the whole segment) move this attempt's sequence bookkeeping.
        if has(F::ACK) && !stale_ack && !ctx.rst_ignored {
            if self.ep[p].state == TcpState::Inactive {
                rel_ack = 1;
                if !has(F::SYN)
                    && !has(F::FIN)
                    && !has(F::RST)
                    && matches!(
                        self.ep[e].state,
                        TcpState::SynSent | TcpState::SynAckSent | TcpState::Established
                    )
                {
                    ctx.weirds.add("possible_split_routing");
                }
                let peer = &mut self.ep[p];
                let a = ack_seq.wrapping_sub(1);
                peer.init_start(a);
                peer.ack_seq = a;
                peer.last_seq = a;
            } else {
                let peer = &self.ep[p];
                let wraps = self.ranges(p).ack_wraps;
                let (ra, under) = peer.relative_seq(ack_seq, peer.ack_seq, wraps);
                if under {
                    ctx.weirds.add("TCP_ack_underflow_or_misorder");
                } else {
                    rel_ack = ra;
                    if !has(F::RST) {
                        let peer = &mut self.ep[p];
                        let d = seq_delta(ack_seq, peer.ack_seq);
                        if !(ack_seq == 0 && d > TOO_LARGE_SEQ_DELTA)
                            && d > 0
                            && peer.update_ack_seq(ack_seq)
                        {
                            self.reasm(p).ranges().ack_wraps += 1;
                        }
                    }
                }
            }
        }

        // An ignored RST (outside the window) moves nothing.
        let delta_last = if ctx.rst_ignored {
            0
        } else {
            self.update_last_seq(e, seq_end, flags, len, ctx)
        };

        let (do_close, gen_event) = self.update_state_machine(&mut e, &t_sm, delta_last, ctx);
        let p = 1 - e;

        if has(F::ACK) {
            self.ack_received(p, rel_ack, ctx);
        }

        let rel_data_seq = if has(F::SYN) {
            rel_seq.wrapping_add(1)
        } else {
            rel_seq
        };
        if len > 0 && !has(F::RST) && !underflow {
            if t.payload_caplen >= len {
                self.data_sent(e, rel_data_seq, len as u64, ctx);
            } else {
                ctx.weirds.add("truncated_tcp_payload");
            }
        }

        self.check_eof(e, ctx);

        if do_close {
            self.connection_closed(e, gen_event, ctx);
        }

        self.first_packet_seen |= if e == 0 { ORIG_SEEN } else { RESP_SEEN };
    }

    fn init_endpoint(&mut self, e: usize, flags: u8, seq: u32, seq_end: u32, ctx: &mut TcpCtx) {
        let syn = flags & F::SYN != 0;
        let ranges = ranges_in(&self.rare, e);
        let ep = &mut self.ep[e];
        let reinit = |ep: &mut Endpoint| {
            ep.init_start(seq);
            ep.ack_seq = seq;
            ep.last_seq = seq_end;
        };
        match ep.state {
            TcpState::Inactive => {
                if syn {
                    ep.ack_seq = seq;
                    ep.init_start(seq);
                    ep.last_seq = seq_end;
                } else {
                    let s = seq.wrapping_sub(1);
                    ep.ack_seq = s;
                    ep.init_start(s);
                    ep.last_seq = seq;
                }
            }
            TcpState::SynSent | TcpState::SynAckSent => {
                if syn && seq != ep.start_seq {
                    ctx.weirds.add("SYN_seq_jump");
                    reinit(ep);
                }
            }
            TcpState::Established | TcpState::Partial => {
                if syn {
                    if ep.raw_size(ranges) > 0 {
                        ctx.weirds.add("SYN_inside_connection");
                    }
                    if seq != ep.start_seq {
                        ctx.weirds.add("SYN_seq_jump");
                    }
                    reinit(ep);
                }
            }
            TcpState::Reset => {
                if syn && ep.prev_state == TcpState::Inactive {
                    reinit(ep);
                }
            }
            TcpState::Closed => {}
        }
    }

    fn update_last_seq(
        &mut self,
        e: usize,
        seq_end: u32,
        flags: u8,
        len: u32,
        ctx: &mut TcpCtx,
    ) -> i32 {
        let ep = &mut self.ep[e];
        let delta = seq_delta(seq_end, ep.last_seq);
        let syn_or_rst = flags & (F::SYN | F::RST) != 0;
        let mut wrapped = false;
        if syn_or_rst && !(-TOO_LARGE_SEQ_DELTA..=TOO_LARGE_SEQ_DELTA).contains(&delta) {
            // An untrusted jump.
        } else if flags & F::FIN != 0 && ep.last_seq as i64 == ep.start() + 1 {
            wrapped = ep.update_last_seq(seq_end);
        } else if ep.state == TcpState::Reset {
            // Sequence numbers after a RST are not trusted.
        } else if delta > 0 {
            wrapped = ep.update_last_seq(seq_end);
        } else if len > 0 && self.reasm(e).ranges().rxmits.event() {
            ctx.history.add(b'T', e == 0);
        }
        if wrapped {
            self.reasm(e).ranges().seq_wraps += 1;
        }
        delta
    }

    /// The endpoint state machine (§4.3). Returns (do_close, gen_event).
    fn update_state_machine(
        &mut self,
        e: &mut usize,
        t: &TcpMeta,
        delta_last: i32,
        ctx: &mut TcpCtx,
    ) -> (bool, bool) {
        use TcpState::*;
        let flags = t.flags;
        let has = |f: u8| flags & f != 0;
        let len = t.payload_len;
        let mut do_close = false;
        let mut gen_event = false;
        let is_orig = *e == 0;
        let p = 1 - *e;
        let mut sw = false;
        macro_rules! set {
            ($idx:expr, $st:expr) => {{
                let peer_state = self.ep[1 - $idx].state;
                self.ep[$idx].set_state($st, peer_state, &mut sw);
            }};
        }

        match self.ep[*e].state {
            Inactive => {
                if has(F::SYN) {
                    if is_orig {
                        if has(F::ACK) {
                            ctx.weirds.add("connection_originator_SYN_ack");
                            set!(*e, SynAckSent);
                        } else {
                            set!(*e, SynSent);
                        }
                        ctx.schedule(
                            ctx.now.add_micros(FIVE_SECONDS),
                            TimerKind::Attempt,
                            self.epoch,
                        );
                    } else {
                        let mut p = p;
                        if has(F::ACK) {
                            let peer = &self.ep[p];
                            if !matches!(peer.state, Inactive | Partial) {
                                let lo = peer.start_seq;
                                let inside = seq_delta(t.ack, lo) >= 0
                                    && seq_delta(peer.last_seq, t.ack) >= 0;
                                if !inside {
                                    ctx.weirds.add("bad_SYN_ack");
                                }
                            }
                        } else if self.ep[p].state == SynAckSent && t.seq == self.ep[*e].start_seq {
                            // SYN/SYN-ACK reversal: flip and establish.
                            self.is_partial = false;
                            self.flip(ctx);
                            *e = 1 - *e;
                            p = 1 - *e;
                            set!(p, Established);
                            self.first_packet_seen |= ORIG_SEEN;
                        } else {
                            ctx.weirds.add("simultaneous_open");
                        }
                        if self.ep[p].state == SynSent {
                            set!(p, Established);
                        } else if self.ep[p].state == Inactive {
                            ctx.weirds.add("unsolicited_SYN_response");
                        }
                        set!(*e, Established);
                        if self.ep[p].state != Partial {
                            ctx.established = true;
                        }
                        let stale = self
                            .rare
                            .as_mut()
                            .map(|r| std::mem::replace(&mut r.stale_ack_at, NEVER));
                        if let Some(at) = stale.filter(|&at| at != NEVER) {
                            ctx.stale_delay = Some(ctx.now.micros() - at.micros());
                        }
                    }
                }
                let p = 1 - *e;
                if has(F::FIN) {
                    set!(*e, Closed);
                    do_close = true;
                    gen_event = true;
                    if self.ep[p].state != Partial && !has(F::SYN) {
                        ctx.weirds.add("spontaneous_FIN");
                    }
                }
                if has(F::RST) {
                    set!(*e, Reset);
                    let is_reject = if *e == 0 {
                        self.ep[p].state == Established
                    } else {
                        matches!(self.ep[p].state, SynSent | SynAckSent)
                    };
                    do_close = true;
                    gen_event = !is_reject;
                    if !is_reject && self.ep[p].state == Inactive {
                        ctx.weirds.add("spontaneous_RST");
                    }
                }
                if self.ep[*e].state == Inactive {
                    if *e == 1 && len == 0 && self.ep[0].state == SynSent {
                        // An ACK of the SYN before the SYN-ACK: stay inactive.
                    } else if has(F::ACK) && self.ep[p].state == Established {
                        set!(*e, Established);
                        self.is_partial = false;
                        self.first_packet_seen |= if *e == 0 { ORIG_SEEN } else { RESP_SEEN };
                        ctx.established = true;
                    } else {
                        set!(*e, Partial);
                    }
                }
            }
            SynSent | SynAckSent => {
                if has(F::SYN) {
                    if is_orig {
                        if has(F::ACK)
                            && !has(F::FIN)
                            && !has(F::RST)
                            && self.ep[*e].state != SynAckSent
                        {
                            ctx.weirds.add("repeated_SYN_with_ack");
                        }
                    } else if !has(F::ACK) && self.ep[*e].state != SynSent {
                        ctx.weirds.add("repeated_SYN_reply_wo_ack");
                    }
                }
                if has(F::FIN) {
                    if matches!(self.ep[p].state, Inactive | SynSent) {
                        ctx.weirds.add("inappropriate_FIN");
                    }
                    set!(*e, Closed);
                    do_close = true;
                    gen_event = true;
                }
                if has(F::RST) {
                    set!(*e, Reset);
                    self.is_active = false;
                    do_close = true;
                } else if len > 0 {
                    ctx.weirds.add("data_before_established");
                }
            }
            Established | Partial => {
                if has(F::SYN)
                    && self.ep[*e].state == Partial
                    && self.ep[p].state == Inactive
                    && !has(F::ACK)
                {
                    ctx.weirds.add("SYN_after_partial");
                    set!(*e, SynSent);
                }
                if has(F::FIN) && !has(F::RST) {
                    set!(*e, Closed);
                    if self.ep[p].state == Reset && self.ep[p].prev_state == Closed {
                        set!(p, Closed);
                    }
                    do_close = true;
                    gen_event = true;
                }
                if has(F::RST) {
                    set!(*e, Reset);
                    do_close = true;
                    if self.ep[p].state != Reset || self.ep[p].prev_state != Established {
                        self.is_active = false;
                    }
                }
            }
            Closed => {
                if has(F::SYN) {
                    ctx.weirds.add("SYN_after_close");
                }
                if has(F::FIN) && delta_last > 0 {
                    ctx.weirds.add("FIN_advanced_last_seq");
                }
                if has(F::RST) && self.ep[p].state != Closed {
                    set!(*e, Reset);
                    if !self.ep[*e].flag(DID_CLOSE) {
                        do_close = true;
                    }
                }
            }
            Reset => {
                if has(F::SYN) {
                    ctx.weirds.add("SYN_after_reset");
                }
                if has(F::FIN) {
                    ctx.weirds.add("FIN_after_reset");
                }
                if len > 0 && !has(F::RST) {
                    ctx.weirds.add("data_after_reset");
                }
            }
        }
        if sw {
            ctx.switch_timeout = true;
        }
        (do_close, gen_event)
    }

    /// The peer acknowledged endpoint `x` up to relative sequence `seq`.
    fn ack_received(&mut self, x: usize, seq: u64, ctx: &mut TcpCtx) {
        let mut seq = seq;
        if self.ep[x].flag(FIN_SEEN) {
            let fin_seq = self.ranges(x).fin_seq;
            if seq >= fin_seq {
                seq = fin_seq.wrapping_sub(1);
            }
        }
        let r = self.ranges(x);
        if seq <= r.trim_seq {
            return;
        }
        if seq > r.last_reassem {
            self.undelivered(x, seq, ctx);
        }
        self.reasm(x).trim_blocks(seq);
        self.check_eof(x, ctx);
    }

    /// Declares `[last_reassem, up_to)` of endpoint `x` delivered, reporting
    /// holes as content gaps (§4.7).
    fn undelivered(&mut self, x: usize, up_to: u64, ctx: &mut TcpCtx) {
        if up_to <= 2 && self.is_partial {
            return;
        }
        let clean = self.ep[x].is_clean() && self.ep[1 - x].is_clean();
        let skip = self.ep[x].flag(REASM_SKIP);
        let mut reasm = self.reasm(x);
        if !skip {
            let r = reasm.get();
            let mut cur = r.last_reassem;
            let mut missing = 0u64;
            for &(s, u) in &r.blocks {
                if u <= cur {
                    continue;
                }
                if s >= up_to {
                    break;
                }
                if s > cur {
                    missing += s - cur;
                }
                cur = cur.max(u);
            }
            if up_to > cur {
                missing += up_to - cur;
            }
            if missing > 0 && clean {
                let r = reasm.ranges();
                // Relative sequences wrap below zero as Zeek's uint64 ones
                // do (a FIN at relative 0 acknowledged); the count then wraps
                // as Zeek's `count` does instead of aborting the record.
                r.missed = r.missed.wrapping_add(missing);
                // One gap event per hole; letters follow the scaled rule.
                let holes = Self::count_holes(&r.blocks, r.last_reassem, up_to);
                for _ in 0..holes {
                    if r.gaps.event() {
                        ctx.history.add(b'G', x == 0);
                    }
                }
            }
            reasm.set_last_reassem(cur);
        }
        if up_to > reasm.get().last_reassem {
            reasm.set_last_reassem(up_to);
        }
    }

    fn count_holes(blocks: &[(u64, u64)], start: u64, up_to: u64) -> u32 {
        let mut cur = start;
        let mut holes = 0;
        for &(s, u) in blocks {
            if u <= cur {
                continue;
            }
            if s >= up_to {
                break;
            }
            if s > cur {
                holes += 1;
            }
            cur = cur.max(u);
        }
        if up_to > cur {
            holes += 1;
        }
        holes
    }

    fn data_sent(&mut self, e: usize, seq: u64, len: u64, ctx: &mut TcpCtx) {
        let ep = &mut self.ep[e];
        if ep.flag(REASM_SKIP) {
            return;
        }
        let mut reasm = Reassembler {
            rare: &mut self.rare,
            x: e,
        };
        let ack = ep.to_relative(ep.ack_seq, reasm.get().ack_wraps);
        let mut seq = seq;
        let upper = seq + len;
        if seq < ack {
            if upper <= ack {
                return;
            }
            seq = ack;
        }
        reasm.insert(seq, upper);
        // Delivered data is kept until acked, unless nothing was ever acked
        // and the endpoint has sent more than an initial window.
        if ep.no_data_acked(reasm.get()) && ep.raw_size(reasm.get()) > MAX_INITIAL_WINDOW {
            let lr = reasm.get().last_reassem;
            reasm.trim_blocks(lr);
        }
        if ep.no_data_acked(reasm.get())
            && reasm.get().undelivered_bytes() > MAX_ABOVE_HOLE_WITHOUT_ACKS
        {
            ctx.weirds.add("above_hole_data_without_any_acks");
            reasm.clear_blocks();
            ep.set_flag(REASM_SKIP, true);
        }
        if reasm.get().data_size() > EXCESSIVE_DATA_WITHOUT_ACKS {
            ctx.weirds.add("excessive_data_without_further_acks");
            reasm.clear_blocks();
            ep.set_flag(REASM_SKIP, true);
        }
    }

    fn data_pending(&self, x: usize) -> bool {
        let ep = &self.ep[x];
        if ep.flag(REASM_SKIP) {
            return false;
        }
        let r = self.ranges(x);
        let delivered = ep.start().wrapping_add(r.last_reassem as i64) as u64;
        let last = full_seq(ep.last_seq, r.seq_wraps);
        if last < delivered {
            return false;
        }
        if delivered != last.wrapping_sub(1) && delivered != last {
            return true;
        }
        ep.state != TcpState::Reset && self.ranges(1 - x).has_blocks()
    }

    fn check_eof(&mut self, x: usize, ctx: &mut TcpCtx) {
        let ep = &self.ep[x];
        if !ep.flag(DID_EOF)
            && (ep.flag(FIN_SEEN) || matches!(ep.state, TcpState::Closed | TcpState::Reset))
            && !self.data_pending(x)
        {
            self.ep[x].set_flag(DID_EOF, true);
            if self.close_deferred {
                if self.data_pending(x) && self.both_closed() {
                    ctx.weirds.add("pending_data_when_closed");
                }
                let g = self.deferred_gen_event;
                self.close_deferred = false;
                self.connection_closed(x, g, ctx);
                self.close_deferred = false;
            }
        }
    }

    fn connection_closed(&mut self, x: usize, mut gen_event: bool, ctx: &mut TcpCtx) {
        if self.data_pending(x) {
            self.close_deferred = true;
            if !self.deferred_gen_event {
                self.deferred_gen_event = gen_event;
            }
            return;
        }
        self.close_deferred = false;
        if self.ep[x].flag(DID_CLOSE) {
            return;
        }
        self.ep[x].set_flag(DID_CLOSE, true);
        let p = 1 - x;
        let complete = self.ep[x].state == TcpState::Reset
            || self.ep[p].flag(DID_CLOSE)
            || self.ep[p].state == TcpState::Inactive;
        if complete {
            if self.ep[x].prev_state != TcpState::Inactive || self.ep[p].state != TcpState::Inactive
            {
                if self.deferred_gen_event {
                    gen_event = true;
                    self.deferred_gen_event = false;
                }
                if gen_event {
                    self.is_active = false;
                }
            }
            self.cancel_timers();
            ctx.timers.note_dead();
            let due = ctx.last_time.add_micros(FIVE_SECONDS);
            ctx.schedule(due, TimerKind::Delete, self.epoch);
        } else if self.ep[x].prev_state != TcpState::Inactive {
            let due = ctx.last_time.add_micros(SESSION_TIMER);
            ctx.schedule(due, TimerKind::Expire, self.epoch);
        }
    }

    /// The attempt timer fired: remove an unanswered attempt.
    pub fn attempt_expired(&mut self) -> bool {
        if !self.is_active {
            return false;
        }
        if matches!(self.ep[0].state, TcpState::SynSent | TcpState::SynAckSent)
            && self.ep[1].state == TcpState::Inactive
        {
            self.is_active = false;
            return true;
        }
        false
    }

    /// The expire timer fired at `now`. Returns `None` when the connection
    /// is to be removed, else whether to re-arm.
    pub fn expire_check(&mut self, now: Timestamp, last_time: Timestamp) -> Option<bool> {
        if !self.is_active {
            return Some(false);
        }
        let (o, r) = (&self.ep[0], &self.ep[1]);
        if last_time.micros() + FIVE_SECONDS < now.micros() {
            if (o.flag(DID_CLOSE) || r.flag(DID_CLOSE))
                && ((o.flag(DID_CLOSE) && r.flag(DID_CLOSE))
                    || o.state == TcpState::Reset
                    || r.state == TcpState::Reset
                    || o.state == TcpState::Inactive
                    || r.state == TcpState::Inactive)
            {
                self.is_active = false;
                return None;
            }
            if r.state == TcpState::Inactive && o.state == TcpState::Inactive {
                return None;
            }
        }
        Some(true)
    }

    /// Byte counts of the two roles at removal (§4.6).
    pub fn sizes(&self) -> (u64, u64) {
        (self.size(0), self.size(1))
    }

    fn size(&self, x: usize) -> u64 {
        let (ep, r) = (&self.ep[x], self.ranges(x));
        if ep.prev_state == TcpState::SynSent
            && ep.state == TcpState::Reset
            && self.ep[1 - x].state == TcpState::Inactive
            && !ep.no_data_acked(r)
        {
            return 0;
        }
        ep.raw_size(r)
    }

    pub fn missed_bytes(&self) -> u64 {
        self.ranges(0).missed.wrapping_add(self.ranges(1).missed)
    }

    pub fn states(&self) -> (TcpState, TcpState) {
        (self.ep[0].state, self.ep[1].state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rst_marks_keep_all_64_bits() {
        let mut t = TcpConn::new();
        t.set_last_rst(0, 7);
        assert!(t.rare.is_none(), "a mark below 2^32 allocates nothing");
        assert_eq!(t.last_rst(0), 7);
        let far = (3u64 << 32) | 7;
        t.set_last_rst(1, far);
        assert_eq!((t.last_rst(0), t.last_rst(1)), (7, far));
        assert_ne!(t.last_rst(1), 7, "same low bits, a different mark");
        t.set_last_rst(1, 9);
        assert_eq!(t.last_rst(1), 9);
    }
}
