//! Stateless decoding of one captured frame into owned, fixed-size packet
//! summaries (`PacketMeta`) or named weirds.
//!
//! Packet bytes never leave this crate: everything the tracker needs is
//! copied into `PacketMeta` (addresses, ports, flags, sequence numbers,
//! lengths, checksum verdict, layer-2 details). The decoder keeps no state
//! between frames; IP fragments leave as owned `Fragment` values for the
//! tracker's defragmenter, which hands complete datagrams back to
//! [`decode_reassembled`].
//!
//! Layers: [`link`] (link type → first IP header), `ip` (IPv4/IPv6 checks,
//! extension headers, fragments, protocol dispatch), `transport` (TCP, UDP,
//! ICMP summaries and checksums). Every read is length-checked; no input
//! can make the decoder panic. The behaviour follows Zeek as described in
//! `zeek-conn-semantics.md` §10–§12; odd packets become Zeek-named weirds.
#![forbid(unsafe_code)]

#[cfg(any(test, feature = "testkit"))]
pub mod build;
mod checksum;
mod ip;
pub mod link;
mod meta;
mod peek;
mod transport;
mod tunnel;
pub mod weird;

pub use meta::*;
pub use peek::{decode_peeked, peek, peek_verified, FlowPeek};
pub use tunnel::UdpTunnel;
pub use weird::Weird;

use quartet_wire::Timestamp;

/// Decoder options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeConfig {
    /// Zeek's `-C`: verify no checksums, and accept IPv4 packets whose total
    /// length is 0 (TSO) using the captured length.
    pub ignore_checksums: bool,
}

/// Decodes one frame and appends what it turned into to `out` (normally
/// exactly one item; a UDP tunnel adds the inner packet's items after the
/// outer packet; see [`Decoded`]). `wire_len` is the frame's length on
/// the wire, `data` the captured bytes. Does not allocate unless `out` has
/// to grow or the frame is an IP fragment.
pub fn decode(
    cfg: &DecodeConfig,
    ts: Timestamp,
    linktype: u32,
    wire_len: u32,
    data: &[u8],
    out: &mut Vec<Decoded>,
) {
    // The common frame in one pass; everything else layer by layer.
    peek::decode_peeked(cfg, ts, linktype, wire_len, data, None, out);
}

/// [`decode`] without its one-pass path for the common frame: every frame
/// layer by layer. The same result; public for tests that compare the two.
#[doc(hidden)]
pub fn decode_layered(
    cfg: &DecodeConfig,
    ts: Timestamp,
    linktype: u32,
    wire_len: u32,
    data: &[u8],
    out: &mut Vec<Decoded>,
) {
    let mut cx = Cx {
        cfg,
        ts,
        wire_len,
        caplen: data.len(),
        l2: L2Info::default(),
        encap: EncapStack::default(),
        reassembled: false,
        teredo: false,
    };
    link::frame(&mut cx, linktype, data, out);
}

/// Decodes a datagram reassembled from fragments: `head` is the fragment at
/// offset 0 (its addresses, header length, layer-2 details and
/// encapsulation are used), `payload` the whole reassembled payload, `ts`
/// the time of the fragment that completed it. Appends what [`decode`]
/// would for the unfragmented packet (one item, or a tunnel's items). The IPv4 header checksum is not
/// verified again (each fragment's was), and `ip_len` is
/// `head.header.len() + payload.len()`.
pub fn decode_reassembled(
    cfg: &DecodeConfig,
    ts: Timestamp,
    head: &Fragment,
    payload: &[u8],
    out: &mut Vec<Decoded>,
) {
    let mut cx = Cx {
        cfg,
        ts,
        wire_len: u32::MAX,
        caplen: usize::MAX,
        l2: head.l2,
        encap: head.encap,
        reassembled: true,
        teredo: false,
    };
    ip::reassembled(&mut cx, head, payload, out);
}

/// Per-frame decoding context: the options, the frame's time and lengths,
/// and the link-layer details gathered on the way to the IP header.
pub(crate) struct Cx<'a> {
    pub cfg: &'a DecodeConfig,
    pub ts: Timestamp,
    pub wire_len: u32,
    /// Captured length of the whole frame (Zeek's `cap_len`).
    pub caplen: usize,
    pub l2: L2Info,
    pub encap: EncapStack,
    /// Decoding a reassembled datagram (no wire/snaplen checks apply).
    pub reassembled: bool,
    /// The frame is the inner packet of a Teredo tunnel: an IPv6 header
    /// with no next header is a bubble, not `ipv6_no_next`.
    pub teredo: bool,
}

