//! `quartet-loadgen`: real loopback TCP traffic, captured with libpcap, plus
//! the ground truth as JSON. See the crate documentation (`src/lib.rs`) and
//! `docs/loadgen.md`.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use quartet_loadgen::{Config, Mix};

#[derive(Parser, Debug)]
#[command(
    name = "quartet-loadgen",
    version,
    about = "Drive real TCP connections over 127.0.0.1, capture them on `lo` with libpcap, write the ground truth as JSON"
)]
struct Args {
    /// Number of connections
    #[arg(long, default_value_t = 1000)]
    conns: usize,
    /// Size of the client source-port pool (every connection binds one of them)
    #[arg(long, default_value_t = 64)]
    ports: u16,
    /// First port of the source-port pool
    #[arg(long, default_value_t = 24000)]
    base_port: u16,
    /// Number of listening server ports (ephemeral); tuples = ports x servers
    #[arg(long, default_value_t = 1)]
    servers: u16,
    /// Pattern weights: latency, assassinate, client-first, simultaneous, half-close
    #[arg(long, default_value_t = Mix::default())]
    mix: Mix,
    /// Seed of the pattern and reply-size choices
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Client threads (connections in flight)
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Capture file to write (pcap)
    #[arg(long)]
    pcap: PathBuf,
    /// Truth file to write (JSON)
    #[arg(long)]
    truth: PathBuf,
    /// Capture device
    #[arg(long, default_value = "lo")]
    device: String,
    /// Capture snap length
    #[arg(long, default_value_t = 4096)]
    snaplen: i32,
    /// libpcap ring buffer size in MiB
    #[arg(long, default_value_t = 64)]
    buffer_mb: i32,
    /// Quiet time after the last connection before the capture stops, in ms
    #[arg(long, default_value_t = 300)]
    grace_ms: u64,
    /// Largest server reply in bytes
    #[arg(long, default_value_t = 2000)]
    resp_max: u16,
    /// Start at most this many connections per second, evenly spaced (0: as
    /// fast as the tuples allow)
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Do not print the summary
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let cfg = Config {
        conns: a.conns,
        ports: a.ports,
        base_port: a.base_port,
        servers: a.servers,
        mix: a.mix,
        seed: a.seed,
        concurrency: a.concurrency,
        pcap: a.pcap,
        truth: a.truth,
        device: a.device,
        snaplen: a.snaplen,
        buffer_bytes: a.buffer_mb.saturating_mul(1 << 20),
        grace: Duration::from_millis(a.grace_ms),
        resp_max: a.resp_max,
        rate: a.rate,
        quiet: a.quiet,
        ..Config::default()
    };
    match quartet_loadgen::run(&cfg) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quartet-loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
