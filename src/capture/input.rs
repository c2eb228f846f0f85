//! Byte-level plumbing under the parsers: a counter of raw bytes (for progress), a latch that
//! keeps the I/O error pcap-parser would otherwise flatten into `ReadError`, and a read-exactly
//! helper that tolerates short reads from pipes.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The stream type handed to pcap-parser: already-peeked bytes, then the rest.
pub(crate) type Input = io::Chain<io::Cursor<Vec<u8>>, Box<dyn Read + Send>>;

/// State shared between a source and the readers buried inside pcap-parser.
#[derive(Debug, Default)]
pub(crate) struct IoShared {
    raw_bytes: AtomicU64,
    error: Mutex<Option<io::Error>>,
}

impl IoShared {
    /// Raw (possibly compressed) bytes read so far.
    pub(crate) fn raw_bytes(&self) -> u64 {
        self.raw_bytes.load(Ordering::Relaxed)
    }

    /// The last I/O error seen by the latch, if any.
    pub(crate) fn take_error(&self) -> Option<io::Error> {
        match self.error.lock() {
            Ok(mut g) => g.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }

    fn set_error(&self, e: io::Error) {
        match self.error.lock() {
            Ok(mut g) => *g = Some(e),
            Err(poisoned) => *poisoned.into_inner() = Some(e),
        }
    }
}

/// Counts raw bytes as they come from the file or pipe.
pub(crate) struct Counting<R> {
    pub(crate) inner: R,
    pub(crate) shared: Arc<IoShared>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.shared.raw_bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Retries interrupted reads and remembers the error before passing it up.
pub(crate) struct Latch<R> {
    pub(crate) inner: R,
    pub(crate) shared: Arc<IoShared>,
}

impl<R: Read> Read for Latch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let copy = io::Error::new(e.kind(), e.to_string());
                    self.shared.set_error(e);
                    return Err(copy);
                }
                ok => return ok,
            }
        }
    }
}

/// Appends bytes to `buf` until it holds `want` bytes or the stream ends; returns the length.
/// Pipes and decompressors may return fewer bytes than asked, so one `read` is not enough.
pub(crate) fn read_full(r: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> io::Result<usize> {
    let mut chunk = [0u8; 4096];
    while buf.len() < want {
        let ask = (want - buf.len()).min(chunk.len());
        match r.read(&mut chunk[..ask]) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(buf.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns one byte per read.
    struct Trickle(io::Cursor<Vec<u8>>);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn read_full_survives_short_reads() {
        let mut r = Trickle(io::Cursor::new(vec![1, 2, 3, 4, 5]));
        let mut buf = vec![];
        assert_eq!(read_full(&mut r, &mut buf, 4).ok(), Some(4));
        assert_eq!(read_full(&mut r, &mut buf, 10).ok(), Some(5));
        assert_eq!(buf, [1, 2, 3, 4, 5]);
    }
}
