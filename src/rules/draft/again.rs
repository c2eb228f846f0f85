//! A recurring wave's rule: the rule of the wave it recurs ([`Wave::like`]), when that rule
//! still fits it.
//!
//! An attack that comes back is the same attack. Its first occurrence's rule is the one the
//! analyst reviewed, perhaps deployed; a second rule chosen afresh on another sample differs
//! in details the search could take either way (`df=0` or not, `ip_len=468` or not), and
//! then exports cannot write it once nor the rules pane mark it as a repeat. So a recurring
//! wave keeps the conditions of its family's rule when, measured on its own sample:
//! - every condition still earns its place: leaving any one out would not cover more of the
//!   wave's excess packets than the step the greedy search itself allows for keeping
//!   coverage ([`COVERAGE_STEP`]), so no condition cuts the recurrence off (a port or target
//!   that changed); and
//! - the rule covers more of the wave's excess than that step (a rule none of whose
//!   conditions cuts the wave may still miss all of it: a target and a port that both
//!   changed).
//!
//! Coverage is not compared with the first wave's: the excess it is a share of moves with the
//! background of each wave's seconds (the same 6-second tunnel was covered 15% and 6% by the
//! same conditions, drafted afresh, at two points of the bench capture).
//!
//! The family's rule must match at most [`MAX_DROP_COLLATERAL`] of the baseline, as a rule
//! that may drop does: one that matches more only alerts, is the search's best on one
//! sample, and the recurrence's sample may narrow it.
//!
//! Every wave is drafted against the same baseline sample, so the baseline matches of the
//! family's rule, and of it less each condition, are counted once per family, and a rate limit
//! found for the family's rule holds for its recurrences. The action is decided again on this
//! wave's packets (a spoofed flood gets a rate limit), the companions are drafted on them as
//! for any wave, and the evidence is the first wave's: why those conditions were chosen. Any
//! other recurring wave is drafted afresh, as a new wave is. Checking costs one look at the
//! wave's sample instead of its difference vector and the search.

use super::wave::{WaveContext, WaveDrafts, finish, with_sample};
use super::{Draft, MAX_DROP_COLLATERAL};
use crate::decode::{Field, Packet};
use crate::detect::Wave;
use crate::rules::model::{Action, Condition, Op};
use crate::rules::select::{COVERAGE_STEP, Candidate, Choice, Sample};

/// The first wave of a family, its drafts and the baseline matches of its rule.
pub(super) struct Family<'a> {
    first: &'a WaveDrafts,
    /// Baseline sample packets the rule matches.
    base_all: usize,
    /// Per condition, baseline sample packets that fail that condition alone.
    base_without: Vec<usize>,
}

impl<'a> Family<'a> {
    /// The family of `first`, or `None` when it drafted no rule.
    pub(super) fn new(first: &'a WaveDrafts, base: &[&Packet]) -> Option<Self> {
        let conds = &first.choice.conditions;
        // A rule that hits too much of the baseline to drop is the search's best on one
        // sample: another sample may narrow it.
        if conds.is_empty()
            || conds.len() > 32
            || first.drafts.is_empty()
            || first.choice.collateral > MAX_DROP_COLLATERAL
        {
            return None;
        }
        let (base_all, base_without) = tally(conds, base);
        Some(Family {
            first,
            base_all,
            base_without,
        })
    }
}

/// Packets that match every condition, and per condition those that fail it alone.
fn tally(conds: &[Candidate], packets: &[&Packet]) -> (usize, Vec<usize>) {
    let mut all = 0;
    let mut without = vec![0; conds.len()];
    for p in packets {
        let failed = conds
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.cond.matches(p))
            .fold(0u32, |m, (k, _)| m | 1 << k);
        if failed == 0 {
            all += 1;
        } else if failed.is_power_of_two()
            && let Some(n) = without.get_mut(failed.trailing_zeros() as usize)
        {
            *n += 1;
        }
    }
    (all, without)
}

/// The drafts of wave `wi` from its family's rule, or `None` when that rule does not fit it.
pub(super) fn reuse(
    ctx: &WaveContext<'_>,
    wi: usize,
    wave: &Wave,
    family: &Family<'_>,
) -> Option<Vec<Draft>> {
    let first = family.first;
    let lead = first.drafts.first()?;
    let conds = &first.choice.conditions;
    let from = lead
        .rule
        .provenance
        .wave
        .as_deref()
        .unwrap_or("the first wave");
    let rate = match lead.rule.def.action {
        Action::RateLimit(pps) => Some(pps),
        _ => None,
    };
    with_sample(ctx, wi, wave, |sample, both_ways, subject| {
        if conds.iter().any(|c| names_own_port(sample, &c.cond)) {
            return None;
        }
        let e0 = sample.total_excess();
        let share = |w: usize, b: usize| (sample.excess(w, b) / e0).min(1.0);
        let (all, without) = tally(conds, sample.wave);
        let coverage = share(all, family.base_all);
        let cut = without
            .iter()
            .zip(&family.base_without)
            .any(|(w, b)| share(all + w, family.base_all + b) > coverage + COVERAGE_STEP);
        if cut || coverage <= COVERAGE_STEP {
            return None;
        }
        let choice = Choice {
            conditions: conds.clone(),
            coverage,
            collateral: first.choice.collateral,
        };
        let lead_text = format!("the conditions of {from}'s rule, which this wave recurs: ");
        Some(finish(
            ctx,
            wi,
            (sample, both_ways, subject),
            &choice,
            (lead.rule.provenance.evidence.clone(), rate),
            &lead_text,
        ))
    })
}

/// True when `c` names a port value that is a client's own in this wave's sample: it names
/// the connections already seen, not the next ones (see `select/ports.rs`).
fn names_own_port(s: &Sample<'_>, c: &Condition) -> bool {
    if !matches!(c.field, Field::SrcPort | Field::DstPort) {
        return false;
    }
    match &c.op {
        Op::Eq(v) => s.is_own_port(c.field, v.as_ref()),
        Op::In(vs) => vs.iter().any(|v| s.is_own_port(c.field, v.as_ref())),
        _ => false,
    }
}
