//! Link layers: from the capture's link type down to the first IP header
//! (Zeek §12).
//!
//! Owns Ethernet (with Cisco FabricPath, 802.3 LLC/SNAP), VLAN/QinQ, MPLS,
//! PBB, VNTag, PPPoE, PPP, PPP serial, DLT_NULL, Linux SLL/SLL2, NFLOG,
//! radiotap + 802.11 (A-MSDU included), FDDI and raw IP, and fills
//! [`L2Info`](crate::L2Info) (MAC addresses, VLAN ids) on the way. It never
//! reads IP fields: the IP header is handed to `ip` with its offset in the
//! frame (Zeek's link header length, used by the `truncated_IP_len` check).
//!
//! Every function takes `d`, the captured frame cut at the current layer's
//! end (an 802.3 length field, a PPPoE payload length or an A-MSDU subframe
//! may shorten it), and `off`, where its header starts. Each checks its
//! length once, with Zeek's (sometimes off-by-one strict) comparisons, and
//! names a truncation as Zeek does.

use crate::{be16, ip, notice, weird, Cx, Decoded};

/// Link types with their own decoder; every other value is raw IP.
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const PPP: u32 = 9;
    pub const FDDI: u32 = 10;
    pub const PPP_SERIAL: u32 = 50;
    pub const IEEE802_11: u32 = 105;
    pub const LINUX_SLL: u32 = 113;
    pub const IEEE802_11_RADIO: u32 = 127;
    pub const NFLOG: u32 = 239;
    pub const LINUX_SLL2: u32 = 276;
}

pub(crate) fn frame(cx: &mut Cx, linktype: u32, d: &[u8], out: &mut Vec<Decoded>) {
    match linktype {
        linktype::ETHERNET => ethernet(cx, d, 0, out),
        linktype::NULL => null(cx, d, out),
        linktype::PPP => ppp(cx, d, out),
        linktype::FDDI => fddi(cx, d, out),
        linktype::PPP_SERIAL => ppp_serial(cx, d, out),
        linktype::IEEE802_11 => ieee802_11(cx, d, 0, out),
        linktype::LINUX_SLL => sll(cx, d, out),
        linktype::IEEE802_11_RADIO => radiotap(cx, d, out),
        linktype::NFLOG => nflog(cx, d, out),
        linktype::LINUX_SLL2 => sll2(cx, d, out),
        // DLT_RAW (12, 14), LINKTYPE_RAW (101), DLT_IPV4/IPV6 (228, 229)
        // and every unregistered type: Zeek's root falls back to raw IP.
        _ => ip::ip(cx, d, 0, out),
    }
}

/// The layer whose ethertype (or PPP protocol) is being dispatched; each
/// has its own table in Zeek.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parent {
    Ethernet,
    Vlan,
    VnTag,
    /// SNAP, Linux SLL/SLL2 and 802.11 LLC: IP and ARP only.
    Llc,
}

fn ethertype(cx: &mut Cx, d: &[u8], off: usize, et: u16, from: Parent, out: &mut Vec<Decoded>) {
    use Parent::*;
    match (et, from) {
        (0x0800 | 0x86dd, Ethernet | Vlan | Llc) => ip::ip(cx, d, off, out),
        (0x0806 | 0x8035, Ethernet | Vlan | Llc) => out.push(Decoded::NotIp),
        (0x8100, Ethernet | Vlan | VnTag) | (0x88a8 | 0x9100, Ethernet | VnTag) => {
            vlan(cx, d, off, out)
        }
        (0x8847, Ethernet | Vlan) => mpls(cx, d, off, out),
        (0x88e7, Ethernet | Vlan) => pbb(cx, d, off, out),
        (0x8864, Ethernet | Vlan) => pppoe(cx, d, off, out),
        (0x8926, Ethernet | Vlan) => vntag(cx, d, off, out),
        // PPPoE discovery, LLDP, unknown ethertypes: Zeek reports an
        // unknown protocol, not a weird.
        _ => out.push(Decoded::NotIp),
    }
}

/// A MAC address, or `None` for Zeek's all-zero "no address".
fn mac(b: &[u8]) -> Option<[u8; 6]> {
    let m: [u8; 6] = b.get(..6)?.try_into().ok()?;
    (m != [0; 6]).then_some(m)
}

