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
//! Within a batch the two logs are written together in time order, so that
//! `--rotate` splits both at the same boundaries of network time.
//! Frame dispositions are settled here too: the reader says, for each frame
//! that carried packets, which shards got them, and the shards say what
//! became of each. (A frame of one packet the reader did not decode is
//! settled by its shard, which reports the counts at the end.)

use crate::pipeline::Reason;
use chrono::{LocalResult, Offset, TimeZone};
use quartet_record::{ConnRecord, RemovalOrder, Sink, WeirdRecord, WeirdWriter};
use quartet_track::{Disposition, TrackStats};
use quartet_wire::Timestamp;
use std::borrow::Cow;
use std::cmp::Reverse;
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

/// A log writer that ends its file with `#close`.
pub trait CloseLog {
    fn close(&mut self) -> io::Result<()>;
}

impl CloseLog for Box<dyn Sink> {
    fn close(&mut self) -> io::Result<()> {
        self.finish()
    }
}

impl CloseLog for WeirdWriter<Box<dyn Write>> {
    fn close(&mut self) -> io::Result<()> {
        self.finish()
    }
}

/// An error of one log file: what was being done to which file.
type FileError = (String, io::Error);

/// One log file (conn.log or weird.log), how it is opened anew (SIGHUP,
/// rotation), and what rotation must know of the current file. Both logs
/// share this mechanism; the merger's [`RotationClock`] says when.
struct LogFile<'a, W> {
    writer: W,
    /// The path (`-` for standard output).
    name: String,
    reopen: Reopen<'a, W>,
    /// Rows written to the current file.
    rows: u64,
    /// Network time the current file was opened at (the name it is rotated
    /// to): the time of its first row, or the boundary that began it when a
    /// file was open across that boundary, as Zeek's writers keep the time
    /// they were created or rotated at.
    opened: Option<Timestamp>,
}

impl<'a, W: CloseLog> LogFile<'a, W> {
    fn new(writer: W, name: String, reopen: Reopen<'a, W>) -> Self {
        LogFile {
            writer,
            name,
            reopen,
            rows: 0,
            opened: None,
        }
    }

    /// A row is being written at network time `at`.
    fn row(&mut self, at: Timestamp) {
        self.rows += 1;
        self.opened.get_or_insert(at);
    }

    /// SIGHUP: closes the file (with `#close`) and opens it anew at the same
    /// path, appending when a file is still there.
    fn reopen(&mut self) -> Result<(), FileError> {
        let r = self.writer.close();
        self.writer = (self.reopen)(true);
        r.map_err(|e| (self.name.clone(), e))
    }

    /// A rotation boundary at network time `at`: a file with rows is closed
    /// and renamed; the next file counts as opened at `at`. Returns whether
    /// a file was renamed.
    fn rotate(&mut self, at: Timestamp) -> Result<bool, FileError> {
        let renamed = if self.rows > 0 {
            let closed = self.writer.close();
            self.writer = (self.reopen)(false);
            closed.map_err(|e| (self.name.clone(), e))?;
            self.rename_closed()?
        } else {
            false
        };
        if self.opened.is_some() {
            self.opened = Some(at);
        }
        Ok(renamed)
    }

    /// End of the run: closes the file and, when rotating, renames it too.
    fn finish(&mut self, rotating: bool) -> Result<bool, FileError> {
        self.writer.close().map_err(|e| (self.name.clone(), e))?;
        if rotating && self.rows > 0 {
            return self.rename_closed();
        }
        Ok(false)
    }

    /// Renames the closed file to its rotated name, atomically on one file
    /// system: readers see the whole file under its new name or none.
    fn rename_closed(&mut self) -> Result<bool, FileError> {
        self.rows = 0;
        let Some(opened) = self.opened else {
            return Ok(false);
        };
        let to = free_name(&rotated_name(&self.name, opened));
        match std::fs::rename(&self.name, &to) {
            Ok(()) => Ok(true),
            // Moved away already (by an operator after SIGHUP).
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err((format!("{} (renaming to {to})", self.name), e)),
        }
    }
}

