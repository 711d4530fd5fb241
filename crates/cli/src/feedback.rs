//! Operator feedback on stderr: a progress bar for file reads (only when
//! stderr is a terminal), the `--status-interval` line and the peak memory
//! printed with `--stats`.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Read};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A reader that counts the bytes read through it (compressed bytes for a
/// gzipped file, so the count is a share of the file's size).
pub struct CountingReader<R> {
    pub inner: R,
    pub count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Whether a progress bar may be drawn.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

pub struct Feedback {
    bar: Option<(ProgressBar, Arc<AtomicU64>)>,
    status: Option<Duration>,
    /// Connections open in every shard together.
    pub open_conns: Arc<AtomicI64>,
    last: Instant,
    last_frames: u64,
    bar_last: Instant,
    bar_frames: u64,
}

impl Feedback {
    pub fn new(
        file: Option<(u64, Arc<AtomicU64>)>,
        status_secs: Option<u64>,
        open_conns: Arc<AtomicI64>,
    ) -> Self {
        let bar = file.map(|(size, count)| {
            let bar = ProgressBar::new(size);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {percent:>3}% {bytes}/{total_bytes} {msg} ETA {eta}",
                )
                .expect("a valid template"),
            );
            (bar, count)
        });
        let now = Instant::now();
        Feedback {
            bar,
            status: status_secs.map(Duration::from_secs),
            open_conns,
            last: now,
            last_frames: 0,
            bar_last: now,
            bar_frames: 0,
        }
    }

    /// Whether `update` has anything to do.
    pub fn active(&self) -> bool {
        self.bar.is_some() || self.status.is_some()
    }

    /// Called now and then with the frames read so far; `drops` gives the
    /// kernel's and the interface's drop counts of a live capture.
    pub fn update(&mut self, frames: u64, drops: impl FnOnce() -> Option<(u64, u64)>) {
        if let Some((bar, count)) = &self.bar {
            let el = self.bar_last.elapsed();
            if el >= Duration::from_millis(200) {
                let rate = (frames - self.bar_frames) as f64 / el.as_secs_f64();
                bar.set_message(format!("{rate:.0} pkts/s"));
                self.bar_last = Instant::now();
                self.bar_frames = frames;
            }
            bar.set_position(count.load(Ordering::Relaxed));
        }
        let Some(every) = self.status else {
            return;
        };
        let el = self.last.elapsed();
        if el < every {
            return;
        }
        let rate = (frames - self.last_frames) as f64 / el.as_secs_f64();
        let line = status_line(
            frames,
            self.open_conns.load(Ordering::Relaxed),
            rate,
            drops(),
        );
        match &self.bar {
            Some((bar, _)) => bar.println(line),
            None => eprintln!("{line}"),
        }
        self.last = Instant::now();
        self.last_frames = frames;
    }

    pub fn finish(&mut self) {
        if let Some((bar, _)) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// The process's peak resident set size in KiB (`VmHWM` of
/// /proc/self/status, the figure `getrusage` reports as `ru_maxrss`); None
/// where /proc is not there.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    vm_hwm_kib(&status)
}

fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn status_line(frames: u64, open: i64, rate: f64, drops: Option<(u64, u64)>) -> String {
    let drops = match drops {
        Some((kernel, iface)) => format!(" drops {kernel} kernel, {iface} interface"),
        None => String::new(),
    };
    format!(
        "quartet: packets {frames} conns open {} {rate:.0} pkts/s{drops}",
        open.max(0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_names_every_number() {
        assert_eq!(
            status_line(10, 3, 2.4, Some((1, 2))),
            "quartet: packets 10 conns open 3 2 pkts/s drops 1 kernel, 2 interface"
        );
        assert_eq!(
            status_line(10, -1, 0.0, None),
            "quartet: packets 10 conns open 0 0 pkts/s"
        );
    }

    #[test]
    fn peak_rss_is_read_from_proc() {
        assert_eq!(
            vm_hwm_kib("Name:\tq\nVmHWM:\t  286148 kB\nVmRSS:\t1 kB\n"),
            Some(286148)
        );
        assert_eq!(vm_hwm_kib("Name:\tq\n"), None);
        assert!(
            peak_rss_kib().is_some_and(|k| k > 0),
            "Linux has /proc/self/status"
        );
    }

    #[test]
    fn counting_reader_counts() {
        let count = Arc::new(AtomicU64::new(0));
        let mut r = CountingReader {
            inner: &b"hello"[..],
            count: count.clone(),
        };
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("reads");
        assert_eq!(count.load(Ordering::Relaxed), 5);
    }
}