pub(crate) fn ethernet(cx: &mut Cx, d: &[u8], mut off: usize, out: &mut Vec<Decoded>) {
    let len = d.len().saturating_sub(off);
    if len <= 16 {
        return weird(out, "truncated_ethernet_frame");
    }
    let mut len = len;
    // Cisco FabricPath: a 16-byte outer header before the real one.
    if d[off + 12] == 0x89 && d[off + 13] == 0x03 {
        if len <= 16 + 14 {
            return weird(out, "truncated_link_header_cfp");
        }
        off += 16;
        len -= 16;
    }
    let h = &d[off..off + 14];
    cx.l2.dst = mac(&h[0..6]);
    cx.l2.src = mac(&h[6..12]);
    let et = be16(h, 12);
    if et >= 1536 {
        return ethertype(cx, d, off + 14, et, Parent::Ethernet, out);
    }
    if et <= 1500 {
        // 802.3: the field is the payload length.
        if len - 14 < usize::from(et) {
            return weird(out, "truncated_ethernet_frame");
        }
        return llc(cx, d, off + 14, out);
    }
    weird(out, "undefined_ether_type")
}

/// An 802.2 payload (after an 802.3 length field): SNAP is decoded, Novell
/// raw 802.3 and plain LLC are not analysed further. Needs 2 bytes.
fn llc(cx: &mut Cx, d: &[u8], off: usize, out: &mut Vec<Decoded>) {
    match d.get(off..off + 2) {
        Some([0xaa, 0xaa]) => snap(cx, d, off, out),
        _ => out.push(Decoded::NotIp),
    }
}

fn snap(cx: &mut Cx, d: &[u8], off: usize, out: &mut Vec<Decoded>) {
    let len = d.len().saturating_sub(off);
    if len < 3 {
        return weird(out, "truncated_snap_llc_header");
    }
    // The LLC control field is one byte for unnumbered PDUs, else two.
    let llc_len = if d[off + 2] & 0x03 == 0x03 { 3 } else { 4 };
    if len < llc_len + 5 {
        return weird(out, "truncated_snap_header");
    }
    let s = &d[off + llc_len..off + llc_len + 5];
    if s[..3] != [0, 0, 0] {
        // A vendor OUI: not an ethertype.
        return out.push(Decoded::NotIp);
    }
    ethertype(cx, d, off + llc_len + 5, be16(s, 3), Parent::Llc, out)
}

fn vlan(cx: &mut Cx, d: &[u8], off: usize, out: &mut Vec<Decoded>) {
    let len = d.len().saturating_sub(off);
    if len <= 4 {
        return weird(out, "truncated_VLAN_header");
    }
    let h = &d[off..off + 4];
    let id = be16(h, 0) & 0x0fff;
    if cx.l2.vlan.is_none() {
        cx.l2.vlan = Some(id);
    } else {
        if cx.l2.inner_vlan.is_some() {
            notice(out, "triple_tagged_vlan_unsupported");
        }
        cx.l2.inner_vlan = Some(id);
    }
    let et = be16(h, 2);
    if et >= 1536 {
        return ethertype(cx, d, off + 4, et, Parent::Vlan, out);
    }
    if et <= 1500 {
        if len - 4 < 2 {
            return weird(out, "truncated_VLAN_header");
        }
        // The 802.3 length drops any trailer.
        let end = (off + 4 + usize::from(et)).min(d.len());
        return llc(cx, &d[..end], off + 4, out);
    }
    weird(out, "undefined_vlan_protocol")
}

fn mpls(cx: &mut Cx, d: &[u8], mut off: usize, out: &mut Vec<Decoded>) {
    loop {
        if d.len().saturating_sub(off) <= 4 {
            return weird(out, "truncated_link_header");
        }
        let bottom = d[off + 2] & 0x01 != 0;
        off += 4;
        if bottom {
            // RFC 3032 does not name the payload; Zeek assumes IP.
            return ip::ip(cx, d, off, out);
        }
    }
}

fn pbb(cx: &mut Cx, d: &[u8], off: usize, out: &mut Vec<Decoded>) {
    if d.len().saturating_sub(off) <= 18 {
        return weird(out, "truncated_PBB_header");
    }
    // Skip the I-TAG; a whole customer Ethernet frame follows.
    ethernet(cx, d, off + 4, out)
}

