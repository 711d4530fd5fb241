//! # quartet-loadgen: real loopback TCP traffic with known ground truth
//!
//! The generator opens its own listening sockets on `127.0.0.1` (ephemeral
//! ports), drives real TCP connections to them from a small pool of fixed
//! client source ports, and captures everything with libpcap on device `lo`
//! (BPF filter on the server ports, immediate mode, large ring buffer) into a
//! pcap savefile. It then writes what really happened, the *truth*, as JSON.
//! A run fails (and says so) when libpcap reports any dropped packet, because
//! the truth describes the capture only when nothing was lost.
//!
//! Every connection starts the same way: the client connects and sends a
//! 4-byte request `'Q', pattern code, resp_len (u16 big-endian)`; the server
//! reads exactly those 4 bytes and then plays its side of the pattern:
//!
//! | pattern | what happens | closes first | abort |
//! |---|---|---|---|
//! | `latency` | server closes at once (no reply); client reads EOF, then closes with `SO_LINGER 0`: its ACK of the server FIN is followed by RST/ACK | server | client RST |
//! | `assassinate` | server sends `resp_len` bytes and closes; client reads to EOF and closes normally, then reuses the same source port at once for its next connection, whose SYN assassinates the server's TIME_WAIT | server | no |
//! | `client-first` | server sends `resp_len` bytes; client reads them and closes; server reads EOF, closes | client | no |
//! | `simultaneous` | server sends `resp_len` bytes; client reads them; both meet at an in-process rendezvous and call `shutdown(Write)` together | both | no |
//! | `half-close` | client sends its request and `shutdown(Write)` at once; server reads to EOF, then sends `resp_len` (≥ 1) bytes after the client's FIN and closes | client | no |
//!
//! Every client socket has `SO_REUSEADDR` and binds a source port of the
//! pool (`--ports N`, from `--base-port`). A 4-tuple is used by one
//! connection at a time. When the last connection on a tuple left the
//! *client* in TIME_WAIT (client-first, simultaneous, half-close) the tuple
//! rests for `net.ipv4.tcp_tw_reuse_delay` (+ a margin) before Linux lets the
//! client reuse it; a connect that still fails with `EADDRNOTAVAIL` /
//! `EADDRINUSE` (no SYN is sent then) is retried and the retries are
//! recorded. Server-side TIME_WAIT (assassinate, simultaneous) never blocks:
//! the next SYN on the tuple reopens it.
//!
//! ## Truth JSON (`--truth FILE`)
//!
//! One JSON object ([`Truth`]):
//!
//! ```text
//! {
//!   "format": "quartet-loadgen-truth/1",
//!   "generator": "quartet-loadgen 0.1.0",
//!   "seed": 1, "conns": 20000, "ports": 64,
//!   "mix": {"latency": 4, "assassinate": 4, ...},        // weights used
//!   "pcap": "out.pcap",
//!   "server_ports": [43567],                              // ephemeral listeners
//!   "client_ports": [24000, ..., 24063],
//!   "elapsed_s": 12.3,                                    // traffic only
//!   "capture": {"received": 180000, "dropped": 0, "if_dropped": 0, "written": 180000},
//!   "totals": {"connections": 20000, "connect_retries": 17, "stale_acks": 1,
//!              "by_pattern": {"latency": 7250, ...}},
//!   "tuples": [                                            // one per 4-tuple used
//!     {"orig_h": "127.0.0.1", "orig_p": 24000, "resp_h": "127.0.0.1", "resp_p": 43567,
//!      "connections": 312, "by_pattern": {"latency": 110, ...}}
//!   ],
//!   "connections": [                                       // sorted by "start"
//!     {"id": 0,                       // index in the seeded plan
//!      "pattern": "latency",
//!      "orig_h": "127.0.0.1", "orig_p": 24000, "resp_h": "127.0.0.1", "resp_p": 43567,
//!      "orig_bytes": 4,               // payload client -> server
//!      "resp_bytes": 0,               // payload server -> client
//!      "closed_first": "server",      // "client" | "server" | "both"
//!      "aborted": true,               // the connection ended with a RST
//!      "aborted_by": "client",        // who sent it, null if none
//!      "start": 1767225600.123456,    // epoch s, just before bind()
//!      "end": 1767225600.123789,      // epoch s, after the client's close()
//!      "tuple_seq": 0,                // n-th connection on this 4-tuple (0-based)
//!      "connect_retries": 0,          // connects refused locally (EADDRNOTAVAIL/EADDRINUSE)
//!      "connect_wait_us": 0,          // time spent in those retries
//!      "connect_us": 41,              // the successful connect() call
//!      "after_server_time_wait": false, // previous connection on the tuple left
//!                                       // the server in TIME_WAIT: this SYN assassinates it
//!      "after_client_time_wait": false, // ... left the client in TIME_WAIT (reused via tcp_tw_reuse)
//!      "syns": 1,                     // SYNs the client sent for it   } read back from
//!      "stale_acks": 0,               // bare ACKs of an older         } the capture
//!                                     // connection answering them (each followed by the
//!                                     // client's RST and the SYN sent again, same ISN)
//!      "stray_rsts": 0                // RSTs of an older connection   } read back
//!                                     // captured during this one (dropped in SYN-SENT,
//!                                     // RFC 793; challenged after it, RFC 5961)
//!     }
//!   ]
//! }
//! ```
//!
//! Per 4-tuple, the connections in `start` order are the conn.log rows of
//! that tuple in `ts` order, where Zeek's rules give one extra row (`SaR`,
//! `RSTOS0`, 0 bytes) before a connection for each of its `stale_acks`.
//!
//! Pattern `refused` is never planned: it records a SYN the server's stack
//! answered with RST/ACK (`connect` got ECONNREFUSED, the planned connection
//! was then retried on the same tuple): `orig_bytes` = `resp_bytes` = 0. See `docs/loadgen.md` for the `conn_state` and
//! `history` Zeek gives each pattern.
#![forbid(unsafe_code)]

