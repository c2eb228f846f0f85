//! Replaying drafts and edited rules: over the packets the analysis kept, from the header
//! records the drafting pass kept, or against the capture, with each wave's expected
//! background added.

use super::{DraftError, REPLAY_CHUNK};
use crate::decode::Packet;
use crate::engine::Analysis;
use crate::engine::kept::KeptPackets;
use crate::rules::headers::{Headers, TextParts};
use crate::rules::model::Rule;
use crate::rules::replay::{Label, ReplayCounts, Replayer};
use crate::rules::scan::{Class, Plan, scan};
use rayon::prelude::*;
use std::path::Path;

/// Replays the drafts over the analysis's kept packets; without them, from the fields the
/// drafting pass kept (and the text parts, which the replay borrows and gives back), or
/// against the capture when it kept none or a rule reads other fields.
pub(super) fn replay_drafts(
    capture: &Path,
    rules: &[Rule],
    plan: &Plan,
    kept: Option<&KeptPackets>,
    headers: Option<&[Headers]>,
    texts: Option<&mut [TextParts]>,
) -> Result<Vec<ReplayCounts>, DraftError> {
    if let Some(k) = kept {
        return Ok(replay_kept(rules, plan, k));
    }
    let covered = crate::rules::headers::covers(rules, texts.is_some());
    let Some(headers) = headers.filter(|_| covered) else {
        return replay_rules(capture, rules, plan);
    };
    // Every packet of the capture (each against the few rules its values can match): parts
    // of the capture replay side by side and their counts add up. The text parts are in
    // file order, so each part of the records owns the next run of them.
    let mut parts = Vec::new();
    let mut rest = texts.unwrap_or_default();
    for part in headers.chunks(REPLAY_CHUNK) {
        let n = part.iter().filter(|h| h.has_text()).count();
        let (mine, tail) = rest.split_at_mut(n.min(rest.len()));
        rest = tail;
        parts.push((part, mine));
    }
    Ok(side_by_side(rules, plan, parts, |(part, mine), r| {
        let mut p = Packet::default();
        let mut mine = mine.iter_mut();
        for h in part {
            h.fill(&mut p);
            // Without kept parts (none were, and no rule reads them) the packet has none.
            let t = if h.has_text() { mine.next() } else { None };
            match t {
                Some(t) => {
                    t.swap(&mut p);
                    r.add(&p, label(plan, h.class()));
                    t.swap(&mut p);
                }
                None => r.add(&p, label(plan, h.class())),
            }
        }
    }))
}

/// Replays the parts side by side, each into its own [`Replayer`], and adds their counts up
/// (with each wave's expected background).
fn side_by_side<P: Send>(
    rules: &[Rule],
    plan: &Plan,
    parts: Vec<P>,
    replay: impl Fn(P, &mut Replayer<'_>) + Sync,
) -> Vec<ReplayCounts> {
    let r = parts
        .into_par_iter()
        .map(|part| {
            let mut r = Replayer::new(rules, &plan.wave_hosts);
            replay(part, &mut r);
            r
        })
        .reduce_with(|mut a, b| {
            a.merge(b);
            a
        })
        .unwrap_or_else(|| Replayer::new(rules, &plan.wave_hosts));
    with_background(r.finish(), rules, plan)
}

/// Replays rules over kept packets: runs of batches of about [`REPLAY_CHUNK`] packets side by
/// side, their counts added up. Every field is there, so any rule replays exactly.
fn replay_kept(rules: &[Rule], plan: &Plan, kept: &KeptPackets) -> Vec<ReplayCounts> {
    let mut parts: Vec<Vec<&[Packet]>> = Vec::new();
    let mut size = REPLAY_CHUNK;
    for b in kept.batches() {
        match parts.last_mut() {
            Some(part) if size < REPLAY_CHUNK => part.push(b),
            _ => {
                parts.push(vec![b]);
                size = 0;
            }
        }
        size += b.len();
    }
    side_by_side(rules, plan, parts, |part, r| {
        let mut at = 0;
        for p in part.into_iter().flatten() {
            r.add(p, label(plan, plan.class_at(p, &mut at)));
        }
    })
}

pub(super) fn label(plan: &Plan, class: Class) -> Label<'_> {
    match class {
        Class::Wave(i) => plan
            .wave_ids
            .get(i)
            .map_or(Label::Other, |w| Label::Wave(w.as_str())),
        Class::Baseline => Label::Baseline,
        Class::Other => Label::Other,
    }
}

/// Replays many rules in one pass over the capture (labels from `plan`), with the expected
/// background of each rule's wave filled in from the baseline rate.
pub(super) fn replay_rules(
    capture: &Path,
    rules: &[Rule],
    plan: &Plan,
) -> Result<Vec<ReplayCounts>, DraftError> {
    let mut r = Replayer::new(rules, &plan.wave_hosts);
    scan(capture, plan, |p, class| r.add(p, label(plan, class)))?;
    Ok(with_background(r.finish(), rules, plan))
}

/// Fills each rule's expected background from the baseline rate over its wave's span.
pub(super) fn with_background(
    mut out: Vec<ReplayCounts>,
    rules: &[Rule],
    plan: &Plan,
) -> Vec<ReplayCounts> {
    for (c, r) in out.iter_mut().zip(rules) {
        let wave = r
            .provenance
            .wave
            .as_deref()
            .and_then(|w| plan.wave_ids.iter().position(|id| id == w));
        c.set_background(
            wave.map_or(0.0, |i| plan.wave_seconds[i]),
            plan.baseline_seconds,
        );
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        {
            c.wave_shift_mass = wave.map_or(0, |i| plan.wave_shift_mass[i].round() as u64);
        }
    }
    out
}

/// Replays one rule against the capture: coverage of its wave's packets, collateral on the
/// baseline and on hosts that took part in no wave. One streaming pass.
///
/// # Errors
/// The capture cannot be read again.
pub fn replay_capture(
    capture: &Path,
    rule: &Rule,
    a: &Analysis,
) -> Result<ReplayCounts, DraftError> {
    let mut v = replay_all(capture, std::slice::from_ref(rule), a)?;
    Ok(v.pop().unwrap_or_default())
}

/// Replays several rules in one pass (one [`ReplayCounts`] per rule, in order).
///
/// # Errors
/// The capture cannot be read again.
pub fn replay_all(
    capture: &Path,
    rules: &[Rule],
    a: &Analysis,
) -> Result<Vec<ReplayCounts>, DraftError> {
    replay_rules(capture, rules, &Plan::new(a))
}

/// Applies an analyst's edit to a rule and replays the edited rule at once (edits that fail
/// leave the rule unchanged and replay nothing).
///
/// # Errors
/// The edit's own error, or the capture cannot be read again.
pub fn apply<E>(
    rule: &mut Rule,
    edit: impl FnOnce(&mut Rule) -> Result<(), E>,
    capture: &Path,
    a: &Analysis,
) -> Result<Result<ReplayCounts, E>, DraftError> {
    let mut edited = rule.clone();
    if let Err(e) = edit(&mut edited) {
        return Ok(Err(e));
    }
    let counts = replay_capture(capture, &edited, a)?;
    *rule = edited;
    Ok(Ok(counts))
}