fn vntag(cx: &mut Cx, d: &[u8], off: usize, out: &mut Vec<Decoded>) {
    if d.len().saturating_sub(off) <= 6 {
        return weird(out, "truncated_vntag_header");
    }
    let et = be16(d, off + 4);
    ethertype(cx, d, off + 6, et, Parent::VnTag, out)
}

fn pppoe(cx: &mut Cx, d: &[u8], off: usize, out: &mut Vec<Decoded>) {
    let len = d.len().saturating_sub(off);
    if len <= 8 {
        return weird(out, "truncated_pppoe_header");
    }
    let payload_len = usize::from(be16(d, off + 4));
    let proto = be16(d, off + 6);
    // The session header is 6 bytes; its length covers the PPP protocol.
    if payload_len < len - 6 {
        notice(out, "pppoe_extra_data_after_payload");
    } else if payload_len > len - 6 {
        notice(out, "pppoe_truncated_payload");
    }
    let end = off + 8 + payload_len.saturating_sub(2).min(len - 8);
    ppp_proto(cx, &d[..end], off + 8, proto, false, out)
}

/// PPP protocol numbers: IPv4, IPv6, and (PPP / PPP serial only) MPLS.
fn ppp_proto(cx: &mut Cx, d: &[u8], off: usize, proto: u16, mpls_ok: bool, out: &mut Vec<Decoded>) {
    match proto {
        0x0021 | 0x0057 => ip::ip(cx, d, off, out),
        0x0281 if mpls_ok => mpls(cx, d, off, out),
        _ => out.push(Decoded::NotIp),
    }
}

fn ppp(cx: &mut Cx, d: &[u8], out: &mut Vec<Decoded>) {
    if d.len() <= 2 {
        return weird(out, "truncated_ppp_header");
    }
    if d[0] == 0xff && d[1] == 0x03 {
        // HDLC-like framing (RFC 1662) before the protocol field.
        if d.len() <= 4 {
            return weird(out, "truncated_ppp_hdlc_header");
        }
        return ppp_proto(cx, d, 4, be16(d, 2), true, out);
    }
    ppp_proto(cx, d, 2, be16(d, 0), true, out)
}

fn ppp_serial(cx: &mut Cx, d: &[u8], out: &mut Vec<Decoded>) {
    if d.len() <= 4 {
        return weird(out, "truncated_ppp_serial_header");
    }
    ppp_proto(cx, d, 4, be16(d, 2), true, out)
}

fn null(cx: &mut Cx, d: &[u8], out: &mut Vec<Decoded>) {
    if d.len() <= 4 {
        return weird(out, "null_analyzer_failed");
    }
    // The address family in the capturing host's (little-endian) order.
    match u32::from_le_bytes([d[0], d[1], d[2], d[3]]) {
        2 | 24 | 28 | 30 => ip::ip(cx, d, 4, out),
        _ => out.push(Decoded::NotIp),
    }
}

fn fddi(cx: &mut Cx, d: &[u8], out: &mut Vec<Decoded>) {
    // 13-byte FDDI header plus 8 bytes of LLC/SNAP, skipped unread.
    const HDR: usize = 13 + 8;
    if d.len() <= HDR {
        return weird(out, "FDDI_analyzer_failed");
    }
    ip::ip(cx, d, HDR, out)
}

fn sll(cx: &mut Cx, d: &[u8], out: &mut Vec<Decoded>) {
    const HDR: usize = 16;
    if d.len() <= HDR {
        return weird(out, "truncated_Linux_SLL_header");
    }
    cx.l2.src = mac(&d[6..12]);
    cx.l2.dst = None;
    ethertype(cx, d, HDR, be16(d, 14), Parent::Llc, out)
}

fn sll2(cx: &mut Cx, d: &[u8], out: &mut Vec<Decoded>) {
    const HDR: usize = 20;
    if d.len() <= HDR {
        return weird(out, "truncated_Linux_SLL2_header");
    }
    cx.l2.src = mac(&d[12..18]);
    cx.l2.dst = None;
    ethertype(cx, d, HDR, be16(d, 0), Parent::Llc, out)
}

