//! Command-line flags in two stages: `Args` mirrors the command line
//! (clap), `Options` holds the validated, built values the pipeline runs on.
//! Flag names follow Zeek and tcpdump habits.

use clap::Parser;
use quartet_capture::LiveConfig;
use quartet_record::Columns;
use quartet_track::ports::LikelyServerPorts;
use quartet_track::site::LocalNets;
use quartet_track::TcpModel;

/// Passive connection tracker: reads a capture and writes Zeek's conn.log.
#[derive(Parser, Debug)]
#[command(name = "quartet", version, about)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["read", "interface"])))]
pub struct Args {
    /// Capture to read: pcap or pcapng, optionally gzipped; `-` for stdin.
    #[arg(short = 'r', value_name = "FILE")]
    pub read: Option<String>,

    /// Capture live from this network interface (needs CAP_NET_RAW).
    #[arg(short = 'i', value_name = "IFACE")]
    pub interface: Option<String>,

    /// Live capture: bytes kept of each frame (default 9216, as Zeek).
    #[arg(long, value_name = "BYTES")]
    pub snaplen: Option<u32>,

    /// Live capture: kernel buffer size in bytes, suffixes K, M, G allowed
    /// (default 128M, as Zeek).
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub buffer_size: Option<u32>,

    /// Rotate conn.log and weird.log at every interval boundary of network
    /// time, e.g. `1h`, `30m`, `10s`; closed files become `conn.<open>.log`
    /// (the local time the file was opened, `%Y-%m-%d-%H-%M-%S`).
    #[arg(long, value_name = "INTERVAL", value_parser = parse_interval)]
    pub rotate: Option<u64>,

    /// Print a one-line status (packets, open connections, packets/s,
    /// drops) to stderr every SECS seconds.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub status_interval: Option<u64>,

    /// Where to write the log; `-` for standard output.
    #[arg(short = 'o', value_name = "PATH", default_value = "conn.log")]
    pub output: String,

    /// Write JSON lines (as Zeek's JSON writer) instead of TSV.
    #[arg(long)]
    pub json: bool,

    /// Ignore checksums (Zeek's -C).
    #[arg(short = 'C')]
    pub ignore_checksums: bool,

    /// BPF filter applied to every frame read (compiled by libpcap).
    #[arg(short = 'f', value_name = "EXPR")]
    pub filter: Option<String>,

    /// Seed of the uid generator (uids are deterministic for a seed).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Replaces the set of likely server ports, e.g. `80/tcp,53/udp`.
    #[arg(long, value_name = "LIST")]
    pub likely_server_ports: Option<String>,

    /// Networks that count as local besides the private ranges (CIDRs, comma-separated).
    #[arg(long, value_name = "CIDRS")]
    pub local_nets: Option<String>,

    /// Extra columns: `l2` (orig_l2_addr, resp_l2_addr), `vlan` (vlan, inner_vlan).
    #[arg(long, value_name = "LIST")]
    pub conn_columns: Option<String>,

    /// Print packet and connection counters to stderr on exit.
    #[arg(long)]
    pub stats: bool,

    /// TCP model: `zeek` (Zeek's rules, bug for bug) or `strict` (TIME_WAIT
    /// tombstones, RFC 1122 reopening, RSTs honoured as stacks do (RFC 793
    /// in SYN-SENT, RFC 5961 after); see docs/tcp-models.md).
    #[arg(long, value_name = "MODEL", default_value = "zeek", value_parser = ["zeek", "strict"])]
    pub tcp_model: String,

    /// Track at most N connections at once; when full, unanswered attempts
    /// and then the least recently seen are written early (evicted).
    /// Default: as many as half of the available memory holds; 0: no limit.
    #[arg(long, value_name = "N")]
    pub max_conns: Option<usize>,

    /// Shards (tracker threads); connections are dealt to them by a hash of
    /// their key. The output is the same for any value. Default: the number
    /// of available cores.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,

    /// With more than one thread, the shards walk a pcap file in windows of
    /// this many bytes, several at once, instead of one reader walking it
    /// all (suffixes K, M, G; default 4M; 0: one reader). Given explicitly,
    /// the file is mapped whatever its size (smaller than 1 MiB files are
    /// otherwise read). The output is the same for any value.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub walk_window: Option<u32>,

    /// For tests: with the shared walk, the reader walks no window a shard
    /// can walk (it waits for the shards), so that the shards' walks are
    /// exercised whatever the timing.
    #[arg(long, hide = true)]
    pub walk_shards_only: bool,

