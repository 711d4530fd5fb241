//! pcapng framing: sections (each with its own byte order), interface
//! description blocks (each with its own link type, snap length, `if_tsresol`
//! and `if_tsoffset`), and the three packet-carrying blocks: Enhanced Packet
//! (type 6), Simple Packet (type 3, interface 0, no time stamp) and the
//! obsolete Packet Block (type 2). Every other block type is skipped.
//!
//! It owns the block walk, validation of lengths and interface ids, and the
//! reduction of time stamps to microseconds by truncation, as libpcap does
//! for Zeek. It does not look past the link type.
use quartet_wire::Timestamp;

use crate::input::Input;
use crate::pcap::{rd16, rd32};
use crate::{CaptureError, CaptureErrorKind, Frame, Shared, Source, MAX_CAPLEN};

/// The Section Header Block type reads the same in both byte orders.
pub(crate) const SHB_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;

const BT_SHB: u32 = 0x0a0d_0d0a;
const BT_IDB: u32 = 1;
const BT_PB: u32 = 2;
const BT_SPB: u32 = 3;
const BT_EPB: u32 = 6;

/// Type, length, and the trailing length copy.
const MIN_BLOCK_LEN: u32 = 12;
/// No legitimate block comes near this: the largest frame plus room for
/// options.
const MAX_BLOCK_LEN: u32 = MAX_CAPLEN + (1 << 20);

const OPT_ENDOFOPT: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// How one interface's raw 64-bit time stamps become microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TsScale {
    /// Already microseconds (the default, `if_tsresol` 6).
    Micro,
    /// 10^-n with n > 6: divide by 10^(n-6), truncating.
    Div(u64),
    /// 10^-n with n < 6: multiply by 10^(6-n).
    Mul(u64),
    /// 2^-n: whole seconds plus the fraction scaled down, truncating.
    Bin(u32),
}

impl TsScale {
    /// Decodes the one-byte `if_tsresol` value (pcapng §4.2).
    fn from_tsresol(r: u8) -> Option<Self> {
        let exp = u32::from(r & 0x7f);
        if r & 0x80 != 0 {
            return (exp < 64).then_some(TsScale::Bin(exp));
        }
        Some(match exp {
            6 => TsScale::Micro,
            7..=19 => TsScale::Div(10u64.pow(exp - 6)),
            0..=5 => TsScale::Mul(10u64.pow(6 - exp)),
            _ => return None,
        })
    }

    #[inline]
    fn micros(self, t: u64) -> i64 {
        let wide: u128 = match self {
            TsScale::Micro => u128::from(t),
            TsScale::Div(d) => u128::from(t / d),
            TsScale::Mul(m) => u128::from(t) * u128::from(m),
            TsScale::Bin(n) => {
                let frac = t & ((1u64 << n) - 1);
                u128::from(t >> n) * 1_000_000 + ((u128::from(frac) * 1_000_000) >> n)
            }
        };
        i64::try_from(wide).unwrap_or(i64::MAX)
    }
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    linktype: u32,
    /// Captured bytes beyond this are dropped, as libpcap does.
    snapshot: u32,
    scale: TsScale,
    /// `if_tsoffset`, in microseconds.
    offset_us: i64,
}

/// Where the frame inside the current block is, once the block is valid.
struct Located {
    ts: Timestamp,
    linktype: u32,
    wire_len: u32,
    data_at: usize,
    data_len: usize,
    block_len: usize,
}

pub(crate) struct PcapNgReader {
    input: Input,
    path: String,
    /// Byte order of the current section.
    big: bool,
    /// Interfaces of the current section, by id.
    interfaces: Vec<Interface>,
}

impl PcapNgReader {
    /// `input` is positioned at the first Section Header Block.
    pub(crate) fn new(input: Input, path: String) -> Self {
        PcapNgReader {
            input,
            path,
            big: false,
            interfaces: Vec::new(),
        }
    }

    fn fault(&self, offset: u64, kind: CaptureErrorKind) -> CaptureError {
        CaptureError {
            path: self.path.clone(),
            offset,
            kind,
        }
    }

    fn corrupt(&self, offset: u64, msg: String) -> CaptureError {
        self.fault(offset, CaptureErrorKind::Corrupt(msg))
    }

