//! Operations on file reads: SIGTERM and SIGHUP during a long read, and
//! `--rotate`. Needs `../shared/zeek-traces` beside the repository.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_quartet");

fn trace(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/zeek-traces")
        .join(rel);
    assert!(p.is_file(), "missing trace {}", p.display());
    p
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quartet-ops-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A classic little-endian pcap made of `n` copies of `src`, each copy
/// shifted after the one before.
fn replicate(src: &Path, n: u32, out: &Path) {
    let d = fs::read(src).expect("reading the trace");
    assert_eq!(
        &d[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "a little-endian µs pcap"
    );
    let mut recs = Vec::new();
    let mut o = 24;
    while o + 16 <= d.len() {
        let caplen = u32::from_le_bytes(d[o + 8..o + 12].try_into().expect("4 bytes")) as usize;
        recs.push(&d[o..o + 16 + caplen]);
        o += 16 + caplen;
    }
    let sec = |r: &[u8]| u32::from_le_bytes(r[..4].try_into().expect("4 bytes"));
    let span = sec(recs[recs.len() - 1]) - sec(recs[0]) + 2;
    let mut buf = Vec::with_capacity(d.len() * n as usize);
    buf.extend_from_slice(&d[..24]);
    for i in 0..n {
        for r in &recs {
            buf.extend_from_slice(&(sec(r) + i * span).to_le_bytes());
            buf.extend_from_slice(&r[4..]);
        }
    }
    fs::write(out, buf).expect("writing the big trace");
}

fn wait(mut child: Child) -> (ExitStatus, String) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(st) = child.try_wait().expect("waiting") {
            break st;
        }
        assert!(Instant::now() < deadline, "quartet did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut err)
        .expect("stderr");
    (status, err)
}

fn kill(child: &Child, sig: &str) {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .expect("running kill");
    assert!(st.success());
}

fn data_rows(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// A TSV log is valid: its header, rows of the header's width, `#close` last.
fn assert_valid_log(text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("#separator"), "{}", lines[0]);
    let fields = lines
        .iter()
        .find(|l| l.starts_with("#fields"))
        .expect("#fields")
        .split('\t')
        .count()
        - 1;
    for l in lines.iter().filter(|l| !l.starts_with('#')) {
        assert_eq!(l.split('\t').count(), fields, "{l}");
    }
    assert!(
        lines.last().expect("lines").starts_with("#close\t"),
        "the log does not end with #close"
    );
}

#[test]
fn sigterm_during_a_long_read_flushes_and_closes_the_log() {
    let dir = tmpdir("term");
    let big = dir.join("big.pcap");
    replicate(&trace("wikipedia.pcap"), 6000, &big);
    let log = dir.join("conn.log");
    let child = Command::new(BIN)
        .args(["-r"])
        .arg(&big)
        .arg("-o")
        .arg(&log)
        .arg("--stats")
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting quartet");
    std::thread::sleep(Duration::from_millis(400));
    kill(&child, "TERM");
    let (status, err) = wait(child);
    assert!(status.success(), "exit {status:?}\n{err}");
    assert!(
        err.contains("flushed by signal: "),
        "the read ended before the signal (make the trace bigger):\n{err}"
    );
    assert!(err.contains("dropped: ok"), "conservation:\n{err}");
    let text = fs::read_to_string(&log).expect("the log");
    assert_valid_log(&text);
    let frames: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("frames read: "))
        .expect("frames read")
        .parse()
        .expect("a number");
    assert!(frames < 6000 * 136, "every frame was read: {frames}");
}

#[test]
fn rotation_splits_the_log_at_interval_boundaries() {
    let dir = tmpdir("rotate");
    let teredo = trace("tunnels/Teredo.pcap");
    let whole = dir.join("whole.log");
    let st = Command::new(BIN)
        .arg("-r")
        .arg(&teredo)
        .arg("-o")
        .arg(&whole)
        .status()
        .expect("running quartet");
    assert!(st.success());
    let rot = dir.join("rot");
    fs::create_dir_all(&rot).expect("dir");
    let st = Command::new(BIN)
        .arg("-r")
        .arg(&teredo)
        .arg("-o")
        .arg(rot.join("conn.log"))
        .args(["--rotate", "10s"])
        .status()
        .expect("running quartet");
    assert!(st.success());
    let mut files: Vec<String> = fs::read_dir(&rot)
        .expect("listing")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    assert!(!files.contains(&"conn.log".to_string()), "{files:?}");
    let mut rows = Vec::new();
    let mut ends = Vec::new();
    for f in &files {
        // conn.YYYY-MM-DD-HH-MM-SS-YYYY-MM-DD-HH-MM-SS.log
        let stamp = f
            .strip_prefix("conn.")
            .and_then(|s| s.strip_suffix(".log"))
            .unwrap_or_else(|| panic!("rotated name {f}"));
        assert_eq!(stamp.len(), 39, "{f}");
        let (start, end) = stamp.split_at(19);
        assert!(start < &end[1..], "{f}");
        ends.push(end[1..].to_string());
        let text = fs::read_to_string(rot.join(f)).expect("reading");
        assert_valid_log(&text);
        rows.extend(data_rows(&text));
    }
    // Every boundary but the last is a multiple of 10 s.
    for e in &ends[..ends.len() - 1] {
        assert!(e.ends_with('0'), "{ends:?}");
    }
    rows.sort();
    let whole = data_rows(&fs::read_to_string(&whole).expect("reading"));
    assert_eq!(rows, whole);
}

#[test]
fn rotation_needs_a_file() {
    let out = Command::new(BIN)
        .args(["-r", "x.pcap", "-o", "-", "--rotate", "1h"])
        .output()
        .expect("running quartet");
    assert_eq!(out.status.code(), Some(2));
}

/// SIGHUP closes the log (with `#close`) and opens it anew at the same
/// path, appending when the file is still there (logrotate moves it away
/// first); no row is lost either way.
#[test]
fn sighup_reopens_the_log() {
    let dir = tmpdir("hup");
    let big = dir.join("big.pcap");
    replicate(&trace("wikipedia.pcap"), 6000, &big);
    let log = dir.join("conn.log");
    let child = Command::new(BIN)
        .arg("-r")
        .arg(&big)
        .arg("-o")
        .arg(&log)
        .arg("--stats")
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting quartet");
    std::thread::sleep(Duration::from_millis(400));
    kill(&child, "HUP");
    std::thread::sleep(Duration::from_millis(300));
    kill(&child, "TERM");
    let (status, err) = wait(child);
    assert!(status.success(), "exit {status:?}\n{err}");
    assert!(err.contains("logs reopened (SIGHUP): 1"), "{err}");
    assert!(err.contains("flushed by signal: "), "{err}");
    let text = fs::read_to_string(&log).expect("the log");
    assert_valid_log(&text);
    let written: usize = err
        .lines()
        .find_map(|l| l.strip_prefix("connections written: "))
        .expect("connections written")
        .parse()
        .expect("a number");
    assert_eq!(data_rows(&text).len(), written, "every row is in the log");
}
