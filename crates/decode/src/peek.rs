//! The common frame, the short way: one plain TCP or UDP packet behind
//! Ethernet (up to two VLAN tags: 802.1Q, or 802.1ad QinQ; an MPLS label
//! stack), Linux cooked capture (SLL and SLL2:
//! `tcpdump -i any`) or raw IP, in IPv4 without fragmentation or IPv6
//! without extension headers.
//!
//! [`peek`] gives the connection key of such a frame without decoding the
//! rest, for the sharded reader, which needs only the key to pick a shard
//! (the full decode, transport checksum included, then runs in the shard).
//! [`decode`](crate::decode) builds the `PacketMeta` of such a frame here,
//! in one pass, before it tries the layered decoder.
//!
//! [`common`] makes the decoder's checks in the decoder's order and answers
//! `None` for everything else and for every frame that would raise a weird
//! or a notice on the way, or whose UDP payload might be a tunnel: those
//! take the layered decoder. So `peek` giving `Some` means that `decode`
//! yields one `Decoded::Packet` with that key, no encapsulation and no
//! tunnel, and the `PacketMeta` built here is the one the layered decoder
//! builds (both are tested on every seed frame and their mutations, and on
//! every frame of the Zeek trace collection).

use quartet_wire::{Addr, Timestamp};

use crate::ip::proto;
use crate::link::linktype;
use crate::{be16, checksum, transport, tunnel, DecodeConfig};
use crate::{Checksum, Decoded, L2Info, PacketMeta, Transport, UdpMeta};

/// The connection key of a frame as the decoder would report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowPeek {
    pub src: Addr,
    pub dst: Addr,
    pub sport: u16,
    pub dport: u16,
    /// 6 (TCP) or 17 (UDP).
    pub proto: u8,
}

/// The key of a frame that decodes to exactly one TCP or UDP packet outside
/// any tunnel, with no weird or notice; `None` when it may be anything else.
#[inline]
pub fn peek(cfg: &DecodeConfig, link: u32, wire_len: u32, data: &[u8]) -> Option<FlowPeek> {
    common(cfg, link, wire_len, data).map(|c| c.key())
}

/// [`peek`], with the verdict of the frame's transport checksum computed
/// now, while the frame is in this thread's cache: `Some(good)`, or `None`
/// when checksums are ignored. A thread that hands the frame on to be
/// decoded elsewhere passes the verdict with it ([`decode_peeked`]), so the
/// decoding thread reads only the headers, not the whole payload again.
#[inline]
pub fn peek_verified(
    cfg: &DecodeConfig,
    link: u32,
    wire_len: u32,
    data: &[u8],
) -> Option<(FlowPeek, Option<bool>)> {
    let c = common(cfg, link, wire_len, data)?;
    let key = c.key();
    // Over the captured segment, whether or not the decoder will want the
    // verdict (it does not for a segment cut short by the snap length).
    let sum =
        (!cfg.ignore_checksums).then(|| checksum::verify_pseudo(&c.src, &c.dst, c.proto, c.seg));
    Some((key, sum))
}

/// [`decode`](crate::decode) of a frame [`peek_verified`] took, given the
/// checksum verdict it found (`None`: verify here, as `decode` does). The
/// same items as `decode`.
pub fn decode_peeked(
    cfg: &DecodeConfig,
    ts: Timestamp,
    link: u32,
    wire_len: u32,
    data: &[u8],
    sum: Option<bool>,
    out: &mut Vec<Decoded>,
) {
    if !decode_common(cfg, ts, link, wire_len, data, sum, out) {
        crate::decode_layered(cfg, ts, link, wire_len, data, out);
    }
}

/// The link header of a common frame.
#[derive(Clone, Copy)]
enum Link {
    /// Raw IP: no layer-2 addresses.
    None,
    /// Ethernet: destination and source addresses at 0 and 6.
    Ethernet,
    /// Linux cooked capture: the source address at this offset, no
    /// destination.
    Cooked(usize),
}

/// What the walk to the transport header found.
struct Common<'a> {
    link: Link,
    /// The ids of the outer and the inner VLAN tag.
    vlan: Option<u16>,
    inner_vlan: Option<u16>,
    src: Addr,
    dst: Addr,
    /// 6 (TCP) or 17 (UDP).
    proto: u8,
    v6: bool,
    /// IP length as declared on the wire.
    ip_len: u32,
    /// The captured part of the IP payload, and its declared length.
    seg: &'a [u8],
    declared: usize,
}

