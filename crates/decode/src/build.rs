//! Packet builders for tests (feature `testkit`): small functions that lay
//! out headers byte by byte with correct lengths and checksums, to be
//! composed by hand (`ethernet(.., ipv4(.., tcp(..)))`) and then broken on
//! purpose.
//!
//! Owns nothing the decoder uses; it exists so that unit tests here and
//! integration tests in other crates can describe packets as values
//! instead of opaque hex dumps.

use quartet_wire::Addr;

use crate::checksum;

pub const MAC_A: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
pub const MAC_B: [u8; 6] = [0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb];

/// A TCP segment's fields; `Default` is a bare ACK-less segment from port
/// 1234 to 80 with a 20-byte header.
#[derive(Clone, Debug)]
pub struct TcpSpec {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// Raw option bytes, zero-padded (end of list) to a multiple of 4.
    pub options: Vec<u8>,
    pub payload: Vec<u8>,
}

impl Default for TcpSpec {
    fn default() -> Self {
        TcpSpec {
            sport: 1234,
            dport: 80,
            seq: 1000,
            ack: 0,
            flags: 0,
            window: 65535,
            options: Vec::new(),
            payload: Vec::new(),
        }
    }
}

/// A TCP segment with a correct checksum for `src` → `dst` (the key
/// addresses: final destination of an IPv6 routing header).
pub fn tcp(src: &Addr, dst: &Addr, s: &TcpSpec) -> Vec<u8> {
    let mut opts = s.options.clone();
    while opts.len() % 4 != 0 {
        opts.push(0);
    }
    let hdr_len = 20 + opts.len();
    let mut b = Vec::with_capacity(hdr_len + s.payload.len());
    b.extend_from_slice(&s.sport.to_be_bytes());
    b.extend_from_slice(&s.dport.to_be_bytes());
    b.extend_from_slice(&s.seq.to_be_bytes());
    b.extend_from_slice(&s.ack.to_be_bytes());
    b.push(((hdr_len / 4) as u8) << 4);
    b.push(s.flags);
    b.extend_from_slice(&s.window.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    b.extend_from_slice(&opts);
    b.extend_from_slice(&s.payload);
    let sum = checksum::compute(checksum::pseudo(src, dst, 6, b.len() as u32), &b);
    b[16..18].copy_from_slice(&sum.to_be_bytes());
    b
}

/// A UDP datagram with a correct checksum (never zero: a computed zero is
/// sent as 0xffff).
pub fn udp(src: &Addr, dst: &Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(&sport.to_be_bytes());
    b.extend_from_slice(&dport.to_be_bytes());
    b.extend_from_slice(&(len as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(payload);
    let mut sum = checksum::compute(checksum::pseudo(src, dst, 17, len as u32), &b);
    if sum == 0 {
        sum = 0xffff;
    }
    b[6..8].copy_from_slice(&sum.to_be_bytes());
    b
}

/// An ICMPv4 message: type, code, 4 more header bytes, then `rest`.
pub fn icmp4(ty: u8, code: u8, rest: &[u8]) -> Vec<u8> {
    let mut b = vec![ty, code, 0, 0, 0, 1, 0, 1];
    b.extend_from_slice(rest);
    let sum = checksum::compute(0, &b);
    b[2..4].copy_from_slice(&sum.to_be_bytes());
    b
}

/// An ICMPv6 message, checksummed with the IPv6 pseudo-header.
pub fn icmp6(src: &Addr, dst: &Addr, ty: u8, code: u8, rest: &[u8]) -> Vec<u8> {
    let mut b = vec![ty, code, 0, 0, 0, 1, 0, 1];
    b.extend_from_slice(rest);
    let sum = checksum::compute(checksum::pseudo(src, dst, 58, b.len() as u32), &b);
    b[2..4].copy_from_slice(&sum.to_be_bytes());
    b
}

/// IPv4 header fields; `Default` is a plain unfragmented TCP header.
#[derive(Clone, Debug)]
pub struct Ipv4Spec {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub proto: u8,
    pub id: u16,
    /// Flags and fragment offset (in 8-byte units) as on the wire.
    pub frag: u16,
    pub ttl: u8,
    /// Options, padded with zeros (end of list) to 4 bytes.
    pub options: Vec<u8>,
    /// Total length to write instead of the real one.
    pub total_len: Option<u16>,
}

impl Default for Ipv4Spec {
    fn default() -> Self {
        Ipv4Spec {
            src: [10, 0, 0, 1],
            dst: [10, 0, 0, 2],
            proto: 6,
            id: 0x1234,
            frag: 0,
            ttl: 64,
            options: Vec::new(),
            total_len: None,
        }
    }
}

impl Ipv4Spec {
    pub fn src_addr(&self) -> Addr {
        Addr::v4(self.src)
    }

    pub fn dst_addr(&self) -> Addr {
        Addr::v4(self.dst)
    }
}

/// An IPv4 packet with a correct header checksum.
pub fn ipv4_with(s: &Ipv4Spec, payload: &[u8]) -> Vec<u8> {
    let mut opts = s.options.clone();
    while opts.len() % 4 != 0 {
        opts.push(0);
    }
    let hdr_len = 20 + opts.len();
    let total = s.total_len.unwrap_or((hdr_len + payload.len()) as u16);
    let mut b = Vec::with_capacity(hdr_len + payload.len());
    b.push(0x40 | (hdr_len / 4) as u8);
    b.push(0);
    b.extend_from_slice(&total.to_be_bytes());
    b.extend_from_slice(&s.id.to_be_bytes());
    b.extend_from_slice(&s.frag.to_be_bytes());
    b.push(s.ttl);
    b.push(s.proto);
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&s.src);
    b.extend_from_slice(&s.dst);
    b.extend_from_slice(&opts);
    let sum = checksum::compute(0, &b);
    b[10..12].copy_from_slice(&sum.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

/// An IPv4 packet 10.0.0.1 → 10.0.0.2 with protocol `proto`.
pub fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_with(
        &Ipv4Spec {
            proto,
            ..Ipv4Spec::default()
        },
        payload,
    )
}

pub const V6_SRC: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
pub const V6_DST: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// An IPv6 packet; `payload` holds any extension headers (see [`ext`])
/// followed by the upper-layer data, `next` names the first of them.
pub fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(40 + payload.len());
    b.extend_from_slice(&[0x60, 0, 0, 0]);
    b.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    b.push(next);
    b.push(64);
    b.extend_from_slice(&src);
    b.extend_from_slice(&dst);
    b.extend_from_slice(payload);
    b
}

/// An IPv6 extension header in the 8-octet-unit format (hop-by-hop,
/// routing, destination options, mobility): `body` follows the next-header
/// and length bytes and is zero-padded to a multiple of 8.
pub fn ext(next: u8, body: &[u8]) -> Vec<u8> {
    let mut b = vec![next, 0];
    b.extend_from_slice(body);
    while b.len() % 8 != 0 {
        b.push(0);
    }
    b[1] = (b.len() / 8 - 1) as u8;
    b
}

/// A type-`ty` routing header with `seg_left` segments left and `addrs`.
pub fn routing(next: u8, ty: u8, seg_left: u8, addrs: &[[u8; 16]]) -> Vec<u8> {
    let mut body = vec![ty, seg_left, 0, 0, 0, 0];
    for a in addrs {
        body.extend_from_slice(a);
    }
    ext(next, &body)
}

/// A destination options header carrying a Home Address option.
pub fn home_address(next: u8, home: [u8; 16]) -> Vec<u8> {
    // PadN of 4 bytes so the address is 8-byte aligned, as RFC 6275 asks.
    let mut body = vec![1, 2, 0, 0, 0xc9, 16];
    body.extend_from_slice(&home);
    ext(next, &body)
}

/// An IPv6 fragment header.
pub fn frag6(next: u8, offset: u16, more: bool, id: u32) -> Vec<u8> {
    let mut b = vec![next, 0];
    b.extend_from_slice(&(offset & 0xfff8 | u16::from(more)).to_be_bytes());
    b.extend_from_slice(&id.to_be_bytes());
    b
}

/// An Ethernet II frame.
pub fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(14 + payload.len());
    b.extend_from_slice(&dst);
    b.extend_from_slice(&src);
    b.extend_from_slice(&ethertype.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

/// A 4-byte VLAN tag (TCI with priority 0) and the ethertype after it.
pub fn vlan_tag(id: u16, ethertype: u16) -> [u8; 4] {
    let [a, b] = (id & 0x0fff).to_be_bytes();
    let [c, d] = ethertype.to_be_bytes();
    [a, b, c, d]
}

/// A TCP SYN over IPv4 in Ethernet: the everyday test frame.
pub fn eth_tcp_syn() -> Vec<u8> {
    let ip = Ipv4Spec::default();
    let seg = tcp(
        &ip.src_addr(),
        &ip.dst_addr(),
        &TcpSpec {
            flags: 0x02,
            options: vec![2, 4, 5, 0xb4, 1, 3, 3, 7],
            ..TcpSpec::default()
        },
    );
    ethernet(MAC_B, MAC_A, 0x0800, &ipv4_with(&ip, &seg))
}
