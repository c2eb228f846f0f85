//! Concentration shifts of a window of buckets against the baseline, for every field:
//! a value that becomes dominant or rises, a field that spreads over many new values, a value
//! that vanishes. Each carries its baseline and recent share, whether it is new, and a
//! significance computed from the counts.
//!
//! Significance is the signed square root of the G statistic (log-likelihood ratio) of the
//! window's count against the baseline share, a z-like number (3 is unusual, 10 is certain).
//! The baseline share is smoothed by half a count so a never-seen value has a finite share.

use super::baseline::Baseline;
use crate::decode::{Field, Value};
use crate::timeline::{Bucket, FieldKey, Interner, NFIELDS};
use rustc_hash::FxHashMap;
use serde::Serialize;

/// Least significance for a shift to be reported.
pub const MIN_SIGNIFICANCE: f64 = 3.0;
/// Least packets carrying a value for it to count as concentrated or rising.
const MIN_COUNT: u64 = 3;
/// Least distinct values for a field to count as spread.
const MIN_SPREAD_DISTINCT: u64 = 24;

/// What kind of shift.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShiftKind {
    /// A value now carries at least half of the field's packets, well above its baseline share.
    Concentrated,
    /// A value's share rose well above its baseline share without dominating.
    Rising,
    /// The field spread over many values unseen in the baseline.
    Spread,
    /// A value common in the baseline (almost) disappeared while the field is still present.
    Vanished,
}

impl ShiftKind {
    /// Lower-case name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ShiftKind::Concentrated => "concentrated",
            ShiftKind::Rising => "rising",
            ShiftKind::Spread => "spread",
            ShiftKind::Vanished => "vanished",
        }
    }
}

/// One shift.
#[derive(Clone, Debug, PartialEq)]
pub struct Shift {
    /// The field.
    pub field: Field,
    /// The value (`None` for a spread: the field moved to many values).
    pub value: Option<Value>,
    /// Kind.
    pub kind: ShiftKind,
    /// Share in the baseline (for a spread: the usual share of packets with unseen values).
    pub baseline_share: f64,
    /// Share in the window (for a spread: the share of packets with unseen values).
    pub recent_share: f64,
    /// The value was never seen in the baseline.
    pub novel: bool,
    /// Signed z-like significance from the counts.
    pub significance: f64,
    /// Distinct values of the field in the window (a lower bound past the per-bucket cap).
    pub distinct: u64,
    /// Packets of the window carrying the value (for a spread: carrying unseen values).
    pub packets: u64,
}

impl Shift {
    /// Ranking key: how much of the field moved, weighted by (saturating) significance, so a
    /// huge flood does not outrank a clear change by sheer volume.
    #[must_use]
    pub fn weight(&self) -> f64 {
        (self.recent_share - self.baseline_share).abs() * self.significance.abs().min(30.0)
    }

    /// One phrase: `tcp_flags concentrated on S (97%, was 4%)`.
    #[must_use]
    pub fn phrase(&self) -> String {
        let pct = |x: f64| format!("{:.0}%", x * 100.0);
        let val = self
            .value
            .as_ref()
            .map_or_else(String::new, |v| v.display(self.field));
        match self.kind {
            ShiftKind::Concentrated | ShiftKind::Rising => format!(
                "{} {} on {}{} ({}, was {})",
                self.field.name(),
                if self.kind == ShiftKind::Concentrated {
                    "concentrated"
                } else {
                    "rising"
                },
                if self.novel { "new value " } else { "" },
                val,
                pct(self.recent_share),
                pct(self.baseline_share)
            ),
            ShiftKind::Spread => format!(
                "{} spread over {} values ({} unseen, usually {})",
                self.field.name(),
                self.distinct,
                pct(self.recent_share),
                pct(self.baseline_share)
            ),
            ShiftKind::Vanished => format!(
                "{} {} vanished ({}, was {})",
                self.field.name(),
                val,
                pct(self.recent_share),
                pct(self.baseline_share)
            ),
        }
    }
}

/// Signed sqrt of the binomial G statistic of `c` in `n` against share `p`.
#[must_use]
pub fn g_significance(c: f64, n: f64, p: f64) -> f64 {
    if n <= 0.0 {
        return 0.0;
    }
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let r = (c / n).clamp(0.0, 1.0);
    let term = |x: f64, q: f64| if x > 0.0 { x * (x / (n * q)).ln() } else { 0.0 };
    let g = 2.0 * (term(c, p) + term(n - c, 1.0 - p));
    g.max(0.0).sqrt().copysign(r - p)
}

