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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use quartet_loadgen::{ConnTruth, Pattern, Truth};

const LOADGEN: &str = env!("CARGO_BIN_EXE_quartet-loadgen");
const MIX: &str = "latency=6,assassinate=6,client-first=1,simultaneous=1,half-close=1";

struct Generated {
    dir: PathBuf,
    pcap: PathBuf,
    truth: Truth,
    quartet: PathBuf,
}

fn is_root() -> bool {
    // The effective uid is the second field of /proc/self/status's Uid line.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Builds quartet next to this package's loadgen binary and returns its path.
fn quartet_binary() -> Result<PathBuf, String> {
    let exe = Path::new(LOADGEN);
    let profile_dir = exe.parent().ok_or("loadgen binary has no directory")?;
    let target_dir = profile_dir
        .parent()
        .ok_or("loadgen binary is not under a target directory")?;
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("unreadable profile directory")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "-q", "-p", "quartet", "--target-dir"])
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let st = cmd
        .status()
        .map_err(|e| format!("cannot run {cargo}: {e}"))?;
    if !st.success() {
        return Err(format!("{cmd:?} failed: {st}"));
    }
    let q = profile_dir.join("quartet");
    if !q.is_file() {
        return Err(format!("{} missing after {cmd:?}", q.display()));
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

/// One conn.log row, the columns this test needs.
#[derive(Debug, Clone)]
struct Row {
    ts: f64,
    orig_p: u16,
    resp_p: u16,
    orig_bytes: Option<u64>,
    resp_bytes: Option<u64>,
    conn_state: String,
    history: String,
    line: String,
}

fn parse_log(text: &str) -> Result<Vec<Row>, String> {
    let mut cols: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            cols = f.split('\t').map(str::to_owned).collect();
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let get = |name: &str| -> Result<&str, String> {
            let i = cols
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| format!("no column {name} in the log"))?;
            f.get(i)
                .copied()
                .ok_or_else(|| format!("short row: {line}"))
        };
        let num = |name: &str| -> Result<Option<u64>, String> {
            match get(name)? {
                "-" => Ok(None),
                v => v
                    .parse()
                    .map(Some)
                    .map_err(|e| format!("{name} `{v}`: {e}")),
            }
        };
        if get("proto")? != "tcp" {
            continue;
        }
        rows.push(Row {
            ts: get("ts")?.parse().map_err(|e| format!("ts: {e}"))?,
            orig_p: get("id.orig_p")?
                .parse()
                .map_err(|e| format!("orig_p: {e}"))?,
            resp_p: get("id.resp_p")?
                .parse()
                .map_err(|e| format!("resp_p: {e}"))?,
            orig_bytes: num("orig_bytes")?,
            resp_bytes: num("resp_bytes")?,
            conn_state: get("conn_state")?.to_owned(),
            history: get("history")?.to_owned(),
            line: line.to_owned(),
        });
    }
    Ok(rows)
}

/// conn_state of the extra row a stale-ACK episode gives (`SaR`).
const STALE_ACK_STATES: &[&str] = &["RSTOS0"];

/// conn_state values a pattern may give (docs/loadgen.md explains each).
fn allowed_states(p: Pattern) -> &'static [&'static str] {
    match p {
        // RSTR when the client's RST is captured before its ACK of the
        // server's FIN: the server's stack answers that late ACK with RST.
        Pattern::Latency => &["RSTO", "RSTR"],
        Pattern::Assassinate
        | Pattern::ClientFirst
        | Pattern::Simultaneous
        | Pattern::HalfClose => &["SF"],
        Pattern::Refused => &["REJ"],
    }
}

