//! Determinism: the same capture gives the same conn.log and weird.log
//! bytes for any number of shards (`--threads 1, 2, 4, 8`), apart from the
//! `#open`/`#close` lines that carry the wall-clock time. Runs on every
//! golden trace and on real captures of Zeek's test suite
//! (`../shared/zeek-traces`), which must be present.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_quartet");
const THREADS: [&str; 4] = ["1", "2", "4", "8"];

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
fn run(trace: &Path, threads: &str, dir: &Path) -> (String, String) {
    let conn = dir.join(format!("conn-{threads}.log"));
    let weird = dir.join(format!("weird-{threads}.log"));
    let _ = fs::remove_file(&conn);
    let _ = fs::remove_file(&weird);
    let out = Command::new(BIN)
        .arg("-r")
        .arg(trace)
        .args(["--threads", threads, "-o"])
        .arg(&conn)
        .arg("-w")
        .arg(&weird)
        .output()
        .expect("quartet runs");
    assert!(
        out.status.success(),
        "{} --threads {threads}: {}\n{}",
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
        let (conn1, weird1) = run(&trace, THREADS[0], &dir);
        assert!(
            conn1.lines().any(|l| !l.starts_with('#')),
            "{}: no connections written",
            trace.display()
        );
        for threads in &THREADS[1..] {
            let (conn, weird) = run(&trace, threads, &dir);
            if conn != conn1 {
                failures.push(format!(
                    "{}: conn.log differs between --threads 1 and {threads}",
                    trace.display()
                ));
            }
            if weird != weird1 {
                failures.push(format!(
                    "{}: weird.log differs between --threads 1 and {threads}",
                    trace.display()
                ));
            }
        }
    }
    let _ = fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