/// Summed counts of a set of buckets, with per-field totals and overflow.
#[derive(Clone, Debug, Default)]
pub struct WindowCounts {
    /// Packets per (field, value).
    pub counts: FxHashMap<FieldKey, u64>,
    /// Untracked packets per field (values beyond the per-bucket cap).
    pub other: Vec<u64>,
    /// Packets in the window.
    pub packets: u64,
}

impl WindowCounts {
    /// Sums buckets.
    #[must_use]
    pub fn of<'a>(buckets: impl IntoIterator<Item = &'a Bucket>) -> Self {
        let mut w = WindowCounts {
            other: vec![0; NFIELDS],
            ..Self::default()
        };
        for b in buckets {
            w.packets += b.packets;
            if w.counts.is_empty() {
                // The first bucket's map copied whole: far cheaper than inserting its keys
                // one by one into a growing map (this runs for every hot bucket).
                w.counts.clone_from(&b.counts);
            } else {
                w.counts.reserve(b.counts.len());
                for (k, c) in &b.counts {
                    *w.counts.entry(*k).or_default() += c;
                }
            }
            for (f, o) in b.other.iter().enumerate() {
                w.other[f] += o;
            }
        }
        w
    }

    /// Per-field totals and tracked distinct counts.
    #[must_use]
    pub fn totals(&self) -> (Vec<u64>, Vec<u64>) {
        let mut n = self.other.clone();
        n.resize(NFIELDS, 0);
        let mut d = vec![0u64; NFIELDS];
        for (k, c) in &self.counts {
            n[k.field() as usize] += c;
            d[k.field() as usize] += 1;
        }
        (n, d)
    }
}

/// Packets the shifts say a window carries beyond the baseline: for the value whose share
/// rose most telling, its packets times the part of its share the baseline does not explain
/// (the largest over the rising shifts; 0 without one).
#[must_use]
pub fn excess_in_values(shifts: &[Shift]) -> f64 {
    shifts
        .iter()
        .filter(|s| s.recent_share > s.baseline_share && s.recent_share > 0.0)
        .map(|s| {
            #[allow(clippy::cast_precision_loss)]
            let n = s.packets as f64;
            n * (1.0 - s.baseline_share / s.recent_share)
        })
        .fold(0.0, f64::max)
}

