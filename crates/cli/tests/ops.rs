//! Operations on file reads: SIGTERM and SIGHUP during a long read, and
//! `--rotate` of conn.log and weird.log in local time. Needs
//! `../shared/zeek-traces` beside the repository.

mod common;

use common::stat;
use quartet_testkit::{linktype, PacketBuilder, PcapWriter};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_quartet");

fn trace(rel: &str) -> PathBuf {
    quartet_testkit::shared_path(&format!("zeek-traces/{rel}"))
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

/// Runs `quartet --stats` on wikipedia.pcap replicated 6000 times in
/// `dir` (816,000 frames), sending each of `signals` after its delay, the
/// last one a SIGTERM; returns the exit status, stderr and the log's path.
/// How long the read takes depends on the build and the machine: when it
/// ended before the SIGTERM (no "flushed by signal"), the run is made again
/// with the delays a quarter as long, down to a sixteenth.
fn interrupted_read(dir: &Path, signals: &[(&str, u64)]) -> (ExitStatus, String, PathBuf) {
    let big = dir.join("big.pcap");
    replicate(&trace("wikipedia.pcap"), 6000, &big);
    let log = dir.join("conn.log");
    let mut last = String::new();
    for div in [1, 4, 16] {
        let _ = fs::remove_file(&log);
        let child = Command::new(BIN)
            .arg("-r")
            .arg(&big)
            .arg("-o")
            .arg(&log)
            .arg("--stats")
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting quartet");
        for &(sig, ms) in signals {
            std::thread::sleep(Duration::from_millis(ms / div));
            kill(&child, sig);
        }
        let (status, err) = wait(child);
        if err.contains("flushed by signal: ") {
            return (status, err, log);
        }
        last = err;
    }
    panic!("the read ended before the signal every time (make the trace bigger):\n{last}");
}

#[test]
fn sigterm_during_a_long_read_flushes_and_closes_the_log() {
    let dir = tmpdir("term");
    let (status, err, log) = interrupted_read(&dir, &[("TERM", 400)]);
    assert!(status.success(), "exit {status:?}\n{err}");
    assert!(err.contains("dropped: ok"), "conservation:\n{err}");
    let text = fs::read_to_string(&log).expect("the log");
    assert_valid_log(&text);
    let frames = stat(&err, "frames read");
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
        .env("TZ", "UTC")
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
    let mut stamps = Vec::new();
    for f in &files {
        // conn.YYYY-MM-DD-HH-MM-SS.log: the time the file was opened.
        let stamp = f
            .strip_prefix("conn.")
            .and_then(|s| s.strip_suffix(".log"))
            .unwrap_or_else(|| panic!("rotated name {f}"));
        assert_eq!(stamp.len(), 19, "{f}");
        stamps.push(stamp.to_string());
        let text = fs::read_to_string(rot.join(f)).expect("reading");
        assert_valid_log(&text);
        rows.extend(data_rows(&text));
    }
    // The first file is named by its first row's time, every later one by
    // the 10 s boundary that began it.
    for s in &stamps[1..] {
        assert!(s.ends_with('0'), "{stamps:?}");
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
    let (status, err, log) = interrupted_read(&dir, &[("HUP", 400), ("TERM", 300)]);
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

/// A one-datagram UDP flow from source port `sport`.
fn udp_frame(sport: u16) -> Vec<u8> {
    let c: SocketAddr = format!("10.0.0.1:{sport}").parse().expect("address");
    let s: SocketAddr = "10.1.0.1:7000".parse().expect("address");
    PacketBuilder::udp(c, s).payload(b"x").build()
}

/// An Ethernet frame whose IPv4 header is cut short: a `truncated_IP`
/// weird that belongs to no connection.
fn truncated_frame() -> Vec<u8> {
    udp_frame(1)[..14 + 19].to_vec()
}

/// 2026-11-29 22:10:00 UTC (2026-11-30 03:40:00 in Kolkata, +05:30).
const T0: u64 = 1_795_990_200;

/// Four UDP flows (source ports 5000..5003) 30 minutes apart from T0,
/// each followed half a second later by a truncated frame. Each flow's row
/// is written when the next flow's packet moves network time past its 60 s
/// inactivity timeout; the last one at the end.
fn rotation_trace(path: &Path) {
    let mut w = PcapWriter::create(path, linktype::ETHERNET).expect("creating the trace");
    for i in 0..4u64 {
        let t = Duration::from_secs(T0 + i * 1800);
        w.write(t, &udp_frame(5000 + i as u16)).expect("writing");
        w.write(t + Duration::from_millis(500), &truncated_frame())
            .expect("writing");
    }
    w.finish().expect("flushing");
}

/// Runs `--rotate 1h` with conn.log and weird.log under the time zone `tz`;
/// returns each file found with its rows' keys (conn.log: source port,
/// weird.log: minutes from T0 to its `ts`, as `+30m`).
fn rotate_in(tz: &str, trace: &Path, dir: &Path) -> BTreeMap<String, Vec<String>> {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).expect("dir");
    let out = Command::new(BIN)
        .env("TZ", tz)
        .arg("-r")
        .arg(trace)
        .arg("-o")
        .arg(dir.join("conn.log"))
        .arg("-w")
        .arg(dir.join("weird.log"))
        .args(["--rotate", "1h", "--stats"])
        .output()
        .expect("running quartet");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "TZ={tz}: {err}");
    let mut files = BTreeMap::new();
    for e in fs::read_dir(dir).expect("listing") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        let text = fs::read_to_string(dir.join(&name)).expect("reading");
        assert_valid_log(&text);
        let keys = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                if name.starts_with("conn.") {
                    f[3].to_string()
                } else {
                    // e.g. 1795990200.500000 -> +0m
                    let secs: f64 = f[0].parse().expect("ts");
                    format!("+{}m", (secs as u64 - T0) / 60)
                }
            })
            .collect();
        files.insert(name, keys);
    }
    assert!(
        err.contains(&format!("log files rotated: {}", files.len())),
        "TZ={tz}: every file was rotated:\n{err}"
    );
    files
}

