//! Building single frames: link layer, IP layer and transport in one value.
//!
//! A [`PacketBuilder`] starts from the transport (`tcp`, `udp`, `icmp`, or
//! any IP protocol number with `ip`) and the two addresses, is adjusted with
//! chained setters, and ends with [`PacketBuilder::build`]. Lengths and
//! checksums are always computed; `corrupt_checksum` / `corrupt_ip_checksum`
//! deliberately break one after computing it.
//!
//! ```
//! use quartet_testkit::{PacketBuilder, Tcp, TcpFlags};
//! let syn = PacketBuilder::tcp(
//!     "10.0.0.1:40000".parse().unwrap(),
//!     "93.184.216.34:80".parse().unwrap(),
//!     Tcp::new(TcpFlags::SYN).seq(1000),
//! )
//! .vlan(20)
//! .build();
//! assert_eq!(syn.len(), 14 + 4 + 20 + 20);
//! ```

use std::net::{IpAddr, SocketAddr};
use std::ops::{BitOr, BitOrAssign};

use crate::checksum;

/// EtherType values the builder writes.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
    /// 802.1Q customer tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service tag (outer tag of QinQ).
    pub const QINQ: u16 = 0x88a8;
}

/// IP protocol numbers the builder knows how to fill in.
pub mod ip_proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

/// Default MAC of the sender and receiver (locally administered).
pub const DEFAULT_SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const DEFAULT_DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// TCP header flags, combined with `|`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const NONE: TcpFlags = TcpFlags(0);
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);

    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

/// The TCP header fields a test chooses; ports come from the addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tcp {
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub urgent: u16,
    /// Raw option bytes; padded with zeros (end-of-options) to 4 bytes.
    pub options: Vec<u8>,
}

impl Tcp {
    /// Sequence and acknowledgement 0, window 65535, no options.
    pub fn new(flags: TcpFlags) -> Self {
        Tcp {
            flags,
            seq: 0,
            ack: 0,
            window: 65535,
            urgent: 0,
            options: Vec::new(),
        }
    }
    pub fn seq(mut self, seq: u32) -> Self {
        self.seq = seq;
        self
    }
    pub fn ack(mut self, ack: u32) -> Self {
        self.ack = ack;
        self
    }
    pub fn window(mut self, window: u16) -> Self {
        self.window = window;
        self
    }
    pub fn urgent(mut self, urgent: u16) -> Self {
        self.urgent = urgent;
        self
    }
    /// Appends raw option bytes (see [`tcp_option`]).
    pub fn option(mut self, bytes: &[u8]) -> Self {
        self.options.extend_from_slice(bytes);
        self
    }
}

/// Encoders for common TCP options.
pub mod tcp_option {
    pub const NOP: u8 = 1;

    pub fn mss(mss: u16) -> [u8; 4] {
        let m = mss.to_be_bytes();
        [2, 4, m[0], m[1]]
    }
    /// Window scale, preceded by a NOP so it ends on a 4-byte boundary.
    pub fn window_scale(shift: u8) -> [u8; 4] {
        [NOP, 3, 3, shift]
    }
    /// SACK permitted, preceded by two NOPs.
    pub fn sack_permitted() -> [u8; 4] {
        [NOP, NOP, 4, 2]
    }
    /// Timestamps, preceded by two NOPs.
    pub fn timestamps(val: u32, ecr: u32) -> [u8; 12] {
        let (v, e) = (val.to_be_bytes(), ecr.to_be_bytes());
        [
            NOP, NOP, 8, 10, v[0], v[1], v[2], v[3], e[0], e[1], e[2], e[3],
        ]
    }
}

/// ICMP or ICMPv6 header: type, code and the 4 type-specific bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmp {
    pub ty: u8,
    pub code: u8,
    pub rest: [u8; 4],
}

impl Icmp {
    pub const fn new(ty: u8, code: u8) -> Self {
        Icmp {
            ty,
            code,
            rest: [0; 4],
        }
    }
    const fn echo(ty: u8, id: u16, seq: u16) -> Self {
        let (i, s) = (id.to_be_bytes(), seq.to_be_bytes());
        Icmp {
            ty,
            code: 0,
            rest: [i[0], i[1], s[0], s[1]],
        }
    }
    pub const fn echo_request(id: u16, seq: u16) -> Self {
        Self::echo(8, id, seq)
    }
    pub const fn echo_reply(id: u16, seq: u16) -> Self {
        Self::echo(0, id, seq)
    }
    pub const fn echo_request_v6(id: u16, seq: u16) -> Self {
        Self::echo(128, id, seq)
    }
    pub const fn echo_reply_v6(id: u16, seq: u16) -> Self {
        Self::echo(129, id, seq)
    }
}

