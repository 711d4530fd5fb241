//! Transport headers: TCP, UDP, ICMP/ICMPv6 and unknown protocols, turned
//! into a [`PacketMeta`] (Zeek §3.2, §4.1 step 1, §10).
//!
//! Owns the minimal-header check that decides whether a connection can be
//! created at all (`truncated_header` / `internally_truncated_header`), the
//! TCP header-length verdict the tracker applies after creating the
//! connection, payload lengths (declared and captured), the window scale
//! option, the UDP payload head, and the checksum verdict. It never keeps a
//! borrow of the frame: only the 16-byte UDP `head` is copied.

use quartet_wire::Addr;

use crate::{be16, be32, checksum, tunnel, weird, Checksum, Cx, Decoded, IcmpMeta, PacketMeta};
use crate::{TcpHeaderStatus, TcpMeta, Transport, UdpMeta};

/// What the IP layer knows about the packet.
pub(crate) struct IpInfo {
    /// Key addresses (also those of the pseudo-header).
    pub src: Addr,
    pub dst: Addr,
    pub proto: u8,
    /// Declared IP length, for `*_ip_bytes`.
    pub ip_len: u32,
    pub v6: bool,
}

/// The VXLAN port whose zero UDP checksums Zeek accepts over IPv4 and IPv6.
const VXLAN_PORT: u16 = tunnel::port::VXLAN;

fn push(cx: &Cx, info: &IpInfo, transport: Transport, out: &mut Vec<Decoded>) {
    out.push(Decoded::Packet(PacketMeta {
        ts: cx.ts,
        src: info.src,
        dst: info.dst,
        ip_proto: info.proto,
        ip_len: info.ip_len,
        transport,
        l2: cx.l2,
        encap: cx.encap,
    }));
}

/// Zeek's minimal transport header check: `min` bytes must be declared by
/// the IP header and captured.
fn header_present(min: usize, seg: &[u8], declared: usize, out: &mut Vec<Decoded>) -> bool {
    if declared < min {
        weird(out, "truncated_header");
        false
    } else if seg.len() < min {
        weird(out, "internally_truncated_header");
        false
    } else {
        true
    }
}

/// `seg` is the captured part of the IP payload (at most `declared` bytes).
pub(crate) fn tcp(cx: &Cx, info: &IpInfo, seg: &[u8], declared: usize, out: &mut Vec<Decoded>) {
    if !header_present(20, seg, declared, out) {
        return;
    }
    let m = tcp_meta(seg, declared, cx.cfg.ignore_checksums, || {
        verdict(checksum::verify_pseudo(
            &info.src, &info.dst, info.proto, seg,
        ))
    });
    push(cx, info, Transport::Tcp(m), out);
}

/// The TCP header of `seg`, the captured part (at least the 20 fixed
/// bytes) of a segment of `declared` bytes; `verify` checks the checksum
/// when the whole segment was captured and checksums are not ignored.
/// Shared by the full decoder and `peek`'s single-pass decode.
#[inline]
pub(crate) fn tcp_meta(
    seg: &[u8],
    declared: usize,
    ignore_checksums: bool,
    verify: impl FnOnce() -> Checksum,
) -> TcpMeta {
    let mut m = TcpMeta {
        sport: be16(seg, 0),
        dport: be16(seg, 2),
        seq: be32(seg, 4),
        ack: be32(seg, 8),
        flags: seg[13],
        window: be16(seg, 14),
        ..TcpMeta::default()
    };
    let hdr_len = usize::from(seg[12] >> 4) * 4;
    if hdr_len < 20 {
        m.header_status = TcpHeaderStatus::BadHeaderLen;
    } else if hdr_len > declared || hdr_len > seg.len() {
        m.header_status = TcpHeaderStatus::Truncated;
    } else {
        m.window_scale = window_scale(&seg[20..hdr_len]);
        m.payload_len = (declared - hdr_len) as u32;
        m.payload_caplen = (seg.len() - hdr_len) as u32;
        if !ignore_checksums && seg.len() >= declared {
            m.checksum = verify();
        }
    }
    m
}

/// The window scale option, read the way Zeek reads SYN options: stop at
/// end-of-list or at the first option that does not fit.
pub(crate) fn window_scale(opts: &[u8]) -> Option<u8> {
    let mut scale = None;
    let mut i = 0;
    while let Some(&kind) = opts.get(i) {
        match kind {
            0 => break,
            1 => i += 1,
            _ => {
                let Some(&len) = opts.get(i + 1) else { break };
                let len = usize::from(len);
                if len == 0 || i + len > opts.len() {
                    break;
                }
                if kind == 3 && len >= 3 {
                    scale = Some(opts[i + 2]);
                }
                i += len;
            }
        }
    }
    scale
}