fn expect(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(f, keys)| (f.to_string(), keys.iter().map(|k| k.to_string()).collect()))
        .collect()
}

/// `--rotate 1h` splits conn.log and weird.log at the same boundaries,
/// which are full hours of local time (Zeek's `log_rotate_base_time` 0:00
/// in the `TZ` zone), and names each closed file by the local time it was
/// opened at: its first row's, or the boundary that began it.
#[test]
fn rotation_follows_the_local_time_zone() {
    let dir = tmpdir("tz");
    let trace = dir.join("rot.pcap");
    rotation_trace(&trace);

    // UTC: the boundary is 23:00 UTC.
    let utc = rotate_in("UTC", &trace, &dir.join("utc"));
    assert_eq!(
        utc,
        expect(&[
            ("conn.2026-11-29-22-40-00.log", &["5000"]),
            ("conn.2026-11-29-23-00-00.log", &["5001", "5002", "5003"]),
            ("weird.2026-11-29-22-10-00.log", &["+0m", "+30m"]),
            ("weird.2026-11-29-23-00-00.log", &["+60m", "+90m"]),
        ])
    );

    // +05:30: the boundaries are 04:00 and 05:00 local (22:30 and 23:30
    // UTC); a file that no row opened before a boundary is named by its
    // first row.
    let kolkata = expect(&[
        ("conn.2026-11-30-04-10-00.log", &["5000", "5001"]),
        ("conn.2026-11-30-05-00-00.log", &["5002", "5003"]),
        ("weird.2026-11-30-03-40-00.log", &["+0m"]),
        ("weird.2026-11-30-04-00-00.log", &["+30m", "+60m"]),
        ("weird.2026-11-30-05-00-00.log", &["+90m"]),
    ]);
    assert!(
        Path::new("/usr/share/zoneinfo/Asia/Kolkata").is_file(),
        "TZ=Asia/Kolkata needs the tzdata package (/usr/share/zoneinfo)"
    );
    assert_eq!(
        rotate_in("Asia/Kolkata", &trace, &dir.join("iana")),
        kolkata
    );
    // The same zone as a POSIX TZ string (no tzdata needed).
    assert_eq!(rotate_in("IST-5:30", &trace, &dir.join("posix")), kolkata);
}

