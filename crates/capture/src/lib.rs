//! Capture input: classic pcap (both byte orders, micro- and nanosecond),
//! pcapng (several interfaces, each with its own link type and timestamp
//! resolution), either of them gzipped, from a file or standard input.
//!
//! A source lends one `Frame` at a time; end of input is `Ok(None)`. Errors
//! name the file and the byte offset where reading failed.
#![forbid(unsafe_code)]

use quartet_wire::Timestamp;

/// One captured frame, borrowed from the reader until the next call.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Capture time, reduced to microseconds (truncated), as libpcap does.
    pub ts: Timestamp,
    /// pcap LINKTYPE_* value of the interface the frame was captured on.
    pub linktype: u32,
    /// Original length of the frame on the wire.
    pub wire_len: u32,
    /// The captured bytes (at most the snap length).
    pub data: &'a [u8],
}

/// Where a capture's frames come from.
pub trait Source {
    /// The next frame, or `Ok(None)` at the end of input.
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError>;
}

/// A capture could not be read. Carries the file name and byte offset (in
/// the decompressed stream for gzipped input) where the fault was found.
#[derive(Debug)]
pub struct CaptureError {
    pub path: String,
    pub offset: u64,
    pub kind: CaptureErrorKind,
}

#[derive(Debug)]
#[non_exhaustive]
pub enum CaptureErrorKind {
    /// The file could not be opened or read.
    Io(std::io::Error),
    /// Neither pcap nor pcapng magic (after gzip, if any).
    UnknownFormat,
    /// The file ends in the middle of a header or record.
    Truncated,
    /// A header or block has impossible values.
    Corrupt(String),
}
