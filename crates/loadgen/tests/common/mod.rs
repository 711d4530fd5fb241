//! What the loopback truth tests share: root check, building the binaries,
//! reading conn.log rows, and matching rows to the generator's truth per
//! 4-tuple (used by `loopback_truth.rs` on the generator's capture file and
//! by `live_truth.rs` on quartet's own live capture).
// Each test crate uses a different part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use quartet_loadgen::{ConnTruth, Pattern, Truth};

/// This package's loadgen binary, built for the test's own profile.
pub const LOADGEN: &str = env!("CARGO_BIN_EXE_quartet-loadgen");
/// The pattern mix of docs/loadgen.md.
pub const MIX: &str = "latency=6,assassinate=6,client-first=1,simultaneous=1,half-close=1";

pub use quartet_testkit::is_root;

/// The profile directory of this test's own loadgen binary
/// (`<target>/<profile>`) and the profile's name.
pub fn own_profile() -> Result<(PathBuf, String), String> {
    let exe = Path::new(LOADGEN);
    let profile_dir = exe.parent().ok_or("loadgen binary has no directory")?;
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("unreadable profile directory")?;
    Ok((profile_dir.to_path_buf(), profile.to_owned()))
}

/// Builds `packages` with `$CARGO build` for `profile` into the target
/// directory of this test's own binaries and returns the profile's
/// directory, where the binaries are. `CARGO_BIN_EXE_*` only names binaries
/// of this package and a binary cannot be a dependency, hence the nested
/// build: a no-op when the binaries are up to date, and no deadlock (cargo
/// releases its build lock before running tests).
pub fn cargo_build(packages: &[&str], profile: &str) -> Result<PathBuf, String> {
    let (own_dir, _) = own_profile()?;
    let target_dir = own_dir
        .parent()
        .ok_or("loadgen binary is not under a target directory")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "-q"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    cmd.arg("--target-dir")
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
    Ok(target_dir.join(profile))
}

/// One conn.log row, the columns these tests need.
#[derive(Debug, Clone)]
pub struct Row {
    pub ts: f64,
    pub orig_p: u16,
    pub resp_p: u16,
    pub duration: Option<f64>,
    pub orig_bytes: Option<u64>,
    pub resp_bytes: Option<u64>,
    pub conn_state: String,
    pub history: String,
    pub orig_pkts: Option<u64>,
    pub resp_pkts: Option<u64>,
    /// Every column but `ts`, `uid`, `duration` and `history`, in log order.
    pub rest: Vec<String>,
    pub line: String,
}

impl Row {
    /// Packets in the row, both ways.
    pub fn packets(&self) -> u64 {
        self.orig_pkts.unwrap_or(0) + self.resp_pkts.unwrap_or(0)
    }

    /// The time of the row's last packet.
    pub fn last(&self) -> f64 {
        self.ts + self.duration.unwrap_or(0.0)
    }
}

/// The TCP rows of a TSV conn.log.
pub fn parse_log(text: &str) -> Result<Vec<Row>, String> {
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
        let rest = cols
            .iter()
            .zip(&f)
            .filter(|(c, _)| !matches!(c.as_str(), "ts" | "uid" | "duration" | "history"))
            .map(|(_, v)| (*v).to_owned())
            .collect();
        rows.push(Row {
            ts: get("ts")?.parse().map_err(|e| format!("ts: {e}"))?,
            orig_p: get("id.orig_p")?
                .parse()
                .map_err(|e| format!("orig_p: {e}"))?,
            resp_p: get("id.resp_p")?
                .parse()
                .map_err(|e| format!("resp_p: {e}"))?,
            duration: match get("duration")? {
                "-" => None,
                v => Some(v.parse().map_err(|e| format!("duration `{v}`: {e}"))?),
            },
            orig_bytes: num("orig_bytes")?,
            resp_bytes: num("resp_bytes")?,
            conn_state: get("conn_state")?.to_owned(),
            history: get("history")?.to_owned(),
            orig_pkts: num("orig_pkts")?,
            resp_pkts: num("resp_pkts")?,
            rest,
            line: line.to_owned(),
        });
    }
    Ok(rows)
}

/// conn_state of the extra row a stale-ACK episode gives (`SaR`).
pub const STALE_ACK_STATES: &[&str] = &["RSTOS0"];

/// conn_state values a pattern may give in the given model
/// (docs/loadgen.md explains each).
pub fn allowed_states(p: Pattern, strict: bool) -> &'static [&'static str] {
    match p {
        // RSTR when the client's RST is captured before its ACK of the
        // server's FIN: the server's stack answers that late ACK with RST.
        // Zeek lets that later RST decide; strict keeps who aborted.
        Pattern::Latency if strict => &["RSTO"],
        Pattern::Latency => &["RSTO", "RSTR"],
        Pattern::Assassinate
        | Pattern::ClientFirst
        | Pattern::Simultaneous
        | Pattern::HalfClose => &["SF"],
        Pattern::Refused => &["REJ"],
    }
}

