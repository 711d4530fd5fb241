//! The IP layer: IPv4 and IPv6 header checks, the IPv6 extension-header
//! chain, fragment detection and the dispatch on the protocol number
//! (Zeek §3.2, §10, §11).
//!
//! Owns the order of Zeek's IP checks (each failure is a weird and the
//! packet is gone), the key addresses (IPv6 routing header and Home Address
//! option), `ip_len` as declared on the wire, and the split of what follows
//! into connections, tunnels, fragments and packets that make none. It does
//! not reassemble: fragments leave as owned [`Fragment`]s. Transport headers
//! are parsed by `transport`, which gets the payload cut at the declared
//! length (Ethernet padding dropped) and the declared payload length.

use quartet_wire::Addr;

use crate::transport::{self, IpInfo};
use crate::{be16, be32, checksum, notice, tunnel, weird, Cx, Decoded, Fragment};

pub(crate) mod proto {
    pub const ICMP: u8 = 1;
    pub const IGMP: u8 = 2;
    pub const IPIP: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6: u8 = 41;
    pub const GRE: u8 = 47;
    pub const ICMPV6: u8 = 58;
    pub const NONE: u8 = 59;
    // IPv6 extension headers.
    pub const HOPOPTS: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const DSTOPTS: u8 = 60;
    pub const MOBILITY: u8 = 135;
}

/// Decodes the IP header at `d[off..]`; `off` is the link header length.
pub(crate) fn ip(cx: &mut Cx, d: &[u8], off: usize, out: &mut Vec<Decoded>) {
    let p = d.get(off..).unwrap_or_default();
    if p.len() < 20 {
        return weird(out, "truncated_IP");
    }
    match p[0] >> 4 {
        4 => ipv4(cx, p, off, out),
        6 if p.len() < 40 => weird(out, "truncated_IP"),
        6 => ipv6(cx, p, off, out),
        _ => weird(out, "unknown_ip_version"),
    }
}

/// True when the wire length cannot hold the declared IP length (Zeek
/// compares the frame's wire length with link header + IP total length).
fn truncated_on_wire(cx: &Cx, off: usize, total: usize) -> bool {
    !cx.reassembled && (cx.wire_len as usize) < total.saturating_add(off)
}

fn ipv4(cx: &mut Cx, p: &[u8], off: usize, out: &mut Vec<Decoded>) {
    let hdr_len = usize::from(p[0] & 0x0f) * 4;
    let mut total = usize::from(be16(p, 2));
    let ip_len = total as u32;
    if total == 0 {
        // TCP segmentation offload leaves the length zero.
        if !cx.cfg.ignore_checksums {
            return weird(out, "ip_hdr_len_zero");
        }
        notice(out, "ip_hdr_len_zero");
        total = cx.caplen.saturating_sub(off);
    }
    if truncated_on_wire(cx, off, total) {
        return weird(out, "truncated_IP_len");
    }
    if hdr_len > total {
        return weird(out, "invalid_IP_header_size");
    }
    if hdr_len > p.len() {
        return weird(out, "internally_truncated_header");
    }
    if hdr_len < 20 {
        return weird(out, "IPv4_min_header_size");
    }
    let hdr = &p[..hdr_len];
    if !cx.cfg.ignore_checksums && !checksum::verify(hdr) {
        return weird(out, "bad_IP_checksum");
    }
    let src = Addr::v4([p[12], p[13], p[14], p[15]]);
    let dst = Addr::v4([p[16], p[17], p[18], p[19]]);
    let info = IpInfo {
        src,
        dst,
        proto: p[9],
        ip_len,
        v6: false,
    };
    let frag = be16(p, 6);
    if frag & 0x3fff != 0 {
        let offset = u32::from(frag & 0x1fff) * 8;
        if p.len() < total {
            if offset != 0 {
                return weird(out, "incompletely_captured_fragment");
            }
            // A first fragment is analysed alone (header-only traces).
            notice(out, "incompletely_captured_fragment");
        } else {
            return out.push(Decoded::Fragment(Box::new(Fragment {
                ts: cx.ts,
                v6: false,
                src,
                dst,
                id: u32::from(be16(p, 4)),
                key_src: src,
                key_dst: dst,
                proto: info.proto,
                offset,
                more: frag & 0x2000 != 0,
                df: frag & 0x4000 != 0,
                header: hdr.to_vec(),
                payload: p[hdr_len..total].to_vec(),
                l2: cx.l2,
                encap: cx.encap,
            })));
        }
    }
    let end = total.min(p.len());
    dispatch(cx, info, &p[hdr_len..end], total - hdr_len, out);
}

