//! Classic pcap framing (the libpcap savefile format): the 24-byte file
//! header, 16-byte record headers, both byte orders, micro- and nanosecond
//! magics, and the patched (Kuznetzov) variant with 24-byte record headers.
//!
//! It owns turning records into `Frame`s exactly as libpcap hands them to
//! Zeek: seconds are the signed 32-bit field, nanoseconds are truncated to
//! microseconds, captured data longer than the file's snap length is cut to
//! it, and caplen/len are swapped back in files older than version 2.3. It
//! does not look past the link type.
use quartet_wire::Timestamp;

use crate::input::Input;
use crate::{CaptureError, CaptureErrorKind, Frame, Shared, Source, MAX_CAPLEN};

pub(crate) const FILE_HEADER_LEN: usize = 24;

/// The file magic as written by the capturing host, read little-endian.
const MAGIC_MICRO: u32 = 0xa1b2_c3d4;
const MAGIC_NANO: u32 = 0xa1b2_3c4d;
/// Alexey Kuznetzov's patched format: records carry 8 extra bytes.
const MAGIC_PATCHED: u32 = 0xa1b2_cd34;

/// True if `magic` (the first four bytes) starts a classic pcap file.
pub(crate) fn is_pcap(magic: [u8; 4]) -> bool {
    parse_magic(magic).is_some()
}

/// (big endian, nanosecond, record header length) for a known magic.
fn parse_magic(magic: [u8; 4]) -> Option<(bool, bool, usize)> {
    let le = u32::from_le_bytes(magic);
    [MAGIC_MICRO, MAGIC_NANO, MAGIC_PATCHED]
        .into_iter()
        .find_map(|m| {
            let big = if le == m {
                false
            } else if le == m.swap_bytes() {
                true
            } else {
                return None;
            };
            let hdr_len = if m == MAGIC_PATCHED { 24 } else { 16 };
            Some((big, m == MAGIC_NANO, hdr_len))
        })
}

/// How libpcap treats the caplen/len pair, by file version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LengthOrder {
    Normal,
    /// Version < 2.3 wrote len before caplen.
    Swapped,
    /// Version 2.3 files may be either; caplen > len gives them away.
    Maybe,
}

/// How a file's records are laid out, from its header: what turns a record
/// header into a frame's time and lengths. Shared by the sequential reader
/// and the window walks (`windows`), so both read records alike.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordFormat {
    big: bool,
    nano: bool,
    pub(crate) header_len: usize,
    lengths: LengthOrder,
    pub(crate) linktype: u32,
    /// Captured bytes beyond this are dropped, as libpcap does.
    snapshot: u32,
}

/// One record header, read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordHeader {
    pub(crate) ts: Timestamp,
    /// Bytes of frame data that follow the header in the file.
    pub(crate) caplen: u32,
    pub(crate) wire_len: u32,
    /// Bytes of them the frame keeps (at most the snap length).
    pub(crate) keep: usize,
}

impl RecordFormat {
    /// Reads the 16 bytes every record header starts with; a corruption
    /// message when the captured length is impossible.
    #[inline]
    pub(crate) fn header(&self, h: &[u8; 16]) -> Result<RecordHeader, String> {
        let big = self.big;
        let rd = |at: usize| {
            let v = u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
            if big {
                v.swap_bytes()
            } else {
                v
            }
        };
        let (mut caplen, mut wire_len) = (rd(8), rd(12));
        let swap = match self.lengths {
            LengthOrder::Normal => false,
            LengthOrder::Swapped => true,
            LengthOrder::Maybe => caplen > wire_len,
        };
        if swap {
            (caplen, wire_len) = (wire_len, caplen);
        }
        if caplen > MAX_CAPLEN {
            return Err(format!("capture length {caplen} exceeds {MAX_CAPLEN}"));
        }
        let sec = i64::from(rd(0) as i32);
        let frac = i64::from(rd(4));
        let micros = if self.nano { frac / 1000 } else { frac };
        Ok(RecordHeader {
            ts: Timestamp::from_micros(sec * 1_000_000 + micros),
            caplen,
            wire_len,
            keep: caplen.min(self.snapshot) as usize,
        })
    }

    /// A cheap check that `h` could start a record of a capture: used to
    /// guess where records start in the middle of a file (`windows`),
    /// never to accept or refuse a record.
    pub(crate) fn plausible(&self, h: &[u8; 16]) -> Option<RecordHeader> {
        let r = self.header(h).ok()?;
        let frac = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let frac = if self.big { frac.swap_bytes() } else { frac };
        let frac_ok = frac < if self.nano { 1_000_000_000 } else { 1_000_000 };
        // Files in which a frame has more captured than wire bytes exist,
        // but a guess need not find their records.
        let sane_len = r.wire_len > 0 && r.caplen <= r.wire_len && r.wire_len <= MAX_CAPLEN;
        (frac_ok && sane_len).then_some(r)
    }
}

