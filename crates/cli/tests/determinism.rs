//! Determinism: the same capture gives the same conn.log and weird.log
//! bytes for any number of shards (`--threads 1, 2, 4, 8`), apart from the
//! `#open`/`#close` lines that carry the wall-clock time, and whether one
//! reader walks the file or the shards walk it in windows (`--walk-window`:
//! small windows, so that these small captures are cut into many). Runs on
//! every golden trace and on real captures of Zeek's test suite
//! (`../shared/zeek-traces`), which must be present.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_quartet");
/// Thread counts, each with a window size for a walk shared by the shards
/// ("0": one reader walks the file; the default maps only files of 1 MiB
/// or more, larger than most of these) and whether the reader leaves every
/// window to the shards (on windows this small it would otherwise walk
/// most of them itself before a shard wakes up).
const RUNS: [(&str, &str, bool); 8] = [
    ("1", "0", false),
    ("2", "0", false),
    ("4", "0", false),
    ("8", "0", false),
    ("2", "4K", false),
    ("2", "4K", true),
    ("2", "777", true),
    ("4", "2K", true),
];

/// Real captures with tunnels, gzip, long-lived and mid-stream connections.
const REAL_TRACES: [&str; 5] = [
    "wikipedia.pcap",
    "tunnels/Teredo.pcap",
    "echo-connections.pcap.gz",
    "ssh/ssh.pcap",
    "tcp/miss_end_data.pcap",
];

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn traces() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let golden = repo_path("../../tests/golden");
    for e in fs::read_dir(&golden).expect("tests/golden is readable") {
        let trace = e.expect("directory entry").path().join("trace.pcap");
        if trace.is_file() {
            out.push(trace);
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no golden traces in {}", golden.display());
    let shared = quartet_testkit::shared_path("zeek-traces");
    for t in REAL_TRACES {
        let p = shared.join(t);
        assert!(p.is_file(), "missing trace {}", p.display());
        out.push(p);
    }
    out
}

/// A log without the lines that carry the wall-clock time.
fn stable(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with("#open") && !l.starts_with("#close"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// conn.log and weird.log of one run.
fn run(
    trace: &Path,
    (threads, window, shards_only): (&str, &str, bool),
    dir: &Path,
) -> (String, String) {
    let conn = dir.join(format!("conn-{threads}-{window}-{shards_only}.log"));
    let weird = dir.join(format!("weird-{threads}-{window}-{shards_only}.log"));
    let _ = fs::remove_file(&conn);
    let _ = fs::remove_file(&weird);
    let mut cmd = Command::new(BIN);
    if shards_only {
        cmd.arg("--walk-shards-only");
    }
    let out = cmd
        .arg("-r")
        .arg(trace)
        .args(["--threads", threads, "--walk-window", window, "-o"])
        .arg(&conn)
        .arg("-w")
        .arg(&weird)
        .output()
        .expect("quartet runs");
    assert!(
        out.status.success(),
        "{} --threads {threads} --walk-window {window}: {}\n{}",
        trace.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (stable(&conn), stable(&weird))
}

#[test]
fn logs_are_the_same_bytes_for_any_thread_count() {
    let dir = std::env::temp_dir().join(format!("quartet-determinism-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for trace in traces() {
        let (conn1, weird1) = run(&trace, RUNS[0], &dir);
        assert!(
            conn1.lines().any(|l| !l.starts_with('#')),
            "{}: no connections written",
            trace.display()
        );
        for &(threads, window, shards_only) in &RUNS[1..] {
            let (conn, weird) = run(&trace, (threads, window, shards_only), &dir);
            if conn != conn1 {
                failures.push(format!(
                    "{}: conn.log differs between --threads 1 and {threads} (window {window}, shards only {shards_only})",
                    trace.display()
                ));
            }
            if weird != weird1 {
                failures.push(format!(
                    "{}: weird.log differs between --threads 1 and {threads} (window {window}, shards only {shards_only})",
                    trace.display()
                ));
            }
        }
    }
    let _ = fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A capture of a capture file being copied over UDP: every payload is a
/// run of valid pcap record headers, so the guessed start of many windows
/// lands inside a payload. The reader must find every wrong guess (it
/// walks those windows again, `--stats` counts them) and the logs must be
/// those of one reader.
#[test]
fn windows_guessed_wrong_are_walked_again() {
    use quartet_testkit::{linktype, PacketBuilder, PcapWriter};
    use std::time::Duration;
    let dir = std::env::temp_dir().join(format!("quartet-rewalk-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    // The file being copied: records of 40 bytes, one second apart.
    let mut inner = PcapWriter::in_memory(linktype::ETHERNET);
    for i in 0..200u64 {
        inner
            .write(Duration::from_secs(1_600_000_000 + i), &[0x55; 40])
            .unwrap();
    }
    let inner = inner.finish().unwrap();
    let mut w = PcapWriter::in_memory(linktype::ETHERNET);
    for i in 0..300usize {
        let from = 24 + (i * 56) % 5000;
        let frame = PacketBuilder::udp(
            format!("10.0.0.{}:{}", 1 + i % 7, 40000 + i % 5)
                .parse()
                .unwrap(),
            "10.0.1.1:9000".parse().unwrap(),
        )
        .payload(&inner[from..from + 1200])
        .build();
        w.write(Duration::from_millis(1_600_000_000_000 + i as u64), &frame)
            .unwrap();
    }
    let trace = dir.join("copy.pcap");
    fs::write(&trace, w.finish().unwrap()).unwrap();
    let (conn1, weird1) = run(&trace, ("1", "0", false), &dir);
    assert_eq!(conn1.lines().filter(|l| !l.starts_with('#')).count(), 35);
    let out = Command::new(BIN)
        .arg("-r")
        .arg(&trace)
        .args([
            "--walk-shards-only",
            "--threads",
            "2",
            "--walk-window",
            "3000",
        ])
        .args(["--stats", "-o"])
        .arg(dir.join("stats.log"))
        .output()
        .expect("quartet runs");
    assert!(out.status.success());
    let stats = String::from_utf8_lossy(&out.stderr);
    let line = stats
        .lines()
        .find(|l| l.starts_with("walk windows: "))
        .unwrap_or_else(|| panic!("no walk in --stats:\n{stats}"));
    let again: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        again > 10,
        "the nested records should fool many guesses: {line}"
    );
    for window in ["3000", "1000"] {
        let (conn, weird) = run(&trace, ("2", window, true), &dir);
        assert!(conn == conn1, "conn.log differs with windows of {window}");
        assert!(
            weird == weird1,
            "weird.log differs with windows of {window}"
        );
    }
    let _ = fs::remove_dir_all(&dir);
}
