//! `--write FILE`: saving what was captured as pcapng while it is analysed.
//!
//! pcap-parser only reads, it has no writer, so the few blocks needed are written here: one
//! Section Header Block, one Interface Description Block per link type seen (snaplen 0, "no
//! limit": a [`RawPacket`] does not carry its source's snaplen), and one Enhanced Packet Block
//! per packet with nanosecond timestamps (`if_tsresol` = 9). Packets go out unchanged: the
//! captured bytes and the original length are kept, only the container changes.
//!
//! [`tee`] wraps any [`PacketSource`], so the engine does not know a copy is being written. The
//! file is written as `FILE.part` and renamed to `FILE` when the source ends (also after damage:
//! the packets before it are valid). A background thread flushes and syncs the file every half
//! second, so a crash or a kill loses at most about a second of packets, and the `.part` file
//! left behind is a readable capture (it ends at a block boundary or inside the last block,
//! which readers report as truncation).

use crate::capture::{CaptureError, CaptureInfo, IndexContext, PacketSource, RawPacket, Warning};
use rustc_hash::FxHashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// How often the background thread pushes buffered packets to the disk.
const FLUSH_EVERY: Duration = Duration::from_millis(500);

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

/// A minimal little-endian pcapng writer.
pub struct PcapngWriter<W: Write> {
    out: W,
    /// IDB id per link type, in the order they were written.
    interfaces: FxHashMap<u16, u32>,
    packets: u64,
    /// Bytes written so far: the offset of the next block.
    pos: u64,
}

impl<W: Write> PcapngWriter<W> {
    /// Starts a section (writes the Section Header Block).
    ///
    /// # Errors
    /// Write errors of `out`.
    pub fn new(mut out: W) -> io::Result<Self> {
        let app = concat!("holoscope ", env!("CARGO_PKG_VERSION")).as_bytes();
        let opt_len = 4 + app.len() + pad4(app.len()) + 4;
        let total = u32::try_from(28 + opt_len).map_err(io::Error::other)?;
        let mut b = Vec::with_capacity(total as usize);
        b.extend_from_slice(&SHB.to_le_bytes());
        b.extend_from_slice(&total.to_le_bytes());
        b.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        // Section length unknown: we write while capturing.
        b.extend_from_slice(&(-1i64).to_le_bytes());
        // shb_userappl (4): which program wrote the file.
        b.extend_from_slice(&4u16.to_le_bytes());
        b.extend_from_slice(
            &u16::try_from(app.len())
                .map_err(io::Error::other)?
                .to_le_bytes(),
        );
        b.extend_from_slice(app);
        b.resize(b.len() + pad4(app.len()), 0);
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(&total.to_le_bytes());
        out.write_all(&b)?;
        Ok(Self {
            out,
            interfaces: FxHashMap::default(),
            packets: 0,
            pos: u64::from(total),
        })
    }