pub(crate) struct PcapReader {
    input: Input,
    path: String,
    format: RecordFormat,
}

impl PcapReader {
    /// Reads the file header; `input` is positioned at the magic.
    pub(crate) fn new(mut input: Input, path: String) -> Result<Self, CaptureError> {
        let fault = |input: &Input, kind| CaptureError {
            path: path.clone(),
            offset: input.offset(),
            kind,
        };
        match input.fill(FILE_HEADER_LEN) {
            Ok(true) => {}
            Ok(false) => return Err(fault(&input, CaptureErrorKind::Truncated)),
            Err(e) => return Err(fault(&input, CaptureErrorKind::Io(e))),
        }
        let h = input.available();
        let magic = [h[0], h[1], h[2], h[3]];
        let Some((big, nano, record_header_len)) = parse_magic(magic) else {
            return Err(fault(&input, CaptureErrorKind::UnknownFormat));
        };
        let major = rd16(h, 4, big);
        let minor = rd16(h, 6, big);
        let snaplen = rd32(h, 16, big);
        // The upper bits carry the FCS length and class flags (LT_FCS_*).
        let linktype = rd32(h, 20, big) & 0xffff;
        if major < 2 {
            return Err(fault(
                &input,
                CaptureErrorKind::Corrupt(format!("archaic pcap version {major}.{minor}")),
            ));
        }
        let lengths = match (major, minor) {
            (2, 0..=2) => LengthOrder::Swapped,
            (2, 3) => LengthOrder::Maybe,
            _ => LengthOrder::Normal,
        };
        let snapshot = if snaplen == 0 || snaplen > MAX_CAPLEN {
            MAX_CAPLEN
        } else {
            snaplen
        };
        input.take(FILE_HEADER_LEN);
        Ok(PcapReader {
            input,
            path,
            format: RecordFormat {
                big,
                nano,
                header_len: record_header_len,
                lengths,
                linktype,
                snapshot,
            },
        })
    }

    /// How the file's records are laid out.
    pub(crate) fn format(&self) -> RecordFormat {
        self.format
    }

    fn fault(&self, offset: u64, kind: CaptureErrorKind) -> CaptureError {
        CaptureError {
            path: self.path.clone(),
            offset,
            kind,
        }
    }
}

impl Source for PcapReader {
    fn release_floor(&mut self, at: u64) {
        self.input.set_floor(at);
    }

    fn is_mapped(&self) -> bool {
        self.input.is_mapped()
    }

    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        let hlen = self.format.header_len;
        if !self.input.has(hlen) {
            return self.refill_header();
        }
        // The 16 bytes every record header starts with.
        let h: &[u8; 16] = self.input.available()[..16]
            .try_into()
            .expect("a record header is available");
        let at = self.input.offset();
        let r = match self.format.header(h) {
            Ok(r) => r,
            Err(msg) => return Err(self.fault(at, CaptureErrorKind::Corrupt(msg))),
        };
        let total = hlen + r.caplen as usize;
        if !self.input.has(total) {
            match self.input.fill(total) {
                Ok(true) => {}
                Ok(false) => return Err(self.fault(at, CaptureErrorKind::Truncated)),
                Err(e) => return Err(self.fault(at, CaptureErrorKind::Io(e))),
            }
        }
        let linktype = self.format.linktype;
        let at = self.input.take(total) + hlen;
        let buffer = self.input.buffer();
        Ok(Some(Frame {
            ts: r.ts,
            linktype,
            wire_len: r.wire_len,
            data: &buffer[at..at + r.keep],
            shared: Some(Shared { buffer, at }),
        }))
    }

    fn windows(&self, size: usize) -> Option<crate::Windows> {
        // Only a mapped file not read from yet: its records from the first.
        let unread = self.input.offset() == FILE_HEADER_LEN as u64;
        (self.input.is_mapped() && unread).then(|| {
            crate::Windows::new(
                self.input.buffer().clone(),
                self.format,
                self.path.clone(),
                FILE_HEADER_LEN,
                size,
            )
        })
    }
}

impl PcapReader {
    /// Makes a record header available, or tells the end of input from a
    /// truncated header; then reads the record.
    #[cold]
    fn refill_header(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        let at = self.input.offset();
        match self.input.fill(self.format.header_len) {
            Ok(true) => self.next_frame(),
            Ok(false) if self.input.available().is_empty() => Ok(None),
            Ok(false) => Err(self.fault(at, CaptureErrorKind::Truncated)),
            Err(e) => Err(self.fault(at, CaptureErrorKind::Io(e))),
        }
    }
}

#[inline]
pub(crate) fn rd16(b: &[u8], at: usize, big: bool) -> u16 {
    let v = [b[at], b[at + 1]];
    if big {
        u16::from_be_bytes(v)
    } else {
        u16::from_le_bytes(v)
    }
}

