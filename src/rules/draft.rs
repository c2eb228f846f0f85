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
//! Building a draft's rule and explanation is `draft/rule.rs`; replaying drafts and edited
//! rules is `draft/replays.rs`.

mod replays;
mod rule;

use replays::replay_drafts;
pub use replays::{apply, replay_all, replay_capture};
use rule::{build_rule, explain};

use super::collect::{Collected, Packets, Samples, collect};
use super::model::{Change, Rule, RuleId, Who};
use super::probe::{Probe, Score, WaveProbe, evidence};
use super::replay::ReplayCounts;
use super::scan::Plan;
use super::select::{BaseColumns, OwnEndpoints, Sample, choose_with};
use crate::capture::CaptureError;
use crate::decode::{Field, Packet, Value};
use crate::engine::Analysis;
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
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
    // Every wave's difference vector first, in wave order (they intern the waves' leaves
    // into the shared probe); then the waves are drafted in parallel, each with its own view
    // of the probe, so a wave's draft never depends on which other wave ran first.
    let diffs = probe.differences(&samples.waves);
    let per_wave: Vec<Vec<Draft>> = a
        .findings
        .waves
        .par_iter()
        .enumerate()
        .map(|(wi, wave)| {
            let Some(diff) = diffs.get(wi).and_then(Option::as_ref) else {
                return Vec::new();
            };
            let ctx = WaveContext {
                plan: &plan,
                c: &c,
                samples: &samples,
                base_columns: &base_columns,
                base_texts: &base_texts,
                own_endpoints: &own_endpoints,
            };
            draft_wave(&ctx, wi, wave, diff, probe.for_wave())
        })
        .collect();
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

/// What every wave's drafting shares.
struct WaveContext<'a> {
    plan: &'a Plan,
    c: &'a Collected,
    samples: &'a Samples<'a>,
    base_columns: &'a BaseColumns<'a>,
    base_texts: &'a super::text::BaseTexts,
    own_endpoints: &'a OwnEndpoints,
}

/// The drafts of one wave (its rule and companions), numbered later: ids follow wave order.
fn draft_wave(
    ctx: &WaveContext<'_>,
    wi: usize,
    wave: &crate::detect::Wave,
    diff: &[f64],
    mut probe: WaveProbe<'_>,
) -> Vec<Draft> {
    let (plan, c) = (ctx.plan, ctx.c);
    let packets = &ctx.samples.waves[wi];
    // Shift significance per (field, value) the detector found concentrated in the wave.
    let shifts: FxHashMap<(Field, Value), f64> = wave
        .shifts
        .iter()
        .filter_map(|s| Some(((s.field, s.value.clone()?), s.significance)))
        .collect();
    let mut scores: FxHashMap<(Field, Value), Score> = FxHashMap::default();
    let mut prior = |field: Field, v: &Value| -> f64 {
        scores
            .entry((field, v.clone()))
            .or_insert_with(|| Score {
                cosine: probe.cosine(diff, field, v),
                novel: !ctx.base_columns.has(field, v.as_ref()),
                shift: shifts.get(&(field, v.clone())).copied(),
            })
            .prior()
    };
    let own_ports = ctx.own_endpoints.ports_of(packets);
    #[allow(clippy::cast_precision_loss)]
    let both_ways = Sample {
        wave: packets,
        wave_stride: c.wave_strides[wi] as f64,
        base: &ctx.samples.base,
        base_stride: c.base_stride as f64,
        wave_seconds: plan.wave_seconds[wi],
        base_seconds: plan.baseline_seconds,
        shift_mass: plan.wave_shift_mass[wi],
        own_ports: Some(&own_ports),
    };
    // A scoped wave (a new beacon) is one conversation. The rule is chosen on the client's
    // requests and the server's replies get the mirror companion, as a bucket wave's do:
    // chosen on both directions at once, a few check-ins let a one-of set of the client's
    // ephemeral ports cover the replies, a rule that stops only the check-ins already seen.
    let requests: Vec<&Packet>;
    let sample = match wave.scope {
        Some(scope) => {
            requests = packets
                .iter()
                .filter(|p| p.src_ip == Some(scope.client))
                .copied()
                .collect();
            Sample {
                wave: &requests,
                ..both_ways
            }
        }
        None => Sample { ..both_ways },
    };
    let packets = sample.wave;
    let subject = if wave.scope.is_some() {
        "of the client's requests in the wave's conversation"
    } else {
        "of the wave's excess packets"
    };
    let prior_cell = std::cell::RefCell::new(&mut prior);
    let choice = choose_with(&sample, Some(ctx.base_columns), &|f, v| {
        (prior_cell.borrow_mut())(f, v)
    });
    if choice.conditions.is_empty() {
        return Vec::new();
    }
    // Placeholder id: the caller numbers all drafts in wave order.
    let id = RuleId(0);
    let mut rule = build_rule(id, &plan.wave_ids[wi], &choice, &sample);
    rule.provenance.evidence = evidence(&choice.conditions, &scores);
    let reply = super::mirror::mirror(&choice, &both_ways);
    let mut out = vec![Draft {
        explanation: explain(&rule, &choice, packets, &sample, subject)
            + &rule::own_ports_note(packets, &sample).unwrap_or_default(),
        rule,
        counts: ReplayCounts::default(),
    }];
    let companions = [
        (reply, "replies of the conversation the rule above stops"),
        (
            super::text::text_rule(&sample, ctx.base_texts),
            "the text the wave's packets share, for formats that match content (Suricata, Wireshark; firewalls and capture filters refuse it)",
        ),
    ];
    for (n, (c, why)) in companions.into_iter().enumerate() {
        let Some(c) = c else { continue };
        let rule = build_rule(id, &plan.wave_ids[wi], &c, &sample);
        // The reply companion is judged on both directions; the text one on what the main
        // rule was chosen on.
        let subject = if n == 0 {
            "of the wave's excess packets"
        } else {
            subject
        };
        out.push(Draft {
            explanation: format!("{why}: {}", explain(&rule, &c, packets, &sample, subject)),
            rule,
            counts: ReplayCounts::default(),
        });
    }
    out
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
