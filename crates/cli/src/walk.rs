//! The walk of a mapped pcap file, shared out to the shards' threads.
//!
//! With one reader walking the capture, every record header and the first
//! bytes of every frame go through that one thread's caches before a shard
//! reads the frame again; on large frames the reader became the thread the
//! others waited for (docs/benchmarks.md). Here the shards walk the file
//! instead, window by window ([`quartet_capture::Windows`]), in between
//! their batches: for each frame they note where it is, its time, and the
//! shard its connection key (`peek`) sends it to. The reader takes the
//! walked windows back in file order and does only what needs every frame
//! in order (ticks, network time, frame numbers, and the frames `peek` does
//! not take: tunnels, fragments, weirds), without touching the frames it
//! hands on.
//!
//! A window's first record is a guess until the window before it has been
//! walked; the reader checks each guess against that walk's end and walks
//! the window itself when the guess was wrong, so the frames are exactly
//! those of one sequential walk.

use crate::pipeline::key_shard;
use crossbeam_channel::{Receiver, Sender};
use quartet_capture::{CaptureError, Frame, Windows};
use quartet_decode::{peek_verified, DecodeConfig};
use quartet_wire::Timestamp;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// [`Walked::route`] of a frame the reader decodes itself.
pub const DECODE: u32 = u32::MAX;

/// One walked frame: `len` bytes at offset `at` of the mapped file.
#[derive(Clone, Copy, Debug)]
pub struct Walked {
    pub ts: Timestamp,
    pub at: u64,
    pub len: u32,
    pub wire_len: u32,
    /// The shard `peek` sends the frame to, or [`DECODE`].
    pub route: u32,
    /// Its transport checksum's verdict, found while the frame was in the
    /// walking thread's cache (`None` for a frame routed to [`DECODE`], or
    /// when checksums are ignored).
    pub sum: Option<bool>,
}

/// The frames of one window, from a walk that started at `from`.
pub struct WalkedWindow {
    pub k: usize,
    /// Where the walk started (`usize::MAX`: no start was found); the walk
    /// stands only if this is where the previous window's walk ended.
    pub from: usize,
    /// Where the walk ended: after the window's last record.
    pub end: usize,
    pub frames: Vec<Walked>,
    /// The walk stopped at this fault (after `frames`).
    pub error: Option<CaptureError>,
}

/// Who walks each window: the first to claim it, a shard or the reader.
/// The reader claims the window it needs next when no shard has started
/// it: when the shards are busy tracking (small frames, many connections)
/// the reader does the walk as it would alone, and when they wait on the
/// reader (large frames) they do it for it.
pub struct Claims(Vec<AtomicBool>);

impl Claims {
    pub fn new(windows: usize) -> Self {
        Claims((0..windows).map(|_| AtomicBool::new(false)).collect())
    }

    /// True for the one caller that gets window `k`.
    #[inline]
    pub fn claim(&self, k: usize) -> bool {
        !self.0[k].swap(true, Ordering::AcqRel)
    }
}

/// What a shard needs to walk windows for the reader.
pub struct WalkLinks {
    pub windows: Arc<Windows>,
    pub claims: Arc<Claims>,
    /// Windows to walk, by number.
    pub jobs: Receiver<usize>,
    pub results: Sender<WalkedWindow>,
    pub dcfg: DecodeConfig,
    pub shards: usize,
}

impl WalkLinks {
    /// Walks window `k` from its guessed start and hands it to the reader.
    pub fn walk(&self, k: usize) {
        if !self.claims.claim(k) {
            // The reader got there first.
            return;
        }
        // The reader waits for every window a shard claimed: should this
        // walk panic, the guard still answers (with no start, so the reader
        // walks the window itself) instead of leaving it waiting.
        let mut guard = Answer {
            results: &self.results,
            k,
            answered: false,
        };
        let walked = match self.windows.sync(k) {
            Some(from) => walk_window(&self.windows, k, from, &self.dcfg, self.shards),
            None => unwalked(k),
        };
        guard.answered = true;
        // The reader may have stopped early and gone.
        let _ = self.results.send(walked);
    }
}

/// A window with no walk: the reader walks it itself.
fn unwalked(k: usize) -> WalkedWindow {
    WalkedWindow {
        k,
        from: usize::MAX,
        end: usize::MAX,
        frames: Vec::new(),
        error: None,
    }
}

/// Sends [`unwalked`] for a claimed window if dropped before its walk was
/// sent (on a panic).
struct Answer<'a> {
    results: &'a Sender<WalkedWindow>,
    k: usize,
    answered: bool,
}

impl Drop for Answer<'_> {
    fn drop(&mut self) {
        if !self.answered {
            let _ = self.results.send(unwalked(self.k));
        }
    }
}

/// The shard `peek` sends `frame` to, or [`DECODE`], and the verdict of
/// its transport checksum, found now while the frame is in this thread's
/// cache. An empty frame is no common frame either: the reader drops it.
#[inline]
pub fn route(dcfg: &DecodeConfig, frame: &Frame<'_>, shards: usize) -> (u32, Option<bool>) {
    match peek_verified(dcfg, frame.linktype, frame.wire_len, frame.data) {
        Some((key, sum)) => (key_shard(&key, shards) as u32, sum),
        None => (DECODE, None),
    }
}

/// Walks window `k` of `windows` from `from`.
fn walk_window(
    windows: &Windows,
    k: usize,
    from: usize,
    dcfg: &DecodeConfig,
    shards: usize,
) -> WalkedWindow {
    let mut walk = windows.walk(k, from);
    // About a frame per 128 bytes of window (the mix has one per 490).
    let mut frames = Vec::with_capacity(windows.size() / 128 + 1);
    let error = loop {
        match walk.next_frame() {
            Ok(Some(f)) => {
                let (route, sum) = route(dcfg, &f, shards);
                frames.push(Walked {
                    ts: f.ts,
                    at: f.shared.map_or(0, |s| s.at) as u64,
                    len: f.data.len() as u32,
                    wire_len: f.wire_len,
                    route,
                    sum,
                });
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    WalkedWindow {
        k,
        from,
        end: walk.position(),
        frames,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A walk that panics still answers for its window, so the reader that
    /// waits for it walks the window itself instead of waiting for ever.
    #[test]
    fn a_walk_that_panics_still_answers() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let walk = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = Answer {
                results: &tx,
                k: 7,
                answered: false,
            };
            panic!("a walk fails");
        }));
        assert!(walk.is_err());
        let w = rx.try_recv().expect("an answer for window 7");
        assert_eq!((w.k, w.from), (7, usize::MAX));
        // A walk that finished sends its own answer, the guard none.
        drop(Answer {
            results: &tx,
            k: 8,
            answered: true,
        });
        assert!(rx.try_recv().is_err());
    }
}
