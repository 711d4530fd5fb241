//! The command line on broken or unusual input: truncated and corrupt
//! captures, missing and empty files, garbage after the last record,
//! standard input, and `--json`.
//!
//! Contract (see `src/main.rs`): exit 1 when the input cannot be read to its
//! end, with one stderr line naming the file and the byte offset of the
//! fault; the records of everything read before the fault are still written.
//! Damaged copies are made at test time under `CARGO_TARGET_TMPDIR`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use quartet_testkit::{connlog, linktype, Conversation, Packet, PacketBuilder, PcapWriter};

const BIN: &str = env!("CARGO_BIN_EXE_quartet");

fn shared_trace(name: &str) -> PathBuf {
    quartet_testkit::shared_path(&format!("zeek-traces/{name}"))
}

/// A fresh, empty directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bad_input-{test}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn quartet(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run quartet")
}

/// Runs `quartet -r input -o out` and returns (exit code, stderr, log text;
/// empty if no log was written). Every run is made three times more, with
/// two shards walking the file in windows of a few hundred bytes (so that
/// the guessed window starts are checked on every record layout of these
/// tests), with the reader sharing those windows' walk as it does by
/// default, and with one reader walking it: each must end the same way.
fn run(input: &Path, out: &Path) -> (Option<i32>, String, String) {
    let once = |extra: &[&str], out: &Path| {
        let _ = fs::remove_file(out);
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "-r".as_ref(),
            input.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ];
        args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
        let res = quartet(&args);
        let log = fs::read_to_string(out).unwrap_or_default();
        (
            res.status.code(),
            String::from_utf8_lossy(&res.stderr).into_owned(),
            log,
        )
    };
    let got = once(&[], out);
    let other = out.with_extension("other.log");
    for extra in [
        &[
            "--threads",
            "2",
            "--walk-window",
            "300",
            "--walk-shards-only",
        ][..],
        &["--threads", "2", "--walk-window", "300"][..],
        &["--threads", "2", "--walk-window", "0"][..],
    ] {
        let (code, stderr, log) = once(extra, &other);
        assert_eq!((code, &stderr), (got.0, &got.1), "{extra:?} on {input:?}");
        assert_eq!(
            connlog::normalize_tsv(&log),
            connlog::normalize_tsv(&got.2),
            "{extra:?} on {input:?}: another log"
        );
    }
    let _ = fs::remove_file(&other);
    got
}

fn rows(log: &str) -> Vec<Vec<String>> {
    if log.is_empty() {
        return Vec::new();
    }
    connlog::parse_tsv(log).expect("conn.log parses").rows
}

/// Asserts stderr is exactly one line, `quartet: <path>: ...`, containing
/// every `needle`.
fn assert_one_line_error(stderr: &str, path: &Path, needles: &[&str]) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr should be one line:\n{stderr}");
    let prefix = format!("quartet: {}: ", path.display());
    assert!(
        lines[0].starts_with(&prefix),
        "stderr should start with {prefix:?}: {stderr}"
    );
    for n in needles {
        assert!(lines[0].contains(n), "stderr lacks {n:?}: {stderr}");
    }
}

/// (offset, caplen, ts in µs) of every record of a little-endian microsecond
/// pcap.
fn pcap_records(bytes: &[u8]) -> Vec<(usize, usize, i64)> {
    assert_eq!(
        &bytes[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "LE µs pcap expected"
    );
    let rd = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let mut out = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        let caplen = rd(at + 8) as usize;
        let ts = i64::from(rd(at)) * 1_000_000 + i64::from(rd(at + 4));
        out.push((at, caplen, ts));
        at += 16 + caplen;
    }
    assert_eq!(at, bytes.len(), "trace ends inside a record");
    out
}

/// A small valid capture: a few TCP connections and a UDP exchange.
fn sample_capture() -> Vec<u8> {
    let t = |ms: u64| Duration::from_secs(1_600_000_000) + Duration::from_millis(ms);
    let mut lists = Vec::new();
    for i in 0..3u64 {
        let client = format!("10.0.0.{}:{}", i + 1, 40000 + i).parse().unwrap();
        let mut c = Conversation::new(client, "10.0.1.1:80".parse().unwrap());
        let b = i * 100;
        c.syn(t(b))
            .synack(t(b + 1))
            .ack(t(b + 2))
            .data_c2s(t(b + 3), 100)
            .data_s2c(t(b + 4), 300)
            .fin_c2s(t(b + 5))
            .fin_s2c(t(b + 6))
            .ack(t(b + 7));
        lists.push(c.into_packets());
    }
    lists.push(vec![Packet {
        ts: t(50),
        frame: PacketBuilder::udp(
            "10.0.0.9:5000".parse().unwrap(),
            "10.0.1.1:5001".parse().unwrap(),
        )
        .payload_len(10)
        .build(),
    }]);
    let mut w = PcapWriter::in_memory(linktype::ETHERNET);
    w.write_packets(&quartet_testkit::pcap::merge(lists))
        .unwrap();
    w.finish().unwrap()
}

