//! Golden tests: every `tests/golden/<case>` trace must give exactly the
//! hand-derived `conn.log` next to it (volatile values masked, see
//! `quartet_testkit::connlog`), and `--json` must say the same thing.
//!
//! Set `QUARTET_GOLDEN=substring` to run only the matching cases.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use quartet_testkit::connlog;

const BIN: &str = env!("CARGO_BIN_EXE_quartet");

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden")
}

/// Extra flags of a case: its `flags` file split on whitespace, lines
/// starting with `#` ignored.
fn case_flags(dir: &Path) -> Vec<String> {
    match fs::read_to_string(dir.join("flags")) {
        Ok(text) => text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.split_whitespace().map(str::to_owned))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Runs quartet on the case's trace, writing to `out`; returns the output
/// file's text or a description of the failure.
fn run(dir: &Path, flags: &[String], extra: &[&str], out: &Path) -> Result<String, String> {
    let _ = fs::remove_file(out);
    let mut cmd = Command::new(BIN);
    cmd.arg("-r")
        .arg(dir.join("trace.pcap"))
        .args(flags)
        .args(extra)
        .arg("-o")
        .arg(out);
    let shown = format!("{cmd:?}");
    let res = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if !res.status.success() {
        return Err(format!(
            "{shown} failed ({}):\n{}",
            res.status,
            String::from_utf8_lossy(&res.stderr)
        ));
    }
    fs::read_to_string(out).map_err(|e| format!("{shown} wrote no readable {}: {e}", out.display()))
}

/// Checks one case; returns the problems found.
fn check_case(name: &str, dir: &Path, tmp: &Path) -> Vec<String> {
    let expected_path = dir.join("conn.log");
    if !dir.join("trace.pcap").is_file() || !expected_path.is_file() {
        return vec![format!(
            "{name}: needs trace.pcap and conn.log in {}",
            dir.display()
        )];
    }
    let expected = match fs::read_to_string(&expected_path) {
        Ok(t) => t,
        Err(e) => return vec![format!("{name}: {}: {e}", expected_path.display())],
    };
    let expected_log = match connlog::parse_tsv(&expected) {
        Ok(log) if !log.rows.is_empty() => log,
        Ok(_) => return vec![format!("{name}: expected conn.log has no rows")],
        Err(e) => return vec![format!("{name}: expected conn.log: {e}")],
    };
    let flags = case_flags(dir);
    let mut problems = Vec::new();

    let tsv = match run(dir, &flags, &[], &tmp.join("conn.log")) {
        Ok(t) => t,
        Err(e) => return vec![format!("{name}: {e}")],
    };
    let (want, got) = (
        connlog::normalize_tsv(&expected),
        connlog::normalize_tsv(&tsv),
    );
    if want != got {
        problems.push(format!(
            "{name}: conn.log differs\n{}",
            connlog::diff(&want, &got)
        ));
    }

    match run(dir, &flags, &["--json"], &tmp.join("conn.json")) {
        Err(e) => problems.push(format!("{name} --json: {e}")),
        Ok(json) => match connlog::parse_json_lines(&json) {
            Err(e) => problems.push(format!("{name} --json: {e}\n{json}")),
            Ok(rows) => {
                if rows.len() != expected_log.rows.len() {
                    problems.push(format!(
                        "{name} --json: {} rows, expected {}",
                        rows.len(),
                        expected_log.rows.len()
                    ));
                }
                // Compare with the TSV of the same run (when that parses),
                // so a TSV mismatch is not reported twice.
                if let Ok(actual_log) = connlog::parse_tsv(&tsv) {
                    for p in connlog::json_matches_tsv(&actual_log, &rows) {
                        problems.push(format!("{name} --json: {p}"));
                    }
                }
            }
        },
    }
    problems
}

#[test]
fn golden_cases() {
    let filter = std::env::var("QUARTET_GOLDEN").unwrap_or_default();
    let mut cases: Vec<(String, PathBuf)> = fs::read_dir(golden_dir())
        .expect("tests/golden is missing")
        .map(|e| e.expect("readable tests/golden"))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(name, _)| name.contains(&filter))
        .collect();
    cases.sort();
    assert!(
        !cases.is_empty(),
        "no golden cases in {} match {filter:?}",
        golden_dir().display()
    );

    let tmp_root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("golden");
    let mut failures = Vec::new();
    for (name, dir) in &cases {
        let tmp = tmp_root.join(name);
        fs::create_dir_all(&tmp).expect("create temp dir");
        let problems = check_case(name, dir, &tmp);
        println!(
            "{} {name}",
            if problems.is_empty() { "ok  " } else { "FAIL" }
        );
        failures.extend(problems);
    }
    assert!(
        failures.is_empty(),
        "{} problem(s) in {} golden case(s):\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
