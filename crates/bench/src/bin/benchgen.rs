//! Writes a synthetic benchmark capture with a known connection count.
//!
//! ```text
//! quartet-benchgen flows      --flows N [--open K] [--step-us U] --out F.pcap [--truth F.json]
//! quartet-benchgen concurrent --conns N [--step-us U] --out F.pcap [--truth F.json]
//! quartet-benchgen syn-flood  --syns N [--step-us U] --out F.pcap [--truth F.json]
//! quartet-benchgen walk F.pcap
//! ```
//!
//! `flows`: N short TCP flows (7 packets each), K of them open at any time.
//! `concurrent`: N handshakes, then N resets: all N open at once.
//! `syn-flood`: N unanswered SYNs, each on its own 4-tuple.
//! `--out -` writes the capture to standard output (e.g. piped into
//! `quartet -r -`); the one-line summary always goes to standard error.
//! The truth file holds the connection and packet counts as JSON.
//!
//! `walk` is the yardstick of the single-thread speed target (issue #5: "the
//! bare walk over the file plus a hash-map insert per packet"): it reads the
//! capture with quartet's own reader and counts each frame in a hash map
//! keyed by its IPv4 addresses, ports and protocol (the bytes where an
//! untagged Ethernet/IPv4 frame without options has them), nothing else. It
//! prints packets, distinct keys, seconds and Mpps; `bench/run.sh` times it
//! beside quartet on the mix, so the target is a ratio on the machine the
//! run is on.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use quartet_bench::{Concurrent, Flows, Summary, SynFlood};
use quartet_testkit::{linktype, PcapWriter};

const USAGE: &str =
    "usage: quartet-benchgen flows --flows N [--open K] [--step-us U] --out F.pcap [--truth F.json]
       quartet-benchgen concurrent --conns N [--step-us U] --out F.pcap [--truth F.json]
       quartet-benchgen syn-flood --syns N [--step-us U] --out F.pcap [--truth F.json]
       quartet-benchgen walk F.pcap
       (--out - writes to standard output)";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quartet-benchgen: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

enum Mode {
    Flows,
    Concurrent,
    SynFlood,
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().ok_or("missing mode")?;
    if mode == "-h" || mode == "--help" {
        println!("{USAGE}");
        return Ok(());
    }
    if mode == "walk" {
        let path = args.next().ok_or("walk needs a capture")?;
        return walk(&path);
    }
    let kind = match mode.as_str() {
        "flows" => Mode::Flows,
        "concurrent" => Mode::Concurrent,
        "syn-flood" => Mode::SynFlood,
        m => return Err(format!("unknown mode {m}")),
    };
    let (mut n, mut open, mut step, mut out, mut truth) = (None, 100_000u64, 1u64, None, None);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        let num = |s: String| s.parse::<u64>().map_err(|e| format!("{s}: {e}"));
        match a.as_str() {
            "--flows" | "--conns" | "--syns" => n = Some(num(val()?)?),
            "--open" => open = num(val()?)?,
            "--step-us" => step = num(val()?)?,
            "--out" => out = Some(val()?),
            "--truth" => truth = Some(val()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    let n = n.ok_or("missing --flows/--conns/--syns")?;
    let out = out.ok_or("missing --out")?;
    let s = if out == "-" {
        let stdout = BufWriter::with_capacity(1 << 20, io::stdout().lock());
        generate(&kind, n, open, step, stdout)
    } else {
        let file = std::fs::File::create(&out).map_err(|e| format!("{out}: {e}"))?;
        generate(&kind, n, open, step, BufWriter::new(file))
    }
    .map_err(|e| format!("{out}: {e}"))?;
    let json = s.json(&mode);
    if let Some(t) = truth {
        std::fs::write(&t, &json).map_err(|e| format!("{t}: {e}"))?;
    }
    eprintln!(
        "{out}: {} connections, {} packets, {:.1} MB, at most {} open",
        s.connections,
        s.packets,
        s.bytes as f64 / 1e6,
        s.max_open
    );
    Ok(())
}

fn generate<W: Write>(kind: &Mode, n: u64, open: u64, step_us: u64, w: W) -> io::Result<Summary> {
    let w = PcapWriter::new(w, linktype::ETHERNET)?;
    let (s, _) = match kind {
        Mode::Flows => Flows {
            flows: n,
            open,
            step_us,
        }
        .write(w)?,
        Mode::Concurrent => Concurrent { conns: n, step_us }.write(w)?,
        Mode::SynFlood => SynFlood { syns: n, step_us }.write(w)?,
    };
    Ok(s)
}

/// The bare walk: every frame read and counted in a hash map by a 13-byte
/// key taken at fixed offsets.
fn walk(path: &str) -> Result<(), String> {
    let t0 = std::time::Instant::now();
    let mut src = quartet_capture::open(path).map_err(|e| e.to_string())?;
    let mut keys: hashbrown::HashMap<[u8; 13], u64> = hashbrown::HashMap::new();
    let mut packets = 0u64;
    while let Some(f) = src.next_frame().map_err(|e| e.to_string())? {
        let d = f.data;
        let mut k = [0u8; 13];
        if d.len() >= 38 {
            k[..12].copy_from_slice(&d[26..38]);
            k[12] = d[23];
        } else {
            let n = d.len().min(13);
            k[..n].copy_from_slice(&d[..n]);
        }
        *keys.entry(k).or_insert(0) += 1;
        packets += 1;
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{{\"packets\": {packets}, \"keys\": {}, \"seconds\": {secs:.3}, \"mpps\": {:.2}}}",
        keys.len(),
        packets as f64 / secs.max(1e-9) / 1e6
    );
    Ok(())
}
