//! Conformance against Zeek's own baselines: runs the scorer
//! `shared/tools/conncmp.py` over `shared/zeek-corpus` with the quartet
//! binary and fails if fewer than `MIN_PASS` cases pass the core columns.
//!
//! `shared/` sits beside the repository (`<root>/../shared`). Raise
//! `MIN_PASS` whenever quartet passes more cases, so it cannot slip back.

use std::process::Command;

use quartet_testkit::shared_path;

/// Cases that must pass the core columns (the scorer's `core: N/M`).
const MIN_PASS: usize = 108;

/// Seconds the scorer allows quartet per case.
const CASE_TIMEOUT: u32 = 60;

/// `'...'` quoting for the POSIX shell the scorer runs the command with.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Parses the scorer's summary line `core: N/M cases pass (...)`.
fn parse_summary(output: &str) -> Option<(usize, usize)> {
    let line = output.lines().rev().find(|l| l.starts_with("core: "))?;
    let (n, rest) = line.strip_prefix("core: ")?.split_once('/')?;
    let m = rest.split_whitespace().next()?;
    if !rest[m.len()..].trim_start().starts_with("cases pass") {
        return None;
    }
    Some((n.parse().ok()?, m.parse().ok()?))
}

#[test]
fn summary_line_parses() {
    let out = "PASS a  rows 1/1\ncore: 17/129 cases pass (13.2%), rows 3/4 exact, cells 1.0%; service: 0/0 rows; errors: 0\n";
    assert_eq!(parse_summary(out), Some((17, 129)));
    assert_eq!(parse_summary("core: 1/1 rows exact\n"), None);
    assert_eq!(parse_summary(""), None);
}

#[test]
fn zeek_corpus_conformance() {
    let corpus = shared_path("zeek-corpus");
    let scorer = shared_path("tools/conncmp.py");
    shared_path("zeek-corpus/cases");
    let bin = env!("CARGO_BIN_EXE_quartet");
    let template = format!("{} -r {{trace}} {{flags}} -o {{out}}", sh_quote(bin));
    let out = Command::new("python3")
        .arg(&scorer)
        .arg(&corpus)
        .arg("--cmd")
        .arg(&template)
        .arg("--timeout")
        .arg(CASE_TIMEOUT.to_string())
        .output()
        .expect("cannot run python3 (needed for shared/tools/conncmp.py)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!("{stdout}\n{stderr}");
    assert!(
        out.status.success(),
        "conncmp.py failed ({}):\n{report}",
        out.status
    );
    let Some((pass, total)) = parse_summary(&stdout) else {
        panic!("no `core: N/M cases pass` line in the scorer's output:\n{report}");
    };
    println!("conformance: {pass}/{total} cases pass (MIN_PASS {MIN_PASS})");
    assert!(
        pass >= MIN_PASS,
        "conformance fell to {pass}/{total} cases, below MIN_PASS = {MIN_PASS}:\n{report}"
    );
}
