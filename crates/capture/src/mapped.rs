//! Capture files mapped into memory instead of read.
//!
//! Reading a regular file with `read` copies every byte from the page cache
//! into the reader's buffer; on a 1.1 GB capture read by one thread that
//! copy was about 16% of the run (perf, docs/benchmarks.md). A mapping lets
//! the reader lend each frame straight out of the page cache, and hand the
//! same bytes to the shard threads without a copy either.
//!
//! Pages the reader has gone past, and whose frames the threads it handed
//! them to have finished with, are handed back (`release`), so the
//! process's resident set holds only the part of the file still being
//! worked on, not the whole file: a mapped file would otherwise count in
//! the peak RSS by its full size.
//!
//! This module holds the crate's only `unsafe` blocks.
#![allow(unsafe_code)]

use std::fs::File;

use memmap2::{Advice, Mmap, UncheckedAdvice};

/// Smaller files are read: a mapping costs system calls and page-table
/// set-up that a small file does not repay.
pub(crate) const MIN_MAP: u64 = 1 << 20;

/// Maps `file` for reading when it is a regular file of at least
/// `MIN_MAP` bytes; `None` (read it instead) otherwise or when the mapping
/// fails.
pub(crate) fn map(file: &File) -> Option<Mmap> {
    let meta = file.metadata().ok()?;
    if meta.len() < MIN_MAP {
        return None;
    }
    map_any(file)
}

/// Maps `file` for reading when it is a non-empty regular file, whatever
/// its size; `None` otherwise or when the mapping fails.
pub(crate) fn map_any(file: &File) -> Option<Mmap> {
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() == 0 || usize::try_from(meta.len()).is_err() {
        return None;
    }
    // SAFETY: `Mmap::map` is unsafe because the bytes behind the returned
    // slice belong to the file, not to this process: another process may
    // change them or truncate the file while it is mapped. quartet only
    // reads the bytes, as `u8`s (every bit pattern is valid), and every
    // length and offset taken from them is checked by the pcap and pcapng
    // parsers before use, so changed bytes can only make records malformed
    // (a capture error naming the offset), never an out-of-bounds access.
    // Truncation by another process while quartet runs makes the kernel
    // raise SIGBUS on the next access to a page past the new end, which ends
    // the process: the same contract as other tools that map their input
    // (documented in docs/operations.md). The mapping is private and
    // read-only and lives as long as the `Arc` that owns it.
    let map = unsafe { Mmap::map(file) }.ok()?;
    // Only a hint: the file is read once, front to back.
    let _ = map.advise(Advice::Sequential);
    Some(map)
}

/// Drops `map`'s pages in `from..to` (rounded inwards to whole pages) from
/// the process's resident set; the file's pages stay in the page cache.
pub(crate) fn release(map: &Mmap, from: usize, to: usize) {
    const PAGE: usize = 4096;
    let from = from.next_multiple_of(PAGE);
    let to = to.min(map.len()) / PAGE * PAGE;
    if to <= from {
        return;
    }
    // SAFETY: `MADV_DONTNEED` is unsafe in general because a private
    // mapping's pages that were *written* lose the writes (they read as the
    // file, or as zeroes for an anonymous mapping). This mapping is
    // read-only and never written, so after it every byte reads the same
    // as before, faulted in again from the page cache on the next access:
    // frames still in flight in the released range stay valid, only slower
    // to read. `from..to` lies within the mapping.
    let _ = unsafe { map.unchecked_advise_range(UncheckedAdvice::DontNeed, from, to - from) };
}

/// Asks the CPU to bring the cache line holding `data[at]` into its caches
/// ahead of use: a hint, nothing when `at` is past the end or the target
/// has no prefetch instruction we use.
#[inline(always)]
pub(crate) fn prefetch(data: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(b) = data.get(at) {
        // SAFETY: `_mm_prefetch` is unsafe only because it is a
        // `target_feature(enable = "sse")` function; SSE is part of the
        // x86_64 baseline, so the instruction exists on every target this
        // compiles for. A prefetch reads nothing into the program and never
        // faults (on an unmapped or released page it is dropped), and the
        // address is that of a byte of `data`, in bounds.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                (b as *const u8).cast(),
            )
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, at);
}

/// A cache line: the stride of the prefetches.
const LINE: usize = 64;

/// Prefetches the cache lines of `data[from..to]`.
#[inline]
pub(crate) fn prefetch_range(data: &[u8], from: usize, to: usize) {
    let mut p = from;
    while p < to {
        prefetch(data, p);
        p += LINE;
    }
}

/// Bytes of a frame [`prefetch_frame`] fetches at most: a full Ethernet
/// frame, which the checksum verification reads to the end.
const FRAME_BYTES: usize = 1536;

/// Prefetches the cache lines of `frame` (at most its first `FRAME_BYTES`).
#[inline]
pub fn prefetch_frame(frame: &[u8]) {
    prefetch_range(frame, 0, frame.len().min(FRAME_BYTES));
}
