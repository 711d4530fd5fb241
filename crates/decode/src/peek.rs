//! A quick look at the common frame: the connection key of a frame that
//! [`decode`](crate::decode) would turn into exactly one plain TCP or UDP
//! packet, and nothing else.
//!
//! The sharded reader needs only a packet's connection key to pick its
//! shard; the full decode (transport checksum included, the costly part)
//! can then run in the shard. [`peek`] recognises Ethernet (at most one
//! 802.1Q tag) and raw IP link types carrying IPv4 without fragmentation or
//! IPv6 without extension headers, and a TCP or UDP header that is present
//! in full. It answers `None` for everything else, and for every frame that
//! would raise a weird or notice on the way: those stay with the caller's
//! full decode. It makes the same checks as the decoder, in the same order,
//! so that `Some` implies that `decode` yields one `Decoded::Packet` with
//! this key, no encapsulation and no tunnel (tested on every seed frame and
//! their mutations). It verifies the IPv4 header checksum (20 bytes), not
//! the transport checksum.

use quartet_wire::Addr;

use crate::ip::proto;
use crate::link::linktype;
use crate::{be16, checksum, tunnel, DecodeConfig};

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
    let off = match link {
        linktype::ETHERNET => {
            if data.len() <= 16 {
                return None;
            }
            match be16(data, 12) {
                0x0800 | 0x86dd => 14,
                // One 802.1Q tag: the decoder's `vlan` with `len > 4`.
                0x8100 if data.len() > 18 => match be16(data, 16) {
                    0x0800 | 0x86dd => 18,
                    _ => return None,
                },
                _ => return None,
            }
        }
        // Link types with their own decoder; all others are raw IP.
        linktype::NULL
        | linktype::PPP
        | linktype::FDDI
        | linktype::PPP_SERIAL
        | linktype::IEEE802_11
        | linktype::LINUX_SLL
        | linktype::IEEE802_11_RADIO
        | linktype::NFLOG
        | linktype::LINUX_SLL2 => return None,
        _ => 0,
    };
    let p = data.get(off..)?;
    if p.len() < 20 {
        return None;
    }
    let wire = wire_len as usize;
    let (src, dst, proto, seg, declared) = match p[0] >> 4 {
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
            if !cfg.ignore_checksums && !checksum::verify(&p[..hdr_len]) {
                return None;
            }
            let src = Addr::v4([p[12], p[13], p[14], p[15]]);
            let dst = Addr::v4([p[16], p[17], p[18], p[19]]);
            let end = total.min(p.len());
            (src, dst, p[9], &p[hdr_len..end], total - hdr_len)
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
            let end = total.min(p.len());
            (src, dst, next, &p[40..end], total - 40)
        }
        _ => return None,
    };
    let min = match proto {
        proto::TCP => 20,
        proto::UDP => 8,
        _ => return None,
    };
    if declared < min || seg.len() < min {
        return None;
    }
    let (sport, dport) = (be16(seg, 0), be16(seg, 2));
    if proto == proto::UDP && tunnel::udp_may_tunnel(sport, dport, &seg[8..]) {
        return None;
    }
    Some(FlowPeek {
        src,
        dst,
        sport,
        dport,
        proto,
    })
}
