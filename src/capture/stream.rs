//! The refill/consume loop around pcap-parser's streaming readers, shared by both formats.
//!
//! pcap-parser hands out blocks borrowing its buffer. To give callers a `RawPacket` that borrows
//! the same buffer without copying, a packet block is consumed lazily: at the start of the next
//! call. The buffer starts at 1 MiB and grows only when it is full of real data and a record
//! still does not fit, up to [`MAX_RECORD`]; a length field above that is reported as damage,
//! so a hostile header cannot make us allocate gigabytes.

use crate::capture::index::IndexContext;
use crate::capture::input::IoShared;
use crate::capture::layout::MAX_RECORD;
use crate::capture::{
    CaptureError, CaptureInfo, LinkType, PacketSource, RawPacket, Warning, WarningKind,
};
use crate::time::Timestamp;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// Initial buffer size.
pub(crate) const INITIAL_CAPACITY: usize = 1 << 20;

/// A packet found by a sink: everything but the bytes, which stay in the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PacketMeta {
    pub ts: Timestamp,
    pub interface: u32,
    pub link: LinkType,
    pub orig_len: u32,
    /// Packet bytes relative to the start of the block.
    pub start: usize,
    pub len: usize,
}

/// Format-specific handling of blocks.
pub(crate) trait BlockSink {
    /// Total length claimed by the record header at the start of `data`, if complete.
    fn claimed_len(&self, data: &[u8]) -> Option<u64>;
    /// Whether the record at the start of `data` claims less than its framing
    /// (`layout::MIN_RECORD`), which the parser must not see. A legacy pcap record's header always
    /// claims more, so only pcapng checks.
    fn claims_too_little(&self, _data: &[u8]) -> bool {
        false
    }
    /// Handles one block at `offset`; returns the packet it carries, if any.
    fn on_block(&mut self, offset: u64, block: PcapBlockOwned<'_>) -> Option<PacketMeta>;
    /// End of stream: appends the counted warnings.
    fn finish(&mut self, out: &mut Vec<Warning>);
    /// What random access needs to decode a record of this stream.
    fn context(&self, info: &CaptureInfo) -> IndexContext;
}

/// What one step of the loop produced.
pub(crate) enum Step {
    /// A packet; its block starts at `offset` and is still in the buffer.
    Packet(PacketMeta, u64),
    /// End of stream (clean or after damage, see the warnings).
    End,
}

enum Outcome {
    Block(usize, Option<PacketMeta>),
    Eof,
    NeedMore,
    Truncated,
    ReadError,
    Corrupt,
}

/// Loop state: buffer size, the lazily consumed block, and gathered damage warnings.
pub(crate) struct Pump {
    path: PathBuf,
    capacity: usize,
    pending: usize,
    stopped: bool,
    compressed: bool,
    shared: Arc<IoShared>,
    /// Truncation/corruption warnings (the counted ones are added by the source at the end).
    pub(crate) warnings: Vec<Warning>,
}

impl Pump {
    pub(crate) fn new(
        path: PathBuf,
        capacity: usize,
        shared: Arc<IoShared>,
        compressed: bool,
    ) -> Self {
        Pump {
            path,
            capacity,
            pending: 0,
            stopped: false,
            compressed,
            shared,
            warnings: Vec::new(),
        }
    }

    /// Raw bytes read so far.
    pub(crate) fn raw_bytes(&self) -> u64 {
        self.shared.raw_bytes()
    }

    fn damage(&mut self, kind: WarningKind, offset: u64, message: String) -> Step {
        self.stopped = true;
        self.warnings.push(Warning {
            kind,
            message,
            offset: Some(offset),
        });
        Step::End
    }

    /// Advances to the next packet.
    #[inline]
    pub(crate) fn step<R: PcapReaderIterator, S: BlockSink>(
        &mut self,
        r: &mut R,
        sink: &mut S,
    ) -> Result<Step, CaptureError> {
        if self.stopped {
            return Ok(Step::End);
        }
        loop {
            if self.pending > 0 {
                r.consume_noshift(self.pending);
                self.pending = 0;
            }
            let offset = r.consumed() as u64;
            // A claim shorter than the framing is damage, told before the parser sees it.
            if sink.claims_too_little(r.data()) {
                let msg =
                    format!("record at byte {offset} has inconsistent lengths; reading stopped");
                return Ok(self.damage(WarningKind::Corrupt, offset, msg));
            }
            let outcome = match r.next() {
                Ok((len, block)) => Outcome::Block(len, sink.on_block(offset, block)),
                Err(PcapError::Eof) => Outcome::Eof,
                Err(PcapError::Incomplete(_) | PcapError::BufferTooSmall) => Outcome::NeedMore,
                Err(PcapError::UnexpectedEof) => Outcome::Truncated,
                Err(PcapError::ReadError) => Outcome::ReadError,
                Err(_) => Outcome::Corrupt,
            };
            match outcome {
                Outcome::Block(len, meta) => {
                    self.pending = len;
                    if let Some(meta) = meta {
                        return Ok(Step::Packet(meta, offset));
                    }
                }
                Outcome::Eof => {
                    self.stopped = true;
                    return Ok(Step::End);
                }
                Outcome::Corrupt => {
                    let msg = format!("unparseable record at byte {offset}; reading stopped");
                    return Ok(self.damage(WarningKind::Corrupt, offset, msg));
                }
                Outcome::Truncated => return Ok(self.truncated(r, sink, offset)),
                Outcome::ReadError => return self.read_error(offset),
                Outcome::NeedMore => {
                    let avail = r.data().len();
                    let need = sink.claimed_len(r.data());
                    if let Some(need) = need {
                        if need > MAX_RECORD {
                            return Ok(self.too_big(offset, need));
                        }
                        if avail as u64 >= need {
                            // The outer length is all there but an inner length runs past it.
                            let msg = format!(
                                "record at byte {offset} has inconsistent lengths; reading stopped"
                            );
                            return Ok(self.damage(WarningKind::Corrupt, offset, msg));
                        }
                    }
                    if r.refill().is_err() {
                        return self.read_error(offset);
                    }
                    if r.data().len() > avail || r.reader_exhausted() {
                        continue;
                    }
                    // No progress and not at the end: the buffer is full of real data.
                    let Some(need) = need.filter(|&n| n as usize >= self.capacity) else {
                        let msg = format!(
                            "record at byte {offset} does not fit its buffer; reading stopped"
                        );
                        return Ok(self.damage(WarningKind::Corrupt, offset, msg));
                    };
                    let target = (need as usize + 1)
                        .max(self.capacity.saturating_mul(2))
                        .min(MAX_RECORD as usize + 64);
                    r.grow(target);
                    self.capacity = target;
                }
            }
        }
    }

