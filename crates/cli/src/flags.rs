//! Command-line flags in two stages: `Args` mirrors the command line
//! (clap), `Options` holds the validated, built values the pipeline runs on.
//! Flag names follow Zeek and tcpdump habits.

use clap::Parser;
use quartet_record::Columns;
use quartet_track::ports::LikelyServerPorts;
use quartet_track::site::LocalNets;
use quartet_track::TcpModel;

/// Passive connection tracker: reads a capture and writes Zeek's conn.log.
#[derive(Parser, Debug)]
#[command(name = "quartet", version, about)]
pub struct Args {
    /// Capture to read: pcap or pcapng, optionally gzipped; `-` for stdin.
    #[arg(short = 'r', value_name = "FILE")]
    pub read: String,

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
    /// tombstones, RFC 1122 reopening; see docs/tcp-models.md).
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

    /// Also write Zeek's weird.log (anomalies) to this path.
    #[arg(short = 'w', long = "weird-log", value_name = "PATH")]
    pub weird_log: Option<String>,
}

/// Validated options.
pub struct Options {
    pub read: String,
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
}

/// Memory one tracked connection costs at most, with table overhead, used
/// to size the default `--max-conns` (measured: docs/benchmarks.md).
const BYTES_PER_CONN: u64 = 1024;

/// Half of the memory available now, in connections.
fn default_max_conns() -> usize {
    let avail_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(4 << 20);
    (avail_kib * 1024 / 2 / BYTES_PER_CONN) as usize
}

impl Options {
    pub fn from_args(a: &Args) -> Result<Options, String> {
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
        Ok(Options {
            read: a.read.clone(),
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
            tcp_model: if a.tcp_model == "strict" {
                TcpModel::Strict
            } else {
                TcpModel::Zeek
            },
        })
    }
}
