//! A mapped classic pcap file cut into windows that several threads walk at
//! once.
//!
//! One thread walking a large capture frame by frame is the part of a
//! multi-threaded run that does not scale with cores: every record header
//! and the first bytes of every frame pass through its caches
//! (docs/benchmarks.md). With the whole file mapped, the walk can be
//! shared out: window `k` holds the records whose headers start in its
//! byte range, and any thread can walk it from its first record.
//!
//! Where that first record starts is only known for certain once window
//! `k - 1` has been walked to its end. [`Windows::sync`] guesses it from
//! the bytes alone (the first offset at which several record headers chain
//! plausibly), so the windows can be walked before their predecessors; the
//! caller checks each guess against the end of the previous walk, in file
//! order, and walks the window again from the right offset when it was
//! wrong. The frames, and the errors with their offsets, are then exactly
//! those the sequential reader gives.

use std::sync::Arc;

use crate::input::Chunk;
use crate::pcap::RecordFormat;
use crate::{CaptureError, CaptureErrorKind, Frame, Shared};

/// Record headers that must chain for a guessed window start.
const CHAIN: usize = 4;

/// How far ahead of the record being read a walk prefetches, as the
/// sequential reader does (`Input::take`).
const PREFETCH_AHEAD: usize = 1024;

/// A mapped pcap file's records, in windows of `size` bytes.
pub struct Windows {
    buffer: Arc<Chunk>,
    format: RecordFormat,
    path: String,
    /// Offset of the first record (after the file header).
    first: usize,
    size: usize,
}

impl Windows {
    pub(crate) fn new(
        buffer: Arc<Chunk>,
        format: RecordFormat,
        path: String,
        first: usize,
        size: usize,
    ) -> Self {
        Windows {
            buffer,
            format,
            path,
            first,
            size: size.max(1),
        }
    }

    /// The number of windows.
    pub fn count(&self) -> usize {
        self.buffer
            .len()
            .saturating_sub(self.first)
            .div_ceil(self.size)
    }

    /// Bytes per window (the last may be shorter).
    pub fn size(&self) -> usize {
        self.size
    }

    /// The offset of the first record of the file: where window 0 starts.
    pub fn first(&self) -> usize {
        self.first
    }

    /// The file's link type (classic pcap has one for all records).
    pub fn linktype(&self) -> u32 {
        self.format.linktype
    }

    /// The mapped file, which every walked frame lies in.
    pub fn buffer(&self) -> &Arc<Chunk> {
        &self.buffer
    }

    /// The byte range whose record starts belong to window `k`.
    fn range(&self, k: usize) -> (usize, usize) {
        let start = self.first.saturating_add(k.saturating_mul(self.size));
        let end = start.saturating_add(self.size).min(self.buffer.len());
        (start.min(self.buffer.len()), end)
    }

    /// A guess at where the first record of window `k` starts: the first
    /// offset in its range at which `CHAIN` plausible record headers follow
    /// each other (or run exactly to the end of the file). `None` when no
    /// offset qualifies; window 0 starts at the first record for certain.
    pub fn sync(&self, k: usize) -> Option<usize> {
        let (start, end) = self.range(k);
        if k == 0 {
            return Some(self.first);
        }
        (start..end).find(|&p| self.chains(p))
    }

    fn chains(&self, mut p: usize) -> bool {
        let data = &self.buffer[..];
        let hlen = self.format.header_len;
        let mut last = None;
        for _ in 0..CHAIN {
            if p == data.len() {
                return true;
            }
            let Some(h) = data.get(p..p + 16) else {
                return false;
            };
            let h: &[u8; 16] = h.try_into().expect("16 bytes");
            let Some(r) = self.format.plausible(h) else {
                return false;
            };
            // Captures are written in time order, give or take a little:
            // a day between neighbours is not a capture's records.
            let t = r.ts.micros();
            if last.is_some_and(|l: i64| (t - l).abs() > 86_400_000_000) {
                return false;
            }
            last = Some(t);
            p += hlen + r.caplen as usize;
            if p > data.len() {
                return false;
            }
        }
        true
    }

