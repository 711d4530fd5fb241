//! The pipeline: a reader (this thread) runs capture -> BPF -> decode ->
//! defrag -> tunnel parents and deals the packets to `--threads` shards by
//! a commutative hash of their connection key; each shard owns a tracker
//! (`shard`), and one merger thread writes the records in one order
//! (`merge`), so the output is the same bytes for any number of shards.
//!
//! ```text
//! reader --batches--> shard 0..N --records, verdicts--> merger --> conn.log
//!        --plans, network time, weirds---------------->        --> weird.log
//! ```
//! Batches of frames, not packets, cross the bounded channels; with each
//! batch every shard gets the network time after every tick, so it fires
//! its timers when the single-threaded tracker would.
//!
//! The reader does only what needs every frame in order. A frame that
//! `quartet_decode::peek` recognises as one plain TCP or UDP packet (most
//! of them) is not decoded here: the reader takes its connection key,
//! ticks, and hands the raw bytes to the shard, which decodes them,
//! checksums included. Everything else (tunnels, fragments, other link
//! layers, frames that raise a weird) is decoded by the reader, so tunnel
//! parents, defragmentation and weird.log sampling keep one owner.
//!
//! With `--threads 1` there are no other threads: the reader decodes every
//! frame and drives the one tracker itself (`shard::Inline`) with the same
//! ticks, and merges and writes at the end of each batch, so the output is
//! the same without any hand-off between threads.
//!
//! Every frame read ends in exactly one place: a connection's packet count
//! or a named drop counter (`--stats` prints them). A shard's verdict on a
//! packet comes back to the merger, which settles the frame; a frame the
//! reader only peeked at carries one packet, and its shard settles it. A capture
//! fault stops reading but not writing: every connection tracked so far is
//! flushed.

use crate::feedback::{stderr_is_terminal, CountingReader, Feedback};
use crate::flags::{Input, Options};
use crate::merge::{
    LogOut, MergeMsg, MergeReport, Merger, PlanFrame, ReaderBatch, WeirdKey, WeirdOut,
};
use crate::shard::{self, Inline, Item, ShardBatch, ShardBuffers, ShardPacket, COPIED, DECODED};
use crate::walk::{self, WalkLinks, WalkedWindow};
use anyhow::{Context, Result};
use crossbeam_channel::{bounded, Receiver, Sender};
use quartet_capture::{BpfFilter, CaptureError, Frame, LiveEvent, LiveSource, LiveStats};
use quartet_decode::Transport;
use quartet_decode::{
    decode, decode_reassembled, peek, DecodeConfig, Decoded, FlowPeek, PacketMeta,
};
use quartet_record::{JsonWriter, Sink, TsvWriter, Uid};
use quartet_record::{WeirdRecord, WeirdWriter};
use quartet_track::defrag::{Defragmenter, FRAG_TIMEOUT};
use quartet_track::{flow_hash, Disposition, TrackConfig, TunnelUids};
use quartet_wire::{Addr, Timestamp};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Flags the signal handlers set (`main` registers them).
#[derive(Clone, Default)]
pub struct Signals {
    /// SIGINT or SIGTERM: stop reading, flush, exit 0.
    pub stop: Arc<AtomicBool>,
    /// SIGHUP: reopen the log files.
    pub hup: Arc<AtomicBool>,
}

/// Frames per batch. Small enough that the frames in flight (held in the
/// capture's buffers until their shard is done) stay near the caches:
/// 4096 kept 50 MB in flight on the mix and doubled the kernel's time
/// copying the file into cold buffers.
const BATCH: usize = 1024;
/// Frames per batch when the capture is mapped: no read buffers are held
/// in flight, so larger batches only save hand-offs (2 threads on the mix,
/// idle machine, mean of 6 runs: 558 ms at 1024, 514 at 4096, 470-490 at
/// 16384, 514 at 65536; churn 677, 624, 627-652, 713).
const BATCH_MAPPED: usize = 16384;
/// Batches in flight to each shard.
const QUEUE: usize = 4;
/// Windows of a shared walk handed out per shard ahead of the one the
/// reader takes next. One: a shard that is waiting for a batch walks the
/// window after next, and the reader walks the windows no shard has
/// started. More windows ahead let the shards walk more of the file, which
/// on two cores was 7% slower on small frames (churn) for 2% faster on
/// large ones (the mix) (docs/benchmarks.md).
const WALK_AHEAD: usize = 1;
/// Pages of a walked file are handed back in steps of at least this.
const WALK_RELEASE_STEP: usize = 4 << 20;

/// Why a frame was not counted in a connection (a drop counter's name).
pub type Reason = Cow<'static, str>;

/// What a run did.
pub struct Report {
    pub frames: u64,
    /// Frames with at least one packet counted in a connection.
    pub frames_counted: u64,
    /// Frames and packets not counted in any connection, by reason.
    pub drops: BTreeMap<Reason, u64>,
    pub tracker: quartet_track::TrackStats,
    pub weirds: BTreeMap<&'static str, u64>,
    pub records: u64,
    /// After the final flush no connection, timer or fragment was left.
    pub flushed_clean: bool,
    /// The capture could not be read to its end.
    pub input_error: Option<CaptureError>,
    /// Records written, by conn_state.
    pub states: BTreeMap<&'static str, u64>,
    /// Reading was stopped by SIGINT or SIGTERM.
    pub stopped_by_signal: bool,
    /// Connections still open when reading stopped, flushed to the log.
    pub flushed_at_end: u64,
    /// A live capture's kernel counters at the end.
    pub kernel: Option<LiveStats>,
    /// Wall-clock ticks of a quiet live link.
    pub clock_ticks: u64,
    /// Log files closed by `--rotate`, and reopenings on SIGHUP.
    pub rotated: u64,
    pub reopened: u64,
    /// Windows of a walk shared by the shards, and those the reader walked
    /// again (`walk`).
    pub walk_windows: u64,
    pub walk_by_reader: u64,
    pub walk_rewalked: u64,
}

