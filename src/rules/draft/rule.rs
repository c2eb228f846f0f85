//! A drafted rule from the chosen conditions: its action (drop, or a rate limit derived from
//! the baseline when the sources look spoofed) and the explanation that goes with it.

use super::{MAX_DROP_COLLATERAL, MIN_RATE_PPS, spoofed_sources};
use crate::decode::{Field, Packet};
use crate::rules::model::{
    Action, DEFAULT_PRIORITY, Op, Provenance, Rule, RuleDef, RuleId, Status,
};
use crate::rules::select::{Choice, Sample};
use rustc_hash::FxHashMap;

/// The rule of `choice` for `wave`. `known_rate` is its conditions' rate limit when already
/// found (a recurring wave's family rule: the rate depends on the conditions and the baseline
/// sample alone).
pub(super) fn build_rule(
    id: RuleId,
    wave: &str,
    choice: &Choice,
    s: &Sample<'_>,
    known_rate: Option<u32>,
) -> Rule {
    let conditions: Vec<_> = choice.conditions.iter().map(|c| c.cond.clone()).collect();
    let mut rule = Rule::new(
        id,
        RuleDef {
            action: Action::Drop,
            conditions,
            priority: DEFAULT_PRIORITY,
        },
    );
    let (_, spread) = spoofed_sources(s.wave);
    // A source address, or a fixed source port (a reflector's service), tells the attack
    // apart; a source MAC (the upstream router) or a port range does not.
    let source_named = rule.def.conditions.iter().any(|c| {
        c.field == Field::SrcIp
            || (c.field == Field::SrcPort && matches!(c.op, Op::Eq(_) | Op::In(_)))
    });
    if spread && !source_named {
        rule.def.action = Action::RateLimit(known_rate.unwrap_or_else(|| baseline_rate(&rule, s)));
    } else if choice.collateral > MAX_DROP_COLLATERAL {
        rule.def.action = Action::Alert;
    }
    rule.provenance = Provenance {
        wave: Some(wave.to_string()),
        evidence: Vec::new(),
        status: Status::Draft,
        history: Vec::new(),
    };
    rule
}

/// Twice the 99th percentile of the per-second rate of baseline traffic the rule matches,
/// at least [`MIN_RATE_PPS`].
fn baseline_rate(rule: &Rule, s: &Sample<'_>) -> u32 {
    let mut per_sec: FxHashMap<i64, f64> = FxHashMap::default();
    for p in s.base.iter().filter(|p| rule.matches(p)) {
        *per_sec.entry(p.ts.0.div_euclid(1_000_000_000)).or_default() += s.base_stride;
    }
    let mut rates: Vec<f64> = per_sec.into_values().collect();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let seconds = s.base_seconds.ceil().max(1.0) as usize;
    rates.resize(seconds.max(rates.len()), 0.0);
    rates.sort_by(f64::total_cmp);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let q = rates[((rates.len() - 1) as f64 * 0.99).round() as usize];
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let pps = (2.0 * q).ceil().min(f64::from(u32::MAX)) as u32;
    pps.max(MIN_RATE_PPS)
}

pub(super) fn explain(
    rule: &Rule,
    choice: &Choice,
    wave: &[&Packet],
    s: &Sample<'_>,
    subject: &str,
) -> String {
    let conds: Vec<String> = rule
        .def
        .conditions
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut text = format!(
        "{} condition(s) [{}] keep an estimated {:.1}% {subject} and match {:.2}% of baseline packets",
        conds.len(),
        conds.join(" "),
        choice.coverage * 100.0,
        choice.collateral * 100.0
    );
    if rule.def.action == Action::Alert {
        text += &format!(
            "; alert, not drop: it would also hit more than {:.0}% of baseline traffic, so it needs narrowing before it blocks anything",
            MAX_DROP_COLLATERAL * 100.0
        );
    }
    if let Action::RateLimit(pps) = rule.def.action {
        let (n, _) = spoofed_sources(wave);
        text += &format!(
            "; rate limit, not drop: {n} distinct source addresses in {} sampled wave packets look spoofed and no source field separates the attack from legitimate clients of the same traffic, so the limit is {pps} packets/s (twice the 99th percentile per-second rate of matching baseline traffic over {:.0} s, at least {MIN_RATE_PPS})",
            wave.len(),
            s.base_seconds
        );
    }
    text
}

/// Share of the wave's sampled packets a client's own port must carry to be named as left
/// out: a spoofed flood's thousands of one-off ports, each on a packet or two, are not.
const OWN_PORT_NOTE_SHARE: f64 = 0.1;

/// "; left out ..." when the search had to skip a client's own port that carried much of the
/// wave (see `select/ports.rs`), so the analyst knows why the rule does not simply name it.
pub(super) fn own_ports_note(wave: &[&Packet], s: &Sample<'_>) -> Option<String> {
    let own = s.own_ports?;
    let mut counts: FxHashMap<u16, usize> = FxHashMap::default();
    for p in wave {
        // A port on both sides of a packet counts once for it.
        let (a, b) = (p.src_port, p.dst_port);
        for port in [a, b.filter(|b| Some(*b) != a)].into_iter().flatten() {
            if own.contains(u64::from(port)) {
                *counts.entry(port).or_default() += 1;
            }
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let floor = OWN_PORT_NOTE_SHARE * wave.len() as f64;
    #[allow(clippy::cast_precision_loss)]
    let mut named: Vec<u16> = counts
        .into_iter()
        .filter(|(_, n)| *n as f64 >= floor)
        .map(|(p, _)| p)
        .collect();
    if named.is_empty() {
        return None;
    }
    named.sort_unstable();
    Some(if let [one] = named.as_slice() {
        format!(
            "; not keyed on port {one}, a client's own: it names only the connection already seen (the next one gets another port)"
        )
    } else {
        let list: Vec<String> = named.iter().map(ToString::to_string).collect();
        format!(
            "; not keyed on ports {}, clients' own: they name only the connections already seen (the next ones get other ports)",
            list.join(",")
        )
    })
}
