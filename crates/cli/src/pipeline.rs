//! The single-threaded pipeline: capture -> BPF -> decode -> track -> sink.
//!
//! Every frame read ends in exactly one place: a connection's packet count
//! or a named drop counter (`--stats` prints them). A capture fault stops
//! reading but not writing: every connection tracked so far is flushed.

use crate::flags::Options;
use anyhow::{Context, Result};
use quartet_capture::{BpfFilter, CaptureError};
use quartet_decode::{decode, DecodeConfig, Decoded};
use quartet_record::{ConnRecord, JsonWriter, Sink, TsvWriter};
use quartet_track::{TrackConfig, Tracker};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write};

/// What a run did.
pub struct Report {
    pub frames: u64,
    /// Frames and packets not counted in any connection, by reason.
    pub drops: BTreeMap<String, u64>,
    pub tracker: quartet_track::TrackStats,
    pub weirds: BTreeMap<&'static str, u64>,
    pub records: u64,
    /// The capture could not be read to its end.
    pub input_error: Option<CaptureError>,
}

impl Report {
    pub fn stats_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "frames read: {}", self.frames);
        let _ = writeln!(
            s,
            "packets counted in connections: {}",
            self.tracker.counted
        );
        let _ = writeln!(s, "connections written: {}", self.records);
        let t = &self.tracker;
        let _ = writeln!(s, "drop bad_tcp_header: {}", t.dropped_bad_header);
        let _ = writeln!(s, "drop bad_checksum: {}", t.dropped_bad_checksum);
        let _ = writeln!(s, "drop icmp_incomplete: {}", t.icmp_incomplete);
        for (k, v) in &self.drops {
            let _ = writeln!(s, "drop {k}: {v}");
        }
        for (k, v) in &self.weirds {
            let _ = writeln!(s, "weird {k}: {v}");
        }
        s
    }
}

/// A file created only when the first byte is written, as Zeek creates its
/// logs lazily.
struct LazyFile {
    path: String,
    file: Option<File>,
}

impl Write for LazyFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.file.is_none() {
            self.file = Some(File::create(&self.path)?);
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

fn open_sink(opts: &Options) -> Box<dyn Sink> {
    let out: Box<dyn Write> = if opts.output == "-" {
        Box::new(io::stdout())
    } else {
        Box::new(LazyFile {
            path: opts.output.clone(),
            file: None,
        })
    };
    if opts.json {
        Box::new(JsonWriter::new(out, opts.columns))
    } else {
        Box::new(TsvWriter::new(out, opts.columns))
    }
}

pub fn run(opts: &Options) -> Result<Report> {
    let mut filter = match &opts.filter {
        Some(expr) => Some(BpfFilter::new(expr).map_err(|e| anyhow::anyhow!("-f {expr}: {e}"))?),
        None => None,
    };
    let mut source = quartet_capture::open(&opts.read)?;
    let mut sink = open_sink(opts);
    let mut tracker = Tracker::new(TrackConfig {
        likely_server_ports: opts.likely_server_ports.clone(),
        local_nets: opts.local_nets.clone(),
        uid_seed: opts.seed,
    });
    let dcfg = DecodeConfig {
        ignore_checksums: opts.ignore_checksums,
    };
    let mut report = Report {
        frames: 0,
        drops: BTreeMap::new(),
        tracker: Default::default(),
        weirds: BTreeMap::new(),
        records: 0,
        input_error: None,
    };
    let mut decoded = Vec::with_capacity(4);
    let mut write_err: Option<io::Error> = None;
    let mut records = 0u64;
    let mut emit = |r: ConnRecord| {
        if write_err.is_none() {
            if let Err(e) = sink.write(&r) {
                write_err = Some(e);
            }
        }
        records += 1;
    };
    let drop = |drops: &mut BTreeMap<String, u64>, why: &str| {
        *drops.entry(why.to_string()).or_insert(0) += 1;
    };

    loop {
        let frame = match source.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                report.input_error = Some(e);
                break;
            }
        };
        report.frames += 1;
        if frame.data.is_empty() || frame.wire_len == 0 {
            drop(&mut report.drops, "empty_pcap_header");
            continue;
        }
        if let Some(f) = filter.as_mut() {
            if !f.matches(&frame) {
                drop(&mut report.drops, "bpf_filtered");
                continue;
            }
        }
        decoded.clear();
        decode(
            &dcfg,
            frame.ts,
            frame.linktype,
            frame.wire_len,
            frame.data,
            &mut decoded,
        );
        for d in &decoded {
            match d {
                Decoded::Packet(m) => tracker.process(m, &mut emit),
                Decoded::Weird(w) => {
                    // The frame advances network time even when it is dropped.
                    tracker.advance(frame.ts, &mut emit);
                    drop(&mut report.drops, &w.name());
                }
                Decoded::Notice(w) => {
                    *report.weirds.entry(w.name).or_insert(0) += 1;
                }
                Decoded::NotIp => {
                    tracker.advance(frame.ts, &mut emit);
                    drop(&mut report.drops, "not_ip");
                }
                Decoded::NoConn(what) => {
                    tracker.advance(frame.ts, &mut emit);
                    drop(&mut report.drops, what);
                }
                Decoded::Tunnel { .. } => {
                    tracker.advance(frame.ts, &mut emit);
                    drop(&mut report.drops, "tunnel_not_decapsulated");
                }
                Decoded::Fragment(_) => {
                    tracker.advance(frame.ts, &mut emit);
                    drop(&mut report.drops, "fragment_not_reassembled");
                }
            }
        }
    }
    tracker.finish(&mut emit);
    report.records = records;
    report.tracker = tracker.stats.clone();
    for (k, v) in &tracker.weirds.counts {
        *report.weirds.entry(k).or_insert(0) += v;
    }
    if let Some(e) = write_err {
        return Err(e).context(format!("writing {}", opts.output));
    }
    sink.finish()
        .with_context(|| format!("writing {}", opts.output))?;
    Ok(report)
}