    /// Makes `n` bytes available or reports the block at `at` as truncated.
    fn need(&mut self, at: u64, n: usize) -> Result<(), CaptureError> {
        match self.input.fill(n) {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.fault(at, CaptureErrorKind::Truncated)),
            Err(e) => Err(self.fault(at, CaptureErrorKind::Io(e))),
        }
    }

    /// Walks blocks until one carries a frame; `Ok(None)` at a clean end.
    fn locate(&mut self) -> Result<Option<Located>, CaptureError> {
        loop {
            let at = self.input.offset();
            match self.input.fill(8) {
                Ok(true) => {}
                Ok(false) if self.input.available().is_empty() => return Ok(None),
                Ok(false) => return Err(self.fault(at, CaptureErrorKind::Truncated)),
                Err(e) => return Err(self.fault(at, CaptureErrorKind::Io(e))),
            }
            if self.input.available()[..4] == SHB_MAGIC {
                // A new section may switch byte order; its length field can
                // only be read once the byte-order magic is known.
                self.need(at, 12)?;
                let bom = rd32(self.input.available(), 8, false);
                self.big = if bom == BYTE_ORDER_MAGIC {
                    false
                } else if bom == BYTE_ORDER_MAGIC.swap_bytes() {
                    true
                } else {
                    return Err(self.corrupt(at, format!("bad byte-order magic {bom:#010x}")));
                };
            }
            let big = self.big;
            let h = self.input.available();
            let (btype, len) = (rd32(h, 0, big), rd32(h, 4, big));
            let min_len = match btype {
                BT_SHB => 28,
                BT_IDB => 20,
                BT_EPB | BT_PB => 32,
                BT_SPB => 16,
                _ => MIN_BLOCK_LEN,
            };
            if len % 4 != 0 || len < min_len || len > MAX_BLOCK_LEN {
                let msg = format!("block type {btype:#x} has invalid length {len}");
                return Err(self.corrupt(at, msg));
            }
            let len = len as usize;
            self.need(at, len)?;
            let b = &self.input.available()[..len];
            let trailer = rd32(b, len - 4, big);
            if trailer != len as u32 {
                let msg = format!("block length {len} and trailing length {trailer} differ");
                return Err(self.corrupt(at, msg));
            }
            match btype {
                BT_EPB | BT_PB => {
                    let id = if btype == BT_EPB {
                        rd32(b, 8, big)
                    } else {
                        u32::from(rd16(b, 8, big))
                    };
                    let Some(&iface) = self.interfaces.get(id as usize) else {
                        return Err(self.corrupt(at, format!("unknown interface id {id}")));
                    };
                    let t = u64::from(rd32(b, 12, big)) << 32 | u64::from(rd32(b, 16, big));
                    let (caplen, wire_len) = (rd32(b, 20, big), rd32(b, 24, big));
                    if caplen as usize > len - 32 {
                        let msg = format!("capture length {caplen} overruns block of {len}");
                        return Err(self.corrupt(at, msg));
                    }
                    let us = iface.scale.micros(t).saturating_add(iface.offset_us);
                    return Ok(Some(Located {
                        ts: Timestamp::from_micros(us),
                        linktype: iface.linktype,
                        wire_len,
                        data_at: 28,
                        data_len: caplen.min(iface.snapshot) as usize,
                        block_len: len,
                    }));
                }
                BT_SPB => {
                    // No time stamp and no interface id: libpcap reports
                    // time 0 and interface 0's link type and snap length.
                    let Some(&iface) = self.interfaces.first() else {
                        return Err(
                            self.corrupt(at, "simple packet block before any interface".into())
                        );
                    };
                    let wire_len = rd32(b, 8, big);
                    let caplen = wire_len.min(iface.snapshot);
                    if caplen as usize > len - 16 {
                        let msg = format!("packet length {caplen} overruns block of {len}");
                        return Err(self.corrupt(at, msg));
                    }
                    return Ok(Some(Located {
                        ts: Timestamp::ZERO,
                        linktype: iface.linktype,
                        wire_len,
                        data_at: 12,
                        data_len: caplen as usize,
                        block_len: len,
                    }));
                }
                BT_IDB => {
                    let iface = parse_idb(b, big).map_err(|msg| self.corrupt(at, msg))?;
                    self.interfaces.push(iface);
                }
                BT_SHB => {
                    let (major, minor) = (rd16(b, 12, big), rd16(b, 14, big));
                    if major != 1 {
                        return Err(
                            self.corrupt(at, format!("unsupported pcapng version {major}.{minor}"))
                        );
                    }
                    self.interfaces.clear();
                }
                _ => {}
            }
            self.input.take(len);
        }
    }
}

