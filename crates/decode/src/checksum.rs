//! The Internet checksum (RFC 1071) and the TCP/UDP/ICMPv6 pseudo-headers.
//!
//! Owns the arithmetic only; which packets get verified is decided by the
//! transport layer (Zeek §10). The sum runs over 64-bit big-endian words with
//! an end-around carry, which gives the same one's-complement result as
//! summing 16-bit words (2^16 ≡ 1 mod 0xffff) at a quarter of the additions.

use quartet_wire::Addr;

/// One's-complement sum of `data` added to `acc`, not yet folded. Bytes are
/// taken as big-endian 16-bit words; an odd last byte is the high half of a
/// word padded with zero. The offset of `data` within the checksummed region
/// must be even.
#[cfg(any(test, feature = "testkit"))]
pub(crate) fn add(acc: u64, data: &[u8]) -> u64 {
    add_carry(acc, u64::from(fold(sum_swapped(data)).swap_bytes()))
}

/// The one's-complement sum of `data` with the bytes of every 16-bit word
/// swapped, not yet folded.
///
/// The sum is taken over little-endian 64-bit words into 128-bit
/// accumulators (an add and an add-with-carry per word): one's-complement
/// sums commute with swapping the bytes of every word (RFC 1071 §2(B)), so
/// folding this and swapping the bytes gives the big-endian sum, and
/// 2^16 ≡ 1 mod 0xffff lets a 64-bit word stand for four 16-bit ones. A
/// verification needs no swap: 0xffff reads the same both ways.
#[inline]
fn sum_swapped(data: &[u8]) -> u64 {
    let word = |b: &[u8]| u128::from(u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let (mut a, mut b) = (0u128, 0u128);
    let mut blocks = data.chunks_exact(16);
    for c in &mut blocks {
        a += word(&c[..8]);
        b += word(&c[8..]);
    }
    let mut s = a + b;
    let mut rest = blocks.remainder();
    if rest.len() >= 8 {
        s += word(&rest[..8]);
        rest = &rest[8..];
    }
    // The last bytes, zero-padded after the end, as in the big-endian view.
    let mut tail = 0u64;
    let mut shift = 0;
    if rest.len() >= 4 {
        tail = u64::from(u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]));
        rest = &rest[4..];
        shift = 32;
    }
    if rest.len() >= 2 {
        tail |= u64::from(u16::from_le_bytes([rest[0], rest[1]])) << shift;
        rest = &rest[2..];
        shift += 16;
    }
    if let Some(&x) = rest.first() {
        tail |= u64::from(x) << shift;
    }
    s += u128::from(tail);
    add_carry(s as u64, (s >> 64) as u64)
}

#[inline]
fn add_carry(acc: u64, w: u64) -> u64 {
    let (s, carry) = acc.overflowing_add(w);
    s + u64::from(carry)
}

/// Folds a 64-bit partial sum to 16 bits.
pub(crate) fn fold(mut acc: u64) -> u16 {
    acc = (acc >> 32) + (acc & 0xffff_ffff);
    acc = (acc >> 32) + (acc & 0xffff_ffff);
    acc = (acc >> 16) + (acc & 0xffff);
    acc = (acc >> 16) + (acc & 0xffff);
    acc = (acc >> 16) + (acc & 0xffff);
    acc as u16
}

/// True when `data` (a header including its checksum field) sums to 0xffff.
#[inline]
pub(crate) fn verify(data: &[u8]) -> bool {
    if let Ok(h) = <&[u8; 20]>::try_from(data) {
        return verify20(h);
    }
    fold(sum_swapped(data)) == 0xffff
}

/// [`verify`] for an IPv4 header without options: five 32-bit words.
#[inline(always)]
pub(crate) fn verify20(h: &[u8; 20]) -> bool {
    let w = |i: usize| u64::from(u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
    fold(w(0) + w(4) + w(8) + w(12) + w(16)) == 0xffff
}

/// Partial sum of the pseudo-header for a transport segment of `len` bytes
/// with protocol `proto`. IPv4-mapped addresses use the IPv4 form (RFC 793),
/// others the IPv6 form (RFC 8200 §8.1).
#[cfg(any(test, feature = "testkit"))]
pub(crate) fn pseudo(src: &Addr, dst: &Addr, proto: u8, len: u32) -> u64 {
    if src.is_v4() && dst.is_v4() {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&src.octets_v4());
        b[4..8].copy_from_slice(&dst.octets_v4());
        b[9] = proto;
        b[10..12].copy_from_slice(&(len as u16).to_be_bytes());
        add(0, &b)
    } else {
        let mut b = [0u8; 40];
        b[..16].copy_from_slice(&src.0);
        b[16..32].copy_from_slice(&dst.0);
        b[32..36].copy_from_slice(&len.to_be_bytes());
        b[39] = proto;
        add(0, &b)
    }
}

