//! The byte stream under a capture reader: one large buffer refilled from any
//! `Read`, gzip detection by magic bytes, and stream offsets for errors.
//!
//! It owns buffering and offset bookkeeping only; it knows nothing about pcap
//! or pcapng framing. Records are handed out as slices of the buffer
//! (`take`), which stay valid until the next `fill`, so a reader can lend a
//! frame without copying it. The buffer only grows when a single record is
//! larger than it, never per packet.
//!
//! The buffer is an `Arc`, so that a frame can be passed to another thread
//! by cloning it (see [`crate::Shared`]). Bytes are only ever written into
//! a buffer nobody else holds: when a refill finds the current one shared,
//! reading continues in another (a retired one whose clones are all gone,
//! or a new one), and the shared one is left as it is.
//!
//! A large regular file is mapped instead (`crate::mapped`): then the one
//! buffer is the whole file, nothing is ever read or copied, and a gzipped
//! file is decompressed from the mapping. Gzip is always decompressed on a
//! thread of its own (`crate::inflate`).
use std::io::{self, Read};
use std::ops::Deref;
use std::sync::Arc;

use memmap2::Mmap;

/// Bytes of the capture: a buffer the input reads into, or the whole file
/// mapped.
#[derive(Debug)]
pub enum Chunk {
    Heap(Vec<u8>),
    Mapped(Mmap),
}

impl Deref for Chunk {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Chunk::Heap(v) => v,
            Chunk::Mapped(m) => m,
        }
    }
}

impl Chunk {
    /// The buffer to read into: never a mapping (those are read-only and
    /// never refilled).
    fn heap(&mut self) -> &mut Vec<u8> {
        match self {
            Chunk::Heap(v) => v,
            Chunk::Mapped(_) => unreachable!("a mapped input is never refilled"),
        }
    }
}

/// Initial buffer size: large enough that refills (and the compaction that
/// precedes them) are rare compared with the records they serve.
const BUF_SIZE: usize = 1 << 20;

/// How far past the next record `take` asks for the bytes to be fetched
/// into the cache: a few records ahead on the mix (489 bytes a record on
/// average), far enough that the fetch from memory has finished by the time
/// the reader gets there.
///
/// The reader touches only a record's header and the first bytes of its
/// frame before handing it on, a few hundred bytes apart: too sparse for
/// the hardware's stream prefetcher across page boundaries, and every
/// record header was a cache miss to memory on the reader's core (perf:
/// the header's first load was 9% of a two-thread run on the mix).
const PREFETCH_AHEAD: usize = 1024;

/// Retired buffers kept for reuse (each as large as the buffer).
const MAX_RETIRED: usize = 64;

/// A mapped file's pages are released (`mapped::release`) this far behind
/// the reader, in steps of `RELEASE_STEP`, and never past the floor the
/// consumers of its frames set (`set_floor`): frames handed to shards but
/// not yet decoded lie behind the reader, and a page released under them
/// would be read back in and then stay resident.
const RELEASE_LAG: usize = 8 << 20;
const RELEASE_STEP: usize = 4 << 20;

/// The two magic bytes that start every gzip member (RFC 1952 §2.3.1).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

pub(crate) struct Input {
    reader: Box<dyn Read + Send>,
    /// Bytes `[start, end)` are read but not yet taken.
    buf: Arc<Chunk>,
    /// Buffers given up while shared, to be used again once they are not.
    retired: Vec<Arc<Chunk>>,
    start: usize,
    end: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    eof: bool,
    /// A mapped file: where the next release of pages behind the reader is
    /// due (`usize::MAX`: never, for a read buffer), and the start of the
    /// pages not released yet.
    release_at: usize,
    released: usize,
    /// No page at or above this offset is released: frames from there on
    /// may still be read by another thread (`usize::MAX`: no such limit).
    floor: usize,
    /// The cache lines of `buf` up to here have been prefetched (`take`).
    fetched: usize,
}

impl Input {
    pub(crate) fn new(reader: Box<dyn Read + Send>) -> Self {
        Input {
            reader,
            buf: Arc::new(Chunk::Heap(vec![0; BUF_SIZE])),
            retired: Vec::new(),
            start: 0,
            end: 0,
            base: 0,
            eof: false,
            release_at: usize::MAX,
            released: 0,
            floor: usize::MAX,
            fetched: 0,
        }
    }

    /// The whole of a mapped file, available at once (a gzipped one is
    /// decompressed from the mapping into a read buffer instead).
    pub(crate) fn mapped(map: Mmap) -> Self {
        if map.starts_with(&GZIP_MAGIC) {
            return Input::new(crate::inflate::inflate(io::Cursor::new(map)));
        }
        let end = map.len();
        Input {
            reader: Box::new(io::empty()),
            buf: Arc::new(Chunk::Mapped(map)),
            retired: Vec::new(),
            start: 0,
            end,
            base: 0,
            eof: true,
            release_at: RELEASE_LAG + RELEASE_STEP,
            released: 0,
            floor: usize::MAX,
            fetched: 0,
        }
    }