    /// The IDB id for a link type, writing the IDB the first time it is seen.
    fn interface(&mut self, link: u16) -> io::Result<u32> {
        if let Some(&id) = self.interfaces.get(&link) {
            return Ok(id);
        }
        let id = u32::try_from(self.interfaces.len()).map_err(io::Error::other)?;
        let mut b = Vec::with_capacity(32);
        b.extend_from_slice(&IDB.to_le_bytes());
        b.extend_from_slice(&32u32.to_le_bytes());
        b.extend_from_slice(&link.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        // if_tsresol (9) = 9: timestamps count nanoseconds.
        b.extend_from_slice(&9u16.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&[9, 0, 0, 0]);
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(&32u32.to_le_bytes());
        self.out.write_all(&b)?;
        self.pos += 32;
        self.interfaces.insert(link, id);
        Ok(id)
    }

    /// Writes one packet as an Enhanced Packet Block and returns the block's byte offset in
    /// the output (what [`crate::capture::read_packet_at`] reads it back by). Timestamps
    /// before 1970 (which pcapng cannot express) are written as 0.
    ///
    /// # Errors
    /// Write errors, or a packet too large for a block (readers cap records far below 4 GiB).
    pub fn write_packet(&mut self, p: &RawPacket<'_>) -> io::Result<u64> {
        let id = self.interface(p.link.0)?;
        let caplen = u32::try_from(p.data.len()).map_err(io::Error::other)?;
        let pad = pad4(p.data.len());
        let total = u32::try_from(32 + p.data.len() + pad).map_err(io::Error::other)?;
        let ts = u64::try_from(p.ts.0).unwrap_or(0);
        let mut head = [0u8; 28];
        for (i, v) in [
            EPB,
            total,
            id,
            (ts >> 32) as u32,
            (ts & 0xffff_ffff) as u32,
            caplen,
            p.orig_len,
        ]
        .into_iter()
        .enumerate()
        {
            head[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        self.out.write_all(&head)?;
        self.out.write_all(p.data)?;
        self.out.write_all(&[0u8; 3][..pad])?;
        self.out.write_all(&total.to_le_bytes())?;
        self.packets += 1;
        let at = self.pos;
        self.pos += u64::from(total);
        Ok(at)
    }

    /// Packets written so far.
    #[must_use]
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The underlying writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Gives the underlying writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// `FILE.part`: where the copy is written until the source ends.
#[must_use]
pub fn part_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// How the writing ended, as seen from [`WriteHandle::outcome`].
#[derive(Default)]
struct State {
    writer: Option<PcapngWriter<BufWriter<File>>>,
    /// A clone of the file handle, so syncing does not hold the lock.
    sync: Option<File>,
    dirty: bool,
    packets: u64,
    error: Option<String>,
    done: bool,
}

struct Shared {
    dest: PathBuf,
    part: PathBuf,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fail(&self, st: &mut State, what: &str, e: &io::Error) {
        st.writer = None;
        st.sync = None;
        st.error = Some(format!(
            "{}: {what} failed after {} packets: {e} (the packets before are kept there)",
            crate::text::escape_terminal_str(&self.part.display().to_string()),
            st.packets
        ));
    }

    /// Writes `p`; its offset in the copy, unless writing failed (now or earlier).
    fn write(&self, p: &RawPacket<'_>) -> Option<u64> {
        let mut st = self.lock();
        let w = st.writer.as_mut()?;
        match w.write_packet(p) {
            Ok(at) => {
                st.packets += 1;
                st.dirty = true;
                Some(at)
            }
            Err(e) => {
                self.fail(&mut st, "write", &e);
                None
            }
        }
    }

    /// Pushes buffered blocks to the OS, then to the disk (outside the lock).
    fn flush(&self) {
        let file = {
            let mut st = self.lock();
            if !st.dirty {
                return;
            }
            st.dirty = false;
            let Some(w) = st.writer.as_mut() else { return };
            if let Err(e) = w.get_mut().flush() {
                self.fail(&mut st, "write", &e);
                return;
            }
            st.sync.as_ref().and_then(|f| f.try_clone().ok())
        };
        if let Some(f) = file {
            let _ = f.sync_data();
        }
    }

    /// Pushes buffered blocks to the OS (no sync), so a reader of the copy sees every
    /// packet written so far. Keeps `dirty`: the background thread still syncs them.
    fn push(&self) {
        let mut st = self.lock();
        let Some(w) = st.writer.as_mut() else { return };
        if let Err(e) = w.get_mut().flush() {
            self.fail(&mut st, "write", &e);
        }
    }

    /// End of the source: flush, sync, rename `FILE.part` to `FILE`. Runs once.
    fn finish(&self) {
        let mut st = self.lock();
        if st.done {
            return;
        }
        st.done = true;
        st.sync = None;
        let Some(w) = st.writer.take() else { return };
        let result = w
            .into_inner()
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
            .and_then(|f| {
                if self.part == self.dest {
                    Ok(())
                } else {
                    f.sync_all()?;
                    std::fs::rename(&self.part, &self.dest)
                }
            });
        match result {
            Ok(()) => {
                let dir = self.dest.parent().filter(|d| !d.as_os_str().is_empty());
                if let Ok(d) = File::open(dir.unwrap_or(Path::new("."))) {
                    let _ = d.sync_all();
                }
            }
            Err(e) => self.fail(&mut st, "finishing", &e),
        }
    }
}

/// What `--write` produced, read once the analysis is over.
#[derive(Clone)]
pub struct WriteHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for WriteHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteHandle")
            .field("part", &self.shared.part)
            .finish_non_exhaustive()
    }
}

impl WriteHandle {
    /// Packets written and the file holding them.
    ///
    /// # Errors
    /// A one-line message (terminal-escaped) when writing failed or the source never ended
    /// (the partial copy is then in `FILE.part`).
    pub fn outcome(&self) -> Result<(u64, PathBuf), String> {
        let st = self.shared.lock();
        if let Some(e) = &st.error {
            return Err(e.clone());
        }
        if !st.done {
            return Err(format!(
                "{}: the capture did not end cleanly; what was written is kept there",
                crate::text::escape_terminal_str(&self.shared.part.display().to_string())
            ));
        }
        Ok((st.packets, self.shared.dest.clone()))
    }

    /// Makes every packet the tee has passed on so far readable in the copy (`FILE.part`
    /// while the source runs): a reader that looks packets up by the offsets of an analysis
    /// of the running capture (`explain` in the live TUI, live drafting) would otherwise miss
    /// those still in the write buffer, up to the last half second. The disk sync stays
    /// with the background thread; a failed write is reported by
    /// [`WriteHandle::outcome`] as usual.
    pub fn flush(&self) {
        self.shared.push();
    }

    /// Waits up to `limit` for the source to end (a live capture stops within its poll
    /// interval once told to), then gives [`WriteHandle::outcome`].
    ///
    /// # Errors
    /// As [`WriteHandle::outcome`].
    pub fn outcome_within(&self, limit: Duration) -> Result<(u64, PathBuf), String> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            {
                let st = self.shared.lock();
                if st.done || st.error.is_some() {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.outcome()
    }
}

/// A [`PacketSource`] that passes every packet through unchanged and writes a copy.
pub struct TeeSource {
    inner: Box<dyn PacketSource + Send>,
    shared: Arc<Shared>,
    index_copy: bool,
}

/// How a [`tee`] numbers the packets it passes on for the packet index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexBy {
    /// The input's own offsets: the input is a file that is read again by offset.
    Input,
    /// The copy's offsets: the input cannot be read again (standard input, a live
    /// interface), so the copy is what `explain` reads packets back from. A packet whose
    /// write failed keeps an offset past the copy's end, which reads back as nothing.
    Copy,
}

/// Wraps `inner` so every packet it yields is also written to `dest` as pcapng.
///
/// # Errors
/// When `FILE.part` cannot be created or its header written.
pub fn tee(
    inner: Box<dyn PacketSource + Send>,
    dest: &Path,
    index: IndexBy,
) -> io::Result<(Box<dyn PacketSource + Send>, WriteHandle)> {
    // A device or FIFO (`--write /dev/null`) is written in place: renaming a `.part` file
    // over it would replace the node with a plain file. Such a target cannot be synced.
    let special = crate::fsutil::is_special(dest);
    let part = if special {
        dest.to_path_buf()
    } else {
        part_path(dest)
    };
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&part)?;
    let sync = if special { None } else { file.try_clone().ok() };
    let writer = PcapngWriter::new(BufWriter::with_capacity(1 << 20, file))?;
    let shared = Arc::new(Shared {
        dest: dest.to_path_buf(),
        part,
        state: Mutex::new(State {
            writer: Some(writer),
            sync,
            dirty: true,
            ..State::default()
        }),
    });
    spawn_flusher(Arc::downgrade(&shared));
    let handle = WriteHandle {
        shared: Arc::clone(&shared),
    };
    Ok((
        Box::new(TeeSource {
            inner,
            shared,
            index_copy: index == IndexBy::Copy,
        }),
        handle,
    ))
}

/// Flushes every [`FLUSH_EVERY`] until the tee and its handles are gone or writing finished.
fn spawn_flusher(shared: Weak<Shared>) {
    let _ = std::thread::Builder::new()
        .name("holo-write".into())
        .spawn(move || {
            loop {
                std::thread::sleep(FLUSH_EVERY);
                let Some(s) = shared.upgrade() else { return };
                if s.lock().done {
                    return;
                }
                s.flush();
            }
        });
}

impl PacketSource for TeeSource {
    fn info(&self) -> &CaptureInfo {
        self.inner.info()
    }

    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        let r = self.inner.next_packet();
        match r {
            Ok(Some(p)) => {
                let at = self.shared.write(&p);
                Ok(Some(if self.index_copy {
                    RawPacket {
                        offset: at.unwrap_or(u64::MAX),
                        ..p
                    }
                } else {
                    p
                }))
            }
            // The engine ends on an I/O error too; what came before is a valid capture.
            end => {
                self.shared.finish();
                end
            }
        }
    }

    fn take_warnings(&mut self) -> Vec<Warning> {
        self.inner.take_warnings()
    }

    fn bytes_read(&self) -> u64 {
        self.inner.bytes_read()
    }

    fn index_context(&self) -> Option<IndexContext> {
        self.inner.index_context()
    }

    fn set_idle_hook(&mut self, hook: super::IdleHook) -> bool {
        self.inner.set_idle_hook(hook)
    }
}

impl Drop for TeeSource {
    /// Dropped before its end (the consumer went away): keep what was written in `FILE.part`.
    fn drop(&mut self) {
        self.shared.flush();
    }
}

mod target;
pub use target::check_target;

#[cfg(test)]
mod tests;