/// Reads an Interface Description Block (`b` is the whole block).
fn parse_idb(b: &[u8], big: bool) -> Result<Interface, String> {
    let snaplen = rd32(b, 12, big);
    let mut iface = Interface {
        linktype: u32::from(rd16(b, 8, big)),
        snapshot: if snaplen == 0 || snaplen > MAX_CAPLEN {
            MAX_CAPLEN
        } else {
            snaplen
        },
        scale: TsScale::Micro,
        offset_us: 0,
    };
    let end = b.len() - 4;
    let mut at = 16;
    while at + 4 <= end {
        let (code, len) = (rd16(b, at, big), usize::from(rd16(b, at + 2, big)));
        let value = at + 4;
        if code == OPT_ENDOFOPT {
            break;
        }
        if value + len > end {
            return Err(format!("option {code} overruns its block"));
        }
        match code {
            OPT_IF_TSRESOL => {
                let r = *b
                    .get(value)
                    .filter(|_| len == 1)
                    .ok_or("if_tsresol length is not 1")?;
                iface.scale =
                    TsScale::from_tsresol(r).ok_or(format!("unsupported if_tsresol {r:#04x}"))?;
            }
            OPT_IF_TSOFFSET if len == 8 => {
                let mut v = [0; 8];
                v.copy_from_slice(&b[value..value + 8]);
                let secs = if big {
                    i64::from_be_bytes(v)
                } else {
                    i64::from_le_bytes(v)
                };
                iface.offset_us = secs.saturating_mul(1_000_000);
            }
            _ => {}
        }
        at = value + len.div_ceil(4) * 4;
    }
    Ok(iface)
}

impl Source for PcapNgReader {
    fn release_floor(&mut self, at: u64) {
        self.input.set_floor(at);
    }

    fn is_mapped(&self) -> bool {
        self.input.is_mapped()
    }

    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        // Locating and lending are split so the loop over skipped blocks
        // holds no borrow of the buffer when it returns one.
        let Some(f) = self.locate()? else {
            return Ok(None);
        };
        let at = self.input.take(f.block_len) + f.data_at;
        let buffer = self.input.buffer();
        Ok(Some(Frame {
            ts: f.ts,
            linktype: f.linktype,
            wire_len: f.wire_len,
            data: &buffer[at..at + f.data_len],
            shared: Some(Shared { buffer, at }),
        }))
    }
}

#[cfg(test)]
mod test {
    use super::TsScale;
    use crate::testgen::{gzip, open_bytes, Ng};
    use crate::CaptureErrorKind;

    #[test]
    fn tsresol_decoding() {
        assert_eq!(TsScale::from_tsresol(6), Some(TsScale::Micro));
        assert_eq!(TsScale::from_tsresol(9), Some(TsScale::Div(1000)));
        assert_eq!(TsScale::from_tsresol(3), Some(TsScale::Mul(1000)));
        assert_eq!(TsScale::from_tsresol(0x80 | 20), Some(TsScale::Bin(20)));
        assert_eq!(TsScale::from_tsresol(20), None);
        assert_eq!(TsScale::from_tsresol(0x80 | 64), None);
        // 1.999999999 s in nanoseconds truncates, never rounds.
        assert_eq!(TsScale::Div(1000).micros(1_999_999_999), 1_999_999);
        // 2^-20 units: 3.5 s plus one tick (0.95 us, truncated away).
        assert_eq!(TsScale::Bin(20).micros((7 << 19) + 1), 3_500_000);
        assert_eq!(TsScale::Bin(0).micros(5), 5_000_000);
        assert_eq!(TsScale::Mul(1000).micros(42), 42_000);
    }

    #[test]
    fn interfaces_keep_their_own_linktype_and_resolution() {
        for big in [false, true] {
            let mut ng = Ng::new(big);
            ng.shb();
            ng.idb(1, 0, None, None);
            ng.idb(113, 0, Some(9), None);
            ng.idb(101, 0, Some(0x80 | 10), Some(100));
            ng.block(0x8000_0001, &[1, 2, 3, 4]); // unknown: skipped
            ng.epb(0, 1_500_000, b"eth", 60);
            ng.epb(1, 2_000_000_123_456, b"sll", 70);
            ng.epb(2, 3 << 10 | 512, b"raw", 3);
            ng.pb(1, 7_000_000_999, b"old", 80);
            let mut src = open_bytes("t.pcapng", ng.finish()).unwrap();
            let mut next = || {
                let f = src.next_frame().unwrap().unwrap();
                (f.ts.micros(), f.linktype, f.wire_len, f.data.to_vec())
            };
            assert_eq!(next(), (1_500_000, 1, 60, b"eth".to_vec()));
            assert_eq!(next(), (2_000_000_123, 113, 70, b"sll".to_vec()));
            assert_eq!(next(), (103_500_000, 101, 3, b"raw".to_vec()));
            assert_eq!(next(), (7_000_000, 113, 80, b"old".to_vec()));
            assert!(src.next_frame().unwrap().is_none());
        }
    }

