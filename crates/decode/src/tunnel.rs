//! Tunnel decapsulation (Zeek §13): IP-in-IP (4in4, 6in4, 4in6, 6in6), GRE
//! (v0 with transparent Ethernet, ERSPAN I/II/III and Aruba; v1 PPTP), and
//! the UDP tunnels VXLAN, Geneve, Teredo, AYIYA, GTPv1-U and GRE-over-UDP.
//!
//! Owns the tunnel headers, the choice of the inner link layer, the strict
//! inner-IP check of IP-in-IP / PPTP / Teredo / AYIYA / GTP, the inner
//! packet's lengths (§13.1) and the encapsulation stack. The inner frame is
//! decoded by the normal link and IP layers with a fresh context: same
//! timestamp, no layer-2 details until an inner Ethernet / 802.11 header
//! provides them, the outer stack plus one [`Encap`]. Weirds of the inner
//! frame are marked `in_tunnel`. Recursion is bounded by [`MAX_ENCAP`].
//!
//! UDP tunnels are found by port: Zeek dispatches on the connection's
//! responder port, which the decoder does not know, so the destination port
//! is tried first, then the source port (a flow whose first packet comes
//! from a tunnel port is flipped, so its responder is still that port).
//! Without a tunnel port, a payload that parses as Teredo or looks like
//! AYIYA is decapsulated, as Zeek's protocol detection does.

use crate::transport::IpInfo;
use crate::{be16, ip, link, notice, weird, Cx, Decoded, Encap, L2Info, Transport, MAX_ENCAP};

/// A UDP-carried tunnel found in a datagram's payload (set on the outer
/// packet's [`UdpMeta::tunnel`](crate::UdpMeta) once the payload was
/// decapsulated).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UdpTunnel {
    Vxlan,
    Geneve,
    Teredo,
    Ayiya,
    Gtpv1,
    /// GRE over UDP (port 4754): an IP-level tunnel, no service.
    Gre,
}

impl UdpTunnel {
    /// The `service` Zeek gives the outer UDP connection once the tunnel
    /// analyzer confirms it (Teredo only after valid Teredo in both
    /// directions, which is the tracker's business).
    pub fn service(self) -> Option<&'static str> {
        match self {
            UdpTunnel::Vxlan => Some("vxlan"),
            UdpTunnel::Geneve => Some("geneve"),
            UdpTunnel::Teredo => Some("teredo"),
            UdpTunnel::Ayiya => Some("ayiya"),
            UdpTunnel::Gtpv1 => Some("gtpv1"),
            UdpTunnel::Gre => None,
        }
    }
}

pub(crate) mod port {
    pub const GTP_C: u16 = 2123;
    pub const GTP_U: u16 = 2152;
    pub const TEREDO: u16 = 3544;
    pub const GRE: u16 = 4754;
    pub const VXLAN: u16 = 4789;
    pub const AYIYA: u16 = 5072;
    pub const GENEVE: u16 = 6081;
}

/// How the inner frame starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    Ip,
    Ethernet,
    Ieee80211,
}

/// The outcome of the strict inner-IP check (Zeek's tunnel IP parse).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Strict {
    Ok,
    /// Fewer bytes than the header or than the declared length.
    Truncated,
    BadVersion,
    /// More bytes than the declared length.
    TooLong,
}

/// The inner IP packet must be of version 6 (`v6`) or 4 and fill `d`
/// exactly.
fn strict(d: &[u8], v6: bool) -> Strict {
    let (min, ver) = if v6 { (40, 6) } else { (20, 4) };
    if d.len() < min {
        return Strict::Truncated;
    }
    if d[0] >> 4 != ver {
        return Strict::BadVersion;
    }
    let total = if v6 {
        usize::from(be16(d, 4)) + 40
    } else {
        usize::from(be16(d, 2))
    };
    match d.len().cmp(&total) {
        std::cmp::Ordering::Less => Strict::Truncated,
        std::cmp::Ordering::Greater => Strict::TooLong,
        std::cmp::Ordering::Equal => Strict::Ok,
    }
}

fn strict_weird(s: Strict) -> &'static str {
    match s {
        Strict::BadVersion => "invalid_inner_IP_version",
        Strict::TooLong => "inner_IP_payload_length_mismatch",
        _ => "truncated_inner_IP",
    }
}

/// True (after a weird) when no further encapsulation fits.
fn too_deep(cx: &Cx, out: &mut Vec<Decoded>) -> bool {
    if cx.encap.len() >= MAX_ENCAP {
        weird(out, "exceeded_tunnel_max_depth");
        true
    } else {
        false
    }
}

/// Decodes the inner frame `d` with `e` pushed onto the stack. `wire_len`
/// is the inner frame's wire length (§13.1).
fn inner(cx: &Cx, e: Encap, link: Link, d: &[u8], wire_len: u32, out: &mut Vec<Decoded>) {
    inner_with(cx, e, link, d, wire_len, false, out)
}