pub(crate) fn udp(cx: &Cx, info: &IpInfo, seg: &[u8], declared: usize, out: &mut Vec<Decoded>) {
    if !header_present(8, seg, declared, out) {
        return;
    }
    let dport = be16(seg, 2);
    let sum = be16(seg, 6);
    // Verified only for a whole datagram in a frame not cut by snaplen.
    let mut validate =
        !cx.cfg.ignore_checksums && seg.len() >= declared && cx.wire_len as usize <= cx.caplen;
    // VXLAN senders leave the checksum zero: accept that on the VXLAN port
    // when the payload looks like VXLAN (I flag) around an Ethernet frame.
    if validate && declared > 8 + 8 + 14 && seg[8] & 0x08 != 0 && dport == VXLAN_PORT && sum == 0 {
        validate = false;
    }
    let checksum = if !validate || (!info.v6 && sum == 0) {
        // Over IPv4 a zero checksum means none was computed.
        Checksum::Unchecked
    } else {
        verdict(checksum::verify_pseudo(
            &info.src, &info.dst, info.proto, seg,
        ))
    };
    let payload = &seg[8..];
    let mut head = [0u8; 16];
    let n = payload.len().min(head.len());
    head[..n].copy_from_slice(&payload[..n]);
    let m = UdpMeta {
        sport: be16(seg, 0),
        dport,
        udp_len: be16(seg, 4),
        payload_len: (declared - 8) as u32,
        payload_caplen: payload.len() as u32,
        checksum,
        head,
        tunnel: None,
    };
    let idx = out.len();
    push(cx, info, Transport::Udp(m), out);
    // A datagram with a bad checksum is dropped before its payload is seen.
    if checksum != Checksum::Bad {
        tunnel::udp(cx, info, m.sport, dport, payload, idx, out);
    }
}

pub(crate) fn icmp(
    cx: &Cx,
    info: &IpInfo,
    seg: &[u8],
    declared: usize,
    v6: bool,
    out: &mut Vec<Decoded>,
) {
    if !header_present(8, seg, declared, out) {
        return;
    }
    let complete = seg.len() >= declared;
    let checksum = if cx.cfg.ignore_checksums || !complete {
        Checksum::Unchecked
    } else if v6 {
        verdict(checksum::verify_pseudo(
            &info.src, &info.dst, info.proto, seg,
        ))
    } else {
        verdict(checksum::verify(seg))
    };
    let m = IcmpMeta {
        v6,
        icmp_type: seg[0],
        code: seg[1],
        len: declared as u32,
        complete,
        checksum,
    };
    push(cx, info, Transport::Icmp(m), out);
}

/// Any other protocol: an `unknown_transport` connection, ports 0/0.
pub(crate) fn other(cx: &Cx, info: &IpInfo, out: &mut Vec<Decoded>) {
    push(cx, info, Transport::Other, out);
}

fn verdict(good: bool) -> Checksum {
    if good {
        Checksum::Good
    } else {
        Checksum::Bad
    }
}

#[cfg(test)]
mod tests {
    use quartet_wire::Addr;

    use super::window_scale;
    use crate::build::*;
    use crate::testutil::*;
    use crate::{Checksum, TcpHeaderStatus};

    const RAW: u32 = 101;

    fn v4(proto: u8) -> Ipv4Spec {
        Ipv4Spec {
            proto,
            ..Ipv4Spec::default()
        }
    }

    fn v4_tcp(s: &TcpSpec) -> Vec<u8> {
        let ip = v4(6);
        ipv4_with(&ip, &tcp(&ip.src_addr(), &ip.dst_addr(), s))
    }

    #[test]
    fn tcp_fields_and_lengths() {
        let s = TcpSpec {
            sport: 443,
            dport: 51000,
            seq: 0xfffffff0,
            ack: 7,
            flags: 0x18,
            window: 512,
            options: vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
            payload: vec![0x61; 100],
        };
        let m = packet(&run(RAW, &v4_tcp(&s)));
        let t = as_tcp(&m);
        assert_eq!(
            (t.sport, t.dport, t.seq, t.ack, t.flags, t.window),
            (443, 51000, 0xfffffff0, 7, 0x18, 512)
        );
        assert_eq!(
            (t.payload_len, t.payload_caplen, t.window_scale),
            (100, 100, None)
        );
        assert_eq!(
            (t.header_status, t.checksum),
            (TcpHeaderStatus::Ok, Checksum::Good)
        );
        assert_eq!((m.ip_len, m.ip_proto), (152, 6));
    }

