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
//! Most frames reach the shard undecoded: the reader only peeked at their
//! connection key (`quartet_decode::peek`, which guarantees one plain TCP or
//! UDP packet), and the shard decodes them itself, checksums included, so
//! that the reader's share of the work stays small. Frames that need more
//! (tunnels, fragments, other link layers, anything raising a weird) are
//! decoded by the reader and arrive as `PacketMeta`s with their tunnel
//! parent.
//!
//! With one tracker the reader runs it itself ([`Inline`]): no thread, no
//! batch copies, the same timer ticks and the same records.
//!
//! A shard refuses to know how many shards exist; it reports per-packet
//! verdicts, records and weird.log rows to the merger and never writes.

use crate::merge::{MergeMsg, Merger, ShardDone, ShardOut, WeirdKey};
use crate::walk::WalkLinks;
use crossbeam_channel::{Receiver, Sender};
use quartet_capture::prefetch_frame;
use quartet_decode::{decode_peeked, DecodeConfig, Decoded, PacketMeta};
use quartet_record::{ConnRecord, Uid, WeirdRecord};
use quartet_track::{Disposition, TrackConfig, Tracker};
use quartet_wire::Timestamp;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// A packet the reader decoded, for the shard that owns its connection.
pub struct ShardPacket {
    pub meta: PacketMeta,
    /// Tunnel parent resolved by the reader's `TunnelUids`.
    pub parent: Option<Uid>,
}

/// `Item::len` of a packet the reader decoded (the next of `metas`).
pub const DECODED: u32 = u32::MAX;
/// `Item::chunk` of a frame copied to `bytes`.
pub const COPIED: u32 = u32::MAX;

/// One packet of a batch, in the reader's order.
#[derive(Clone, Copy, Debug)]
pub struct Item {
    /// Frame number in the capture (orders weird.log rows).
    pub frame: u64,
    /// The frame's capture time.
    pub ts: Timestamp,
    /// Index of the packet's tick in the batch's `times`.
    pub tick: u32,
    /// Bytes of the undecoded frame, or [`DECODED`].
    pub len: u32,
    pub wire_len: u32,
    pub linktype: u32,
    /// Where the undecoded frame is: `chunks[chunk][at..]`, or `bytes[at..]`
    /// when `chunk` is [`COPIED`].
    pub chunk: u32,
    /// 64 bits: a mapped capture is one chunk, and may be larger than 4 GB.
    pub at: u64,
    /// The transport checksum's verdict, when the thread that walked the
    /// frame found it already (`peek_verified`).
    pub sum: Option<bool>,
}

/// The buffers of one batch for one shard; they go back to the reader
/// emptied, to be filled again.
#[derive(Default)]
pub struct ShardBuffers {
    pub items: Vec<Item>,
    pub metas: Vec<ShardPacket>,
    /// The capture's buffers the undecoded frames lie in (held, not copied).
    pub chunks: Vec<Arc<quartet_capture::Chunk>>,
    /// Undecoded frames of a source without shareable buffers, back to back.
    pub bytes: Vec<u8>,
}

impl ShardBuffers {
    /// Makes room for as much as `like` holds, and a quarter more, so that
    /// filling these does not grow them.
    pub fn reserve_like(&mut self, like: &ShardBuffers) {
        fn room<T>(v: &mut Vec<T>, n: usize) {
            v.reserve((n + n / 4).saturating_sub(v.len()));
        }
        room(&mut self.items, like.items.len());
        room(&mut self.metas, like.metas.len());
        room(&mut self.chunks, like.chunks.len());
        room(&mut self.bytes, like.bytes.len());
    }

    /// The bytes of an undecoded item's frame.
    #[inline]
    pub fn frame(&self, it: &Item) -> &[u8] {
        let (at, len) = (it.at as usize, it.len as usize);
        match it.chunk {
            COPIED => &self.bytes[at..at + len],
            c => &self.chunks[c as usize][at..at + len],
        }
    }

    /// Empties the buffers and lets go of the capture's.
    pub fn clear(&mut self) {
        self.items.clear();
        self.metas.clear();
        self.chunks.clear();
        self.bytes.clear();
    }
}

/// One batch of the capture as a shard sees it.
pub struct ShardBatch {
    pub buffers: ShardBuffers,
    /// Network time after every tick of the batch (non-decreasing).
    pub times: Arc<[Timestamp]>,
    /// Where the reader was in its mapped capture when it sent the batch:
    /// every frame of this batch lies below, every later one at or above.
    pub sent_at: u64,
}

