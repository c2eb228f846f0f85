//! Recurring waves: a wave shaped like an earlier one (the same fields moving the same way,
//! driven by an entity they share) is the same attack coming back. Each stays a wave of its
//! own (waves end after a drain, so a return after a quiet period is new); this only links it
//! to the first wave of its kind, so an analyst facing 64 waves sees four attacks recurring
//! instead of 64 unrelated findings.
//!
//! The comparison uses what the report already shows, never attack knowledge: the set of
//! (field, kind) of the wave's shifts (values left out: a scanner's or a RAT's new ephemeral
//! port each time is the same shift), and its entities by role, with spread sources counted as
//! one ("spread", whatever their number).

use super::Wave;
use super::waves::{Role, WaveEntity};
use crate::decode::Field;
use std::collections::BTreeSet;

/// Least Jaccard similarity of two waves' shift shapes for one to recur as the other.
pub const MIN_SHAPE_SIMILARITY: f64 = 0.5;

type Shape = BTreeSet<(Field, &'static str)>;
type Ents<'a> = BTreeSet<(bool, &'a str)>;

fn shape(w: &Wave) -> Shape {
    w.shifts.iter().map(|s| (s.field, s.kind.name())).collect()
}

fn entity_key(e: &WaveEntity) -> (bool, &str) {
    let name = if e.entity.starts_with("spread") {
        "spread"
    } else {
        e.entity.as_str()
    };
    (e.role == Role::Source, name)
}

fn jaccard<T: Ord>(a: &BTreeSet<T>, b: &BTreeSet<T>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let j = a.intersection(b).count() as f64 / union as f64;
    j
}

/// For each wave (in the given order, which is time order in [`super::Findings`]), the id of
/// the first earlier wave it recurs as, if any: a shift shape at least
/// [`MIN_SHAPE_SIMILARITY`] alike, one entity in common in the same role, and, for waves found
/// in sessions, the same conversation. Links point to the first wave of the kind, never to a
/// wave that itself recurs, so a chain reads "like W1" throughout.
#[must_use]
pub fn recurrences(waves: &[Wave]) -> Vec<Option<u32>> {
    let keys: Vec<(Shape, Ents<'_>)> = waves
        .iter()
        .map(|w| (shape(w), w.entities.iter().map(entity_key).collect()))
        .collect();
    // Only first waves of their kind can be linked to, so each wave is compared with those
    // (a handful of kinds), not with every earlier wave: long live captures have thousands.
    let mut firsts: Vec<usize> = Vec::new();
    let mut out: Vec<Option<u32>> = Vec::with_capacity(waves.len());
    for (i, (w, (si, ei))) in waves.iter().zip(&keys).enumerate() {
        let like = firsts.iter().find_map(|&j| {
            let (first, (sj, ej)) = (waves.get(j)?, keys.get(j)?);
            // Both bucket waves, or both the same conversation's session wave.
            let alike = w.scope == first.scope
                && jaccard(si, sj) >= MIN_SHAPE_SIMILARITY
                && ei.intersection(ej).next().is_some();
            alike.then_some(first.id)
        });
        if like.is_none() {
            firsts.push(i);
        }
        out.push(like);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::detect::shift::{Shift, ShiftKind};
    use crate::time::Timestamp;

    fn wave(id: u32, shifts: &[(Field, ShiftKind)], ents: &[(&str, Role)]) -> Wave {
        Wave {
            id,
            start: Timestamp(i64::from(id)),
            end: Timestamp(i64::from(id) + 1),
            score: 1.0,
            summary: String::new(),
            shifts: shifts
                .iter()
                .map(|(field, kind)| Shift {
                    field: *field,
                    value: None,
                    kind: *kind,
                    baseline_share: 0.0,
                    recent_share: 1.0,
                    novel: true,
                    significance: 10.0,
                    distinct: 1,
                    packets: 1,
                })
                .collect(),
            entities: ents
                .iter()
                .map(|(e, role)| WaveEntity {
                    entity: (*e).into(),
                    role: *role,
                    packets: 1,
                    score: 0.5,
                })
                .collect(),
            violations: Vec::new(),
            residual_profile: Vec::new(),
            residual_flagged: Vec::new(),
            residual_fields: Vec::new(),
            buckets: 0..1,
            packets: 1,
            scope: None,
            like: None,
        }
    }

    #[test]
    fn the_same_attack_coming_back_links_to_its_first_wave() {
        use Field::{DnsQname, DstPort, SrcPort, TcpFlags};
        use ShiftKind::{Concentrated, Spread, Vanished};
        let scan = [
            (DstPort, Spread),
            (SrcPort, Spread),
            (TcpFlags, Concentrated),
        ];
        let waves = vec![
            wave(
                1,
                &scan,
                &[("10.0.0.66", Role::Source), ("10.0.0.10", Role::Target)],
            ),
            // A flood from forged sources: another shape.
            wave(
                2,
                &[(DstPort, Concentrated), (TcpFlags, Concentrated)],
                &[
                    ("spread (6001 sources)", Role::Source),
                    ("10.0.0.11", Role::Target),
                ],
            ),
            // The scan again, one shift fewer, another target: recurs as W1.
            wave(
                3,
                &scan[..2],
                &[("10.0.0.66", Role::Source), ("10.0.0.12", Role::Target)],
            ),
            // The flood again with another number of forged sources: recurs as W2.
            wave(
                4,
                &[
                    (DstPort, Concentrated),
                    (TcpFlags, Concentrated),
                    (SrcPort, Vanished),
                ],
                &[
                    ("spread (5870 sources)", Role::Source),
                    ("10.0.0.11", Role::Target),
                ],
            ),
            // The scan's shape from a host no earlier wave named: new.
            wave(5, &scan, &[("10.0.0.99", Role::Source)]),
            // A shape alike in part only (1 of 4 pairs): new, though the scanner drives it.
            wave(
                6,
                &[
                    (DstPort, Spread),
                    (DnsQname, Spread),
                    (TcpFlags, Vanished),
                    (SrcPort, Vanished),
                ],
                &[("10.0.0.66", Role::Source)],
            ),
            // The scanner named as a target is not the scanner's role: new.
            wave(7, &scan, &[("10.0.0.66", Role::Target)]),
            // Like W5, which is first of its kind.
            wave(8, &scan, &[("10.0.0.99", Role::Source)]),
        ];
        assert_eq!(
            recurrences(&waves),
            vec![None, None, Some(1), Some(2), None, None, None, Some(5)]
        );
    }
}