fn ipv6(cx: &mut Cx, p: &[u8], off: usize, out: &mut Vec<Decoded>) {
    let total = usize::from(be16(p, 4)) + 40;
    let chain = Chain::walk(p, 40, p[6]);
    if truncated_on_wire(cx, off, total) {
        return weird(out, "truncated_IP_len");
    }
    if chain.len > total {
        return weird(out, "invalid_IP_header_size");
    }
    let hdr_src = Addr::v6(p[8..24].try_into().unwrap_or_default());
    let hdr_dst = Addr::v6(p[24..40].try_into().unwrap_or_default());
    let src = chain.home.map_or(hdr_src, Addr::v6);
    let dst = chain.final_dst.map_or(hdr_dst, Addr::v6);
    if let Some(fh) = chain.frag {
        let offlg = be16(p, fh.at + 2);
        let offset = u32::from(offlg & 0xfff8);
        if p.len() < total {
            if offset != 0 {
                return weird(out, "incompletely_captured_fragment");
            }
            notice(out, "incompletely_captured_fragment");
        } else {
            // The unfragmentable part, pointing at what the fragments carry.
            let mut header = p[..fh.at].to_vec();
            if let Some(b) = header.get_mut(fh.ptr) {
                *b = chain.next;
            }
            return out.push(Decoded::Fragment(Box::new(Fragment {
                ts: cx.ts,
                v6: true,
                src: hdr_src,
                dst: hdr_dst,
                id: be32(p, fh.at + 4),
                key_src: src,
                key_dst: dst,
                proto: chain.next,
                offset,
                more: offlg & 0x0001 != 0,
                df: false,
                header,
                payload: p[chain.len..total].to_vec(),
                l2: cx.l2,
                encap: cx.encap,
            })));
        }
    }
    if let Some(nc) = chain.no_conn() {
        return out.push(Decoded::NoConn(nc));
    }
    let info = IpInfo {
        src,
        dst,
        proto: chain.next,
        ip_len: total as u32,
        v6: true,
    };
    let end = total.min(p.len());
    dispatch(cx, info, &p[chain.len..end], total - chain.len, out);
}

/// A datagram rebuilt from fragments (see [`crate::decode_reassembled`]).
pub(crate) fn reassembled(cx: &mut Cx, head: &Fragment, payload: &[u8], out: &mut Vec<Decoded>) {
    let ip_len = (head.header.len() + payload.len()) as u32;
    let mut info = IpInfo {
        src: head.key_src,
        dst: head.key_dst,
        proto: head.proto,
        ip_len,
        v6: head.v6,
    };
    let mut start = 0;
    if head.v6 {
        // Extension headers may follow the fragment header.
        let chain = Chain::walk(payload, 0, head.proto);
        if let Some(nc) = chain.no_conn() {
            return out.push(Decoded::NoConn(nc));
        }
        if head.key_src == head.src {
            info.src = chain.home.map_or(info.src, Addr::v6);
        }
        if head.key_dst == head.dst {
            info.dst = chain.final_dst.map_or(info.dst, Addr::v6);
        }
        info.proto = chain.next;
        start = chain.len;
    }
    dispatch(cx, info, &payload[start..], payload.len() - start, out);
}