    /// Wraps `reader`, transparently decompressing it if it starts with the
    /// gzip magic (whatever the file is called). Offsets then count bytes of
    /// the decompressed stream. Concatenated gzip members are read as one.
    pub(crate) fn sniff_gzip(reader: Box<dyn Read + Send>) -> io::Result<Self> {
        let mut input = Input::new(reader);
        if input.fill(GZIP_MAGIC.len())? && input.available()[..2] == GZIP_MAGIC {
            let buffered = io::Cursor::new(input.available().to_vec());
            let raw = buffered.chain(input.reader);
            return Ok(Input::new(crate::inflate::inflate(raw)));
        }
        Ok(input)
    }

    /// Stream offset of the first byte not yet taken.
    #[inline]
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    /// The bytes read but not yet taken.
    #[inline]
    pub(crate) fn available(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// At least `n` bytes are available without reading.
    #[inline]
    pub(crate) fn has(&self, n: usize) -> bool {
        self.end - self.start >= n
    }

    /// Makes at least `n` bytes available. `Ok(false)` means the input ended
    /// first; whatever it held is still `available()`.
    #[inline]
    pub(crate) fn fill(&mut self, n: usize) -> io::Result<bool> {
        if self.end - self.start >= n {
            return Ok(true);
        }
        self.refill(n)
    }

    #[cold]
    fn refill(&mut self, n: usize) -> io::Result<bool> {
        if self.eof {
            // Nothing more will come (a mapped file is always here).
            return Ok(self.end - self.start >= n);
        }
        if Arc::get_mut(&mut self.buf).is_none() {
            self.unshare();
        }
        let buf = Arc::get_mut(&mut self.buf)
            .expect("the buffer is not shared")
            .heap();
        if self.start > 0 {
            buf.copy_within(self.start..self.end, 0);
            self.base += self.start as u64;
            self.end -= self.start;
            self.start = 0;
            self.fetched = 0;
        }
        while self.end < n {
            if self.eof {
                return Ok(false);
            }
            if self.end == buf.len() {
                // Grow only as data actually arrives, so a corrupt length
                // in a short file cannot make us allocate its claimed size.
                let len = buf.len();
                buf.resize(n.min(len * 2), 0);
            }
            match self.reader.read(&mut buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Moves the bytes not yet taken to a buffer nobody else holds and
    /// retires the current one.
    fn unshare(&mut self) {
        let len = self.buf.len();
        let free = self
            .retired
            .iter()
            .position(|b| Arc::strong_count(b) == 1 && Arc::weak_count(b) == 0);
        let mut fresh = match free {
            Some(i) => self.retired.swap_remove(i),
            // Zeroed by the allocator (fresh pages), not by a loop.
            None => Arc::new(Chunk::Heap(vec![0; len])),
        };
        let b = Arc::get_mut(&mut fresh).expect("a free buffer").heap();
        if b.len() < len {
            b.resize(len, 0);
        }
        let rest = self.end - self.start;
        b[..rest].copy_from_slice(&self.buf[self.start..self.end]);
        let old = std::mem::replace(&mut self.buf, fresh);
        if self.retired.len() >= MAX_RETIRED {
            // Held elsewhere for long: let the holders free it.
            self.retired.remove(0);
        }
        self.retired.push(old);
        self.base += self.start as u64;
        self.end = rest;
        self.start = 0;
        self.fetched = 0;
    }

    /// Takes the next `n` bytes, which the caller has made available with
    /// `fill`, and returns where they start in `buffer()`. They stay there,
    /// unchanged, until the next call that needs `&mut self`, and for as
    /// long as a clone of the buffer is held.
    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> usize {
        let at = self.start;
        self.start += n;
        // Every line once, as a stream prefetcher would, but across pages.
        let ahead = self.start + PREFETCH_AHEAD;
        crate::mapped::prefetch_range(&self.buf, self.fetched.max(self.start), ahead);
        self.fetched = ahead;
        if self.start >= self.release_at {
            self.release();
        }
        at
    }

    /// Hands back the pages of a mapped file more than `RELEASE_LAG` behind.
    #[cold]
    fn release(&mut self) {
        self.release_behind(RELEASE_LAG, RELEASE_STEP);
    }

    /// Frames at buffer offsets below `at` are done with: pages may be
    /// released up to there (and no further).
    pub(crate) fn set_floor(&mut self, at: u64) {
        self.floor = usize::try_from(at).unwrap_or(usize::MAX);
    }

    fn release_behind(&mut self, lag: usize, step: usize) {
        if let Chunk::Mapped(map) = &*self.buf {
            let to = self.start.saturating_sub(lag).min(self.floor);
            crate::mapped::release(map, self.released, to);
            self.released = self.released.max(to);
        }
        self.release_at = self.start + step;
    }

    /// The bytes are a mapping of the whole file.
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(*self.buf, Chunk::Mapped(_))
    }

    /// The buffer `take` offsets point into.
    #[inline]
    pub(crate) fn buffer(&self) -> &Arc<Chunk> {
        &self.buf
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::io::Write;

    /// A reader that hands out one byte per call, like a slow pipe.
    struct Trickle(Vec<u8>, usize);
    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.1 == self.0.len() || out.is_empty() {
                return Ok(0);
            }
            out[0] = self.0[self.1];
            self.1 += 1;
            Ok(1)
        }
    }

    /// Released pages of a mapped file read as before (faulted in again
    /// from the page cache): frames still held by shards stay valid.
    #[test]
    fn released_pages_of_a_mapping_read_the_same() {
        let bytes: Vec<u8> = (0..(3u32 << 20))
            .map(|i| (i * 7 + i / 4096) as u8)
            .collect();
        let path = std::env::temp_dir().join(format!("quartet-release-{}", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let map = crate::mapped::map(&file).expect("mapped");
        let mut input = Input::mapped(map);
        let mut held = Vec::new();
        while input.has(1000) {
            let at = input.take(1000);
            held.push((input.buffer().clone(), at));
            // Everything more than one page behind goes at every step.
            input.release_behind(4096, 4096);
        }
        assert!(
            input.released > 3_000_000,
            "released up to {}",
            input.released
        );
        for (buf, at) in held {
            assert_eq!(&buf[at..at + 1000], &bytes[at..at + 1000]);
        }
        std::fs::remove_file(&path).unwrap();
    }

    /// Pages are never released at or above the floor the frames'
    /// consumers set, however far the reader has gone.
    #[test]
    fn release_stops_at_the_consumers_floor() {
        let path = std::env::temp_dir().join(format!("quartet-floor-{}", std::process::id()));
        std::fs::write(&path, vec![7u8; 3 << 20]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let map = crate::mapped::map(&file).expect("mapped");
        let mut input = Input::mapped(map);
        input.set_floor(100_000);
        while input.has(1000) {
            input.take(1000);
            input.release_behind(4096, 4096);
        }
        assert_eq!(input.released, 100_000);
        // A later floor lets the release go on from there.
        input.set_floor(2_000_000);
        input.release_behind(4096, 4096);
        assert_eq!(input.released, 2_000_000);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn fill_and_take_track_offsets_across_short_reads() {
        let mut input = Input::new(Box::new(Trickle((0..10).collect(), 0)));
        assert!(input.fill(4).unwrap());
        let at = input.take(3);
        assert_eq!(&input.buffer()[at..at + 3], &[0, 1, 2]);
        assert_eq!(input.offset(), 3);
        assert!(input.fill(7).unwrap());
        let at = input.take(7);
        assert_eq!(&input.buffer()[at..at + 7], &[3, 4, 5, 6, 7, 8, 9]);
        assert!(!input.fill(1).unwrap());
        assert_eq!(input.offset(), 10);
    }

    #[test]
    fn grows_for_a_record_larger_than_the_buffer() {
        let data: Vec<u8> = (0..3 * BUF_SIZE).map(|i| i as u8).collect();
        let mut input = Input::new(Box::new(io::Cursor::new(data.clone())));
        assert!(input.fill(1).unwrap());
        input.take(1);
        assert!(input.fill(2 * BUF_SIZE).unwrap());
        let at = input.take(2 * BUF_SIZE);
        assert_eq!(
            &input.buffer()[at..at + 2 * BUF_SIZE],
            &data[1..1 + 2 * BUF_SIZE]
        );
        assert_eq!(input.offset(), 1 + 2 * BUF_SIZE as u64);
    }

    #[test]
    fn a_shared_buffer_is_never_written_again() {
        let data: Vec<u8> = (0..5 * BUF_SIZE).map(|i| (i % 251) as u8).collect();
        let mut input = Input::new(Box::new(io::Cursor::new(data.clone())));
        let mut held = Vec::new();
        let mut pos = 0;
        let chunk = 1000;
        while input.fill(chunk).unwrap() {
            let at = input.take(chunk);
            let buf = input.buffer();
            assert_eq!(&buf[at..at + chunk], &data[pos..pos + chunk]);
            // Hold every fifth frame's buffer for a while, as shards do.
            if (pos / chunk) % 5 == 0 {
                held.push((buf.clone(), at, pos));
            }
            if held.len() > 8 {
                held.remove(0);
            }
            for (b, at, p) in &held {
                assert_eq!(&b[*at..*at + chunk], &data[*p..*p + chunk]);
            }
            pos += chunk;
        }
        assert_eq!(pos, data.len() / chunk * chunk);
        // Buffers come back into use instead of piling up.
        assert!(input.retired.len() <= 3, "{}", input.retired.len());
    }

    #[test]
    fn gzip_is_detected_by_magic_and_members_are_concatenated() {
        let mut gz = Vec::new();
        for part in [&b"hello "[..], b"world"] {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), Default::default());
            enc.write_all(part).unwrap();
            gz.extend(enc.finish().unwrap());
        }
        let mut input = Input::sniff_gzip(Box::new(Trickle(gz, 0))).unwrap();
        assert!(input.fill(11).unwrap());
        assert_eq!(input.available(), b"hello world");
        assert!(!input.fill(12).unwrap());

        let mut plain = Input::sniff_gzip(Box::new(io::Cursor::new(b"\x1f".to_vec()))).unwrap();
        assert!(!plain.fill(2).unwrap());
        assert_eq!(plain.available(), b"\x1f");
    }
}