/// The packets of a 4-tuple between two times, as tcpdump prints them.
fn packets_around(pcap: &Path, c: &ConnTruth, from: f64, to: f64) -> String {
    let filter = format!("tcp and port {} and port {}", c.orig_p, c.resp_p);
    match Command::new("tcpdump")
        .args(["-nn", "-tt", "-r"])
        .arg(pcap)
        .arg(&filter)
        .output()
    {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            let mut s = String::new();
            for l in text.lines() {
                let t: f64 = l
                    .split_whitespace()
                    .next()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0.0);
                if t >= from && t <= to {
                    let _ = writeln!(s, "      {l}");
                }
            }
            s
        }
        Err(e) => format!("      (tcpdump unavailable: {e})\n"),
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
    assert_eq!(t.capture.dropped + t.capture.if_dropped, 0, "capture drops");
    assert!(
        t.totals.connections >= t.conns,
        "fewer connections than planned"
    );
    for p in [
        Pattern::Latency,
        Pattern::Assassinate,
        Pattern::ClientFirst,
        Pattern::Simultaneous,
        Pattern::HalfClose,
    ] {
        assert!(
            t.totals.by_pattern.get(&p).copied().unwrap_or(0) > 0 || t.conns < 100,
            "no {p} connection in the mix"
        );
    }

    // The rows each truth connection should give, in time order: in the zeek
    // model one per stale ACK that answered its SYN (the SYN, the stale `a`,
    // the client's `R` make a row of their own, and the retransmitted SYN
    // starts the next), then its own; in the strict model its own only.
    let mut truth_by: BTreeMap<(u16, u16), Vec<(&ConnTruth, bool)>> = BTreeMap::new();
    for c in &t.connections {
        assert!(c.syns >= 1, "no SYN captured for {c:?}");
        let e = truth_by.entry((c.orig_p, c.resp_p)).or_default();
        // The strict model ignores the client's RST to the stale ACK (its
        // sequence number lies outside the attempt) and keeps the whole
        // episode in the connection's own row.
        if model != Some("strict") {
            e.extend((0..c.stale_acks).map(|_| (c, true)));
        }
        e.push((c, false));
    }
    let mut rows_by: BTreeMap<(u16, u16), Vec<&Row>> = BTreeMap::new();
    for r in &rows {
        rows_by.entry((r.orig_p, r.resp_p)).or_default().push(r);
    }

    let mut problems: Vec<String> = Vec::new();
    let mut examples = String::new();
    let mut add_example = |what: &str, c: &ConnTruth, r: Option<&Row>, next: Option<&ConnTruth>| {
        if examples.len() > 12_000 {
            return;
        }
        let to = next.map_or(c.end + 0.005, |n| n.start + 0.0005);
        let _ = writeln!(
            examples,
            "  {what}\n    truth: {}\n    row:   {}\n    packets:\n{}",
            serde_json::to_string(c).unwrap_or_default(),
            r.map_or("(none)", |r| r.line.as_str()),
            packets_around(&g.pcap, c, c.start - 0.0005, to)
        );
    };
    for (k, tc) in &truth_by {
        let mut rs = rows_by.remove(k).unwrap_or_default();
        rs.sort_by(|a, b| a.ts.total_cmp(&b.ts));
        if rs.len() != tc.len() {
            problems.push(format!(
                "tuple 127.0.0.1:{} -> 127.0.0.1:{}: {} rows, truth expects {}",
                k.0,
                k.1,
                rs.len(),
                tc.len()
            ));
        }
        // Walk in time order; at the first disagreement of a tuple, report
        // it with its packets (later pairs of that tuple are shifted).
        for (i, (&(c, stale), r)) in tc.iter().zip(&rs).enumerate() {
            let ob = r.orig_bytes.unwrap_or(0);
            let rb = r.resp_bytes.unwrap_or(0);
            let (want, states) = if stale {
                ((0, 0), STALE_ACK_STATES)
            } else {
                ((c.orig_bytes, c.resp_bytes), allowed_states(c.pattern))
            };
            if (ob, rb) != want || !states.contains(&r.conn_state.as_str()) {
                problems.push(format!(
                    "tuple {}->{} row #{i} ({}{}): row bytes {ob}/{rb} state {} {}, expected bytes {}/{} state in {states:?}",
                    k.0, k.1, c.pattern, if stale { ", stale-ACK attempt" } else { "" },
                    r.conn_state, r.history, want.0, want.1
                ));
                add_example(
                    &format!("first disagreement on {}->{} (#{i})", k.0, k.1),
                    c,
                    Some(r),
                    tc.get(i + 1).map(|x| x.0),
                );
                break;
            }
        }
        if rs.len() != tc.len() {
            // Show where the counts part: the first truth connection whose
            // start is not within its row's time.
            // The first row whose ts lies outside its expected connection.
            let idx = tc
                .iter()
                .zip(&rs)
                .position(|((c, _), r)| r.ts < c.start || r.ts > c.end)
                .unwrap_or(tc.len().min(rs.len()));
            if let Some(&(c, _)) = tc.get(idx.min(tc.len() - 1)) {
                add_example(
                    &format!("count mismatch on {}->{} near #{idx}", k.0, k.1),
                    c,
                    rs.get(idx).copied(),
                    tc.get(idx + 1).map(|x| x.0),
                );
            }
        }
    }
    for (k, rs) in &rows_by {
        problems.push(format!(
            "{} rows for tuple {}->{} the generator never used",
            rs.len(),
            k.0,
            k.1
        ));
    }
    if !problems.is_empty() {
        let shown: Vec<&String> = problems.iter().take(30).collect();
        panic!(
            "quartet ({name} model) disagrees with the generator's truth in {} places (pcap and truth kept in {}):\n{}\n\nexamples:\n{examples}",
            problems.len(),
            g.dir.display(),
            shown.iter().map(|s| format!("  {s}")).collect::<Vec<_>>().join("\n")
        );
    }
    eprintln!(
        "loopback truth ({name} model): {} connections on {} tuples agree",
        t.connections.len(),
        truth_by.len()
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
