//! `quartet`: reads a capture, tracks every connection and writes Zeek's
//! conn.log (TSV, or JSON lines with `--json`).
//!
//! This is the only code that prints to stderr and chooses exit codes:
//! 0 on success (a closed output pipe counts as success), 1 when the input
//! could not be read completely (the records of everything read before the
//! fault are still written), 2 for usage errors.
#![forbid(unsafe_code)]

mod feedback;
mod flags;
mod merge;
mod pipeline;
mod shard;
mod walk;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // First, so that a stop signal that comes while the flags are read
    // still ends the run cleanly (an empty log) rather than killing it.
    let signals = match register_signals() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("quartet: installing signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    let args = flags::Args::parse();
    let opts = match flags::Options::from_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("quartet: {e}");
            return ExitCode::from(2);
        }
    };
    match pipeline::run(&opts, &signals) {
        Ok(report) => {
            if opts.stats {
                eprint!("{}", report.stats_text());
                if let Some(kib) = feedback::peak_rss_kib() {
                    eprintln!("peak memory (VmHWM): {kib} kB");
                }
            }
            match report.input_error {
                Some(e) => {
                    eprintln!("quartet: {e}");
                    ExitCode::from(1)
                }
                None => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            // A capture error's message already names its cause.
            match e.downcast_ref::<quartet_capture::CaptureError>() {
                Some(ce) => eprintln!("quartet: {ce}"),
                None => eprintln!("quartet: {e:#}"),
            }
            ExitCode::from(1)
        }
    }
}

/// SIGINT and SIGTERM stop reading (the open connections are flushed and
/// the run exits 0); a second one while stopping ends the process at once.
/// SIGHUP reopens the log files.
fn register_signals() -> std::io::Result<pipeline::Signals> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::flag;
    let signals = pipeline::Signals::default();
    for sig in [SIGINT, SIGTERM] {
        flag::register_conditional_shutdown(sig, 1, signals.stop.clone())?;
        flag::register(sig, signals.stop.clone())?;
    }
    flag::register(SIGHUP, signals.hup.clone())?;
    Ok(signals)
}
