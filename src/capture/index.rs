//! Random access to packets after a streaming pass.
//!
//! During the pass the consumer pushes every `RawPacket::offset` into a [`PacketIndex`]
//! (8 bytes per packet). At the end the source gives its [`IndexContext`] (see
//! [`PacketSource::index_context`](crate::capture::PacketSource::index_context)): the legacy
//! header layout, or every pcapng section's byte order and interface table keyed by the
//! section's start offset. With both, [`read_packet_at`] decodes exactly one record.

use crate::capture::input::read_full;
use crate::capture::layout::{MAX_RECORD, MIN_RECORD, ng_claimed_len, ng_record};
use crate::capture::{CaptureError, CaptureFormat, Compression, OwnedPacket};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

pub use crate::capture::layout::{Interface, LegacyLayout, Section};

/// Byte offsets of packets in stream order (8 bytes per packet).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketIndex {
    offsets: Vec<u64>,
}

impl PacketIndex {
    /// An empty index.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the next packet's offset.
    #[inline]
    pub fn push(&mut self, offset: u64) {
        self.offsets.push(offset);
    }

    /// Number of packets.
    #[must_use]
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// True when no packet was recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Offset of packet `i` (0-based, stream order).
    #[must_use]
    pub fn get(&self, i: usize) -> Option<u64> {
        self.offsets.get(i).copied()
    }

    /// All offsets in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.offsets.iter().copied()
    }

    /// Heap bytes used.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.offsets.capacity() * std::mem::size_of::<u64>()
    }
}

/// How records of one capture are laid out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// Legacy pcap: one header for the whole file.
    Legacy(LegacyLayout),
    /// pcapng: sections in stream order (sorted by start offset).
    Pcapng(Vec<Section>),
}

/// Everything needed to decode one record at a known offset without re-reading the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexContext {
    /// Container format.
    pub format: CaptureFormat,
    /// Compression: compressed captures are re-streamed from the start on each access.
    pub compression: Compression,
    /// Record layout.
    pub layout: Layout,
    /// Timestamps the streaming pass gave to pcapng Simple Packet Blocks (which carry none:
    /// they inherit the previous packet's), by block offset, sorted; absent means 0.
    pub untimed: Vec<(u64, Timestamp)>,
}

/// Reads and decodes the single record starting at `offset` of the (decompressed) stream.
///
/// Plain files are seeked. Compressed files cannot be seeked, so they are decompressed from the
/// start up to `offset` on every call: fine for a handful of lookups, slow for many (callers
/// wanting many should decompress to a temporary file first). Standard input cannot be read
/// at random.
///
/// # Errors
/// `Io` if the file cannot be read, the offset is past the end, or the bytes there are not a
/// packet record of this capture.
pub fn read_packet_at(
    path: &Path,
    ctx: &IndexContext,
    offset: u64,
) -> Result<OwnedPacket, CaptureError> {
    let io_err = |source| CaptureError::Io {
        path: path.to_path_buf(),
        source,
    };
    if path.as_os_str() == "-" {
        return Err(io_err(io::Error::new(
            io::ErrorKind::Unsupported,
            "standard input cannot be read at random",
        )));
    }
    let mut file = File::open(path).map_err(io_err)?;
    let mut reader: Box<dyn Read> = match ctx.compression {
        Compression::None => {
            file.seek(SeekFrom::Start(offset)).map_err(io_err)?;
            Box::new(file)
        }
        Compression::Gzip => skip(
            Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file))),
            offset,
        )
        .map_err(io_err)?,
        Compression::Zstd => {
            let d = zstd::stream::read::Decoder::new(file).map_err(io_err)?;
            skip(Box::new(d), offset).map_err(io_err)?
        }
    };
    decode_one(&mut *reader, ctx, offset).map_err(io_err)
}

fn skip(mut r: Box<dyn Read>, offset: u64) -> io::Result<Box<dyn Read>> {
    let skipped = io::copy(&mut (&mut r).take(offset), &mut io::sink())?;
    if skipped < offset {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "offset past the end of the capture",
        ));
    }
    Ok(r)
}

fn invalid(offset: u64, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("no packet record at byte {offset}: {what}"),
    )
}

/// Reads one whole record: its header, then the length the header claims (bounded).
fn read_record(
    r: &mut dyn Read,
    offset: u64,
    header: usize,
    claimed: impl Fn(&[u8]) -> Option<u64>,
) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if read_full(r, &mut buf, header)? < header {
        return Err(invalid(offset, "end of capture"));
    }
    let need = claimed(&buf).ok_or_else(|| invalid(offset, "short header"))?;
    if need > MAX_RECORD || need < header as u64 {
        return Err(invalid(offset, "impossible record length"));
    }
    let need = need as usize;
    if read_full(r, &mut buf, need)? < need {
        return Err(invalid(offset, "record cut short"));
    }
    Ok(buf)
}

fn decode_one(r: &mut dyn Read, ctx: &IndexContext, offset: u64) -> io::Result<OwnedPacket> {
    match &ctx.layout {
        Layout::Legacy(l) => {
            let buf = read_record(r, offset, l.header_len(), |d| l.claimed_len(d))?;
            let parsed = if l.modified {
                pcap_parser::pcap::parse_pcap_frame_modified(&buf)
            } else if l.big_endian {
                pcap_parser::pcap::parse_pcap_frame_be(&buf)
            } else {
                pcap_parser::pcap::parse_pcap_frame(&buf)
            };
            let (_, b) = parsed.map_err(|_| invalid(offset, "unparseable record"))?;
            Ok(OwnedPacket {
                ts: l.timestamp(b.ts_sec, b.ts_usec).0,
                interface: 0,
                link: l.link,
                orig_len: b.origlen,
                data: b.data.to_vec(),
                offset,
            })
        }
        Layout::Pcapng(sections) => {
            let at = sections.partition_point(|s| s.start <= offset);
            let section = at
                .checked_sub(1)
                .and_then(|i| sections.get(i))
                .ok_or_else(|| invalid(offset, "before the first section"))?;
            let be = section.big_endian;
            let buf = read_record(r, offset, 8, |d| ng_claimed_len(d, be))?;
            // Shorter than a block's framing: pcap-parser would underflow (see MIN_RECORD).
            if ng_claimed_len(&buf, be).is_none_or(|n| n < MIN_RECORD) {
                return Err(invalid(offset, "inconsistent lengths"));
            }
            let parsed = if be {
                pcap_parser::parse_block_be(&buf)
            } else {
                pcap_parser::parse_block_le(&buf)
            };
            let (_, block) = parsed.map_err(|_| invalid(offset, "unparseable block"))?;
            let rec = ng_record(&block, be).ok_or_else(|| invalid(offset, "not a packet block"))?;
            let iface = section
                .interfaces
                .get(rec.if_id as usize)
                .ok_or_else(|| invalid(offset, "unknown interface"))?;
            let ts = match rec.raw_ts {
                Some(raw) => iface.timestamp(raw).0,
                None => match ctx.untimed.binary_search_by_key(&offset, |&(o, _)| o) {
                    Ok(i) => ctx.untimed[i].1,
                    Err(_) => Timestamp(0),
                },
            };
            let end = rec.start + rec.captured_len(iface);
            let data = buf
                .get(rec.start..end)
                .ok_or_else(|| invalid(offset, "inconsistent lengths"))?;
            Ok(OwnedPacket {
                ts,
                interface: section.iface_base.saturating_add(rec.if_id),
                link: iface.link,
                orig_len: rec.orig_len,
                data: data.to_vec(),
                offset,
            })
        }
    }
}