mod annotate;
mod capture;
mod run;

pub use run::run;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Format tag written into every truth file.
pub const TRUTH_FORMAT: &str = "quartet-loadgen-truth/1";

/// A connection pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    Latency,
    Assassinate,
    ClientFirst,
    Simultaneous,
    HalfClose,
    /// Not selectable: a SYN the server's kernel answered with RST/ACK
    /// (`connect` got ECONNREFUSED); the planned connection is then retried
    /// on the same tuple.
    Refused,
}

impl Pattern {
    pub const ALL: [Pattern; 5] = [
        Pattern::Latency,
        Pattern::Assassinate,
        Pattern::ClientFirst,
        Pattern::Simultaneous,
        Pattern::HalfClose,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Pattern::Latency => "latency",
            Pattern::Assassinate => "assassinate",
            Pattern::ClientFirst => "client-first",
            Pattern::Simultaneous => "simultaneous",
            Pattern::HalfClose => "half-close",
            Pattern::Refused => "refused",
        }
    }

    /// The byte that names the pattern in the request.
    pub fn code(self) -> u8 {
        match self {
            Pattern::Latency => 1,
            Pattern::Assassinate => 2,
            Pattern::ClientFirst => 3,
            Pattern::Simultaneous => 4,
            Pattern::HalfClose => 5,
            Pattern::Refused => 0,
        }
    }

    pub fn from_code(c: u8) -> Option<Pattern> {
        Pattern::ALL.into_iter().find(|p| p.code() == c)
    }

    pub fn closed_first(self) -> Closer {
        match self {
            Pattern::Latency | Pattern::Assassinate => Closer::Server,
            Pattern::ClientFirst | Pattern::HalfClose => Closer::Client,
            Pattern::Simultaneous => Closer::Both,
            Pattern::Refused => Closer::Server,
        }
    }

    /// Who sends a RST, if anyone.
    pub fn aborted_by(self) -> Option<Closer> {
        match self {
            Pattern::Latency => Some(Closer::Client),
            Pattern::Refused => Some(Closer::Server),
            _ => None,
        }
    }

    /// The client ends in TIME_WAIT (it closed first, or both did).
    pub fn client_time_wait(self) -> bool {
        matches!(
            self,
            Pattern::ClientFirst | Pattern::Simultaneous | Pattern::HalfClose
        )
    }

    /// The server ends in TIME_WAIT (it closed first, or both did).
    pub fn server_time_wait(self) -> bool {
        matches!(self, Pattern::Assassinate | Pattern::Simultaneous)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Pattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Pattern::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Pattern::ALL.iter().map(|p| p.name()).collect();
                format!("unknown pattern `{s}` (known: {})", names.join(", "))
            })
    }
}

/// Who closed (or aborted) a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Closer {
    Client,
    Server,
    Both,
}

/// Pattern weights, e.g. `latency=4,assassinate=4,client-first=1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix(pub BTreeMap<Pattern, u32>);

impl Default for Mix {
    fn default() -> Self {
        "latency=6,assassinate=6,client-first=1,simultaneous=1,half-close=1"
            .parse()
            .expect("default mix parses")
    }
}

