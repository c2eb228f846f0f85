//! Attack waves: the bucket score stream segmented with hysteresis, and each wave explained by
//! its shifts and the entities that carry them.
//!
//! A wave opens after a streak of anomalous buckets (or on one very strong bucket) and starts
//! at the streak's first bucket; it closes once no bucket reached the exit level for a drain
//! period, ending at its last hot bucket. Gaps shorter than the drain therefore merge, and the
//! same attack coming back after a quiet period is a new wave.

use super::baseline::Baseline;
use super::shift::{Shift, ShiftKind, WindowCounts};
use crate::decode::{Field, Value};
use crate::timeline::Interner;
use rustc_hash::FxHashMap;
use serde::Serialize;

/// Hysteresis settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hysteresis {
    /// Score at which a bucket counts as anomalous.
    pub enter: f64,
    /// Score at which one bucket opens a wave by itself.
    pub strong: f64,
    /// Score under which a bucket counts as quiet inside a wave.
    pub exit: f64,
    /// Consecutive anomalous buckets that open a wave.
    pub streak: usize,
    /// Quiet time (ns) after the last hot bucket that closes a wave.
    pub drain_ns: i64,
}

/// A wave as bucket positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First bucket position.
    pub first: usize,
    /// Last hot bucket position (inclusive).
    pub last: usize,
}

/// The segmenter's state, fed one bucket at a time (so it also runs on live input).
#[derive(Clone, Debug, Default)]
pub struct Segmenter {
    streak_start: Option<(usize, i64)>,
    streak_len: usize,
    prev: Option<(usize, i64)>,
    open: Option<(usize, usize, i64)>,
}

impl Segmenter {
    /// Feeds bucket `pos` starting at `start_ns` (width `width_ns`) with `score`. Returns a
    /// wave that closed before this bucket, if any. `in_wave()` tells whether `pos` belongs
    /// to an open wave or a streak afterwards.
    pub fn push(
        &mut self,
        h: &Hysteresis,
        pos: usize,
        start_ns: i64,
        width_ns: i64,
        score: f64,
    ) -> Option<Span> {
        let mut closed = None;
        if let Some((first, last, last_end)) = self.open
            && start_ns - last_end >= h.drain_ns
        {
            closed = Some(Span { first, last });
            self.open = None;
        }
        let end_ns = start_ns.saturating_add(width_ns);
        if let Some((first, last, last_end)) = &mut self.open {
            let _ = first;
            if score >= h.exit {
                *last = pos;
                *last_end = end_ns;
            }
        } else {
            let adjacent = self.prev.is_some_and(|(_, e)| e == start_ns);
            if score >= h.enter {
                if self.streak_start.is_none() || !adjacent {
                    self.streak_start = Some((pos, start_ns));
                    self.streak_len = 0;
                }
                self.streak_len += 1;
                if score >= h.strong || self.streak_len >= h.streak {
                    let first = self.streak_start.map_or(pos, |s| s.0);
                    self.open = Some((first, pos, end_ns));
                    self.streak_start = None;
                    self.streak_len = 0;
                }
            } else {
                self.streak_start = None;
                self.streak_len = 0;
            }
        }
        self.prev = Some((pos, end_ns));
        closed
    }

    /// True while a wave is open or a streak is pending (such buckets must not teach the
    /// baseline).
    #[must_use]
    pub fn busy(&self) -> bool {
        self.open.is_some() || self.streak_start.is_some()
    }

    /// True while a wave is open (not merely a streak pending).
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Closes whatever is open at the end of input.
    pub fn finish(&mut self) -> Option<Span> {
        self.open
            .take()
            .map(|(first, last, _)| Span { first, last })
    }
}

/// Role of an entity in a wave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sends the wave's excess traffic.
    Source,
    /// Receives it.
    Target,
}

/// An entity driving a wave.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WaveEntity {
    /// Address, or `spread (N sources)` for thousands of forged/random sources.
    pub entity: String,
    /// Source or target.
    pub role: Role,
    /// Packets of the wave it sent or received.
    pub packets: u64,
    /// Share of the wave's excess traffic it accounts for.
    pub score: f64,
}

/// Least share of a wave's excess for an entity to be listed.
const MIN_ENTITY_SHARE: f64 = 0.02;
/// Distinct unseen sources above which sources are summarised as spread.
const SPREAD_SOURCES: u64 = 256;

/// The entities that carry a wave's excess traffic, most first (at most `top`). A value's
/// expected count is its baseline share of the wave's packets times `volume`, the part of
/// them the baseline's rate accounts for (1 when the wave is no busier than the baseline).
#[must_use]
pub fn entities(
    w: &WindowCounts,
    base: &Baseline,
    interner: &Interner,
    shifts: &[Shift],
    volume: f64,
    top: usize,
) -> Vec<WaveEntity> {
    let fields = |src, dst| by_fields(w, base, interner, shifts, volume, src, dst);
    let mut out = fields(Field::SrcIp, Field::DstIp);
    if out.is_empty() {
        out = fields(Field::SrcMac, Field::DstMac);
    }
    out.truncate(top);
    out
}

