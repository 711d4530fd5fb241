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
//! became of each. (A frame of one packet the reader did not decode is
//! settled by its shard, which reports the counts at the end.)

use crate::pipeline::Reason;
use quartet_record::{ConnRecord, RemovalOrder, Sink, WeirdRecord, WeirdWriter};
use quartet_track::{Disposition, TrackStats};
use quartet_wire::Timestamp;
use std::borrow::Cow;
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::io::{self, Write};
use std::sync::atomic::{self, AtomicBool};

/// Opens a log anew: `true` appends (after SIGHUP), `false` starts a new file.
pub type Reopen<'a, T> = Box<dyn FnMut(bool) -> T + 'a>;

/// The conn.log output and how it is reopened and rotated.
pub struct LogOut<'a> {
    pub sink: Box<dyn Sink>,
    /// The path (`-` for standard output).
    pub name: String,
    pub reopen: Reopen<'a, Box<dyn Sink>>,
    /// Rotation interval in microseconds of network time.
    pub rotate_us: Option<i64>,
}

/// The weird.log output.
pub struct WeirdOut<'a> {
    pub writer: WeirdWriter<Box<dyn Write>>,
    pub name: String,
    pub reopen: Reopen<'a, WeirdWriter<Box<dyn Write>>>,
}

/// The name a closed log is renamed to: `conn.log` becomes
/// `conn.<start>-<end>.log`, times as Zeek's `%Y-%m-%d-%H-%M-%S` (UTC).
pub fn rotated_name(path: &str, start: Timestamp, end: Timestamp) -> String {
    let fmt = |t: Timestamp| {
        chrono::DateTime::from_timestamp(t.micros().div_euclid(1_000_000), 0)
            .map(|d| d.format("%Y-%m-%d-%H-%M-%S").to_string())
            .unwrap_or_else(|| t.micros().to_string())
    };
    let stamp = format!("{}-{}", fmt(start), fmt(end));
    let p = std::path::Path::new(path);
    let file = match (p.file_stem(), p.extension()) {
        (Some(stem), Some(ext)) => format!(
            "{}.{stamp}.{}",
            stem.to_string_lossy(),
            ext.to_string_lossy()
        ),
        _ => format!(
            "{}.{stamp}",
            p.file_name().map_or("conn".into(), |f| f.to_string_lossy())
        ),
    };
    match p.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(file).to_string_lossy().into_owned(),
        _ => file,
    }
}

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
    /// Frames the shard settled itself (those of one packet the reader did
    /// not decode, which are in no plan): counted, and dropped by reason.
    pub frames_counted: u64,
    pub drops: Vec<(&'static str, u64)>,
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
    /// Records written, by conn_state.
    pub states: BTreeMap<&'static str, u64>,
    /// Records flushed at the end of input (still open when reading stopped).
    pub flushed_at_end: u64,
    /// Log files closed and renamed by `--rotate`.
    pub rotated: u64,
    /// Times the logs were reopened on SIGHUP.
    pub reopened: u64,
    /// The first write error (later records were counted, not written).
    pub write_error: Option<(String, io::Error)>,
}

/// A record waiting for its turn. Records of one connection key come from
/// one shard, so `(order, shard, seq)` never leaves a tie to chance. The
/// record itself waits in `Merger::waiting` at `slot`, so the heap moves
/// small entries.
struct Pending {
    order: RemovalOrder,
    shard: usize,
    seq: u64,
    slot: usize,
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
    log: LogOut<'a>,
    weird_sink: Option<WeirdOut<'a>>,
    /// Set at the first write error: the reader stops reading.
    stop: &'a AtomicBool,
    /// Set by SIGHUP: reopen the logs.
    hup: &'a AtomicBool,
    /// Rows in the current conn.log file.
    rows_in_file: u64,
    /// Network time the current file began at, and the next boundary.
    rot_start: Option<Timestamp>,
    rot_next: Option<Timestamp>,
    /// Network time at the end of the last batch.
    last_end: Option<Timestamp>,
    reader: VecDeque<ReaderBatch>,
    shards: Vec<VecDeque<ShardOut>>,
    seq: Vec<u64>,
    heap: BinaryHeap<Reverse<Pending>>,
    /// The records of `heap`, by slot, and the free slots.
    waiting: Vec<Option<ConnRecord>>,
    free: Vec<usize>,
    final_weirds: Vec<(WeirdKey, WeirdRecord)>,
    report: MergeReport,
}

