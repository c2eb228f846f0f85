//! Drafting the waves: each wave's sample, the greedy search over the evidence its difference
//! vector gives, and the companion rules (the replies, the text the wave shares).
//!
//! Waves that start a family (no [`Wave::like`]) are drafted first. A recurring wave then
//! tries the rule of the wave it recurs ([`super::again`]), and only the recurring waves that
//! rule does not fit are drafted afresh, the same way, after them.

use super::Draft;
use super::again;
use super::rule::{build_rule, explain, own_ports_note};
use crate::decode::{Field, Packet, Value};
use crate::detect::Wave;
use crate::rules::collect::{Collected, Samples};
use crate::rules::model::{Evidence, RuleId};
use crate::rules::probe::{Probe, Score, WaveProbe, evidence};
use crate::rules::replay::ReplayCounts;
use crate::rules::scan::Plan;
use crate::rules::select::{BaseColumns, Choice, OwnEndpoints, Sample, choose_with};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// What every wave's drafting shares.
pub(super) struct WaveContext<'a> {
    pub(super) plan: &'a Plan,
    pub(super) c: &'a Collected,
    pub(super) samples: &'a Samples<'a>,
    pub(super) base_columns: &'a BaseColumns<'a>,
    pub(super) base_texts: &'a crate::rules::text::BaseTexts,
    pub(super) own_endpoints: &'a OwnEndpoints,
}

/// One wave's drafts (its rule, then companions) and the choice behind its rule.
pub(super) struct WaveDrafts {
    pub(super) drafts: Vec<Draft>,
    /// Conditions and figures on the wave's sample (no conditions: no draft).
    pub(super) choice: Choice,
}

/// Every wave's drafts, by wave index, numbered later (ids follow wave order).
pub(super) fn draft_all(
    ctx: &WaveContext<'_>,
    waves: &[Wave],
    probe: &mut Probe,
) -> Vec<Vec<Draft>> {
    let firsts: Vec<bool> = waves.iter().map(|w| w.like.is_none()).collect();
    let done = draft_some(ctx, waves, probe, &firsts);
    // The first waves that others recur, with their rules' baseline matches.
    let like = |w: &Wave| {
        let id = w.like?;
        waves.iter().position(|x| x.id == id)
    };
    let recurred: rustc_hash::FxHashSet<usize> = waves.iter().filter_map(like).collect();
    let families: Vec<Option<again::Family<'_>>> = done
        .par_iter()
        .enumerate()
        .map(|(wi, d)| {
            let d = d.as_ref().filter(|_| recurred.contains(&wi))?;
            again::Family::new(d, &ctx.samples.base)
        })
        .collect();
    let again: Vec<Option<Vec<Draft>>> = waves
        .par_iter()
        .enumerate()
        .map(|(wi, w)| again::reuse(ctx, wi, w, families.get(like(w)?)?.as_ref()?))
        .collect();
    let rest: Vec<bool> = firsts
        .iter()
        .zip(&again)
        .map(|(first, again)| !first && again.is_none())
        .collect();
    let fresh = draft_some(ctx, waves, probe, &rest);
    done.into_iter()
        .zip(again)
        .zip(fresh)
        .map(|((done, again), fresh)| {
            done.or(fresh)
                .map(|d| d.drafts)
                .or(again)
                .unwrap_or_default()
        })
        .collect()
}

/// Drafts the waves `pick` selects: their difference vectors first, in wave order (they
/// intern the waves' leaves into the shared probe), then the waves in parallel, each with
/// its own view of the probe, so a wave's draft never depends on which other wave ran first.
fn draft_some(
    ctx: &WaveContext<'_>,
    waves: &[Wave],
    probe: &mut Probe,
    pick: &[bool],
) -> Vec<Option<WaveDrafts>> {
    if !pick.contains(&true) {
        return waves.iter().map(|_| None).collect();
    }
    let none: &[&Packet] = &[];
    let picked: Vec<&[&Packet]> = ctx
        .samples
        .waves
        .iter()
        .zip(pick)
        .map(|(w, &p)| if p { w.as_slice() } else { none })
        .collect();
    let diffs = probe.differences(&picked);
    let probe = &*probe;
    waves
        .par_iter()
        .enumerate()
        .map(|(wi, wave)| {
            let diff = diffs.get(wi)?.as_ref()?;
            Some(draft_wave(ctx, wi, wave, diff, probe.for_wave()))
        })
        .collect()
}

