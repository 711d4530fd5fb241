//! Writes the golden traces and the README sample capture.
//!
//! usage: `mkgolden [GOLDEN_DIR [SAMPLE_PCAP]]`
//!
//! With no arguments it writes `tests/golden/<case>/trace.pcap` and
//! `samples/sample.pcap` under the workspace root. Only the traces are
//! generated: each case's expected `conn.log` and `README` are written by
//! hand from the conn.log semantics, never produced by quartet.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::{fs, io};

use quartet_testkit::golden;
use quartet_testkit::pcap::{linktype, Packet, PcapWriter};

fn write_pcap(path: &Path, linktype: u32, packets: &[Packet]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut w = PcapWriter::create(path, linktype)?;
    w.write_packets(packets)?;
    w.finish()?;
    Ok(())
}

fn run() -> io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let golden_dir = args.next().unwrap_or_else(|| root.join("tests/golden"));
    let sample = args
        .next()
        .unwrap_or_else(|| root.join("samples/sample.pcap"));
    for case in golden::cases() {
        let path = golden_dir.join(case.name).join("trace.pcap");
        write_pcap(&path, case.linktype, &case.packets)?;
        println!("{} ({} packets)", path.display(), case.packets.len());
    }
    let packets = golden::sample();
    write_pcap(&sample, linktype::ETHERNET, &packets)?;
    println!("{} ({} packets)", sample.display(), packets.len());
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mkgolden: {e}");
            ExitCode::FAILURE
        }
    }
}