impl<'a> Merger<'a> {
    pub fn new(
        shards: usize,
        log: LogOut<'a>,
        weird_sink: Option<WeirdOut<'a>>,
        stop: &'a AtomicBool,
        hup: &'a AtomicBool,
    ) -> Self {
        Merger {
            log,
            weird_sink,
            stop,
            hup,
            rows_in_file: 0,
            rot_start: None,
            rot_next: None,
            last_end: None,
            reader: VecDeque::new(),
            shards: (0..shards).map(|_| VecDeque::new()).collect(),
            seq: vec![0; shards],
            heap: BinaryHeap::new(),
            waiting: Vec::new(),
            free: Vec::new(),
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
            self.take(msg);
        }
        self.finish()
    }

    /// Takes one message and writes what it made final (the single-threaded
    /// pipeline calls this directly).
    pub fn take(&mut self, msg: MergeMsg) {
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
        if self.hup.swap(false, atomic::Ordering::Relaxed) {
            self.reopen();
        }
    }

    /// Writes the rest once every message was taken.
    pub fn finish(mut self) -> MergeReport {
        // Every batch was settled (shards finish them all before their
        // flush); what is left is final.
        while let Some(Reverse(p)) = self.heap.pop() {
            let record = self.release(p.slot);
            self.write(record);
        }
        let mut weirds = std::mem::take(&mut self.final_weirds);
        weirds.sort_by_key(|w| w.0);
        self.write_weirds(weirds);
        if let Err(e) = self.log.sink.finish() {
            self.fail(self.log.name.clone(), e);
        }
        if self.log.rotate_us.is_some() {
            if let (Some(start), Some(end)) = (self.rot_start, self.last_end.or(self.rot_start)) {
                self.rename_closed(start, end.max(start));
            }
        }
        if let Some(w) = self.weird_sink.as_mut() {
            if let Err(e) = w.writer.finish() {
                let name = w.name.clone();
                self.fail(name, e);
            }
        }
        self.report
    }

    /// SIGHUP: closes the logs (with `#close`) and opens them anew at the
    /// same paths, appending when a file is still there.
    fn reopen(&mut self) {
        self.report.reopened += 1;
        if let Err(e) = self.log.sink.finish() {
            self.fail(self.log.name.clone(), e);
        }
        self.log.sink = (self.log.reopen)(true);
        if let Some(w) = self.weird_sink.as_mut() {
            let r = w.writer.finish();
            w.writer = (w.reopen)(true);
            if let Err(e) = r {
                let name = w.name.clone();
                self.fail(name, e);
            }
        }
    }

    /// With `--rotate`: closes the current file and starts a new one at
    /// every interval boundary up to network time `t`.
    fn rotate_to(&mut self, t: Timestamp) {
        let Some(iv) = self.log.rotate_us else {
            return;
        };
        let next = match self.rot_next {
            Some(n) => n,
            None => {
                self.rot_start = Some(t);
                let n = Timestamp::from_micros((t.micros().div_euclid(iv) + 1) * iv);
                self.rot_next = Some(n);
                n
            }
        };
        if t < next {
            return;
        }
        // Close the file at the first boundary passed; intervals with no
        // row at all leave no file.
        if let Err(e) = self.log.sink.finish() {
            self.fail(self.log.name.clone(), e);
        }
        self.log.sink = (self.log.reopen)(false);
        let start = self.rot_start.unwrap_or(next);
        self.rename_closed(start, next);
        let passed = (t.micros() - next.micros()).div_euclid(iv);
        let boundary = Timestamp::from_micros(next.micros() + passed * iv);
        self.rot_start = Some(boundary);
        self.rot_next = Some(Timestamp::from_micros(boundary.micros() + iv));
    }