fn nflog(cx: &mut Cx, d: &[u8], out: &mut Vec<Decoded>) {
    if d.len() <= 4 {
        return weird(out, "truncated_nflog_header");
    }
    let family = d[0];
    if d[1] != 0 {
        return weird(out, "unknown_nflog_version");
    }
    let mut off = 4;
    loop {
        let rem = d.len() - off;
        if rem <= 4 {
            return weird(out, "nflog_no_pcap_payload");
        }
        // TLV length and type are in host order; captures come from
        // little-endian hosts in practice.
        let tlv_len = usize::from(u16::from_le_bytes([d[off], d[off + 1]]));
        let tlv_type = u16::from_le_bytes([d[off + 2], d[off + 3]]);
        if tlv_type == 9 {
            off += 4;
            break;
        }
        if tlv_len < 4 {
            return weird(out, "nflog_bad_tlv_len");
        }
        // TLVs are padded to 4 bytes, not always counted in the length.
        let skip = tlv_len.next_multiple_of(4);
        if skip > rem {
            return weird(out, "nflog_bad_tlv_len");
        }
        off += skip;
    }
    match family {
        2 | 10 => ip::ip(cx, d, off, out),
        _ => out.push(Decoded::NotIp),
    }
}

fn radiotap(cx: &mut Cx, d: &[u8], out: &mut Vec<Decoded>) {
    if d.len() <= 3 {
        return weird(out, "truncated_radiotap_header");
    }
    let rt_len = usize::from(u16::from_le_bytes([d[2], d[3]]));
    if rt_len >= d.len() {
        return weird(out, "truncated_radiotap_header");
    }
    ieee802_11(cx, d, rt_len, out)
}

pub(crate) fn ieee802_11(cx: &mut Cx, d: &[u8], off: usize, out: &mut Vec<Decoded>) {
    let len = d.len().saturating_sub(off);
    let mut hdr = 24;
    if len <= hdr {
        return weird(out, "truncated_802_11_header");
    }
    let h = &d[off..];
    let fc = h[0];
    // Management and control frames, and data subtypes without data.
    if (fc >> 2) & 0x02 == 0 || (fc >> 4) & 0x04 != 0 {
        return out.push(Decoded::NotIp);
    }
    let ds = h[1] & 0x03;
    if ds == 0x03 {
        hdr += 6; // a fourth address
    }
    if len <= hdr {
        return weird(out, "truncated_802_11_header");
    }
    let mut amsdu = false;
    if (fc >> 4) & 0x08 != 0 {
        // QoS control: A-MSDU bit; protected QoS frames are skipped.
        amsdu = h[hdr] & 0x80 != 0;
        if h[1] & 0x40 != 0 {
            return out.push(Decoded::NotIp);
        }
        hdr += 2;
    }
    if len <= hdr {
        return weird(out, "truncated_802_11_header");
    }
    let (src, dst) = match ds {
        0x00 => (10, 4),
        0x01 => (10, 16),
        0x02 => (16, 4),
        _ => (24, 16),
    };
    cx.l2.src = mac(&h[src..src + 6]);
    cx.l2.dst = mac(&h[dst..dst + 6]);
    let mut off = off + hdr;
    if !amsdu {
        if !wifi_llc(cx, d, off, out) {
            out.push(Decoded::NotIp);
        }
        return;
    }
    while off < d.len() {
        let rem = d.len() - off;
        if rem < 14 {
            return weird(out, "truncated_802_11_amsdu_header");
        }
        let sub_len = usize::from(be16(d, off + 12));
        if rem < sub_len + 14 {
            return weird(out, "truncated_802_11_amsdu_packet");
        }
        off += 14;
        let end = off + sub_len;
        let before = out.len();
        let ok = wifi_llc(cx, &d[..end], off, out);
        let dropped = matches!(out.last(), Some(Decoded::Weird(_))) && out.len() > before;
        if !ok || dropped {
            return weird(out, "invalid_802_11_amsdu_inner_packet");
        }
        // Subframes are padded to 4 bytes, except the last.
        off = end;
        let pad = sub_len % 4;
        if d.len() - off >= pad {
            off += pad;
        }
    }
}

/// The LLC/SNAP header of an 802.11 payload. Returns false, pushing
/// nothing, when it is not `AA AA 03 00 00 00` + ethertype.
fn wifi_llc(cx: &mut Cx, d: &[u8], off: usize, out: &mut Vec<Decoded>) -> bool {
    let Some(h) = d.get(off..off + 8) else {
        weird(out, "truncated_802_11_llc_header");
        return true;
    };
    if h[..6] != [0xaa, 0xaa, 0x03, 0, 0, 0] {
        return false;
    }
    ethertype(cx, d, off + 8, be16(h, 6), Parent::Llc, out);
    true
}