impl Report {
    /// The short end-of-run summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let weirds: u64 = self.weirds.values().sum();
        let dropped: u64 = self.drops.values().sum();
        let states: Vec<String> = self
            .states
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            s,
            "summary: {} packets, {} connections ({}), {} weirds, {} frames dropped, {} evictions",
            self.frames,
            self.records,
            if states.is_empty() {
                "none".to_string()
            } else {
                states.join(", ")
            },
            weirds,
            dropped,
            self.tracker.evicted
        );
        if let Some(k) = self.kernel {
            let _ = writeln!(
                s,
                "summary: capture received {}, dropped {} by the kernel, {} by the interface",
                k.received, k.dropped, k.if_dropped
            );
        }
        if self.stopped_by_signal {
            let _ = writeln!(
                s,
                "summary: stopped by signal, {} open connections flushed",
                self.flushed_at_end
            );
        }
        s
    }

    pub fn stats_text(&self) -> String {
        let mut s = self.summary();
        let _ = writeln!(s, "frames read: {}", self.frames);
        let _ = writeln!(s, "frames counted in connections: {}", self.frames_counted);
        let _ = writeln!(
            s,
            "packets counted in connections: {}",
            self.tracker.counted
        );
        let _ = writeln!(s, "connections written: {}", self.records);
        let _ = writeln!(
            s,
            "connections created: {} removed: {}",
            self.tracker.conns_created, self.tracker.conns_removed
        );
        let _ = writeln!(
            s,
            "after flush: {}",
            if self.flushed_clean {
                "every table and timer empty"
            } else {
                "STATE LEFT BEHIND"
            }
        );
        for (k, v) in &self.drops {
            let _ = writeln!(s, "drop {k}: {v}");
        }
        for (k, v) in &self.weirds {
            let _ = writeln!(s, "weird {k}: {v}");
        }
        for (k, v) in &self.states {
            let _ = writeln!(s, "conn_state {k}: {v}");
        }
        let _ = writeln!(s, "evicted: {}", self.tracker.evicted);
        // TCP reuse diagnostics (docs/tcp-models.md): the stale-ACK episodes
        // are counted in both models, the rest in the strict model only.
        let t = &self.tracker;
        let _ = writeln!(
            s,
            "tcp stale peer state: {} setups delayed, {} us in total",
            t.stale_peer_setups, t.stale_setup_delay_us
        );
        let _ = writeln!(
            s,
            "tcp time_wait: {} reopened (assassinated), {} SYNs refused, {} segments absorbed",
            t.time_wait_reopened, t.stale_peer_syns, t.absorbed_time_wait
        );
        let _ = writeln!(s, "tcp rst outside window: {}", t.rst_outside_window);
        if let Some(k) = self.kernel {
            let _ = writeln!(s, "kernel received: {}", k.received);
            let _ = writeln!(s, "kernel dropped: {}", k.dropped);
            let _ = writeln!(s, "interface dropped: {}", k.if_dropped);
            let _ = writeln!(s, "clock ticks: {}", self.clock_ticks);
        }
        if self.stopped_by_signal {
            let _ = writeln!(s, "flushed by signal: {}", self.flushed_at_end);
        }
        if self.rotated > 0 {
            let _ = writeln!(s, "log files rotated: {}", self.rotated);
        }
        if self.reopened > 0 {
            let _ = writeln!(s, "logs reopened (SIGHUP): {}", self.reopened);
        }
        if self.walk_windows > 0 {
            let _ = writeln!(
                s,
                "walk windows: {}, walked by the reader: {}, walked again by the reader: {}",
                self.walk_windows, self.walk_by_reader, self.walk_rewalked
            );
        }
        let dropped: u64 = self.drops.values().sum();
        let _ = writeln!(
            s,
            "conservation: {} frames = {} counted + {} dropped: {}",
            self.frames,
            self.frames_counted,
            dropped,
            if self.conserved() { "ok" } else { "VIOLATED" }
        );
        s
    }

    /// Every frame read was counted in a connection or in a drop counter.
    pub fn conserved(&self) -> bool {
        self.frames == self.frames_counted + self.drops.values().sum::<u64>()
    }
}

/// A file created only when the first byte is written, as Zeek creates its
/// logs lazily.
struct LazyFile {
    path: String,
    file: Option<File>,
    /// Append to a file already there (reopened after SIGHUP).
    append: bool,
}

impl LazyFile {
    fn new(path: &str, append: bool) -> Self {
        LazyFile {
            path: path.to_string(),
            file: None,
            append,
        }
    }
}

impl Write for LazyFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.file.is_none() {
            self.file = Some(if self.append {
                File::options().create(true).append(true).open(&self.path)?
            } else {
                File::create(&self.path)?
            });
        }
        self.file.as_mut().expect("just created").write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

fn open_sink(opts: &Options, append: bool) -> Box<dyn Sink> {
    let out: Box<dyn Write> = if opts.output == "-" {
        Box::new(io::stdout())
    } else {
        Box::new(LazyFile::new(&opts.output, append))
    };
    if opts.json {
        Box::new(JsonWriter::new(out, opts.columns))
    } else {
        Box::new(TsvWriter::new(out, opts.columns))
    }
}

/// Where the reader takes frames from.
enum Source {
    File(Box<dyn quartet_capture::Source + Send>),
    Live(Box<LiveSource>),
}

type FileSource = Box<dyn quartet_capture::Source + Send>;
/// A file's size and the bytes read of it so far.
type ByteCounter = (u64, Arc<AtomicU64>);

/// Opens a capture file; with a byte counter for the progress bar when
/// one is drawn, and whether the reader feeds that counter itself (true
/// for a mapped file: its position in the mapping) or the reads do.
fn open_file(
    path: &str,
    progress: bool,
    map_any_size: bool,
) -> Result<(FileSource, Option<ByteCounter>, bool)> {
    let open = |path: &str| {
        if map_any_size && path != "-" {
            quartet_capture::open_mapped(path)
        } else {
            quartet_capture::open(path)
        }
    };
    if progress && path != "-" {
        let src = open(path)?;
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if src.is_mapped() && size > 0 {
            return Ok((src, Some((size, Arc::new(AtomicU64::new(0)))), true));
        }
        // Read (a small or gzipped file): count the bytes as they are read.
        if let Ok(file) = File::open(path) {
            if size > 0 {
                let count = Arc::new(AtomicU64::new(0));
                let reader = CountingReader {
                    inner: file,
                    count: count.clone(),
                };
                let src = quartet_capture::open_reader(path, Box::new(reader))?;
                return Ok((src, Some((size, count)), false));
            }
        }
    }
    Ok((open(path)?, None, false))
}

