//! Arbitrary bytes as a classic pcap file walked in windows, the way the
//! shards share the walk of a mapped capture (`quartet_capture::Windows`):
//! each window from its guessed start, every guess checked against where
//! the walk of the window before ended, and walked again from there when it
//! was wrong. The frames and the error must be exactly those of the
//! sequential reader over the same bytes, whatever the window size (taken
//! from the first input byte) and however the guesses are fooled.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;

/// A frame as both readers lend it: time, wire length, bytes.
type Seen = (i64, u32, Vec<u8>);

fuzz_target!(|data: &[u8]| {
    let Some((&first, bytes)) = data.split_first() else {
        return;
    };
    let size = 1 + usize::from(first) * 13;
    let Some(windows) = quartet_capture::windows_of_bytes("fuzz", bytes.to_vec(), size) else {
        return;
    };
    let Ok(mut source) =
        quartet_capture::open_reader("fuzz", Box::new(Cursor::new(bytes.to_vec())))
    else {
        panic!("windows for bytes the sequential reader cannot open");
    };
    let mut want: Vec<Seen> = Vec::new();
    let want_err = loop {
        match source.next_frame() {
            Ok(Some(f)) => want.push((f.ts.micros(), f.wire_len, f.data.to_vec())),
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        }
    };
    let mut got: Vec<Seen> = Vec::new();
    let mut expected = windows.first();
    let mut got_err = None;
    'windows: for k in 0..windows.count() {
        let from = match windows.sync(k) {
            Some(g) if g == expected => g,
            _ => expected,
        };
        let mut walk = windows.walk(k, from);
        loop {
            match walk.next_frame() {
                Ok(Some(f)) => got.push((f.ts.micros(), f.wire_len, f.data.to_vec())),
                Ok(None) => break,
                Err(e) => {
                    got_err = Some(e.to_string());
                    break 'windows;
                }
            }
        }
        expected = walk.position();
    }
    assert_eq!(got_err, want_err, "window size {size}");
    assert!(got == want, "window size {size}: frames differ");
});