/// (a) A real capture cut in the middle of a record: exit 1, one line with
/// the file and the offset of the cut record, and exactly the rows of the
/// records before it.
#[test]
fn truncated_real_capture_reports_offset_and_keeps_earlier_rows() {
    let dir = scratch("truncated");
    let bytes = fs::read(shared_trace("wikipedia.pcap")).unwrap();
    let recs = pcap_records(&bytes);
    assert!(recs.len() > 10, "wikipedia.pcap has {} records", recs.len());
    let (cut_at, caplen, cut_ts) = recs[recs.len() / 2];
    assert!(caplen > 2);
    let cut = dir.join("cut.pcap");
    fs::write(&cut, &bytes[..cut_at + 16 + caplen / 2]).unwrap();
    // The same records, ending cleanly before the cut one.
    let prefix = dir.join("prefix.pcap");
    fs::write(&prefix, &bytes[..cut_at]).unwrap();

    let (code, stderr, log) = run(&cut, &dir.join("cut.log"));
    assert_eq!(code, Some(1), "stderr: {stderr}");
    let offset = format!("byte offset {cut_at}");
    assert_one_line_error(&stderr, &cut, &["truncated", &offset]);
    assert!(
        stderr.trim_end().ends_with(&offset),
        "offset must be exact: {stderr}"
    );

    let got = rows(&log);
    assert!(!got.is_empty(), "rows before the cut must be written");
    let fields = connlog::parse_tsv(&log).unwrap();
    let ts_col = fields.column("ts").unwrap();
    for r in &got {
        let (s, us) = r[ts_col].split_once('.').unwrap();
        let ts: i64 = s.parse::<i64>().unwrap() * 1_000_000 + us.parse::<i64>().unwrap();
        assert!(ts < cut_ts, "row starts at or after the cut record: {r:?}");
    }

    let (pcode, pstderr, plog) = run(&prefix, &dir.join("prefix.log"));
    assert_eq!(pcode, Some(0), "prefix run failed: {pstderr}");
    assert_eq!(
        connlog::normalize_tsv(&log),
        connlog::normalize_tsv(&plog),
        "the truncated run must log exactly what the clean prefix logs"
    );
    let _ = fs::remove_dir_all(&dir);
}

/// (b) A missing file: non-zero exit, the message names the file.
#[test]
fn missing_file_is_named() {
    let dir = scratch("missing");
    let path = dir.join("no-such-trace.pcap");
    let (code, stderr, log) = run(&path, &dir.join("conn.log"));
    assert_ne!(code, Some(0));
    assert_eq!(code, Some(1), "stderr: {stderr}");
    assert_one_line_error(&stderr, &path, &[]);
    assert!(log.is_empty(), "no log for a missing input");
    let _ = fs::remove_dir_all(&dir);
}

/// (c) Random bytes and a wrong magic: exit 1, `unknown capture format`.
#[test]
fn wrong_magic_is_unknown_capture_format() {
    let dir = scratch("magic");
    // Deterministic "random" bytes (xorshift), forced to a non-magic start.
    let mut noise = quartet_testkit::noise::XorShift::new(0x9e37_79b9_7f4a_7c15).bytes(4096);
    noise[..4].copy_from_slice(b"RND!");
    let mut wrong_magic = sample_capture();
    wrong_magic[..4].copy_from_slice(&[0xa1, 0xb2, 0xc3, 0xd5]);
    for (name, bytes) in [("noise.bin", noise), ("wrong-magic.pcap", wrong_magic)] {
        let path = dir.join(name);
        fs::write(&path, bytes).unwrap();
        let (code, stderr, log) = run(&path, &dir.join("conn.log"));
        assert_eq!(code, Some(1), "{name}: {stderr}");
        assert_one_line_error(&stderr, &path, &["unknown capture format", "byte offset 0"]);
        assert!(rows(&log).is_empty());
    }
    let _ = fs::remove_dir_all(&dir);
}

