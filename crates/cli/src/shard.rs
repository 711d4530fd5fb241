//! One shard: a thread that owns a `Tracker` outright and runs the packets
//! of its connections, batch by batch, as the single-threaded tracker would.
//!
//! The single-threaded tracker advances network time at every *tick*: each
//! frame item that reaches it (a packet, a fragment, a dropped frame) calls
//! `advance` or `process` with the running maximum of the frame times. A
//! timer fires at the first tick whose time reaches its due time, with that
//! tick's time as `now`. A shard sees only its own packets, so the reader
//! sends it the time of every tick of the batch; before each of its packets
//! the shard fires its due timers at exactly the ticks where the
//! single-threaded tracker would have fired them (binary search in the
//! times since its last position), so its records carry the same removal
//! times and its output does not depend on how connections are spread.
//!
//! A shard refuses to know how many shards exist; it reports per-packet
//! verdicts, records and weird.log rows to the merger and never writes.

use crate::merge::{MergeMsg, ShardDone, ShardOut, WeirdKey};
use crossbeam_channel::{Receiver, Sender};
use quartet_decode::PacketMeta;
use quartet_record::{ConnRecord, Uid};
use quartet_track::{TrackConfig, Tracker};
use quartet_wire::Timestamp;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// A packet for the shard that owns its connection.
pub struct ShardPacket {
    pub meta: PacketMeta,
    /// Tunnel parent resolved by the reader's `TunnelUids`.
    pub parent: Option<Uid>,
    /// Index of the packet's tick in the batch's `times`.
    pub tick: u32,
    /// Frame number in the capture (orders weird.log rows).
    pub frame: u64,
}

/// One batch of the capture as a shard sees it.
pub struct ShardBatch {
    pub packets: Vec<ShardPacket>,
    /// Network time after every tick of the batch (non-decreasing).
    pub times: Arc<[Timestamp]>,
}

/// Runs shard `id` until the reader closes its channel, then flushes.
/// Emptied packet buffers go back to the reader on `spent`.
pub fn run(
    id: usize,
    cfg: TrackConfig,
    input: Receiver<ShardBatch>,
    output: Sender<MergeMsg>,
    flush: Sender<Vec<ConnRecord>>,
    spent: Sender<Vec<ShardPacket>>,
    open_conns: Arc<AtomicI64>,
) {
    let mut tracker = Tracker::new(cfg);
    // This shard's share of `open_conns` (for the status line).
    let mut open_here = 0i64;
    // The last time this shard advanced to, and the network time at the end
    // of the last batch.
    let mut shard_now: Option<Timestamp> = None;
    let mut net_now: Option<Timestamp> = None;
    for batch in input.iter() {
        let times = &batch.times[..];
        let mut records = Vec::new();
        let mut verdicts = Vec::with_capacity(batch.packets.len());
        let mut weirds = Vec::new();
        let mut emit = |r: ConnRecord| records.push(r);
        // First tick at which a timer may still fire in this batch.
        let mut pos = 0usize;
        for p in &batch.packets {
            let tick = p.tick as usize;
            fire_timers(
                &mut tracker,
                times,
                &mut pos,
                tick,
                &mut shard_now,
                &mut emit,
            );
            // The single-threaded tracker is at the network time of this
            // tick when it handles the packet (its own time may be older).
            advance(&mut tracker, times[tick], &mut shard_now, &mut emit);
            verdicts.push(tracker.process_resolved(&p.meta, p.parent, &mut emit));
            // Timers the packet set already due fire at the next tick.
            pos = tick + 1;
            for (n, w) in tracker.weird_records.drain(..).enumerate() {
                weirds.push((
                    WeirdKey {
                        frame: p.frame,
                        class: 1,
                        tick: p.tick,
                        n: n as u32,
                    },
                    w,
                ));
            }
        }
        if let Some(&end) = times.last() {
            fire_timers(
                &mut tracker,
                times,
                &mut pos,
                times.len() - 1,
                &mut shard_now,
                &mut emit,
            );
            net_now = Some(end);
        }
        let open = tracker.stats.conns_created as i64 - tracker.stats.conns_removed as i64;
        open_conns.fetch_add(open - open_here, Ordering::Relaxed);
        open_here = open;
        let mut packets = batch.packets;
        packets.clear();
        // The reader allocates a new buffer when none comes back.
        let _ = spent.try_send(packets);
        let out = ShardOut {
            shard: id,
            records,
            verdicts,
            weirds,
        };
        if output.send(MergeMsg::Shard(out)).is_err() {
            return;
        }
    }
    let mut records = Vec::new();
    let mut emit = |r: ConnRecord| records.push(r);
    // End of input: the tracker is at the final network time (timers due
    // by then have fired at their ticks), then it flushes.
    if let Some(end) = net_now {
        if shard_now.is_none_or(|s| s < end) {
            advance(&mut tracker, end, &mut shard_now, &mut emit);
        }
    }
    // Records removed so far go the usual way; the flush streams after the
    // `Flushing` mark, in `RemovalOrder`: the attempt timers fired at the
    // end (phase 1, few; sorted here) come first, then every connection
    // still open in key order (phase 2).
    if output.send(MergeMsg::Flushing(id, records)).is_err() {
        return;
    }
    let mut stream = FlushStream {
        out: &flush,
        phase1: Vec::new(),
        chunk: Vec::with_capacity(FLUSH_CHUNK),
        count: 0,
        open: true,
    };
    tracker.finish(&mut |r| stream.push(r));
    stream.end();
    let flushed = stream.count;
    drop(flush);
    let weirds = tracker
        .weird_records
        .drain(..)
        .enumerate()
        .map(|(n, w)| {
            (
                WeirdKey {
                    frame: u64::MAX,
                    class: 1,
                    tick: id as u32,
                    n: n as u32,
                },
                w,
            )
        })
        .collect();
    let done = ShardDone {
        shard: id,
        flushed,
        weirds,
        stats: tracker.stats.clone(),
        weird_counts: tracker
            .weirds
            .counts
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect(),
        clean: tracker.is_empty() && tracker.pending_timers() == 0,
    };
    let _ = output.send(MergeMsg::Done(done));
}

