//! Real loopback traffic against known truth: `quartet-loadgen` makes 20,000
//! TCP connections of mixed patterns from 64 source ports (two server ports,
//! so 128 4-tuples each reused ~156 times), captured with libpcap; quartet
//! must report, per 4-tuple, exactly the generator's number of connections,
//! and for each of them (in time order) the bytes each way and a
//! `conn_state` the pattern allows (docs/loadgen.md).
//!
//! Needs root (live capture on `lo`): without it the tests FAIL, they never
//! skip. The capture is made once and shared by both tests.
//!
//! Finding the quartet binary: `CARGO_BIN_EXE_*` only names binaries of this
//! package, and a binary cannot be a dependency, so the test runs
//! `$CARGO build -p quartet` for the same profile and target directory as
//! this test's own loadgen binary (a no-op when `cargo test --workspace`
//! already built it; nested cargo is fine because cargo releases its build
//! lock before running tests) and uses `<target>/<profile>/quartet`.
//!
//! `QUARTET_LOOPBACK_CONNS` overrides the number of connections (for quick
//! local runs).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{check_truth_sanity, compare_per_tuple, is_root, parse_log, Findings, LOADGEN, MIX};
use quartet_loadgen::Truth;

struct Generated {
    dir: PathBuf,
    pcap: PathBuf,
    truth: Truth,
    quartet: PathBuf,
}

/// Builds quartet next to this package's loadgen binary and returns its path.
fn quartet_binary() -> Result<PathBuf, String> {
    let (_, profile) = common::own_profile()?;
    let q = common::cargo_build(&["quartet"], &profile)?.join("quartet");
    if !q.is_file() {
        return Err(format!("{} missing after building quartet", q.display()));
    }
    Ok(q)
}

fn generate() -> Result<Generated, String> {
    if !is_root() {
        return Err(
            "loopback_truth needs root: it captures live on `lo` with libpcap. \
             Run the tests as root (CI does); this test fails rather than skips."
                .into(),
        );
    }
    let quartet = quartet_binary()?;
    let conns = std::env::var("QUARTET_LOOPBACK_CONNS").unwrap_or_else(|_| "20000".into());
    // Kept after the run (overwritten by the next) for a look at failures.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("loopback-truth");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let pcap = dir.join("loadgen.pcap");
    let truth_path = dir.join("truth.json");
    let mut cmd = Command::new(LOADGEN);
    cmd.args(["--conns", &conns, "--ports", "64", "--servers", "2"])
        .args(["--mix", MIX, "--seed", "1", "--concurrency", "4"])
        .arg("--pcap")
        .arg(&pcap)
        .arg("--truth")
        .arg(&truth_path);
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {LOADGEN}: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stderr}");
    if !out.status.success() {
        return Err(format!("{cmd:?} failed ({}):\n{stderr}", out.status));
    }
    let truth = Truth::read(&truth_path).map_err(|e| format!("{e:#}"))?;
    Ok(Generated {
        dir,
        pcap,
        truth,
        quartet,
    })
}

fn generated() -> &'static Generated {
    static G: OnceLock<Result<Generated, String>> = OnceLock::new();
    match G.get_or_init(generate) {
        Ok(g) => g,
        Err(e) => panic!("{e}"),
    }
}

fn check_model(model: Option<&str>) {
    let g = generated();
    let name = model.unwrap_or("zeek");
    let log = g.dir.join(format!("conn-{name}.log"));
    let mut cmd = Command::new(&g.quartet);
    // Loopback packets carry partial (offloaded) checksums: -C as with zeek.
    cmd.arg("-C").arg("-r").arg(&g.pcap).arg("-o").arg(&log);
    if let Some(m) = model {
        cmd.args(["--tcp-model", m]);
    }
    let out = cmd.output().expect("running quartet");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&log).expect("reading conn.log");
    let rows = parse_log(&text).unwrap_or_else(|e| panic!("{}: {e}", log.display()));

    let t = &g.truth;
    check_truth_sanity(t);
    let mut f = Findings::new(&g.pcap);
    let tuples = compare_per_tuple(t, &rows, model == Some("strict"), false, &mut f);
    f.assert_none(&format!(
        "quartet ({name} model) disagrees with the generator's truth (pcap and truth kept in {})",
        g.dir.display()
    ));
    eprintln!(
        "loopback truth ({name} model): {} connections on {tuples} tuples agree",
        t.connections.len(),
    );
}

#[test]
fn loopback_truth_zeek_model() {
    check_model(None);
}

#[test]
fn loopback_truth_strict_model() {
    check_model(Some("strict"));
}