    /// A walk of the records that start in window `k`'s range, the first
    /// at `from` (which may lie before the range, or after it: then there
    /// is nothing to walk).
    pub fn walk(&self, k: usize, from: usize) -> WindowWalk<'_> {
        let (_, end) = self.range(k);
        WindowWalk {
            windows: self,
            pos: from,
            end,
            fetched: from,
        }
    }

    /// Hands back the pages of the file in `from..to` (whole pages within),
    /// which no one will read again: a mapping would otherwise keep every
    /// page it was read through resident, the whole file by the end.
    pub fn release(&self, from: usize, to: usize) {
        if let Chunk::Mapped(map) = &*self.buffer {
            crate::mapped::release(map, from, to);
        }
    }
}

/// The records of one window, in file order.
pub struct WindowWalk<'a> {
    windows: &'a Windows,
    /// The next record's offset.
    pos: usize,
    /// Records starting here or later belong to the next window.
    end: usize,
    fetched: usize,
}

impl<'a> WindowWalk<'a> {
    /// Where the walk is: after its last record. Once it has ended, the
    /// first record of the next window (or the end of the file).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next record of the window, `Ok(None)` past its last one. Errors
    /// are those of the sequential reader, at the same offsets.
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<Frame<'a>>, CaptureError> {
        let w = self.windows;
        let data: &'a [u8] = &w.buffer[..];
        let at = self.pos;
        if at >= self.end || at >= data.len() {
            return Ok(None);
        }
        let hlen = w.format.header_len;
        let fault = |kind| CaptureError::new(&w.path, at as u64, kind);
        let Some(h) = data.get(at..at + hlen) else {
            return Err(fault(CaptureErrorKind::Truncated));
        };
        let h: &[u8; 16] = h[..16].try_into().expect("16 bytes");
        let r = w
            .format
            .header(h)
            .map_err(|msg| fault(CaptureErrorKind::Corrupt(msg)))?;
        let total = hlen + r.caplen as usize;
        if data.len() - at < total {
            return Err(fault(CaptureErrorKind::Truncated));
        }
        self.pos = at + total;
        let ahead = self.pos + PREFETCH_AHEAD;
        crate::mapped::prefetch_range(data, self.fetched.max(self.pos), ahead);
        self.fetched = ahead;
        let frame_at = at + hlen;
        Ok(Some(Frame {
            ts: r.ts,
            linktype: w.format.linktype,
            wire_len: r.wire_len,
            data: &data[frame_at..frame_at + r.keep],
            shared: Some(Shared {
                buffer: &w.buffer,
                at: frame_at,
            }),
        }))
    }
}

#[cfg(test)]
mod test {
    use crate::testgen::{pcap, PcapRecord};
    use crate::{open, open_mapped};
    use quartet_testkit::noise::XorShift;

    /// Frames as (time, wire length, data offset, data), or the error text.
    type Walked = (Vec<(i64, u32, usize, Vec<u8>)>, Option<String>);

    fn seen(f: &crate::Frame<'_>) -> (i64, u32, usize, Vec<u8>) {
        let at = f.shared.map_or(0, |s| s.at);
        (f.ts.micros(), f.wire_len, at, f.data.to_vec())
    }