/// The drafts of one wave, chosen by the greedy search.
fn draft_wave(
    ctx: &WaveContext<'_>,
    wi: usize,
    wave: &Wave,
    diff: &[f64],
    mut probe: WaveProbe<'_>,
) -> WaveDrafts {
    // Shift significance per (field, value) the detector found concentrated in the wave.
    let shifts: FxHashMap<(Field, Value), f64> = wave
        .shifts
        .iter()
        .filter_map(|s| Some(((s.field, s.value.clone()?), s.significance)))
        .collect();
    let mut scores: FxHashMap<(Field, Value), Score> = FxHashMap::default();
    with_sample(ctx, wi, wave, |sample, both_ways, subject| {
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
        let prior_cell = std::cell::RefCell::new(&mut prior);
        let choice = choose_with(sample, Some(ctx.base_columns), &|f, v| {
            (prior_cell.borrow_mut())(f, v)
        });
        if choice.conditions.is_empty() {
            return WaveDrafts {
                drafts: Vec::new(),
                choice,
            };
        }
        let evidence = evidence(&choice.conditions, &scores);
        let drafts = finish(
            ctx,
            wi,
            (sample, both_ways, subject),
            &choice,
            (evidence, None),
            "",
        );
        WaveDrafts { drafts, choice }
    })
}

/// Calls `f` with the sample wave `wi`'s rule is chosen on (for a scoped wave, a new beacon,
/// its client's requests), the sample of both directions, and what coverage is a share of.
pub(super) fn with_sample<R>(
    ctx: &WaveContext<'_>,
    wi: usize,
    wave: &Wave,
    f: impl FnOnce(&Sample<'_>, &Sample<'_>, &'static str) -> R,
) -> R {
    let (plan, c) = (ctx.plan, ctx.c);
    let packets: &[&Packet] = ctx.samples.waves.get(wi).map_or(&[], Vec::as_slice);
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
    // A scoped wave is one conversation. The rule is chosen on the client's requests and the
    // server's replies get the mirror companion, as a bucket wave's do: chosen on both
    // directions at once, a few check-ins let a one-of set of the client's ephemeral ports
    // cover the replies, a rule that stops only the check-ins already seen.
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
    let subject = if wave.scope.is_some() {
        "of the client's requests in the wave's conversation"
    } else {
        "of the wave's excess packets"
    };
    f(&sample, &both_ways, subject)
}

/// The drafts from a wave's chosen conditions: its rule (explained after `lead`, with the
/// evidence behind its conditions and their rate limit if known), then the companions for
/// the replies and for the text the wave's packets share, where they add.
pub(super) fn finish(
    ctx: &WaveContext<'_>,
    wi: usize,
    (sample, both_ways, subject): (&Sample<'_>, &Sample<'_>, &str),
    choice: &Choice,
    (evidence, rate): (Vec<Evidence>, Option<u32>),
    lead: &str,
) -> Vec<Draft> {
    let wave_id = &ctx.plan.wave_ids[wi];
    let packets = sample.wave;
    // Placeholder id: the caller numbers all drafts in wave order.
    let id = RuleId(0);
    let mut rule = build_rule(id, wave_id, choice, sample, rate);
    rule.provenance.evidence = evidence;
    let reply = crate::rules::mirror::mirror(choice, both_ways);
    let mut out = vec![Draft {
        explanation: format!(
            "{lead}{}{}",
            explain(&rule, choice, packets, sample, subject),
            own_ports_note(packets, sample).unwrap_or_default()
        ),
        rule,
        counts: ReplayCounts::default(),
    }];
    let companions = [
        (reply, "replies of the conversation the rule above stops"),
        (
            crate::rules::text::text_rule(sample, ctx.base_texts),
            "the text the wave's packets share, for formats that match content (Suricata, Wireshark; firewalls and capture filters refuse it)",
        ),
    ];
    for (n, (c, why)) in companions.into_iter().enumerate() {
        let Some(c) = c else { continue };
        let rule = build_rule(id, wave_id, &c, sample, None);
        // The reply companion is judged on both directions; the text one on what the main
        // rule was chosen on.
        let subject = if n == 0 {
            "of the wave's excess packets"
        } else {
            subject
        };
        out.push(Draft {
            explanation: format!("{why}: {}", explain(&rule, &c, packets, sample, subject)),
            rule,
            counts: ReplayCounts::default(),
        });
    }
    out
}
