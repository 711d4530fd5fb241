//! The merger: one thread that puts the records of every shard into one
//! deterministic order and writes them, with weird.log, off the packet path.
//!
//! Records are written by their `RemovalOrder`. A shard's record for batch
//! `k + 1` or later is removed at or after the network time `T` at the end
//! of batch `k` (shards fire every timer due by `T` before they finish the
//! batch), so once every shard has finished batch `k`, the records of phase
//! 0 strictly before `T` are final and written; records only wait for the
//! slowest shard. Those of the end-of-input phases (1, 2) come last.
//!
//! weird.log rows are written in capture order, as the single-threaded
//! pipeline wrote them: by frame, the reader's rows before the trackers'.
//! Frame dispositions are settled here too: the reader says, for each frame
//! that carried packets, which shards got them, and the shards say what
//! became of each.

use crate::pipeline::Reason;
use quartet_record::{ConnRecord, RemovalOrder, Sink, WeirdRecord, WeirdWriter};
use quartet_track::{Disposition, TrackStats};
use quartet_wire::Timestamp;
use std::borrow::Cow;
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::io::{self, Write};
use std::sync::atomic::{self, AtomicBool};

/// Where a weird.log row goes: frame, then the reader's rows (class 0)
/// before the trackers' (class 1), then tick and position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct WeirdKey {
    pub frame: u64,
    pub class: u8,
    pub tick: u32,
    pub n: u32,
}

/// A frame that carried packets: the drop reason of its first item when
/// that item was not a packet, and how many packets it sent to shards.
pub struct PlanFrame {
    pub first_drop: Option<Reason>,
    pub packets: u32,
}

/// What the reader tells the merger about one batch.
pub struct ReaderBatch {
    /// Network time at the end of the batch (None before the first tick).
    pub end: Option<Timestamp>,
    pub frames: Vec<PlanFrame>,
    /// The shard of every packet of those frames, in order.
    pub shards: Vec<u32>,
    pub weirds: Vec<(WeirdKey, WeirdRecord)>,
}

/// What a shard did with one batch.
pub struct ShardOut {
    pub shard: usize,
    pub records: Vec<ConnRecord>,
    /// One per packet of the batch, in order.
    pub verdicts: Vec<Disposition>,
    pub weirds: Vec<(WeirdKey, WeirdRecord)>,
}

/// A shard's flush at end of input, with its counters.
pub struct ShardDone {
    pub shard: usize,
    pub records: Vec<ConnRecord>,
    pub weirds: Vec<(WeirdKey, WeirdRecord)>,
    pub stats: TrackStats,
    pub weird_counts: Vec<(&'static str, u64)>,
    /// No connection or timer was left after the flush.
    pub clean: bool,
}

pub enum MergeMsg {
    Reader(ReaderBatch),
    Shard(ShardOut),
    Done(ShardDone),
}

/// What the merger counted.
#[derive(Default)]
pub struct MergeReport {
    pub records: u64,
    pub frames_counted: u64,
    pub drops: BTreeMap<Reason, u64>,
    pub tracker: TrackStats,
    pub weirds: BTreeMap<&'static str, u64>,
    pub clean: bool,
    /// The first write error (later records were counted, not written).
    pub write_error: Option<(String, io::Error)>,
}

/// A record waiting for its turn. Records of one connection key come from
/// one shard, so `(order, shard, seq)` never leaves a tie to chance.
struct Pending {
    order: RemovalOrder,
    shard: usize,
    seq: u64,
    record: ConnRecord,
}

impl Pending {
    fn key(&self) -> (&RemovalOrder, usize, u64) {
        (&self.order, self.shard, self.seq)
    }
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

pub struct Merger<'a> {
    sink: Box<dyn Sink>,
    sink_name: String,
    weird_sink: Option<(WeirdWriter<Box<dyn Write>>, String)>,
    /// Set at the first write error: the reader stops reading.
    stop: &'a AtomicBool,
    reader: VecDeque<ReaderBatch>,
    shards: Vec<VecDeque<ShardOut>>,
    seq: Vec<u64>,
    heap: BinaryHeap<Reverse<Pending>>,
    final_weirds: Vec<(WeirdKey, WeirdRecord)>,
    report: MergeReport,
}

impl<'a> Merger<'a> {
    pub fn new(
        shards: usize,
        sink: Box<dyn Sink>,
        sink_name: String,
        weird_sink: Option<(WeirdWriter<Box<dyn Write>>, String)>,
        stop: &'a AtomicBool,
    ) -> Self {
        Merger {
            sink,
            sink_name,
            weird_sink,
            stop,
            reader: VecDeque::new(),
            shards: (0..shards).map(|_| VecDeque::new()).collect(),
            seq: vec![0; shards],
            heap: BinaryHeap::new(),
            final_weirds: Vec::new(),
            report: MergeReport {
                clean: true,
                ..MergeReport::default()
            },
        }
    }