#[derive(Clone, Debug)]
enum Transport {
    Tcp { sport: u16, dport: u16, tcp: Tcp },
    Udp { sport: u16, dport: u16 },
    Icmp(Icmp),
    Other(u8),
}

/// Which checksum, if any, to break.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Corrupt {
    #[default]
    Nothing,
    Transport,
    Ip,
}

/// One frame under construction. See the module documentation.
#[derive(Clone, Debug)]
pub struct PacketBuilder {
    ethernet: Option<([u8; 6], [u8; 6])>,
    tags: Vec<(u16, u16)>,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    ip_id: u16,
    dont_fragment: bool,
    ip_total_length: Option<u16>,
    transport: Transport,
    payload: Vec<u8>,
    corrupt: Corrupt,
}

impl PacketBuilder {
    fn new(src: IpAddr, dst: IpAddr, transport: Transport) -> Self {
        assert_eq!(
            src.is_ipv4(),
            dst.is_ipv4(),
            "packet with mixed address families: {src} -> {dst}"
        );
        PacketBuilder {
            ethernet: Some((DEFAULT_SRC_MAC, DEFAULT_DST_MAC)),
            tags: Vec::new(),
            src,
            dst,
            ttl: 64,
            ip_id: 0,
            dont_fragment: false,
            ip_total_length: None,
            transport,
            payload: Vec::new(),
            corrupt: Corrupt::Nothing,
        }
    }

    /// A TCP segment from `src` to `dst`.
    pub fn tcp(src: SocketAddr, dst: SocketAddr, tcp: Tcp) -> Self {
        let t = Transport::Tcp {
            sport: src.port(),
            dport: dst.port(),
            tcp,
        };
        Self::new(src.ip(), dst.ip(), t)
    }

    /// A UDP datagram from `src` to `dst`.
    pub fn udp(src: SocketAddr, dst: SocketAddr) -> Self {
        let t = Transport::Udp {
            sport: src.port(),
            dport: dst.port(),
        };
        Self::new(src.ip(), dst.ip(), t)
    }

    /// An ICMP message; ICMPv6 (protocol 58, pseudo-header checksum) when the
    /// addresses are IPv6.
    pub fn icmp(src: IpAddr, dst: IpAddr, icmp: Icmp) -> Self {
        Self::new(src, dst, Transport::Icmp(icmp))
    }

    /// An IP packet of protocol `proto` whose payload is opaque (no header
    /// or checksum is added).
    pub fn ip(src: IpAddr, dst: IpAddr, proto: u8) -> Self {
        Self::new(src, dst, Transport::Other(proto))
    }

    /// Transport payload (application data).
    pub fn payload(mut self, bytes: &[u8]) -> Self {
        self.payload = bytes.to_vec();
        self
    }

    /// `len` bytes of filler payload, see [`filler`].
    pub fn payload_len(mut self, len: usize) -> Self {
        self.payload = filler(len);
        self
    }

    /// Source and destination MAC addresses of the Ethernet header.
    pub fn macs(mut self, src: [u8; 6], dst: [u8; 6]) -> Self {
        self.ethernet = Some((src, dst));
        self
    }

    /// Adds an 802.1Q tag (after any tags already added).
    pub fn vlan(self, id: u16) -> Self {
        self.vlan_tag(ethertype::VLAN, id)
    }

    /// Adds a tag with the given TPID (0x8100, 0x88a8, 0x9100) and TCI.
    pub fn vlan_tag(mut self, tpid: u16, tci: u16) -> Self {
        self.tags.push((tpid, tci));
        self
    }

    /// No link layer: the frame is the IP packet (link types RAW, IPV4, IPV6).
    pub fn raw_ip(mut self) -> Self {
        self.ethernet = None;
        self
    }

    pub fn ttl(mut self, ttl: u8) -> Self {
        self.ttl = ttl;
        self
    }

    /// IPv4 identification field (ignored for IPv6).
    pub fn ip_id(mut self, id: u16) -> Self {
        self.ip_id = id;
        self
    }

    /// Sets the IPv4 don't-fragment bit.
    pub fn dont_fragment(mut self) -> Self {
        self.dont_fragment = true;
        self
    }