/// `name`, or when a file is there already (the same local hour twice when
/// daylight saving time ends, or an earlier run's file), `name` with `-2`,
/// `-3`, ... before its extension: a rotation never overwrites a log.
fn free_name(name: &str) -> String {
    if !std::path::Path::new(name).exists() {
        return name.to_string();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if !name[i..].contains('/') => name.split_at(i),
        _ => (name, ""),
    };
    (2u32..)
        .map(|n| format!("{stem}-{n}{ext}"))
        .find(|c| !std::path::Path::new(c).exists())
        .unwrap_or_else(|| name.to_string())
}

/// The name a closed log is renamed to: `conn.log` opened at `opened`
/// becomes `conn.2026-11-24-22-00-00.log`, Zeek's
/// `Log::default_rotation_date_format` (`%Y-%m-%d-%H-%M-%S`) in local time
/// (the `TZ` environment variable, else /etc/localtime), as Zeek's
/// `strftime` gives it.
pub fn rotated_name(path: &str, opened: Timestamp) -> String {
    rotated_name_in(&chrono::Local, path, opened)
}

fn rotated_name_in<Tz: TimeZone>(tz: &Tz, path: &str, opened: Timestamp) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let secs = opened.micros().div_euclid(1_000_000);
    let stamp = match tz.timestamp_opt(secs, 0).single() {
        Some(d) => d.format("%Y-%m-%d-%H-%M-%S").to_string(),
        None => secs.to_string(),
    };
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

/// When `--rotate` closes the logs: Zeek's `calc_next_rotate` with its
/// default `log_rotate_base_time` of "0:00", boundaries at local midnight
/// plus whole intervals (for an interval that divides a day, every
/// `1h` boundary is a full local hour, in any time zone).
struct RotationClock {
    every_us: i64,
    /// The next boundary (None before the first time is seen).
    next: Option<Timestamp>,
}

impl RotationClock {
    fn new(every_us: i64) -> Self {
        RotationClock {
            every_us: every_us.max(1),
            next: None,
        }
    }

    /// Network time moved to `t`: the start of the interval `t` is in when
    /// `t` passed a boundary (several at once count as one).
    fn passed(&mut self, tz: &impl TimeZone, t: Timestamp) -> Option<Timestamp> {
        let us = t.micros();
        let next = match self.next {
            Some(n) => n.micros(),
            None => {
                self.next = Some(Timestamp::from_micros(next_boundary(tz, us, self.every_us)));
                return None;
            }
        };
        if us < next {
            return None;
        }
        let start = next.max(boundary_at_or_before(tz, us, self.every_us));
        self.next = Some(Timestamp::from_micros(next_boundary(tz, us, self.every_us)));
        Some(Timestamp::from_micros(start))
    }
}

/// Microseconds of local midnight starting the local day of `us`.
fn local_midnight_us(tz: &impl TimeZone, us: i64) -> i64 {
    let secs = us.div_euclid(1_000_000);
    let day_start = tz.timestamp_opt(secs, 0).single().and_then(|d| {
        let midnight = d.date_naive().and_hms_opt(0, 0, 0)?;
        match tz.from_local_datetime(&midnight) {
            LocalResult::Single(m) | LocalResult::Ambiguous(m, _) => Some(m.timestamp()),
            // No midnight that day (a clock change at 0:00): the UTC offset
            // of `us` itself places it.
            LocalResult::None => {
                let offset = d.offset().fix().local_minus_utc() as i64;
                Some(midnight.and_utc().timestamp() - offset)
            }
        }
    });
    // Out of the calendar's range: UTC days.
    day_start
        .unwrap_or_else(|| secs.div_euclid(86_400) * 86_400)
        .saturating_mul(1_000_000)
}

