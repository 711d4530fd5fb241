//! Arbitrary bytes as a capture stream (pcap, pcapng, either gzipped), read
//! to the end or to the first error. Must never panic, never allocate without
//! bound (the `MAX_CAPLEN` guard and the grow-as-data-arrives buffer) and
//! never loop forever: every frame consumes input, so the number of frames is
//! bounded by the (decompressed) length.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;

/// Deflate expands at most about 1032:1; the smallest record that yields a
/// frame is 16 bytes (a pcap record header or a pcapng Simple Packet Block).
const MAX_EXPANSION: usize = 1032;
const MIN_RECORD: usize = 12;

fuzz_target!(|data: &[u8]| {
    let reader = Box::new(Cursor::new(data.to_vec()));
    let Ok(mut source) = quartet_capture::open_reader("fuzz", reader) else {
        return;
    };
    let bound = data.len() * MAX_EXPANSION / MIN_RECORD + 1;
    let mut frames = 0usize;
    let mut bytes = 0usize;
    loop {
        match source.next_frame() {
            Ok(Some(frame)) => {
                frames += 1;
                bytes += frame.data.len();
                assert!(
                    frames <= bound,
                    "{frames} frames from {} input bytes: the reader is not consuming input",
                    data.len()
                );
                assert!(frame.data.len() as u64 <= u64::from(quartet_capture::MAX_CAPLEN));
                assert!(bytes <= data.len() * MAX_EXPANSION + 1);
            }
            Ok(None) => break,
            Err(e) => {
                // Errors must format without panicking.
                let _ = e.to_string();
                break;
            }
        }
    }
});