    /// Writes this value into the IPv4 total-length (or IPv6 payload-length)
    /// field instead of the real one, e.g. 0 as a TSO capture shows. The
    /// header checksum is computed over the written value.
    pub fn ip_total_length(mut self, len: u16) -> Self {
        self.ip_total_length = Some(len);
        self
    }

    /// Breaks the TCP/UDP/ICMP checksum (after computing it).
    pub fn corrupt_checksum(mut self) -> Self {
        self.corrupt = Corrupt::Transport;
        self
    }

    /// Breaks the IPv4 header checksum.
    pub fn corrupt_ip_checksum(mut self) -> Self {
        self.corrupt = Corrupt::Ip;
        self
    }

    fn proto(&self) -> u8 {
        match &self.transport {
            Transport::Tcp { .. } => ip_proto::TCP,
            Transport::Udp { .. } => ip_proto::UDP,
            Transport::Icmp(_) if self.src.is_ipv6() => ip_proto::ICMPV6,
            Transport::Icmp(_) => ip_proto::ICMP,
            Transport::Other(p) => *p,
        }
    }

    /// The transport header and payload, checksum filled in.
    fn segment(&self) -> Vec<u8> {
        let (mut seg, sum_at) = match &self.transport {
            Transport::Tcp { sport, dport, tcp } => {
                let mut opts = tcp.options.clone();
                opts.resize(opts.len().next_multiple_of(4), 0);
                let hlen = 20 + opts.len();
                assert!(hlen <= 60, "TCP options longer than 40 bytes");
                let mut h = Vec::with_capacity(hlen + self.payload.len());
                h.extend_from_slice(&sport.to_be_bytes());
                h.extend_from_slice(&dport.to_be_bytes());
                h.extend_from_slice(&tcp.seq.to_be_bytes());
                h.extend_from_slice(&tcp.ack.to_be_bytes());
                h.push(((hlen / 4) as u8) << 4);
                h.push(tcp.flags.0);
                h.extend_from_slice(&tcp.window.to_be_bytes());
                h.extend_from_slice(&[0, 0]);
                h.extend_from_slice(&tcp.urgent.to_be_bytes());
                h.extend_from_slice(&opts);
                (h, Some(16))
            }
            Transport::Udp { sport, dport } => {
                let len = u16::try_from(8 + self.payload.len()).expect("UDP datagram too long");
                let mut h = Vec::with_capacity(8 + self.payload.len());
                h.extend_from_slice(&sport.to_be_bytes());
                h.extend_from_slice(&dport.to_be_bytes());
                h.extend_from_slice(&len.to_be_bytes());
                h.extend_from_slice(&[0, 0]);
                (h, Some(6))
            }
            Transport::Icmp(icmp) => {
                let mut h = vec![icmp.ty, icmp.code, 0, 0];
                h.extend_from_slice(&icmp.rest);
                (h, Some(2))
            }
            Transport::Other(_) => (Vec::new(), None),
        };
        seg.extend_from_slice(&self.payload);
        if let Some(at) = sum_at {
            let proto = self.proto();
            let mut sum = if proto == ip_proto::ICMP {
                checksum::internet(&seg)
            } else {
                checksum::transport(self.src, self.dst, proto, &seg)
            };
            if proto == ip_proto::UDP && sum == 0 {
                sum = 0xffff; // 0 would mean "no checksum"
            }
            if self.corrupt == Corrupt::Transport {
                sum = checksum::corrupt(sum);
            }
            seg[at..at + 2].copy_from_slice(&sum.to_be_bytes());
        }
        seg
    }