pub fn run(opts: &Options, signals: &Signals) -> Result<Report> {
    // A live capture's filter runs in the kernel.
    let filter = match (&opts.input, &opts.filter) {
        (Input::File(_), Some(expr)) => {
            Some(BpfFilter::new(expr).map_err(|e| anyhow::anyhow!("-f {expr}: {e}"))?)
        }
        _ => None,
    };
    let open_conns = Arc::new(AtomicI64::new(0));
    // The progress bar's byte count, when the reader sets it from its
    // position in a mapped file.
    let mut progress_at = None;
    let (mut source, feedback) = match &opts.input {
        Input::File(path) => {
            let (src, counter, fed_by_reader) =
                open_file(path, stderr_is_terminal(), opts.map_any_size)?;
            if fed_by_reader {
                progress_at = counter.as_ref().map(|c| c.1.clone());
            }
            (
                Source::File(src),
                Feedback::new(counter, opts.status_interval, open_conns.clone()),
            )
        }
        Input::Live(cfg) => (
            Source::Live(Box::new(LiveSource::open(cfg)?)),
            Feedback::new(None, opts.status_interval, open_conns.clone()),
        ),
    };
    let shards = opts.threads.max(1);
    let track = TrackConfig {
        likely_server_ports: opts.likely_server_ports.clone(),
        local_nets: opts.local_nets.clone(),
        uid_seed: opts.seed,
        weird_log: opts.weird_log.is_some(),
        tcp_model: opts.tcp_model,
        l2_addrs: opts.columns.l2,
        // Each shard holds its share of the limit.
        max_conns: opts.max_conns.div_ceil(shards),
    };
    let dcfg = DecodeConfig {
        ignore_checksums: opts.ignore_checksums,
    };
    let stop = AtomicBool::new(false);
    let hup = &*signals.hup;
    let read = |reader: &mut Reader, source: &mut Source| {
        match source {
            Source::File(src) => reader.read(src.as_mut()),
            Source::Live(src) => reader.read_live(src),
        }
        reader.feedback.finish();
    };
    let (reader, merged) = if shards == 1 {
        // One tracker: the reader runs it and writes the log itself.
        let engine = Engine::Inline(Box::new(InlineEngine {
            shard: Inline::new(track),
            merger: new_merger(opts, 1, &stop, hup),
            open_conns: open_conns.clone(),
        }));
        let mut reader = Reader::new(opts, filter, engine, &stop);
        reader.signal = &signals.stop;
        reader.feedback = feedback;
        reader.progress_at = progress_at;
        read(&mut reader, &mut source);
        let (reader, merged) = reader.close();
        (reader, merged.expect("the inline engine merges"))
    } else {
        // A mapped pcap file is walked by the shards (`walk`), unless a
        // filter has to see every frame in the reader.
        let windows = match (&source, &filter) {
            (Source::File(src), None) if opts.walk_window > 0 => {
                src.windows(opts.walk_window).map(|w| {
                    let claims = Arc::new(walk::Claims::new(w.count()));
                    (Arc::new(w), claims)
                })
            }
            _ => None,
        };
        std::thread::scope(|scope| {
            let (merge_tx, merge_rx) = bounded(QUEUE * (shards + 1));
            // The reader hands out at most this many windows at a time, so
            // neither channel ever blocks a shard.
            let (job_tx, job_rx) = bounded(WALK_AHEAD * shards);
            let (walked_tx, walked_rx) = bounded(WALK_AHEAD * shards);
            // The end-of-input flush of each shard streams through its own
            // small channel, so neither side ever holds all the open
            // connections' records at once (see merge.rs).
            let (flush_tx, flush_rx): (Vec<_>, Vec<_>) = (0..shards).map(|_| bounded(2)).unzip();
            let stop = &stop;
            let merger = spawn(scope, "merger".into(), move || {
                new_merger(opts, shards, stop, hup).run(merge_rx, flush_rx)
            });
            let (spent_tx, spent_rx) = bounded((QUEUE + 2) * shards);
            let mut inputs = Vec::with_capacity(shards);
            let mut workers = Vec::with_capacity(shards);
            let done: Vec<_> = (0..shards).map(|_| Arc::new(AtomicU64::new(0))).collect();
            for (id, flush) in flush_tx.into_iter().enumerate() {
                let (tx, rx) = bounded(QUEUE);
                let out = merge_tx.clone();
                let cfg = track.clone();
                let spent = spent_tx.clone();
                let open = open_conns.clone();
                let done = done[id].clone();
                let walk = windows.as_ref().map(|(w, claims)| WalkLinks {
                    windows: w.clone(),
                    claims: claims.clone(),
                    jobs: job_rx.clone(),
                    results: walked_tx.clone(),
                    dcfg,
                    shards,
                });
                workers.push(spawn(scope, format!("shard-{id}"), move || {
                    let links = shard::Links {
                        input: rx,
                        output: out,
                        flush,
                        spent,
                        done,
                        walk,
                    };
                    shard::run(id, cfg, dcfg, links, open)
                }));
                inputs.push(tx);
            }
            let engine = Engine::Sharded(Sharded {
                building: (0..shards).map(|_| ShardBuffers::default()).collect(),
                inputs,
                spent: spent_rx,
                merger: merge_tx,
                done,
            });
            drop((job_rx, walked_tx));
            let mut reader = Reader::new(opts, filter, engine, stop);
            reader.signal = &signals.stop;
            reader.feedback = feedback;
            reader.progress_at = progress_at;
            match &windows {
                Some((w, claims)) => {
                    reader.read_windowed(w, job_tx, &walked_rx, claims, shards);
                    reader.feedback.finish();
                }
                None => {
                    drop(job_tx);
                    read(&mut reader, &mut source);
                }
            }
            // Closing the channels ends the shards, then the merger.
            let (reader, _) = reader.close();
            for w in workers {
                if let Err(panic) = w.join() {
                    std::panic::resume_unwind(panic);
                }
            }
            let merged = match merger.join() {
                Ok(m) => m,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            (reader, merged)
        })
    };
    let MergeReport {
        records,
        frames_counted,
        drops,
        tracker,
        weirds,
        clean,
        states,
        flushed_at_end,
        rotated,
        reopened,
        write_error,
    } = merged;
    if let Some((name, e)) = write_error {
        return Err(e).context(format!("writing {name}"));
    }
    let mut report = Report {
        frames: reader.frames,
        frames_counted: frames_counted + reader.frames_counted,
        drops: reader.drops,
        tracker,
        weirds: reader.weirds,
        records,
        flushed_clean: clean && reader.defrag_clean,
        input_error: reader.input_error,
        states,
        stopped_by_signal: reader.stopped_by_signal,
        flushed_at_end,
        kernel: match &mut source {
            Source::Live(src) => Some(src.stats()),
            Source::File(_) => None,
        },
        clock_ticks: reader.clock_ticks,
        rotated,
        reopened,
        walk_windows: reader.walk_windows,
        walk_by_reader: reader.walk_by_reader,
        walk_rewalked: reader.walk_rewalked,
    };
    for (k, v) in drops {
        *report.drops.entry(k).or_insert(0) += v;
    }
    for (k, v) in weirds {
        *report.weirds.entry(k).or_insert(0) += v;
    }
    Ok(report)
}

/// The merger with the run's outputs.
fn new_merger<'a>(
    opts: &'a Options,
    shards: usize,
    stop: &'a AtomicBool,
    hup: &'a AtomicBool,
) -> Merger<'a> {
    let weird_sink = opts.weird_log.as_ref().map(|path| {
        let open = move |append: bool| {
            let file: Box<dyn Write> = Box::new(LazyFile::new(path, append));
            WeirdWriter::new(file)
        };
        WeirdOut {
            writer: open(false),
            name: path.clone(),
            reopen: Box::new(open),
        }
    });
    let log = LogOut {
        sink: open_sink(opts, false),
        name: opts.output.clone(),
        reopen: Box::new(move |append| open_sink(opts, append)),
        rotate_us: opts.rotate.map(|s| s as i64 * 1_000_000),
    };
    Merger::new(shards, log, weird_sink, stop, hup)
}