/// Records per message of the end-of-input flush.
const FLUSH_CHUNK: usize = 1024;

/// The shard's side of the streamed flush.
struct FlushStream<'a> {
    out: &'a Sender<Vec<ConnRecord>>,
    phase1: Vec<ConnRecord>,
    chunk: Vec<ConnRecord>,
    count: u64,
    /// The merger still listens.
    open: bool,
}

impl FlushStream<'_> {
    fn push(&mut self, r: ConnRecord) {
        self.count += 1;
        if r.order.phase == 1 {
            self.phase1.push(r);
            return;
        }
        self.release_phase1();
        self.chunk.push(r);
        if self.chunk.len() >= FLUSH_CHUNK {
            self.send();
        }
    }

    /// Phase-1 records leave in `RemovalOrder` (timers fire by due time and
    /// schedule order; the stable sort keeps the latter among equals).
    fn release_phase1(&mut self) {
        if self.phase1.is_empty() {
            return;
        }
        let mut p = std::mem::take(&mut self.phase1);
        p.sort_by_key(|r| r.order);
        for r in p {
            self.chunk.push(r);
            if self.chunk.len() >= FLUSH_CHUNK {
                self.send();
            }
        }
    }

    fn send(&mut self) {
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(FLUSH_CHUNK));
        if self.open && self.out.send(chunk).is_err() {
            self.open = false;
        }
    }

    fn end(&mut self) {
        self.release_phase1();
        if !self.chunk.is_empty() {
            self.send();
        }
    }
}

fn advance(
    tracker: &mut Tracker,
    t: Timestamp,
    shard_now: &mut Option<Timestamp>,
    emit: &mut impl FnMut(ConnRecord),
) {
    tracker.advance(t, emit);
    if shard_now.is_none_or(|s| t > s) {
        *shard_now = Some(t);
    }
}

/// Fires the timers due by tick `upto`, each at the first tick from `pos`
/// on whose time reaches its due time.
fn fire_timers(
    tracker: &mut Tracker,
    times: &[Timestamp],
    pos: &mut usize,
    upto: usize,
    shard_now: &mut Option<Timestamp>,
    emit: &mut impl FnMut(ConnRecord),
) {
    while *pos <= upto {
        let Some(due) = tracker.next_due() else {
            return;
        };
        if due > times[upto] {
            return;
        }
        let j = *pos + times[*pos..=upto].partition_point(|&t| t < due);
        advance(tracker, times[j], shard_now, emit);
        *pos = j;
    }
}
