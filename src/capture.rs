//! Capture sources: everything that yields raw link-layer records in file order.
//!
//! One trait, [`PacketSource`], covers legacy pcap, pcapng, compressed files, standard input and
//! (later) live interfaces. The format is decided by the stream's signature, never its name.
//! Damage is a value, not a crash: a source that hits a corrupt or truncated record stops, keeps
//! everything before it, and reports a [`Warning`] naming the byte offset.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

mod checks;
pub mod file;
#[cfg(feature = "follow")]
pub mod follow;
pub mod format;
pub mod index;
mod input;
mod layout;
mod legacy;
pub mod live;
mod pcapng;
pub mod privilege;
mod stream;
pub mod write;

pub use file::{from_reader, open};
pub use index::{IndexContext, PacketIndex, read_packet_at};

/// A LINKTYPE value (tcpdump.org numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LinkType(pub u16);

impl LinkType {
    /// BSD loopback / NULL: 4-byte host-order address family.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II.
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP (version from the first nibble).
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: 4-byte network-order address family.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// Short name for reports (`ethernet`, `raw`, `linux_sll`...), or `linktype_N`.
    #[must_use]
    pub fn name(self) -> String {
        match self.0 {
            0 => "null".into(),
            1 => "ethernet".into(),
            101 => "raw".into(),
            108 => "loop".into(),
            113 => "linux_sll".into(),
            228 => "ipv4".into(),
            229 => "ipv6".into(),
            276 => "linux_sll2".into(),
            n => format!("linktype_{n}"),
        }
    }
}

/// One record as read from the source, borrowing the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct RawPacket<'a> {
    /// Timestamp, already scaled by the interface's resolution.
    pub ts: Timestamp,
    /// Interface index (pcapng; 0 for legacy pcap).
    pub interface: u32,
    /// Link type of the record's interface.
    pub link: LinkType,
    /// Original length on the wire.
    pub orig_len: u32,
    /// Captured bytes.
    pub data: &'a [u8],
    /// Byte offset of the record in the (decompressed) stream, for the packet index.
    pub offset: u64,
}

/// An owned copy of a record (random access, tests, batches).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedPacket {
    /// See [`RawPacket::ts`].
    pub ts: Timestamp,
    /// See [`RawPacket::interface`].
    pub interface: u32,
    /// See [`RawPacket::link`].
    pub link: LinkType,
    /// See [`RawPacket::orig_len`].
    pub orig_len: u32,
    /// See [`RawPacket::data`].
    pub data: Vec<u8>,
    /// See [`RawPacket::offset`].
    pub offset: u64,
}

impl OwnedPacket {
    /// Borrowed view.
    #[must_use]
    pub fn as_raw(&self) -> RawPacket<'_> {
        RawPacket {
            ts: self.ts,
            interface: self.interface,
            link: self.link,
            orig_len: self.orig_len,
            data: &self.data,
            offset: self.offset,
        }
    }
}

impl RawPacket<'_> {
    /// Owned copy.
    #[must_use]
    pub fn to_owned(&self) -> OwnedPacket {
        OwnedPacket {
            ts: self.ts,
            interface: self.interface,
            link: self.link,
            orig_len: self.orig_len,
            data: self.data.to_vec(),
            offset: self.offset,
        }
    }
}

/// The container format detected from the stream's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureFormat {
    /// Legacy libpcap, microsecond timestamps.
    Pcap,
    /// Legacy libpcap, nanosecond timestamps.
    PcapNs,
    /// Kuznetzov "modified" libpcap (24-byte record headers).
    PcapModified,
    /// pcapng.
    Pcapng,
    /// A live interface.
    Live,
}

impl CaptureFormat {
    /// Name used in the report's `capture.format`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            CaptureFormat::Pcap => "pcap",
            CaptureFormat::PcapNs => "pcap-ns",
            CaptureFormat::PcapModified => "pcap-modified",
            CaptureFormat::Pcapng => "pcapng",
            CaptureFormat::Live => "live",
        }
    }
}