#[inline]
pub(crate) fn rd32(b: &[u8], at: usize, big: bool) -> u32 {
    let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

#[cfg(test)]
mod test {
    use crate::testgen::{open_bytes, pcap, PcapRecord};
    use crate::CaptureErrorKind;

    fn rec(sec: u32, frac: u32, data: &[u8]) -> PcapRecord {
        PcapRecord {
            sec,
            frac,
            caplen: data.len() as u32,
            wire_len: data.len() as u32 + 10,
            data: data.to_vec(),
        }
    }

    #[test]
    fn reads_frames_in_both_byte_orders_and_precisions() {
        for big in [false, true] {
            for nano in [false, true] {
                let frac = if nano { 123_456_789 } else { 123_456 };
                let bytes = pcap(
                    big,
                    nano,
                    1,
                    65535,
                    &[rec(1_000, frac, b"abc"), rec(1_001, 0, b"")],
                );
                let mut src = open_bytes("t.pcap", bytes).unwrap();
                let f = src.next_frame().unwrap().unwrap();
                assert_eq!(f.ts.micros(), 1_000_123_456, "big={big} nano={nano}");
                assert_eq!((f.linktype, f.wire_len, f.data), (1, 13, &b"abc"[..]));
                let f = src.next_frame().unwrap().unwrap();
                assert_eq!(
                    (f.ts.micros(), f.data.len(), f.wire_len),
                    (1_001_000_000, 0, 10)
                );
                assert!(src.next_frame().unwrap().is_none());
                assert!(src.next_frame().unwrap().is_none());
            }
        }
    }

    #[test]
    fn seconds_are_signed_32_bit_like_libpcap() {
        let bytes = pcap(false, false, 1, 0, &[rec(0xffff_ffff, 5, b"x")]);
        let mut src = open_bytes("t.pcap", bytes).unwrap();
        assert_eq!(
            src.next_frame().unwrap().unwrap().ts.micros(),
            -1_000_000 + 5
        );
    }

    #[test]
    fn linktype_fcs_bits_are_masked_and_data_cut_to_snaplen() {
        let bytes = pcap(true, false, 0x1000_0071, 4, &[rec(1, 0, b"abcdefgh")]);
        let mut src = open_bytes("t.pcap", bytes).unwrap();
        let f = src.next_frame().unwrap().unwrap();
        assert_eq!((f.linktype, f.data, f.wire_len), (113, &b"abcd"[..], 18));
        assert!(src.next_frame().unwrap().is_none());
    }

    #[test]
    fn old_versions_have_swapped_lengths() {
        let mut bytes = pcap(false, false, 1, 0, &[]);
        bytes[6] = 2; // version 2.2
                      // caplen field holds len (60), len field holds caplen (3).
        bytes.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0, 3, 0, 0, 0, 7, 8, 9]);
        let mut src = open_bytes("t.pcap", bytes).unwrap();
        let f = src.next_frame().unwrap().unwrap();
        assert_eq!((f.wire_len, f.data), (60, &[7u8, 8, 9][..]));
    }

    #[test]
    fn patched_format_has_longer_record_headers() {
        let mut bytes = pcap(false, false, 1, 0, &[]);
        bytes[..4].copy_from_slice(&0xa1b2_cd34u32.to_le_bytes());
        bytes.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0]);
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(b"hi");
        let mut src = open_bytes("t.pcap", bytes).unwrap();
        let f = src.next_frame().unwrap().unwrap();
        assert_eq!((f.ts.micros(), f.data), (1_000_002, &b"hi"[..]));
        assert!(src.next_frame().unwrap().is_none());
    }

    #[test]
    fn truncation_is_reported_at_the_record_after_good_frames() {
        let full = pcap(false, true, 1, 0, &[rec(1, 0, b"abcd"), rec(2, 0, b"efgh")]);
        let second = 24 + 16 + 4;
        // Cut inside the second record's data, then inside its header.
        for cut in [full.len() - 1, second + 7] {
            let mut src = open_bytes("t.pcap", full[..cut].to_vec()).unwrap();
            assert_eq!(src.next_frame().unwrap().unwrap().data, b"abcd");
            let err = src.next_frame().unwrap_err();
            assert!(matches!(err.kind, CaptureErrorKind::Truncated));
            assert_eq!(err.offset, second as u64);
        }
        let err = open_bytes("t.pcap", full[..20].to_vec()).err().unwrap();
        assert!(matches!(err.kind, CaptureErrorKind::Truncated));
        assert_eq!(err.offset, 0);
    }

    #[test]
    fn absurd_caplen_is_corrupt() {
        let mut r = rec(1, 0, b"");
        r.caplen = 0x7fff_ffff;
        let bytes = pcap(false, false, 1, 0, &[rec(1, 0, b"ok"), r]);
        let mut src = open_bytes("t.pcap", bytes).unwrap();
        assert!(src.next_frame().unwrap().is_some());
        let err = src.next_frame().unwrap_err();
        assert!(matches!(err.kind, CaptureErrorKind::Corrupt(_)));
        assert_eq!(err.offset, 24 + 16 + 2);
    }
}
