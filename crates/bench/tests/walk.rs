//! `quartet-benchgen walk` reads every frame of a capture and counts its
//! keys: checked on a capture the generator itself writes.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_quartet-benchgen");

#[test]
fn walk_reads_every_frame_and_counts_the_keys() {
    let dir = std::env::temp_dir().join(format!("quartet-walk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let pcap = dir.join("concurrent.pcap");
    let st = Command::new(BIN)
        .args(["concurrent", "--conns", "50", "--out"])
        .arg(&pcap)
        .status()
        .expect("running quartet-benchgen");
    assert!(st.success());
    let out = Command::new(BIN)
        .arg("walk")
        .arg(&pcap)
        .output()
        .expect("running quartet-benchgen walk");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).expect("utf-8");
    // 50 handshakes and their RSTs: 200 frames, each connection's in two
    // directions, so 100 keys.
    assert!(line.contains("\"packets\": 200,"), "{line}");
    assert!(line.contains("\"keys\": 100,"), "{line}");
    let _ = std::fs::remove_dir_all(&dir);
}