fn by_fields(
    w: &WindowCounts,
    base: &Baseline,
    interner: &Interner,
    shifts: &[Shift],
    volume: f64,
    src: Field,
    dst: Field,
) -> Vec<WaveEntity> {
    let (n, distinct) = w.totals();
    // (excess out, excess in, packets out, packets in)
    let mut acc: FxHashMap<Value, (f64, f64, u64, u64)> = FxHashMap::default();
    let mut novel_src = 0u64;
    let mut novel_src_distinct = 0u64;
    for (k, c) in &w.counts {
        let f = k.field();
        if f != src && f != dst {
            continue;
        }
        let fi = f as usize;
        let bt = base.field_total(fi);
        let share = if bt > 0.0 { base.count(*k) / bt } else { 0.0 };
        #[allow(clippy::cast_precision_loss)]
        let ex = *c as f64 - share * n[fi] as f64 * volume;
        if f == src && base.is_novel(*k) {
            novel_src += c;
            novel_src_distinct += 1;
        }
        let e = acc.entry(interner.value(*k)).or_default();
        if f == src {
            e.0 += ex;
            e.2 += c;
        } else {
            e.1 += ex;
            e.3 += c;
        }
    }
    let spread = shifts
        .iter()
        .any(|s| s.field == src && s.kind == ShiftKind::Spread)
        || novel_src_distinct + w.other[src as usize] >= SPREAD_SOURCES;
    let spread = spread && distinct[src as usize] >= SPREAD_SOURCES / 4;
    let mut rows: Vec<(String, Role, u64, f64)> = Vec::new();
    let mut total = 0.0;
    for (v, (eo, ei, po, pi)) in &acc {
        let (eo, ei) = (eo.max(0.0), ei.max(0.0));
        if spread && *po <= 2 && *pi <= 2 {
            continue; // one of the forged sources: summarised below
        }
        total += eo + ei;
        let (role, packets) = if eo >= ei {
            (Role::Source, *po)
        } else {
            (Role::Target, *pi)
        };
        rows.push((v.display(src), role, packets, eo + ei));
    }
    if spread {
        let packets = novel_src + w.other[src as usize];
        #[allow(clippy::cast_precision_loss)]
        let ex = packets as f64;
        total += ex;
        rows.push((
            format!(
                "spread ({} sources)",
                novel_src_distinct + w.other[src as usize]
            ),
            Role::Source,
            packets,
            ex,
        ));
    }
    if total <= 0.0 {
        return Vec::new();
    }
    rows.sort_by(|a, b| b.3.total_cmp(&a.3).then(a.0.cmp(&b.0)));
    rows.into_iter()
        .map(|(entity, role, packets, ex)| WaveEntity {
            entity,
            role,
            packets,
            score: ex / total,
        })
        .filter(|e| e.score >= MIN_ENTITY_SHARE)
        .collect()
}

/// The one-line summary: the leading shifts, then the leading source and target.
#[must_use]
pub fn summary(shifts: &[Shift], ents: &[WaveEntity]) -> String {
    let mut parts: Vec<String> = shifts.iter().take(3).map(Shift::phrase).collect();
    if let Some(s) = ents.iter().find(|e| e.role == Role::Source) {
        parts.push(format!("source {}", s.entity));
    }
    if let Some(t) = ents.iter().find(|e| e.role == Role::Target) {
        parts.push(format!("target {}", t.entity));
    }
    if parts.is_empty() {
        "traffic rate changed".into()
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn run(h: &Hysteresis, scores: &[f64]) -> Vec<Span> {
        let mut seg = Segmenter::default();
        let mut out = Vec::new();
        for (i, s) in scores.iter().enumerate() {
            let t = i64::try_from(i).unwrap() * S;
            out.extend(seg.push(h, i, t, S, *s));
        }
        out.extend(seg.finish());
        out
    }

    fn h() -> Hysteresis {
        Hysteresis {
            enter: 3.0,
            strong: 8.0,
            exit: 2.0,
            streak: 2,
            drain_ns: 3 * S,
        }
    }

    #[test]
    fn streak_opens_drain_closes_and_return_is_a_new_wave() {
        let q = 0.5;
        let s = [
            q, q, 4.0, 4.0, 2.5, q, 4.0, q, q, q, q, q, q, 5.0, 5.0, q, q, q, q,
        ];
        let w = run(&h(), &s);
        // The dip to q at 5 is shorter than the drain: one wave 2..=6, then a new one 13..=14.
        assert_eq!(
            w,
            vec![
                Span { first: 2, last: 6 },
                Span {
                    first: 13,
                    last: 14
                }
            ]
        );
    }

    #[test]
    fn one_strong_bucket_is_a_wave_and_lone_blips_are_not() {
        let w = run(&h(), &[0.1, 9.0, 0.1, 0.1, 0.1, 0.1, 3.5, 0.1, 3.5, 0.1]);
        assert_eq!(w, vec![Span { first: 1, last: 1 }]);
    }

    #[test]
    fn streak_needs_adjacent_buckets() {
        let mut seg = Segmenter::default();
        let h = h();
        assert!(seg.push(&h, 0, 0, S, 4.0).is_none());
        // Next bucket 10 s later (sparse timeline): not a streak.
        assert!(seg.push(&h, 1, 10 * S, S, 4.0).is_none());
        assert!(seg.finish().is_none());
    }
}