    fn sequential(path: &str) -> Walked {
        let mut src = open(path).unwrap();
        let mut out = Vec::new();
        loop {
            match src.next_frame() {
                Ok(Some(f)) => out.push(seen(&f)),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }

    /// Every window walked from its guessed start, each guess checked
    /// against where the walk of the window before ended, in order, and the
    /// window walked again from there when it was wrong, as the pipeline
    /// does. Returns the frames and how many guesses were wrong.
    fn windowed(path: &str, size: usize) -> (Walked, usize) {
        let src = open_mapped(path).unwrap();
        let w = src.windows(size).expect("a mapped pcap offers windows");
        let mut out = Vec::new();
        let mut expected = w.first();
        let mut wrong = 0;
        for k in 0..w.count() {
            let from = match w.sync(k) {
                Some(g) if g == expected => g,
                _ => {
                    wrong += 1;
                    expected
                }
            };
            let mut walk = w.walk(k, from);
            loop {
                match walk.next_frame() {
                    Ok(Some(f)) => out.push(seen(&f)),
                    Ok(None) => break,
                    Err(e) => return ((out, Some(e.to_string())), wrong),
                }
            }
            expected = walk.position();
        }
        ((out, None), wrong)
    }

    fn records(n: u32, seed: u64, max_len: u32) -> Vec<PcapRecord> {
        let mut rng = XorShift::new(seed);
        (0..n)
            .map(|i| {
                let len = u32::from(rng.byte()) * u32::from(rng.byte()) % max_len;
                let data: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
                PcapRecord {
                    sec: 1_000_000 + i / 10,
                    frac: i * 7 % 1_000_000,
                    caplen: len,
                    wire_len: len + 4,
                    data,
                }
            })
            .collect()
    }

    fn write(name: &str, bytes: &[u8]) -> String {
        let dir = std::env::temp_dir().join(format!("quartet-windows-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_string()
    }

    #[test]
    fn windows_walked_apart_give_the_frames_and_errors_of_one_walk() {
        let bytes = pcap(false, false, 1, 0, &records(3000, 7, 1500));
        let whole = write("whole.pcap", &bytes);
        let cut = write("cut.pcap", &bytes[..bytes.len() - 5]);
        let mut corrupt = bytes.clone();
        // The caplen of a record near the middle: too large to be real.
        let mid = {
            let (mut p, mut i) = (24, 0);
            while i < 1500 {
                let caplen = u32::from_le_bytes(bytes[p + 8..p + 12].try_into().unwrap());
                p += 16 + caplen as usize;
                i += 1;
            }
            p
        };
        corrupt[mid + 8..mid + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let corrupt = write("corrupt.pcap", &corrupt);
        for path in [&whole, &cut, &corrupt] {
            let want = sequential(path);
            assert!(want.0.len() > 1000, "{path}");
            for size in [1, 100, 777, 4096, 65536, 1 << 30] {
                let (got, wrong) = windowed(path, size);
                assert_eq!(got.1, want.1, "{path} size {size}");
                assert_eq!(got.0.len(), want.0.len(), "{path} size {size}");
                assert!(got.0 == want.0, "{path} size {size}: frames differ");
                if size >= 4096 {
                    // Random payloads rarely look like a run of headers.
                    assert!(wrong <= 1, "{path} size {size}: {wrong} wrong guesses");
                }
            }
        }
        assert!(sequential(&cut).1.unwrap().contains("truncated record"));
        assert!(sequential(&corrupt).1.unwrap().contains("exceeds"));
    }

    /// A capture of a pcap file being transferred: frames whose payloads
    /// are themselves runs of valid record headers. The guesses land inside
    /// them; the check against the previous window's end catches every one.
    #[test]
    fn records_inside_payloads_fool_the_guess_but_not_the_walk() {
        let inner = pcap(false, false, 1, 0, &records(200, 3, 40));
        let outer: Vec<PcapRecord> = (0..400u32)
            .map(|i| {
                let data = inner[24 + (i as usize * 13) % 2000..][..1400].to_vec();
                PcapRecord {
                    sec: 1_000_000,
                    frac: i,
                    caplen: 1400,
                    wire_len: 1400,
                    data,
                }
            })
            .collect();
        let path = write("nested.pcap", &pcap(false, false, 1, 0, &outer));
        let want = sequential(&path);
        assert_eq!(want.0.len(), 400);
        let (got, wrong) = windowed(&path, 10_000);
        assert!(got == want, "frames differ");
        assert!(
            wrong > 0,
            "the nested headers were expected to fool a guess"
        );
    }

    #[test]
    fn only_mapped_pcap_files_not_yet_read_offer_windows() {
        let bytes = pcap(false, false, 1, 0, &records(10, 1, 100));
        let path = write("small.pcap", &bytes);
        // Small files are read, not mapped, by `open`.
        assert!(open(&path).unwrap().windows(4096).is_none());
        let mut src = open_mapped(&path).unwrap();
        assert!(src.windows(4096).is_some());
        src.next_frame().unwrap();
        assert!(src.windows(4096).is_none(), "a reader that has moved on");
        let gz = write("small.pcap.gz", &crate::testgen::gzip(&bytes));
        assert!(open_mapped(&gz).unwrap().windows(4096).is_none());
    }
}