/// The first boundary strictly after `us`.
fn next_boundary(tz: &impl TimeZone, us: i64, every: i64) -> i64 {
    let sod = local_midnight_us(tz, us);
    let k = us.saturating_sub(sod).div_euclid(every);
    sod.saturating_add(k.saturating_add(1).saturating_mul(every))
}

/// The last boundary at or before `us`.
fn boundary_at_or_before(tz: &impl TimeZone, us: i64, every: i64) -> i64 {
    let sod = local_midnight_us(tz, us);
    let k = us.saturating_sub(sod).div_euclid(every);
    sod.saturating_add(k.saturating_mul(every))
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

/// A shard's counters at the very end, after its flush.
pub struct ShardDone {
    pub shard: usize,
    /// Records the end-of-input flush streamed.
    pub flushed: u64,
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
    /// The shard read all its input: the records its last timers removed.
    /// Its end-of-input flush follows on its flush channel.
    Flushing(usize, Vec<ConnRecord>),
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

pub struct Merger<'a> {
    log: LogFile<'a, Box<dyn Sink>>,
    weird: Option<LogFile<'a, WeirdWriter<Box<dyn Write>>>>,
    /// With `--rotate`: when both logs are closed and renamed.
    rotation: Option<RotationClock>,
    /// Set at the first write error: the reader stops reading.
    stop: &'a AtomicBool,
    /// Set by SIGHUP: reopen the logs.
    hup: &'a AtomicBool,
    reader: VecDeque<ReaderBatch>,
    shards: Vec<VecDeque<ShardOut>>,
    seq: Vec<u64>,
    /// Records of each shard's end-of-input flush merged so far.
    streamed: Vec<u64>,
    /// Records each shard says its flush streamed.
    flushed: Vec<u64>,
    /// Shards that sent their `Flushing` mark, and the channels their
    /// flushes stream on (none when the reader runs the tracker itself).
    flushing: usize,
    flush: Vec<crossbeam_channel::Receiver<Vec<ConnRecord>>>,
    /// Per shard, the records it sent that are not written yet, in their
    /// order: `RemovalOrder`, then arrival (records of one connection key
    /// come from one shard, so `(order, shard, arrival)` leaves no tie to
    /// chance). Records are written by a merge of the shards' fronts.
    held: Vec<VecDeque<ConnRecord>>,
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
            rotation: log.rotate_us.map(RotationClock::new),
            log: LogFile::new(log.sink, log.name, log.reopen),
            weird: weird_sink.map(|w| LogFile::new(w.writer, w.name, w.reopen)),
            stop,
            hup,
            reader: VecDeque::new(),
            shards: (0..shards).map(|_| VecDeque::new()).collect(),
            seq: vec![0; shards],
            streamed: vec![0; shards],
            flushed: vec![0; shards],
            flushing: 0,
            flush: Vec::new(),
            held: (0..shards).map(|_| VecDeque::new()).collect(),
            final_weirds: Vec::new(),
            report: MergeReport {
                clean: true,
                ..MergeReport::default()
            },
        }
    }

    /// Takes messages until every sender is gone, then writes the rest.
    pub fn run(
        mut self,
        input: crossbeam_channel::Receiver<MergeMsg>,
        flush: Vec<crossbeam_channel::Receiver<Vec<ConnRecord>>>,
    ) -> MergeReport {
        self.flush = flush;
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
            MergeMsg::Flushing(shard, records) => {
                self.report.flushed_at_end += records.len() as u64;
                self.hold(shard, records);
                self.flushing += 1;
                if self.flushing == self.shards.len() {
                    while self.batch_complete() {
                        self.settle_batch();
                    }
                    self.final_merge();
                }
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

    /// Every shard has read all its input: writes what is held, then merges
    /// the shards' flush streams (each in `RemovalOrder`) as they come,
    /// holding one chunk per shard. Without flush channels (one tracker run
    /// by the reader) the flush comes through `write_flushed`.
    fn final_merge(&mut self) {
        self.write_held();
        let flush = std::mem::take(&mut self.flush);
        let mut chunks: Vec<std::vec::IntoIter<ConnRecord>> =
            flush.iter().map(|_| Vec::new().into_iter()).collect();
        let next = |shard: usize, chunks: &mut Vec<std::vec::IntoIter<ConnRecord>>| loop {
            if let Some(r) = chunks[shard].next() {
                return Some(r);
            }
            chunks[shard] = flush[shard].recv().ok()?.into_iter();
        };
        // The head record of each shard's stream, and their order.
        let mut heads: Vec<Option<ConnRecord>> = Vec::with_capacity(flush.len());
        let mut order = BinaryHeap::new();
        for shard in 0..flush.len() {
            let head = next(shard, &mut chunks);
            if let Some(r) = &head {
                order.push(Reverse((r.order, shard, self.next_seq(shard))));
            }
            heads.push(head);
        }
        while let Some(Reverse((_, shard, _))) = order.pop() {
            let record = heads[shard].take().expect("a head per queued shard");
            self.report.flushed_at_end += 1;
            self.streamed[shard] += 1;
            self.write(&record);
            if let Some(r) = next(shard, &mut chunks) {
                order.push(Reverse((r.order, shard, self.next_seq(shard))));
                heads[shard] = Some(r);
            }
        }
    }

    /// Writes records of the end-of-input flush of shard `shard`, given in
    /// `RemovalOrder` after its `Flushing` mark (the single-threaded path).
    pub fn write_flushed(&mut self, shard: usize, records: Vec<ConnRecord>) {
        for r in records {
            self.report.flushed_at_end += 1;
            self.streamed[shard] += 1;
            self.write(&r);
        }
    }

    fn next_seq(&mut self, shard: usize) -> u64 {
        let seq = self.seq[shard];
        self.seq[shard] += 1;
        seq
    }

    /// Writes the rest once every message was taken.
    pub fn finish(mut self) -> MergeReport {
        // Every record a shard flushed was merged and written (or the run
        // is not clean: the conservation tests check it).
        self.report.clean &= self.flushed == self.streamed;
        // Every batch was settled (shards finish them all before their
        // flush); what is left is final and goes into the current files.
        self.write_held();
        let mut weirds = std::mem::take(&mut self.final_weirds);
        weirds.sort_by_key(|w| w.0);
        for (_, w) in weirds {
            self.write_weird(w);
        }
        // With `--rotate` the last files are renamed too.
        let rotating = self.rotation.is_some() && self.report.write_error.is_none();
        let r = self.log.finish(rotating);
        self.note(r);
        if let Some(w) = self.weird.as_mut() {
            let r = w.finish(rotating);
            self.note(r);
        }
        self.report
    }

    /// The outcome of a file operation: a renamed file is counted, an error
    /// stops the run.
    fn note(&mut self, r: Result<bool, FileError>) {
        match r {
            Ok(true) => self.report.rotated += 1,
            Ok(false) => {}
            Err((what, e)) => self.fail(what, e),
        }
    }

    /// SIGHUP: closes the logs (with `#close`) and opens them anew at the
    /// same paths, appending when a file is still there.
    fn reopen(&mut self) {
        self.report.reopened += 1;
        let r = self.log.reopen().map(|()| false);
        self.note(r);
        if let Some(w) = self.weird.as_mut() {
            let r = w.reopen().map(|()| false);
            self.note(r);
        }
    }

    /// With `--rotate`: when network time `t` passed a boundary, closes
    /// both logs and renames the files that hold rows.
    fn rotate_to(&mut self, t: Timestamp) {
        if self.report.write_error.is_some() {
            return;
        }
        let Some(clock) = self.rotation.as_mut() else {
            return;
        };
        let Some(start) = clock.passed(&chrono::Local, t) else {
            return;
        };
        let r = self.log.rotate(start);
        self.note(r);
        if let Some(w) = self.weird.as_mut() {
            let r = w.rotate(start);
            self.note(r);
        }
    }

    /// Keeps a shard's records until they are final. A shard sends them
    /// nearly in order (removals follow its clock; only records removed at
    /// the same time may come in another order), so the stable sort is
    /// about linear, and a batch usually goes on the end of what waits.
    fn hold(&mut self, shard: usize, mut records: Vec<ConnRecord>) {
        if records.is_empty() {
            return;
        }
        records.sort_by_key(|a| a.order);
        let q = &mut self.held[shard];
        if q.is_empty() {
            // Takes the batch's buffer as it is: no record is moved.
            *q = VecDeque::from(records);
            return;
        }
        let in_order = q.back().is_some_and(|b| b.order <= records[0].order);
        q.extend(records);
        if !in_order {
            // Stable: of equal orders, the earlier arrival stays first.
            q.make_contiguous().sort_by_key(|a| a.order);
        }
    }

    /// The shard whose next held record comes first, among those whose
    /// next record is final before `end` (removed while reading, before
    /// that time); with no `end`, among all. Ties go to the lower shard.
    fn next_held(&self, end: Option<Timestamp>) -> Option<usize> {
        let mut best: Option<(usize, &RemovalOrder)> = None;
        for (shard, q) in self.held.iter().enumerate() {
            let Some(r) = q.front() else {
                continue;
            };
            if end.is_some_and(|end| r.order.phase != 0 || r.order.at >= end) {
                continue;
            }
            if best.is_none_or(|(_, o)| r.order < *o) {
                best = Some((shard, &r.order));
            }
        }
        best.map(|(shard, _)| shard)
    }

    /// Writes every held record (the end of input).
    fn write_held(&mut self) {
        while let Some(shard) = self.next_held(None) {
            let r = self.held[shard].pop_front().expect("a front");
            self.write(&r);
        }
    }

    fn shard_done(&mut self, d: ShardDone) {
        self.flushed[d.shard] = d.flushed;
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
        let mut weirds = Vec::new();
        if self.weird.is_some() {
            weirds = batch.weirds;
            for o in outs {
                weirds.extend(o.weirds);
            }
            weirds.sort_by_key(|w| w.0);
        }
        self.write_in_time_order(batch.end, weirds);
        if let Some(end) = batch.end {
            // Later records are removed at `end` or after.
            self.rotate_to(end);
        }
    }

    /// Writes the held records final before `end` (none without an end:
    /// the batch moved no time), in their order, and weird.log rows (in
    /// capture order) merged by time, each after the rotation its time
    /// calls for, so that a boundary splits both logs at the same moment.
    fn write_in_time_order(
        &mut self,
        end: Option<Timestamp>,
        weirds: Vec<(WeirdKey, WeirdRecord)>,
    ) {
        let mut weirds = weirds.into_iter().map(|(_, w)| w).peekable();
        if let Some(end) = end {
            while let Some(shard) = self.next_held(Some(end)) {
                let r = self.held[shard].pop_front().expect("a front");
                while let Some(w) = weirds.next_if(|w| w.ts <= r.order.at) {
                    self.rotate_to(w.ts);
                    self.write_weird(w);
                }
                self.rotate_to(r.order.at);
                self.write(&r);
            }
        }
        for w in weirds {
            self.rotate_to(w.ts);
            self.write_weird(w);
        }
    }

    fn write(&mut self, r: &ConnRecord) {
        self.report.records += 1;
        *self.report.states.entry(r.conn_state.name()).or_insert(0) += 1;
        if self.report.write_error.is_none() {
            self.log.row(r.order.at);
            if let Err(e) = self.log.writer.write(r) {
                self.fail(self.log.name.clone(), e);
            }
        }
    }

    fn write_weird(&mut self, r: WeirdRecord) {
        if self.report.write_error.is_some() {
            return;
        }
        let Some(w) = self.weird.as_mut() else {
            return;
        };
        w.row(r.ts);
        if let Err(e) = w.writer.write(&r) {
            let name = w.name.clone();
            self.fail(name, e);
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

    use chrono::{FixedOffset, Utc};

    const SEC: i64 = 1_000_000;

    fn kolkata() -> FixedOffset {
        FixedOffset::east_opt(5 * 3600 + 1800).expect("+05:30")
    }

    #[test]
    fn rotated_names_follow_zeek() {
        let t = Timestamp::from_secs(1_300_000_000);
        assert_eq!(
            rotated_name_in(&Utc, "conn.log", t),
            "conn.2011-03-13-07-06-40.log"
        );
        assert_eq!(
            rotated_name_in(&kolkata(), "conn.log", t),
            "conn.2011-03-13-12-36-40.log"
        );
        assert_eq!(
            rotated_name_in(&Utc, "/tmp/x/weird.log", t),
            "/tmp/x/weird.2011-03-13-07-06-40.log"
        );
        assert_eq!(rotated_name_in(&Utc, "out", t), "out.2011-03-13-07-06-40");
    }

    #[test]
    fn boundaries_are_local_midnight_plus_intervals() {
        // 2026-11-29 22:10:00 UTC = 2026-11-30 03:40:00 +05:30.
        let t = 1_795_990_200 * SEC;
        let hour = 3600 * SEC;
        // UTC: the next full hour is 23:00 UTC; in Kolkata 04:00 local,
        // which is 22:30 UTC.
        assert_eq!(next_boundary(&Utc, t, hour), t + 50 * 60 * SEC);
        assert_eq!(next_boundary(&kolkata(), t, hour), t + 20 * 60 * SEC);
        assert_eq!(
            boundary_at_or_before(&kolkata(), t, hour),
            t - 40 * 60 * SEC
        );
        // On a boundary, the next one is a whole interval later.
        let b = t + 20 * 60 * SEC;
        assert_eq!(next_boundary(&kolkata(), b, hour), b + hour);
        assert_eq!(boundary_at_or_before(&kolkata(), b, hour), b);
        // 7 h does not divide a day: boundaries restart at local midnight
        // (03:40 -> 07:00 local).
        assert_eq!(
            next_boundary(&kolkata(), t, 7 * hour),
            t + (3 * 3600 + 20 * 60) * SEC
        );
        // Extreme times do not panic.
        let _ = next_boundary(&Utc, i64::MAX - 1, hour);
        let _ = boundary_at_or_before(&kolkata(), i64::MIN + 1, hour);
        let _ = rotated_name_in(&Utc, "conn.log", Timestamp::from_micros(i64::MAX));
    }

    #[test]
    fn the_clock_reports_each_boundary_passed_once() {
        let hour = 3600 * SEC;
        let t = 1_795_990_200 * SEC; // 22:10 UTC
        let mut c = RotationClock::new(hour);
        assert_eq!(c.passed(&Utc, Timestamp::from_micros(t)), None);
        assert_eq!(
            c.passed(&Utc, Timestamp::from_micros(t + 49 * 60 * SEC)),
            None
        );
        let b = Timestamp::from_micros(t + 50 * 60 * SEC);
        assert_eq!(c.passed(&Utc, b), Some(b));
        assert_eq!(c.passed(&Utc, b), None);
        // A gap of several intervals: one rotation, the new file starting
        // at the last boundary passed.
        let later = b.micros() + 5 * hour + 7 * SEC;
        assert_eq!(
            c.passed(&Utc, Timestamp::from_micros(later)),
            Some(Timestamp::from_micros(b.micros() + 5 * hour))
        );
    }

    #[test]
    fn a_rotated_name_in_use_gets_a_suffix() {
        let dir = std::env::temp_dir().join(format!("quartet-free-name-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let name = dir.join("conn.2026-11-24-01-00-00.log");
        let name = name.to_str().expect("utf-8");
        assert_eq!(free_name(name), name);
        std::fs::write(name, "x").expect("writing");
        let second = free_name(name);
        assert!(
            second.ends_with("conn.2026-11-24-01-00-00-2.log"),
            "{second}"
        );
        std::fs::write(&second, "x").expect("writing");
        assert!(free_name(name).ends_with("-3.log"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
