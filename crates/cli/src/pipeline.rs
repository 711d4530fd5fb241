//! The single-threaded pipeline: capture -> BPF -> decode -> track -> sink.
//!
//! Every frame read ends in exactly one place: a connection's packet count
//! or a named drop counter (`--stats` prints them). A capture fault stops
//! reading but not writing: every connection tracked so far is flushed.

use crate::flags::Options;
use anyhow::{Context, Result};
use quartet_capture::{BpfFilter, CaptureError};
use quartet_decode::{decode, decode_reassembled, DecodeConfig, Decoded};
use quartet_record::{ConnRecord, JsonWriter, Sink, TsvWriter};
use quartet_record::{WeirdRecord, WeirdWriter};
use quartet_track::defrag::{Defragmenter, FRAG_TIMEOUT};
use quartet_track::{Disposition, TrackConfig, Tracker};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write};

/// What a run did.
pub struct Report {
    pub frames: u64,
    /// Frames with at least one packet counted in a connection.
    pub frames_counted: u64,
    /// Frames and packets not counted in any connection, by reason.
    pub drops: BTreeMap<String, u64>,
    pub tracker: quartet_track::TrackStats,
    pub weirds: BTreeMap<&'static str, u64>,
    pub records: u64,
    /// After the final flush no connection, timer or fragment was left.
    pub flushed_clean: bool,
    /// The capture could not be read to its end.
    pub input_error: Option<CaptureError>,
}

impl Report {
    pub fn stats_text(&self) -> String {
        let mut s = String::new();
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
        weird_log: opts.weird_log.is_some(),
        tcp_model: opts.tcp_model,
        max_conns: opts.max_conns,
    });
    let dcfg = DecodeConfig {
        ignore_checksums: opts.ignore_checksums,
    };
    let mut report = Report {
        frames: 0,
        frames_counted: 0,
        drops: BTreeMap::new(),
        tracker: Default::default(),
        weirds: BTreeMap::new(),
        records: 0,
        flushed_clean: false,
        input_error: None,
    };
    let mut decoded = Vec::with_capacity(4);
    let mut weird_sink = opts.weird_log.as_ref().map(|path| {
        WeirdWriter::new(Box::new(LazyFile {
            path: path.clone(),
            file: None,
        }) as Box<dyn Write>)
    });
    let mut net_weirds: BTreeMap<String, u64> = BTreeMap::new();
    // Fragments wait at most Zeek's frag_timeout, in at most 64 MiB.
    let mut defrag = Defragmenter::new(FRAG_TIMEOUT, 64 << 20);
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
        // A frame counts once: in a connection if any packet it carried was
        // counted there, else under the reason its first packet was dropped.
        let mut counted = false;
        let mut first_drop: Option<String> = None;
        // Completed datagrams are decoded onto the end of the same list.
        let mut i = 0;
        while i < decoded.len() {
            let item = std::mem::replace(&mut decoded[i], Decoded::NotIp);
            i += 1;
            let dropped: Option<String> = match item {
                Decoded::Packet(m) => match tracker.process(&m, &mut emit) {
                    Disposition::Counted => {
                        counted = true;
                        None
                    }
                    Disposition::Dropped(why) => Some(why.to_string()),
                },
                Decoded::Notice(w) => {
                    *report.weirds.entry(w.name).or_insert(0) += 1;
                    net_weird(&mut weird_sink, &mut net_weirds, frame.ts, &w.name());
                    continue;
                }
                Decoded::Fragment(frag) => {
                    tracker.advance(frame.ts, &mut emit);
                    defrag.expire(frame.ts);
                    let outcome = defrag.add(frag, frame.ts);
                    for w in outcome.weirds() {
                        *report.weirds.entry(w).or_insert(0) += 1;
                        net_weird(&mut weird_sink, &mut net_weirds, frame.ts, w);
                    }
                    if let Some((head, payload)) = outcome.complete {
                        decode_reassembled(&dcfg, frame.ts, &head, &payload, &mut decoded);
                        // The frame's disposition is that of the datagram.
                        continue;
                    }
                    Some(
                        if outcome.dropped {
                            "fragment_dropped"
                        } else {
                            "fragment_held"
                        }
                        .to_string(),
                    )
                }
                other => {
                    // The frame advances network time even when it is dropped.
                    tracker.advance(frame.ts, &mut emit);
                    Some(match other {
                        Decoded::Weird(w) => {
                            *report.weirds.entry(w.name).or_insert(0) += 1;
                            net_weird(&mut weird_sink, &mut net_weirds, frame.ts, &w.name());
                            w.name()
                        }
                        Decoded::NotIp => "not_ip".to_string(),
                        Decoded::NoConn(what) => what.to_string(),
                        Decoded::Tunnel { .. } => "tunnel_not_decapsulated".to_string(),
                        Decoded::Packet(_) | Decoded::Notice(_) | Decoded::Fragment(_) => {
                            unreachable!("handled above")
                        }
                    })
                }
            };
            if first_drop.is_none() {
                first_drop = dropped;
            }
        }
        if let Some(w) = weird_sink.as_mut() {
            for r in tracker.weird_records.drain(..) {
                w.write(&r).with_context(|| {
                    format!("writing {}", opts.weird_log.as_deref().unwrap_or(""))
                })?;
            }
        }
        if counted {
            report.frames_counted += 1;
        } else {
            drop(
                &mut report.drops,
                first_drop.as_deref().unwrap_or("no_packet"),
            );
        }
    }
    tracker.finish(&mut emit);
    // Fragments of datagrams that never completed were counted as held when
    // their frames were read; the buffers are released here.
    defrag.clear();
    report.flushed_clean = tracker.is_empty() && tracker.pending_timers() == 0 && defrag.is_empty();
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
    if let Some(w) = weird_sink.as_mut() {
        for r in tracker.weird_records.drain(..) {
            w.write(&r)?;
        }
        w.finish()?;
    }
    Ok(report)
}

/// Writes a weird that belongs to no connection, sampled as Zeek samples
/// them: the first 25 of a name, then one in every 1000.
fn net_weird<W: Write>(
    sink: &mut Option<WeirdWriter<W>>,
    seen: &mut BTreeMap<String, u64>,
    ts: quartet_wire::Timestamp,
    name: &str,
) {
    let Some(w) = sink.as_mut() else {
        return;
    };
    let n = seen.entry(name.to_string()).or_insert(0);
    *n += 1;
    if *n <= 25 || *n % 1000 == 0 {
        let _ = w.write(&WeirdRecord {
            ts,
            uid: None,
            id: None,
            name: name.to_string(),
            addl: None,
            notice: false,
            peer: "quartet".to_string(),
            source: None,
        });
    }
}