/// [`inner`], saying whether the tunnel is Teredo (whose bubbles are no
/// `ipv6_no_next`).
fn inner_with(
    cx: &Cx,
    e: Encap,
    link: Link,
    d: &[u8],
    wire_len: u32,
    teredo: bool,
    out: &mut Vec<Decoded>,
) {
    let mut encap = cx.encap;
    if !encap.push(e) {
        return weird(out, "exceeded_tunnel_max_depth");
    }
    let mut icx = Cx {
        cfg: cx.cfg,
        ts: cx.ts,
        wire_len,
        caplen: d.len(),
        l2: L2Info::default(),
        encap,
        reassembled: false,
        teredo,
    };
    let before = out.len();
    match link {
        Link::Ip => ip::ip(&mut icx, d, 0, out),
        Link::Ethernet => link::ethernet(&mut icx, d, 0, out),
        Link::Ieee80211 => link::ieee802_11(&mut icx, d, 0, out),
    }
    mark_in_tunnel(&mut out[before..]);
}

fn mark_in_tunnel(items: &mut [Decoded]) {
    for item in items {
        if let Decoded::Weird(w) | Decoded::Notice(w) = item {
            w.in_tunnel = true;
        }
    }
}

/// IP protocols 4 (IPv4), 41 (IPv6) and 47 (GRE). `d` is the captured IP
/// payload (at most the declared length). Nothing is emitted for the outer
/// packet: IP tunnels create no outer connection.
pub(crate) fn ip_proto(cx: &Cx, info: &IpInfo, d: &[u8], out: &mut Vec<Decoded>) {
    let e = Encap::ip(info.src, info.dst);
    match info.proto {
        crate::ip::proto::GRE => {
            gre(cx, e, d, out);
        }
        p => {
            if too_deep(cx, out) {
                return;
            }
            let s = strict(d, p == crate::ip::proto::IPV6);
            if s != Strict::Ok {
                return weird(out, strict_weird(s));
            }
            inner(cx, e, Link::Ip, d, d.len() as u32, out);
        }
    }
}

/// Aruba's GRE protocol types (802.11 frames), by Zeek's bit test.
fn aruba(p: u16) -> bool {
    (p & 0x8200 == 0x8200 && p & 0x000f == 0) || p == 0x9000
}

/// A GRE header at `d[0..]`. Returns true when the inner frame was handed
/// on (whatever became of it).
fn gre(cx: &Cx, e: Encap, d: &[u8], out: &mut Vec<Decoded>) -> bool {
    if d.len() < 4 {
        weird(out, "truncated_GRE");
        return false;
    }
    let flags = be16(d, 0);
    let mut proto = be16(d, 2);
    let version = flags & 0x0007;
    if version > 1 {
        weird(out, "unknown_gre_version");
        return false;
    }
    // Checksum, key, sequence and acknowledgement fields, 4 bytes each.
    let gre_len = [0x8000u16, 0x2000, 0x1000, 0x0080]
        .iter()
        .filter(|&&f| flags & f != 0)
        .count()
        * 4
        + 4;
    let ppp_len = if version == 1 { 4 } else { 0 };
    let mut eth_len = 0;
    let mut erspan_len = 0;
    let mut link = Link::Ip;
    if version == 0 {
        match proto {
            0x6558 => {
                // Transparent Ethernet bridging.
                if d.len() <= gre_len + 14 {
                    weird(out, "truncated_GRE");
                    return false;
                }
                (eth_len, link) = (14, Link::Ethernet);
            }
            0x88be => {
                // ERSPAN type II carries a sequence number and an 8-byte
                // header; type I has neither.
                let ers = if flags & 0x1000 != 0 { 8 } else { 0 };
                if d.len() <= gre_len + 14 + ers {
                    weird(out, "truncated_GRE");
                    return false;
                }
                (eth_len, erspan_len, link) = (14, ers, Link::Ethernet);
            }
            0x22eb => {
                // ERSPAN type III: 12 bytes, 8 more with the platform
                // specific sub-header (lowest bit of the last byte).
                if d.len() <= gre_len + 14 + 12 {
                    weird(out, "truncated_GRE");
                    return false;
                }
                erspan_len = 12;
                if d[gre_len + 11] & 0x01 != 0 {
                    if d.len() <= gre_len + 12 + 8 + 14 {
                        weird(out, "truncated_GRE");
                        return false;
                    }
                    erspan_len += 8;
                }
                (eth_len, link) = (14, Link::Ethernet);
            }
            p if aruba(p) => link = Link::Ieee80211,
            // IPv4, IPv6 and anything else: raw IP.
            _ => {}
        }
    } else if proto != 0x880b {
        // Enhanced GRE (PPTP) carries PPP only.
        weird(out, "egre_protocol_type");
        return false;
    }
    if flags & 0x4000 != 0 {
        weird(out, "gre_routing");
        return false;
    }
    if flags & 0x0078 != 0 {
        weird(out, "unknown_gre_flags");
        return false;
    }
    if d.len() < gre_len + ppp_len + eth_len + erspan_len {
        weird(out, "truncated_GRE");
        return false;
    }
    if version == 1 {
        proto = be16(d, gre_len + 2);
        if proto != 0x0021 && proto != 0x0057 {
            weird(out, "non_ip_packet_in_encap");
            return false;
        }
    }
    let rest = &d[gre_len + ppp_len + erspan_len..];
    if too_deep(cx, out) {
        return false;
    }
    if version == 1 {
        let s = strict(rest, proto == 0x0057);
        if s != Strict::Ok {
            weird(out, strict_weird(s));
            return false;
        }
    }
    inner(cx, e, link, rest, rest.len() as u32, out);
    true
}