/// Starts a named thread (the names show in `top -H` and `perf`).
fn spawn<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: String,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, T> {
    std::thread::Builder::new()
        .name(name)
        .spawn_scoped(scope, f)
        .expect("a thread can be started")
}

/// What the reader counted itself.
struct ReaderReport {
    frames: u64,
    /// Frames counted in a connection (by the inline tracker; the merger
    /// settles those of shards).
    frames_counted: u64,
    /// Frames that carried no packet, by reason.
    drops: BTreeMap<Reason, u64>,
    /// Weirds raised before the trackers (decode, defrag).
    weirds: BTreeMap<&'static str, u64>,
    defrag_clean: bool,
    input_error: Option<CaptureError>,
    stopped_by_signal: bool,
    clock_ticks: u64,
    /// Windows of a walk shared by the shards, and those of them the
    /// reader walked again because their guessed start was wrong.
    walk_windows: u64,
    walk_by_reader: u64,
    walk_rewalked: u64,
}

/// Where the reader's packets go.
enum Engine<'a> {
    /// `--threads 1`: the reader tracks and writes itself.
    Inline(Box<InlineEngine<'a>>),
    /// Shards on their own threads, and a merger thread.
    Sharded(Sharded),
}

struct InlineEngine<'a> {
    shard: Inline,
    merger: Merger<'a>,
    open_conns: Arc<AtomicI64>,
}

struct Sharded {
    /// The batch being built, per shard.
    building: Vec<ShardBuffers>,
    inputs: Vec<Sender<ShardBatch>>,
    /// Buffers the shards are done with.
    spent: Receiver<ShardBuffers>,
    merger: Sender<MergeMsg>,
    /// Per shard, the `sent_at` of the last batch it finished.
    done: Vec<Arc<AtomicU64>>,
}

/// A hash of a TCP or UDP connection key that is the same for both
/// directions, for spreading connections over shards: every packet of a
/// connection lands on the same shard, whether the reader peeked at it or
/// decoded it.
#[inline]
pub(crate) fn flow_shard_hash(a: &Addr, pa: u16, b: &Addr, pb: u16, proto: u8) -> u64 {
    let end = |x: &Addr, p: u16| {
        let lo = u64::from_le_bytes(x.0[..8].try_into().expect("8 bytes"));
        let hi = u64::from_le_bytes(x.0[8..].try_into().expect("8 bytes"));
        lo.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ hi.wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
            ^ u64::from(p).wrapping_mul(0x1656_67b1_9e37_79f9)
    };
    // A sum does not depend on the direction.
    let mut h = end(a, pa).wrapping_add(end(b, pb)) ^ u64::from(proto);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The shard of `shards` a connection with shard hash `h` goes to: the
/// high bits of `h * shards` (a multiply, where `h % shards` divides, which
/// was an eighth of the walk's time on small frames).
#[inline]
pub(crate) fn shard_of(h: u64, shards: usize) -> usize {
    ((u128::from(h) * shards as u128) >> 64) as usize
}

/// The shard of `shards` that a frame with connection key `k` (`peek`)
/// goes to.
#[inline]
pub(crate) fn key_shard(k: &FlowPeek, shards: usize) -> usize {
    shard_of(
        flow_shard_hash(&k.src, k.sport, &k.dst, k.dport, k.proto),
        shards,
    )
}

/// The shard hash of a decoded packet: TCP and UDP as [`flow_shard_hash`]
/// (peeked frames are TCP or UDP), the rest by the tracker's key hash.
fn packet_shard_hash(m: &PacketMeta) -> u64 {
    match &m.transport {
        Transport::Tcp(t) => flow_shard_hash(&m.src, t.sport, &m.dst, t.dport, 6),
        Transport::Udp(u) => flow_shard_hash(&m.src, u.sport, &m.dst, u.dport, 17),
        _ => flow_hash(m),
    }
}

/// The reader: keeps network time, tunnel parents and fragments (all need
/// every packet in arrival order) and hands packets to the tracker: its
/// own with one thread, else the shards, to which the common frames go
/// undecoded (the reader only peeks at their connection key).
struct Reader<'a> {
    dcfg: DecodeConfig,
    filter: Option<BpfFilter>,
    tunnels: TunnelUids,
    /// The latest packet time `tunnels` saw, and the latest of every packet
    /// (`tunnels` sees only those that may concern a tunnel).
    tunnels_now: Option<Timestamp>,
    packets_now: Option<Timestamp>,
    // Fragments wait at most Zeek's frag_timeout, in at most 64 MiB.
    defrag: Defragmenter,
    decoded: Vec<Decoded>,
    weird_log: bool,
    /// Per-name counts of the weirds written to weird.log by the reader.
    net_weirds: BTreeMap<String, u64>,
    /// Network time: the running maximum of the times of every tick.
    now: Option<Timestamp>,
    engine: Engine<'a>,
    stop: &'a AtomicBool,
    /// Set by SIGINT or SIGTERM.
    signal: &'a AtomicBool,
    feedback: Feedback,
    // The batch being built.
    batch_frames: usize,
    times: Vec<Timestamp>,
    plan: Vec<PlanFrame>,
    plan_shards: Vec<u32>,
    weird_rows: Vec<(WeirdKey, WeirdRecord)>,
    /// The end of the last frame read from a mapped capture (its offset in
    /// the mapping).
    mapped_at: u64,
    /// Leave every window of a shared walk to the shards (tests).
    walk_shards_only: bool,
    /// The progress bar's count of bytes, set from `mapped_at` (a mapped
    /// file, whose bytes are not read through a counter).
    progress_at: Option<Arc<AtomicU64>>,
    report: ReaderReport,
}