/// True when `segment` with its pseudo-header sums to 0xffff.
#[inline]
pub(crate) fn verify_pseudo(src: &Addr, dst: &Addr, proto: u8, segment: &[u8]) -> bool {
    let len = segment.len() as u32;
    // The pseudo-header as `sum_swapped` would sum it.
    let le32 = |b: &[u8]| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let pseudo = if src.is_v4() && dst.is_v4() {
        // src, dst, then 0, proto, 16-bit length.
        le32(&src.0[12..])
            + le32(&dst.0[12..])
            + (u64::from(proto) << 8)
            + u64::from((len as u16).swap_bytes()) * 0x1_0000
    } else {
        // src, dst, 32-bit length, then 0, 0, 0, proto.
        let le64 = |b: &[u8]| u128::from(u64::from_le_bytes(b.try_into().expect("8 bytes")));
        let s = le64(&src.0[..8]) + le64(&src.0[8..]) + le64(&dst.0[..8]) + le64(&dst.0[8..]);
        add_carry(
            add_carry(s as u64, (s >> 64) as u64),
            u64::from(len.swap_bytes()) + (u64::from(proto) << 24),
        )
    };
    fold(add_carry(pseudo, sum_swapped(segment))) == 0xffff
}

/// The checksum field value that makes `data` (with a zeroed field) verify.
#[cfg(any(test, feature = "testkit"))]
pub(crate) fn compute(acc: u64, data: &[u8]) -> u16 {
    !fold(add(acc, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: sum of 16-bit words, folded.
    fn slow(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], 0])
            };
            s += u32::from(w);
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    #[test]
    fn matches_word_sum_for_all_lengths() {
        let mut seed = 0x1234_5678u32;
        let data: Vec<u8> = (0..300)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (seed >> 16) as u8
            })
            .collect();
        for n in 0..data.len() {
            assert_eq!(fold(add(0, &data[..n])), slow(&data[..n]), "len {n}");
        }
        let ff = vec![0xffu8; 1500];
        assert_eq!(fold(add(0, &ff)), slow(&ff));
    }

    #[test]
    fn fast_verifications_match_the_word_sum() {
        let mut rng = quartet_testkit::noise::XorShift::new(0x9e37_79b9);
        let mut bytes = |n: usize| rng.bytes(n);
        for n in 0..300 {
            let mut data = bytes(n);
            for v6 in [false, true] {
                let (src, dst) = if v6 {
                    let (a, b) = (bytes(16), bytes(16));
                    (
                        Addr::v6(a.try_into().unwrap()),
                        Addr::v6(b.try_into().unwrap()),
                    )
                } else {
                    let (a, b) = (bytes(4), bytes(4));
                    (
                        Addr::v4(a.try_into().unwrap()),
                        Addr::v4(b.try_into().unwrap()),
                    )
                };
                let proto = [6, 17, 58][n % 3];
                // Make the segment verify through its first two bytes.
                if n >= 2 {
                    data[0] = 0;
                    data[1] = 0;
                    let sum = compute(pseudo(&src, &dst, proto, n as u32), &data);
                    data[..2].copy_from_slice(&sum.to_be_bytes());
                }
                let good = fold(add(pseudo(&src, &dst, proto, n as u32), &data)) == 0xffff;
                assert_eq!(verify_pseudo(&src, &dst, proto, &data), good, "{n} {v6}");
                assert!(good || n < 2);
                if n >= 2 {
                    data[n - 1] ^= 0x10;
                    assert!(!verify_pseudo(&src, &dst, proto, &data), "{n} {v6}");
                    data[n - 1] ^= 0x10;
                }
            }
            assert_eq!(verify(&data), slow(&data) == 0xffff, "{n}");
            if n >= 2 {
                data[0] = 0;
                data[1] = 0;
                let sum = compute(0, &data);
                data[..2].copy_from_slice(&sum.to_be_bytes());
                assert!(verify(&data), "{n}");
                data[n / 2] ^= 1;
                assert!(!verify(&data), "{n}");
            }
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        assert_eq!(
            fold(add(0, &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])),
            0xddf2
        );
    }
}
