//! Connection uids: Zeek's text form and a deterministic generator.
//!
//! Zeek prints a 96-bit id as `C` followed by the base62 digits (alphabet
//! `0-9a-zA-Z`) of its 32-bit word and then of its 64-bit word, each written
//! least-significant digit first, so a uid is 3 to 18 characters long. The
//! uids in the corpus logs confirm this order: in every 18-character uid the
//! 6th digit (the top digit of a 32-bit word) is `1`..`4` and the last digit
//! (the top digit of a 64-bit word) is `1`..`l`.
//!
//! Zeek draws uids at random; we derive them from the connection instead, so
//! that a run prints the same uids every time and whatever the thread count.
//! The mixing function is written out here (a wyhash-style multiply-fold)
//! rather than taken from `std`, whose hasher algorithm may change between
//! Rust releases.

use std::fmt;

use quartet_wire::Timestamp;

use crate::Uid;

const ALPHABET: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Longest uid text: `C`, 6 digits for 32 bits, 11 digits for 64 bits.
pub const UID_MAX_LEN: usize = 18;

impl Uid {
    /// Writes the uid text into `buf` and returns it.
    pub fn encode(self, buf: &mut [u8; UID_MAX_LEN]) -> &str {
        let len = self.encode_bytes(buf);
        // Every byte written comes from the ASCII alphabet above.
        std::str::from_utf8(&buf[..len]).unwrap_or("C")
    }

    /// Writes the uid text into the start of `buf` and returns its length
    /// (the conn.log writer's form: no UTF-8 check of what is ASCII).
    #[inline]
    pub fn encode_bytes(self, buf: &mut [u8; UID_MAX_LEN]) -> usize {
        buf[0] = b'C';
        let mut len = 1;
        len += base62_lsd_first(u64::from(self.hi), &mut buf[len..]);
        len += base62_lsd_first(self.lo, &mut buf[len..]);
        len
    }
}

/// Writes `v` in base 62, least-significant digit first (`0` for zero);
/// returns the number of digits.
fn base62_lsd_first(mut v: u64, out: &mut [u8]) -> usize {
    let mut n = 0;
    loop {
        out[n] = ALPHABET[(v % 62) as usize];
        n += 1;
        v /= 62;
        if v == 0 {
            return n;
        }
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0; UID_MAX_LEN];
        f.write_str(self.encode(&mut buf))
    }
}

/// Derives uids from connection identity, the same on every run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UidGen {
    pub seed: u64,
}

// Odd constants with well-spread bits (wyhash's secrets).
const K0: u64 = 0xa076_1d64_78bd_642f;
const K1: u64 = 0xe703_7ed1_a0b4_28db;
const K2: u64 = 0x8ebc_6af0_9c88_c6e3;
const K3: u64 = 0x5899_65cc_7537_4cc3;

/// Full 64x64->128 multiply folded back to 64 bits.
fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

impl UidGen {
    pub const fn new(seed: u64) -> Self {
        UidGen { seed }
    }

    /// The uid of the connection with key bytes `key` created at `ts`; `n`
    /// tells apart connections that share both (e.g. reuse of a key within
    /// one microsecond).
    pub fn uid(&self, key: &[u8], ts: Timestamp, n: u64) -> Uid {
        let mut h = mum(self.seed ^ K0, K1);
        let mut chunks = key.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0; 8];
            w.copy_from_slice(c);
            h = mum(h ^ u64::from_le_bytes(w), K1);
        }
        let rest = chunks.remainder();
        let mut w = [0; 8];
        w[..rest.len()].copy_from_slice(rest);
        // The length keeps keys that differ only by trailing zeros apart.
        h = mum(h ^ u64::from_le_bytes(w), K2 ^ key.len() as u64);
        h = mum(h ^ ts.micros() as u64, K1);
        h = mum(h ^ n, K2);
        Uid {
            hi: (mum(h ^ K3, K0) >> 32) as u32,
            lo: mum(h ^ K2, K3),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_least_significant_first() {
        assert_eq!(Uid { hi: 0, lo: 0 }.to_string(), "C00");
        assert_eq!(Uid { hi: 61, lo: 62 }.to_string(), "CZ01");
        // 62 * 62 + 2 * 62 + 3 -> digits 3, 2, 1 least significant first.
        assert_eq!(
            Uid {
                hi: 1,
                lo: 3 * 62 * 62 + 2 * 62 + 1
            }
            .to_string(),
            "C1123"
        );
    }

    #[test]
    fn longest_uid_is_18_chars() {
        let u = Uid {
            hi: u32::MAX,
            lo: u64::MAX,
        };
        let s = u.to_string();
        assert_eq!(s.len(), UID_MAX_LEN);
        // 2^32-1 = 4 * 62^5 + ..., 2^64-1 = 21 * 62^10 + ...
        assert_eq!(&s[6..7], "4");
        assert_eq!(&s[17..18], "l");
    }

    #[test]
    fn generator_is_deterministic_and_spread() {
        let g = UidGen::new(7);
        let ts = Timestamp::from_micros(1_210_953_052_202_579);
        let a = g.uid(b"key-a", ts, 0);
        assert_eq!(a, UidGen::new(7).uid(b"key-a", ts, 0));
        // Pinned: the mixing function must not change between versions.
        assert_eq!(a.to_string(), PINNED);
        assert_ne!(a, g.uid(b"key-b", ts, 0));
        assert_ne!(a, g.uid(b"key-a", ts.add_micros(1), 0));
        assert_ne!(a, g.uid(b"key-a", ts, 1));
        assert_ne!(a, UidGen::new(8).uid(b"key-a", ts, 0));
        assert_ne!(g.uid(b"", ts, 0), g.uid(b"\0", ts, 0));
    }

    const PINNED: &str = "C9DPNESEMEK0LC6aa";

    #[test]
    fn generated_uids_have_zeek_lengths() {
        let g = UidGen::new(0);
        let mut lens = [0usize; UID_MAX_LEN + 1];
        for n in 0..1000u64 {
            let s = g.uid(&n.to_le_bytes(), Timestamp::ZERO, n).to_string();
            assert!(s.starts_with('C'));
            assert!(s[1..].bytes().all(|b| b.is_ascii_alphanumeric()));
            lens[s.len()] += 1;
        }
        // Like Zeek's: almost all 17 or 18 characters long.
        assert!(lens[17] + lens[18] > 950, "{lens:?}");
    }
}