impl<'a> Reader<'a> {
    fn new(
        opts: &Options,
        filter: Option<BpfFilter>,
        engine: Engine<'a>,
        stop: &'a AtomicBool,
    ) -> Self {
        Reader {
            dcfg: DecodeConfig {
                ignore_checksums: opts.ignore_checksums,
            },
            filter,
            tunnels: TunnelUids::new(opts.seed),
            tunnels_now: None,
            packets_now: None,
            defrag: Defragmenter::new(FRAG_TIMEOUT, 64 << 20),
            decoded: Vec::with_capacity(4),
            weird_log: opts.weird_log.is_some(),
            net_weirds: BTreeMap::new(),
            now: None,
            engine,
            stop,
            signal: stop,
            feedback: Feedback::new(None, None, Arc::default()),
            batch_frames: 0,
            times: Vec::with_capacity(BATCH),
            plan: Vec::new(),
            plan_shards: Vec::new(),
            weird_rows: Vec::new(),
            mapped_at: 0,
            walk_shards_only: opts.walk_shards_only,
            progress_at: None,
            report: ReaderReport {
                frames: 0,
                frames_counted: 0,
                drops: BTreeMap::new(),
                weirds: BTreeMap::new(),
                defrag_clean: true,
                input_error: None,
                stopped_by_signal: false,
                clock_ticks: 0,
                walk_windows: 0,
                walk_by_reader: 0,
                walk_rewalked: 0,
            },
        }
    }

    /// A signal asked to stop.
    fn signaled(&mut self) -> bool {
        if self.signal.load(Ordering::Relaxed) {
            self.report.stopped_by_signal = true;
            return true;
        }
        false
    }

    /// Reads a live capture until a signal, a capture fault or a write
    /// error. A batch goes out at least every tick period, and a clock tick
    /// moves network time to the wall clock so a quiet link still expires
    /// connections.
    fn read_live(&mut self, source: &mut LiveSource) {
        const MAX_DELAY: Duration = Duration::from_millis(250);
        let mut sent = Instant::now();
        loop {
            if self.signaled() {
                break;
            }
            match source.next_event() {
                Ok(LiveEvent::Frame(frame)) => {
                    self.frame(&frame);
                    self.batch_frames += 1;
                }
                Ok(LiveEvent::Tick(now)) => {
                    self.report.clock_ticks += 1;
                    self.tick(now);
                }
                Err(e) => {
                    self.report.input_error = Some(e);
                    break;
                }
            }
            if self.batch_frames >= BATCH || sent.elapsed() >= MAX_DELAY {
                sent = Instant::now();
                if (!self.times.is_empty() || self.batch_frames > 0) && !self.send_batch() {
                    break;
                }
            }
            if self.feedback.active() {
                let frames = self.report.frames;
                self.feedback.update(frames, || {
                    let s = source.stats();
                    Some((s.dropped, s.if_dropped))
                });
            }
        }
    }

    /// Reads to the end of input, a capture fault, a signal or a write error.
    fn read(&mut self, source: &mut dyn quartet_capture::Source) {
        let feedback = self.feedback.active();
        let mut batch = BATCH;
        loop {
            if self.signaled() {
                break;
            }
            match source.next_frame() {
                Ok(Some(frame)) => {
                    if let Some(sh) = &frame.shared {
                        if matches!(**sh.buffer, quartet_capture::Chunk::Mapped(_)) {
                            batch = BATCH_MAPPED;
                            self.mapped_at = (sh.at + frame.data.len()) as u64;
                        }
                    }
                    self.frame(&frame)
                }
                Ok(None) => break,
                Err(e) => {
                    self.report.input_error = Some(e);
                    break;
                }
            }
            self.batch_frames += 1;
            if self.batch_frames >= batch {
                if !self.send_batch() {
                    break;
                }
                if let Some(floor) = self.done_floor() {
                    source.release_floor(floor);
                }
                if feedback {
                    self.progress();
                }
            }
        }
    }

    /// Reads a mapped pcap file whose walk the shards share (`walk`): hands
    /// out windows to walk, `WALK_AHEAD` per shard ahead of the one it
    /// needs next, and takes them back in file order, each checked to start
    /// where the one before it ended. A window no shard has started yet (or
    /// whose guessed start was wrong) it walks itself, as a shard would:
    /// whoever walks a frame verifies its checksum. Stops as `read` does.
    fn read_windowed(
        &mut self,
        windows: &quartet_capture::Windows,
        jobs: Sender<usize>,
        walked: &Receiver<WalkedWindow>,
        claims: &walk::Claims,
        shards: usize,
    ) {
        let count = windows.count();
        let ahead = WALK_AHEAD * shards;
        let buffer = windows.buffer();
        let data: &[u8] = buffer;
        let linktype = windows.linktype();
        // Walked windows not yet taken: `pending[i]` is window `next + i`.
        let mut pending: std::collections::VecDeque<Option<WalkedWindow>> =
            std::collections::VecDeque::new();
        let (mut sent, mut next) = (0, 0);
        let mut expected = windows.first();
        let mut released = 0usize;
        while next < count {
            if self.signaled() {
                break;
            }
            // Never waits: jobs for windows the reader walked itself stay in
            // the channel until a shard takes and drops them, and a full
            // channel must not hold up the reader while the shards are busy.
            while sent < count.min(next + ahead) && jobs.try_send(sent).is_ok() {
                sent += 1;
            }
            self.report.walk_windows += 1;
            let window = loop {
                if let Some(Some(_)) = pending.front() {
                    break pending.pop_front().flatten();
                }
                if !self.walk_shards_only && claims.claim(next) {
                    // No shard has started it.
                    pending.pop_front();
                    self.report.walk_by_reader += 1;
                    break None;
                }
                match walked.recv() {
                    Ok(w) => {
                        let i = w.k - next;
                        if pending.len() <= i {
                            pending.resize_with(i + 1, || None);
                        }
                        pending[i] = Some(w);
                    }
                    // No shard is walking any more (one has failed).
                    Err(_) => {
                        pending.pop_front();
                        break None;
                    }
                }
            };
            let (end, error) = match window {
                Some(w) if w.from == expected => {
                    for f in &w.frames {
                        // As `read`: a signal stops before the next frame.
                        if self.signaled() {
                            return;
                        }
                        let (at, len) = (f.at as usize, f.len as usize);
                        let frame = Frame {
                            ts: f.ts,
                            linktype,
                            wire_len: f.wire_len,
                            data: &data[at..at + len],
                            shared: Some(quartet_capture::Shared { buffer, at }),
                        };
                        self.walked_frame(&frame, f.route, f.sum);
                        if !self.walked_one(windows, (at + len) as u64, &mut released) {
                            return;
                        }
                    }
                    (w.end, w.error)
                }
                other => {
                    if other.is_some() {
                        self.report.walk_rewalked += 1;
                    }
                    // Walked here, from where the window starts for certain.
                    let mut walk = windows.walk(next, expected);
                    let error = loop {
                        if self.signaled() {
                            return;
                        }
                        match walk.next_frame() {
                            Ok(Some(frame)) => {
                                // The walk prefetched the whole frame into
                                // this core's cache: its checksum is
                                // verified here, not read again by its shard.
                                let (route, sum) = walk::route(&self.dcfg, &frame, shards);
                                self.walked_frame(&frame, route, sum);
                                let end = frame.shared.map_or(0, |s| s.at) + frame.data.len();
                                if !self.walked_one(windows, end as u64, &mut released) {
                                    return;
                                }
                            }
                            Ok(None) => break None,
                            Err(e) => break Some(e),
                        }
                    };
                    (walk.position(), error)
                }
            };
            if let Some(e) = error {
                self.report.input_error = Some(e);
                break;
            }
            expected = end;
            next += 1;
        }
        if next == count {
            // As `read`, which looks once more before it finds the end.
            self.signaled();
        }
    }