    #[test]
    fn tcp_header_length_verdicts() {
        let mut p = v4_tcp(&TcpSpec {
            payload: vec![1; 8],
            ..TcpSpec::default()
        });
        p[32] = 0x40; // data offset 4
        let t = as_tcp(&packet(&run_with(&IGNORE, RAW, p.len() as u32, &p)));
        assert_eq!(t.header_status, TcpHeaderStatus::BadHeaderLen);
        p[32] = 0xf0; // 60-byte header in a 28-byte segment
        let t = as_tcp(&packet(&run_with(&IGNORE, RAW, p.len() as u32, &p)));
        assert_eq!(
            (t.header_status, t.sport),
            (TcpHeaderStatus::Truncated, 1234)
        );
        // Options present but cut by the snaplen.
        let p = v4_tcp(&TcpSpec {
            options: vec![2, 4, 5, 0xb4],
            ..TcpSpec::default()
        });
        let t = as_tcp(&packet(&run_with(&C, RAW, p.len() as u32, &p[..42])));
        assert_eq!(t.header_status, TcpHeaderStatus::Truncated);
    }

    #[test]
    fn minimal_header_checks() {
        for (proto, min) in [(6u8, 20usize), (17, 8), (1, 8), (58, 8)] {
            let ip = v4(proto);
            // The IP header declares fewer bytes than the minimal header.
            let p = ipv4_with(&ip, &vec![0; min - 1]);
            assert_eq!(stopped(&run(RAW, &p)), "truncated_header", "proto {proto}");
            // Declared but not captured.
            let p = ipv4_with(&ip, &vec![0; min + 4]);
            let v = run_with(&C, RAW, p.len() as u32, &p[..20 + min - 1]);
            assert_eq!(stopped(&v), "internally_truncated_header", "proto {proto}");
        }
    }

    #[test]
    fn tcp_checksums() {
        let s = TcpSpec {
            payload: b"hello".to_vec(),
            ..TcpSpec::default()
        };
        let mut p = v4_tcp(&s);
        let n = p.len();
        p[n - 1] ^= 1;
        assert_eq!(as_tcp(&packet(&run(RAW, &p))).checksum, Checksum::Bad);
        let t = as_tcp(&packet(&run_with(&IGNORE, RAW, n as u32, &p)));
        assert_eq!(t.checksum, Checksum::Unchecked);
        let t = as_tcp(&packet(&run_with(&C, RAW, n as u32, &p[..n - 1])));
        assert_eq!(
            (t.payload_len, t.payload_caplen, t.checksum),
            (5, 4, Checksum::Unchecked)
        );

        let (src, dst) = (Addr::v6(V6_SRC), Addr::v6(V6_DST));
        let mut p = ipv6(V6_SRC, V6_DST, 6, &tcp(&src, &dst, &s));
        assert_eq!(as_tcp(&packet(&run(RAW, &p))).checksum, Checksum::Good);
        p[45] ^= 0x80;
        assert_eq!(as_tcp(&packet(&run(RAW, &p))).checksum, Checksum::Bad);
    }

    #[test]
    fn udp_fields_and_checksums() {
        let ip = v4(17);
        let (s, d) = (ip.src_addr(), ip.dst_addr());
        let payload: Vec<u8> = (0..20).collect();
        let mut p = ipv4_with(&ip, &udp(&s, &d, 5353, 53, &payload));
        let u = as_udp(&packet(&run(RAW, &p)));
        assert_eq!(
            (u.sport, u.dport, u.udp_len, u.payload_len, u.payload_caplen),
            (5353, 53, 28, 20, 20)
        );
        assert_eq!(u.head, <[u8; 16]>::try_from(&payload[..16]).unwrap());
        assert_eq!(u.checksum, Checksum::Good);
        // Snaplen: not verified, and the head is zero-padded.
        let u = as_udp(&packet(&run_with(&C, RAW, p.len() as u32, &p[..31])));
        assert_eq!(
            (u.payload_caplen, u.checksum, u.head[2], u.head[3]),
            (3, Checksum::Unchecked, 2, 0)
        );
        p[40] ^= 0xff;
        assert_eq!(as_udp(&packet(&run(RAW, &p))).checksum, Checksum::Bad);
        p[26..28].copy_from_slice(&[0, 0]); // IPv4: zero means no checksum
        assert_eq!(as_udp(&packet(&run(RAW, &p))).checksum, Checksum::Unchecked);
        // The header field is reported as is.
        p[24..26].copy_from_slice(&99u16.to_be_bytes());
        assert_eq!(as_udp(&packet(&run(RAW, &p))).udp_len, 99);

        let (s6, d6) = (Addr::v6(V6_SRC), Addr::v6(V6_DST));
        let mut p = ipv6(V6_SRC, V6_DST, 17, &udp(&s6, &d6, 1, 2, &payload));
        assert_eq!(as_udp(&packet(&run(RAW, &p))).checksum, Checksum::Good);
        p[46..48].copy_from_slice(&[0, 0]); // IPv6: zero is bad
        assert_eq!(as_udp(&packet(&run(RAW, &p))).checksum, Checksum::Bad);
    }