#[cfg(test)]
mod tests {
    use super::linktype::*;
    use crate::build::*;
    use crate::testutil::*;
    use crate::{Checksum, Decoded, Weird};

    fn v4_tcp() -> Vec<u8> {
        eth_tcp_syn()[14..].to_vec()
    }

    fn assert_syn(v: &[Decoded]) -> crate::PacketMeta {
        let m = packet(v);
        let t = as_tcp(&m);
        assert_eq!((t.sport, t.dport, t.checksum), (1234, 80, Checksum::Good));
        m
    }

    #[test]
    fn ethernet_macs_and_zero_mac() {
        let m = assert_syn(&run(ETHERNET, &eth_tcp_syn()));
        assert_eq!((m.l2.src, m.l2.dst), (Some(MAC_A), Some(MAC_B)));
        assert_eq!((m.l2.vlan, m.l2.inner_vlan), (None, None));
        let m = packet(&run(ETHERNET, &ethernet([0; 6], MAC_A, 0x0800, &v4_tcp())));
        assert_eq!((m.l2.src, m.l2.dst), (Some(MAC_A), None));
    }

    #[test]
    fn fabricpath_reads_the_inner_header() {
        let mut f = vec![0xee; 12];
        f.extend([0x89, 0x03, 0, 0]);
        f.extend(eth_tcp_syn());
        let m = assert_syn(&run(ETHERNET, &f));
        assert_eq!(m.l2.src, Some(MAC_A));
        assert_eq!(
            stopped(&run(ETHERNET, &f[..30])),
            "truncated_link_header_cfp"
        );
    }

    #[test]
    fn ieee802_3_snap_llc_and_undefined() {
        let ip = v4_tcp();
        let mut snap = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
        snap.extend(&ip);
        assert_syn(&run(
            ETHERNET,
            &ethernet(MAC_B, MAC_A, snap.len() as u16, &snap),
        ));
        // A vendor OUI, plain LLC (STP) and Novell raw are not IP.
        let mut vendor = snap.clone();
        vendor[5] = 1;
        let f = ethernet(MAC_B, MAC_A, vendor.len() as u16, &vendor);
        assert_eq!(run(ETHERNET, &f), [Decoded::NotIp]);
        let stp = ethernet(MAC_B, MAC_A, 38, &[0x42; 38]);
        assert_eq!(run(ETHERNET, &stp), [Decoded::NotIp]);
        // The length field promises more than was captured.
        let short = ethernet(MAC_B, MAC_A, 100, &snap[..20]);
        assert_eq!(stopped(&run(ETHERNET, &short)), "truncated_ethernet_frame");
        let f = ethernet(MAC_B, MAC_A, 1501, &ip);
        assert_eq!(stopped(&run(ETHERNET, &f)), "undefined_ether_type");
    }

    #[test]
    fn vlan_qinq_and_triple_tags() {
        let ip = v4_tcp();
        let one = [&vlan_tag(20, 0x0800)[..], &ip].concat();
        let m = assert_syn(&run(ETHERNET, &ethernet(MAC_B, MAC_A, 0x8100, &one)));
        assert_eq!((m.l2.vlan, m.l2.inner_vlan), (Some(20), None));

        let two = [&vlan_tag(100, 0x8100)[..], &vlan_tag(4095, 0x0800), &ip].concat();
        for outer in [0x8100, 0x88a8, 0x9100] {
            let m = assert_syn(&run(ETHERNET, &ethernet(MAC_B, MAC_A, outer, &two)));
            assert_eq!((m.l2.vlan, m.l2.inner_vlan), (Some(100), Some(4095)));
        }

        let three = [
            &vlan_tag(1, 0x8100)[..],
            &vlan_tag(2, 0x8100),
            &vlan_tag(3, 0x0800),
            &ip,
        ]
        .concat();
        let v = run(ETHERNET, &ethernet(MAC_B, MAC_A, 0x8100, &three));
        assert_eq!(
            v[0],
            Decoded::Notice(Weird::new("triple_tagged_vlan_unsupported"))
        );
        let m = assert_syn(&v[1..]);
        assert_eq!((m.l2.vlan, m.l2.inner_vlan), (Some(1), Some(3)));

        // Inside a VLAN only 0x8100 is another tag.
        let qinq_inner = [&vlan_tag(1, 0x88a8)[..], &vlan_tag(2, 0x0800), &ip].concat();
        let f = ethernet(MAC_B, MAC_A, 0x8100, &qinq_inner);
        assert_eq!(run(ETHERNET, &f), [Decoded::NotIp]);

        let f = ethernet(MAC_B, MAC_A, 0x8100, &vlan_tag(5, 0x0800));
        assert_eq!(stopped(&run(ETHERNET, &f)), "truncated_VLAN_header");
        let f = ethernet(
            MAC_B,
            MAC_A,
            0x8100,
            &[&vlan_tag(5, 1520)[..], &ip].concat(),
        );
        assert_eq!(stopped(&run(ETHERNET, &f)), "undefined_vlan_protocol");
    }

