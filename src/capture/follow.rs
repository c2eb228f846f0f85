//! Following a capture that is still being written (`holoscope report --follow FILE`).
//!
//! [`open`] wraps a [`FollowReader`] in the ordinary stream parser, so format detection,
//! decompression and damage handling are exactly those of a finished file. The reader never
//! reports end-of-file while the capture may still grow: at the end of the bytes written so
//! far it waits for the directory's change events (notify; a poll interval catches missed
//! events), so a record cut in half by the writer is simply completed when its tail arrives,
//! never reported as truncated.
//!
//! Rotation (`tcpdump -C` names `FILE`, `FILE1`, `FILE2`...; `tcpdump -G` strftime names): the
//! *family* of a file is its name with every run of digits removed. When the current file has
//! no new bytes and a family member that sorts after it (natural order: digit runs compare
//! as numbers) exists in the same directory, reading moves on to the first such file. A pcapng
//! file simply starts a new section; a legacy pcap file's 24-byte header is checked against the
//! first one (magic, version, link type) and skipped, since legacy pcap has one header per
//! stream. A rotated legacy file with a different header ends the follow.
//!
//! Reading ends when the stop flag is raised (Ctrl-C) or, with an idle timeout, when no new
//! byte arrived for that long.

use super::{CaptureError, PacketSource};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::cmp::Ordering as CmpOrdering;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// How a follow ends and how often it wakes up.
#[derive(Clone, Debug)]
pub struct FollowOptions {
    /// End after no new byte for this long (`None`: only the stop flag ends it).
    pub idle: Option<Duration>,
    /// Raised to end the follow (Ctrl-C handler, the TUI quitting).
    pub stop: Arc<AtomicBool>,
    /// Longest wait between checks when no change event arrives (default 200 ms).
    pub poll: Duration,
}

impl Default for FollowOptions {
    fn default() -> Self {
        Self {
            idle: None,
            stop: Arc::new(AtomicBool::new(false)),
            poll: Duration::from_millis(200),
        }
    }
}

/// Opens `path` for following: a [`PacketSource`] whose records arrive as the file (and its
/// rotated successors) grow.
///
/// # Errors
/// `Io` when the file cannot be opened, `NotACapture` when what was written is not a capture
/// (or nothing was written before the follow ended).
pub fn open(
    path: &Path,
    opts: FollowOptions,
) -> Result<Box<dyn PacketSource + Send>, CaptureError> {
    let reader = FollowReader::new(path, opts).map_err(|source| CaptureError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let slot = std::sync::Arc::clone(&reader.idle);
    let inner = super::from_reader(path.display().to_string(), Box::new(reader))?;
    Ok(Box::new(Followed { inner, slot }))
}

/// Where the reader's idle hook goes: set through the source, called by the `Read` below it.
type IdleSlot = std::sync::Arc<std::sync::Mutex<Option<super::IdleHook>>>;

/// The parsing source over a [`FollowReader`], which passes the idle hook down to it.
struct Followed {
    inner: Box<dyn PacketSource + Send>,
    slot: IdleSlot,
}

impl PacketSource for Followed {
    fn info(&self) -> &super::CaptureInfo {
        self.inner.info()
    }

    fn next_packet(&mut self) -> Result<Option<super::RawPacket<'_>>, CaptureError> {
        self.inner.next_packet()
    }

    fn take_warnings(&mut self) -> Vec<super::Warning> {
        self.inner.take_warnings()
    }

    fn bytes_read(&self) -> u64 {
        self.inner.bytes_read()
    }

    fn index_context(&self) -> Option<super::IndexContext> {
        self.inner.index_context()
    }

    fn set_idle_hook(&mut self, hook: super::IdleHook) -> bool {
        if let Ok(mut s) = self.slot.lock() {
            *s = Some(hook);
            return true;
        }
        false
    }
}

/// A `Read` over a growing, rotating capture (see the module docs).
pub struct FollowReader {
    dir: PathBuf,
    current: PathBuf,
    file: File,
    opts: FollowOptions,
    events: Receiver<notify::Result<notify::Event>>,
    /// Kept alive for its events; `None` when watching failed (polling still works).
    _watcher: Option<RecommendedWatcher>,
    last_data: Instant,
    /// The first bytes of the stream (the legacy pcap header, if it is one).
    head: Vec<u8>,
    ended: bool,
    /// Called before each wait for data (see [`PacketSource::set_idle_hook`]).
    idle: IdleSlot,
}

const LEGACY_HEADER: usize = 24;

impl FollowReader {
    /// Starts following `path` (which must exist).
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn new(path: &Path, opts: FollowOptions) -> io::Result<Self> {
        let file = File::open(path)?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (tx, events) = channel();
        let watcher = notify::recommended_watcher(tx).ok().and_then(|mut w| {
            w.watch(&dir, RecursiveMode::NonRecursive).ok()?;
            Some(w)
        });
        Ok(Self {
            dir,
            current: path.to_path_buf(),
            file,
            opts,
            events,
            _watcher: watcher,
            last_data: Instant::now(),
            head: Vec::with_capacity(LEGACY_HEADER),
            ended: false,
            idle: IdleSlot::default(),
        })
    }

    /// The file being read now.
    #[must_use]
    pub fn current(&self) -> &Path {
        &self.current
    }