/// Checks that the truth describes a complete run of the mix: no capture
/// drops, every planned connection made, every pattern present.
pub fn check_truth_sanity(t: &Truth) {
    assert_eq!(t.capture.dropped + t.capture.if_dropped, 0, "capture drops");
    assert!(
        t.totals.connections >= t.conns,
        "fewer connections than planned"
    );
    for p in Pattern::ALL {
        assert!(
            t.totals.by_pattern.get(&p).copied().unwrap_or(0) > 0 || t.conns < 100,
            "no {p} connection in the mix"
        );
    }
    for c in &t.connections {
        assert!(c.syns >= 1, "no SYN captured for {c:?}");
    }
}

/// The rows each truth connection should give, per 4-tuple (client port,
/// server port) in time order: in the zeek model one per stale ACK that
/// answered its SYN (the SYN, the stale `a`, the client's `R` make a row of
/// their own, and the retransmitted SYN starts the next), then its own; in
/// the strict model its own only. The flag marks a stale-ACK row.
pub fn expected_rows(t: &Truth, strict: bool) -> BTreeMap<(u16, u16), Vec<(&ConnTruth, bool)>> {
    let mut truth_by: BTreeMap<(u16, u16), Vec<(&ConnTruth, bool)>> = BTreeMap::new();
    for c in &t.connections {
        let e = truth_by.entry((c.orig_p, c.resp_p)).or_default();
        // The strict model ignores the client's RST to the stale ACK (its
        // sequence number lies outside the attempt) and keeps the whole
        // episode in the connection's own row.
        if !strict {
            e.extend((0..c.stale_acks).map(|_| (c, true)));
        }
        e.push((c, false));
    }
    truth_by
}

/// conn_state values the zeek model gives a connection that a stray RST of
/// an older connection reached (see `stray_rst_honoured`).
pub const STRAY_RST_STATES: &[&str] = &["RSTO", "RSTR"];

/// A stray RST of an older connection (`stray_rsts` in the truth) reached
/// `c`: the client dropped it (before the SYN-ACK, RFC 793 3.9) or
/// challenged it (after, RFC 5961) and the connection went on, but Zeek's
/// rules honour any RST, so the zeek model ends the row reset, its sizes
/// taken to the RST's sequence number. The strict model follows the stacks
/// and gives the truth.
fn stray_rst_honoured(c: &ConnTruth, stale: bool, strict: bool) -> bool {
    c.stray_rsts > 0 && !stale && !strict
}

/// How `row` disagrees with the truth connection `c` (or with one of its
/// stale-ACK episodes) in the given model: bytes each way and conn_state.
pub fn row_problem(c: &ConnTruth, stale: bool, strict: bool, r: &Row) -> Option<String> {
    let ob = r.orig_bytes.unwrap_or(0);
    let rb = r.resp_bytes.unwrap_or(0);
    let (want, states) = if stale {
        ((0, 0), STALE_ACK_STATES)
    } else {
        (
            (c.orig_bytes, c.resp_bytes),
            allowed_states(c.pattern, strict),
        )
    };
    if stray_rst_honoured(c, stale, strict) {
        // The RST's sequence number lies outside the connection's own
        // space, so it can only have moved a size up.
        if ob < want.0 || rb < want.1 || !STRAY_RST_STATES.contains(&r.conn_state.as_str()) {
            return Some(format!(
                "row bytes {ob}/{rb} state {} {}, expected at least bytes {}/{} and a state in \
                 {STRAY_RST_STATES:?} ({} stray RSTs)",
                r.conn_state, r.history, want.0, want.1, c.stray_rsts
            ));
        }
        return None;
    }
    if (ob, rb) != want || !states.contains(&r.conn_state.as_str()) {
        return Some(format!(
            "row bytes {ob}/{rb} state {} {}, expected bytes {}/{} state in {states:?}",
            r.conn_state, r.history, want.0, want.1
        ));
    }
    None
}

/// How the history of `row` (zeek model) disagrees with what the truth of
/// `c` implies (docs/loadgen.md, the table of histories): a connection's
/// own row starts with the handshake `ShA` and the client's request `D`,
/// has `d` exactly when the server replied, the client's RST `R` and the
/// server's FIN `f` but no client FIN `F` for `latency`, both FINs and no
/// RST for the patterns that end in `SF`; a refused SYN is `S` ... `r`; a
/// stale-ACK episode starts with the SYN and ends with the client's `R`.
/// Only the letters these facts force are checked, not their order (which
/// the capture's interleaving decides). A stray RST of an older connection
/// adds its `r` or `R` to a connection's own row.
pub fn history_problem(c: &ConnTruth, stale: bool, r: &Row) -> Option<String> {
    let h = r.history.as_str();
    let has = |ch: char| h.contains(ch);
    // A letter the connection's own packets must not have given.
    let stray = stray_rst_honoured(c, stale, false);
    let unwanted = |ch: char| has(ch) && !(stray && matches!(ch, 'r' | 'R'));
    let ok = if stale {
        h.starts_with('S') && h.ends_with('R')
    } else {
        match c.pattern {
            Pattern::Refused => h.starts_with('S') && has('r') && !has('h'),
            p => {
                // A stray RST can come before the SYN-ACK (`SrhA`).
                let own: String = h.chars().filter(|&ch| !(stray && ch == 'r')).collect();
                let common = own.starts_with("ShA")
                    && has('D')
                    && has('d') == (c.resp_bytes > 0)
                    && has('f');
                common
                    && if p == Pattern::Latency {
                        has('R') && !has('F')
                    } else {
                        has('F') && !unwanted('R') && !unwanted('r')
                    }
            }
        }
    };
    (!ok).then(|| {
        format!(
            "history {h} does not fit a {}{} connection with bytes {}/{}",
            c.pattern,
            if stale { " stale-ACK episode" } else { "" },
            c.orig_bytes,
            c.resp_bytes
        )
    })
}