    #[test]
    fn mpls_pbb_vntag_pppoe_arp() {
        let ip = v4_tcp();
        let mpls = [&[0, 0x10, 0x00, 0x40, 0, 0x20, 0x01, 0x40][..], &ip].concat();
        assert_syn(&run(ETHERNET, &ethernet(MAC_B, MAC_A, 0x8847, &mpls)));
        let f = ethernet(MAC_B, MAC_A, 0x8847, &[0, 0x10, 0x00, 0x40, 0, 0]);
        assert_eq!(stopped(&run(ETHERNET, &f)), "truncated_link_header");

        let cust = ethernet([0x0a; 6], [0x0b; 6], 0x0800, &ip);
        let pbb = [&[0, 0, 0, 1][..], &cust].concat();
        let m = assert_syn(&run(ETHERNET, &ethernet(MAC_B, MAC_A, 0x88e7, &pbb)));
        assert_eq!((m.l2.src, m.l2.dst), (Some([0x0b; 6]), Some([0x0a; 6])));
        let f = ethernet(MAC_B, MAC_A, 0x88e7, &pbb[..18]);
        assert_eq!(stopped(&run(ETHERNET, &f)), "truncated_PBB_header");

        let vn = [&[0x80, 0, 0, 0, 0x81, 0x00][..], &vlan_tag(7, 0x0800), &ip].concat();
        let m = assert_syn(&run(ETHERNET, &ethernet(MAC_B, MAC_A, 0x8926, &vn)));
        assert_eq!(m.l2.vlan, Some(7));
        let vn_ip = [&[0x80, 0, 0, 0, 0x08, 0x00][..], &ip].concat();
        assert_eq!(
            run(ETHERNET, &ethernet(MAC_B, MAC_A, 0x8926, &vn_ip)),
            [Decoded::NotIp]
        );

        let mut pppoe = vec![0x11, 0, 0, 1];
        pppoe.extend(((ip.len() + 2) as u16).to_be_bytes());
        pppoe.extend([0, 0x21]);
        pppoe.extend(&ip);
        assert_syn(&run(ETHERNET, &ethernet(MAC_B, MAC_A, 0x8864, &pppoe)));
        // Padding after the PPPoE payload is a notice, and is dropped.
        let mut padded = pppoe.clone();
        padded.extend([0; 6]);
        let v = run(ETHERNET, &ethernet(MAC_B, MAC_A, 0x8864, &padded));
        assert_eq!(
            v[0],
            Decoded::Notice(Weird::new("pppoe_extra_data_after_payload"))
        );
        assert_syn(&v[1..]);
        let f = ethernet(MAC_B, MAC_A, 0x8864, &pppoe[..8]);
        assert_eq!(stopped(&run(ETHERNET, &f)), "truncated_pppoe_header");
        let mut lcp = pppoe.clone();
        lcp[6..8].copy_from_slice(&[0xc0, 0x21]);
        assert_eq!(
            run(ETHERNET, &ethernet(MAC_B, MAC_A, 0x8864, &lcp)),
            [Decoded::NotIp]
        );

        for et in [0x0806, 0x8035, 0x8863, 0x88cc] {
            assert_eq!(
                run(ETHERNET, &ethernet(MAC_B, MAC_A, et, &[0; 46])),
                [Decoded::NotIp]
            );
        }
    }