/// After the outer UDP packet (at `out[idx]`) was pushed: decapsulates its
/// payload `p` (captured, at most the declared length) if it is a tunnel.
/// True when [`udp`] may find a tunnel in this datagram: a tunnel port on
/// either side, or a payload that could pass the Teredo or AYIYA detection.
/// A superset of the datagrams [`udp`] decapsulates (checked cheaply).
#[inline]
pub(crate) fn udp_may_tunnel(sport: u16, dport: u16, p: &[u8]) -> bool {
    let port = |x| {
        matches!(
            x,
            port::VXLAN
                | port::GENEVE
                | port::TEREDO
                | port::AYIYA
                | port::GTP_U
                | port::GTP_C
                | port::GRE
        )
    };
    port(sport)
        || port(dport)
        || (p.len() >= 40 && (p[0] >> 4 == 6 || (p[0] == 0 && p[1] <= 1)))
        || (p.len() >= 3 && p[1] == 0x52 && p[2] == 0x11)
}

pub(crate) fn udp(
    cx: &Cx,
    info: &IpInfo,
    sport: u16,
    dport: u16,
    p: &[u8],
    idx: usize,
    out: &mut Vec<Decoded>,
) {
    let e = Encap::udp(info.src, sport, info.dst, dport);
    let kind = [dport, sport].into_iter().find_map(|port| match port {
        port::VXLAN => Some(UdpTunnel::Vxlan),
        port::GENEVE => Some(UdpTunnel::Geneve),
        port::TEREDO => Some(UdpTunnel::Teredo),
        port::AYIYA => Some(UdpTunnel::Ayiya),
        port::GTP_U | port::GTP_C => Some(UdpTunnel::Gtpv1),
        port::GRE => Some(UdpTunnel::Gre),
        _ => None,
    });
    let kind = match kind {
        Some(k) => k,
        None if teredo_detect(p) => UdpTunnel::Teredo,
        None if p.len() >= 3 && p[1] == 0x52 && p[2] == 0x11 => UdpTunnel::Ayiya,
        None => return,
    };
    // Inner wire length: the outer's minus what was consumed in front.
    let wire = |inner: &[u8]| -> u32 {
        if cx.reassembled {
            inner.len() as u32
        } else {
            let consumed = cx.caplen.saturating_sub(inner.len());
            (cx.wire_len as usize).saturating_sub(consumed) as u32
        }
    };
    let done = match kind {
        UdpTunnel::Vxlan => vxlan(cx, e, p, &wire, out),
        UdpTunnel::Geneve => geneve(cx, e, p, &wire, out),
        UdpTunnel::Teredo => teredo(cx, e, p, &wire, out),
        UdpTunnel::Ayiya => ayiya(cx, e, p, &wire, out),
        UdpTunnel::Gtpv1 => gtp(cx, e, p, &wire, out),
        UdpTunnel::Gre => gre(cx, Encap::ip(info.src, info.dst), p, out),
    };
    if done {
        if let Some(Decoded::Packet(m)) = out.get_mut(idx) {
            if let Transport::Udp(u) = &mut m.transport {
                u.tunnel = Some(kind);
            }
        }
    }
}

type Wire<'a> = &'a dyn Fn(&[u8]) -> u32;

fn vxlan(cx: &Cx, e: Encap, p: &[u8], wire: Wire, out: &mut Vec<Decoded>) -> bool {
    if too_deep(cx, out) || p.len() < 8 || p[0] & 0x08 == 0 {
        return false;
    }
    let rest = &p[8..];
    if rest.is_empty() {
        notice(out, "vxlan_empty_packet");
        return false;
    }
    inner(cx, e, Link::Ethernet, rest, wire(rest), out);
    true
}

fn geneve(cx: &Cx, e: Encap, p: &[u8], wire: Wire, out: &mut Vec<Decoded>) -> bool {
    if too_deep(cx, out) || p.len() < 8 {
        return false;
    }
    if p[0] >> 6 != 0 {
        notice(out, "geneve_invalid_version");
        return false;
    }
    let hdr = 8 + usize::from(p[0] & 0x3f) * 4;
    let Some(rest) = p.get(hdr..) else {
        return false;
    };
    if rest.is_empty() {
        notice(out, "geneve_empty_packet");
        return false;
    }
    let link = match be16(p, 2) {
        0x6558 => Link::Ethernet,
        0x0800 | 0x86dd => Link::Ip,
        0x0806 => {
            // ARP: analysed, no connection.
            out.push(Decoded::NotIp);
            return true;
        }
        _ => return false,
    };
    inner(cx, e, link, rest, wire(rest), out);
    true
}

/// The IPv6 packet of a Teredo payload: after at most one origin
/// indication and one authentication header (authentication first).
fn teredo_ipv6(p: &[u8]) -> Option<&[u8]> {
    let (mut origin, mut auth) = (false, false);
    let mut i = 0;
    loop {
        let r = p.get(i..)?;
        if r.len() < 2 {
            return None;
        }
        match be16(r, 0) {
            0 => {
                if origin || r.len() < 8 {
                    return None;
                }
                origin = true;
                i += 8;
            }
            1 => {
                if origin || auth || r.len() < 4 {
                    return None;
                }
                // Client id and authenticator, nonce (8), confirmation (1).
                let n = 4 + usize::from(r[2]) + usize::from(r[3]) + 8 + 1;
                if r.len() < n {
                    return None;
                }
                auth = true;
                i += n;
            }
            _ if r[0] >> 4 == 6 => return (r.len() >= 40).then_some(r),
            _ => return None,
        }
    }
}

