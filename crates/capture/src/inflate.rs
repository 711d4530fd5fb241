//! Gzip decompression on its own thread.
//!
//! Inflating costs more per byte than everything else the reader does with
//! a frame (framing, peeking at its headers, dispatching it), so doing it
//! in the reader's thread would make decompression the limit of every
//! gzipped run. `Inflater` runs `flate2`'s `MultiGzDecoder` in a thread of
//! its own, which hands over decompressed blocks through a short bounded
//! channel; the reader only copies them into its buffer. Emptied blocks go
//! back to the thread, so a steady run allocates nothing.
//!
//! Errors of the compressed stream (corrupt data, a truncated member) come
//! through in order, after every byte decompressed before them, so the
//! capture reader reports them at the right offset of the decompressed
//! stream. Dropping the `Inflater` ends the thread at its next block, and
//! waits a moment for it to be gone (see `Drop`).
use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flate2::read::MultiGzDecoder;

/// Size of a decompressed block.
const BLOCK: usize = 1 << 20;

/// Blocks in flight from the thread to the reader.
const DEPTH: usize = 4;

/// How long dropping the reader waits for the thread to end.
const END_WAIT: Duration = Duration::from_millis(200);

/// A `Read` of the decompressed stream of a gzip `Read`.
pub(crate) struct Inflater {
    blocks: Receiver<io::Result<Vec<u8>>>,
    spent: SyncSender<Vec<u8>>,
    /// The block being read, and where in it.
    block: Vec<u8>,
    at: usize,
    done: bool,
    thread: Option<JoinHandle<()>>,
}

/// Decompresses `raw` (one or more concatenated gzip members) on a new
/// thread. If no thread can be started, reading fails with the reason.
pub(crate) fn inflate<R: Read + Send + 'static>(raw: R) -> Box<dyn Read + Send> {
    let (tx, blocks) = sync_channel(DEPTH);
    let (spent, back) = sync_channel::<Vec<u8>>(DEPTH + 2);
    let decoder = MultiGzDecoder::new(raw);
    let started = std::thread::Builder::new()
        .name("gunzip".into())
        .spawn(move || pump(decoder, tx, back));
    match started {
        Ok(thread) => Box::new(Inflater {
            blocks,
            spent,
            block: Vec::new(),
            at: 0,
            done: false,
            thread: Some(thread),
        }),
        // `raw` went with the closure the failed spawn dropped: the first
        // read reports why (a capture error naming the file).
        Err(e) => Box::new(Failed(Some(e))),
    }
}

/// The thread: fills blocks until the end of the stream, an error, or the
/// reader going away.
fn pump<R: Read>(
    mut decoder: MultiGzDecoder<R>,
    tx: SyncSender<io::Result<Vec<u8>>>,
    back: Receiver<Vec<u8>>,
) {
    loop {
        let mut block = back.try_recv().unwrap_or_default();
        block.resize(BLOCK, 0);
        let mut filled = 0;
        let mut failure = None;
        while filled < BLOCK {
            match decoder.read(&mut block[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        block.truncate(filled);
        let end = filled < BLOCK;
        if filled > 0 && tx.send(Ok(block)).is_err() {
            return;
        }
        if let Some(e) = failure {
            let _ = tx.send(Err(e));
            return;
        }
        if end {
            return;
        }
    }
}

impl Read for Inflater {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.at == self.block.len() {
            if self.done {
                return Ok(0);
            }
            match self.blocks.recv() {
                Ok(Ok(next)) => {
                    let old = std::mem::replace(&mut self.block, next);
                    self.at = 0;
                    if old.capacity() > 0 {
                        let _ = self.spent.try_send(old);
                    }
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                // The thread ended: the stream is over.
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = out.len().min(self.block.len() - self.at);
        out[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Drop for Inflater {
    /// Closes both channels, which ends the thread as soon as it next hands
    /// over a block (at once when it waits on a full channel), then waits
    /// for it up to `END_WAIT`, so that the thread does not outlive its
    /// reader (and the fuzzer's leak check does not find its thread-local
    /// state still held). A thread blocked reading its own input (a quiet
    /// pipe on standard input) is left to end with that read instead of
    /// holding up the caller.
    fn drop(&mut self) {
        drop(std::mem::replace(&mut self.blocks, sync_channel(0).1));
        drop(std::mem::replace(&mut self.spent, sync_channel(0).0));
        let Some(thread) = self.thread.take() else {
            return;
        };
        let deadline = Instant::now() + END_WAIT;
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = thread.join();
    }
}

/// The thread could not be started: every read reports why.
struct Failed(Option<io::Error>);

impl Read for Failed {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| io::Error::other("gzip decompression thread not started")))
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn read_all(mut r: Box<dyn Read + Send>) -> (Vec<u8>, Option<io::Error>) {
        let mut out = Vec::new();
        let mut buf = vec![0; 7919];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return (out, None),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    /// Several blocks' worth, over concatenated members, read back whole.
    #[test]
    fn blocks_and_members_come_back_in_order() {
        let data: Vec<u8> = (0..(3 * BLOCK as u32 + 12345))
            .map(|i| ((i % 251) as u8) ^ ((i >> 13) as u8))
            .collect();
        let mut raw = gz(&data[..BLOCK + 17]);
        raw.extend(gz(&data[BLOCK + 17..]));
        let (out, err) = read_all(inflate(io::Cursor::new(raw)));
        assert!(err.is_none(), "{err:?}");
        assert_eq!(out.len(), data.len());
        assert!(out == data);
        let (out, err) = read_all(inflate(io::Cursor::new(gz(&[]))));
        assert!(out.is_empty() && err.is_none());
    }

    /// A stream cut short gives every byte before the cut, then an error.
    #[test]
    fn a_truncated_stream_gives_its_bytes_then_the_error() {
        let data: Vec<u8> = (0..(2 * BLOCK as u32))
            .map(|i| ((i * 31) >> 7) as u8)
            .collect();
        let raw = gz(&data);
        let cut = raw[..raw.len() - 100].to_vec();
        let (out, err) = read_all(inflate(io::Cursor::new(cut)));
        assert!(err.is_some(), "no error after {} bytes", out.len());
        assert!(!out.is_empty() && out.len() < data.len());
        assert!(out[..] == data[..out.len()]);
    }

    /// The compressed input, telling when the thread has let go of it.
    struct Watched(io::Cursor<Vec<u8>>, std::sync::mpsc::Sender<()>);

    impl Read for Watched {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.0.read(out)
        }
    }

    impl Drop for Watched {
        fn drop(&mut self) {
            let _ = self.1.send(());
        }
    }

    /// Dropping the reader early ends the thread (which drops its input)
    /// instead of leaving it blocked on a full channel, and the drop returns
    /// only once the thread is gone.
    #[test]
    fn dropping_the_reader_stops_the_thread() {
        let data = vec![0u8; 16 * BLOCK];
        let (tx, dropped) = std::sync::mpsc::channel();
        let mut r = inflate(Watched(io::Cursor::new(gz(&data)), tx));
        let mut one = [0u8; 1];
        assert_eq!(r.read(&mut one).unwrap(), 1);
        assert!(
            dropped.try_recv().is_err(),
            "input dropped while still read"
        );
        drop(r);
        dropped
            .try_recv()
            .expect("the thread ended and dropped its input before the drop returned");
    }
}