/// Compression wrapped around the capture, detected from the signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Plain file.
    None,
    /// gzip.
    Gzip,
    /// Zstandard.
    Zstd,
}

/// What kind of trouble a warning describes (serialised as the report's `warnings[].kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// The stream ended in the middle of a record.
    Truncated,
    /// A record header is corrupt (absurd length, bad block); reading stopped there.
    Corrupt,
    /// Records of a link type we do not decode (counted, not fatal).
    UnsupportedLinkType,
    /// Timestamps going backwards.
    OutOfOrder,
    /// Timestamps outside any plausible range (before 1970 or after 2100, invalid fractions).
    AbsurdTimestamp,
    /// Records whose captured length exceeds the snaplen or the original length.
    SnaplenViolation,
    /// A packet referring to an interface that was never described.
    UnknownInterface,
    /// Packets whose decoding stopped early (malformed headers), counted per layer.
    DecodeError,
    /// Live ingest fell behind the link and kept only 1 in N packets for a while.
    Sampled,
    /// The kernel granted a live capture socket a small receive buffer: bursts may be lost.
    SmallCaptureBuffer,
    /// The kernel dropped live packets before they were read (its receive buffer was full).
    KernelDrops,
}

/// A problem that did not stop processing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Category.
    pub kind: WarningKind,
    /// One line for humans. Built only from numbers and our own words, never packet text.
    pub message: String,
    /// Byte offset in the stream where it happened, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// Errors that stop a capture before any packet can be read.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// A live interface that does not exist.
    #[error("{name}: no such network interface (available: {available})")]
    NoInterface {
        /// The name asked for.
        name: String,
        /// The interfaces that exist.
        available: String,
    },
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The stream is not a capture we can read.
    #[error("{path}: not a pcap or pcapng capture ({reason})")]
    NotACapture {
        /// The file.
        path: PathBuf,
        /// What was wrong, e.g. "empty file", "unknown signature 00 00 00 00".
        reason: String,
    },
}

/// Static facts about a source, known once its header was read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureInfo {
    /// Path as given, or `-` for standard input.
    pub source: String,
    /// Container format (of the first section).
    pub format: CaptureFormat,
    /// Compression around it.
    pub compression: Compression,
}

/// Called by a source that is waiting for data which has not arrived yet (see
/// [`PacketSource::set_idle_hook`]).
pub type IdleHook = Box<dyn FnMut() + Send>;

/// A stream of raw records in file order.
pub trait PacketSource {
    /// Facts from the header.
    fn info(&self) -> &CaptureInfo;

    /// The next record, `Ok(None)` at the end. After damage the source returns `Ok(None)` and
    /// keeps a warning: reading never fails once the header was accepted.
    ///
    /// # Errors
    /// Only I/O errors of the underlying reader that are not truncation.
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError>;

    /// Warnings gathered so far (drained).
    fn take_warnings(&mut self) -> Vec<Warning>;

    /// Bytes consumed from the underlying stream so far (for progress). For compressed input
    /// these are compressed bytes, comparable with the file size.
    fn bytes_read(&self) -> u64;

    /// What [`read_packet_at`] needs to decode records of this stream by offset. Complete once
    /// `next_packet` returned `Ok(None)` (pcapng interfaces may be described late). Sources
    /// without random access (live capture) return `None`.
    fn index_context(&self) -> Option<IndexContext> {
        None
    }

    /// Asks the source to call `hook` (on the reading thread) whenever it waits for data that
    /// has not arrived yet: a quiet interface, a followed file nobody is writing. The reader
    /// then hands over the packets it holds instead of sitting on a half-full batch until the
    /// traffic resumes. Returns false for sources that never wait (files, stdin), which drop
    /// the hook.
    fn set_idle_hook(&mut self, hook: IdleHook) -> bool {
        drop(hook);
        false
    }
}
