//! The owned summary of one decoded packet: the contract between the decoder
//! and the tracker.

use quartet_wire::{Addr, Timestamp};

use crate::Weird;

/// Checksum verdict of a transport header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Checksum {
    /// Verified and correct.
    Good,
    /// Verified and wrong: the tracker records `C`/`c` and drops the packet.
    Bad,
    /// Not verified: `-C`, or the segment was not captured in full.
    #[default]
    Unchecked,
}

/// TCP flag bits as they appear in the header's 13th byte.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
}

/// How far the TCP header could be read. The connection is created from the
/// first 20 bytes even when the rest is unusable (Zeek §3.2, §4.1 step 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TcpHeaderStatus {
    #[default]
    Ok,
    /// Data offset below 5 words: weird `bad_TCP_header_len`, packet dropped.
    BadHeaderLen,
    /// Options extend past the IP payload or the captured bytes:
    /// weird `truncated_header`, packet dropped.
    Truncated,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TcpMeta {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    /// Flag byte (see [`tcp_flags`]).
    pub flags: u8,
    /// Raw advertised window (unscaled).
    pub window: u16,
    /// Window scale option value, if the segment carries one (SYN packets).
    pub window_scale: Option<u8>,
    pub header_status: TcpHeaderStatus,
    /// Payload length declared by the IP header (IP payload minus TCP header).
    pub payload_len: u32,
    /// Payload bytes actually captured (less than `payload_len` under snaplen).
    pub payload_caplen: u32,
    pub checksum: Checksum,
}

impl TcpMeta {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UdpMeta {
    pub sport: u16,
    pub dport: u16,
    /// The UDP header's length field (header included).
    pub udp_len: u16,
    /// Payload length from the IP header (IP payload minus 8).
    pub payload_len: u32,
    /// Payload bytes actually captured.
    pub payload_caplen: u32,
    pub checksum: Checksum,
    /// The first payload bytes (zero-padded), enough for the DNS and NTP
    /// direction heuristics without keeping a borrow of the frame.
    pub head: [u8; 16],
    /// The payload was a tunnel and its inner packet follows this one in
    /// the decoder's output (Zeek §13.2). Drives the outer row's `service`
    /// (`UdpTunnel::service`; Teredo only once seen in both directions).
    pub tunnel: Option<crate::UdpTunnel>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct IcmpMeta {
    /// ICMPv6 (protocol 58) rather than ICMPv4.
    pub v6: bool,
    pub icmp_type: u8,
    pub code: u8,
    /// ICMP message length from the IP header (header of 8 bytes included).
    pub len: u32,
    /// The whole message was captured (Zeek counts packets only then, §6).
    pub complete: bool,
    pub checksum: Checksum,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Transport {
    Tcp(TcpMeta),
    Udp(UdpMeta),
    Icmp(IcmpMeta),
    /// Any other IP protocol: an `unknown_transport` connection with ports 0/0.
    #[default]
    Other,
}

/// Link-layer details of the frame a packet came in, for the optional
/// mac-logging and vlan-logging columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct L2Info {
    pub src: Option<[u8; 6]>,
    pub dst: Option<[u8; 6]>,
    pub vlan: Option<u16>,
    pub inner_vlan: Option<u16>,
}

/// One encapsulation a packet was found inside, innermost last.
///
/// Both variants hold their endpoints in a canonical order (the lower
/// address, then port, first; see [`Encap::udp`] and [`Encap::ip`]), so
/// that the packets of both directions of a tunnel carry equal stacks, as
/// Zeek's encapsulation comparison has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encap {
    /// A UDP tunnel (VXLAN, Geneve, Teredo, AYIYA, GTPv1): the parent is the
    /// outer UDP connection with this key, which has its own conn.log row.
    Udp {
        src: Addr,
        sport: u16,
        dst: Addr,
        dport: u16,
    },
    /// An IP-level tunnel (IP-in-IP, GRE and its relatives): the parent is a
    /// pseudo-connection of the unordered outer address pair, with no row.
    Ip { a: Addr, b: Addr },
}

impl Encap {
    /// A UDP tunnel's outer flow, endpoints in canonical order.
    pub fn udp(src: Addr, sport: u16, dst: Addr, dport: u16) -> Encap {
        let ((src, sport), (dst, dport)) = if (src, sport) <= (dst, dport) {
            ((src, sport), (dst, dport))
        } else {
            ((dst, dport), (src, sport))
        };
        Encap::Udp {
            src,
            sport,
            dst,
            dport,
        }
    }

    /// An IP tunnel's unordered address pair, lower address first.
    pub fn ip(x: Addr, y: Addr) -> Encap {
        let (a, b) = if x <= y { (x, y) } else { (y, x) };
        Encap::Ip { a, b }
    }
}

/// At most this many encapsulations are kept (Zeek's `Tunnel::max_depth`).
pub const MAX_ENCAP: usize = 4;

/// The stack of encapsulations around a packet; fixed size, no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct EncapStack {
    len: u8,
    items: [Option<Encap>; MAX_ENCAP],
}