    /// Also write Zeek's weird.log (anomalies) to this path.
    #[arg(short = 'w', long = "weird-log", value_name = "PATH")]
    pub weird_log: Option<String>,
}

/// Where the frames come from.
pub enum Input {
    File(String),
    Live(LiveConfig),
}

/// Validated options.
pub struct Options {
    pub input: Input,
    /// Rotation interval in seconds.
    pub rotate: Option<u64>,
    pub status_interval: Option<u64>,
    pub output: String,
    pub json: bool,
    pub ignore_checksums: bool,
    pub filter: Option<String>,
    pub seed: u64,
    pub likely_server_ports: LikelyServerPorts,
    pub local_nets: LocalNets,
    pub columns: Columns,
    pub stats: bool,
    pub weird_log: Option<String>,
    pub tcp_model: TcpModel,
    pub max_conns: usize,
    pub threads: usize,
    /// Bytes per window of a walk shared by the shards (0: one reader).
    pub walk_window: usize,
    /// The window size was given: map the capture whatever its size.
    pub map_any_size: bool,
    /// The reader leaves every window to the shards (tests).
    pub walk_shards_only: bool,
}

/// Bytes per window of a capture walked by the shards: large enough that
/// each window's hand-offs cost little, small enough that a window's
/// frames are still cached when a shard takes them.
pub const DEFAULT_WALK_WINDOW: usize = 4 << 20;

/// The smallest window: each costs hand-offs and a claim flag, so a window
/// of a few bytes would cost more than the frames in it (a 64-byte window
/// was 400 times slower than 4 MiB). Tests use windows not much larger, to
/// cut small captures into many.
const MIN_WALK_WINDOW: u32 = 256;

/// Peak memory one tracked connection costs at the `--max-conns` limit,
/// table overhead, timers and records in flight included, used to size the
/// default `--max-conns`. It follows docs/benchmarks.md ("Memory under a
/// SYN flood": 551 B measured, 194 B for open connections alone), rounded
/// up, like `BUDGET_PER_CONN` of tests/flood.rs, which checks it.
const BYTES_PER_CONN: u64 = 768;

/// Half of the memory available now, in connections: the smaller of the
/// system's `MemAvailable` and the cgroup's `memory.max` (a container's
/// limit; cgroup v2), 4 GiB when neither can be read.
fn default_max_conns() -> usize {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok();
    max_conns_for(meminfo.as_deref(), cgroup.as_deref())
}

fn max_conns_for(meminfo: Option<&str>, cgroup_max: Option<&str>) -> usize {
    let avail = meminfo.and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
    });
    // "max" (no limit) does not parse and counts as none.
    let limit = cgroup_max.and_then(|c| c.trim().parse::<u64>().ok());
    let bytes = match (avail, limit) {
        (Some(a), Some(l)) => a.min(l),
        (Some(b), None) | (None, Some(b)) => b,
        (None, None) => 4 << 30,
    };
    (bytes / 2 / BYTES_PER_CONN) as usize
}

impl Options {
    pub fn from_args(a: &Args) -> Result<Options, String> {
        if let Some(w @ 1..MIN_WALK_WINDOW) = a.walk_window {
            return Err(format!(
                "--walk-window {w}: at least {MIN_WALK_WINDOW} bytes (or 0: one reader)"
            ));
        }
        let likely_server_ports = match &a.likely_server_ports {
            Some(l) => {
                LikelyServerPorts::parse(l).map_err(|e| format!("--likely-server-ports: {e}"))?
            }
            None => LikelyServerPorts::default(),
        };
        let mut local_nets = LocalNets::default();
        if let Some(l) = &a.local_nets {
            local_nets
                .add_list(l)
                .map_err(|e| format!("--local-nets: {e}"))?;
        }
        let mut columns = Columns::default();
        if let Some(c) = &a.conn_columns {
            for part in c.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                match part {
                    "l2" => columns.l2 = true,
                    "vlan" => columns.vlan = true,
                    other => {
                        return Err(format!(
                            "--conn-columns: unknown column set '{other}' (expected l2, vlan)"
                        ))
                    }
                }
            }
        }
        if a.interface.is_none() && (a.snaplen.is_some() || a.buffer_size.is_some()) {
            return Err("--snaplen and --buffer-size apply to live capture (-i)".to_string());
        }
        if a.rotate.is_some() && a.output == "-" {
            return Err("--rotate needs a log file, not standard output (-o -)".to_string());
        }
        let input = match (&a.read, &a.interface) {
            (_, Some(iface)) => Input::Live(LiveConfig {
                interface: iface.clone(),
                snaplen: a.snaplen.unwrap_or(LiveConfig::default().snaplen),
                buffer_size: a.buffer_size.unwrap_or(LiveConfig::default().buffer_size),
                filter: a.filter.clone(),
                ..LiveConfig::default()
            }),
            (Some(r), None) => Input::File(r.clone()),
            (None, None) => return Err("one of -r FILE or -i IFACE is needed".to_string()),
        };
        Ok(Options {
            input,
            rotate: a.rotate,
            status_interval: a.status_interval,
            output: a.output.clone(),
            json: a.json,
            ignore_checksums: a.ignore_checksums,
            filter: a.filter.clone(),
            seed: a.seed,
            likely_server_ports,
            local_nets,
            columns,
            stats: a.stats,
            weird_log: a.weird_log.clone(),
            max_conns: a.max_conns.unwrap_or_else(default_max_conns),
            threads: match a.threads {
                Some(n) => n as usize,
                None => std::thread::available_parallelism().map_or(1, |n| n.get()),
            },
            walk_window: a.walk_window.map_or(DEFAULT_WALK_WINDOW, |b| b as usize),
            map_any_size: a.walk_window.is_some_and(|b| b > 0),
            walk_shards_only: a.walk_shards_only,
            tcp_model: if a.tcp_model == "strict" {
                TcpModel::Strict
            } else {
                TcpModel::Zeek
            },
        })
    }
}

