//! Capture input: classic pcap (both byte orders, micro- and nanosecond),
//! pcapng (several interfaces, each with its own link type and timestamp
//! resolution), either of them gzipped, from a file or standard input.
//!
//! A source lends one `Frame` at a time; end of input is `Ok(None)`. Errors
//! name the file and the byte offset where reading failed.
//!
//! The crate owns file framing and BPF filtering (`BpfFilter`); it does not
//! look past the link type. Entry points: [`open`] (a path, `-` for standard
//! input) and [`open_reader`] (any byte stream). Gzip is recognised by its
//! magic bytes, never by the file name.
//!
//! The framing is written by hand rather than with `pcap-parser`: its lending
//! reader (`next`/`consume`/`refill`) cannot skip non-packet blocks in a loop
//! and then lend a frame without fighting the borrow checker, it leaves the
//! stream offset of each record to the caller, and it knows neither libpcap's
//! snap-length and version quirks nor the obsolete Packet Block. Both formats
//! together are a few hundred lines over one large refillable buffer
//! (`input`), which lends each frame in place: no per-packet allocation or
//! copy.
#![deny(unsafe_code)]

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::sync::Arc;

use quartet_wire::Timestamp;

mod bpf;
mod inflate;
mod input;
mod live;
mod mapped;
mod pcap;
mod pcapng;
#[cfg(test)]
mod testgen;
mod windows;

pub use bpf::BpfFilter;
pub use input::Chunk;
pub use live::{wall_clock, LiveConfig, LiveEvent, LiveSource, LiveStats};
pub use mapped::prefetch_frame;
pub use windows::{WindowWalk, Windows};

use input::Input;

/// The largest captured length accepted from a record header; anything
/// larger is taken as corruption rather than allocated.
pub const MAX_CAPLEN: u32 = 256 << 20;

/// One captured frame, borrowed from the reader until the next call.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Capture time, reduced to microseconds (truncated), as libpcap does.
    pub ts: Timestamp,
    /// pcap LINKTYPE_* value of the interface the frame was captured on.
    pub linktype: u32,
    /// Original length of the frame on the wire.
    pub wire_len: u32,
    /// The captured bytes (at most the snap length).
    pub data: &'a [u8],
    /// Where `data` lies in a buffer that can be passed to another thread,
    /// when the source reads into one (files do, live captures do not).
    pub shared: Option<Shared<'a>>,
}

/// The buffer a frame was read into: `data` is `buffer[at..at + data.len()]`.
/// A clone of the `Arc` keeps those bytes as they are (the source reads on
/// into another buffer while it is held), so another thread can read the
/// frame later without a copy.
#[derive(Clone, Copy, Debug)]
pub struct Shared<'a> {
    pub buffer: &'a Arc<Chunk>,
    pub at: usize,
}

/// Where a capture's frames come from.
pub trait Source {
    /// The next frame, or `Ok(None)` at the end of input.
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError>;

    /// Frames lent from a shared buffer at offsets below `at` will not be
    /// read again by anyone (another thread has finished with them): a
    /// source reading a mapped file hands back their pages, which it
    /// otherwise does only well behind its own position. The default
    /// ignores it.
    fn release_floor(&mut self, _at: u64) {}

    /// Whether the frames are lent from a mapping of the whole file (not
    /// gzipped): a frame's offset in its buffer is then its offset in the
    /// file, which is how far through the file the reader is.
    fn is_mapped(&self) -> bool {
        false
    }

    /// The file's records in windows of `size` bytes that several threads
    /// can walk at once: offered by a mapped classic pcap file that has not
    /// been read from yet, `None` by any other source.
    fn windows(&self, _size: usize) -> Option<Windows> {
        None
    }
}

/// A capture could not be read. Carries the file name and byte offset (in
/// the decompressed stream for gzipped input) where the fault was found.
#[derive(Debug)]
pub struct CaptureError {
    pub path: String,
    pub offset: u64,
    pub kind: CaptureErrorKind,
}