    #[test]
    fn vxlan_zero_checksum_is_accepted() {
        let ip = v4(17);
        let (s, d) = (ip.src_addr(), ip.dst_addr());
        let mut inner = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        inner.extend(ethernet(MAC_B, MAC_A, 0x0800, &[0x45; 20]));
        let zero = |sport: u16, dport: u16, inner: &[u8]| {
            let mut seg = udp(&s, &d, sport, dport, inner);
            seg[6..8].copy_from_slice(&[0, 0]);
            ipv6(V6_SRC, V6_DST, 17, &seg)
        };
        let u = as_udp(&first(&run(RAW, &zero(40000, 4789, &inner))));
        assert_eq!(u.checksum, Checksum::Unchecked);
        // Only on the destination port, with the I flag, and long enough.
        for (sport, dport, flag, len) in [
            (4789, 40000, 0x08, 42),
            (1, 4789, 0, 42),
            (1, 4789, 0x08, 22),
        ] {
            let mut i = inner.clone();
            i[0] = flag;
            i.truncate(len - 8);
            let u = as_udp(&first(&run(RAW, &zero(sport, dport, &i))));
            assert_eq!(u.checksum, Checksum::Bad, "{sport} {dport} {flag} {len}");
        }
        // A non-zero VXLAN checksum is still verified.
        let seg = udp(&Addr::v6(V6_SRC), &Addr::v6(V6_DST), 1, 4789, &inner);
        let u = as_udp(&first(&run(RAW, &ipv6(V6_SRC, V6_DST, 17, &seg))));
        assert_eq!(u.checksum, Checksum::Good);
    }

    #[test]
    fn icmp_checksums_and_completeness() {
        let mut p = ipv4(1, &icmp4(8, 0, &[9; 20]));
        let m = packet(&run(RAW, &p));
        let i = as_icmp(&m);
        assert_eq!(
            (i.v6, i.icmp_type, i.code, i.len, i.complete),
            (false, 8, 0, 28, true)
        );
        assert_eq!(i.checksum, Checksum::Good);
        let i = as_icmp(&packet(&run_with(&C, RAW, p.len() as u32, &p[..30])));
        assert_eq!(
            (i.len, i.complete, i.checksum),
            (28, false, Checksum::Unchecked)
        );
        p[30] ^= 1;
        assert_eq!(as_icmp(&packet(&run(RAW, &p))).checksum, Checksum::Bad);
        let i = as_icmp(&packet(&run_with(&IGNORE, RAW, p.len() as u32, &p)));
        assert_eq!(i.checksum, Checksum::Unchecked);

        let (s, d) = (Addr::v6(V6_SRC), Addr::v6(V6_DST));
        let mut p = ipv6(V6_SRC, V6_DST, 58, &icmp6(&s, &d, 129, 0, &[1, 2, 3]));
        let i = as_icmp(&packet(&run(RAW, &p)));
        assert_eq!(
            (i.v6, i.icmp_type, i.len, i.checksum),
            (true, 129, 11, Checksum::Good)
        );
        p[8] ^= 1; // another source address breaks the pseudo-header sum
        assert_eq!(as_icmp(&packet(&run(RAW, &p))).checksum, Checksum::Bad);
    }

    #[test]
    fn window_scale_option() {
        assert_eq!(window_scale(&[2, 4, 5, 0xb4, 1, 3, 3, 14]), Some(14));
        assert_eq!(window_scale(&[1, 1, 3, 3, 2, 0]), Some(2));
        assert_eq!(window_scale(&[0, 3, 3, 2]), None); // after end of list
        assert_eq!(window_scale(&[3, 2, 7, 0]), None); // too short
        assert_eq!(window_scale(&[4, 0, 3, 3, 2]), None); // zero length stops
        assert_eq!(window_scale(&[3, 3]), None); // does not fit
        assert_eq!(window_scale(&[]), None);
    }
}