impl Common<'_> {
    fn key(&self) -> FlowPeek {
        FlowPeek {
            src: self.src,
            dst: self.dst,
            sport: be16(self.seg, 0),
            dport: be16(self.seg, 2),
            proto: self.proto,
        }
    }
}

/// The walk shared by [`peek`] and [`decode_common`]: `None` for every
/// frame the layered decoder would treat otherwise than as one plain TCP or
/// UDP packet.
#[inline(always)]
fn common<'a>(cfg: &DecodeConfig, link: u32, wire_len: u32, data: &'a [u8]) -> Option<Common<'a>> {
    // Untagged Ethernet inline; every other link header out of line.
    let (off, l2, vlan, inner_vlan) = if link == linktype::ETHERNET
        && data.len() > 16
        && matches!(be16(data, 12), 0x0800 | 0x86dd)
    {
        (14, Link::Ethernet, None, None)
    } else {
        link_header(link, data)?
    };
    let p = data.get(off..)?;
    if p.len() < 20 {
        return None;
    }
    let wire = wire_len as usize;
    let (src, dst, proto, v6, total, hdr_len) = match p[0] >> 4 {
        4 => {
            let hdr_len = usize::from(p[0] & 0x0f) * 4;
            let total = usize::from(be16(p, 2));
            // Zero total length (TSO) is a weird or a notice.
            if total == 0 || wire < total + off || hdr_len > total || hdr_len > p.len() {
                return None;
            }
            if hdr_len < 20 || be16(p, 6) & 0x3fff != 0 {
                return None;
            }
            let h: &[u8; 20] = p[..20].try_into().ok()?;
            if !cfg.ignore_checksums {
                let good = match hdr_len {
                    20 => checksum::verify20(h),
                    _ => checksum::verify(&p[..hdr_len]),
                };
                if !good {
                    return None;
                }
            }
            let src = Addr::v4([h[12], h[13], h[14], h[15]]);
            let dst = Addr::v4([h[16], h[17], h[18], h[19]]);
            (src, dst, p[9], false, total, hdr_len)
        }
        6 => {
            if p.len() < 40 {
                return None;
            }
            let total = usize::from(be16(p, 4)) + 40;
            // Extension headers (and what ends a chain) take the full path.
            let next = p[6];
            if (next != proto::TCP && next != proto::UDP) || wire < total + off {
                return None;
            }
            let src = Addr::v6(p[8..24].try_into().ok()?);
            let dst = Addr::v6(p[24..40].try_into().ok()?);
            (src, dst, next, true, total, 40)
        }
        _ => return None,
    };
    let seg = &p[hdr_len..total.min(p.len())];
    let declared = total - hdr_len;
    let min = match proto {
        proto::TCP => 20,
        proto::UDP => 8,
        _ => return None,
    };
    if declared < min || seg.len() < min {
        return None;
    }
    if proto == proto::UDP && tunnel::udp_may_tunnel(be16(seg, 0), be16(seg, 2), &seg[8..]) {
        return None;
    }
    Some(Common {
        link: l2,
        vlan,
        inner_vlan,
        src,
        dst,
        proto,
        v6,
        ip_len: total as u32,
        seg,
        declared,
    })
}

/// Where IP starts in a frame that is not untagged Ethernet, its link
/// header, and its outer and inner VLAN ids; `None` for every link header
/// the decoder would treat otherwise than as one on the way to IP.
#[inline(never)]
fn link_header(link: u32, data: &[u8]) -> Option<(usize, Link, Option<u16>, Option<u16>)> {
    Some(match link {
        linktype::ETHERNET => {
            if data.len() <= 16 {
                return None;
            }
            let (off, vlan, inner) = ethernet_tagged(data)?;
            (off, Link::Ethernet, vlan, inner)
        }
        // The decoder's `sll` and `sll2`: a header longer than 16 (20)
        // bytes, then IPv4 or IPv6 by the protocol field.
        linktype::LINUX_SLL => match be16(data.get(..17)?, 14) {
            0x0800 | 0x86dd => (16, Link::Cooked(6), None, None),
            _ => return None,
        },
        linktype::LINUX_SLL2 => match be16(data.get(..21)?, 0) {
            0x0800 | 0x86dd => (20, Link::Cooked(12), None, None),
            _ => return None,
        },
        // Link types with their own decoder; all others are raw IP.
        linktype::NULL
        | linktype::PPP
        | linktype::FDDI
        | linktype::PPP_SERIAL
        | linktype::IEEE802_11
        | linktype::IEEE802_11_RADIO
        | linktype::NFLOG => return None,
        _ => (0, Link::None, None, None),
    })
}

