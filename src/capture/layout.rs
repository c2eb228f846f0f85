//! Record layouts: how a legacy pcap header or a pcapng section turns record fields into
//! timestamps, lengths and link types. Shared by the streaming sources and by random access, so
//! both decode a record identically.

use crate::capture::LinkType;
use crate::time::Timestamp;
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapNGPacketBlock;
use serde::{Deserialize, Serialize};

/// Largest record (pcap record or pcapng block) we agree to buffer. Real captures stay far
/// below (snaplen 262144, 65 KB loopback frames); a length field above this is damage.
pub(crate) const MAX_RECORD: u64 = 64 << 20;

/// The least length a record can claim: a pcapng block's type and two lengths (a legacy pcap
/// record's 16-byte header always claims more). pcap-parser 0.17 takes these 12 bytes off a
/// block's claim unchecked (a Process Information Block claiming 9 bytes underflows: a panic
/// with overflow checks, a wrapped length without; fuzzing found it), so the readers refuse a
/// shorter claim before the parser sees it.
pub(crate) const MIN_RECORD: u64 = 12;

/// 2100-01-01 00:00:00 UTC in seconds: later timestamps are counted as implausible.
const YEAR_2100: i64 = 4_102_444_800;

/// Legacy pcap: everything a record needs from the global header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyLayout {
    /// Fields are big-endian.
    pub big_endian: bool,
    /// Fractions are nanoseconds (else microseconds).
    pub nanos: bool,
    /// Kuznetzov modified format: 24-byte record headers.
    pub modified: bool,
    /// Link type of every record.
    pub link: LinkType,
    /// Snapshot length from the header (0 = unset).
    pub snaplen: u32,
}

impl LegacyLayout {
    /// Bytes of a record header.
    pub(crate) fn header_len(&self) -> usize {
        if self.modified { 24 } else { 16 }
    }

    /// Total record length claimed by a record header at the start of `data`, if complete.
    pub(crate) fn claimed_len(&self, data: &[u8]) -> Option<u64> {
        let caplen = read_u32(data, 8, self.big_endian)?;
        Some(self.header_len() as u64 + u64::from(caplen))
    }

    /// Converts (seconds, fraction) to a timestamp; `true` if the fraction was out of range and
    /// had to be carried into the seconds.
    pub(crate) fn timestamp(&self, secs: u32, frac: u32) -> (Timestamp, bool) {
        let unit: u32 = if self.nanos { 1_000_000_000 } else { 1_000_000 };
        let (secs, frac, bad) = if frac >= unit {
            (i64::from(secs) + i64::from(frac / unit), frac % unit, true)
        } else {
            (i64::from(secs), frac, false)
        };
        let frac_ns = if self.nanos {
            i64::from(frac)
        } else {
            i64::from(frac) * 1000
        };
        // u32 seconds plus a carry of at most 4294 s times 10^9 stays below i64::MAX.
        (Timestamp(secs * Timestamp::NANOS + frac_ns), bad)
    }
}

/// One pcapng interface (IDB) as far as records need it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Link type of its packets.
    pub link: LinkType,
    /// Snapshot length (0 = unset).
    pub snaplen: u32,
    /// Timestamp units per second (from `if_tsresol`, default 10^6).
    pub units_per_sec: u64,
    /// Seconds added to every timestamp (`if_tsoffset`).
    pub offset_secs: i64,
}