    /// After each frame of a window: the batch goes out when full, pages no
    /// one reads again are handed back. False when the run is to stop.
    #[inline]
    fn walked_one(
        &mut self,
        windows: &quartet_capture::Windows,
        frame_end: u64,
        released: &mut usize,
    ) -> bool {
        self.mapped_at = frame_end;
        self.batch_frames += 1;
        if self.batch_frames < BATCH_MAPPED {
            return true;
        }
        if !self.send_batch() {
            return false;
        }
        // The windows being walked lie above the reader, so above the floor.
        if let Some(floor) = self.done_floor() {
            let floor = floor as usize;
            if floor >= *released + WALK_RELEASE_STEP {
                windows.release(*released, floor);
                *released = floor;
            }
        }
        if self.feedback.active() {
            self.progress();
        }
        true
    }

    /// Where in a mapped capture every shard has finished its batches: the
    /// pages below are read by no one again. `None` with no shards.
    fn done_floor(&self) -> Option<u64> {
        match &self.engine {
            Engine::Sharded(s) => Some(
                s.done
                    .iter()
                    .map(|d| d.load(Ordering::Acquire))
                    .min()
                    .unwrap_or(0),
            ),
            Engine::Inline(_) => None,
        }
    }

    /// Updates the progress bar and the status line of a file read.
    fn progress(&mut self) {
        if let Some(at) = &self.progress_at {
            at.store(self.mapped_at, Ordering::Relaxed);
        }
        self.feedback.update(self.report.frames, || None);
    }

    /// Sends the last batch and closes every channel; with the inline
    /// engine, flushes its tracker and finishes the log.
    fn close(mut self) -> (ReaderReport, Option<MergeReport>) {
        if self.batch_frames > 0 || !self.times.is_empty() {
            self.send_batch();
        }
        // Fragments of datagrams that never completed were counted as held
        // when their frames were read; the buffers are released here.
        self.defrag.clear();
        self.report.defrag_clean = self.defrag.is_empty();
        match self.engine {
            Engine::Inline(e) => {
                let InlineEngine {
                    shard, mut merger, ..
                } = *e;
                let done = shard.finish(self.now, &mut merger);
                merger.take(MergeMsg::Done(done));
                (self.report, Some(merger.finish()))
            }
            // Dropping the senders ends the shards.
            Engine::Sharded(_) => (self.report, None),
        }
    }

    /// Hands the batch to every shard and its plan to the merger; false
    /// when the run is to stop (the output cannot be written).
    fn send_batch(&mut self) -> bool {
        self.batch_frames = 0;
        // The next plan has room for a whole batch (a frame has one entry,
        // and usually one packet).
        let frames = Vec::with_capacity(BATCH);
        let shards = Vec::with_capacity(self.plan_shards.len().max(BATCH));
        let plan = ReaderBatch {
            end: self.now,
            frames: std::mem::replace(&mut self.plan, frames),
            shards: std::mem::replace(&mut self.plan_shards, shards),
            weirds: std::mem::take(&mut self.weird_rows),
        };
        match &mut self.engine {
            Engine::Inline(e) => {
                self.times.clear();
                let out = e.shard.batch_out(&e.open_conns);
                e.merger.take(MergeMsg::Reader(plan));
                e.merger.take(MergeMsg::Shard(out));
            }
            Engine::Sharded(s) => {
                let times: Arc<[Timestamp]> = Arc::from(&self.times[..]);
                self.times.clear();
                for (tx, building) in s.inputs.iter().zip(s.building.iter_mut()) {
                    let mut fresh = s.spent.try_recv().unwrap_or_default();
                    fresh.reserve_like(building);
                    let batch = ShardBatch {
                        buffers: std::mem::replace(building, fresh),
                        times: times.clone(),
                        sent_at: self.mapped_at,
                    };
                    if tx.send(batch).is_err() {
                        return false;
                    }
                }
                if s.merger.send(MergeMsg::Reader(plan)).is_err() {
                    return false;
                }
            }
        }
        !self.stop.load(Ordering::Relaxed)
    }

    /// Network time moves at every frame item the single-threaded tracker
    /// saw (a packet, a fragment, a dropped frame): a tick.
    fn tick(&mut self, ts: Timestamp) -> u32 {
        let now = match self.now {
            Some(n) if n >= ts => n,
            _ => ts,
        };
        self.now = Some(now);
        self.times.push(now);
        if let Engine::Inline(e) = &mut self.engine {
            e.shard.tick(now);
        }
        (self.times.len() - 1) as u32
    }

    fn drop_frame(&mut self, why: Reason) {
        *self.report.drops.entry(why).or_insert(0) += 1;
    }