pub(crate) fn weird(out: &mut Vec<Decoded>, name: &'static str) {
    out.push(Decoded::Weird(Weird::new(name)));
}

pub(crate) fn notice(out: &mut Vec<Decoded>, name: &'static str) {
    out.push(Decoded::Notice(Weird::new(name)));
}

/// Big-endian u16 at `i`; callers check `i + 2 <= d.len()` first.
#[inline]
pub(crate) fn be16(d: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([d[i], d[i + 1]])
}

/// Big-endian u32 at `i`; callers check `i + 4 <= d.len()` first.
#[inline]
pub(crate) fn be32(d: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]])
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    pub const C: DecodeConfig = DecodeConfig {
        ignore_checksums: false,
    };
    pub const IGNORE: DecodeConfig = DecodeConfig {
        ignore_checksums: true,
    };

    /// Decodes a fully captured frame.
    pub fn run(linktype: u32, frame: &[u8]) -> Vec<Decoded> {
        run_with(&C, linktype, frame.len() as u32, frame)
    }

    pub fn run_with(
        cfg: &DecodeConfig,
        linktype: u32,
        wire_len: u32,
        frame: &[u8],
    ) -> Vec<Decoded> {
        let mut out = Vec::new();
        decode(
            cfg,
            Timestamp(1_000_000),
            linktype,
            wire_len,
            frame,
            &mut out,
        );
        out
    }

    /// The single packet a frame decoded to.
    pub fn packet(v: &[Decoded]) -> PacketMeta {
        match v {
            [Decoded::Packet(m)] => *m,
            _ => panic!("expected one packet, got {v:?}"),
        }
    }

    /// The first item, a packet (a UDP tunnel's outer packet).
    pub fn first(v: &[Decoded]) -> PacketMeta {
        match v.first() {
            Some(Decoded::Packet(m)) => *m,
            _ => panic!("expected a packet first, got {v:?}"),
        }
    }

    /// The weird that stopped decoding (the only item).
    pub fn stopped(v: &[Decoded]) -> &'static str {
        match v {
            [Decoded::Weird(w)] => w.name,
            _ => panic!("expected one weird, got {v:?}"),
        }
    }

    pub fn as_tcp(m: &PacketMeta) -> TcpMeta {
        match m.transport {
            Transport::Tcp(t) => t,
            t => panic!("expected TCP, got {t:?}"),
        }
    }

    pub fn as_udp(m: &PacketMeta) -> UdpMeta {
        match m.transport {
            Transport::Udp(u) => u,
            t => panic!("expected UDP, got {t:?}"),
        }
    }

    pub fn as_icmp(m: &PacketMeta) -> IcmpMeta {
        match m.transport {
            Transport::Icmp(i) => i,
            t => panic!("expected ICMP, got {t:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Whole-frame robustness: no input may panic, and every frame yields a
    //! result that is not just a notice.
    use super::build::*;
    use super::link::linktype;
    use super::testutil::*;
    use super::*;
    use quartet_wire::Addr;

    fn frames() -> Vec<(u32, Vec<u8>)> {
        let ip = Ipv4Spec::default();
        let (s4, d4) = (ip.src_addr(), ip.dst_addr());
        let syn = eth_tcp_syn();
        let v4_tcp = syn[14..].to_vec();
        let v4_udp = ipv4(17, &udp(&s4, &d4, 53, 53, b"0123456789abcdefXYZ"));
        let v4_icmp = ipv4(1, &icmp4(8, 0, b"ping"));
        let (s6, d6) = (Addr::v6(V6_SRC), Addr::v6(V6_DST));
        let mut final_dst = V6_DST;
        final_dst[15] = 9;
        let t6 = tcp(
            &s6,
            &Addr::v6(final_dst),
            &TcpSpec {
                flags: 0x12,
                ..TcpSpec::default()
            },
        );
        let mut chain = ext(60, &[]);
        chain.extend(routing(60, 0, 1, &[final_dst]));
        chain.extend(home_address(6, V6_SRC));
        chain.extend(&t6);
        let v6_ext = ipv6(V6_SRC, V6_DST, 0, &chain);
        let v6_icmp = ipv6(V6_SRC, V6_DST, 58, &icmp6(&s6, &d6, 128, 0, b"x"));
        let mut v6_frag = frag6(17, 0, true, 7);
        v6_frag.extend(udp(&s6, &d6, 1, 2, &[0; 16]));
        let v6_frag = ipv6(V6_SRC, V6_DST, 44, &v6_frag);
        let ip_opts = ipv4_with(
            &Ipv4Spec {
                options: vec![1, 1, 1, 0],
                ..ip.clone()
            },
            &syn[34..],
        );

        let mut out = vec![(linktype::ETHERNET, syn.clone())];
        for p in [
            &v4_tcp, &v4_udp, &v4_icmp, &v6_ext, &v6_icmp, &v6_frag, &ip_opts,
        ] {
            out.push((12, p.clone()));
            let et = if p[0] >> 4 == 6 { 0x86dd } else { 0x0800 };
            out.push((linktype::ETHERNET, ethernet(MAC_B, MAC_A, et, p)));
        }
        let mut qinq = Vec::new();
        qinq.extend(vlan_tag(10, 0x8100));
        qinq.extend(vlan_tag(20, 0x8847));
        qinq.extend([0, 0, 0x01, 0x40]); // MPLS bottom of stack
        qinq.extend(&v4_udp);
        out.push((linktype::ETHERNET, ethernet(MAC_B, MAC_A, 0x88a8, &qinq)));
        let mut pppoe = vec![0x11, 0, 0, 1];
        pppoe.extend(((v4_tcp.len() + 2) as u16).to_be_bytes());
        pppoe.extend([0, 0x21]);
        pppoe.extend(&v4_tcp);
        out.push((linktype::ETHERNET, ethernet(MAC_B, MAC_A, 0x8864, &pppoe)));
        let mut wifi = vec![0, 0, 8, 0, 0, 0, 0, 0]; // radiotap, 8 bytes
        wifi.extend([0x88, 0x01, 0, 0]);
        wifi.extend(MAC_B);
        wifi.extend(MAC_A);
        wifi.extend([0xcc; 6]);
        wifi.extend([0, 0, 0x80, 0]); // sequence control, QoS with A-MSDU
        for _ in 0..2 {
            let mut sub = vec![0xaa, 0xaa, 3, 0, 0, 0, 0x08, 0x00];
            sub.extend(&v4_icmp);
            wifi.extend(MAC_B);
            wifi.extend(MAC_A);
            wifi.extend((sub.len() as u16).to_be_bytes());
            wifi.extend(&sub);
            wifi.extend(vec![0; sub.len() % 4]);
        }
        out.push((linktype::IEEE802_11_RADIO, wifi));
        let mut nflog = vec![2, 0, 0, 0, 8, 0, 1, 0, 0, 0, 0, 0];
        nflog.extend(((v4_tcp.len() + 4) as u16).to_le_bytes());
        nflog.extend([9, 0]);
        nflog.extend(&v4_tcp);
        out.push((linktype::NFLOG, nflog));
        let mut sll = vec![0, 0, 0, 1, 0, 6];
        sll.extend(MAC_A);
        sll.extend([0, 0, 0x86, 0xdd]);
        sll.extend(&v6_ext);
        out.push((linktype::LINUX_SLL, sll));
        for f in tunnel_frames(&v4_tcp, &v6_icmp) {
            out.push((linktype::ETHERNET, f));
        }
        for lt in [0, 9, 10, 50, 105, 127, 239, 276, 113] {
            out.push((lt, syn.clone()));
        }
        out
    }

    /// One Ethernet frame per tunnel type around `v4` (IPv4) / `v6`.
    fn tunnel_frames(v4: &[u8], v6: &[u8]) -> Vec<Vec<u8>> {
        let outer = Ipv4Spec {
            src: [1, 1, 1, 1],
            dst: [2, 2, 2, 2],
            ..Ipv4Spec::default()
        };
        let (a, b) = (outer.src_addr(), outer.dst_addr());
        let ip = |proto: u8, p: &[u8]| {
            let spec = Ipv4Spec {
                proto,
                ..outer.clone()
            };
            ethernet(MAC_B, MAC_A, 0x0800, &ipv4_with(&spec, p))
        };
        let over_udp = |dport: u16, p: &[u8]| ip(17, &udp(&a, &b, 40000, dport, p));
        let eth = ethernet([0x0a; 6], [0x0b; 6], 0x0800, v4);
        let mut out = vec![
            ip(4, v4),
            ip(41, v6),
            ip(47, &[&[0xb0, 0, 0x08, 0][..], &[1; 12], v4].concat()),
            ip(
                47,
                &[&[0x10, 0, 0x88, 0xbe, 0, 0, 0, 1][..], &[2; 8], &eth].concat(),
            ),
            ip(
                47,
                &[
                    &[0, 0, 0x22, 0xeb][..],
                    &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                    &[3; 8],
                    &eth,
                ]
                .concat(),
            ),
            ip(
                47,
                &[
                    &[0x30, 0x81, 0x88, 0x0b][..],
                    &[0; 12],
                    &[0xff, 3, 0, 0x21],
                    v4,
                ]
                .concat(),
            ),
            over_udp(4754, &[&[0, 0, 0x65, 0x58][..], &eth].concat()),
            over_udp(4789, &[&[8, 0, 0, 0, 0, 0, 1, 0][..], &eth].concat()),
            over_udp(
                6081,
                &[&[1, 0, 0x08, 0, 0, 0, 1, 0, 9, 9, 9, 9][..], v4].concat(),
            ),
            over_udp(3544, &[&[0, 0, 1, 2, 3, 4, 5, 6][..], v6].concat()),
            over_udp(
                2152,
                &[&[0x32, 0xff, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0][..], v4].concat(),
            ),
        ];
        let mut ayiya = vec![0x11, 0x52, 0x11, 4, 0, 0, 0, 1, 7, 7];
        ayiya.extend([5; 20]);
        ayiya.extend(v4);
        out.push(over_udp(5072, &ayiya));
        // Nested: IP-in-IP inside VXLAN.
        let inner = ipv4_with(
            &Ipv4Spec {
                proto: 4,
                ..outer.clone()
            },
            v4,
        );
        let eth2 = ethernet([0x0a; 6], [0x0b; 6], 0x0800, &inner);
        out.push(over_udp(
            4789,
            &[&[8, 0, 0, 0, 0, 0, 1, 0][..], &eth2].concat(),
        ));
        out
    }

    fn check(lt: u32, wire: u32, f: &[u8], cfg: &DecodeConfig) {
        let v = run_with(cfg, lt, wire, f);
        let mut layered = Vec::new();
        decode_layered(cfg, Timestamp(1_000_000), lt, wire, f, &mut layered);
        assert_eq!(v, layered, "linktype {lt} len {}", f.len());
        assert!(
            v.iter().any(|d| !matches!(d, Decoded::Notice(_))),
            "linktype {lt} len {}: {v:?}",
            f.len()
        );
        check_peek(lt, wire, f, cfg, &v);
    }

    /// A frame `peek` knows decodes to one plain TCP or UDP packet with the
    /// peeked key.
    fn check_peek(lt: u32, wire: u32, f: &[u8], cfg: &DecodeConfig, v: &[Decoded]) {
        let Some(k) = peek(cfg, lt, wire, f) else {
            let mut none = Vec::new();
            assert!(!peek::decode_common(
                cfg,
                Timestamp(0),
                lt,
                wire,
                f,
                None,
                &mut none
            ));
            return;
        };
        let m = match v {
            [Decoded::Packet(m)] => m,
            _ => panic!("peek {k:?} but decode gave {v:?} (linktype {lt})"),
        };
        let ports = match m.transport {
            Transport::Tcp(t) => (t.sport, t.dport),
            Transport::Udp(u) => {
                assert_eq!(u.tunnel, None);
                (u.sport, u.dport)
            }
            t => panic!("peek {k:?} but transport {t:?}"),
        };
        assert_eq!(
            (m.src, m.dst, ports, m.ip_proto),
            (k.src, k.dst, (k.sport, k.dport), k.proto)
        );
        assert!(m.encap.is_empty());
        assert_eq!(m.ts, Timestamp(1_000_000));
        // The same frame decoded elsewhere with the verdict peek_verified
        // found gives the same packet; a wrong verdict shows wherever the
        // decoder uses one, so the verdict is taken, not recomputed.
        let (k2, sum) = peek_verified(cfg, lt, wire, f).expect("peek took it");
        assert_eq!(k2, k);
        assert_eq!(sum.is_none(), cfg.ignore_checksums);
        let mut again = Vec::new();
        decode_peeked(cfg, m.ts, lt, wire, f, sum, &mut again);
        assert_eq!(again, v, "decode_peeked with the verdict");
        let checked = match &m.transport {
            Transport::Tcp(t) => t.checksum,
            Transport::Udp(u) => u.checksum,
            _ => Checksum::Unchecked,
        };
        if let (Some(good), false) = (sum, checked == Checksum::Unchecked) {
            assert_eq!(checked == Checksum::Good, good);
            let mut wrong = Vec::new();
            decode_peeked(cfg, m.ts, lt, wire, f, Some(!good), &mut wrong);
            assert_ne!(wrong, v, "a wrong verdict must show");
        }
    }

    /// Common frames of every kind the one-pass path takes, mutated in
    /// their headers and cut short: `decode` (through `check`) must give
    /// what the layered decoder gives.
    #[test]
    fn the_one_pass_path_matches_the_layers() {
        let ip = Ipv4Spec::default();
        let (s4, d4) = (ip.src_addr(), ip.dst_addr());
        let (s6, d6) = (Addr::v6(V6_SRC), Addr::v6(V6_DST));
        let seg = |s: &Addr, d: &Addr, options: Vec<u8>, payload: usize| {
            tcp(
                s,
                d,
                &TcpSpec {
                    flags: 0x12,
                    options,
                    payload: vec![0x5a; payload],
                    ..TcpSpec::default()
                },
            )
        };
        let wscale = vec![2, 4, 5, 0xb4, 1, 3, 3, 7];
        let mut ips = vec![
            ipv4(6, &seg(&s4, &d4, wscale.clone(), 0)),
            ipv4(
                6,
                &seg(&s4, &d4, vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], 300),
            ),
            ipv6(V6_SRC, V6_DST, 6, &seg(&s6, &d6, wscale, 40)),
        ];
        for n in [0, 3, 16, 40] {
            ips.push(ipv4(17, &udp(&s4, &d4, 5353, 53, &vec![0x11; n])));
            ips.push(ipv6(
                V6_SRC,
                V6_DST,
                17,
                &udp(&s6, &d6, 123, 123, &vec![7; n]),
            ));
        }
        let mut frames = Vec::new();
        for p in &ips {
            let et = if p[0] >> 4 == 6 { 0x86dd } else { 0x0800 };
            frames.push((linktype::ETHERNET, ethernet(MAC_B, MAC_A, et, p)));
            let tagged = [&vlan_tag(42, et)[..], p].concat();
            frames.push((linktype::ETHERNET, ethernet([0; 6], MAC_A, 0x8100, &tagged)));
            // 802.1ad and old-style QinQ: an outer tag alone, and outer
            // plus inner 802.1Q.
            let double = [&vlan_tag(7, 0x8100)[..], &tagged].concat();
            for outer in [0x88a8, 0x9100, 0x8100] {
                frames.push((linktype::ETHERNET, ethernet(MAC_B, MAC_A, outer, &tagged)));
                frames.push((linktype::ETHERNET, ethernet(MAC_B, MAC_A, outer, &double)));
            }
            // MPLS: one label, two labels, and labels after a VLAN tag.
            let one = [&[0x00, 0x01, 0x01, 64][..], p].concat();
            let two = [&[0x00, 0x02, 0x00, 64][..], &one].concat();
            frames.push((linktype::ETHERNET, ethernet(MAC_B, MAC_A, 0x8847, &one)));
            frames.push((linktype::ETHERNET, ethernet(MAC_B, MAC_A, 0x8847, &two)));
            let mpls_tagged = [&vlan_tag(5, 0x8847)[..], &two].concat();
            frames.push((
                linktype::ETHERNET,
                ethernet(MAC_B, MAC_A, 0x8100, &mpls_tagged),
            ));
            frames.push((101, p.clone()));
            // Linux cooked captures (SLL, SLL2), source address only.
            let mut sll = vec![0, 0, 0, 1, 0, 6];
            sll.extend(MAC_A);
            sll.extend([0, 0]);
            sll.extend(et.to_be_bytes());
            frames.push((linktype::LINUX_SLL, [&sll[..], p].concat()));
            let mut sll2 = et.to_be_bytes().to_vec();
            sll2.extend([0, 0, 0, 0, 0, 2, 0, 1, 0, 6]);
            sll2.extend(MAC_B);
            sll2.extend([0, 0]);
            frames.push((linktype::LINUX_SLL2, [&sll2[..], p].concat()));
        }
        let mut rng = quartet_testkit::noise::XorShift::new(0x2545_f491);
        let mut rnd = move || rng.next_u32();
        for (lt, f) in frames {
            for cfg in [C, IGNORE] {
                assert!(peek(&cfg, lt, f.len() as u32, &f).is_some());
                check(lt, f.len() as u32, &f, &cfg);
            }
            let head = f.len().min(80);
            for _ in 0..2000 {
                let mut g = f.clone();
                for _ in 0..1 + rnd() % 3 {
                    let i = rnd() as usize % head;
                    g[i] = rnd() as u8;
                }
                let n = if rnd() % 4 == 0 {
                    rnd() as usize % (g.len() + 1)
                } else {
                    g.len()
                };
                let wire = [g.len(), n, n + rnd() as usize % 64][rnd() as usize % 3] as u32;
                let cfg = if rnd() % 2 == 0 { C } else { IGNORE };
                check(lt, wire, &g[..n], &cfg);
            }
        }
    }

    #[test]
    fn common_frames_are_peeked() {
        let ip = Ipv4Spec::default();
        let (s4, d4) = (ip.src_addr(), ip.dst_addr());
        let v4_udp = ipv4(17, &udp(&s4, &d4, 53, 53, b"0123456789abcdefXYZ"));
        let (s6, d6) = (Addr::v6(V6_SRC), Addr::v6(V6_DST));
        let v6_tcp = ipv6(V6_SRC, V6_DST, 6, &tcp(&s6, &d6, &TcpSpec::default()));
        let tagged = [&vlan_tag(7, 0x86dd)[..], &v6_tcp].concat();
        for (lt, f) in [
            (linktype::ETHERNET, eth_tcp_syn()),
            (linktype::ETHERNET, ethernet(MAC_B, MAC_A, 0x0800, &v4_udp)),
            (linktype::ETHERNET, ethernet(MAC_B, MAC_A, 0x8100, &tagged)),
            (101, v6_tcp.clone()),
        ] {
            for cfg in [C, IGNORE] {
                assert!(peek(&cfg, lt, f.len() as u32, &f).is_some(), "{lt}");
                check(lt, f.len() as u32, &f, &cfg);
            }
        }
        // A tunnel port or a fragment is left to the full decode.
        let vx = ipv4(17, &udp(&s4, &d4, 1, 4789, &[0; 32]));
        assert_eq!(peek(&C, 101, vx.len() as u32, &vx), None);
        let frag = ipv4_with(
            &Ipv4Spec {
                frag: 0x2000,
                ..ip.clone()
            },
            &[0; 24],
        );
        assert_eq!(peek(&C, 101, frag.len() as u32, &frag), None);
    }

    #[test]
    fn the_seed_frames_are_valid() {
        for (lt, f) in frames() {
            let v = run(lt, &f);
            let ok = v
                .iter()
                .all(|d| matches!(d, Decoded::Packet(_) | Decoded::Fragment(_)));
            // The last nine are the Ethernet SYN read under other link types.
            assert!(
                ok || ![1, 12, 113, 127, 239].contains(&lt) || f == eth_tcp_syn(),
                "{lt}: {v:?}"
            );
        }
    }

    #[test]
    fn every_prefix_decodes_without_panic() {
        for (lt, f) in frames() {
            for n in 0..=f.len() {
                let p = &f[..n];
                for cfg in [C, IGNORE] {
                    check(lt, n as u32, p, &cfg);
                    check(lt, f.len() as u32, p, &cfg);
                    check(lt, 0, p, &cfg);
                }
            }
        }
    }

    #[test]
    fn mutated_frames_decode_without_panic() {
        let mut rng = quartet_testkit::noise::XorShift::new(0x9e37_79b9);
        let mut rnd = move || rng.next_u32();
        for (lt, f) in frames() {
            for _ in 0..3000 {
                let mut g = f.clone();
                for _ in 0..1 + rnd() % 4 {
                    let i = rnd() as usize % g.len();
                    g[i] = rnd() as u8;
                }
                let n = rnd() as usize % (g.len() + 1);
                let cfg = if rnd() % 2 == 0 { C } else { IGNORE };
                check(lt, g.len() as u32, &g[..n], &cfg);
                for other in [0, 1, 9, 12, 105, 113, 127, 239, 276] {
                    check(other, g.len() as u32, &g, &cfg);
                }
            }
        }
    }

    #[test]
    fn the_syn_frame_is_one_packet() {
        let m = packet(&run(linktype::ETHERNET, &eth_tcp_syn()));
        let t = as_tcp(&m);
        assert_eq!((t.sport, t.dport, t.flags, t.seq), (1234, 80, 0x02, 1000));
        assert_eq!(t.window_scale, Some(7));
        assert_eq!(t.checksum, Checksum::Good);
        assert_eq!(m.ip_len, 48);
        assert_eq!(m.ts, Timestamp(1_000_000));
    }
}
