//! Legacy pcap (microsecond, nanosecond, Kuznetzov modified; both byte orders) over
//! pcap-parser's `LegacyPcapReader`.

use crate::capture::checks::Checks;
use crate::capture::index::{IndexContext, Layout};
use crate::capture::layout::LegacyLayout;
use crate::capture::stream::{BlockSink, PacketMeta};
use crate::capture::{CaptureInfo, Warning};
use pcap_parser::PcapBlockOwned;

/// Turns legacy records into packets and counts their anomalies.
pub(crate) struct LegacySink {
    layout: LegacyLayout,
    checks: Checks,
}

impl LegacySink {
    pub(crate) fn new(layout: LegacyLayout) -> Self {
        LegacySink {
            layout,
            checks: Checks::default(),
        }
    }
}

impl BlockSink for LegacySink {
    fn claimed_len(&self, data: &[u8]) -> Option<u64> {
        self.layout.claimed_len(data)
    }

    #[inline]
    fn on_block(&mut self, offset: u64, block: PcapBlockOwned<'_>) -> Option<PacketMeta> {
        let PcapBlockOwned::Legacy(b) = block else {
            return None; // the global header, replayed once by the reader
        };
        let (ts, bad) = self.layout.timestamp(b.ts_sec, b.ts_usec);
        self.checks
            .record(offset, ts, bad, b.caplen, self.layout.snaplen, b.origlen);
        Some(PacketMeta {
            ts,
            interface: 0,
            link: self.layout.link,
            orig_len: b.origlen,
            start: self.layout.header_len(),
            len: b.data.len(),
        })
    }

    fn finish(&mut self, out: &mut Vec<Warning>) {
        self.checks.finish(out);
    }

    fn context(&self, info: &CaptureInfo) -> IndexContext {
        IndexContext {
            format: info.format,
            compression: info.compression,
            layout: Layout::Legacy(self.layout.clone()),
            untimed: Vec::new(),
        }
    }
}
