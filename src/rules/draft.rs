//! Drafting mitigation rules for the waves of an analysis, and replaying rules against the
//! capture.
//!
//! One pass collects each wave's packets and the baseline's (sampled to a bounded number):
//! over the packets the analysis kept ([`crate::engine::kept`]) when it kept them, else over
//! the capture, read and decoded again. It accumulates both in the hypervector algebra. The
//! difference of the two mean vectors is what the wave added; each candidate (field, value)
//! leaf is probed by cosine with that difference and by its novelty against the baseline, and
//! the wave's concentration shifts add their significance. Those scores rank the evidence;
//! [`super::select::choose`] then picks the smallest conjunction that covers the wave while
//! sparing the baseline, measured on the packets. All drafts then replay at once for exact
//! figures, from the header records the pass kept.
//!
//! When sources look spoofed (thousands of distinct addresses) and the chosen conditions say
//! nothing about the source, no field tells attack from legitimate clients of the same
//! service: the draft is a rate limit at a high quantile of the baseline rate of the matching
//! traffic, never a list of addresses.
//!
//! An attack that comes back (a wave whose `like` names an earlier one) keeps its first
//! occurrence's rule when that rule still fits it (`draft/again.rs`); the waves are drafted
//! in `draft/wave.rs`. Building a draft's rule and explanation is `draft/rule.rs`; replaying
//! drafts and edited rules is `draft/replays.rs`.

mod again;
mod replays;
mod rule;
mod wave;

use replays::replay_drafts;
pub use replays::{apply, replay_all, replay_capture};
use wave::WaveContext;

use super::collect::{Collected, Packets, collect};
use super::model::{Change, Rule, RuleId, Who};
use super::probe::Probe;
use super::replay::ReplayCounts;
use super::scan::Plan;
use super::select::{BaseColumns, OwnEndpoints};
use crate::capture::CaptureError;
use crate::decode::Packet;
use crate::engine::Analysis;
use rustc_hash::FxHashSet;
use std::path::Path;

/// Wave packets kept per wave for drafting (evenly sampled beyond this). Choosing conditions
/// needs the wave's mix, not every packet of it, and replay measures every draft on all the
/// packets: at 10,000 instead of 40,000 every drafted rule and its replay figures stayed the
/// same on the 61 reference captures (only the sample estimates in the explanations moved),
/// and drafting a 1.5 M-packet capture's 64 waves took 0.3-0.4 s less.
pub const WAVE_SAMPLE: u64 = 10_000;
/// Baseline packets kept for drafting.
pub const BASELINE_SAMPLE: u64 = 60_000;
/// A wave whose sample holds at least this many distinct source addresses (or 30% of its
/// packets, from 100 packets on) has spoofed-looking sources.
pub const SPOOFED_SOURCES: usize = 1000;
/// A draft that matches more than this share of baseline packets is an alert, not a drop,
/// until the analyst narrows it (a drop would cut ordinary traffic).
pub const MAX_DROP_COLLATERAL: f64 = 0.01;
/// Packets (or header records) replayed per parallel part.
const REPLAY_CHUNK: usize = 1 << 16;
/// Smallest drafted rate limit (packets/s).
pub const MIN_RATE_PPS: u32 = 10;

/// A drafted rule with its replay figures and the reason for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    /// The rule (status draft, provenance naming the wave and the evidence).
    pub rule: Rule,
    /// Replay against the capture.
    pub counts: ReplayCounts,
    /// Why these conditions and this action, in words.
    pub explanation: String,
}

/// Why drafting or replay failed.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    /// The capture could not be read again.
    #[error(transparent)]
    Capture(#[from] CaptureError),
}

/// Drafts one rule per wave (waves nothing separates get none), replays them all against the
/// capture in one pass and returns them in wave order with ids `R1`, `R2`... .
///
/// # Errors
/// The capture cannot be read again.
pub fn draft_for(a: &Analysis, capture: &Path) -> Result<Vec<Draft>, DraftError> {
    let packets = a
        .packets
        .as_ref()
        .map_or(Packets::Capture, Packets::Borrowed);
    draft_from(a, capture, packets)
}

/// [`draft_for`], moving the analysis's kept packets ([`crate::engine::Options::keep_packets`])
/// into the drafting samples instead of copying them: the analysis keeps none afterwards.
///
/// # Errors
/// The capture cannot be read again (when the analysis kept no packets).
pub fn draft_for_taking(a: &mut Analysis, capture: &Path) -> Result<Vec<Draft>, DraftError> {
    let packets = a.packets.take().map_or(Packets::Capture, Packets::Taken);
    draft_from(a, capture, packets)
}