/// A Teredo bubble: IPv6 with no next header and no payload.
fn bubble(ip6: &[u8]) -> bool {
    ip6[6] == 59 && be16(ip6, 4) == 0
}

/// Zeek's Teredo protocol detection for UDP flows on other ports.
fn teredo_detect(p: &[u8]) -> bool {
    if p.len() < 40 || !(p[0] >> 4 == 6 || (p[0] == 0 && p[1] <= 1)) {
        return false;
    }
    teredo_ipv6(p).is_some_and(|ip6| match strict(ip6, true) {
        Strict::Ok => true,
        Strict::TooLong => bubble(ip6),
        _ => false,
    })
}

fn teredo(cx: &Cx, e: Encap, p: &[u8], wire: Wire, out: &mut Vec<Decoded>) -> bool {
    let Some(ip6) = teredo_ipv6(p) else {
        return false;
    };
    if too_deep(cx, out) {
        return false;
    }
    match strict(ip6, true) {
        Strict::Ok => {}
        Strict::TooLong if bubble(ip6) => notice(out, "Teredo_bubble_with_payload"),
        _ => return false,
    }
    inner_with(cx, e, Link::Ip, ip6, wire(ip6), true, out);
    true
}

fn ayiya(cx: &Cx, e: Encap, p: &[u8], wire: Wire, out: &mut Vec<Decoded>) -> bool {
    if too_deep(cx, out) || p.len() < 8 {
        return false;
    }
    let id_len = 1usize << (p[0] >> 4);
    let sig_len = usize::from(p[1] >> 4) * 4;
    let Some(rest) = p.get(8 + id_len + sig_len..) else {
        return false;
    };
    // Only op-code 1 (forward) carries a packet.
    if p[2] & 0x0f != 1 {
        return false;
    }
    let v6 = match p[3] {
        4 => false,
        41 => true,
        _ => return false,
    };
    if rest.is_empty() {
        notice(out, "ayiya_empty_packet");
        return false;
    }
    if strict(rest, v6) != Strict::Ok {
        return false;
    }
    inner(cx, e, Link::Ip, rest, wire(rest), out);
    true
}

fn gtp(cx: &Cx, e: Encap, p: &[u8], wire: Wire, out: &mut Vec<Decoded>) -> bool {
    if too_deep(cx, out) || p.len() < 8 {
        return false;
    }
    let flags = p[0];
    // Version 1, protocol type GTP.
    if flags >> 5 != 1 || flags & 0x10 == 0 {
        return false;
    }
    let mut off = 8;
    if flags & 0x07 != 0 {
        // Sequence number, N-PDU number and next extension type.
        if p.len() < 12 {
            return false;
        }
        let mut next = p[11];
        off = 12;
        if flags & 0x04 != 0 {
            while next != 0 {
                let Some(&n) = p.get(off) else {
                    return false;
                };
                let n = usize::from(n) * 4;
                if n == 0 || p.len() < off + n {
                    return false;
                }
                next = p[off + n - 1];
                off += n;
            }
        }
    }
    // Only a G-PDU carries user data.
    if p[1] != 0xff {
        return false;
    }
    let rest = &p[off..];
    let v6 = match rest.first().map(|b| b >> 4) {
        Some(4) => false,
        Some(6) => true,
        _ => return false,
    };
    if strict(rest, v6) != Strict::Ok {
        return false;
    }
    inner(cx, e, Link::Ip, rest, wire(rest), out);
    true
}

#[cfg(test)]
mod tests {
    use quartet_wire::Addr;

    use super::UdpTunnel;
    use crate::build::*;
    use crate::testutil::*;
    use crate::{Decoded, Encap, PacketMeta, Transport, MAX_ENCAP};

    const RAW: u32 = 101;

