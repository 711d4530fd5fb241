//! Writes a synthetic benchmark capture with a known connection count.
//!
//! ```text
//! quartet-benchgen flows      --flows N [--open K] [--step-us U] --out F.pcap [--truth F.json]
//! quartet-benchgen concurrent --conns N [--step-us U] --out F.pcap [--truth F.json]
//! ```
//!
//! `flows`: N short TCP flows (7 packets each), K of them open at any time.
//! `concurrent`: N handshakes, then N resets: all N open at once.
//! The truth file holds the connection and packet counts as JSON.

use std::process::ExitCode;

use quartet_bench::{Concurrent, Flows};
use quartet_testkit::{linktype, PcapWriter};

const USAGE: &str = "usage: quartet-benchgen flows --flows N [--open K] [--step-us U] --out F.pcap [--truth F.json]\n       quartet-benchgen concurrent --conns N [--step-us U] --out F.pcap [--truth F.json]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quartet-benchgen: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().ok_or("missing mode")?;
    let (mut n, mut open, mut step, mut out, mut truth) = (None, 100_000u64, 1u64, None, None);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        let num = |s: String| s.parse::<u64>().map_err(|e| format!("{s}: {e}"));
        match a.as_str() {
            "--flows" | "--conns" => n = Some(num(val()?)?),
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
    let n = n.ok_or("missing --flows/--conns")?;
    let out = out.ok_or("missing --out")?;
    let w = PcapWriter::create(&out, linktype::ETHERNET).map_err(|e| format!("{out}: {e}"))?;
    let res = match mode.as_str() {
        "flows" => Flows {
            flows: n,
            open,
            step_us: step,
        }
        .write(w),
        "concurrent" => Concurrent {
            conns: n,
            step_us: step,
        }
        .write(w),
        m => return Err(format!("unknown mode {m}")),
    };
    let (s, _) = res.map_err(|e| format!("{out}: {e}"))?;
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
