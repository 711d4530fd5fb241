//! Invariants on every capture of Zeek's test suite (`../shared/zeek-traces`):
//! every frame read is counted in a connection or in a named drop counter,
//! every connection created is written exactly once, and nothing is left in
//! the tables after the final flush. quartet must also never crash on them.

use std::path::{Path, PathBuf};
use std::process::Command;

use quartet_testkit::shared_path;

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable trace directory") {
        let p = e.expect("directory entry").path();
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn stat(stderr: &str, prefix: &str) -> Option<String> {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix(prefix).map(|v| v.trim().to_string()))
}

#[test]
fn every_trace_conserves_packets_and_writes_each_connection_once() {
    let mut traces = Vec::new();
    collect(&shared_path("zeek-traces"), &mut traces);
    traces.sort();
    assert!(
        traces.len() > 100,
        "expected the whole trace collection, found {}",
        traces.len()
    );
    let tmp = std::env::temp_dir().join(format!("quartet-conservation-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let log = tmp.join("conn.log");
    let mut failures = Vec::new();
    // With the default thread count, and with two shards whatever the machine.
    let runs = traces.iter().flat_map(|t| [(t, None), (t, Some("2"))]);
    for (t, threads) in runs {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_quartet"));
        cmd.arg("-r").arg(t).arg("-o").arg(&log).arg("--stats");
        if let Some(n) = threads {
            cmd.args(["--threads", n]);
        }
        let out = cmd.output().expect("quartet runs");
        let name = match threads {
            Some(n) => format!("{} (--threads {n})", t.display()),
            None => t.display().to_string(),
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        // Exit 1 is a capture that cannot be read to its end (reported with
        // its offset); anything else (a signal, a panic) is a failure.
        if !matches!(code, Some(0) | Some(1)) || stderr.contains("panicked") {
            failures.push(format!("{name}: exit {code:?}: {stderr}"));
            continue;
        }
        if stat(&stderr, "frames read:").is_none() {
            // Unreadable from the first byte (an empty file): nothing to account.
            continue;
        }
        let conservation = stat(&stderr, "conservation:").unwrap_or_default();
        if !conservation.ends_with(": ok") {
            failures.push(format!("{name}: conservation {conservation}"));
        }
        let created = stat(&stderr, "connections created:").unwrap_or_default();
        let parts: Vec<&str> = created.split_whitespace().collect();
        let written = stat(&stderr, "connections written:").unwrap_or_default();
        if parts.len() != 3 || parts[0] != parts[2] || parts[0] != written {
            failures.push(format!(
                "{name}: created/removed/written differ: {created} / {written}"
            ));
        }
        if stat(&stderr, "after flush:").as_deref() != Some("every table and timer empty") {
            failures.push(format!("{name}: state left after the flush"));
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(
        failures.is_empty(),
        "{} traces broke an invariant:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