/// Hands the IP payload to what the protocol number calls for. `payload`
/// holds the captured bytes (at most `declared`).
fn dispatch(cx: &mut Cx, info: IpInfo, payload: &[u8], declared: usize, out: &mut Vec<Decoded>) {
    match info.proto {
        proto::TCP => transport::tcp(cx, &info, payload, declared, out),
        proto::UDP => transport::udp(cx, &info, payload, declared, out),
        proto::ICMP => transport::icmp(cx, &info, payload, declared, false, out),
        proto::ICMPV6 => transport::icmp(cx, &info, payload, declared, true, out),
        // Zeek checks "no next header" whatever the IP version.
        // A Teredo bubble is expected to carry nothing.
        proto::NONE if cx.teredo => out.push(Decoded::NoConn("teredo_bubble")),
        proto::NONE => weird(out, "ipv6_no_next"),
        proto::IGMP => out.push(Decoded::NoConn("igmp")),
        proto::IPIP | proto::IPV6 | proto::GRE => tunnel::ip_proto(cx, &info, payload, out),
        _ => transport::other(cx, &info, out),
    }
}

/// Where the fragment header sits in an IPv6 header chain.
#[derive(Clone, Copy)]
struct FragHdr {
    /// Offset of the fragment header.
    at: usize,
    /// Offset of the next-header byte that names it.
    ptr: usize,
}

/// The walked IPv6 extension-header chain, as far as it was captured.
struct Chain {
    /// Offset just past the last complete header of the chain.
    len: usize,
    /// Type of the last header in the chain (41 for the fixed header).
    last: u8,
    /// Its next-header value: the transport protocol.
    next: u8,
    frag: Option<FragHdr>,
    /// Last address of the first routing header with segments left.
    final_dst: Option<[u8; 16]>,
    /// The first Home Address destination option.
    home: Option<[u8; 16]>,
}

fn is_ext(t: u8) -> bool {
    use proto::*;
    matches!(
        t,
        HOPOPTS | ROUTING | DSTOPTS | FRAGMENT | AH | ESP | MOBILITY
    )
}

impl Chain {
    /// Walks the headers starting at `p[off..]`, whose type is `next`.
    /// Stops at the first header that is not an extension header, after a
    /// fragment, ESP or mobility header, and before a header that was not
    /// captured in full (Zeek then leaves it out of the chain, so its type
    /// becomes the transport protocol).
    fn walk(p: &[u8], mut off: usize, next: u8) -> Chain {
        let mut c = Chain {
            len: off,
            last: proto::IPV6,
            next,
            frag: None,
            final_dst: None,
            home: None,
        };
        // The byte naming the header at `off`: the fixed header's
        // next-header field, or byte 0 of the previous extension header.
        let mut ptr = if off == 40 { 6 } else { usize::MAX };
        while is_ext(c.next) && !matches!(c.last, proto::FRAGMENT | proto::ESP | proto::MOBILITY) {
            let rem = p.len().saturating_sub(off);
            if rem < 2 {
                break;
            }
            let ty = c.next;
            let hl = match ty {
                proto::FRAGMENT | proto::ESP => 8,
                proto::AH => 8 + 4 * usize::from(p[off + 1]),
                _ => 8 + 8 * usize::from(p[off + 1]),
            };
            if hl > rem {
                break;
            }
            let h = &p[off..off + hl];
            match ty {
                proto::ROUTING => c.routing(h),
                proto::DSTOPTS => c.dst_opts(h),
                proto::FRAGMENT => c.frag = Some(FragHdr { at: off, ptr }),
                _ => {}
            }
            c.last = ty;
            // ESP encrypts everything after it.
            c.next = if ty == proto::ESP { proto::NONE } else { h[0] };
            ptr = off;
            off += hl;
            c.len = off;
        }
        c
    }