/// SIGHUP closes weird.log (with `#close`) and opens it anew, like
/// conn.log. The capture comes through a pipe so that the signal falls
/// between two known halves: the first batch (4096 frames) is written
/// before it, the rest after.
#[test]
fn sighup_reopens_the_weird_log() {
    let dir = tmpdir("hup-weird");
    let weird = dir.join("weird.log");
    let frames = |w: &mut PcapWriter<Vec<u8>>, from: u64, n: u64| {
        for i in from..from + n {
            let t = Duration::from_secs(T0) + Duration::from_millis(i);
            w.write(t, &truncated_frame()).expect("writing");
        }
    };
    let mut first = PcapWriter::in_memory(linktype::ETHERNET);
    frames(&mut first, 0, 5000);
    let first = first.finish().expect("bytes");
    let mut second = PcapWriter::in_memory(linktype::ETHERNET);
    frames(&mut second, 5000, 5000);
    // The second half without its file header.
    let second = second.finish().expect("bytes")[24..].to_vec();

    let mut child = Command::new(BIN)
        .args(["-r", "-", "--stats", "-o"])
        .arg(dir.join("conn.log"))
        .arg("-w")
        .arg(&weird)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting quartet");
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(&first).expect("first half");
    stdin.flush().expect("flushing");
    std::thread::sleep(Duration::from_millis(1500));
    kill(&child, "HUP");
    std::thread::sleep(Duration::from_millis(300));
    stdin.write_all(&second).expect("second half");
    drop(stdin);
    let (status, err) = wait(child);
    assert!(status.success(), "exit {status:?}\n{err}");
    assert!(err.contains("logs reopened (SIGHUP): 1"), "{err}");
    let text = fs::read_to_string(&weird).expect("weird.log");
    // Two files in one: the one closed by SIGHUP, then the one appended.
    let blocks: Vec<&str> = text.split("#close\t").collect();
    assert_eq!(blocks.len(), 3, "two #close lines:\n{text}");
    let rows = |b: &str| b.lines().filter(|l| !l.starts_with('#')).count();
    let before = rows(blocks[0]);
    // blocks[1] starts with the rest of the first #close line.
    let after = rows(blocks[1].split_once('\n').map_or("", |(_, rest)| rest));
    assert!(before > 0 && after > 0, "rows {before} + {after}:\n{text}");
    // Zeek's sampling of one name: the first 25, then every 1000th.
    assert_eq!(before + after, 25 + 10, "{text}");
    assert!(
        blocks[1].contains("#fields\tts"),
        "a new header after SIGHUP"
    );
}

/// With stderr on a terminal (a pseudo-terminal from util-linux `script`,
/// part of every Debian system) quartet draws its progress bar, and a
/// large file is still mapped and its walk shared by the shards: the bar
/// follows the reader's position in the mapping instead of counting read
/// bytes. The log is the one written without a terminal.
#[test]
fn the_progress_bar_keeps_the_mapping_and_the_shared_walk() {
    let dir = tmpdir("progress");
    let big = dir.join("big.pcap");
    // About 16 MB: mapped, four windows of 4 MiB.
    replicate(&trace("wikipedia.pcap"), 600, &big);
    let plain = dir.join("plain.log");
    let out = Command::new(BIN)
        .arg("-r")
        .arg(&big)
        .args(["--threads", "2", "-o"])
        .arg(&plain)
        .output()
        .expect("starting quartet");
    assert!(out.status.success());
    let shown = dir.join("shown.log");
    let cmd = format!(
        "{BIN} -r {} --threads 2 --stats -o {}",
        big.display(),
        shown.display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .expect("util-linux `script` runs (Debian's bsdutils)");
    assert!(out.status.success(), "{out:?}");
    let tty = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    assert!(tty.contains("MiB/"), "no progress bar drawn:\n{tty}");
    assert!(
        tty.contains("walk windows: 4,"),
        "the file was not mapped and walked by the shards:\n{tty}"
    );
    let body = |p: &Path| {
        let text = fs::read_to_string(p).expect("a log");
        data_rows(&text)
    };
    assert_eq!(body(&shown), body(&plain));
    let _ = fs::remove_dir_all(&dir);
}
