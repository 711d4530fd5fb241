//! Writing classic pcap files (microsecond timestamps, little-endian).
//!
//! The snaplen given to the writer is recorded in the file header and cuts
//! every longer frame, keeping its original length in the record header, as
//! a capture with that snaplen would.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Duration;

/// Link-layer header types (LINKTYPE_* values of the pcap format).
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const RAW: u32 = 101;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
}

/// The snaplen written when none is given.
pub const DEFAULT_SNAPLEN: u32 = 65535;

/// A frame and its capture time (since the Unix epoch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub ts: Duration,
    pub frame: Vec<u8>,
}

/// Interleaves several packet lists by time. Packets with equal times keep
/// the order of the lists and their order within each list.
pub fn merge(lists: impl IntoIterator<Item = Vec<Packet>>) -> Vec<Packet> {
    let mut all: Vec<Packet> = lists.into_iter().flatten().collect();
    all.sort_by_key(|p| p.ts); // stable
    all
}

/// A classic pcap writer over any `io::Write`.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    snaplen: u32,
}

impl PcapWriter<Vec<u8>> {
    /// A writer into memory; get the bytes with [`PcapWriter::finish`].
    pub fn in_memory(linktype: u32) -> Self {
        Self::new(Vec::new(), linktype).expect("writing to a Vec cannot fail")
    }
}

impl PcapWriter<BufWriter<File>> {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: impl AsRef<Path>, linktype: u32) -> io::Result<Self> {
        Self::new(BufWriter::new(File::create(path)?), linktype)
    }
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header with the default snaplen.
    pub fn new(out: W, linktype: u32) -> io::Result<Self> {
        Self::with_snaplen(out, linktype, DEFAULT_SNAPLEN)
    }

    /// Writes the file header; frames longer than `snaplen` are truncated.
    pub fn with_snaplen(mut out: W, linktype: u32, snaplen: u32) -> io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        h.extend_from_slice(&snaplen.to_le_bytes());
        h.extend_from_slice(&linktype.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out, snaplen })
    }

    /// Appends one frame captured at `ts` (sub-microsecond parts are
    /// dropped).
    pub fn write(&mut self, ts: Duration, frame: &[u8]) -> io::Result<()> {
        let secs = u32::try_from(ts.as_secs())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "timestamp after 2106"))?;
        let orig_len = u32::try_from(frame.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too long"))?;
        let caplen = orig_len.min(self.snaplen);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&ts.subsec_micros().to_le_bytes());
        h[8..12].copy_from_slice(&caplen.to_le_bytes());
        h[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&frame[..caplen as usize])
    }

    pub fn write_packet(&mut self, packet: &Packet) -> io::Result<()> {
        self.write(packet.ts, &packet.frame)
    }

    pub fn write_packets<'a>(
        &mut self,
        packets: impl IntoIterator<Item = &'a Packet>,
    ) -> io::Result<()> {
        packets.into_iter().try_for_each(|p| self.write_packet(p))
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn header_and_records() {
        let mut w = PcapWriter::in_memory(linktype::RAW);
        w.write(Duration::new(1_700_000_000, 123_456_789), &[1, 2, 3])
            .unwrap();
        let b = w.finish().unwrap();
        assert_eq!(&b[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(&b[4..8], &[2, 0, 4, 0]);
        assert_eq!(u32_at(&b, 16), DEFAULT_SNAPLEN);
        assert_eq!(u32_at(&b, 20), 101);
        assert_eq!(u32_at(&b, 24), 1_700_000_000);
        assert_eq!(u32_at(&b, 28), 123_456);
        assert_eq!(u32_at(&b, 32), 3);
        assert_eq!(u32_at(&b, 36), 3);
        assert_eq!(&b[40..], &[1, 2, 3]);
    }

    #[test]
    fn snaplen_truncates_but_keeps_original_length() {
        let mut w = PcapWriter::with_snaplen(Vec::new(), linktype::ETHERNET, 4).unwrap();
        w.write(Duration::ZERO, &[9; 10]).unwrap();
        w.write(Duration::ZERO, &[7; 2]).unwrap();
        let b = w.finish().unwrap();
        assert_eq!(u32_at(&b, 16), 4);
        assert_eq!((u32_at(&b, 32), u32_at(&b, 36)), (4, 10));
        assert_eq!(&b[40..44], &[9; 4]);
        assert_eq!((u32_at(&b, 44 + 8), u32_at(&b, 44 + 12)), (2, 2));
        assert_eq!(b.len(), 24 + 16 + 4 + 16 + 2);
    }

    #[test]
    fn merge_is_stable_by_time() {
        let p = |s, tag| Packet {
            ts: Duration::from_secs(s),
            frame: vec![tag],
        };
        let m = merge([vec![p(1, 1), p(3, 2)], vec![p(1, 3), p(2, 4)]]);
        let tags: Vec<u8> = m.iter().map(|p| p.frame[0]).collect();
        assert_eq!(tags, [1, 3, 4, 2]);
    }
}
