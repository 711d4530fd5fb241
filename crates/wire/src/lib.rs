//! Plain values shared by every layer of quartet: packet time and IP addresses.
//!
//! This crate owns no state and performs no I/O. Header views of individual
//! protocols live next to the decoder that reads them (`quartet-decode`).
#![forbid(unsafe_code)]

use std::fmt;

/// Packet time in whole microseconds since the Unix epoch.
///
/// Zeek reads every capture at microsecond resolution (libpcap reduces
/// nanosecond pcapng timestamps to microseconds by truncation) and does its
/// timer arithmetic on those values, so integer microseconds reproduce its
/// comparisons exactly (`last + timeout <= now` is inclusive, §9.1 of the
/// semantics document) while staying cheap to compare and hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(0);

    pub const fn from_micros(us: i64) -> Self {
        Timestamp(us)
    }

    pub const fn from_secs(secs: i64) -> Self {
        Timestamp(secs * 1_000_000)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    /// Whole seconds and the microsecond remainder (always in 0..1_000_000).
    pub const fn split(self) -> (i64, u32) {
        (
            self.0.div_euclid(1_000_000),
            self.0.rem_euclid(1_000_000) as u32,
        )
    }

    /// The time as Zeek holds it: the IEEE double `sec + usec / 1e6`.
    pub fn as_f64(self) -> f64 {
        let (s, us) = self.split();
        s as f64 + us as f64 / 1e6
    }

    pub const fn add_micros(self, us: i64) -> Self {
        Timestamp(self.0.saturating_add(us))
    }
}

impl fmt::Display for Timestamp {
    /// Fixed point with six decimals, as Zeek prints `time` values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
    }
}

/// An IP address stored as 16 bytes; IPv4 addresses are IPv4-mapped
/// (`::ffff:a.b.c.d`), as Zeek stores them, so both families share one key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Addr(pub [u8; 16]);

impl Addr {
    pub const fn v4(b: [u8; 4]) -> Self {
        Addr([
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, b[0], b[1], b[2], b[3],
        ])
    }

    pub const fn v6(b: [u8; 16]) -> Self {
        Addr(b)
    }

    /// True for IPv4-mapped addresses (printed as dotted quads).
    pub fn is_v4(&self) -> bool {
        self.0[..10].iter().all(|&b| b == 0) && self.0[10] == 0xff && self.0[11] == 0xff
    }

    pub fn octets_v4(&self) -> [u8; 4] {
        [self.0[12], self.0[13], self.0[14], self.0[15]]
    }

    pub fn to_std(&self) -> std::net::IpAddr {
        if self.is_v4() {
            std::net::IpAddr::V4(self.octets_v4().into())
        } else {
            std::net::IpAddr::V6(self.0.into())
        }
    }
}

impl fmt::Display for Addr {
    /// Dotted quad for IPv4 (and IPv4-mapped IPv6, as Zeek does), RFC 5952
    /// compressed lower case for IPv6.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_std(), f)
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<std::net::IpAddr> for Addr {
    fn from(a: std::net::IpAddr) -> Self {
        match a {
            std::net::IpAddr::V4(v) => Addr::v4(v.octets()),
            std::net::IpAddr::V6(v) => Addr::v6(v.octets()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_prints_six_decimals() {
        assert_eq!(
            Timestamp(1_210_953_047_736_921).to_string(),
            "1210953047.736921"
        );
        assert_eq!(Timestamp(5).to_string(), "0.000005");
        assert_eq!(Timestamp(-1).to_string(), "-0.000001");
    }

    #[test]
    fn addresses_print_like_zeek() {
        assert_eq!(Addr::v4([192, 168, 2, 16]).to_string(), "192.168.2.16");
        let mut v6 = [0u8; 16];
        v6[0] = 0x20;
        v6[1] = 0x01;
        v6[2] = 0x48;
        v6[3] = 0x60;
        v6[15] = 0x68;
        assert_eq!(Addr::v6(v6).to_string(), "2001:4860::68");
        assert_eq!(Addr::v6([0; 16]).to_string(), "::");
        assert!(Addr::v4([1, 2, 3, 4]).is_v4());
    }
}