impl FromStr for Mix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut m = BTreeMap::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, w) = match part.split_once('=') {
                Some((n, w)) => (
                    n.trim(),
                    w.trim()
                        .parse::<u32>()
                        .map_err(|e| format!("bad weight in `{part}`: {e}"))?,
                ),
                None => (part, 1),
            };
            let p: Pattern = name.parse()?;
            *m.entry(p).or_insert(0) += w;
        }
        m.retain(|_, w| *w > 0);
        if m.is_empty() {
            return Err("the mix has no pattern with a positive weight".into());
        }
        Ok(Mix(m))
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(p, w)| format!("{p}={w}")).collect();
        f.write_str(&parts.join(","))
    }
}

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub conns: usize,
    pub ports: u16,
    pub base_port: u16,
    pub servers: u16,
    pub mix: Mix,
    pub seed: u64,
    pub concurrency: usize,
    pub pcap: PathBuf,
    pub truth: PathBuf,
    pub device: String,
    pub snaplen: i32,
    pub buffer_bytes: i32,
    pub grace: Duration,
    /// Largest server reply in bytes (replies are drawn from `0..=resp_max`,
    /// at least 1 for half-close).
    pub resp_max: u16,
    /// How long a connect may keep being refused locally before the run fails.
    pub connect_deadline: Duration,
    /// Connections started per second at most, evenly spaced (0: as fast
    /// as the tuples allow, the traffic then comes in bursts when
    /// TIME_WAIT rests dominate).
    pub rate: f64,
    pub quiet: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            conns: 1000,
            ports: 64,
            base_port: 24000,
            servers: 1,
            mix: Mix::default(),
            seed: 1,
            concurrency: 4,
            pcap: PathBuf::from("loadgen.pcap"),
            truth: PathBuf::from("loadgen.truth.json"),
            device: "lo".into(),
            snaplen: 4096,
            buffer_bytes: 64 << 20,
            grace: Duration::from_millis(300),
            resp_max: 2000,
            connect_deadline: Duration::from_secs(10),
            rate: 0.0,
            quiet: false,
        }
    }
}

/// libpcap's counters at the end of the capture.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CaptureStats {
    pub received: u64,
    pub dropped: u64,
    pub if_dropped: u64,
    pub written: u64,
}

/// One connection as it really happened.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConnTruth {
    pub id: usize,
    pub pattern: Pattern,
    pub orig_h: String,
    pub orig_p: u16,
    pub resp_h: String,
    pub resp_p: u16,
    pub orig_bytes: u64,
    pub resp_bytes: u64,
    pub closed_first: Closer,
    pub aborted: bool,
    pub aborted_by: Option<Closer>,
    pub start: f64,
    pub end: f64,
    pub tuple_seq: u32,
    pub connect_retries: u32,
    pub connect_wait_us: u64,
    pub connect_us: u64,
    pub after_server_time_wait: bool,
    pub after_client_time_wait: bool,
    /// SYN segments the client sent for this connection (from the capture).
    #[serde(default)]
    pub syns: u32,
    /// Bare ACKs of an older connection that answered those SYNs (each
    /// followed by the client's RST and a retransmitted SYN).
    #[serde(default)]
    pub stale_acks: u32,
    /// RSTs of an older connection on the tuple captured during this one:
    /// before its SYN-ACK one that does not acknowledge its SYN (the client
    /// drops it, RFC 793 3.9), after it one outside this connection's
    /// sequence space (the stack challenges it, RFC 5961); either way the
    /// connection goes on.
    #[serde(default)]
    pub stray_rsts: u32,
}

/// Connections per 4-tuple.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TupleTruth {
    pub orig_h: String,
    pub orig_p: u16,
    pub resp_h: String,
    pub resp_p: u16,
    pub connections: u32,
    pub by_pattern: BTreeMap<Pattern, u32>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Totals {
    pub connections: usize,
    pub connect_retries: u64,
    #[serde(default)]
    pub stale_acks: u64,
    pub by_pattern: BTreeMap<Pattern, u32>,
}

/// The whole truth file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Truth {
    pub format: String,
    pub generator: String,
    pub seed: u64,
    pub conns: usize,
    pub ports: u16,
    pub mix: BTreeMap<Pattern, u32>,
    pub pcap: String,
    pub server_ports: Vec<u16>,
    pub client_ports: Vec<u16>,
    pub elapsed_s: f64,
    pub capture: CaptureStats,
    pub totals: Totals,
    pub tuples: Vec<TupleTruth>,
    pub connections: Vec<ConnTruth>,
}

impl Truth {
    pub fn read(path: &std::path::Path) -> anyhow::Result<Truth> {
        let f = std::fs::File::open(path)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        Ok(serde_json::from_reader(std::io::BufReader::new(f))?)
    }
}

/// SplitMix64: a small seeded generator, enough for picking patterns.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5151_7a7a_0f0f_3c3c)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_parses() {
        let m: Mix = "latency=3, half-close".parse().unwrap();
        assert_eq!(m.0[&Pattern::Latency], 3);
        assert_eq!(m.0[&Pattern::HalfClose], 1);
        assert!("nope=1".parse::<Mix>().is_err());
        assert!("latency=0".parse::<Mix>().is_err());
        assert_eq!(Mix::default().0.len(), 5);
    }

    #[test]
    fn pattern_codes_round_trip() {
        for p in Pattern::ALL {
            assert_eq!(Pattern::from_code(p.code()), Some(p));
            assert_eq!(p.name().parse::<Pattern>(), Ok(p));
        }
    }

    #[test]
    fn rng_is_seeded() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(7).below(10)).collect();
        let mut r = Rng::new(7);
        assert_eq!(a[0], r.below(10));
        assert!((0..1000).all(|_| r.below(5) < 5));
    }
}