/// Every significant shift of a window against a baseline, most telling first.
#[must_use]
pub fn shifts(w: &WindowCounts, base: &Baseline, interner: &Interner) -> Vec<Shift> {
    let (n, distinct) = w.totals();
    let mut novel = vec![0u64; NFIELDS];
    let mut out = Vec::new();
    for (k, c) in &w.counts {
        let f = k.field() as usize;
        // One lookup serves both questions (this runs for every key of every hot bucket).
        let bc = base.count(*k);
        let isnew = bc < 1.0;
        if isnew {
            novel[f] += c;
        }
        if *c < MIN_COUNT {
            continue;
        }
        #[allow(clippy::cast_precision_loss)]
        let (cf, nf) = (*c as f64, n[f] as f64);
        let r = cf / nf;
        let b = Baseline::share_of(bc, base.field_total(f));
        let kind = if r >= 0.5 && r >= b + 0.25 {
            ShiftKind::Concentrated
        } else if r >= 0.1 && r >= 2.0 * b + 0.05 {
            ShiftKind::Rising
        } else {
            continue;
        };
        let z = g_significance(cf, nf, b);
        if z < MIN_SIGNIFICANCE {
            continue;
        }
        out.push(Shift {
            field: k.field(),
            value: Some(interner.value(*k)),
            kind,
            baseline_share: if isnew { 0.0 } else { b },
            recent_share: r,
            novel: isnew,
            significance: z,
            distinct: distinct[f],
            packets: *c,
        });
    }
    for (f, field) in Field::ALL.iter().enumerate() {
        if n[f] == 0 || !field.counted() {
            continue;
        }
        #[allow(clippy::cast_precision_loss)]
        let nf = n[f] as f64;
        // Spread: many distinct values, mostly unseen, far more unseen than usual.
        let d = distinct[f] + w.other[f].min(1);
        let nov = novel[f] + w.other[f];
        #[allow(clippy::cast_precision_loss)]
        let rn = nov as f64 / nf;
        let usual = base.novel_rate[f].mean.clamp(0.0, 1.0);
        if d >= MIN_SPREAD_DISTINCT && rn >= usual + 0.3 && rn >= 0.5 {
            #[allow(clippy::cast_precision_loss)]
            let z = g_significance(nov as f64, nf, usual.max(0.5 / (nf + 1.0)));
            if z >= MIN_SIGNIFICANCE {
                out.push(Shift {
                    field: *field,
                    value: None,
                    kind: ShiftKind::Spread,
                    baseline_share: usual,
                    recent_share: rn,
                    novel: true,
                    significance: z,
                    distinct: distinct[f] + w.other[f],
                    packets: nov,
                });
            }
        }
        // Vanished: a common baseline value almost gone while the field is still present.
        if nf >= 20.0 {
            for (k, b) in base.values_over(f, 0.2) {
                let c = w.counts.get(&k).copied().unwrap_or(0);
                #[allow(clippy::cast_precision_loss)]
                let r = c as f64 / nf;
                if r <= b / 5.0 {
                    #[allow(clippy::cast_precision_loss)]
                    let z = g_significance(c as f64, nf, b);
                    if -z >= MIN_SIGNIFICANCE {
                        out.push(Shift {
                            field: *field,
                            value: Some(interner.value(k)),
                            kind: ShiftKind::Vanished,
                            baseline_share: b,
                            recent_share: r,
                            novel: false,
                            significance: -z,
                            distinct: distinct[f],
                            packets: c,
                        });
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| {
        b.weight()
            .total_cmp(&a.weight())
            .then(a.field.cmp(&b.field))
            .then(a.value.cmp(&b.value))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::ValueRef;

    fn bucket(i: &mut Interner, idx: i64, field: Field, vals: &[(u64, u64)]) -> Bucket {
        let mut b = Bucket::new(idx);
        for (v, n) in vals {
            for _ in 0..*n {
                b.count(i.key(field, ValueRef::U(*v)));
                b.packets += 1;
            }
        }
        b
    }

    fn base(i: &mut Interner, field: Field, vals: &[(u64, u64)]) -> Baseline {
        let mut base = Baseline::decaying(600_000_000_000);
        for t in 0..20 {
            base.absorb(&bucket(i, t, field, vals), 1_000_000_000);
        }
        base
    }

    #[test]
    fn g_significance_signs_and_scales() {
        assert!(g_significance(50.0, 100.0, 0.5).abs() < 1e-9);
        assert!(g_significance(90.0, 100.0, 0.5) > 8.0);
        assert!(g_significance(10.0, 100.0, 0.5) < -8.0);
        assert!(g_significance(9.0, 10.0, 0.5) < g_significance(90.0, 100.0, 0.5));
    }

    #[test]
    fn new_dominant_value_is_concentrated_and_novel() {
        let mut i = Interner::default();
        let b = base(&mut i, Field::SrcPort, &[(40000, 5), (40001, 5), (443, 10)]);
        let w = WindowCounts::of([&bucket(&mut i, 30, Field::SrcPort, &[(53, 96), (443, 4)])]);
        let s = shifts(&w, &b, &i);
        assert_eq!(s[0].kind, ShiftKind::Concentrated);
        assert_eq!(s[0].value, Some(Value::U(53)));
        assert!(s[0].novel && s[0].recent_share > 0.95 && s[0].significance > 10.0);
        assert!(
            s[0].phrase()
                .starts_with("src_port concentrated on new value 53 (96%, was 0%)")
        );
        // 443 fell from 50% to 4%: vanished.
        assert!(
            s.iter()
                .any(|x| x.kind == ShiftKind::Vanished && x.value == Some(Value::U(443)))
        );
    }

    #[test]
    fn scan_spreads_and_unchanged_mix_has_no_shift() {
        let mut i = Interner::default();
        let b = base(&mut i, Field::DstPort, &[(80, 10), (443, 10)]);
        let same = WindowCounts::of([&bucket(&mut i, 30, Field::DstPort, &[(80, 11), (443, 9)])]);
        assert!(shifts(&same, &b, &i).is_empty());
        let ports: Vec<(u64, u64)> = (1..=1000).map(|p| (p, 1)).collect();
        let w = WindowCounts::of([&bucket(&mut i, 31, Field::DstPort, &ports)]);
        let s = shifts(&w, &b, &i);
        let spread = s.iter().find(|x| x.kind == ShiftKind::Spread).unwrap();
        assert_eq!(spread.field, Field::DstPort);
        assert!(spread.distinct >= 998);
        assert!(spread.phrase().contains("spread over"));
    }

    #[test]
    fn rare_value_at_its_usual_share_is_not_a_shift() {
        let mut i = Interner::default();
        let b = base(&mut i, Field::DstPort, &[(80, 18), (22, 2)]);
        let w = WindowCounts::of([&bucket(&mut i, 30, Field::DstPort, &[(80, 180), (22, 20)])]);
        assert!(shifts(&w, &b, &i).is_empty());
    }
}