    fn v4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
        ipv4_with(
            &Ipv4Spec {
                src,
                dst,
                proto,
                ..Ipv4Spec::default()
            },
            payload,
        )
    }

    /// The inner TCP SYN 192.168.1.1:1234 -> 192.168.1.2:80 as IPv4.
    fn inner_v4() -> Vec<u8> {
        let ip = Ipv4Spec {
            src: [192, 168, 1, 1],
            dst: [192, 168, 1, 2],
            ..Ipv4Spec::default()
        };
        let seg = tcp(
            &ip.src_addr(),
            &ip.dst_addr(),
            &TcpSpec {
                flags: 0x02,
                ..TcpSpec::default()
            },
        );
        ipv4_with(&ip, &seg)
    }

    fn inner_v6() -> Vec<u8> {
        let (s, d) = (Addr::v6(V6_SRC), Addr::v6(V6_DST));
        ipv6(V6_SRC, V6_DST, 58, &icmp6(&s, &d, 128, 0, b"ping"))
    }

    const OUT_A: [u8; 4] = [1, 1, 1, 1];
    const OUT_B: [u8; 4] = [2, 2, 2, 2];

    fn udp_frame(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let (a, b) = (Addr::v4(OUT_A), Addr::v4(OUT_B));
        let f = v4(OUT_A, OUT_B, 17, &udp(&a, &b, sport, dport, payload));
        ethernet(MAC_B, MAC_A, 0x0800, &f)
    }

    fn ip_encap() -> Encap {
        Encap::ip(Addr::v4(OUT_A), Addr::v4(OUT_B))
    }

    fn packets(v: &[Decoded]) -> Vec<PacketMeta> {
        v.iter()
            .filter_map(|d| match d {
                Decoded::Packet(m) => Some(*m),
                _ => None,
            })
            .collect()
    }

    /// An IP-tunnel frame decodes to the inner packet only.
    fn inner_only(v: &[Decoded]) -> PacketMeta {
        let m = packet(v);
        assert_eq!(m.encap.iter().collect::<Vec<_>>(), [ip_encap()]);
        m
    }

    /// A UDP-tunnel frame: the outer packet, marked, then the inner one.
    fn outer_inner(v: &[Decoded], kind: UdpTunnel) -> (PacketMeta, PacketMeta) {
        let p = packets(v);
        assert_eq!(p.len(), 2, "{v:?}");
        assert_eq!(as_udp(&p[0]).tunnel, Some(kind));
        assert!(p[0].encap.is_empty());
        let Some(Encap::Udp { sport, dport, .. }) = p[1].encap.innermost() else {
            panic!("{:?}", p[1].encap)
        };
        let u = as_udp(&p[0]);
        assert_eq!(
            (sport.min(dport), sport.max(dport)),
            (u.sport.min(u.dport), u.sport.max(u.dport))
        );
        (p[0], p[1])
    }

    fn assert_inner_syn(m: &PacketMeta) {
        let t = as_tcp(m);
        assert_eq!((t.sport, t.dport, t.flags), (1234, 80, 0x02));
        assert_eq!(t.checksum, crate::Checksum::Good);
        assert_eq!(m.src, Addr::v4([192, 168, 1, 1]));
    }

    #[test]
    fn ip_in_ip_all_four() {
        let m = inner_only(&run(RAW, &v4(OUT_A, OUT_B, 4, &inner_v4())));
        assert_inner_syn(&m);
        assert_eq!((m.ip_len, m.l2), (40, crate::L2Info::default()));
        let m = inner_only(&run(RAW, &v4(OUT_A, OUT_B, 41, &inner_v6())));
        assert_eq!((m.ip_proto, m.src), (58, Addr::v6(V6_SRC)));
        // Over IPv6 the pair is the IPv6 outer addresses.
        let mut o6 = V6_SRC;
        o6[0] = 0x30;
        for (proto, inner) in [(4, inner_v4()), (41, inner_v6())] {
            let m = packet(&run(RAW, &ipv6(o6, V6_DST, proto, &inner)));
            assert_eq!(
                m.encap.innermost(),
                Some(Encap::ip(Addr::v6(V6_DST), Addr::v6(o6)))
            );
        }
        // Both directions carry the same (unordered) pair.
        let back = packet(&run(RAW, &v4(OUT_B, OUT_A, 4, &inner_v4())));
        assert_eq!(back.encap.innermost(), Some(ip_encap()));
    }

    #[test]
    fn ip_in_ip_strict_inner() {
        let inner = inner_v4();
        let w = |p: &[u8]| stopped(&run(RAW, p));
        assert_eq!(w(&v4(OUT_A, OUT_B, 4, &inner[..30])), "truncated_inner_IP");
        assert_eq!(w(&v4(OUT_A, OUT_B, 4, &inner[..10])), "truncated_inner_IP");
        let long = [&inner[..], &[0; 4]].concat();
        assert_eq!(
            w(&v4(OUT_A, OUT_B, 4, &long)),
            "inner_IP_payload_length_mismatch"
        );
        assert_eq!(w(&v4(OUT_A, OUT_B, 41, &inner)), "invalid_inner_IP_version");
        // A snaplen-cut outer packet leaves a truncated inner one.
        let f = v4(OUT_A, OUT_B, 4, &inner);
        let v = run_with(&C, RAW, f.len() as u32, &f[..50]);
        assert_eq!(stopped(&v), "truncated_inner_IP");
    }

    #[test]
    fn inner_weirds_are_in_tunnel() {
        let mut inner = inner_v4();
        inner[8] ^= 1; // bad inner IP header checksum
        let v = run(RAW, &v4(OUT_A, OUT_B, 4, &inner));
        match &v[..] {
            [Decoded::Weird(w)] => {
                assert!(w.in_tunnel);
                assert_eq!(w.name(), "bad_IP_checksum_in_tunnel");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn depth_limit() {
        let mut p = inner_v4();
        for _ in 0..MAX_ENCAP {
            p = v4(OUT_A, OUT_B, 4, &p);
        }
        let m = packet(&run(RAW, &p));
        assert_eq!(m.encap.len(), MAX_ENCAP);
        assert_inner_syn(&m);
        let p = v4(OUT_A, OUT_B, 4, &p);
        let v = run(RAW, &p);
        match &v[..] {
            [Decoded::Weird(w)] => {
                assert_eq!(w.name(), "exceeded_tunnel_max_depth_in_tunnel")
            }
            v => panic!("{v:?}"),
        }
    }

    fn gre_hdr(flags: u16, proto: u16, extra: usize) -> Vec<u8> {
        let mut h = flags.to_be_bytes().to_vec();
        h.extend(proto.to_be_bytes());
        h.extend(vec![0; extra]);
        h
    }

    #[test]
    fn gre_v0_ip_and_optional_fields() {
        for (flags, extra) in [(0, 0), (0x8000, 4), (0x2000, 4), (0xb000, 12), (0x3080, 12)] {
            let g = [&gre_hdr(flags, 0x0800, extra)[..], &inner_v4()].concat();
            let m = inner_only(&run(RAW, &v4(OUT_A, OUT_B, 47, &g)));
            assert_inner_syn(&m);
        }
        let g = [&gre_hdr(0, 0x86dd, 0)[..], &inner_v6()].concat();
        assert_eq!(
            inner_only(&run(RAW, &v4(OUT_A, OUT_B, 47, &g))).ip_proto,
            58
        );
        // GRE v0 does not insist on an exact fit: padding is fine.
        let g = [&gre_hdr(0, 0x0800, 0)[..], &inner_v4(), &[0; 6]].concat();
        inner_only(&run(RAW, &v4(OUT_A, OUT_B, 47, &g)));
    }

    #[test]
    fn gre_weirds() {
        let w = |g: &[u8]| stopped(&run(RAW, &v4(OUT_A, OUT_B, 47, g)));
        let ip = inner_v4();
        assert_eq!(w(&[0, 0, 8]), "truncated_GRE");
        assert_eq!(
            w(&[&gre_hdr(0x4000, 0x0800, 4)[..], &ip].concat()),
            "gre_routing"
        );
        assert_eq!(
            w(&[&gre_hdr(0x0008, 0x0800, 0)[..], &ip].concat()),
            "unknown_gre_flags"
        );
        assert_eq!(
            w(&[&gre_hdr(0x0002, 0x0800, 0)[..], &ip].concat()),
            "unknown_gre_version"
        );
        assert_eq!(
            w(&[&gre_hdr(0x3001, 0x0800, 8)[..], &ip].concat()),
            "egre_protocol_type"
        );
        assert_eq!(w(&gre_hdr(0xb000, 0x0800, 4)), "truncated_GRE");
        assert_eq!(w(&gre_hdr(0, 0x6558, 14)), "truncated_GRE");
    }

    #[test]
    fn gre_ethernet_erspan_and_aruba() {
        let eth = ethernet([0x0a; 6], [0x0b; 6], 0x0800, &inner_v4());
        let check = |g: Vec<u8>| {
            let m = inner_only(&run(RAW, &v4(OUT_A, OUT_B, 47, &g)));
            assert_inner_syn(&m);
            m
        };
        // Transparent Ethernet bridging: the inner MACs.
        let m = check([&gre_hdr(0x2000, 0x6558, 4)[..], &eth].concat());
        assert_eq!((m.l2.src, m.l2.dst), (Some([0x0b; 6]), Some([0x0a; 6])));
        // ERSPAN I (no sequence number), II (8-byte header), III (12, +8).
        check([&gre_hdr(0, 0x88be, 0)[..], &eth].concat());
        check([&gre_hdr(0x1000, 0x88be, 4)[..], &[0x10; 8], &eth].concat());
        let mut e3 = vec![0x20; 12];
        e3[11] = 0;
        check([&gre_hdr(0, 0x22eb, 0)[..], &e3, &eth].concat());
        e3[11] = 1;
        check([&gre_hdr(0, 0x22eb, 0)[..], &e3, &[0x30; 8], &eth].concat());
        // Aruba: 802.11 data frame (FromDS), LLC/SNAP, IP.
        let mut wifi = vec![0x08, 0x02, 0, 0];
        wifi.extend([0x01; 6]);
        wifi.extend([0x02; 6]);
        wifi.extend([0x03; 6]);
        wifi.extend([0, 0, 0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
        wifi.extend(inner_v4());
        for proto in [0x8200, 0x8210, 0x82f0, 0x8300, 0x9000] {
            let m = check([&gre_hdr(0, proto, 0)[..], &wifi].concat());
            assert_eq!(m.l2.src, Some([0x03; 6]));
        }
    }

    #[test]
    fn gre_v1_pptp() {
        let pptp = |ppp: u16, inner: &[u8]| {
            let mut g = gre_hdr(0x3081, 0x880b, 12);
            g.extend([0xff, 0x03]);
            g.extend(ppp.to_be_bytes());
            g.extend(inner);
            run(RAW, &v4(OUT_A, OUT_B, 47, &g))
        };
        assert_inner_syn(&inner_only(&pptp(0x0021, &inner_v4())));
        assert_eq!(inner_only(&pptp(0x0057, &inner_v6())).ip_proto, 58);
        assert_eq!(
            stopped(&pptp(0xc021, &inner_v4())),
            "non_ip_packet_in_encap"
        );
        let long = [&inner_v4()[..], &[0; 2]].concat();
        assert_eq!(
            stopped(&pptp(0x0021, &long)),
            "inner_IP_payload_length_mismatch"
        );
        assert_eq!(
            stopped(&pptp(0x0021, &inner_v6())),
            "invalid_inner_IP_version"
        );
    }

    #[test]
    fn gre_over_udp() {
        let g = [&gre_hdr(0, 0x0800, 0)[..], &inner_v4()].concat();
        let v = run(1, &udp_frame(40000, 4754, &g));
        let p = packets(&v);
        assert_eq!(p.len(), 2);
        assert_eq!(as_udp(&p[0]).tunnel, Some(UdpTunnel::Gre));
        assert_eq!(p[1].encap.innermost(), Some(ip_encap()));
        assert_inner_syn(&p[1]);
    }

    fn vxlan_payload(flags: u8, inner: &[u8]) -> Vec<u8> {
        [&[flags, 0, 0, 0, 0, 0, 7, 0][..], inner].concat()
    }

    #[test]
    fn vxlan() {
        let eth = ethernet([0x0a; 6], [0x0b; 6], 0x0800, &inner_v4());
        let f = udp_frame(40000, 4789, &vxlan_payload(0x08, &eth));
        let (outer, inner) = outer_inner(&run(1, &f), UdpTunnel::Vxlan);
        assert_eq!(outer.l2.src, Some(MAC_A));
        assert_inner_syn(&inner);
        assert_eq!(inner.l2.src, Some([0x0b; 6]));
        // From the tunnel port (a flipped flow) it is found as well.
        let f = udp_frame(4789, 40000, &vxlan_payload(0x08, &eth));
        outer_inner(&run(1, &f), UdpTunnel::Vxlan);
        // No I flag: only the outer packet.
        let f = udp_frame(40000, 4789, &vxlan_payload(0, &eth));
        let m = packet(&run(1, &f));
        assert_eq!(as_udp(&m).tunnel, None);
        // Empty: a notice after the outer packet.
        let v = run(1, &udp_frame(40000, 4789, &vxlan_payload(0x08, &[])));
        assert!(matches!(&v[1], Decoded::Notice(w) if w.name == "vxlan_empty_packet"));
        // A bad outer checksum drops the datagram before the tunnel.
        let mut f = udp_frame(40000, 4789, &vxlan_payload(0x08, &eth));
        let n = f.len();
        f[n - 1] ^= 0xff;
        assert_eq!(packet(&run(1, &f)).transport, {
            let mut m = packet(&run(1, &f));
            if let Transport::Udp(u) = &mut m.transport {
                assert_eq!(u.checksum, crate::Checksum::Bad);
            }
            m.transport
        });
    }

    #[test]
    fn udp_tunnel_inner_wire_length() {
        // Snaplen-cut outer frame: the inner packet inherits the wire length
        // minus the headers in front, so its IP layer sees a snaplen cut.
        let eth = ethernet([0x0a; 6], [0x0b; 6], 0x0800, &inner_v4());
        let f = udp_frame(40000, 4789, &vxlan_payload(0x08, &eth));
        let v = run_with(&C, 1, f.len() as u32, &f[..f.len() - 10]);
        assert_eq!(packets(&v).len(), 1);
        match &v[1] {
            Decoded::Weird(w) => assert_eq!(w.name(), "internally_truncated_header_in_tunnel"),
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn geneve() {
        let eth = ethernet([0x0a; 6], [0x0b; 6], 0x0800, &inner_v4());
        let gen = |ver_opt: u8, proto: u16, opts: usize, inner: &[u8]| {
            let mut g = vec![ver_opt, 0];
            g.extend(proto.to_be_bytes());
            g.extend([0, 0, 1, 0]);
            g.extend(vec![0x77; opts]);
            g.extend(inner);
            run(1, &udp_frame(40000, 6081, &g))
        };
        assert_inner_syn(&outer_inner(&gen(0, 0x6558, 0, &eth), UdpTunnel::Geneve).1);
        assert_inner_syn(&outer_inner(&gen(2, 0x0800, 8, &inner_v4()), UdpTunnel::Geneve).1);
        let v = gen(0, 0x0806, 0, &[0; 28]);
        assert_eq!(v[1], Decoded::NotIp);
        let v = gen(0x40, 0x0800, 0, &inner_v4());
        assert!(matches!(&v[1], Decoded::Notice(w) if w.name == "geneve_invalid_version"));
        assert_eq!(as_udp(&first(&v)).tunnel, None);
    }

    #[test]
    fn teredo_with_headers_and_detection() {
        let ip6 = inner_v6();
        let origin = [0u8, 0, 0x12, 0x34, 1, 2, 3, 4];
        let auth = [0u8, 1, 2, 1, 0xaa, 0xbb, 0xcc, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        for payload in [
            ip6.clone(),
            [&origin[..], &ip6].concat(),
            [&auth[..], &origin, &ip6].concat(),
        ] {
            for (sport, dport) in [(40000, 3544), (3544, 40000), (40000, 32900)] {
                let v = run(1, &udp_frame(sport, dport, &payload));
                let (_, inner) = outer_inner(&v, UdpTunnel::Teredo);
                assert_eq!(inner.ip_proto, 58);
            }
        }
        // Origin after authentication only; not twice.
        let twice = [&origin[..], &origin, &ip6].concat();
        assert_eq!(
            as_udp(&packet(&run(1, &udp_frame(1, 3544, &twice)))).tunnel,
            None
        );
        // Not exactly filled: no tunnel, and no detection.
        let long = [&ip6[..], &[0; 3]].concat();
        assert_eq!(packets(&run(1, &udp_frame(1, 3544, &long))).len(), 1);
        assert_eq!(packets(&run(1, &udp_frame(1, 2, &long))).len(), 1);
    }

    #[test]
    fn teredo_bubbles() {
        let bubble = ipv6(V6_SRC, V6_DST, 59, &[]);
        let v = run(1, &udp_frame(40000, 3544, &bubble));
        assert_eq!(v.len(), 2);
        assert_eq!(v[1], Decoded::NoConn("teredo_bubble"));
        let with = [&bubble[..], &[1, 2, 3]].concat();
        let v = run(1, &udp_frame(40000, 3544, &with));
        assert!(matches!(&v[1], Decoded::Notice(w) if w.name == "Teredo_bubble_with_payload"));
        assert_eq!(v[2], Decoded::NoConn("teredo_bubble"));
        // Outside Teredo, no next header is a weird.
        assert_eq!(stopped(&run(RAW, &bubble)), "ipv6_no_next");
    }

    fn ayiya_payload(id_nibble: u8, op: u8, next: u8, inner: &[u8]) -> Vec<u8> {
        let mut a = vec![id_nibble << 4 | 1, 0x52, 0x10 | op, next, 0, 0, 0, 1];
        a.extend(vec![0x11; 1 << id_nibble]);
        a.extend([0x22; 20]);
        a.extend(inner);
        a
    }

    #[test]
    fn ayiya() {
        for port in [5072, 40001] {
            let v = run(
                1,
                &udp_frame(40000, port, &ayiya_payload(8, 1, 41, &inner_v6())),
            );
            assert_eq!(outer_inner(&v, UdpTunnel::Ayiya).1.ip_proto, 58);
        }
        let v = run(
            1,
            &udp_frame(40000, 5072, &ayiya_payload(2, 1, 4, &inner_v4())),
        );
        assert_inner_syn(&outer_inner(&v, UdpTunnel::Ayiya).1);
        for p in [
            ayiya_payload(2, 2, 4, &inner_v4()),
            ayiya_payload(2, 1, 6, &inner_v4()),
            ayiya_payload(2, 1, 41, &inner_v4()),
            {
                // An identity longer than the datagram.
                let mut p = ayiya_payload(2, 1, 4, &inner_v4());
                p[0] |= 0xf0;
                p
            },
        ] {
            assert_eq!(packets(&run(1, &udp_frame(40000, 5072, &p))).len(), 1);
        }
    }

    #[test]
    fn gtp_v1_u() {
        let gtp = |flags: u8, msg: u8, opt: &[u8], inner: &[u8]| {
            let mut g = vec![flags, msg];
            g.extend(((opt.len() + inner.len()) as u16).to_be_bytes());
            g.extend([0, 0, 0, 9]);
            g.extend(opt);
            g.extend(inner);
            g
        };
        let plain = gtp(0x30, 0xff, &[], &inner_v4());
        for (s, d) in [(2152, 2152), (5906, 2152), (2152, 5906), (1, 2123)] {
            let v = run(1, &udp_frame(s, d, &plain));
            assert_inner_syn(&outer_inner(&v, UdpTunnel::Gtpv1).1);
        }
        // Sequence number; an extension header chain.
        let v = run(
            1,
            &udp_frame(2152, 2152, &gtp(0x32, 0xff, &[0, 1, 0, 0], &inner_v6())),
        );
        assert_eq!(outer_inner(&v, UdpTunnel::Gtpv1).1.ip_proto, 58);
        let ext = [0, 0, 0, 0x85, 1, 0x10, 0x05, 0];
        let v = run(
            1,
            &udp_frame(2152, 2152, &gtp(0x34, 0xff, &ext, &inner_v4())),
        );
        assert_inner_syn(&outer_inner(&v, UdpTunnel::Gtpv1).1);
        // Not a G-PDU, version 2, not IP, inexact: the outer packet only.
        for g in [
            gtp(0x30, 0x01, &[], &inner_v4()),
            gtp(0x50, 0xff, &[], &inner_v4()),
            gtp(0x30, 0xff, &[], &[0x20; 40]),
            gtp(0x30, 0xff, &[], &inner_v4()[..30]),
        ] {
            let v = run(1, &udp_frame(2152, 2152, &g));
            assert_eq!(as_udp(&packet(&v)).tunnel, None);
        }
    }

    #[test]
    fn nested_tunnels() {
        // Teredo inside GTP inside IP-in-IP.
        let (a, b) = (Addr::v4([10, 9, 9, 1]), Addr::v4([10, 9, 9, 2]));
        let teredo = v4(
            [10, 9, 9, 1],
            [10, 9, 9, 2],
            17,
            &udp(&a, &b, 50000, 3544, &inner_v6()),
        );
        let mut g = vec![0x30, 0xff];
        g.extend((teredo.len() as u16).to_be_bytes());
        g.extend([0, 0, 0, 1]);
        g.extend(&teredo);
        let (x, y) = (Addr::v4([5, 5, 5, 5]), Addr::v4([6, 6, 6, 6]));
        let gtp = v4([5, 5, 5, 5], [6, 6, 6, 6], 17, &udp(&x, &y, 2152, 2152, &g));
        let f = v4(OUT_A, OUT_B, 4, &gtp);
        let p = packets(&run(RAW, &f));
        assert_eq!(p.len(), 3);
        assert_eq!(
            p.iter().map(|m| m.encap.len()).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(as_udp(&p[1]).tunnel, Some(UdpTunnel::Teredo));
        assert_eq!(p[2].ip_proto, 58);
    }
}
