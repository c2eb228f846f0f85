//! The drafting pass: every packet's class (wave, baseline, other) and replay header record,
//! and evenly strided samples of each wave's packets and of the baseline's, in file order.
//!
//! Its packets come from the analysis when `report` or `rules` asked the pass to keep them
//! ([`crate::engine::kept`]): the samples are positions in the kept batches, which stay whole
//! for the replay, so nothing is copied and no per-packet record is written. Otherwise the
//! capture is read and decoded again ([`super::scan::scan_owned`]) and each packet leaves a
//! compact record behind.

use super::draft::{BASELINE_SAMPLE, DraftError, WAVE_SAMPLE};
use super::headers::{Headers, TEXT_PACKETS, TextParts, has_text};
use super::scan::{Class, Plan, scan_owned};
use crate::decode::Packet;
use crate::engine::kept::KeptPackets;
use std::path::Path;

/// Packets of one pass, sampled.
pub(super) struct Collected {
    /// The samples: copies of the packets read again from the capture, or where they lie in
    /// the kept packets (see [`Collected::samples`]).
    store: Store,
    /// Each wave's stride: one packet kept in so many.
    pub(super) wave_strides: Vec<u64>,
    /// The baseline's stride.
    pub(super) base_stride: u64,
    /// The analysis's kept packets, whole: the samples point into them and the replay runs
    /// over them (then `headers` and `texts` are `None`).
    pub(super) kept: Option<KeptPackets>,
    /// Every packet's draftable fields and class, in file order, for replaying the drafts
    /// without reading the capture again (`None` with kept packets, or if some packet's class
    /// did not fit).
    pub(super) headers: Option<Vec<Headers>>,
    /// The DNS, TLS and HTTP parts of every packet that has one, in file order (the headers
    /// say which packets: `None` past [`TEXT_PACKETS`], and text rules then replay against
    /// the capture).
    pub(super) texts: Option<Vec<TextParts>>,
}

/// Where the sampled packets are.
enum Store {
    /// Read and decoded again: each wave's sample by wave index, and the baseline's.
    Owned {
        waves: Vec<Vec<Packet>>,
        base: Vec<Packet>,
    },
    /// (batch, index) positions in [`Collected::kept`]. Copying the sampled packets out of
    /// the batches cost 0.15 s of one core on the 1.5 M-packet bench capture (425 k packets,
    /// with their DNS, TLS and HTTP parts), on the critical path of `report`.
    Kept {
        waves: Vec<Vec<(u32, u32)>>,
        base: Vec<(u32, u32)>,
    },
}

/// The samples of a [`Collected`], as references in file order.
pub(super) struct Samples<'a> {
    /// Each wave's sample, by wave index.
    pub(super) waves: Vec<Vec<&'a Packet>>,
    /// The baseline's sample.
    pub(super) base: Vec<&'a Packet>,
}

impl Collected {
    /// The samples, wherever they are kept.
    pub(super) fn samples(&self) -> Samples<'_> {
        match &self.store {
            Store::Owned { waves, base } => Samples {
                waves: waves.iter().map(|w| w.iter().collect()).collect(),
                base: base.iter().collect(),
            },
            Store::Kept { waves, base } => {
                let at = |v: &[(u32, u32)]| -> Vec<&Packet> {
                    let Some(k) = &self.kept else {
                        return Vec::new();
                    };
                    v.iter()
                        .filter_map(|&(b, i)| k.get(b as usize, i as usize))
                        .collect()
                };
                Samples {
                    waves: waves.iter().map(|w| at(w)).collect(),
                    base: at(base),
                }
            }
        }
    }
}

/// Appends a sampled item (a packet or its position) to its class's sample.
fn push_to<T>(waves: &mut [Vec<T>], base: &mut Vec<T>, class: Class, item: T) {
    match class {
        Class::Wave(i) => {
            if let Some(w) = waves.get_mut(i) {
                w.push(item);
            }
        }
        Class::Baseline => base.push(item),
        Class::Other => {}
    }
}

fn stride(total: u64, cap: u64) -> u64 {
    total.div_ceil(cap).max(1)
}

/// Packets a class of `total` packets leaves in its sample at one in `stride`.
fn sample_size(total: u64, stride: u64) -> usize {
    usize::try_from(total.div_ceil(stride.max(1))).unwrap_or(0)
}

/// Where the drafting pass gets its packets: the analysis's kept packets, borrowed (shared
/// with the analysis) or taken (drafting lets them go when done), or the capture, read and
/// decoded again.
pub(super) enum Packets<'a> {
    Borrowed(&'a KeptPackets),
    Taken(KeptPackets),
    Capture,
}

/// The drafting pass's state: the samples so far and each class's packets seen.
struct Collector {
    c: Collected,
    seen_w: Vec<u64>,
    seen_b: u64,
}

