//! One streaming pass over a capture with every packet labelled by the analysis: the packets
//! of a wave's buckets, of the baseline's quiet buckets, or neither.
//!
//! Labels come from the timeline bucket a packet falls in (the same bucketing the detector
//! judged), so drafting and replay see exactly the split detection made. Buckets within
//! [`MARGIN_NS`] of a wave are neither wave nor baseline: an attack's first and last packets
//! spill into neighbouring quiet buckets and would otherwise count as baseline collateral.
//!
//! A wave found in sessions (a new beacon) has a scope instead: only its conversation's packets
//! between its first and last are the wave's, and the traffic around them keeps the class of
//! its bucket. Its packets are all anomalous, so it has no expected background (its seconds
//! are 0 for the background estimates).

use crate::capture::{self, CaptureError};
use crate::decode::Packet;
use crate::detect::BaselineInfo;
use crate::detect::session_waves::Scope;
use crate::engine::{Analysis, ingest};
use std::net::IpAddr;
use std::path::Path;

/// Quiet buckets this close to a wave (before or after) are left out of the baseline (5 s,
/// the segmenter's default drain).
pub const MARGIN_NS: i64 = 5_000_000_000;

/// What a packet is, by its bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// In the buckets of the wave at this index of `findings.waves`.
    Wave(usize),
    /// In a baseline (quiet) bucket.
    Baseline,
    /// Near a wave, or outside an analyst-chosen baseline interval.
    Other,
}

/// The bucket-to-class map of one analysis, plus the figures drafting needs.
#[derive(Clone, Debug)]
pub struct Plan {
    width: i64,
    starts: Vec<i64>,
    class: Vec<Class>,
    /// Wave ids as rules name them (`W1`...), by wave index.
    pub wave_ids: Vec<String>,
    /// Packets in each wave's buckets.
    pub wave_packets: Vec<u64>,
    /// Seconds covered by each wave's buckets.
    pub wave_seconds: Vec<f64>,
    /// Packets each wave's shifts say it carries beyond the baseline
    /// ([`crate::detect::shift::excess_in_values`]).
    pub wave_shift_mass: Vec<f64>,
    /// Packets in baseline buckets.
    pub baseline_packets: u64,
    /// Seconds covered by baseline buckets.
    pub baseline_seconds: f64,
    /// Addresses named as entities of any wave (for uninvolved-host collateral).
    pub wave_hosts: rustc_hash::FxHashSet<IpAddr>,
    /// Packets the analysis counted (what a pass over the capture will see).
    pub total_packets: u64,
    /// The analysis's capture filter: a pass skips the packets it rejects, as the analysis did.
    filter: Option<std::sync::Arc<crate::rules::filter::PacketFilter>>,
    /// Scoped waves: index, first and last timestamp (ns, inclusive), conversation.
    scoped: Vec<(usize, i64, i64, Scope)>,
}

impl Plan {
    /// The plan of an analysis.
    #[must_use]
    pub fn new(a: &Analysis) -> Self {
        let tl = &a.agg.timeline;
        let width = tl.width_ns().max(1);
        let f = &a.findings;
        let starts: Vec<i64> = (0..tl.buckets().len())
            .filter_map(|i| tl.bucket_start(i).map(|t| t.0))
            .collect();
        let fixed = match f.baseline {
            BaselineInfo::Fixed { from, to, .. } => Some((from.0, to.0)),
            BaselineInfo::Decaying { .. } => None,
        };
        let mut class: Vec<Class> = starts
            .iter()
            .map(|s| match fixed {
                Some((from, to)) if *s + width <= from || *s >= to => Class::Other,
                _ => Class::Baseline,
            })
            .collect();
        let mut wave_packets = vec![0u64; f.waves.len()];
        let mut wave_seconds = vec![0f64; f.waves.len()];
        let mut scoped = Vec::new();
        for (wi, w) in f.waves.iter().enumerate() {
            if let Some(scope) = w.scope {
                scoped.push((wi, w.start.0, w.end.0, scope));
                wave_packets[wi] = w.packets;
                continue;
            }
            let (Some(lo), Some(hi)) = (
                starts.get(w.buckets.start),
                starts.get(w.buckets.end.saturating_sub(1)),
            ) else {
                continue;
            };
            let (lo, hi) = (*lo - MARGIN_NS, *hi + width + MARGIN_NS);
            for (c, s) in class.iter_mut().zip(&starts) {
                if *s + width > lo && *s < hi && *c == Class::Baseline {
                    *c = Class::Other;
                }
            }
            for pos in w.buckets.clone() {
                if let Some(c) = class.get_mut(pos) {
                    *c = Class::Wave(wi);
                    wave_packets[wi] += tl.buckets()[pos].packets;
                    wave_seconds[wi] += secs(width);
                }
            }
        }
        let mut baseline_packets = 0;
        let mut baseline_seconds = 0.0;
        for (c, b) in class.iter().zip(tl.buckets()) {
            if *c == Class::Baseline {
                baseline_packets += b.packets;
                baseline_seconds += secs(width);
            }
        }
        let wave_hosts = f
            .waves
            .iter()
            .flat_map(|w| &w.entities)
            .filter_map(|e| host_of(&e.entity))
            .collect();
        Plan {
            width,
            starts,
            class,
            wave_ids: f.waves.iter().map(|w| format!("W{}", w.id)).collect(),
            wave_packets,
            wave_seconds,
            wave_shift_mass: f
                .waves
                .iter()
                .map(|w| crate::detect::shift::excess_in_values(&w.shifts))
                .collect(),
            baseline_packets,
            baseline_seconds,
            wave_hosts,
            total_packets: a.agg.stats.packets,
            filter: a.filter.clone(),
            scoped,
        }
    }