/// [`draft_for_taking`] with other work on the same analysis beside it: `beside` runs on the
/// pool while the waves are drafted (`report` builds its report so, 25 ms of one core on the
/// bench capture that used to wait for drafting to start) and its result comes back with the
/// drafts.
///
/// # Errors
/// The capture cannot be read again (when the analysis kept no packets).
pub fn draft_taking_beside<R: Send>(
    a: &mut Analysis,
    capture: &Path,
    beside: impl FnOnce(&Analysis) -> R + Send,
) -> (Result<Vec<Draft>, DraftError>, R) {
    let packets = a.packets.take().map_or(Packets::Capture, Packets::Taken);
    let a = &*a;
    rayon::join(|| draft_from(a, capture, packets), || beside(a))
}

fn draft_from(
    a: &Analysis,
    capture: &Path,
    packets: Packets<'_>,
) -> Result<Vec<Draft>, DraftError> {
    let plan = Plan::new(a);
    // Kept packets that are not this analysis's (another count) are not used.
    let packets = match packets {
        Packets::Borrowed(k) if k.len() != plan.total_packets => Packets::Capture,
        Packets::Taken(k) if k.len() != plan.total_packets => Packets::Capture,
        p => p,
    };
    // The clients' own endpoints come from the session table alone: found while the samples
    // are collected (a serial pass over every packet), not after (25-30 ms of one core each
    // on the bench capture).
    let (c, own_endpoints) = rayon::join(
        || collect(capture, &plan, packets),
        || OwnEndpoints::from_sessions(a.agg.sessions.iter()),
    );
    let mut c = c?;
    let samples = c.samples();
    // What every wave is drafted against, built once, side by side (each reads the
    // baseline sample only).
    let (mut probe, (base_columns, base_texts)) = rayon::join(
        || Probe::new(&samples.base),
        || {
            (
                BaseColumns::new(&samples.base),
                super::text::BaseTexts::new(&samples.base),
            )
        },
    );
    let ctx = WaveContext {
        plan: &plan,
        c: &c,
        samples: &samples,
        base_columns: &base_columns,
        base_texts: &base_texts,
        own_endpoints: &own_endpoints,
    };
    let per_wave = wave::draft_all(&ctx, &a.findings.waves, &mut probe);
    let mut drafts: Vec<Draft> = per_wave.into_iter().flatten().collect();
    for (n, d) in drafts.iter_mut().enumerate() {
        d.rule.id = RuleId(u32::try_from(n + 1).unwrap_or(u32::MAX));
    }
    let rules: Vec<Rule> = drafts.iter().map(|d| d.rule.clone()).collect();
    for (d, counts) in drafts.iter_mut().zip(replay_drafts(
        capture,
        &rules,
        &plan,
        c.kept.as_ref(),
        c.headers.as_deref(),
        c.texts.as_deref_mut(),
    )?) {
        d.counts = counts;
    }
    for d in &mut drafts {
        d.rule.provenance.history.push(Change {
            who: Who::Holoscope,
            what: format!("drafted: {}; replay: {}", d.explanation, figures(&d.counts)),
        });
    }
    free_aside(c);
    Ok(drafts)
}

/// Frees the drafting pass's packets on a thread of their own: taken from the analysis, they
/// are every packet of the capture, and nothing waits for the memory. (If no thread can
/// start, they are freed here.)
fn free_aside(c: Collected) {
    let dropper = std::thread::Builder::new()
        .name("holo-free".into())
        .spawn(move || drop(c));
    // Spawning failed: the closure, and the packets with it, were dropped already.
    drop(dropper);
}

/// Replay figures in ASCII (history entries end up in every export format's comments).
fn figures(c: &ReplayCounts) -> String {
    let pct = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{:.1}%", v * 100.0));
    format!(
        "coverage {} of the wave's anomalous packets ({} of all its packets), baseline {}, uninvolved hosts {}",
        pct(c.anomalous_coverage()),
        pct(c.coverage()),
        pct(c.baseline_collateral()),
        pct(c.uninvolved_collateral())
    )
}

/// Distinct source addresses of the wave sample, and whether that looks spoofed.
fn spoofed_sources(wave: &[&Packet]) -> (usize, bool) {
    let distinct: FxHashSet<_> = wave.iter().filter_map(|p| p.src_ip).collect();
    let n = distinct.len();
    let spread = n >= SPOOFED_SOURCES || (wave.len() >= 100 && n * 10 >= wave.len() * 3);
    (n, spread)
}