impl Collector {
    /// Takes one packet: records its headers (and text parts) for the replay and keeps it in
    /// its class's sample when the stride says so. Moves the packet; the text parts are
    /// copied only for a sampled packet.
    fn put(&mut self, mut p: Packet, class: Class) {
        let text = self.record(&p, class);
        if self.sampled(class) {
            if text {
                self.push_text(TextParts::of(&p));
            }
            self.push_sample(class, p);
        } else if text {
            self.push_text(TextParts::take(&mut p));
        }
    }

    /// Samples one of the kept packets (its position, where the stride keeps it), recording
    /// nothing: the replay reads the kept packets themselves.
    fn sample_kept(&mut self, at: (u32, u32), class: Class) {
        if !self.sampled(class) {
            return;
        }
        if let Store::Kept { waves, base } = &mut self.c.store {
            push_to(waves, base, class, at);
        }
    }

    /// Records the packet's headers; whether its text parts are to be kept.
    fn record(&mut self, p: &Packet, class: Class) -> bool {
        let Some(h) = &mut self.c.headers else {
            return false;
        };
        match Headers::of(p, class) {
            Some(x) => h.push(x),
            None => {
                self.c.headers = None;
                self.c.texts = None;
                return false;
            }
        }
        if !has_text(p) {
            return false;
        }
        if self
            .c
            .texts
            .as_ref()
            .is_some_and(|t| t.len() >= TEXT_PACKETS)
        {
            // Past the budget: the records stay, text rules read the capture.
            self.c.texts = None;
        }
        self.c.texts.is_some()
    }

    fn push_text(&mut self, t: TextParts) {
        if let Some(v) = &mut self.c.texts {
            v.push(t);
        }
    }

    /// Whether the class's stride keeps this packet (counts it either way).
    fn sampled(&mut self, class: Class) -> bool {
        match class {
            Class::Wave(i) => {
                let (Some(seen), Some(stride)) =
                    (self.seen_w.get_mut(i), self.c.wave_strides.get(i))
                else {
                    return false;
                };
                let keep = *seen % stride == 0;
                *seen += 1;
                keep
            }
            Class::Baseline => {
                let keep = self.seen_b.is_multiple_of(self.c.base_stride);
                self.seen_b += 1;
                keep
            }
            Class::Other => false,
        }
    }

    fn push_sample(&mut self, class: Class, p: Packet) {
        if let Store::Owned { waves, base } = &mut self.c.store {
            push_to(waves, base, class, p);
        }
    }
}

pub(super) fn collect(
    capture: &Path,
    plan: &Plan,
    packets: Packets<'_>,
) -> Result<Collected, DraftError> {
    let wave_strides: Vec<u64> = plan
        .wave_packets
        .iter()
        .map(|n| stride(*n, WAVE_SAMPLE))
        .collect();
    let base_stride = stride(plan.baseline_packets, BASELINE_SAMPLE);
    let kept = match packets {
        Packets::Borrowed(k) => Some(k.clone()),
        Packets::Taken(k) => Some(k),
        Packets::Capture => None,
    };
    // Records for the replay only when it cannot run over the kept packets.
    let records = kept.is_none();
    // Each sample's size is known: sized up front, a sample never grows by copying.
    let sizes: Vec<usize> = plan
        .wave_packets
        .iter()
        .zip(&wave_strides)
        .map(|(n, s)| sample_size(*n, *s))
        .collect();
    let base_size = sample_size(plan.baseline_packets, base_stride);
    let store = if records {
        Store::Owned {
            waves: sizes.iter().map(|n| Vec::with_capacity(*n)).collect(),
            base: Vec::with_capacity(base_size),
        }
    } else {
        Store::Kept {
            waves: sizes.iter().map(|n| Vec::with_capacity(*n)).collect(),
            base: Vec::with_capacity(base_size),
        }
    };
    let mut col = Collector {
        seen_w: vec![0u64; wave_strides.len()],
        seen_b: 0,
        c: Collected {
            store,
            wave_strides,
            base_stride,
            kept: None,
            headers: records
                .then(|| Vec::with_capacity(usize::try_from(plan.total_packets).unwrap_or(0))),
            texts: records.then(Vec::new),
        },
    };
    match kept {
        // Kept packets passed the analysis's capture filter already. They stay whole for the
        // replay and the samples point into them: writing a record for every packet, which
        // moving the samples out of the batches required, cost 0.2 s of one core on the
        // 1.5 M-packet bench capture, and copying them 0.15 s.
        Some(k) => {
            let mut at = 0;
            for (bi, batch) in k.batches().enumerate() {
                let bi = u32::try_from(bi).unwrap_or(u32::MAX);
                for (pi, p) in batch.iter().enumerate() {
                    let pi = u32::try_from(pi).unwrap_or(u32::MAX);
                    col.sample_kept((bi, pi), plan.class_at(p, &mut at));
                }
            }
            col.c.kept = Some(k);
        }
        // A pass over the capture applies the filter again (in `scan_owned`).
        None => scan_owned(capture, plan, |p, class| col.put(p, class))?,
    }
    Ok(col.c)
}