#[derive(Debug)]
#[non_exhaustive]
pub enum CaptureErrorKind {
    /// The file could not be opened or read.
    Io(std::io::Error),
    /// Neither pcap nor pcapng magic (after gzip, if any).
    UnknownFormat,
    /// The file ends in the middle of a header or record.
    Truncated,
    /// A header or block has impossible values.
    Corrupt(String),
}

impl CaptureError {
    fn new(path: &str, offset: u64, kind: CaptureErrorKind) -> Self {
        CaptureError {
            path: path.to_owned(),
            offset,
            kind,
        }
    }
}

impl fmt::Display for CaptureError {
    /// One line, lowercase, without a program prefix:
    /// `trace.pcap: truncated record at byte offset 12345`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, offset) = (&self.path, self.offset);
        match &self.kind {
            // Failing to open has no meaningful offset.
            CaptureErrorKind::Io(e) if offset == 0 => write!(f, "{path}: {e}"),
            CaptureErrorKind::Io(e) => write!(f, "{path}: read error at byte offset {offset}: {e}"),
            CaptureErrorKind::UnknownFormat => {
                write!(
                    f,
                    "{path}: unknown capture format (not pcap or pcapng) at byte offset {offset}"
                )
            }
            CaptureErrorKind::Truncated => {
                write!(f, "{path}: truncated record at byte offset {offset}")
            }
            CaptureErrorKind::Corrupt(why) => {
                write!(f, "{path}: corrupt record at byte offset {offset}: {why}")
            }
        }
    }
}

impl std::error::Error for CaptureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            CaptureErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Opens a capture file, or standard input for `-`, and reads its header.
pub fn open(path: &str) -> Result<Box<dyn Source + Send>, CaptureError> {
    let reader: Box<dyn Read + Send> = if path == "-" {
        Box::new(std::io::stdin())
    } else {
        let file =
            File::open(path).map_err(|e| CaptureError::new(path, 0, CaptureErrorKind::Io(e)))?;
        if let Some(map) = mapped::map(&file) {
            return open_input(path, Input::mapped(map));
        }
        Box::new(file)
    };
    open_reader(path, reader)
}

/// Opens a capture file as [`open`] does, but maps it whatever its size
/// (`open` reads files under 1 MiB), so that it offers [`Source::windows`].
pub fn open_mapped(path: &str) -> Result<Box<dyn Source + Send>, CaptureError> {
    let file = File::open(path).map_err(|e| CaptureError::new(path, 0, CaptureErrorKind::Io(e)))?;
    match mapped::map_any(&file) {
        Some(map) => open_input(path, Input::mapped(map)),
        None => open(path),
    }
}

/// The windows of a classic pcap file held in memory, as a mapped file
/// offers them ([`Source::windows`]); `None` for any other format. For
/// tests and fuzzing, which compare window walks with the sequential
/// reader on bytes they make up.
#[doc(hidden)]
pub fn windows_of_bytes(name: &str, bytes: Vec<u8>, size: usize) -> Option<Windows> {
    if bytes.len() < 4 || !pcap::is_pcap([bytes[0], bytes[1], bytes[2], bytes[3]]) {
        return None;
    }
    let reader = Box::new(std::io::Cursor::new(
        bytes[..pcap::FILE_HEADER_LEN.min(bytes.len())].to_vec(),
    ));
    let format = pcap::PcapReader::new(Input::new(reader), name.to_owned())
        .ok()?
        .format();
    Some(Windows::new(
        Arc::new(Chunk::Heap(bytes)),
        format,
        name.to_owned(),
        pcap::FILE_HEADER_LEN,
        size,
    ))
}