/// Why a peeked frame is dropped when its decode did not give the one
/// packet `peek` promised (never expected; kept so every frame is counted).
const PEEK_MISMATCH: &str = "internal_peek_mismatch";

/// How many items ahead of the one being handled a shard prefetches the
/// frame of: far enough for the fetch to finish (a packet takes some
/// hundreds of nanoseconds), near enough that it is still cached.
const PREFETCH_ITEMS: usize = 4;

/// The bytes of a frame a decode with a known checksum verdict reads at
/// most: link, IP and TCP headers with options, or UDP's and the first
/// bytes of its payload.
const HEADER_BYTES: usize = 192;

/// A shard's channels.
pub struct Links {
    /// Batches from the reader.
    pub input: Receiver<ShardBatch>,
    /// Records, verdicts and weird.log rows to the merger.
    pub output: Sender<MergeMsg>,
    /// The end-of-input flush, to the merger.
    pub flush: Sender<Vec<ConnRecord>>,
    /// Emptied buffers back to the reader.
    pub spent: Sender<ShardBuffers>,
    /// The `sent_at` of the last batch this shard finished: the reader
    /// may release the capture's pages below it.
    pub done: Arc<AtomicU64>,
    /// Windows of the capture to walk for the reader, in between batches
    /// (`walk`), when the shards share the walk.
    pub walk: Option<WalkLinks>,
}

