//! `Site::local_nets`: which addresses count as local for `local_orig` and
//! `local_resp` (§3.6 of the semantics document).
//!
//! Owns the default list Zeek builds with `private_address_space_is_local`
//! (private and special-purpose IPv4 ranges, their 6to4 images, and the
//! special IPv6 ranges) plus the user's CIDRs. IPv4 addresses are looked up
//! in a short list of 32-bit prefixes and IPv6 addresses in a list of
//! 128-bit ones, so a lookup is a handful of mask-and-compare steps.
//! Zeek holds IPv4 as IPv4-mapped IPv6; an IPv6 CIDR inside
//! `::ffff:0:0/96` is therefore stored as the IPv4 prefix it denotes.

use quartet_wire::Addr;

/// The IPv4 part of Zeek's private address space.
const PRIVATE_V4: [([u8; 4], u8); 16] = [
    ([0, 0, 0, 0], 8),
    ([10, 0, 0, 0], 8),
    ([100, 64, 0, 0], 10),
    ([127, 0, 0, 0], 8),
    ([169, 254, 0, 0], 16),
    ([172, 16, 0, 0], 12),
    ([192, 0, 0, 0], 24),
    ([192, 0, 2, 0], 24),
    ([192, 168, 0, 0], 16),
    ([198, 18, 0, 0], 15),
    ([198, 51, 100, 0], 24),
    ([203, 0, 113, 0], 24),
    ([224, 0, 0, 0], 24),
    ([239, 0, 0, 0], 8),
    ([240, 0, 0, 0], 4),
    ([255, 255, 255, 255], 32),
];

/// The IPv6 part, without the 6to4 images (derived from `PRIVATE_V4`).
const PRIVATE_V6: [(&str, u8); 10] = [
    ("::", 128),
    ("::1", 128),
    ("64:ff9b:1::", 48),
    ("100::", 64),
    ("2001::", 23),
    ("2001:2::", 48),
    ("2001:db8::", 32),
    ("fc00::", 7),
    ("fe80::", 10),
    ("fec0::", 10),
];

/// `::ffff:0:0/96`, where Zeek keeps IPv4 addresses.
const V4_MAPPED: u128 = 0xffff_0000_0000;

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// A set of networks; `contains` answers whether an address is local.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalNets {
    /// `(network, mask)`, network already masked.
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl Default for LocalNets {
    /// Zeek's default: the private address space, no user networks.
    fn default() -> Self {
        let mut nets = LocalNets::empty();
        for (net, len) in PRIVATE_V4 {
            let v4 = u32::from_be_bytes(net);
            nets.insert_v4(v4, len);
            // 6to4 image of a.b.c.d/n: 2002:aabb:ccdd::/(16 + n).
            nets.insert_v6((0x2002u128 << 112) | (u128::from(v4) << 80), 16 + len);
        }
        for (net, len) in PRIVATE_V6 {
            let a: std::net::Ipv6Addr = net.parse().unwrap_or(std::net::Ipv6Addr::UNSPECIFIED);
            nets.insert_v6(u128::from(a), len);
        }
        nets
    }
}

impl LocalNets {
    /// No local networks at all (`local_orig`/`local_resp` then stay unset).
    pub fn empty() -> Self {
        LocalNets {
            v4: Vec::new(),
            v6: Vec::new(),
        }
    }

    /// The default set plus the comma-separated CIDRs of `s`.
    pub fn parse_list(s: &str) -> Result<Self, String> {
        let mut nets = LocalNets::default();
        nets.add_list(s)?;
        Ok(nets)
    }

    /// Adds each comma-separated CIDR of `s`; blank entries are skipped.
    pub fn add_list(&mut self, s: &str) -> Result<(), String> {
        s.split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .try_for_each(|c| self.add(c))
    }