/// `1h`, `30m`, `10s` or plain seconds, in seconds (at least one).
pub fn parse_interval(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not an interval like 1h, 30m or 10s"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "'{s}': unknown unit '{unit}' (expected s, m, h or d)"
            ))
        }
    };
    match n.checked_mul(mult) {
        Some(v) if v > 0 => Ok(v),
        _ => Err(format!("'{s}': the interval must be positive")),
    }
}

/// Bytes, with an optional K, M or G suffix (powers of 1024).
pub fn parse_size(s: &str) -> Result<u32, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M') => (&s[..s.len() - 1], 1 << 20),
        Some('G') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = num.parse().map_err(|_| format!("'{s}' is not a size"))?;
    n.checked_mul(mult)
        .and_then(|b| u32::try_from(b).ok())
        .ok_or_else(|| format!("'{s}' is too large (at most 4G - 1)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("1h"), Ok(3600));
        assert_eq!(parse_interval("30m"), Ok(1800));
        assert_eq!(parse_interval("10s"), Ok(10));
        assert_eq!(parse_interval("15"), Ok(15));
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("1y").is_err());
        assert!(parse_interval("h").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert!(parse_size("8G").is_err());
        // Not wrapped around to a small size by the multiplication.
        assert!(parse_size("17179869184G").is_err());
        assert!(parse_size("17179869185G").is_err());
        assert!(parse_size("x").is_err());
    }

    #[test]
    fn default_max_conns_is_half_the_memory() {
        let meminfo = "MemTotal:       24683800 kB\nMemAvailable:    3072000 kB\n";
        let half = (3_072_000 * 1024 / 2 / BYTES_PER_CONN) as usize;
        assert_eq!(max_conns_for(Some(meminfo), None), half);
        assert_eq!(max_conns_for(Some(meminfo), Some("max\n")), half);
        let small = (1u64 << 30) / 2 / BYTES_PER_CONN;
        assert_eq!(
            max_conns_for(Some(meminfo), Some("1073741824\n")),
            small as usize
        );
        assert_eq!(
            max_conns_for(None, None),
            ((4u64 << 30) / 2 / BYTES_PER_CONN) as usize
        );
    }

    #[test]
    fn input_is_required_and_exclusive() {
        assert!(Args::try_parse_from(["quartet"]).is_err());
        assert!(Args::try_parse_from(["quartet", "-r", "a", "-i", "lo"]).is_err());
        let a = Args::try_parse_from(["quartet", "-r", "a", "--snaplen", "96"]).expect("parses");
        assert!(Options::from_args(&a).is_err());
        let a = Args::try_parse_from(["quartet", "-i", "lo", "-f", "tcp", "--snaplen", "96"])
            .expect("valid");
        match Options::from_args(&a).expect("valid").input {
            Input::Live(c) => {
                assert_eq!(c.interface, "lo");
                assert_eq!(c.snaplen, 96);
                assert_eq!(c.filter.as_deref(), Some("tcp"));
            }
            Input::File(_) => panic!("-i is live"),
        }
        let a = Args::try_parse_from(["quartet", "-r", "a", "--rotate", "1h", "-o", "-"])
            .expect("parses");
        assert!(Options::from_args(&a).is_err());
    }
}