impl Interface {
    /// Builds the interface from an IDB of a section with the given byte order.
    ///
    /// `if_tsoffset` is read here rather than taken from pcap-parser, whose helper always reads
    /// it little-endian (wrong in big-endian sections).
    pub(crate) fn from_idb(
        idb: &pcap_parser::InterfaceDescriptionBlock<'_>,
        big_endian: bool,
    ) -> Self {
        let mut offset_secs = 0i64;
        for opt in &idb.options {
            if opt.code.0 == 14
                && let Some(b) = opt
                    .value()
                    .get(..8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
            {
                offset_secs = if big_endian {
                    i64::from_be_bytes(b)
                } else {
                    i64::from_le_bytes(b)
                };
            }
        }
        Interface {
            link: LinkType((idb.linktype.0 & 0xffff) as u16),
            snaplen: idb.snaplen,
            units_per_sec: idb.ts_resolution().filter(|&u| u > 0).unwrap_or(1_000_000),
            offset_secs,
        }
    }

    /// Converts a raw 64-bit timestamp; `true` if it did not fit and was clamped.
    pub(crate) fn timestamp(&self, raw: u64) -> (Timestamp, bool) {
        // Constant divisors for the two usual resolutions keep the hot path free of divisions
        // by a variable.
        let (secs, frac_ns) = match self.units_per_sec {
            1_000_000 => (raw / 1_000_000, (raw % 1_000_000) * 1000),
            1_000_000_000 => (raw / 1_000_000_000, raw % 1_000_000_000),
            u => {
                let frac = u128::from(raw % u) * 1_000_000_000 / u128::from(u);
                (raw / u, u64::try_from(frac).unwrap_or(0))
            }
        };
        let ns = i64::try_from(secs)
            .ok()
            .and_then(|s| s.checked_add(self.offset_secs))
            .and_then(|s| s.checked_mul(Timestamp::NANOS))
            .and_then(|n| n.checked_add(i64::try_from(frac_ns).ok()?));
        match ns {
            Some(n) => (Timestamp(n), false),
            None if self.offset_secs < 0 && i64::try_from(secs).is_ok() => {
                (Timestamp(i64::MIN), true)
            }
            None => (Timestamp(i64::MAX), true),
        }
    }
}

/// True for timestamps before 1970 or after 2100.
pub(crate) fn implausible(ts: Timestamp) -> bool {
    ts.0 < 0 || ts.secs() >= YEAR_2100
}

/// One pcapng section: byte order, where it starts and its interface table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Offset of its SHB in the (decompressed) stream.
    pub start: u64,
    /// Byte order of the section.
    pub big_endian: bool,
    /// Global index of the section's interface 0 (interface ids restart per section).
    pub iface_base: u32,
    /// Interfaces in IDB order.
    pub interfaces: Vec<Interface>,
}

/// Total length claimed by the pcapng block at the start of `data`, if its header is complete.
/// An SHB carries its own byte order (it may differ from the current section's).
pub(crate) fn ng_claimed_len(data: &[u8], big_endian: bool) -> Option<u64> {
    let be = if data.get(..4)? == [0x0a, 0x0d, 0x0d, 0x0a] {
        data.get(8..12)? == [0x1a, 0x2b, 0x3c, 0x4d]
    } else {
        big_endian
    };
    read_u32(data, 4, be).map(u64::from)
}

/// Which packet block a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NgKind {
    /// Enhanced Packet Block.
    Enhanced,
    /// Simple Packet Block: no timestamp, interface 0, length capped by the snaplen.
    Simple,
    /// Obsolete Packet Block (type 2).
    Obsolete,
}

/// The fields of a pcapng packet block, before the interface is looked up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NgRecord {
    pub kind: NgKind,
    /// Interface id within the section.
    pub if_id: u32,
    /// Raw timestamp (None for SPB).
    pub raw_ts: Option<u64>,
    /// Captured length field as written (for the snaplen check).
    pub caplen_field: u32,
    pub orig_len: u32,
    /// Packet bytes: offset from the block start and length (already clipped to the block).
    pub start: usize,
    pub len: usize,
}

impl NgRecord {
    /// Captured length once the interface is known (SPBs are capped by its snaplen).
    pub(crate) fn captured_len(&self, iface: &Interface) -> usize {
        if self.kind == NgKind::Simple && iface.snaplen > 0 {
            self.len.min(iface.snaplen as usize)
        } else {
            self.len
        }
    }
}

