//! Zeek's `likely_server_ports`: ports that make their side the responder
//! when the originator choice is in doubt (§3.4, §3.5 of the semantics
//! document).
//!
//! Owns the default TCP and UDP sets of the default script set and the
//! parser for a user list (`80/tcp,53/udp`), which replaces the defaults.
//! Each protocol keeps a 65536-bit set (8 KiB), so a lookup is one load and
//! one bit test.

/// TCP server ports registered by the default script set's analyzers.
const DEFAULT_TCP: [u16; 49] = [
    21, 22, 25, 53, 79, 80, 81, 88, 135, 139, 143, 389, 443, 445, 465, 502, 514, 563, 585, 587,
    614, 631, 636, 989, 990, 992, 993, 995, 1080, 1434, 1883, 2811, 3128, 3268, 3306, 3389, 5222,
    5223, 5269, 5432, 6379, 6666, 6667, 6668, 6669, 8000, 8080, 8888, 20000,
];

/// UDP server ports registered by the default script set's analyzers.
const DEFAULT_UDP: [u16; 24] = [
    53, 67, 88, 123, 137, 161, 162, 389, 443, 514, 1812, 2123, 2152, 3389, 3544, 4011, 4754, 4789,
    5060, 5072, 5353, 5355, 6081, 20000,
];

const IP_PROTO_TCP: u8 = 6;
const IP_PROTO_UDP: u8 = 17;

/// One bit per port.
#[derive(Clone, PartialEq, Eq)]
struct PortSet(Box<[u64; 1024]>);

impl PortSet {
    fn new() -> Self {
        PortSet(Box::new([0; 1024]))
    }

    fn insert(&mut self, port: u16) {
        self.0[usize::from(port >> 6)] |= 1 << (port & 63);
    }

    fn contains(&self, port: u16) -> bool {
        self.0[usize::from(port >> 6)] & (1 << (port & 63)) != 0
    }

    fn count(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }
}

/// The TCP and UDP ports Zeek treats as likely server ports.
#[derive(Clone, PartialEq, Eq)]
pub struct LikelyServerPorts {
    tcp: PortSet,
    udp: PortSet,
}

impl std::fmt::Debug for LikelyServerPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LikelyServerPorts")
            .field("tcp", &self.tcp.count())
            .field("udp", &self.udp.count())
            .finish()
    }
}

impl Default for LikelyServerPorts {
    /// The set Zeek has with its default scripts.
    fn default() -> Self {
        let mut p = LikelyServerPorts::empty();
        DEFAULT_TCP.iter().for_each(|&port| p.tcp.insert(port));
        DEFAULT_UDP.iter().for_each(|&port| p.udp.insert(port));
        p
    }
}

impl LikelyServerPorts {
    /// No likely server ports at all.
    pub fn empty() -> Self {
        LikelyServerPorts {
            tcp: PortSet::new(),
            udp: PortSet::new(),
        }
    }

    /// Parses `port/proto` entries separated by commas (`80/tcp,53/udp`),
    /// replacing the default set. `icmp` and `unknown` entries are accepted
    /// and have no effect: only TCP and UDP ports steer direction here.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut p = LikelyServerPorts::empty();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || format!("invalid port {entry:?} (expected e.g. 80/tcp)");
            let (port, proto) = entry.split_once('/').ok_or_else(bad)?;
            let port: u16 = port.trim().parse().map_err(|_| bad())?;
            match proto.trim().to_ascii_lowercase().as_str() {
                "tcp" => p.tcp.insert(port),
                "udp" => p.udp.insert(port),
                "icmp" | "unknown" => {}
                _ => return Err(bad()),
            }
        }
        Ok(p)
    }

    /// Whether `port` is a likely server port for IP protocol `proto`
    /// (6 = TCP, 17 = UDP; any other protocol has none).
    pub fn is_likely(&self, proto: u8, port: u16) -> bool {
        match proto {
            IP_PROTO_TCP => self.tcp.contains(port),
            IP_PROTO_UDP => self.udp.contains(port),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set() {
        let p = LikelyServerPorts::default();
        for port in DEFAULT_TCP {
            assert!(p.is_likely(6, port), "{port}/tcp");
        }
        for port in DEFAULT_UDP {
            assert!(p.is_likely(17, port), "{port}/udp");
        }
        assert_eq!(p.tcp.count(), 49);
        assert_eq!(p.udp.count(), 24);
        assert!(p.is_likely(6, 443) && p.is_likely(17, 443));
        assert!(!p.is_likely(6, 67), "67 is UDP only");
        assert!(!p.is_likely(17, 68), "DHCP client port");
        assert!(!p.is_likely(17, 853));
        assert!(!p.is_likely(6, 110));
        assert!(!p.is_likely(6, 5900));
        assert!(!p.is_likely(6, 0) && !p.is_likely(6, 65535));
        assert!(!p.is_likely(1, 80), "ICMP has no server ports");
    }

    #[test]
    fn parse_replaces_defaults() {
        let p = LikelyServerPorts::parse("80/tcp, 3544/udp,8/icmp,,65535/TCP").unwrap();
        assert!(p.is_likely(6, 80));
        assert!(p.is_likely(17, 3544));
        assert!(p.is_likely(6, 65535));
        assert!(!p.is_likely(6, 22), "defaults are gone");
        assert!(!p.is_likely(17, 80));
        assert!(!p.is_likely(1, 8));
        assert_eq!(
            LikelyServerPorts::parse("").unwrap(),
            LikelyServerPorts::empty()
        );
    }

    #[test]
    fn parse_rejects_garbage() {
        for bad in ["80", "80/sctp", "x/tcp", "65536/tcp", "-1/udp", "/tcp"] {
            assert!(LikelyServerPorts::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bitset_edges() {
        let mut s = PortSet::new();
        for port in [0, 63, 64, 65535] {
            s.insert(port);
            assert!(s.contains(port));
        }
        assert!(!s.contains(1) && !s.contains(65534));
        assert_eq!(s.count(), 4);
    }
}