    /// The earliest timestamp (ns) a packet of the analysis can have a class other than
    /// [`Class::Other`] from: the start of its first bucket, or of a scoped wave that began
    /// before it. Retention folds older buckets away, so earlier packets are outside what the
    /// analysis holds (`None`: no buckets and no scoped waves).
    #[must_use]
    pub fn span_start(&self) -> Option<i64> {
        let scoped = self.scoped.iter().map(|(_, lo, ..)| *lo);
        self.starts.first().copied().into_iter().chain(scoped).min()
    }

    /// Whether the analysis's capture filter (if any) kept the packet.
    #[must_use]
    pub fn admits(&self, p: &Packet) -> bool {
        self.filter.as_ref().is_none_or(|f| f.matches(p))
    }

    /// The class of a packet, by its timestamp.
    #[must_use]
    pub fn class_of(&self, p: &Packet) -> Class {
        self.class_at(p, &mut 0)
    }

    /// [`Plan::class_of`] for packets in time order: `at` remembers the last packet's bucket,
    /// so the next packet's is found by looking there and at the following bucket before
    /// searching them all (a binary search per packet was 1% of `report`'s CPU).
    #[must_use]
    pub fn class_at(&self, p: &Packet, at: &mut usize) -> Class {
        let start = p.ts.0.div_euclid(self.width) * self.width;
        let hit = [*at, *at + 1]
            .into_iter()
            .find(|i| self.starts.get(*i) == Some(&start));
        let pos = match hit {
            Some(i) => Some(i),
            None => self.starts.binary_search(&start).ok(),
        };
        if let Some(i) = pos {
            *at = i;
        }
        let class = pos
            .and_then(|i| self.class.get(i).copied())
            .unwrap_or(Class::Other);
        if matches!(class, Class::Wave(_)) {
            // A bucket wave keeps its buckets whole, even where a scoped wave overlaps.
            return class;
        }
        self.scoped
            .iter()
            .find(|(_, lo, hi, scope)| (*lo..=*hi).contains(&p.ts.0) && scope.matches(p))
            .map_or(class, |(wi, ..)| Class::Wave(*wi))
    }
}

#[allow(clippy::cast_precision_loss)]
fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

/// An entity string as an address (`10.0.0.1`, `10.0.0.1:80`, `[2001:db8::1]:443`).
fn host_of(entity: &str) -> Option<IpAddr> {
    if let Ok(ip) = entity.parse() {
        return Some(ip);
    }
    let (h, _) = entity.rsplit_once(':')?;
    h.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// Streams the capture once, decoding every packet as ingest did (TLS first flights too), and
/// hands each packet the analysis's capture filter kept to `visit` with its class, in file order.
///
/// # Errors
/// The capture cannot be opened.
pub fn scan(
    path: &Path,
    plan: &Plan,
    mut visit: impl FnMut(&Packet, Class) + Send,
) -> Result<(), CaptureError> {
    scan_owned(path, plan, |p, class| visit(&p, class))
}

/// [`scan`], handing each packet over by value: a visit that keeps packets (the drafting
/// samples, about half the capture on a busy one) moves them instead of copying each one.
///
/// # Errors
/// The capture cannot be opened.
pub fn scan_owned(
    path: &Path,
    plan: &Plan,
    mut visit: impl FnMut(Packet, Class) + Send,
) -> Result<(), CaptureError> {
    let src = capture::open(path)?;
    let (rx, reader) = ingest::spawn_reader(src, ingest::BATCH_RECORDS);
    let mut tls = crate::decode::tls::FirstFlight::default();
    let mut at = 0;
    // Packets from before the analysis's span (retention folded their buckets away: a live
    // capture's `--write` copy, `report --retention` on a long file) are not decoded, and a
    // batch of nothing else is not even handed to the decoders: they were read to find the
    // span, and decoding is most of a pass's cost. They used to count as "uninvolved"
    // traffic, hosts of forgotten waves included; the analysis knows nothing of them. (A
    // ClientHello split across the span's start loses its first segment here, so that one
    // connection's SNI can be missing from the drafts; the analysis saw it whole.)
    let from = plan.span_start().unwrap_or(i64::MIN);
    let mut hand_on = |pkts: Vec<Packet>, visit: &mut dyn FnMut(Packet, Class)| {
        for p in pkts {
            // Packets the analysis's filter rejected were never analysed: skip them, so
            // rules are drafted and judged on the same traffic.
            if p.ts.0 >= from && plan.admits(&p) {
                let class = plan.class_at(&p, &mut at);
                visit(p, class);
            }
        }
    };
    let mut decoded: Vec<Packet> = Vec::new();
    for batch in rx {
        if batch.latest().is_some_and(|t| t.0 < from) {
            continue;
        }
        // Each batch is decoded while the previous one is handed on: the visit is serial, and
        // would otherwise leave the decoding workers idle for its whole length.
        let current = std::mem::take(&mut decoded);
        let (next, ()) = rayon::join(
            || ingest::decode_batch_parallel(&batch, &mut tls),
            || hand_on(current, &mut visit),
        );
        decoded = next;
    }
    hand_on(decoded, &mut visit);
    // Read errors were reported by the analysis pass; a second pass stops at the same place.
    if let Ok(h) = reader {
        let _ = h.join();
    }
    Ok(())
}