/// An Ethernet frame (more than 16 bytes) whose type is not IP: where IP
/// starts after a VLAN tag (802.1Q, or an 802.1ad / old QinQ outer tag),
/// perhaps an inner 802.1Q one (the decoder's `vlan` needs more than 4
/// bytes from a tag on), and perhaps an MPLS label stack; with the outer
/// and inner VLAN ids.
#[inline]
fn ethernet_tagged(data: &[u8]) -> Option<(usize, Option<u16>, Option<u16>)> {
    let (mut off, mut et) = (14, be16(data, 12));
    let (mut vlan, mut inner_vlan) = (None, None);
    if matches!(et, 0x8100 | 0x88a8 | 0x9100) {
        if data.len() <= 18 {
            return None;
        }
        (off, et, vlan) = (18, be16(data, 16), Some(be16(data, 14) & 0x0fff));
        if et == 0x8100 {
            if data.len() <= 22 {
                return None;
            }
            (off, et) = (22, be16(data, 20));
            inner_vlan = Some(be16(data, 18) & 0x0fff);
        }
    }
    match et {
        0x0800 | 0x86dd => {}
        0x8847 => off = mpls_end(data, off)?,
        // Anything else, a third tag included.
        _ => return None,
    }
    Some((off, vlan, inner_vlan))
}

/// Where the payload of an MPLS label stack starting at `off` begins: after
/// the entry with the bottom-of-stack bit, as the decoder's `mpls` finds it
/// (which then assumes IP). `None` where it would report a truncation.
#[inline]
fn mpls_end(d: &[u8], mut off: usize) -> Option<usize> {
    loop {
        if d.len().saturating_sub(off) <= 4 {
            return None;
        }
        let bottom = d[off + 2] & 0x01 != 0;
        off += 4;
        if bottom {
            return Some(off);
        }
    }
}

/// The packet of a common frame, as the layered decoder would build it
/// (`transport::tcp` and `transport::udp` field by field); `None` for every
/// other frame.
#[inline]
pub(crate) fn decode_common(
    cfg: &DecodeConfig,
    ts: Timestamp,
    link: u32,
    wire_len: u32,
    data: &[u8],
    known_sum: Option<bool>,
    out: &mut Vec<Decoded>,
) -> bool {
    let Some(c) = common(cfg, link, wire_len, data) else {
        return false;
    };
    let seg = c.seg;
    // The transport checksum, unless `peek_verified` found it already.
    let sum = || {
        verdict(known_sum.unwrap_or_else(|| checksum::verify_pseudo(&c.src, &c.dst, c.proto, seg)))
    };
    let transport = if c.proto == proto::TCP {
        let m = transport::tcp_meta(seg, c.declared, cfg.ignore_checksums, sum);
        Transport::Tcp(m)
    } else {
        // Not on the VXLAN port (a tunnel port), so no zero-sum exemption.
        let validate =
            !cfg.ignore_checksums && seg.len() >= c.declared && wire_len as usize <= data.len();
        let checksum = if !validate || (!c.v6 && be16(seg, 6) == 0) {
            Checksum::Unchecked
        } else {
            sum()
        };
        let payload = &seg[8..];
        let mut head = [0u8; 16];
        let n = payload.len().min(head.len());
        head[..n].copy_from_slice(&payload[..n]);
        Transport::Udp(UdpMeta {
            sport: be16(seg, 0),
            dport: be16(seg, 2),
            udp_len: be16(seg, 4),
            payload_len: (c.declared - 8) as u32,
            payload_caplen: payload.len() as u32,
            checksum,
            head,
            tunnel: None,
        })
    };
    let mac = |b: &[u8]| {
        let m: [u8; 6] = b.try_into().ok()?;
        (m != [0; 6]).then_some(m)
    };
    let l2 = match c.link {
        Link::Ethernet => L2Info {
            dst: mac(&data[0..6]),
            src: mac(&data[6..12]),
            vlan: c.vlan,
            inner_vlan: c.inner_vlan,
        },
        Link::Cooked(at) => L2Info {
            src: mac(&data[at..at + 6]),
            ..L2Info::default()
        },
        Link::None => L2Info::default(),
    };
    out.push(Decoded::Packet(PacketMeta {
        ts,
        src: c.src,
        dst: c.dst,
        ip_proto: c.proto,
        ip_len: c.ip_len,
        transport,
        l2,
        encap: Default::default(),
    }));
    true
}

fn verdict(good: bool) -> Checksum {
    if good {
        Checksum::Good
    } else {
        Checksum::Bad
    }
}
