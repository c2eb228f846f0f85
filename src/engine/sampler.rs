//! Sampling when live ingest falls behind: the reader never blocks on a live socket (the
//! kernel would then drop packets silently); it keeps 1 in N packets, N adapting to how far
//! behind the consumers are, and counts what it left out so the report can say so.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// Largest sampling ratio (keep 1 in this many packets).
pub const MAX_SAMPLE_RATIO: u64 = 1024;

/// Live counters of the sampler, shared between the reader thread and whoever shows progress.
#[derive(Debug, Default)]
pub struct SampleCounters {
    /// Current ratio: 1 in this many packets is kept (1 = everything).
    pub ratio: AtomicU64,
    /// Packets the source produced.
    pub seen: AtomicU64,
    /// Packets left out by sampling.
    pub dropped: AtomicU64,
    /// Highest ratio used.
    pub max_ratio: AtomicU64,
}

/// Sampling over a whole pass (the report's `sampling` object).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Sampling {
    /// Effective ratio: packets seen per packet kept (1 = nothing sampled out).
    pub ratio: f64,
    /// Highest 1-in-N ratio the sampler went to.
    pub max_ratio: u64,
    /// Packets the source produced.
    pub packets_seen: u64,
    /// Packets left out by sampling.
    pub packets_dropped: u64,
}

impl SampleCounters {
    /// The pass's summary so far.
    #[must_use]
    pub fn summary(&self) -> Sampling {
        let seen = self.seen.load(Ordering::Relaxed);
        let dropped = self.dropped.load(Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss)]
        let ratio = if seen > dropped {
            seen as f64 / (seen - dropped) as f64
        } else {
            1.0
        };
        Sampling {
            ratio,
            max_ratio: self.max_ratio.load(Ordering::Relaxed).max(1),
            packets_seen: seen,
            packets_dropped: dropped,
        }
    }
}

/// The reader's sampling state (1 in `ratio` packets kept).
pub(super) struct Sampler {
    pub(super) ratio: u64,
    pub(super) max_ratio: u64,
    pub(super) seen: u64,
    pub(super) dropped: u64,
    /// Batches handed on in a row since the consumers were last behind.
    pub(super) calm: u32,
}

impl Default for Sampler {
    fn default() -> Self {
        Self {
            ratio: 1,
            max_ratio: 1,
            seen: 0,
            dropped: 0,
            calm: 0,
        }
    }
}

impl Sampler {
    pub(super) fn skip(&mut self) -> bool {
        if self.ratio > 1 && !self.seen.is_multiple_of(self.ratio) {
            self.dropped += 1;
            return true;
        }
        false
    }

    pub(super) fn behind(&mut self) {
        self.calm = 0;
        self.ratio = (self.ratio * 2).min(MAX_SAMPLE_RATIO);
        self.max_ratio = self.max_ratio.max(self.ratio);
    }

    pub(super) fn kept_up(&mut self) {
        self.calm += 1;
        // Several batches accepted at once: the consumers have room again.
        if self.calm >= 4 && self.ratio > 1 {
            self.ratio /= 2;
            self.calm = 0;
        }
    }

    pub(super) fn publish(&self, c: &SampleCounters) {
        c.ratio.store(self.ratio, Ordering::Relaxed);
        c.max_ratio.store(self.max_ratio, Ordering::Relaxed);
        c.seen.store(self.seen, Ordering::Relaxed);
        c.dropped.store(self.dropped, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{CaptureError, CaptureFormat, Compression};
    use crate::capture::{CaptureInfo, LinkType, PacketSource, RawPacket, Warning};
    use crate::engine::ingest::{spawn_reader, spawn_reader_with};
    use crate::time::Timestamp;
    use std::sync::Arc;

    /// A source that produces packets as fast as it is asked, like a busy link.
    struct Flood {
        info: CaptureInfo,
        left: u64,
        frame: Vec<u8>,
    }

    impl PacketSource for Flood {
        fn info(&self) -> &CaptureInfo {
            &self.info
        }
        fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
            if self.left == 0 {
                return Ok(None);
            }
            self.left -= 1;
            Ok(Some(RawPacket {
                ts: Timestamp(i64::try_from(self.left).unwrap()),
                interface: 0,
                link: LinkType::ETHERNET,
                orig_len: 60,
                data: &self.frame,
                offset: self.left,
            }))
        }
        fn take_warnings(&mut self) -> Vec<Warning> {
            Vec::new()
        }
        fn bytes_read(&self) -> u64 {
            0
        }
    }

    fn flood(n: u64) -> Box<dyn PacketSource + Send> {
        Box::new(Flood {
            info: CaptureInfo {
                source: "test".into(),
                format: CaptureFormat::Live,
                compression: Compression::None,
            },
            left: n,
            frame: vec![0; 60],
        })
    }

    #[test]
    fn a_slow_consumer_makes_the_sampler_keep_one_in_n_and_count_the_rest() {
        let counters = Arc::new(SampleCounters::default());
        let (rx, reader) = spawn_reader_with(flood(400_000), 256, Some(Arc::clone(&counters)));
        let mut got = 0u64;
        for b in rx {
            got += b.len() as u64;
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        reader.unwrap().join().unwrap();
        let s = counters.summary();
        assert_eq!(s.packets_seen, 400_000);
        assert_eq!(got + s.packets_dropped, s.packets_seen);
        assert!(s.packets_dropped > 100_000, "{s:?}");
        assert!(s.max_ratio >= 8 && s.ratio > 2.0, "{s:?}");
    }

    #[test]
    fn without_a_sampler_the_reader_waits_and_keeps_everything() {
        let (rx, reader) = spawn_reader(flood(20_000), 256);
        let mut got = 0u64;
        for b in rx {
            got += b.len() as u64;
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        reader.unwrap().join().unwrap();
        assert_eq!(got, 20_000);
    }

    #[test]
    fn a_live_pass_accounts_for_every_packet_and_warns_when_it_sampled() {
        let a = crate::engine::analyze(flood(300_000), &crate::engine::Options::default(), |_| {});
        let s = a.agg.sampling.expect("live sources report sampling");
        assert_eq!(s.packets_seen, 300_000);
        assert_eq!(a.agg.stats.packets + s.packets_dropped, 300_000);
        let warned = a
            .warnings
            .iter()
            .any(|w| w.kind == crate::capture::WarningKind::Sampled);
        assert_eq!(warned, s.packets_dropped > 0);
    }
}