    /// Takes messages until every sender is gone, then writes the rest.
    pub fn run(mut self, input: crossbeam_channel::Receiver<MergeMsg>) -> MergeReport {
        for msg in input.iter() {
            match msg {
                MergeMsg::Reader(b) => self.reader.push_back(b),
                MergeMsg::Shard(mut out) => {
                    let records = std::mem::take(&mut out.records);
                    self.hold(out.shard, records);
                    self.shards[out.shard].push_back(out);
                }
                MergeMsg::Done(d) => self.shard_done(d),
            }
            while self.batch_complete() {
                self.settle_batch();
            }
        }
        // Every batch was settled (shards finish them all before their
        // flush); what is left is final.
        while let Some(Reverse(p)) = self.heap.pop() {
            self.write(p.record);
        }
        let mut weirds = std::mem::take(&mut self.final_weirds);
        weirds.sort_by_key(|w| w.0);
        self.write_weirds(weirds);
        if let Err(e) = self.sink.finish() {
            self.fail(self.sink_name.clone(), e);
        }
        if let Some((w, name)) = self.weird_sink.as_mut() {
            if let Err(e) = w.finish() {
                let name = name.clone();
                self.fail(name, e);
            }
        }
        self.report
    }

    fn hold(&mut self, shard: usize, records: Vec<ConnRecord>) {
        for record in records {
            let seq = self.seq[shard];
            self.seq[shard] += 1;
            self.heap.push(Reverse(Pending {
                order: record.order,
                shard,
                seq,
                record,
            }));
        }
    }

    fn shard_done(&mut self, d: ShardDone) {
        self.hold(d.shard, d.records);
        self.final_weirds.extend(d.weirds);
        add_stats(&mut self.report.tracker, &d.stats);
        for (k, v) in d.weird_counts {
            *self.report.weirds.entry(k).or_insert(0) += v;
        }
        self.report.clean &= d.clean;
    }

    fn batch_complete(&self) -> bool {
        !self.reader.is_empty() && self.shards.iter().all(|q| !q.is_empty())
    }

    /// Every shard has finished the oldest batch: settle its frames, write
    /// its weird.log rows and the records now final.
    fn settle_batch(&mut self) {
        let batch = self.reader.pop_front().expect("batch_complete");
        let outs: Vec<ShardOut> = self
            .shards
            .iter_mut()
            .map(|q| q.pop_front().expect("batch_complete"))
            .collect();
        let mut cursor = vec![0usize; outs.len()];
        let mut shard_of = batch.shards.iter();
        for f in &batch.frames {
            let mut counted = false;
            let mut first_drop = f.first_drop.clone();
            for _ in 0..f.packets {
                let s = *shard_of.next().expect("one shard per packet") as usize;
                let v = outs[s].verdicts[cursor[s]];
                cursor[s] += 1;
                match v {
                    Disposition::Counted => counted = true,
                    Disposition::Dropped(why) => {
                        first_drop.get_or_insert(Cow::Borrowed(why));
                    }
                }
            }
            if counted {
                self.report.frames_counted += 1;
            } else {
                let why = first_drop.unwrap_or(Cow::Borrowed("no_packet"));
                *self.report.drops.entry(why).or_insert(0) += 1;
            }
        }
        if self.weird_sink.is_some() {
            let mut weirds = batch.weirds;
            for o in outs {
                weirds.extend(o.weirds);
            }
            weirds.sort_by_key(|w| w.0);
            self.write_weirds(weirds);
        }
        if let Some(end) = batch.end {
            while self
                .heap
                .peek()
                .is_some_and(|Reverse(p)| p.order.phase == 0 && p.order.at < end)
            {
                let Reverse(p) = self.heap.pop().expect("peeked");
                self.write(p.record);
            }
        }
    }

    fn write(&mut self, r: ConnRecord) {
        self.report.records += 1;
        if self.report.write_error.is_none() {
            if let Err(e) = self.sink.write(&r) {
                self.fail(self.sink_name.clone(), e);
            }
        }
    }

    fn write_weirds(&mut self, weirds: Vec<(WeirdKey, WeirdRecord)>) {
        let Some((w, name)) = self.weird_sink.as_mut() else {
            return;
        };
        for (_, r) in weirds {
            if let Err(e) = w.write(&r) {
                let name = name.clone();
                self.fail(name, e);
                return;
            }
        }
    }

    fn fail(&mut self, what: String, e: io::Error) {
        self.stop.store(true, atomic::Ordering::Relaxed);
        if self.report.write_error.is_none() {
            self.report.write_error = Some((what, e));
        }
    }
}

/// Adds one shard's counters to the total (every field, so that a new
/// counter cannot be forgotten here).
fn add_stats(total: &mut TrackStats, s: &TrackStats) {
    let TrackStats {
        counted,
        dropped_bad_header,
        dropped_bad_checksum,
        icmp_incomplete,
        absorbed_time_wait,
        time_wait_reopened,
        stale_peer_syns,
        rst_outside_window,
        evicted,
        stale_peer_setups,
        stale_setup_delay_us,
        conns_created,
        conns_removed,
    } = s;
    total.counted += counted;
    total.dropped_bad_header += dropped_bad_header;
    total.dropped_bad_checksum += dropped_bad_checksum;
    total.icmp_incomplete += icmp_incomplete;
    total.absorbed_time_wait += absorbed_time_wait;
    total.time_wait_reopened += time_wait_reopened;
    total.stale_peer_syns += stale_peer_syns;
    total.rst_outside_window += rst_outside_window;
    total.evicted += evicted;
    total.stale_peer_setups += stale_peer_setups;
    total.stale_setup_delay_us += stale_setup_delay_us;
    total.conns_created += conns_created;
    total.conns_removed += conns_removed;
}
