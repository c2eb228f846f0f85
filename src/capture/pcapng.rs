//! pcapng over pcap-parser's `PcapNGReader`: sections with their own byte order and interface
//! table, EPB/SPB/obsolete packet blocks, per-interface timestamp resolution and offset.

use crate::capture::checks::Checks;
use crate::capture::index::{IndexContext, Layout};
use crate::capture::layout::{Interface, MIN_RECORD, NgKind, Section, ng_claimed_len, ng_record};
use crate::capture::stream::{BlockSink, PacketMeta};
use crate::capture::{CaptureInfo, Warning};
use crate::time::Timestamp;
use pcap_parser::PcapBlockOwned;
use pcap_parser::pcapng::Block;

/// Most sections kept. Every section and interface is kept to the end (the index context needs
/// them), so without a cap a stream of SHBs or IDBs would grow memory with the input: 24 MB of
/// SHB+IDB pairs took 139 MB before these caps. Real captures have a handful of each; a follow
/// of `tcpdump -G 60` rotations makes one section a minute (45 days to reach the cap).
pub(crate) const MAX_SECTIONS: usize = 1 << 16;
/// Most interfaces kept, over all sections (see `MAX_SECTIONS`).
pub(crate) const MAX_INTERFACES: u32 = 1 << 16;

// The warning in checks.rs names this limit.
const _: () = assert!(MAX_SECTIONS == 65536 && MAX_INTERFACES == 65536);

/// Tracks sections and interfaces, turns packet blocks into packets.
#[derive(Default)]
pub(crate) struct NgSink {
    /// A section past [`MAX_SECTIONS`] began: its packets cannot be attributed and are skipped.
    flooded: bool,
    sections: Vec<Section>,
    /// Timestamps given to SPBs (they carry none), by block offset; only non-zero ones.
    untimed: Vec<(u64, Timestamp)>,
    next_global: u32,
    big_endian: bool,
    /// Last timestamp in the current section (what an SPB inherits).
    last_ts: Timestamp,
    checks: Checks,
}

impl BlockSink for NgSink {
    fn claimed_len(&self, data: &[u8]) -> Option<u64> {
        ng_claimed_len(data, self.big_endian)
    }

    fn claims_too_little(&self, data: &[u8]) -> bool {
        self.claimed_len(data).is_some_and(|n| n < MIN_RECORD)
    }

    #[inline]
    fn on_block(&mut self, offset: u64, block: PcapBlockOwned<'_>) -> Option<PacketMeta> {
        let PcapBlockOwned::NG(block) = block else {
            return None;
        };
        match block {
            Block::SectionHeader(shb) => {
                self.big_endian = shb.big_endian();
                if self.flooded || self.sections.len() >= MAX_SECTIONS {
                    self.flooded = true;
                    self.checks.ignored_description(offset);
                    return None;
                }
                self.sections.push(Section {
                    start: offset,
                    big_endian: self.big_endian,
                    iface_base: self.next_global,
                    interfaces: Vec::new(),
                });
                self.last_ts = Timestamp(0);
                None
            }
            Block::InterfaceDescription(idb) => {
                if self.flooded || self.next_global >= MAX_INTERFACES {
                    // Its packets are then skipped as referring to an undescribed interface.
                    self.checks.ignored_description(offset);
                    return None;
                }
                if let Some(section) = self.sections.last_mut() {
                    section
                        .interfaces
                        .push(Interface::from_idb(&idb, self.big_endian));
                    self.next_global = self.next_global.saturating_add(1);
                }
                None
            }
            other => self.packet(offset, &other),
        }
    }

    fn finish(&mut self, out: &mut Vec<Warning>) {
        self.checks.finish(out);
    }

    fn context(&self, info: &CaptureInfo) -> IndexContext {
        IndexContext {
            format: info.format,
            compression: info.compression,
            layout: Layout::Pcapng(self.sections.clone()),
            untimed: self.untimed.clone(),
        }
    }
}

impl NgSink {
    fn packet(&mut self, offset: u64, block: &Block<'_>) -> Option<PacketMeta> {
        let rec = ng_record(block, self.big_endian)?;
        if self.flooded {
            self.checks.unknown_interface(offset);
            return None;
        }
        let section = self.sections.last()?;
        let Some(iface) = section.interfaces.get(rec.if_id as usize) else {
            self.checks.unknown_interface(offset);
            return None;
        };
        let (ts, bad) = match rec.raw_ts {
            Some(raw) => iface.timestamp(raw),
            None => {
                if self.last_ts != Timestamp(0) {
                    self.untimed.push((offset, self.last_ts));
                }
                (self.last_ts, false)
            }
        };
        self.last_ts = ts;
        let len = rec.captured_len(iface);
        let caplen_field = if rec.kind == NgKind::Simple {
            len as u32
        } else {
            rec.caplen_field
        };
        self.checks
            .record(offset, ts, bad, caplen_field, iface.snaplen, rec.orig_len);
        Some(PacketMeta {
            ts,
            interface: section.iface_base.saturating_add(rec.if_id),
            link: iface.link,
            orig_len: rec.orig_len,
            start: rec.start,
            len,
        })
    }
}