    /// The tunnel parent of a packet, from `tunnels`, which sees every
    /// packet that may be or be inside a tunnel. Others only move its
    /// clock; an older packet after them brings it up to date first.
    fn observe(&mut self, m: &PacketMeta) -> Option<Uid> {
        let latest = self.packets_now;
        if latest.is_none_or(|t| m.ts > t) {
            self.packets_now = Some(m.ts);
        }
        if m.encap.is_empty() && !matches!(m.transport, Transport::Udp(_)) {
            return None;
        }
        if let Some(t) = latest {
            if m.ts < t && self.tunnels_now.is_none_or(|s| s < t) {
                let clock = PacketMeta {
                    ts: t,
                    ..PacketMeta::default()
                };
                self.tunnels.observe(&clock);
                self.tunnels_now = Some(t);
            }
        }
        if self.tunnels_now.is_none_or(|s| m.ts > s) {
            self.tunnels_now = Some(m.ts);
        }
        self.tunnels.observe(m)
    }

    fn frame(&mut self, frame: &Frame<'_>) {
        let frame_no = self.report.frames;
        self.report.frames += 1;
        if !self.admit(frame) {
            return;
        }
        if let Engine::Sharded(s) = &self.engine {
            if let Some(k) = peek(&self.dcfg, frame.linktype, frame.wire_len, frame.data) {
                // One plain TCP or UDP packet: its shard decodes it.
                let shard = key_shard(&k, s.building.len());
                self.hand_on(frame, frame_no, shard, None);
                return;
            }
        }
        self.decode_frame(frame, frame_no);
    }

    /// A frame a shard walked ([`walk::Walked`]), with the shard `peek` gave
    /// it to or [`walk::DECODE`], and its checksum verdict if found.
    fn walked_frame(&mut self, frame: &Frame<'_>, route: u32, sum: Option<bool>) {
        let frame_no = self.report.frames;
        self.report.frames += 1;
        if !self.admit(frame) {
            return;
        }
        if route == walk::DECODE {
            self.decode_frame(frame, frame_no);
        } else {
            self.hand_on(frame, frame_no, route as usize, sum);
        }
    }

    /// False (and the frame counted as dropped) for a frame without bytes
    /// or one the BPF filter refuses.
    #[inline]
    fn admit(&mut self, frame: &Frame<'_>) -> bool {
        if frame.data.is_empty() || frame.wire_len == 0 {
            self.drop_frame(Cow::Borrowed("empty_pcap_header"));
            return false;
        }
        if let Some(f) = self.filter.as_mut() {
            if !f.matches(frame) {
                self.drop_frame(Cow::Borrowed("bpf_filtered"));
                return false;
            }
        }
        true
    }

    /// Hands a frame `peek` took, undecoded, to `shard`, with its tick.
    #[inline]
    fn hand_on(&mut self, frame: &Frame<'_>, frame_no: u64, shard: usize, sum: Option<bool>) {
        let tick = self.tick(frame.ts);
        if self.packets_now.is_none_or(|t| frame.ts > t) {
            self.packets_now = Some(frame.ts);
        }
        let Engine::Sharded(s) = &mut self.engine else {
            unreachable!("only shards take undecoded frames")
        };
        let b = &mut s.building[shard];
        // The frame stays in the capture's buffer, which the batch
        // holds; only a source without one has it copied.
        let (chunk, at) = match frame.shared {
            Some(sh) => {
                if !b.chunks.last().is_some_and(|c| Arc::ptr_eq(c, sh.buffer)) {
                    b.chunks.push(sh.buffer.clone());
                }
                ((b.chunks.len() - 1) as u32, sh.at as u64)
            }
            None => {
                let at = b.bytes.len() as u64;
                b.bytes.extend_from_slice(frame.data);
                (COPIED, at)
            }
        };
        b.items.push(Item {
            frame: frame_no,
            ts: frame.ts,
            tick,
            len: frame.data.len() as u32,
            wire_len: frame.wire_len,
            linktype: frame.linktype,
            chunk,
            at,
            sum,
        });
        // The shard settles the frame itself: it is in no plan.
    }

    /// The full decode of a frame, in the reader.
    fn decode_frame(&mut self, frame: &Frame<'_>, frame_no: u64) {
        let mut decoded = std::mem::take(&mut self.decoded);
        decoded.clear();
        decode(
            &self.dcfg,
            frame.ts,
            frame.linktype,
            frame.wire_len,
            frame.data,
            &mut decoded,
        );
        if let ([Decoded::Packet(m)], Engine::Inline(e)) = (decoded.as_slice(), &mut self.engine) {
            // The common case with one tracker: one packet, its verdict is
            // the frame's.
            let now = match self.now {
                Some(n) if n >= m.ts => n,
                _ => m.ts,
            };
            self.now = Some(now);
            self.times.push(now);
            e.shard.tick(now);
            let tick = (self.times.len() - 1) as u32;
            let parent = if m.encap.is_empty() && !matches!(m.transport, Transport::Udp(_)) {
                if self.packets_now.is_none_or(|t| m.ts > t) {
                    self.packets_now = Some(m.ts);
                }
                None
            } else {
                self.observe(m)
            };
            let Engine::Inline(e) = &mut self.engine else {
                unreachable!("matched above")
            };
            match e.shard.packet(m, parent, now, frame_no, tick) {
                Disposition::Counted => self.report.frames_counted += 1,
                Disposition::Dropped(why) => self.drop_frame(Cow::Borrowed(why)),
            }
            self.decoded = decoded;
            return;
        }
        // A frame counts once: in a connection if any packet it carried was
        // counted there, else under the reason its first item was dropped
        // (a shard's verdict when that item was a packet).
        let mut first: Option<Option<Reason>> = None;
        let mut packets = 0u32;
        let mut counted = false;
        // Completed datagrams are decoded onto the end of the same list.
        let mut i = 0;
        while i < decoded.len() {
            i += 1;
            let dropped: Reason = match &decoded[i - 1] {
                Decoded::Packet(meta) => {
                    let tick = self.tick(meta.ts);
                    let parent = self.observe(meta);
                    packets += 1;
                    match &mut self.engine {
                        Engine::Inline(e) => {
                            let now = self.now.unwrap_or(meta.ts);
                            match e.shard.packet(meta, parent, now, frame_no, tick) {
                                Disposition::Counted => counted = true,
                                Disposition::Dropped(why) => {
                                    first.get_or_insert(Some(Cow::Borrowed(why)));
                                }
                            }
                        }
                        Engine::Sharded(s) => {
                            let h = packet_shard_hash(meta);
                            let shard = shard_of(h, s.building.len());
                            let b = &mut s.building[shard];
                            b.items.push(Item {
                                frame: frame_no,
                                ts: meta.ts,
                                tick,
                                len: DECODED,
                                wire_len: 0,
                                linktype: 0,
                                chunk: 0,
                                at: 0,
                                sum: None,
                            });
                            b.metas.push(ShardPacket {
                                meta: *meta,
                                parent,
                            });
                            self.plan_shards.push(shard as u32);
                        }
                    }
                    first.get_or_insert(None);
                    continue;
                }
                Decoded::Notice(w) => {
                    let w = *w;
                    *self.report.weirds.entry(w.name).or_insert(0) += 1;
                    self.net_weird(frame_no, frame.ts, weird_name(&w));
                    continue;
                }
                Decoded::Fragment(_) => {
                    let Decoded::Fragment(frag) =
                        std::mem::replace(&mut decoded[i - 1], Decoded::NotIp)
                    else {
                        unreachable!("matched a fragment")
                    };
                    self.tick(frame.ts);
                    self.defrag.expire(frame.ts);
                    let outcome = self.defrag.add(frag, frame.ts);
                    for w in outcome.weirds() {
                        *self.report.weirds.entry(w).or_insert(0) += 1;
                        self.net_weird(frame_no, frame.ts, Cow::Borrowed(w));
                    }
                    if let Some((head, payload)) = outcome.complete {
                        decode_reassembled(&self.dcfg, frame.ts, &head, &payload, &mut decoded);
                        // The frame's disposition is that of the datagram.
                        continue;
                    }
                    Cow::Borrowed(if outcome.dropped {
                        "fragment_dropped"
                    } else {
                        "fragment_held"
                    })
                }
                Decoded::Weird(w) => {
                    let w = *w;
                    // The frame advances network time even when it is dropped.
                    self.tick(frame.ts);
                    *self.report.weirds.entry(w.name).or_insert(0) += 1;
                    let name = weird_name(&w);
                    self.net_weird(frame_no, frame.ts, name.clone());
                    name
                }
                Decoded::NotIp => {
                    self.tick(frame.ts);
                    Cow::Borrowed("not_ip")
                }
                Decoded::NoConn(what) => {
                    let what = *what;
                    self.tick(frame.ts);
                    Cow::Borrowed(what)
                }
                Decoded::Tunnel { .. } => {
                    self.tick(frame.ts);
                    Cow::Borrowed("tunnel_not_decapsulated")
                }
            };
            first.get_or_insert(Some(dropped));
        }
        self.decoded = decoded;
        let first_drop = first.flatten();
        if counted {
            self.report.frames_counted += 1;
        } else if packets > 0 && matches!(self.engine, Engine::Sharded(_)) {
            // The shards' verdicts settle the frame, in the merger.
            self.plan.push(PlanFrame {
                first_drop,
                packets,
            });
        } else {
            self.drop_frame(first_drop.unwrap_or(Cow::Borrowed("no_packet")));
        }
    }