/// The packets of a 4-tuple between two times, as tcpdump prints them.
pub fn packets_around(pcap: &Path, c: &ConnTruth, from: f64, to: f64) -> String {
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

/// Collects disagreements and, for the first few, the truth record, the
/// row and the tuple's packets from the generator's capture.
pub struct Findings<'a> {
    pub pcap: &'a Path,
    pub problems: Vec<String>,
    pub examples: String,
}

impl<'a> Findings<'a> {
    pub fn new(pcap: &'a Path) -> Self {
        Findings {
            pcap,
            problems: Vec::new(),
            examples: String::new(),
        }
    }

    pub fn example(
        &mut self,
        what: &str,
        c: &ConnTruth,
        r: Option<&Row>,
        next: Option<&ConnTruth>,
    ) {
        if self.examples.len() > 12_000 {
            return;
        }
        let to = next.map_or(c.end + 0.005, |n| n.start + 0.0005);
        let _ = writeln!(
            self.examples,
            "  {what}\n    truth: {}\n    row:   {}\n    packets:\n{}",
            serde_json::to_string(c).unwrap_or_default(),
            r.map_or("(none)", |r| r.line.as_str()),
            packets_around(self.pcap, c, c.start - 0.0005, to)
        );
    }

    /// Panics with `what` (who disagrees with what), the problems (the
    /// first 30) and the examples.
    pub fn assert_none(&self, what: &str) {
        if self.problems.is_empty() {
            return;
        }
        let shown: Vec<String> = self
            .problems
            .iter()
            .take(30)
            .map(|s| format!("  {s}"))
            .collect();
        panic!(
            "{what}, in {} places:\n{}\n\nexamples:\n{}",
            self.problems.len(),
            shown.join("\n"),
            self.examples
        );
    }
}

/// The check of `loopback_truth.rs`: per 4-tuple, the number of rows equals
/// the truth's (connections + stale-ACK episodes in the zeek model) and, in
/// time order, each row has the bytes and a conn_state its connection
/// allows; no row is on a tuple the generator never used. With
/// `histories`, each row's history must also fit (see [`history_problem`]).
/// Returns the number of tuples compared.
pub fn compare_per_tuple(
    t: &Truth,
    rows: &[Row],
    strict: bool,
    histories: bool,
    f: &mut Findings<'_>,
) -> usize {
    let truth_by = expected_rows(t, strict);
    let mut rows_by: BTreeMap<(u16, u16), Vec<&Row>> = BTreeMap::new();
    for r in rows {
        rows_by.entry((r.orig_p, r.resp_p)).or_default().push(r);
    }
    for (k, tc) in &truth_by {
        let mut rs = rows_by.remove(k).unwrap_or_default();
        rs.sort_by(|a, b| a.ts.total_cmp(&b.ts));
        if rs.len() != tc.len() {
            f.problems.push(format!(
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
            let problem = row_problem(c, stale, strict, r)
                .or_else(|| histories.then(|| history_problem(c, stale, r)).flatten());
            if let Some(p) = problem {
                f.problems.push(format!(
                    "tuple {}->{} row #{i} ({}{}): {p}",
                    k.0,
                    k.1,
                    c.pattern,
                    if stale { ", stale-ACK attempt" } else { "" },
                ));
                f.example(
                    &format!("first disagreement on {}->{} (#{i})", k.0, k.1),
                    c,
                    Some(r),
                    tc.get(i + 1).map(|x| x.0),
                );
                break;
            }
        }
        if rs.len() != tc.len() {
            // Show where the counts part: the first row whose ts lies
            // outside its expected connection.
            let idx = tc
                .iter()
                .zip(&rs)
                .position(|((c, _), r)| r.ts < c.start || r.ts > c.end)
                .unwrap_or(tc.len().min(rs.len()));
            if let Some(&(c, _)) = tc.get(idx.min(tc.len() - 1)) {
                f.example(
                    &format!("count mismatch on {}->{} near #{idx}", k.0, k.1),
                    c,
                    rs.get(idx).copied(),
                    tc.get(idx + 1).map(|x| x.0),
                );
            }
        }
    }
    for (k, rs) in &rows_by {
        f.problems.push(format!(
            "{} rows for tuple {}->{} the generator never used",
            rs.len(),
            k.0,
            k.1
        ));
    }
    truth_by.len()
}