    /// Adds one network: `a.b.c.d/n`, `x:y::/n` (optionally `[x:y::]/n`),
    /// or a bare address as a host route. Host bits are cleared, as Zeek
    /// does for subnet values.
    pub fn add(&mut self, cidr: &str) -> Result<(), String> {
        let bad = || format!("invalid CIDR {cidr:?}");
        let (addr, len) = match cidr.trim().split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().map_err(|_| bad())?)),
            None => (cidr.trim(), None),
        };
        let addr = addr
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(addr);
        match addr.parse::<std::net::IpAddr>().map_err(|_| bad())? {
            std::net::IpAddr::V4(a) => {
                let len = len.unwrap_or(32);
                if len > 32 {
                    return Err(bad());
                }
                self.insert_v4(u32::from(a), len);
            }
            std::net::IpAddr::V6(a) => {
                let len = len.unwrap_or(128);
                if len > 128 {
                    return Err(bad());
                }
                self.insert_v6(u128::from(a), len);
            }
        }
        Ok(())
    }

    /// True when no network is configured.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Whether `a` lies in one of the networks.
    pub fn contains(&self, a: Addr) -> bool {
        if a.is_v4() {
            let a = u32::from_be_bytes(a.octets_v4());
            self.v4.iter().any(|&(net, mask)| a & mask == net)
        } else {
            let a = u128::from_be_bytes(a.0);
            self.v6.iter().any(|&(net, mask)| a & mask == net)
        }
    }

    fn insert_v4(&mut self, net: u32, len: u8) {
        let mask = mask32(len);
        let entry = (net & mask, mask);
        if !self.v4.contains(&entry) {
            self.v4.push(entry);
            // Wide prefixes first: they match most often.
            self.v4.sort_by_key(|&(net, mask)| (mask, net));
        }
    }

    fn insert_v6(&mut self, net: u128, len: u8) {
        let mask = mask128(len);
        let net = net & mask;
        if len >= 96 && net & mask128(96) == V4_MAPPED {
            // Inside ::ffff:0:0/96: an IPv4 network in Zeek's eyes.
            self.insert_v4(net as u32, len - 96);
        } else if len < 96 && V4_MAPPED & mask == net {
            // Covers all of ::ffff:0:0/96 (e.g. ::/0): every IPv4 address.
            self.insert_v4(0, 0);
            self.push_v6(net, mask);
        } else {
            self.push_v6(net, mask);
        }
    }

    fn push_v6(&mut self, net: u128, mask: u128) {
        if !self.v6.contains(&(net, mask)) {
            self.v6.push((net, mask));
            self.v6.sort_by_key(|&(net, mask)| (mask, net));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Addr {
        Addr::from(s.parse::<std::net::IpAddr>().unwrap())
    }

    #[test]
    fn default_ipv4_ranges() {
        let n = LocalNets::default();
        for a in [
            "0.1.2.3",
            "10.255.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.1.1",
            "172.31.255.255",
            "192.0.0.9",
            "192.0.2.1",
            "192.168.2.16",
            "198.19.0.1",
            "198.51.100.7",
            "203.0.113.200",
            "224.0.0.251",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(n.contains(addr(a)), "{a} should be local");
        }
        for a in [
            "224.2.127.254",
            "224.0.1.1",
            "65.55.158.80",
            "100.128.0.1",
            "172.32.0.1",
            "192.0.1.1",
            "198.20.0.1",
            "8.8.8.8",
        ] {
            assert!(!n.contains(addr(a)), "{a} should not be local");
        }
    }

    #[test]
    fn default_ipv6_ranges() {
        let n = LocalNets::default();
        for a in [
            "::",
            "::1",
            "64:ff9b:1::5",
            "100::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2", // Teredo, in 2001::/23
            "2001:1ff:ffff::1",
            "2001:db8::1",
            "fd00::1",
            "fe80::1",
            "fec0::1",
        ] {
            assert!(n.contains(addr(a)), "{a} should be local");
        }
        for a in [
            "ff02::1",
            "::2",
            "2001:200::1",
            "2001:4860::68",
            "2002:100::1",
            "64:ff9b::1",
        ] {
            assert!(!n.contains(addr(a)), "{a} should not be local");
        }
    }

    #[test]
    fn six_to_four_images() {
        let n = LocalNets::default();
        // 10.0.0.0/8 -> 2002:a00::/24, 192.168.0.0/16 -> 2002:c0a8::/32.
        assert!(n.contains(addr("2002:a01:203::1")));
        assert!(n.contains(addr("2002:c0a8:210::1")));
        // 100.64.0.0/10 -> 2002:6440::/26.
        assert!(n.contains(addr("2002:647f:ffff::1")));
        assert!(!n.contains(addr("2002:6480::1")));
        // 255.255.255.255/32 -> 2002:ffff:ffff::/48 (also inside the
        // image of 240.0.0.0/4, 2002:f000::/20).
        assert!(n.contains(addr("2002:ffff:ffff:1::1")));
        // 0.0.0.0/8 -> 2002::/24.
        assert!(n.contains(addr("2002::1:1")));
        assert!(!n.contains(addr("2002:100::1")));
        // 8.8.8.8 is not private, nor is its image.
        assert!(!n.contains(addr("2002:808:808::1")));
        // 224.2.127.254's image is not local either.
        assert!(!n.contains(addr("2002:e002:7ffe::1")));
    }

    #[test]
    fn user_networks() {
        let mut n = LocalNets::parse_list("125.190.109.0/24, 2600:1f18::/32,,").unwrap();
        assert!(n.contains(addr("125.190.109.199")));
        assert!(!n.contains(addr("125.190.110.1")));
        assert!(n.contains(addr("2600:1f18:1::1")));
        assert!(n.contains(addr("10.0.0.1")), "defaults stay");
        n.add("44.1.1.1").unwrap();
        assert!(n.contains(addr("44.1.1.1")));
        assert!(!n.contains(addr("44.1.1.2")));
        n.add("8.8.9.9/16").unwrap(); // host bits are cleared
        assert!(n.contains(addr("8.8.1.1")));
        n.add("[::ffff:1.2.3.0]/120").unwrap();
        assert!(n.contains(addr("1.2.3.4")));
        for bad in ["1.2.3.4/33", "::/129", "nonsense", "1.2.3/8", "10.0.0.0/x"] {
            assert!(n.add(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn empty_and_catch_all() {
        let mut n = LocalNets::empty();
        assert!(n.is_empty());
        assert!(!n.contains(addr("10.0.0.1")));
        n.add("::/0").unwrap();
        assert!(n.contains(addr("10.0.0.1")));
        assert!(n.contains(addr("ff02::1")));
    }
}
