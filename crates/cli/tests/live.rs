//! Live capture (`-i`) on the loopback interface: needs root (CI runs as
//! root); a test fails, never skips, when it cannot open the interface.
//! Loopback checksums are offloaded, so every run uses `-C`.

mod common;

use common::stat;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_quartet");

fn require_root() {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .expect("running id -u");
    let uid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        uid, "0",
        "live capture tests need root (CAP_NET_RAW on lo); CI runs them as root"
    );
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quartet-live-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn start(filter: &str, log: &Path) -> Child {
    let child = Command::new(BIN)
        .args(["-i", "lo", "-C", "--stats", "-f", filter, "-o"])
        .arg(log)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting quartet");
    // Time to open the interface and install the filter.
    std::thread::sleep(Duration::from_millis(1500));
    child
}

fn signal(child: &Child, sig: &str) {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .expect("running kill");
    assert!(st.success(), "kill -{sig} failed");
}

/// Waits at most 20 s for the exit; returns the status and stderr.
fn finish(mut child: Child) -> (ExitStatus, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().expect("waiting for quartet") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("quartet did not exit after the signal");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut err)
        .expect("stderr");
    (status, err)
}

fn rows(log: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(log)
        .unwrap_or_else(|e| panic!("reading {}: {e}", log.display()))
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[test]
fn live_tcp_connections_are_logged_and_sigint_exits_cleanly() {
    require_root();
    let listener = TcpListener::bind("127.0.0.1:0").expect("listening");
    let port = listener.local_addr().expect("addr").port();
    let dir = tmpdir("tcp");
    let log = dir.join("conn.log");
    let child = start(&format!("tcp port {port}"), &log);
    for _ in 0..3 {
        let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
        let (mut s, _) = listener.accept().expect("accepting");
        c.write_all(b"hello").expect("writing");
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).expect("reading");
        s.write_all(b"bye").expect("answering");
        c.read_exact(&mut buf[..3]).expect("reading the answer");
    }
    std::thread::sleep(Duration::from_millis(1000));
    signal(&child, "INT");
    let (status, err) = finish(child);
    assert!(status.success(), "exit {status:?}\n{err}");
    let text = std::fs::read_to_string(&log).expect("the log");
    assert!(text.contains("\n#close\t"), "no #close:\n{text}");
    let rows = rows(&log);
    let ours: Vec<_> = rows.iter().filter(|r| r[5] == port.to_string()).collect();
    assert_eq!(ours.len(), 3, "{text}\n{err}");
    for r in ours {
        assert_eq!(r[6], "tcp");
        assert_eq!(r[9], "5", "orig_bytes: {r:?}");
        assert_eq!(r[10], "3", "resp_bytes: {r:?}");
    }
    assert!(err.contains("dropped: ok"), "conservation:\n{err}");
    assert!(err.contains("kernel dropped: "), "{err}");
    assert!(err.contains("interface dropped: "), "{err}");
}

/// On a quiet link the wall-clock ticks move network time: a TCP
/// connection closed by both sides is removed by its close timer (5 s)
/// while no packet arrives, so it is not among the connections flushed by
/// the signal; an open UDP flow (60 s inactivity) is.
#[test]
fn quiet_link_ticks_expire_connections() {
    require_root();
    let listener = TcpListener::bind("127.0.0.1:0").expect("listening");
    let tport = listener.local_addr().expect("addr").port();
    let usock = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let uport = usock.local_addr().expect("addr").port();
    let dir = tmpdir("quiet");
    let log = dir.join("conn.log");
    let child = start(&format!("tcp port {tport} or udp port {uport}"), &log);
    {
        let mut c = TcpStream::connect(("127.0.0.1", tport)).expect("connecting");
        let (mut s, _) = listener.accept().expect("accepting");
        c.write_all(b"x").expect("writing");
        let mut b = [0u8; 1];
        s.read_exact(&mut b).expect("reading");
        c.shutdown(std::net::Shutdown::Both).expect("closing");
        s.shutdown(std::net::Shutdown::Both).expect("closing");
    }
    let sender = UdpSocket::bind("127.0.0.1:0").expect("udp");
    sender
        .send_to(b"ping", ("127.0.0.1", uport))
        .expect("sending");
    // Quiet for longer than tcp_close_delay.
    std::thread::sleep(Duration::from_secs(8));
    signal(&child, "INT");
    let (status, err) = finish(child);
    assert!(status.success(), "exit {status:?}\n{err}");
    assert!(stat(&err, "clock ticks") >= 10, "{err}");
    assert_eq!(stat(&err, "connections written"), 2, "{err}");
    assert_eq!(stat(&err, "flushed by signal"), 1, "{err}");
    let rows = rows(&log);
    assert!(rows
        .iter()
        .any(|r| r[5] == tport.to_string() && r[6] == "tcp"));
    assert!(rows
        .iter()
        .any(|r| r[5] == uport.to_string() && r[6] == "udp"));
}