    #[test]
    fn raw_ip_link_types() {
        let ip = v4_tcp();
        for lt in [12, 14, 101, 228, 229, 108, 4242] {
            let m = assert_syn(&run(lt, &ip));
            assert_eq!(m.l2, crate::L2Info::default());
        }
        // DLT_LOOP (big-endian family) is not supported: raw IP fails.
        let lo = [&[0, 0, 0, 2][..], &ip].concat();
        assert_eq!(stopped(&run(108, &lo)), "unknown_ip_version");
    }

    #[test]
    fn null_ppp_serial_fddi() {
        let ip = v4_tcp();
        for fam in [2u32, 24, 28, 30] {
            assert_syn(&run(NULL, &[&fam.to_le_bytes()[..], &ip].concat()));
        }
        assert_eq!(
            run(NULL, &[&7u32.to_le_bytes()[..], &ip].concat()),
            [Decoded::NotIp]
        );
        assert_eq!(stopped(&run(NULL, &[2, 0, 0, 0])), "null_analyzer_failed");

        assert_syn(&run(PPP, &[&[0xff, 0x03, 0x00, 0x21][..], &ip].concat()));
        assert_syn(&run(PPP, &[&[0x00, 0x21][..], &ip].concat()));
        let mpls = [&[0x02, 0x81, 0, 0, 0x01, 0x40][..], &ip].concat();
        assert_syn(&run(PPP, &mpls));
        assert_eq!(stopped(&run(PPP, &[0, 0x21])), "truncated_ppp_header");
        assert_eq!(
            stopped(&run(PPP, &[0xff, 0x03, 0, 0x21])),
            "truncated_ppp_hdlc_header"
        );

        assert_syn(&run(
            PPP_SERIAL,
            &[&[0x0f, 0x00, 0x00, 0x21][..], &ip].concat(),
        ));
        assert_eq!(
            stopped(&run(PPP_SERIAL, &[0x0f, 0, 0, 0x21])),
            "truncated_ppp_serial_header"
        );

        let fddi = [&[0u8; 21][..], &ip].concat();
        assert_syn(&run(FDDI, &fddi));
        assert_eq!(stopped(&run(FDDI, &fddi[..21])), "FDDI_analyzer_failed");
    }

    #[test]
    fn linux_sll_and_sll2() {
        let ip = v4_tcp();
        let mut sll = vec![0, 0, 0, 1, 0, 6];
        sll.extend(MAC_A);
        sll.extend([0, 0, 0x08, 0x00]);
        let m = assert_syn(&run(LINUX_SLL, &[&sll[..], &ip].concat()));
        assert_eq!((m.l2.src, m.l2.dst), (Some(MAC_A), None));
        assert_eq!(stopped(&run(LINUX_SLL, &sll)), "truncated_Linux_SLL_header");
        let mut arp = sll.clone();
        arp[14..16].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(
            run(LINUX_SLL, &[&arp[..], &[0; 28]].concat()),
            [Decoded::NotIp]
        );

        let mut sll2 = vec![0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6];
        sll2.extend(MAC_B);
        sll2.extend([0, 0]);
        let p6 = ipv6(V6_SRC, V6_DST, 59, &[]);
        let v = run(LINUX_SLL2, &[&sll2[..], &p6].concat());
        assert_eq!(stopped(&v), "ipv6_no_next");
        sll2[..2].copy_from_slice(&[0x08, 0x00]);
        let m = assert_syn(&run(LINUX_SLL2, &[&sll2[..], &ip].concat()));
        assert_eq!((m.l2.src, m.l2.dst), (Some(MAC_B), None));
        assert_eq!(
            stopped(&run(LINUX_SLL2, &sll2)),
            "truncated_Linux_SLL2_header"
        );
    }