    /// Waits for a change event or the poll interval; false when the follow must end.
    fn wait(&mut self) -> bool {
        if self.opts.stop.load(Ordering::Relaxed) {
            return false;
        }
        if self
            .opts
            .idle
            .is_some_and(|idle| self.last_data.elapsed() >= idle)
        {
            return false;
        }
        // Nobody is writing right now: let the reader hand over what it holds.
        if let Ok(mut hook) = self.idle.lock()
            && let Some(h) = hook.as_mut()
        {
            h();
        }
        let _ = self.events.recv_timeout(self.opts.poll);
        while self.events.try_recv().is_ok() {}
        true
    }

    /// The next rotated file of the family, if one exists.
    fn next_file(&self) -> Option<PathBuf> {
        let cur = self.current.file_name()?.to_string_lossy().into_owned();
        let fam = family(&cur);
        std::fs::read_dir(&self.dir)
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                (family(&name) == fam && natural_cmp(&name, &cur) == CmpOrdering::Greater)
                    .then_some(name)
            })
            .min_by(|a, b| natural_cmp(a, b))
            .map(|n| self.dir.join(n))
    }

    /// Moves to `next`; false when its header cannot continue this stream.
    fn rotate(&mut self, next: PathBuf) -> io::Result<bool> {
        let mut file = File::open(&next)?;
        self.current = next;
        let legacy = self.head.len() >= 4 && is_legacy_magic(&self.head[..4]);
        if !legacy {
            // pcapng: the new file's section header starts a new section of the stream.
            self.file = file;
            return Ok(true);
        }
        let mut hdr = Vec::with_capacity(LEGACY_HEADER);
        while hdr.len() < LEGACY_HEADER {
            let mut chunk = [0u8; LEGACY_HEADER];
            let want = LEGACY_HEADER - hdr.len();
            match file.read(&mut chunk[..want]) {
                Ok(0) => {
                    if !self.wait() {
                        return Ok(false);
                    }
                }
                Ok(n) => hdr.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let same = self.head.len() >= LEGACY_HEADER
            && hdr[..8] == self.head[..8]
            && hdr[20..24] == self.head[20..24];
        self.file = file;
        Ok(same)
    }

    fn remember_head(&mut self, bytes: &[u8]) {
        let room = LEGACY_HEADER.saturating_sub(self.head.len());
        self.head.extend_from_slice(&bytes[..room.min(bytes.len())]);
    }
}

impl Read for FollowReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.ended {
                return Ok(0);
            }
            let n = match self.file.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => r?,
            };
            if n > 0 {
                self.last_data = Instant::now();
                self.remember_head(&buf[..n]);
                return Ok(n);
            }
            if let Some(next) = self.next_file() {
                // The writer opens the next file after closing this one, but read what may
                // have landed in between before moving on.
                let n = self.file.read(buf)?;
                if n > 0 {
                    self.last_data = Instant::now();
                    self.remember_head(&buf[..n]);
                    return Ok(n);
                }
                if !self.rotate(next)? {
                    self.ended = true;
                }
                self.last_data = Instant::now();
                continue;
            }
            if !self.wait() {
                self.ended = true;
            }
        }
    }
}

fn is_legacy_magic(m: &[u8]) -> bool {
    matches!(
        m,
        [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xc3, 0xd4]
            | [0x4d, 0x3c, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d]
            | [0x34, 0xcd, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xcd, 0x34]
    )
}

/// A rotated file's family: its name without digits (`cap.pcap3` -> `cap.pcap`,
/// `cap-20261201-1300.pcap` -> `cap--.pcap`).
#[must_use]
pub fn family(name: &str) -> String {
    name.chars().filter(|c| !c.is_ascii_digit()).collect()
}

/// Natural order: runs of digits compare as numbers (`cap9` < `cap10`), the rest as text.
#[must_use]
pub fn natural_cmp(a: &str, b: &str) -> CmpOrdering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return CmpOrdering::Equal,
            (None, Some(_)) => return CmpOrdering::Less,
            (Some(_), None) => return CmpOrdering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (trim_zeros(&a[..da]), trim_zeros(&b[..db]));
                let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                if ord != CmpOrdering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let z = d.iter().take_while(|c| **c == b'0').count();
    &d[z.min(d.len().saturating_sub(1))..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_names_sort_naturally_within_their_family() {
        assert_eq!(natural_cmp("cap.pcap", "cap.pcap1"), CmpOrdering::Less);
        assert_eq!(natural_cmp("cap.pcap9", "cap.pcap10"), CmpOrdering::Less);
        assert_eq!(
            natural_cmp("cap.pcap010", "cap.pcap9"),
            CmpOrdering::Greater
        );
        assert_eq!(
            natural_cmp("cap-20261201-1300.pcap", "cap-20261201-1305.pcap"),
            CmpOrdering::Less
        );
        assert_eq!(family("cap.pcap12"), family("cap.pcap"));
        assert_eq!(family("cap-20261201-1300.pcap"), "cap--.pcap");
        assert_ne!(family("other.pcap1"), family("cap.pcap"));
        assert!(is_legacy_magic(&[0xd4, 0xc3, 0xb2, 0xa1]));
        assert!(!is_legacy_magic(&[0x0a, 0x0d, 0x0d, 0x0a]));
    }
}