/// Reads a capture from any byte stream; `name` is used in errors. The stream
/// may be gzipped; pcap or pcapng is told by its first four bytes.
pub fn open_reader(
    name: &str,
    reader: Box<dyn Read + Send>,
) -> Result<Box<dyn Source + Send>, CaptureError> {
    let input = Input::sniff_gzip(reader)
        .map_err(|e| CaptureError::new(name, 0, CaptureErrorKind::Io(e)))?;
    open_input(name, input)
}

/// Reads the header of a capture whose bytes `input` gives.
fn open_input(name: &str, mut input: Input) -> Result<Box<dyn Source + Send>, CaptureError> {
    let io_err = |e| CaptureError::new(name, 0, CaptureErrorKind::Io(e));
    if !input.fill(4).map_err(io_err)? {
        // Too short to hold any magic, including an empty file.
        return Err(CaptureError::new(name, 0, CaptureErrorKind::Truncated));
    }
    let a = input.available();
    let magic = [a[0], a[1], a[2], a[3]];
    if magic == pcapng::SHB_MAGIC {
        Ok(Box::new(pcapng::PcapNgReader::new(input, name.to_owned())))
    } else if pcap::is_pcap(magic) {
        Ok(Box::new(pcap::PcapReader::new(input, name.to_owned())?))
    } else {
        Err(CaptureError::new(name, 0, CaptureErrorKind::UnknownFormat))
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::testgen::{gzip, open_bytes, pcap, Ng, PcapRecord};

    #[test]
    fn missing_file_names_the_path() {
        let err = open("/nonexistent/trace.pcap").err().unwrap();
        assert!(matches!(err.kind, CaptureErrorKind::Io(_)));
        assert!(
            err.to_string().starts_with("/nonexistent/trace.pcap: "),
            "{err}"
        );
    }

    #[test]
    fn empty_and_unknown_inputs() {
        let err = open_bytes("e.pcap", Vec::new()).err().unwrap();
        assert!(matches!(err.kind, CaptureErrorKind::Truncated));
        assert_eq!(err.offset, 0);
        let err = open_bytes("e.pcap.gz", gzip(&[])).err().unwrap();
        assert!(matches!(err.kind, CaptureErrorKind::Truncated));
        let err = open_bytes("x.txt", b"hello world".to_vec()).err().unwrap();
        assert!(matches!(err.kind, CaptureErrorKind::UnknownFormat));
        assert_eq!(
            err.to_string(),
            "x.txt: unknown capture format (not pcap or pcapng) at byte offset 0"
        );
        let err = open_bytes("x.gz", gzip(b"hello world")).err().unwrap();
        assert!(matches!(err.kind, CaptureErrorKind::UnknownFormat));
    }

    #[test]
    fn header_only_files_have_no_frames() {
        let mut ng = Ng::new(true);
        ng.shb();
        ng.idb(1, 0, None, None);
        for bytes in [pcap(false, false, 1, 0, &[]), ng.finish()] {
            assert!(open_bytes("h", bytes.clone())
                .unwrap()
                .next_frame()
                .unwrap()
                .is_none());
            assert!(open_bytes("h", gzip(&bytes))
                .unwrap()
                .next_frame()
                .unwrap()
                .is_none());
        }
    }

    #[test]
    fn gzip_is_detected_whatever_the_name_and_offsets_are_decompressed() {
        let rec = |data: &[u8]| PcapRecord {
            sec: 7,
            frac: 8,
            caplen: data.len() as u32,
            wire_len: data.len() as u32,
            data: data.to_vec(),
        };
        let bytes = pcap(true, false, 1, 0, &[rec(b"abc"), rec(&[0; 100])]);
        let mut src = open_bytes("plain.pcap", gzip(&bytes[..bytes.len() - 1])).unwrap();
        let f = src.next_frame().unwrap().unwrap();
        assert_eq!((f.ts.micros(), f.data), (7_000_008, &b"abc"[..]));
        let err = src.next_frame().unwrap_err();
        assert_eq!(err.offset, 24 + 16 + 3);
        assert_eq!(
            err.to_string(),
            "plain.pcap: truncated record at byte offset 43"
        );
    }

    /// Files of at least 1 MiB are mapped, smaller ones read: both give the
    /// same frames, the same offsets in errors, and the mapped frames are
    /// lent from one buffer, the whole file.
    #[test]
    fn mapped_and_read_files_give_the_same_frames_and_errors() {
        // Incompressible bytes, so that the gzipped file is mapped too.
        let mut rng = quartet_testkit::noise::XorShift::new(0x2545_f491_4f6c_dd1d);
        let mut byte = move || rng.byte();
        let recs: Vec<PcapRecord> = (0..4000u32)
            .map(|i| {
                let data: Vec<u8> = (0..(i % 700)).map(|_| byte()).collect();
                PcapRecord {
                    sec: i,
                    frac: i * 3,
                    caplen: data.len() as u32,
                    wire_len: data.len() as u32 + 4,
                    data,
                }
            })
            .collect();
        let bytes = pcap(false, false, 1, 0, &recs);
        assert!(bytes.len() as u64 > mapped::MIN_MAP);
        let dir = std::env::temp_dir().join(format!("quartet-mapped-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Whole, cut in the last record, and gzipped (decompressed from the map).
        let cut = &bytes[..bytes.len() - 5];
        let gz = gzip(&bytes);
        assert!(gz.len() as u64 > mapped::MIN_MAP);
        for (name, content) in [("whole.pcap", &bytes[..]), ("cut.pcap", cut)] {
            let path = dir.join(name);
            std::fs::write(&path, content).unwrap();
            let path = path.to_str().unwrap();
            let mut a = open(path).unwrap();
            let mut b = open_bytes(path, content.to_vec()).unwrap();
            let mut n = 0;
            loop {
                let (fa, fb) = (a.next_frame(), b.next_frame());
                match (fa, fb) {
                    (Ok(Some(x)), Ok(Some(y))) => {
                        assert_eq!((x.ts, x.wire_len, x.data), (y.ts, y.wire_len, y.data));
                        let sh = x.shared.expect("a file frame is shareable");
                        assert_eq!(sh.buffer.len(), content.len(), "one buffer: the file");
                        assert_eq!(&sh.buffer[sh.at..sh.at + x.data.len()], x.data);
                        n += 1;
                    }
                    (Ok(None), Ok(None)) => break,
                    (Err(x), Err(y)) => {
                        assert_eq!(x.to_string(), y.to_string());
                        assert!(x.to_string().contains(name), "{x}");
                        break;
                    }
                    (x, y) => panic!("mapped {:?} vs read {:?}", x.is_ok(), y.is_ok()),
                }
            }
            let want = if name == "cut.pcap" { 3999 } else { 4000 };
            assert_eq!(n, want, "{name}");
        }
        let path = dir.join("whole.pcap.gz");
        std::fs::write(&path, &gz).unwrap();
        let mut src = open(path.to_str().unwrap()).unwrap();
        let mut n = 0;
        while let Some(f) = src.next_frame().unwrap() {
            assert_eq!(f.ts.micros(), i64::from(n) * 1_000_000 + i64::from(n * 3));
            n += 1;
        }
        assert_eq!(n, 4000);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_gzip_stream_is_an_io_error() {
        let bytes = pcap(false, false, 1, 0, &[]);
        let mut gz = gzip(&bytes);
        let n = gz.len();
        gz[n - 8] ^= 0xff; // CRC mismatch
        let result = open_bytes("c.gz", gz).and_then(|mut s| s.next_frame().map(|_| ()));
        assert!(matches!(result.unwrap_err().kind, CaptureErrorKind::Io(_)));
    }

    #[test]
    fn sources_are_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Box<dyn Source + Send>>();
        assert_send::<BpfFilter>();
        assert_send::<CaptureError>();
    }
}
