//! The committed golden traces and sample are exactly what the generator
//! makes today, and every golden directory belongs to a generated case.
//! After changing `golden.rs`, run `cargo run -p quartet-testkit --bin mkgolden`
//! and update the affected expected logs by hand.

use std::fs;
use std::path::{Path, PathBuf};

use quartet_testkit::golden;
use quartet_testkit::pcap::{linktype, PcapWriter};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn pcap_bytes(linktype: u32, packets: &[quartet_testkit::Packet]) -> Vec<u8> {
    let mut w = PcapWriter::in_memory(linktype);
    w.write_packets(packets).unwrap();
    w.finish().unwrap()
}

fn check(path: &Path, want: &[u8]) -> Option<String> {
    match fs::read(path) {
        Ok(got) if got == want => None,
        Ok(_) => Some(format!(
            "{} differs from the generator (run mkgolden)",
            path.display()
        )),
        Err(e) => Some(format!("{}: {e} (run mkgolden)", path.display())),
    }
}

#[test]
fn golden_traces_are_up_to_date() {
    let dir = root().join("tests/golden");
    let cases = golden::cases();
    let mut problems: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            check(
                &dir.join(c.name).join("trace.pcap"),
                &pcap_bytes(c.linktype, &c.packets),
            )
        })
        .collect();
    for entry in fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            let name = entry.file_name().into_string().unwrap();
            if !cases.iter().any(|c| c.name == name) {
                problems.push(format!("tests/golden/{name} has no case in golden.rs"));
            }
        }
    }
    problems.extend(check(
        &root().join("samples/sample.pcap"),
        &pcap_bytes(linktype::ETHERNET, &golden::sample()),
    ));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