    #[test]
    fn sections_reset_interfaces_and_may_switch_byte_order() {
        let mut a = Ng::new(false);
        a.shb();
        a.idb(1, 0, None, None);
        a.epb(0, 1, b"a", 1);
        let mut b = Ng::new(true);
        b.shb();
        b.idb(113, 2, None, None);
        b.epb(0, 2, b"bbbb", 4);
        b.spb(b"cc", 2);
        let mut bytes = a.finish();
        bytes.extend(b.finish());
        let mut src = open_bytes("t.pcapng.gz", gzip(&bytes)).unwrap();
        let f = src.next_frame().unwrap().unwrap();
        assert_eq!((f.ts.micros(), f.linktype, f.data), (1, 1, &b"a"[..]));
        // Data is cut to the interface's snap length of 2.
        let f = src.next_frame().unwrap().unwrap();
        assert_eq!(
            (f.ts.micros(), f.linktype, f.wire_len, f.data),
            (2, 113, 4, &b"bb"[..])
        );
        let f = src.next_frame().unwrap().unwrap();
        assert_eq!(
            (f.ts.micros(), f.linktype, f.wire_len, f.data),
            (0, 113, 2, &b"cc"[..])
        );
        assert!(src.next_frame().unwrap().is_none());
    }

    #[test]
    fn spb_takes_min_of_original_length_and_snaplen() {
        let mut ng = Ng::new(false);
        ng.shb();
        ng.idb(1, 3, None, None);
        ng.spb(b"abcdef", 100);
        let mut src = open_bytes("t", ng.finish()).unwrap();
        let f = src.next_frame().unwrap().unwrap();
        assert_eq!((f.wire_len, f.data), (100, &b"abc"[..]));
    }

    /// A file with two good frames and the offset where the third block starts.
    fn two_frames() -> (Vec<u8>, usize) {
        let mut ng = Ng::new(false);
        ng.shb();
        ng.idb(1, 0, None, None);
        ng.epb(0, 1, b"one", 3);
        ng.epb(0, 2, b"two", 3);
        let at = ng.len();
        (ng.finish(), at)
    }

    fn third_error(bytes: Vec<u8>) -> crate::CaptureError {
        let mut src = open_bytes("t.pcapng", gzip(&bytes)).unwrap();
        assert_eq!(src.next_frame().unwrap().unwrap().data, b"one");
        assert_eq!(src.next_frame().unwrap().unwrap().data, b"two");
        src.next_frame().unwrap_err()
    }

    #[test]
    fn truncated_block_reports_its_start() {
        let (mut bytes, at) = two_frames();
        let mut ng = Ng::new(false);
        ng.epb(0, 3, b"three", 5);
        let third = ng.finish();
        for cut in [3, 8, third.len() - 1] {
            bytes.truncate(at);
            bytes.extend_from_slice(&third[..cut]);
            let err = third_error(bytes.clone());
            assert!(matches!(err.kind, CaptureErrorKind::Truncated), "{err}");
            assert_eq!(err.offset, at as u64);
        }
    }

    #[test]
    fn corrupt_blocks_report_their_start() {
        let corruptions: [fn(&mut Ng); 5] = [
            |ng| ng.raw(6, 30, &[0; 26]),             // not a multiple of 4
            |ng| ng.raw(6, 28, &[0; 24]),             // shorter than an EPB
            |ng| ng.raw(0x99, 0x7fff_fffc, &[0; 24]), // absurdly long
            |ng| ng.epb(5, 0, b"x", 1),               // unknown interface
            |ng| {
                ng.raw(
                    6,
                    32,
                    &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 99, 0, 0, 0, 1, 0, 0, 0],
                )
            },
        ];
        for corrupt in corruptions {
            let (mut bytes, at) = two_frames();
            let mut ng = Ng::new(false);
            corrupt(&mut ng);
            bytes.extend(ng.finish());
            let err = third_error(bytes);
            assert!(matches!(err.kind, CaptureErrorKind::Corrupt(_)), "{err}");
            assert_eq!(err.offset, at as u64);
        }
    }

    #[test]
    fn bad_idb_options_and_byte_order_magic_are_corrupt() {
        let mut ng = Ng::new(false);
        ng.shb();
        ng.idb(1, 0, Some(30), None);
        let err = open_bytes("t", ng.finish())
            .unwrap()
            .next_frame()
            .unwrap_err();
        assert!(matches!(err.kind, CaptureErrorKind::Corrupt(_)));
        assert_eq!(err.offset, 28);

        let mut ng = Ng::new(false);
        ng.shb();
        let mut bytes = ng.finish();
        bytes[8] = 0;
        let err = open_bytes("t", bytes).unwrap().next_frame().unwrap_err();
        assert!(matches!(err.kind, CaptureErrorKind::Corrupt(_)));
        assert_eq!(err.offset, 0);
    }
}