    fn ipv4_header(&self, payload_len: usize, frag: u16) -> Vec<u8> {
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (self.src, self.dst) else {
            unreachable!("checked in new")
        };
        let total = self
            .ip_total_length
            .unwrap_or_else(|| u16::try_from(20 + payload_len).expect("IPv4 packet too long"));
        let flags = if self.dont_fragment { 0x4000 } else { 0 } | frag;
        let mut h = Vec::with_capacity(20);
        h.extend_from_slice(&[0x45, 0]);
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&self.ip_id.to_be_bytes());
        h.extend_from_slice(&flags.to_be_bytes());
        h.extend_from_slice(&[self.ttl, self.proto(), 0, 0]);
        h.extend_from_slice(&src.octets());
        h.extend_from_slice(&dst.octets());
        let mut sum = checksum::internet(&h);
        if self.corrupt == Corrupt::Ip {
            sum = checksum::corrupt(sum);
        }
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        h
    }

    fn ipv6_header(&self, payload_len: usize) -> Vec<u8> {
        let (IpAddr::V6(src), IpAddr::V6(dst)) = (self.src, self.dst) else {
            unreachable!("checked in new")
        };
        let len = self
            .ip_total_length
            .unwrap_or_else(|| u16::try_from(payload_len).expect("IPv6 payload too long"));
        let mut h = Vec::with_capacity(40);
        h.extend_from_slice(&[0x60, 0, 0, 0]);
        h.extend_from_slice(&len.to_be_bytes());
        h.extend_from_slice(&[self.proto(), self.ttl]);
        h.extend_from_slice(&src.octets());
        h.extend_from_slice(&dst.octets());
        h
    }

    fn link(&self, ip_packet: Vec<u8>) -> Vec<u8> {
        let Some((src, dst)) = self.ethernet else {
            return ip_packet;
        };
        let mut f = Vec::with_capacity(14 + 4 * self.tags.len() + ip_packet.len());
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        for (tpid, tci) in &self.tags {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&tci.to_be_bytes());
        }
        let et = if self.src.is_ipv4() {
            ethertype::IPV4
        } else {
            ethertype::IPV6
        };
        f.extend_from_slice(&et.to_be_bytes());
        f.extend_from_slice(&ip_packet);
        f
    }

    /// The IP packet alone (no link header).
    pub fn build_ip(&self) -> Vec<u8> {
        let seg = self.segment();
        let mut p = if self.src.is_ipv4() {
            self.ipv4_header(seg.len(), 0)
        } else {
            self.ipv6_header(seg.len())
        };
        p.extend_from_slice(&seg);
        p
    }

    /// The whole frame as configured.
    pub fn build(&self) -> Vec<u8> {
        self.link(self.build_ip())
    }

    /// The IPv4 packet split into fragments carrying at most `max_data`
    /// bytes of IP payload each (rounded down to a multiple of 8), every one
    /// with its own link header.
    ///
    /// # Panics
    /// For IPv6 packets, or if `max_data < 8`.
    pub fn build_fragments(&self, max_data: usize) -> Vec<Vec<u8>> {
        assert!(self.src.is_ipv4(), "only IPv4 fragments are supported");
        let step = max_data / 8 * 8;
        assert!(step > 0, "fragments must carry at least 8 bytes");
        let seg = self.segment();
        let chunks: Vec<&[u8]> = seg.chunks(step).collect();
        let last = chunks.len() - 1;
        chunks
            .iter()
            .enumerate()
            .map(|(i, chunk)| {
                let offset = u16::try_from(i * step / 8).expect("fragment offset too large");
                let more = if i < last { 0x2000 } else { 0 };
                let mut p = self.ipv4_header(chunk.len(), more | offset);
                p.extend_from_slice(chunk);
                self.link(p)
            })
            .collect()
    }
}