/// Runs shard `id` until the reader closes its channel, then flushes.
pub fn run(
    id: usize,
    cfg: TrackConfig,
    dcfg: DecodeConfig,
    links: Links,
    open_conns: Arc<AtomicI64>,
) {
    let Links {
        input,
        output,
        flush,
        spent,
        done: finished,
        mut walk,
    } = links;
    let mut tracker = Tracker::new(cfg);
    let mut decoded: Vec<Decoded> = Vec::with_capacity(4);
    // This shard's share of `open_conns` (for the status line).
    let mut open_here = 0i64;
    // The last time this shard advanced to, and the network time at the end
    // of the last batch.
    let mut shard_now: Option<Timestamp> = None;
    let mut net_now: Option<Timestamp> = None;
    // The frames of one undecoded packet are settled here.
    let mut settled = Settled::default();
    // Records the last batch removed: the next one's vector starts with
    // room for as many and a quarter more, instead of growing (and copying
    // its records) a dozen times on captures of many short connections.
    let mut last_records = 0usize;
    while let Some(batch) = next_batch(&input, &mut walk) {
        let times = &batch.times[..];
        let b = &batch.buffers;
        let mut records = Vec::with_capacity(last_records + last_records / 4);
        let mut verdicts = Vec::with_capacity(b.items.len());
        let mut weirds = Vec::new();
        let mut emit = |r: ConnRecord| records.push(r);
        // First tick at which a timer may still fire in this batch.
        let mut pos = 0usize;
        let mut meta = 0usize;
        for (i, it) in b.items.iter().enumerate() {
            // The frames a shard decodes were last touched on the reader's
            // core (or not at all past their first bytes): fetch the one a
            // few items ahead while this one is handled.
            if let Some(n) = b.items.get(i + PREFETCH_ITEMS) {
                if n.len != DECODED {
                    let frame = b.frame(n);
                    // With the checksum verified, or checksums ignored,
                    // the decode reads only the headers.
                    prefetch_frame(if n.sum.is_none() && !dcfg.ignore_checksums {
                        frame
                    } else {
                        &frame[..frame.len().min(HEADER_BYTES)]
                    });
                }
            }
            let tick = it.tick as usize;
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
            // A packet as recent as the tick advances the tracker to it
            // itself.
            let now = times[tick];
            if it.ts < now && shard_now != Some(now) {
                advance(&mut tracker, now, &mut shard_now, &mut emit);
            } else if shard_now.is_none_or(|s| now > s) {
                shard_now = Some(now);
            }
            if it.len == DECODED {
                let p = &b.metas[meta];
                meta += 1;
                verdicts.push(tracker.process_resolved(&p.meta, p.parent, &mut emit));
            } else {
                let data = b.frame(it);
                decoded.clear();
                decode_peeked(
                    &dcfg,
                    it.ts,
                    it.linktype,
                    it.wire_len,
                    data,
                    it.sum,
                    &mut decoded,
                );
                let verdict = match decoded.as_slice() {
                    [Decoded::Packet(m)] => tracker.process_resolved(m, None, &mut emit),
                    _ => {
                        debug_assert!(false, "peek promised one packet: {decoded:?}");
                        Disposition::Dropped(PEEK_MISMATCH)
                    }
                };
                // The frame carried this packet only: its verdict is the
                // frame's.
                settled.add(verdict);
            }
            // Timers the packet set already due fire at the next tick.
            pos = tick + 1;
            if !tracker.weird_records.is_empty() {
                drain_weirds(&mut tracker, it.frame, it.tick, &mut weirds);
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
        finished.store(batch.sent_at, Ordering::Release);
        last_records = records.len();
        let mut buffers = batch.buffers;
        buffers.clear();
        // The reader allocates new buffers when none come back.
        let _ = spent.try_send(buffers);
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
    // `Flushing` mark, on the shard's own channel.
    if output.send(MergeMsg::Flushing(id, records)).is_err() {
        return;
    }
    let mut open = true;
    let mut stream = FlushStream::new(|chunk| {
        if open && flush.send(chunk).is_err() {
            open = false;
        }
    });
    tracker.finish(&mut |r| stream.push(r));
    let flushed = stream.end();
    drop(flush);
    let mut done = done(id, tracker, flushed);
    done.frames_counted = settled.counted;
    done.drops = settled.drops;
    let _ = output.send(MergeMsg::Done(done));
}

/// The next batch from the reader, walking the windows it asks for while
/// waiting; `None` when the reader has closed the channel.
fn next_batch(input: &Receiver<ShardBatch>, walk: &mut Option<WalkLinks>) -> Option<ShardBatch> {
    loop {
        let Some(w) = walk else {
            return input.recv().ok();
        };
        // A batch waiting comes first: when the shards are the slower side
        // the reader walks the windows itself (`walk::Claims`).
        if let Ok(batch) = input.try_recv() {
            return Some(batch);
        }
        crossbeam_channel::select! {
            recv(input) -> batch => return batch.ok(),
            recv(w.jobs) -> job => match job {
                Ok(k) => w.walk(k),
                // The walk is over: only batches from now on.
                Err(_) => *walk = None,
            },
        }
    }
}

/// Frames a shard settled itself.
#[derive(Default)]
struct Settled {
    counted: u64,
    drops: Vec<(&'static str, u64)>,
}

impl Settled {
    fn add(&mut self, v: Disposition) {
        match v {
            Disposition::Counted => self.counted += 1,
            Disposition::Dropped(why) => match self.drops.iter_mut().find(|d| d.0 == why) {
                Some(d) => d.1 += 1,
                None => self.drops.push((why, 1)),
            },
        }
    }
}

/// The tracker's counters after its flush at end of input (`flushed`
/// records).
fn done(id: usize, mut tracker: Tracker, flushed: u64) -> ShardDone {
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
    ShardDone {
        shard: id,
        flushed,
        weirds,
        stats: tracker.stats.clone(),
        weird_counts: tracker.weirds.counts().into_iter().collect(),
        clean: tracker.is_empty() && tracker.pending_timers() == 0,
        frames_counted: 0,
        drops: Vec::new(),
    }
}

/// Moves the weird.log rows the last packet raised to `weirds`.
fn drain_weirds(
    tracker: &mut Tracker,
    frame: u64,
    tick: u32,
    weirds: &mut Vec<(WeirdKey, WeirdRecord)>,
) {
    for (n, w) in tracker.weird_records.drain(..).enumerate() {
        weirds.push((
            WeirdKey {
                frame,
                class: 1,
                tick,
                n: n as u32,
            },
            w,
        ));
    }
}

/// Records per message of the end-of-input flush.
const FLUSH_CHUNK: usize = 1024;

/// The tracker's end-of-input flush as it leaves, in `RemovalOrder`: the
/// attempt timers fired at the end (phase 1, few; sorted here) first, then
/// every connection still open in key order (phase 2), in chunks.
struct FlushStream<F: FnMut(Vec<ConnRecord>)> {
    send: F,
    phase1: Vec<ConnRecord>,
    chunk: Vec<ConnRecord>,
    count: u64,
}

impl<F: FnMut(Vec<ConnRecord>)> FlushStream<F> {
    fn new(send: F) -> Self {
        FlushStream {
            send,
            phase1: Vec::new(),
            chunk: Vec::with_capacity(FLUSH_CHUNK),
            count: 0,
        }
    }

    fn push(&mut self, r: ConnRecord) {
        self.count += 1;
        if r.order.phase == 1 {
            self.phase1.push(r);
            return;
        }
        self.release_phase1();
        self.add(r);
    }

    fn add(&mut self, r: ConnRecord) {
        self.chunk.push(r);
        if self.chunk.len() >= FLUSH_CHUNK {
            let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(FLUSH_CHUNK));
            (self.send)(chunk);
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
            self.add(r);
        }
    }

    /// Sends what is left; returns how many records were flushed.
    fn end(mut self) -> u64 {
        self.release_phase1();
        if !self.chunk.is_empty() {
            let chunk = std::mem::take(&mut self.chunk);
            (self.send)(chunk);
        }
        self.count
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

/// The only tracker of a `--threads 1` run, driven by the reader itself at
/// every tick: the same calls, in the same order, as a shard makes, without
/// a thread or a copy of any packet.
pub struct Inline {
    tracker: Tracker,
    /// The tracker's network time.
    now: Option<Timestamp>,
    records: Vec<ConnRecord>,
    weirds: Vec<(WeirdKey, WeirdRecord)>,
    open_here: i64,
}

impl Inline {
    pub fn new(cfg: TrackConfig) -> Self {
        Inline {
            tracker: Tracker::new(cfg),
            now: None,
            records: Vec::new(),
            weirds: Vec::new(),
            open_here: 0,
        }
    }

    /// A tick at network time `now`: fires the timers due by then.
    #[inline]
    pub fn tick(&mut self, now: Timestamp) {
        if self.tracker.next_due().is_some_and(|due| due <= now) {
            let records = &mut self.records;
            advance(&mut self.tracker, now, &mut self.now, &mut |r| {
                records.push(r)
            });
        }
    }

    /// A packet at the tick just taken (index `tick` of the batch, network
    /// time `now`).
    pub fn packet(
        &mut self,
        m: &PacketMeta,
        parent: Option<Uid>,
        now: Timestamp,
        frame: u64,
        tick: u32,
    ) -> Disposition {
        let records = &mut self.records;
        let mut emit = |r: ConnRecord| records.push(r);
        // `process` advances to the packet's own time; an older packet is
        // handled at network time, as in a shard.
        if m.ts < now && self.now != Some(now) {
            advance(&mut self.tracker, now, &mut self.now, &mut emit);
        } else if self.now.is_none_or(|s| m.ts > s) {
            self.now = Some(m.ts);
        }
        let v = self.tracker.process_resolved(m, parent, &mut emit);
        if !self.tracker.weird_records.is_empty() {
            drain_weirds(&mut self.tracker, frame, tick, &mut self.weirds);
        }
        v
    }

    /// What the batch just ended produced, for the merger.
    pub fn batch_out(&mut self, open_conns: &AtomicI64) -> ShardOut {
        let s = &self.tracker.stats;
        let open = s.conns_created as i64 - s.conns_removed as i64;
        open_conns.fetch_add(open - self.open_here, Ordering::Relaxed);
        self.open_here = open;
        // The next batch's vector has room for as many records as this one
        // and a quarter more (see `run`).
        let n = self.records.len();
        ShardOut {
            shard: 0,
            records: std::mem::replace(&mut self.records, Vec::with_capacity(n + n / 4)),
            verdicts: Vec::new(),
            weirds: std::mem::take(&mut self.weirds),
        }
    }

    /// End of input at network time `end`: the flush.
    /// End of input: the last timers, then the flush written straight into
    /// `merger` in chunks (never all the open connections' records at once).
    pub fn finish(mut self, end: Option<Timestamp>, merger: &mut Merger) -> ShardDone {
        let mut records = std::mem::take(&mut self.records);
        if let Some(end) = end {
            if self.now.is_none_or(|s| s < end) {
                advance(&mut self.tracker, end, &mut self.now, &mut |r| {
                    records.push(r)
                });
            }
        }
        merger.take(MergeMsg::Flushing(0, records));
        let mut stream = FlushStream::new(|chunk| merger.write_flushed(0, chunk));
        self.tracker.finish(&mut |r| stream.push(r));
        let flushed = stream.end();
        done(0, self.tracker, flushed)
    }
}
