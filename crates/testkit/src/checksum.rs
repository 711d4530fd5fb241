//! The Internet checksum (RFC 1071) and the TCP/UDP/ICMPv6 pseudo-headers.
//!
//! Sums are accumulated in a `u64` of big-endian 16-bit words and folded at
//! the end, so no input a test can build overflows the accumulator.

use std::net::IpAddr;

/// Adds `data` as big-endian 16-bit words to `acc`; an odd trailing byte is
/// padded with a zero byte on the right, as RFC 1071 says.
pub fn add(acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    let mut acc = acc;
    for w in &mut chunks {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folds the carries back into 16 bits and returns the one's complement.
pub fn finish(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Checksum of `data` alone (IPv4 header, ICMPv4 message).
pub fn internet(data: &[u8]) -> u16 {
    finish(add(0, data))
}

/// Sum of the pseudo-header used by TCP, UDP (IPv4 and IPv6) and ICMPv6.
///
/// # Panics
/// If the two addresses are of different families.
pub fn pseudo_header(src: IpAddr, dst: IpAddr, proto: u8, len: u32) -> u64 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let len = u16::try_from(len).expect("IPv4 segment longer than 65535 bytes");
            let acc = add(add(0, &s.octets()), &d.octets());
            acc + u64::from(proto) + u64::from(len)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let acc = add(add(0, &s.octets()), &d.octets());
            add(acc, &len.to_be_bytes()) + u64::from(proto)
        }
        _ => panic!("pseudo-header with mixed address families: {src} -> {dst}"),
    }
}

/// Checksum of a transport segment (header with a zero checksum field, and
/// payload) including the pseudo-header.
pub fn transport(src: IpAddr, dst: IpAddr, proto: u8, segment: &[u8]) -> u16 {
    let len = u32::try_from(segment.len()).expect("segment too long");
    finish(add(pseudo_header(src, dst, proto, len), segment))
}

/// True if `segment` (with its checksum field filled in) verifies.
pub fn transport_ok(src: IpAddr, dst: IpAddr, proto: u8, segment: &[u8]) -> bool {
    transport(src, dst, proto, segment) == 0
}

/// A checksum value that is certainly wrong for the data `good` was computed
/// over.
///
/// In one's complement arithmetic 0x0000 and 0xffff are the same number, so
/// flipping between them would still verify; XOR with a fixed mask never maps
/// one onto the other. The result is never 0 either, because a zero UDP
/// checksum over IPv4 means "no checksum" and would be accepted.
pub fn corrupt(good: u16) -> u16 {
    match good ^ 0x5555 {
        0 => good ^ 0xaaaa,
        bad => bad,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    /// The classic IPv4 header example, summed by hand:
    /// 4500+0073+0000+4000+4011+0000+c0a8+0001+c0a8+00c7 = 0x2479c,
    /// folded 0x479c + 0x2 = 0x479e, complemented 0xb861.
    #[test]
    fn ipv4_header_by_hand() {
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(internet(&hdr), 0xb861);
        let mut filled = hdr;
        filled[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(internet(&filled), 0);
    }

    /// TCP SYN 10.0.0.1:1024 -> 10.0.0.2:80, seq 1, window 0x2000, no options.
    /// Pseudo-header 0a00+0001+0a00+0002+0006+0014 = 0x141d; header
    /// 0400+0050+0000+0001+0000+0000+5002+2000+0000+0000 = 0x7453;
    /// total 0x8870, complemented 0x778f.
    #[test]
    fn tcp_syn_by_hand() {
        let seg = [
            0x04, 0x00, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0x00, 0, 0, 0, 0,
        ];
        assert_eq!(transport(A, B, 6, &seg), 0x778f);
        let mut filled = seg;
        filled[16..18].copy_from_slice(&0x778fu16.to_be_bytes());
        assert!(transport_ok(A, B, 6, &filled));
    }

    /// UDP 10.0.0.1:1 -> 10.0.0.2:2 carrying "ab". Pseudo-header
    /// 0a00+0001+0a00+0002+0011+000a = 0x141e; datagram
    /// 0001+0002+000a+0000+6162 = 0x616f; total 0x758d, complemented 0x8a72.
    #[test]
    fn udp_by_hand() {
        let seg = [0, 1, 0, 2, 0, 10, 0, 0, b'a', b'b'];
        assert_eq!(transport(A, B, 17, &seg), 0x8a72);
    }

    /// ICMP echo request id 1 seq 1: 0800+0000+0001+0001 = 0x0802 -> 0xf7fd.
    #[test]
    fn icmp_echo_by_hand() {
        assert_eq!(internet(&[8, 0, 0, 0, 0, 1, 0, 1]), 0xf7fd);
    }

    /// ICMPv6 echo request ::1 -> ::2, id 1 seq 1. Pseudo-header
    /// 0001+0002+(0000+0008)+(0000+003a) = 0x0045; message
    /// 8000+0000+0001+0001 = 0x8002; total 0x8047 -> 0x7fb8.
    #[test]
    fn icmpv6_echo_by_hand() {
        let s = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let d = IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 2));
        assert_eq!(transport(s, d, 58, &[128, 0, 0, 0, 0, 1, 0, 1]), 0x7fb8);
    }

    /// An odd byte is padded on the right: 0102 + 0300 = 0x0402 -> 0xfbfd.
    #[test]
    fn odd_length_pads_right() {
        assert_eq!(internet(&[1, 2, 3]), 0xfbfd);
    }

    #[test]
    fn carries_fold_repeatedly() {
        // 0xffff + 0xffff = 0x1fffe -> 0xffff -> complement 0.
        assert_eq!(internet(&[0xff, 0xff, 0xff, 0xff]), 0);
    }

    #[test]
    fn corrupt_never_equivalent_or_zero() {
        for good in 0..=u16::MAX {
            let bad = corrupt(good);
            assert_ne!(bad, 0);
            assert_ne!(bad, good);
            // 0x0000 and 0xffff are both "zero" in one's complement.
            assert!(!matches!((good, bad), (0, 0xffff) | (0xffff, 0)));
        }
    }
}