    /// Renames the closed working file to its rotated name (atomic on one
    /// file system), when it holds rows.
    fn rename_closed(&mut self, start: Timestamp, end: Timestamp) {
        if self.rows_in_file == 0 || self.report.write_error.is_some() {
            return;
        }
        self.rows_in_file = 0;
        let to = rotated_name(&self.log.name, start, end);
        match std::fs::rename(&self.log.name, &to) {
            Ok(()) => self.report.rotated += 1,
            // Moved away already (by an operator after SIGHUP).
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => self.fail(format!("{} (renaming to {to})", self.log.name), e),
        }
    }

    fn hold(&mut self, shard: usize, records: Vec<ConnRecord>) {
        for record in records {
            let seq = self.seq[shard];
            self.seq[shard] += 1;
            let order = record.order;
            let slot = match self.free.pop() {
                Some(i) => {
                    self.waiting[i] = Some(record);
                    i
                }
                None => {
                    self.waiting.push(Some(record));
                    self.waiting.len() - 1
                }
            };
            self.heap.push(Reverse(Pending {
                order,
                shard,
                seq,
                slot,
            }));
        }
    }

    /// Takes a held record out of its slot.
    fn release(&mut self, slot: usize) -> ConnRecord {
        self.free.push(slot);
        self.waiting[slot].take().expect("a held record")
    }

    fn shard_done(&mut self, d: ShardDone) {
        self.report.flushed_at_end += d.records.len() as u64;
        self.hold(d.shard, d.records);
        self.final_weirds.extend(d.weirds);
        add_stats(&mut self.report.tracker, &d.stats);
        for (k, v) in d.weird_counts {
            *self.report.weirds.entry(k).or_insert(0) += v;
        }
        self.report.clean &= d.clean;
        self.report.frames_counted += d.frames_counted;
        for (k, v) in d.drops {
            *self.report.drops.entry(Cow::Borrowed(k)).or_insert(0) += v;
        }
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
                let record = self.release(p.slot);
                self.rotate_to(p.order.at);
                self.write(record);
            }
            // Later records are removed at `end` or after.
            self.rotate_to(end);
            self.last_end = Some(end);
        }
    }

    fn write(&mut self, r: ConnRecord) {
        self.report.records += 1;
        *self.report.states.entry(r.conn_state.name()).or_insert(0) += 1;
        if self.report.write_error.is_none() {
            self.rows_in_file += 1;
            if let Err(e) = self.log.sink.write(&r) {
                self.fail(self.log.name.clone(), e);
            }
        }
    }

    fn write_weirds(&mut self, weirds: Vec<(WeirdKey, WeirdRecord)>) {
        let Some(w) = self.weird_sink.as_mut() else {
            return;
        };
        for (_, r) in weirds {
            if let Err(e) = w.writer.write(&r) {
                let name = w.name.clone();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_names_follow_zeek() {
        let s = Timestamp::from_secs(1_300_000_000);
        let e = Timestamp::from_secs(1_300_003_600);
        assert_eq!(
            rotated_name("conn.log", s, e),
            "conn.2011-03-13-07-06-40-2011-03-13-08-06-40.log"
        );
        assert_eq!(
            rotated_name("/tmp/x/conn.log", s, e),
            "/tmp/x/conn.2011-03-13-07-06-40-2011-03-13-08-06-40.log"
        );
        assert_eq!(
            rotated_name("out", s, e),
            "out.2011-03-13-07-06-40-2011-03-13-08-06-40"
        );
    }
}