    #[test]
    fn nflog_skips_tlvs() {
        let ip = v4_tcp();
        // A 5-byte TLV (padded to 8), then the payload TLV.
        let mut f = vec![2, 0, 0, 0, 5, 0, 1, 0, 0xee, 0, 0, 0];
        f.extend(((ip.len() + 4) as u16).to_le_bytes());
        f.extend([9, 0]);
        f.extend(&ip);
        assert_syn(&run(NFLOG, &f));
        let mut v1 = f.clone();
        v1[1] = 1;
        assert_eq!(stopped(&run(NFLOG, &v1)), "unknown_nflog_version");
        let mut bad = f.clone();
        bad[4] = 3;
        assert_eq!(stopped(&run(NFLOG, &bad)), "nflog_bad_tlv_len");
        bad[4..6].copy_from_slice(&256u16.to_le_bytes()); // longer than the frame
        assert_eq!(stopped(&run(NFLOG, &bad)), "nflog_bad_tlv_len");
        assert_eq!(stopped(&run(NFLOG, &f[..12])), "nflog_no_pcap_payload");
        assert_eq!(stopped(&run(NFLOG, &f[..4])), "truncated_nflog_header");
        let mut arp = f.clone();
        arp[0] = 7;
        assert_eq!(run(NFLOG, &arp), [Decoded::NotIp]);
    }

    fn wifi_header(fc0: u8, fc1: u8, qos: Option<u8>) -> Vec<u8> {
        let mut h = vec![fc0, fc1, 0, 0];
        h.extend([0x01; 6]); // addr1
        h.extend([0x02; 6]); // addr2
        h.extend([0x03; 6]); // addr3
        h.extend([0, 0]);
        if fc1 & 0x03 == 0x03 {
            h.extend([0x04; 6]);
        }
        if let Some(q) = qos {
            h.extend([q, 0]);
        }
        h
    }

    #[test]
    fn radiotap_and_802_11() {
        let ip = v4_tcp();
        let llc = [&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00][..], &ip].concat();
        let rt = [0u8, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0];

        // Data frame, FromDS: src = addr3, dst = addr1.
        let f = [&rt[..], &wifi_header(0x08, 0x02, None), &llc].concat();
        let m = assert_syn(&run(IEEE802_11_RADIO, &f));
        assert_eq!((m.l2.src, m.l2.dst), (Some([0x03; 6]), Some([0x01; 6])));
        // WDS (ToDS+FromDS): src = addr4, dst = addr3; QoS data.
        let f = [&wifi_header(0x88, 0x03, Some(0)), &llc[..]].concat();
        let m = assert_syn(&run(IEEE802_11, &f));
        assert_eq!((m.l2.src, m.l2.dst), (Some([0x04; 6]), Some([0x03; 6])));
        // Protected QoS data, management and null-data frames.
        let f = [&wifi_header(0x88, 0x41, Some(0)), &llc[..]].concat();
        assert_eq!(run(IEEE802_11, &f), [Decoded::NotIp]);
        let f = [&wifi_header(0x80, 0x00, None), &llc[..]].concat();
        assert_eq!(run(IEEE802_11, &f), [Decoded::NotIp]);
        let f = [&wifi_header(0x48, 0x01, None), &llc[..]].concat();
        assert_eq!(run(IEEE802_11, &f), [Decoded::NotIp]);
        let f = [&wifi_header(0x08, 0x01, None), &llc[..7]].concat();
        assert_eq!(stopped(&run(IEEE802_11, &f)), "truncated_802_11_llc_header");
        assert_eq!(
            stopped(&run(IEEE802_11, &wifi_header(0x08, 0, None))),
            "truncated_802_11_header"
        );
        assert_eq!(
            stopped(&run(IEEE802_11_RADIO, &rt)),
            "truncated_radiotap_header"
        );
        assert_eq!(
            stopped(&run(IEEE802_11_RADIO, &rt[..3])),
            "truncated_radiotap_header"
        );

        // A-MSDU with two subframes: two packets, padding between them.
        let mut f = wifi_header(0x88, 0x01, Some(0x80));
        for _ in 0..2 {
            f.extend([0x0a; 12]);
            f.extend((llc.len() as u16).to_be_bytes());
            f.extend(&llc);
            // Zeek skips `length % 4` bytes of padding after a subframe.
            f.extend(vec![0; llc.len() % 4]);
        }
        let v = run(IEEE802_11, &f);
        assert_eq!(v.len(), 2);
        assert_syn(&v[..1]);
        assert_syn(&v[1..]);
        let cut = f.len() - 12;
        let v = run(IEEE802_11, &f[..cut]);
        assert!(matches!(v[0], Decoded::Packet(_)));
        assert_eq!(stopped(&v[1..]), "truncated_802_11_amsdu_packet");
    }
}
