//! Test-only builders of capture files in memory: classic pcap and pcapng in
//! either byte order, gzip, and a minimal Ethernet/IPv4/TCP frame. Tests use
//! these instead of fixture files so every byte they check is visible here.
use std::io::{Cursor, Write};

use crate::{open_reader, CaptureError, Source};

pub(crate) fn open_bytes(
    name: &str,
    bytes: Vec<u8>,
) -> Result<Box<dyn Source + Send>, CaptureError> {
    open_reader(name, Box::new(Cursor::new(bytes)))
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn put16(out: &mut Vec<u8>, v: u16, big: bool) {
    out.extend(if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

fn put32(out: &mut Vec<u8>, v: u32, big: bool) {
    out.extend(if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

pub(crate) struct PcapRecord {
    pub sec: u32,
    pub frac: u32,
    pub caplen: u32,
    pub wire_len: u32,
    pub data: Vec<u8>,
}

/// A classic pcap file (version 2.4).
pub(crate) fn pcap(
    big: bool,
    nano: bool,
    linktype: u32,
    snaplen: u32,
    records: &[PcapRecord],
) -> Vec<u8> {
    let mut out = Vec::new();
    put32(&mut out, if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }, big);
    put16(&mut out, 2, big);
    put16(&mut out, 4, big);
    put32(&mut out, 0, big);
    put32(&mut out, 0, big);
    put32(&mut out, snaplen, big);
    put32(&mut out, linktype, big);
    for r in records {
        for v in [r.sec, r.frac, r.caplen, r.wire_len] {
            put32(&mut out, v, big);
        }
        out.extend_from_slice(&r.data);
    }
    out
}

/// A pcapng writer; blocks are appended in call order.
pub(crate) struct Ng {
    big: bool,
    out: Vec<u8>,
}

impl Ng {
    pub(crate) fn new(big: bool) -> Self {
        Ng {
            big,
            out: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.out.len()
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.out
    }

    /// A block with its body padded to 4 bytes and correct lengths.
    pub(crate) fn block(&mut self, btype: u32, body: &[u8]) {
        let mut body = body.to_vec();
        body.resize(body.len().div_ceil(4) * 4, 0);
        self.raw(btype, body.len() as u32 + 12, &body);
    }

    /// A block written exactly as given, whatever its length field says.
    pub(crate) fn raw(&mut self, btype: u32, len: u32, body: &[u8]) {
        put32(&mut self.out, btype, self.big);
        put32(&mut self.out, len, self.big);
        self.out.extend_from_slice(body);
        put32(&mut self.out, len, self.big);
    }

    pub(crate) fn shb(&mut self) {
        let mut b = Vec::new();
        put32(&mut b, 0x1a2b_3c4d, self.big);
        put16(&mut b, 1, self.big);
        put16(&mut b, 0, self.big);
        b.extend_from_slice(&[0xff; 8]); // section length unknown
        self.block(0x0a0d_0d0a, &b);
    }

    pub(crate) fn idb(
        &mut self,
        linktype: u16,
        snaplen: u32,
        tsresol: Option<u8>,
        tsoffset: Option<i64>,
    ) {
        let mut b = Vec::new();
        put16(&mut b, linktype, self.big);
        put16(&mut b, 0, self.big);
        put32(&mut b, snaplen, self.big);
        put16(&mut b, 2, self.big); // if_name, to show options are skipped
        put16(&mut b, 3, self.big);
        b.extend_from_slice(b"et0\0");
        if let Some(r) = tsresol {
            put16(&mut b, 9, self.big);
            put16(&mut b, 1, self.big);
            b.extend_from_slice(&[r, 0, 0, 0]);
        }
        if let Some(o) = tsoffset {
            put16(&mut b, 14, self.big);
            put16(&mut b, 8, self.big);
            b.extend(if self.big {
                o.to_be_bytes()
            } else {
                o.to_le_bytes()
            });
        }
        put32(&mut b, 0, self.big); // opt_endofopt
        self.block(1, &b);
    }

    pub(crate) fn epb(&mut self, iface: u32, ts: u64, data: &[u8], wire_len: u32) {
        let mut b = Vec::new();
        put32(&mut b, iface, self.big);
        self.packet_tail(&mut b, ts, data, wire_len);
        self.block(6, &b);
    }

    /// The obsolete Packet Block (type 2).
    pub(crate) fn pb(&mut self, iface: u16, ts: u64, data: &[u8], wire_len: u32) {
        let mut b = Vec::new();
        put16(&mut b, iface, self.big);
        put16(&mut b, 0, self.big); // drops count
        self.packet_tail(&mut b, ts, data, wire_len);
        self.block(2, &b);
    }

    pub(crate) fn spb(&mut self, data: &[u8], wire_len: u32) {
        let mut b = Vec::new();
        put32(&mut b, wire_len, self.big);
        b.extend_from_slice(data);
        self.block(3, &b);
    }

    fn packet_tail(&self, b: &mut Vec<u8>, ts: u64, data: &[u8], wire_len: u32) {
        put32(b, (ts >> 32) as u32, self.big);
        put32(b, ts as u32, self.big);
        put32(b, data.len() as u32, self.big);
        put32(b, wire_len, self.big);
        b.extend_from_slice(data);
        b.resize(b.len().div_ceil(4) * 4, 0);
        put32(b, 0, self.big); // opt_endofopt
    }
}

/// Ethernet + IPv4 + TCP SYN from 10.0.0.1:1234 to 10.0.0.2:`dport`.
pub(crate) fn eth_ipv4_tcp(dport: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&[
        0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    f.extend_from_slice(&1234u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    f
}