    fn too_big(&mut self, offset: u64, need: u64) -> Step {
        let msg = format!(
            "corrupt record header at byte {offset}: it claims {need} bytes, above the limit of {MAX_RECORD}; reading stopped"
        );
        self.damage(WarningKind::Corrupt, offset, msg)
    }

    fn truncated<R: PcapReaderIterator, S: BlockSink>(
        &mut self,
        r: &R,
        sink: &S,
        offset: u64,
    ) -> Step {
        let avail = r.data().len();
        if avail == 0 {
            self.stopped = true;
            return Step::End;
        }
        match sink.claimed_len(r.data()) {
            Some(need) if need > MAX_RECORD => self.too_big(offset, need),
            Some(need) => {
                let msg = format!(
                    "capture ends inside the record at byte {offset} ({avail} of {need} bytes present)"
                );
                self.damage(WarningKind::Truncated, offset, msg)
            }
            None => {
                let msg = format!(
                    "capture ends inside the record header at byte {offset} ({avail} bytes present)"
                );
                self.damage(WarningKind::Truncated, offset, msg)
            }
        }
    }

    fn read_error(&mut self, offset: u64) -> Result<Step, CaptureError> {
        let err = self.shared.take_error();
        let kind = err.as_ref().map(io::Error::kind);
        if kind == Some(io::ErrorKind::UnexpectedEof) {
            let msg = format!("stream ends early, after byte {offset} of the capture");
            return Ok(self.damage(WarningKind::Truncated, offset, msg));
        }
        // Decompressors report damage as data errors; a plain file's errors are real I/O.
        let data_error = matches!(
            kind,
            None | Some(
                io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::Other
            )
        );
        if self.compressed && data_error {
            let msg = format!(
                "compressed stream is corrupt after byte {offset} of the capture; reading stopped"
            );
            return Ok(self.damage(WarningKind::Corrupt, offset, msg));
        }
        self.stopped = true;
        let source = err.unwrap_or_else(|| io::Error::other("read failed"));
        Err(CaptureError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// A streaming source: one pcap-parser reader, the loop state and a format-specific sink.
pub(crate) struct Source<R, S> {
    pub(crate) info: CaptureInfo,
    pub(crate) reader: R,
    pub(crate) pump: Pump,
    pub(crate) sink: S,
    pub(crate) ended: bool,
}

impl<R: PcapReaderIterator, S: BlockSink> PacketSource for Source<R, S> {
    fn info(&self) -> &CaptureInfo {
        &self.info
    }

    #[inline]
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        match self.pump.step(&mut self.reader, &mut self.sink)? {
            Step::Packet(m, offset) => {
                let end = m.start.saturating_add(m.len);
                if let Some(data) = self.reader.data().get(m.start..end) {
                    return Ok(Some(RawPacket {
                        ts: m.ts,
                        interface: m.interface,
                        link: m.link,
                        orig_len: m.orig_len,
                        data,
                        offset,
                    }));
                }
                // The parser accepted a block shorter than its packet: cannot happen with
                // pcap-parser's checks, but stop cleanly rather than trust it.
                let msg =
                    format!("record at byte {offset} has inconsistent lengths; reading stopped");
                self.pump.damage(WarningKind::Corrupt, offset, msg);
                if !self.ended {
                    self.ended = true;
                    self.sink.finish(&mut self.pump.warnings);
                }
                Ok(None)
            }
            Step::End => {
                self.end();
                Ok(None)
            }
        }
    }

    fn take_warnings(&mut self) -> Vec<Warning> {
        std::mem::take(&mut self.pump.warnings)
    }

    fn bytes_read(&self) -> u64 {
        self.pump.raw_bytes()
    }

    fn index_context(&self) -> Option<IndexContext> {
        Some(self.sink.context(&self.info))
    }
}

impl<R, S: BlockSink> Source<R, S> {
    fn end(&mut self) {
        if !self.ended {
            self.ended = true;
            self.sink.finish(&mut self.pump.warnings);
        }
    }
}