impl EncapStack {
    pub fn push(&mut self, e: Encap) -> bool {
        if (self.len as usize) < MAX_ENCAP {
            self.items[self.len as usize] = Some(e);
            self.len += 1;
            true
        } else {
            false
        }
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn innermost(&self) -> Option<Encap> {
        self.len.checked_sub(1).and_then(|i| self.items[i as usize])
    }

    pub fn iter(&self) -> impl Iterator<Item = Encap> + '_ {
        self.items[..self.len as usize].iter().flatten().copied()
    }
}

/// Everything the tracker needs of one IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PacketMeta {
    pub ts: Timestamp,
    /// Source address used for the key (IPv6 Home Address option applied).
    pub src: Addr,
    /// Destination used for the key (final IPv6 routing-header hop applied).
    pub dst: Addr,
    /// Protocol number of the transport header (after IPv6 extension headers).
    pub ip_proto: u8,
    /// IP length as declared on the wire: IPv4 total length, or IPv6 payload
    /// length + 40. This is what `*_ip_bytes` add up.
    pub ip_len: u32,
    pub transport: Transport,
    pub l2: L2Info,
    pub encap: EncapStack,
}

/// One IP fragment, owned, for the tracker's defragmenter (Zeek §11).
///
/// Only fully captured fragments become `Fragment`s (a non-first fragment
/// that was not captured in full is a weird, a first one is analysed alone).
/// Fragments are reassembled per `(src, dst, id)`; once the datagram is
/// complete, hand the first fragment and the reassembled payload (offset 0
/// up to the end of the last fragment) to [`crate::decode_reassembled`],
/// which parses the transport header exactly as for an unfragmented packet.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Fragment {
    pub ts: Timestamp,
    /// IPv6 (fragment header) rather than IPv4 (MF / offset).
    pub v6: bool,
    /// Addresses of the IP header: with `id`, the reassembly key.
    pub src: Addr,
    pub dst: Addr,
    /// IPv4 identification (16 bits) or IPv6 fragment identification.
    pub id: u32,
    /// Addresses for the connection key (IPv6 Home Address option and
    /// routing header applied, as in [`PacketMeta`]).
    pub key_src: Addr,
    pub key_dst: Addr,
    /// Protocol of what the fragments carry: IPv4 protocol field, or the
    /// fragment header's next header.
    pub proto: u8,
    /// Offset of `payload` within the datagram's payload, in bytes.
    pub offset: u32,
    /// More fragments follow (MF flag).
    pub more: bool,
    /// IPv4 don't-fragment flag (Zeek's `fragment_with_DF`).
    pub df: bool,
    /// The IP header bytes up to the fragmented part: the IPv4 header with
    /// options, or the IPv6 header and the extension headers before the
    /// fragment header. Its length plus the reassembled payload length is
    /// the datagram's `ip_len`.
    pub header: Vec<u8>,
    /// The fragment's data (after the IPv4 header / IPv6 fragment header).
    pub payload: Vec<u8>,
    pub l2: L2Info,
    pub encap: EncapStack,
}

/// What one frame turned into. A frame may yield several (the subframes of
/// an 802.11 A-MSDU, or a UDP tunnel's outer packet followed by the items
/// of the packet inside it), so the decoder appends to a vector the caller
/// reuses. Items of an encapsulated packet carry the stack in `encap`;
/// their weirds have `in_tunnel` set.
///
/// Every frame yields at least one item that is not a [`Decoded::Notice`].
// `Packet` is the normal result and stays inline: boxing it would allocate
// for every packet. The rare `Fragment` is boxed instead.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    Packet(PacketMeta),
    /// A packet-level anomaly that stops decoding; no connection is touched.
    Weird(Weird),
    /// A weird Zeek raises without dropping the packet (for example
    /// `triple_tagged_vlan_unsupported`, or `ip_hdr_len_zero` under `-C`).
    /// It precedes the item it belongs to and counts only as a weird.
    Notice(Weird),
    /// Not IP and not an error (ARP, LLC, PPPoE discovery, ...): counted, not tracked.
    NotIp,
    /// Valid IP that Zeek analyses without creating a connection: IGMP
    /// (`"igmp"`), an IPv6 header chain ending in ESP (`"esp"`) or in a
    /// Mobility header (`"mobility"`).
    NoConn(&'static str),
    /// Formerly an undecapsulated IP-level tunnel. No longer produced: IP
    /// protocols 4, 41 and 47 are decapsulated and yield the inner packet's
    /// items (with [`Encap::Ip`] on their stack) and nothing for the outer
    /// packet. Kept so existing matches compile.
    Tunnel {
        ip_proto: u8,
    },
    /// A fully captured IP fragment, for the defragmenter.
    Fragment(Box<Fragment>),
}