/// Extracts the packet fields of a pcapng block; None for blocks that carry no packet.
pub(crate) fn ng_record(block: &Block<'_>, big_endian: bool) -> Option<NgRecord> {
    match block {
        Block::EnhancedPacket(epb) => Some(NgRecord {
            kind: NgKind::Enhanced,
            if_id: epb.if_id,
            raw_ts: Some((u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low)),
            caplen_field: epb.caplen,
            orig_len: epb.origlen,
            start: 28,
            len: epb.packet_data().len(),
        }),
        Block::SimplePacket(spb) => Some(NgRecord {
            kind: NgKind::Simple,
            if_id: 0,
            raw_ts: None,
            caplen_field: 0,
            orig_len: spb.origlen,
            start: 12,
            len: spb.packet_data().len(),
        }),
        Block::Unknown(ub) => {
            // The obsolete Packet Block (type 2) is not parsed by pcap-parser; its layout is
            // fixed (if id u16, drops u16, ts high, ts low, caplen, len, data), so read it here.
            let block_type = if big_endian {
                ub.block_type.swap_bytes()
            } else {
                ub.block_type
            };
            if block_type != 2 {
                return None;
            }
            let d = ub.data;
            let if_id = u32::from(read_u16(d, 0, big_endian)?);
            let high = read_u32(d, 4, big_endian)?;
            let low = read_u32(d, 8, big_endian)?;
            let caplen = read_u32(d, 12, big_endian)?;
            let orig_len = read_u32(d, 16, big_endian)?;
            let room = d.len().saturating_sub(20);
            Some(NgRecord {
                kind: NgKind::Obsolete,
                if_id,
                raw_ts: Some((u64::from(high) << 32) | u64::from(low)),
                caplen_field: caplen,
                orig_len,
                start: 28,
                len: (caplen as usize).min(room),
            })
        }
        _ => None,
    }
}

/// Reads a u32 at `at` in the given byte order, None if the slice is too short.
pub(crate) fn read_u32(data: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

fn read_u16(data: &[u8], at: usize, big_endian: bool) -> Option<u16> {
    let b: [u8; 2] = data.get(at..at + 2)?.try_into().ok()?;
    Some(if big_endian {
        u16::from_be_bytes(b)
    } else {
        u16::from_le_bytes(b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(units: u64, offset: i64) -> Interface {
        Interface {
            link: LinkType::ETHERNET,
            snaplen: 0,
            units_per_sec: units,
            offset_secs: offset,
        }
    }

    #[test]
    fn legacy_fraction_is_normalised() {
        let l = LegacyLayout {
            big_endian: false,
            nanos: true,
            modified: false,
            link: LinkType(1),
            snaplen: 0,
        };
        assert_eq!(
            l.timestamp(10, 1_000_000_000),
            (Timestamp::from_secs_nanos(11, 0), true)
        );
        assert_eq!(
            l.timestamp(10, 5),
            (Timestamp::from_secs_nanos(10, 5), false)
        );
        let us = LegacyLayout { nanos: false, ..l };
        assert_eq!(
            us.timestamp(10, 2_500_000),
            (Timestamp::from_secs_nanos(12, 500_000_000), true)
        );
        assert!(us.timestamp(u32::MAX, u32::MAX).1);
    }

    #[test]
    fn pcapng_resolutions() {
        assert_eq!(
            iface(1_000_000, 0).timestamp(1_500_000).0,
            Timestamp(1_500_000_000)
        );
        assert_eq!(
            iface(1 << 10, 0).timestamp(1024 + 512).0,
            Timestamp(1_500_000_000)
        );
        assert_eq!(iface(100, 5).timestamp(250).0, Timestamp(7_500_000_000));
        // Just below 2^64 microseconds: does not fit, clamped.
        let (ts, clamped) = iface(1_000_000, 0).timestamp(u64::MAX - 10);
        assert!(clamped);
        assert_eq!(ts, Timestamp(i64::MAX));
        // 2^32 seconds (year 2106) fits.
        let (ts, clamped) = iface(1_000_000, 0).timestamp((1u64 << 32) * 1_000_000);
        assert!(!clamped);
        assert_eq!(ts.secs(), 1i64 << 32);
        assert!(implausible(ts));
    }

    #[test]
    fn shb_length_uses_its_own_byte_order() {
        let be_shb = [0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 28, 0x1a, 0x2b, 0x3c, 0x4d];
        assert_eq!(ng_claimed_len(&be_shb, false), Some(28));
        assert_eq!(ng_claimed_len(&[6, 0, 0, 0, 32, 0, 0], false), None);
    }
}
