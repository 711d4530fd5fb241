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
pub(crate) fn add(mut acc: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        acc = add_carry(acc, u64::from_be_bytes(b));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        // Left-aligned in a zero-padded word: positions stay congruent mod 16
        // bits, so the padding adds nothing.
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        acc = add_carry(acc, u64::from_be_bytes(b));
    }
    acc
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
pub(crate) fn verify(data: &[u8]) -> bool {
    fold(add(0, data)) == 0xffff
}

/// Partial sum of the pseudo-header for a transport segment of `len` bytes
/// with protocol `proto`. IPv4-mapped addresses use the IPv4 form (RFC 793),
/// others the IPv6 form (RFC 8200 §8.1).
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
pub(crate) fn verify_pseudo(src: &Addr, dst: &Addr, proto: u8, segment: &[u8]) -> bool {
    let acc = pseudo(src, dst, proto, segment.len() as u32);
    fold(add(acc, segment)) == 0xffff
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
    fn rfc1071_example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        assert_eq!(
            fold(add(0, &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])),
            0xddf2
        );
    }
}
