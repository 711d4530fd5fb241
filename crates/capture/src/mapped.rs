//! Capture files mapped into memory instead of read.
//!
//! Reading a regular file with `read` copies every byte from the page cache
//! into the reader's buffer; on a 1.1 GB capture read by one thread that
//! copy was about 16% of the run (perf, docs/benchmarks.md). A mapping lets
//! the reader lend each frame straight out of the page cache, and hand the
//! same bytes to the shard threads without a copy either.
//!
//! This module holds the crate's only `unsafe` block.
#![allow(unsafe_code)]

use std::fs::File;

use memmap2::{Advice, Mmap};

/// Smaller files are read: a mapping costs system calls and page-table
/// set-up that a small file does not repay.
pub(crate) const MIN_MAP: u64 = 1 << 20;

/// Maps `file` for reading when it is a regular file of at least
/// `MIN_MAP` bytes; `None` (read it instead) otherwise or when the mapping
/// fails.
pub(crate) fn map(file: &File) -> Option<Mmap> {
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() < MIN_MAP || usize::try_from(meta.len()).is_err() {
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