    /// Routing types 0 (RFC 2460) and 2 (Mobile IPv6): the final
    /// destination is the header's last address. Only the first routing
    /// header that names one counts.
    fn routing(&mut self, h: &[u8]) {
        let (len, ty, seg_left) = (h[1], h[2], h[3]);
        let valid = match ty {
            0 => len >= 2 && len % 2 == 0,
            2 => len == 2,
            _ => false,
        };
        if self.final_dst.is_none() && seg_left > 0 && valid {
            self.final_dst = h[h.len() - 16..].try_into().ok();
        }
    }

    /// Looks for the Home Address option (type 0xC9, 16 bytes).
    fn dst_opts(&mut self, h: &[u8]) {
        let mut i = 2;
        while i < h.len() {
            let t = h[i];
            if t == 0 {
                i += 1; // Pad1
                continue;
            }
            let Some(&ol) = h.get(i + 1) else { break };
            let ol = usize::from(ol);
            let Some(body) = h.get(i + 2..i + 2 + ol) else {
                break;
            };
            if t == 0xc9 && ol == 16 && self.home.is_none() {
                self.home = body.try_into().ok();
            }
            i += 2 + ol;
        }
    }

    /// Chains Zeek stops at without a connection.
    fn no_conn(&self) -> Option<&'static str> {
        match self.last {
            proto::ESP => Some("esp"),
            proto::MOBILITY => Some("mobility"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use quartet_wire::{Addr, Timestamp};

    use crate::build::*;
    use crate::testutil::*;
    use crate::{decode_reassembled, Checksum, Decoded, Fragment, Transport, Weird};

    const RAW: u32 = 101;

    fn syn_seg(ip: &Ipv4Spec) -> Vec<u8> {
        tcp(
            &ip.src_addr(),
            &ip.dst_addr(),
            &TcpSpec {
                flags: 0x02,
                ..TcpSpec::default()
            },
        )
    }

    fn v4_syn() -> Vec<u8> {
        let ip = Ipv4Spec::default();
        ipv4_with(&ip, &syn_seg(&ip))
    }

    #[test]
    fn ipv4_with_options() {
        let ip = Ipv4Spec {
            options: vec![0x94, 0x04, 0, 0, 1, 1, 1, 0],
            ..Ipv4Spec::default()
        };
        let p = ipv4_with(&ip, &syn_seg(&ip));
        assert_eq!(p[0], 0x47);
        let m = packet(&run(RAW, &p));
        assert_eq!(m.ip_len, 48);
        assert_eq!((m.src, m.dst), (ip.src_addr(), ip.dst_addr()));
        assert_eq!(as_tcp(&m).checksum, Checksum::Good);
    }

    #[test]
    fn ipv4_header_checks() {
        let good = v4_syn();
        assert_eq!(stopped(&run(RAW, &good[..19])), "truncated_IP");
        let mut v5 = good.clone();
        v5[0] = 0x55;
        assert_eq!(stopped(&run(RAW, &v5)), "unknown_ip_version");
        // Wire length shorter than link header + total length.
        let w = run_with(&C, RAW, 39, &good[..39]);
        assert_eq!(stopped(&w), "truncated_IP_len");
        // Snaplen truncation is no IP error.
        let ip = Ipv4Spec::default();
        let seg = tcp(
            &ip.src_addr(),
            &ip.dst_addr(),
            &TcpSpec {
                payload: vec![1; 10],
                ..TcpSpec::default()
            },
        );
        let p = ipv4_with(&ip, &seg);
        let t = as_tcp(&packet(&run_with(&C, RAW, 50, &p[..45])));
        assert_eq!(
            (t.payload_len, t.payload_caplen, t.checksum),
            (10, 5, Checksum::Unchecked)
        );

        let bad_ihl = |ihl: u8, total: u16| {
            let ip = Ipv4Spec {
                total_len: Some(total),
                ..Ipv4Spec::default()
            };
            let mut p = ipv4_with(&ip, &syn_seg(&ip));
            p[0] = 0x40 | ihl;
            stopped(&run_with(&IGNORE, RAW, 100, &p))
        };
        assert_eq!(bad_ihl(15, 40), "invalid_IP_header_size");
        assert_eq!(bad_ihl(4, 40), "IPv4_min_header_size");
        assert_eq!(bad_ihl(0, 40), "IPv4_min_header_size");
        let ip = Ipv4Spec {
            total_len: Some(60),
            ..Ipv4Spec::default()
        };
        let mut p = ipv4_with(&ip, &syn_seg(&ip));
        p[0] = 0x4f;
        assert_eq!(
            stopped(&run_with(&IGNORE, RAW, 100, &p)),
            "internally_truncated_header"
        );
    }

    #[test]
    fn ipv4_header_checksum() {
        let mut p = v4_syn();
        p[8] = 1; // TTL changed, checksum not
        assert_eq!(stopped(&run(RAW, &p)), "bad_IP_checksum");
        let m = packet(&run_with(&IGNORE, RAW, p.len() as u32, &p));
        assert_eq!(as_tcp(&m).checksum, Checksum::Unchecked);
    }

    #[test]
    fn tso_zero_total_length() {
        let ip = Ipv4Spec {
            total_len: Some(0),
            ..Ipv4Spec::default()
        };
        let seg = tcp(
            &ip.src_addr(),
            &ip.dst_addr(),
            &TcpSpec {
                flags: 0x18,
                payload: vec![7; 100],
                ..TcpSpec::default()
            },
        );
        let f = ethernet(MAC_B, MAC_A, 0x0800, &ipv4_with(&ip, &seg));
        assert_eq!(stopped(&run(1, &f)), "ip_hdr_len_zero");
        let v = run_with(&IGNORE, 1, f.len() as u32, &f);
        assert_eq!(v[0], Decoded::Notice(Weird::new("ip_hdr_len_zero")));
        let m = packet(&v[1..]);
        assert_eq!(m.ip_len, 0);
        let t = as_tcp(&m);
        assert_eq!((t.payload_len, t.payload_caplen), (100, 100));
    }

    #[test]
    fn ethernet_padding_is_ignored() {
        let f = ethernet(MAC_B, MAC_A, 0x0800, &[&v4_syn()[..], &[0xee; 6]].concat());
        let m = packet(&run(1, &f));
        let t = as_tcp(&m);
        assert_eq!((m.ip_len, t.payload_len, t.payload_caplen), (40, 0, 0));
        assert_eq!(t.checksum, Checksum::Good);
    }

    #[test]
    fn protocol_dispatch() {
        assert_eq!(run(RAW, &ipv4(2, &[0x11; 8])), [Decoded::NoConn("igmp")]);
        // IP tunnels: no outer packet; an invalid inner packet is a weird.
        for proto in [4, 41] {
            assert_eq!(
                stopped(&run(RAW, &ipv4(proto, &[0; 40]))),
                "invalid_inner_IP_version"
            );
        }
        let v = run(RAW, &ipv4(47, &[0; 40]));
        match &v[..] {
            [Decoded::Weird(w)] => assert_eq!(w.name(), "unknown_ip_version_in_tunnel"),
            v => panic!("{v:?}"),
        }
        assert_eq!(stopped(&run(RAW, &ipv4(59, &[]))), "ipv6_no_next");
        for proto in [50, 89, 112, 132, 253] {
            let m = packet(&run(RAW, &ipv4(proto, &[0; 12])));
            assert_eq!(
                (m.ip_proto, m.transport, m.ip_len),
                (proto, Transport::Other, 32)
            );
        }
    }

    #[test]
    fn ipv6_extension_headers() {
        let (s, d) = (Addr::v6(V6_SRC), Addr::v6(V6_DST));
        let seg = tcp(&s, &d, &TcpSpec::default());
        let mut chain = ext(51, &[]); // hop-by-hop
        chain.extend([60, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]); // AH, 12 bytes
        chain.extend(ext(6, &[1, 4, 0, 0, 0, 0])); // destination options
        chain.extend(&seg);
        let p = ipv6(V6_SRC, V6_DST, 0, &chain);
        let m = packet(&run(RAW, &p));
        assert_eq!(
            (m.src, m.dst, m.ip_proto, m.ip_len),
            (s, d, 6, p.len() as u32)
        );
        let t = as_tcp(&m);
        assert_eq!((t.payload_len, t.checksum), (0, Checksum::Good));
        assert_eq!(stopped(&run(RAW, &p[..39])), "truncated_IP");
        // Payload length shorter than the extension headers.
        let mut short = p.clone();
        short[4..6].copy_from_slice(&16u16.to_be_bytes());
        assert_eq!(
            stopped(&run_with(&C, RAW, 200, &short)),
            "invalid_IP_header_size"
        );
        // A header cut by the snaplen ends the chain: its type is the protocol.
        let m = packet(&run_with(&C, RAW, p.len() as u32, &p[..55]));
        assert_eq!((m.ip_proto, m.transport), (51, Transport::Other));
    }

    #[test]
    fn ipv6_routing_header_and_home_address() {
        let mut hop = V6_DST;
        hop[15] = 0x55;
        let mut last = V6_DST;
        last[15] = 0x77;
        let mut home = V6_SRC;
        home[15] = 0x99;
        let key_src = Addr::v6(home);
        let key_dst = Addr::v6(last);
        let seg = tcp(&key_src, &key_dst, &TcpSpec::default());
        let mut chain = routing(60, 0, 2, &[hop, last]);
        chain.extend(home_address(6, home));
        chain.extend(&seg);
        let m = packet(&run(RAW, &ipv6(V6_SRC, V6_DST, 43, &chain)));
        assert_eq!((m.src, m.dst), (key_src, key_dst));
        assert_eq!(as_tcp(&m).checksum, Checksum::Good);

        // Mobile IPv6 type 2 with one address.
        let mut chain = routing(6, 2, 1, &[last]);
        chain.extend(tcp(&Addr::v6(V6_SRC), &key_dst, &TcpSpec::default()));
        let m = packet(&run(RAW, &ipv6(V6_SRC, V6_DST, 43, &chain)));
        assert_eq!(m.dst, key_dst);

        // No segments left, or an unknown type: the header's address.
        for (ty, left, addrs) in [
            (0, 0, vec![hop, last]),
            (2, 0, vec![last]),
            (4, 1, vec![last]),
        ] {
            let mut chain = routing(17, ty, left, &addrs);
            chain.extend(udp(&Addr::v6(V6_SRC), &Addr::v6(V6_DST), 1, 2, &[]));
            let m = packet(&run(RAW, &ipv6(V6_SRC, V6_DST, 43, &chain)));
            assert_eq!(m.dst, Addr::v6(V6_DST), "type {ty} left {left}");
        }
    }

    #[test]
    fn ipv6_chains_without_connection() {
        let esp = [&[0, 0, 1, 0, 0, 0, 0, 1][..], &[0xab; 32]].concat();
        assert_eq!(
            run(RAW, &ipv6(V6_SRC, V6_DST, 50, &esp)),
            [Decoded::NoConn("esp")]
        );
        let hop_esp = [&ext(50, &[])[..], &esp].concat();
        assert_eq!(
            run(RAW, &ipv6(V6_SRC, V6_DST, 0, &hop_esp)),
            [Decoded::NoConn("esp")]
        );
        let mh = ext(59, &[5, 0, 0, 0, 0, 0]);
        assert_eq!(
            run(RAW, &ipv6(V6_SRC, V6_DST, 135, &mh)),
            [Decoded::NoConn("mobility")]
        );
        assert_eq!(
            stopped(&run(RAW, &ipv6(V6_SRC, V6_DST, 59, &[]))),
            "ipv6_no_next"
        );
        let dst_then_none = ext(59, &[]);
        assert_eq!(
            stopped(&run(RAW, &ipv6(V6_SRC, V6_DST, 60, &dst_then_none))),
            "ipv6_no_next"
        );
    }

    fn fragment(v: &[Decoded]) -> Fragment {
        match v {
            [Decoded::Fragment(f)] => (**f).clone(),
            _ => panic!("expected a fragment, got {v:?}"),
        }
    }

    #[test]
    fn ipv4_fragments() {
        let ip = Ipv4Spec {
            proto: 17,
            ..Ipv4Spec::default()
        };
        let (s, d) = (ip.src_addr(), ip.dst_addr());
        let dgram = udp(&s, &d, 53, 53, &[0x42; 40]); // 48 bytes
        let first = ipv4_with(
            &Ipv4Spec {
                frag: 0x2000,
                ..ip.clone()
            },
            &dgram[..24],
        );
        let second = ipv4_with(
            &Ipv4Spec {
                frag: 3,
                ..ip.clone()
            },
            &dgram[24..],
        );

        let f1 = fragment(&run(RAW, &first));
        assert_eq!((f1.src, f1.dst, f1.id, f1.proto), (s, d, 0x1234, 17));
        assert_eq!((f1.offset, f1.more, f1.df, f1.v6), (0, true, false, false));
        assert_eq!((f1.header.len(), &f1.payload[..]), (20, &dgram[..24]));
        let f2 = fragment(&run(RAW, &second));
        assert_eq!((f2.offset, f2.more, f2.payload.len()), (24, false, 24));

        let mut out = Vec::new();
        let whole = [&f1.payload[..], &f2.payload].concat();
        decode_reassembled(&C, Timestamp(5), &f1, &whole, &mut out);
        let m = packet(&out);
        let u = as_udp(&m);
        assert_eq!(
            (m.ts, m.ip_len, u.payload_len, u.checksum),
            (Timestamp(5), 68, 40, Checksum::Good)
        );

        // Not captured in full: a later fragment is dropped, the first is
        // analysed alone.
        let w = run_with(&C, RAW, second.len() as u32, &second[..30]);
        assert_eq!(stopped(&w), "incompletely_captured_fragment");
        let v = run_with(&C, RAW, first.len() as u32, &first[..30]);
        assert_eq!(
            v[0],
            Decoded::Notice(Weird::new("incompletely_captured_fragment"))
        );
        let u = as_udp(&packet(&v[1..]));
        assert_eq!(
            (u.payload_len, u.payload_caplen, u.checksum),
            (16, 2, Checksum::Unchecked)
        );
    }

    #[test]
    fn ipv6_fragments() {
        let (s, d) = (Addr::v6(V6_SRC), Addr::v6(V6_DST));
        let dgram = udp(&s, &d, 53, 53, &[0x42; 40]);
        let mut p1 = ext(44, &[]); // hop-by-hop before the fragment header
        p1.extend(frag6(17, 0, true, 0xdead));
        p1.extend(&dgram[..24]);
        let p1 = ipv6(V6_SRC, V6_DST, 0, &p1);
        let f1 = fragment(&run(RAW, &p1));
        assert_eq!(
            (f1.v6, f1.id, f1.proto, f1.offset, f1.more),
            (true, 0xdead, 17, 0, true)
        );
        assert_eq!(f1.header.len(), 48);
        assert_eq!(
            (f1.header[6], f1.header[40]),
            (0, 17),
            "next header patched"
        );
        assert_eq!(&f1.payload[..], &dgram[..24]);

        let p2 = ipv6(
            V6_SRC,
            V6_DST,
            44,
            &[&frag6(17, 24, false, 0xdead)[..], &dgram[24..]].concat(),
        );
        let f2 = fragment(&run(RAW, &p2));
        assert_eq!(
            (f2.offset, f2.more, f2.header.len(), f2.header[6]),
            (24, false, 40, 17)
        );

        let mut out = Vec::new();
        decode_reassembled(&C, Timestamp(9), &f1, &dgram, &mut out);
        let m = packet(&out);
        assert_eq!((m.ip_len, as_udp(&m).checksum), (96, Checksum::Good));
    }
}