    /// Queues a weird that belongs to no connection, sampled as Zeek
    /// samples them: the first 25 of a name, then one in every 1000.
    fn net_weird(&mut self, frame: u64, ts: Timestamp, name: Reason) {
        if !self.weird_log {
            return;
        }
        let n = self.net_weirds.entry(name.to_string()).or_insert(0);
        *n += 1;
        if *n <= 25 || *n % 1000 == 0 {
            let key = WeirdKey {
                frame,
                class: 0,
                tick: 0,
                n: self.weird_rows.len() as u32,
            };
            self.weird_rows.push((
                key,
                WeirdRecord {
                    ts,
                    uid: None,
                    id: None,
                    name: name.into_owned(),
                    addl: None,
                    notice: false,
                    peer: "quartet".to_string(),
                    source: None,
                },
            ));
        }
    }
}

/// A decode weird's name, with Zeek's `_in_tunnel` suffix when it has one.
fn weird_name(w: &quartet_decode::Weird) -> Reason {
    if w.in_tunnel {
        Cow::Owned(w.name())
    } else {
        Cow::Borrowed(w.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir)
            .expect("readable directory")
            .flatten()
        {
            let p = e.path();
            if p.is_dir() {
                collect(&p, out);
            } else {
                out.push(p);
            }
        }
    }

    /// On every frame of the Zeek trace collection: `decode` gives what the
    /// layered decoder gives, and a frame `peek` takes is one plain TCP or
    /// UDP packet with that key, whose shard is the one its decoded form
    /// would get.
    #[test]
    fn peeked_frames_decode_to_their_key_on_every_trace() {
        let dir = quartet_testkit::shared_path("zeek-traces");
        let mut traces = Vec::new();
        collect(&dir, &mut traces);
        assert!(traces.len() > 100, "the trace collection is at {dir:?}");
        let (mut frames, mut peeked) = (0u64, 0u64);
        let (mut out, mut layered) = (Vec::new(), Vec::new());
        for t in traces {
            let Ok(mut src) = quartet_capture::open(&t.to_string_lossy()) else {
                continue;
            };
            while let Ok(Some(f)) = src.next_frame() {
                frames += 1;
                for ignore_checksums in [false, true] {
                    let cfg = DecodeConfig { ignore_checksums };
                    out.clear();
                    layered.clear();
                    decode(&cfg, f.ts, f.linktype, f.wire_len, f.data, &mut out);
                    let lt = f.linktype;
                    quartet_decode::decode_layered(
                        &cfg,
                        f.ts,
                        lt,
                        f.wire_len,
                        f.data,
                        &mut layered,
                    );
                    assert_eq!(out, layered, "{t:?}");
                    let Some(k) = peek(&cfg, f.linktype, f.wire_len, f.data) else {
                        continue;
                    };
                    peeked += u64::from(!ignore_checksums);
                    let [Decoded::Packet(m)] = out.as_slice() else {
                        panic!("{t:?}: peek {k:?}, decoded {out:?}");
                    };
                    assert!(m.encap.is_empty(), "{t:?}: {m:?}");
                    assert_eq!(
                        packet_shard_hash(m),
                        flow_shard_hash(&k.src, k.sport, &k.dst, k.dport, k.proto),
                        "{t:?}: {m:?}"
                    );
                }
            }
        }
        // Most frames of real traffic take the short way.
        assert!(peeked * 2 > frames, "{peeked} of {frames} frames peeked");
    }

    #[test]
    fn the_shard_hash_ignores_direction() {
        let a = Addr::v4([10, 0, 0, 1]);
        let b = Addr::v6([0x20, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(
            flow_shard_hash(&a, 1234, &b, 80, 6),
            flow_shard_hash(&b, 80, &a, 1234, 6)
        );
        assert_ne!(
            flow_shard_hash(&a, 1234, &b, 80, 6),
            flow_shard_hash(&a, 1234, &b, 80, 17)
        );
    }
}