/// (d) A record header claiming a 1 GiB capture length is corrupt, reported
/// at the record's offset; the records before it are written.
#[test]
fn absurd_caplen_is_a_corrupt_record() {
    let dir = scratch("caplen");
    let valid = sample_capture();
    let mut bytes = valid.clone();
    let mut h = Vec::new();
    h.extend_from_slice(&1_600_000_001u32.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    h.extend_from_slice(&(1u32 << 30).to_le_bytes()); // caplen
    h.extend_from_slice(&(1u32 << 30).to_le_bytes()); // wire length
    bytes.extend_from_slice(&h);
    bytes.extend_from_slice(&[0u8; 64]);
    let path = dir.join("caplen.pcap");
    fs::write(&path, &bytes).unwrap();
    let (code, stderr, log) = run(&path, &dir.join("conn.log"));
    assert_eq!(code, Some(1), "stderr: {stderr}");
    let offset = format!("byte offset {}", valid.len());
    assert_one_line_error(&stderr, &path, &["corrupt record", &offset]);
    assert_eq!(rows(&log).len(), 4, "the 3 TCP rows and the UDP row");
    let _ = fs::remove_dir_all(&dir);
}

/// (e) Garbage after a valid capture: an error at the end of the last good
/// record, everything before it logged as if the file ended there.
#[test]
fn garbage_after_a_valid_capture() {
    let dir = scratch("garbage");
    let valid = sample_capture();
    let good = dir.join("good.pcap");
    fs::write(&good, &valid).unwrap();
    let (gcode, gstderr, glog) = run(&good, &dir.join("good.log"));
    assert_eq!(gcode, Some(0), "{gstderr}");
    assert!(gstderr.is_empty(), "{gstderr}");
    assert_eq!(rows(&glog).len(), 4);

    // Short garbage (not even a record header) and long garbage (a header
    // whose lengths are nonsense).
    for (name, tail) in [
        ("short.pcap", &b"garbage"[..]),
        ("long.pcap", &b"garbage!garbage!garbage!garbage!"[..]),
    ] {
        let mut bytes = valid.clone();
        bytes.extend_from_slice(tail);
        let path = dir.join(name);
        fs::write(&path, &bytes).unwrap();
        let (code, stderr, log) = run(&path, &dir.join("conn.log"));
        assert_eq!(code, Some(1), "{name}: {stderr}");
        let offset = format!("byte offset {}", valid.len());
        assert_one_line_error(&stderr, &path, &[&offset]);
        assert_eq!(
            connlog::normalize_tsv(&log),
            connlog::normalize_tsv(&glog),
            "{name}: rows before the garbage"
        );
    }
    let _ = fs::remove_dir_all(&dir);
}

/// (f) An empty file is not a capture (exit 1, offset 0); a file with only a
/// pcap header is a capture without packets (exit 0, no rows).
#[test]
fn empty_file_and_header_only_file() {
    let dir = scratch("empty");
    let empty = dir.join("empty.pcap");
    fs::write(&empty, b"").unwrap();
    let (code, stderr, log) = run(&empty, &dir.join("conn.log"));
    assert_eq!(code, Some(1), "stderr: {stderr}");
    assert_one_line_error(&stderr, &empty, &["byte offset 0"]);
    assert!(rows(&log).is_empty());

    let header_only = shared_trace("empty.pcap");
    let (code, stderr, log) = run(&header_only, &dir.join("conn.log"));
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert!(rows(&log).is_empty());
    let _ = fs::remove_dir_all(&dir);
}

/// Runs quartet with `bytes` on standard input and the given flags,
/// writing to standard output.
fn run_stdin(bytes: &[u8], flags: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(["-r", "-", "-o", "-"])
        .args(flags)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run quartet");
    let mut stdin = child.stdin.take().unwrap();
    let data = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().expect("writing stdin");
    out
}

/// `-r -` reads standard input (same log as the file), and `--json` writes
/// one parseable JSON object per TSV row, saying the same thing.
#[test]
fn stdin_input_and_json_output() {
    let trace = shared_trace("wikipedia.pcap");
    let bytes = fs::read(&trace).unwrap();

    let from_file = quartet(&[
        "-r".as_ref(),
        trace.as_os_str(),
        "-o".as_ref(),
        "-".as_ref(),
    ]);
    assert!(from_file.status.success(), "{from_file:?}");
    let tsv_text = String::from_utf8(from_file.stdout).unwrap();

    let tsv = run_stdin(&bytes, &[]);
    assert!(
        tsv.status.success(),
        "{}",
        String::from_utf8_lossy(&tsv.stderr)
    );
    let stdin_text = String::from_utf8(tsv.stdout).unwrap();
    assert_eq!(
        connlog::normalize_tsv(&stdin_text),
        connlog::normalize_tsv(&tsv_text),
        "reading stdin must give the same log as reading the file"
    );
    let log = connlog::parse_tsv(&stdin_text).unwrap();
    assert!(!log.rows.is_empty());

    let json = run_stdin(&bytes, &["--json"]);
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let json_text = String::from_utf8(json.stdout).unwrap();
    let json_rows = connlog::parse_json_lines(&json_text).expect("JSON lines parse");
    assert_eq!(json_rows.len(), log.rows.len(), "JSON vs TSV row count");
    assert_eq!(
        json_text.lines().filter(|l| !l.trim().is_empty()).count(),
        log.rows.len(),
        "one JSON object per line, nothing else"
    );
    let problems = connlog::json_matches_tsv(&log, &json_rows);
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // A truncated capture on stdin: the error names `-`, rows still written.
    let recs = pcap_records(&bytes);
    let (cut_at, caplen, _) = recs[recs.len() / 2];
    let cut = run_stdin(&bytes[..cut_at + 16 + caplen / 2], &[]);
    assert_eq!(cut.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&cut.stderr);
    assert_one_line_error(
        &stderr,
        Path::new("-"),
        &[&format!("truncated record at byte offset {cut_at}")],
    );
    let text = String::from_utf8(cut.stdout).unwrap();
    assert!(!connlog::parse_tsv(&text).unwrap().rows.is_empty());
}