/// Deterministic printable filler: `abc...xyzabc...`. Chosen so that no
/// protocol analyzer mistakes it for a valid message (as DNS, the first
/// bytes claim 25958 questions).
pub fn filler(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn tcp_syn_bytes_match_hand_computation() {
        // The segment of checksum::tests::tcp_syn_by_hand, in a raw IPv4 packet.
        let p = PacketBuilder::tcp(
            v4("10.0.0.1:1024"),
            v4("10.0.0.2:80"),
            Tcp::new(TcpFlags::SYN).seq(1).window(0x2000),
        )
        .raw_ip()
        .build();
        #[rustfmt::skip]
        let expected = [
            // IPv4: 4500+0028+0000+0000+4006+0a00+0001+0a00+0002 = 0x9931 -> 0x66ce
            0x45, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0x40, 0x06, 0x66, 0xce,
            10, 0, 0, 1, 10, 0, 0, 2,
            // TCP
            0x04, 0x00, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0,
            0x50, 0x02, 0x20, 0x00, 0x77, 0x8f, 0, 0,
        ];
        assert_eq!(p, expected);
    }

    #[test]
    fn ethernet_vlan_layout() {
        let f = PacketBuilder::udp(v4("10.0.0.1:1"), v4("10.0.0.2:2"))
            .payload(b"ab")
            .vlan_tag(ethertype::QINQ, 100)
            .vlan(20)
            .build();
        assert_eq!(&f[0..6], &DEFAULT_DST_MAC);
        assert_eq!(&f[6..12], &DEFAULT_SRC_MAC);
        assert_eq!(&f[12..16], &[0x88, 0xa8, 0, 100]);
        assert_eq!(&f[16..20], &[0x81, 0x00, 0, 20]);
        assert_eq!(&f[20..22], &[0x08, 0x00]);
        let ip = &f[22..];
        assert_eq!(ip.len(), 30);
        assert_eq!(checksum::internet(&ip[..20]), 0);
        // checksum::tests::udp_by_hand
        assert_eq!(&ip[26..28], &0x8a72u16.to_be_bytes());
    }

    #[test]
    fn corrupt_checksums_fail_verification() {
        let b = PacketBuilder::tcp(v4("10.0.0.1:5"), v4("10.0.0.2:6"), Tcp::new(TcpFlags::ACK))
            .payload_len(7)
            .raw_ip();
        let (s, d) = (b.src, b.dst);
        assert!(checksum::transport_ok(s, d, 6, &b.build()[20..]));
        let bad = b.clone().corrupt_checksum().build();
        assert!(!checksum::transport_ok(s, d, 6, &bad[20..]));
        assert_eq!(checksum::internet(&bad[..20]), 0);
        let bad_ip = b.corrupt_ip_checksum().build();
        assert_ne!(checksum::internet(&bad_ip[..20]), 0);
        assert!(checksum::transport_ok(s, d, 6, &bad_ip[20..]));
    }

    #[test]
    fn tcp_options_are_padded() {
        let tcp = Tcp::new(TcpFlags::SYN)
            .option(&tcp_option::mss(1460))
            .option(&[tcp_option::NOP]);
        let p = PacketBuilder::tcp(v4("10.0.0.1:1"), v4("10.0.0.2:2"), tcp)
            .raw_ip()
            .build();
        assert_eq!(p.len(), 20 + 28);
        assert_eq!(p[32] >> 4, 7);
        assert_eq!(&p[40..48], &[2, 4, 0x05, 0xb4, 1, 0, 0, 0]);
        assert!(checksum::transport_ok(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            6,
            &p[20..]
        ));
    }

    #[test]
    fn ipv6_icmp_uses_icmpv6_and_pseudo_header() {
        let s = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let d = IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 2));
        let p = PacketBuilder::icmp(s, d, Icmp::echo_request_v6(1, 1))
            .raw_ip()
            .build();
        assert_eq!(p.len(), 48);
        assert_eq!(&p[4..8], &[0, 8, 58, 64]);
        // checksum::tests::icmpv6_echo_by_hand
        assert_eq!(&p[40..], &[128, 0, 0x7f, 0xb8, 0, 1, 0, 1]);
        let f = PacketBuilder::icmp(s, d, Icmp::echo_request_v6(1, 1)).build();
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
    }

    #[test]
    fn icmpv4_checksum_has_no_pseudo_header() {
        let p = PacketBuilder::icmp(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            Icmp::echo_request(1, 1),
        )
        .raw_ip()
        .build();
        assert_eq!(p[9], 1);
        // checksum::tests::icmp_echo_by_hand
        assert_eq!(&p[20..], &[8, 0, 0xf7, 0xfd, 0, 1, 0, 1]);
    }

    #[test]
    fn other_protocol_payload_is_opaque() {
        let p = PacketBuilder::ip(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            132,
        )
        .payload(&[1, 2, 3])
        .raw_ip()
        .build();
        assert_eq!(p.len(), 23);
        assert_eq!(p[9], 132);
        assert_eq!(&p[20..], &[1, 2, 3]);
    }

    #[test]
    fn fragments_reassemble_to_the_packet() {
        let b = PacketBuilder::udp(v4("10.0.0.1:1"), v4("10.0.0.2:2"))
            .payload_len(100)
            .ip_id(7);
        let whole = b.build_ip();
        let frags = b.build_fragments(50);
        assert_eq!(frags.len(), 3);
        let mut data = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            let ip = &f[14..];
            assert_eq!(checksum::internet(&ip[..20]), 0);
            let word = u16::from_be_bytes([ip[6], ip[7]]);
            assert_eq!(usize::from(word & 0x1fff) * 8, data.len());
            assert_eq!(word & 0x2000 != 0, i < 2);
            data.extend_from_slice(&ip[20..]);
        }
        assert_eq!(data, whole[20..]);
    }

    #[test]
    #[should_panic(expected = "mixed address families")]
    fn mixed_families_panic() {
        let _ = PacketBuilder::udp(v4("10.0.0.1:1"), "[::1]:2".parse().unwrap());
    }

    #[test]
    fn filler_is_letters() {
        assert_eq!(filler(28), b"abcdefghijklmnopqrstuvwxyzab");
    }
}
