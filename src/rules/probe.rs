//! The evidence side of drafting: the hypervector probe (the wave's and the baseline's
//! accumulators, their difference, and the cosine of a (field, value) leaf with it) and the
//! per-condition evidence recorded in a draft's provenance.

use super::model::{Evidence, Op};
use super::select::Candidate;
use crate::algebra::{Layout, LeafAccumulator, LeafSet, LeafTable, Schema};
use crate::decode::{Field, Packet, Value};
use rustc_hash::FxHashMap;

/// Hypervector dimension of the drafting probe.
const PROBE_DIM: u32 = 1024;
/// Distinct leaves the probe caches (beyond, a field's new values share its overflow leaf:
/// thousands of spoofed sources need no vector each). Bounds the probe to 32 MiB.
const PROBE_LEAVES: usize = 8192;

/// The vector probe: leaf table and the baseline's leaf accumulator.
#[derive(Clone)]
pub(super) struct Probe {
    table: LeafTable,
    base: LeafAccumulator,
}

impl Probe {
    pub(super) fn new(base: &[Packet]) -> Self {
        let mut table =
            LeafTable::with_capacity(Schema::packets(1, Layout::whole(PROBE_DIM)), PROBE_LEAVES);
        let mut acc = LeafAccumulator::new();
        let mut set = LeafSet::default();
        for p in base {
            table.leaves_of(p, &mut set);
            acc.add(&set, 1.0);
        }
        Probe { table, base: acc }
    }

    /// `mean(wave) - mean(baseline)` as a dense vector.
    pub(super) fn difference(&mut self, wave: &[Packet]) -> Vec<f64> {
        let mut acc = LeafAccumulator::new();
        let mut set = LeafSet::default();
        for p in wave {
            self.table.leaves_of(p, &mut set);
            acc.add(&set, 1.0);
        }
        let w = acc.materialise(&self.table);
        let b = self.base.materialise(&self.table);
        #[allow(clippy::cast_precision_loss)]
        let (nw, nb) = (w.count().max(1) as f64, b.count().max(1) as f64);
        let has_base = b.count() > 0;
        w.sums()
            .iter()
            .zip(b.sums())
            .map(|(x, y)| x / nw - if has_base { y / nb } else { 0.0 })
            .collect()
    }

    /// Cosine of a (field, value) leaf with the difference (0 if the schema skips it).
    pub(super) fn cosine(&mut self, diff: &[f64], field: Field, v: &Value) -> f64 {
        let Some(f) = self.table.schema().filler(field, v.as_ref()) else {
            return 0.0;
        };
        let Some(id) = self.table.intern(field, f) else {
            return 0.0;
        };
        let leaf = self.table.vector(id);
        let (mut dot, mut nl, mut nd) = (0.0f64, 0.0f64, 0.0f64);
        for (a, b) in leaf.iter().zip(diff) {
            dot += f64::from(*a) * b;
            nl += f64::from(*a) * f64::from(*a);
            nd += b * b;
        }
        if nl > 0.0 && nd > 0.0 {
            dot / (nl.sqrt() * nd.sqrt())
        } else {
            0.0
        }
    }
}

/// The evidence behind one (field, value): the vector probe, novelty and the detector's shift.
#[derive(Clone, Copy, Debug)]
pub(super) struct Score {
    /// Cosine of the value's leaf with `mean(wave) - mean(baseline)`.
    pub(super) cosine: f64,
    /// Never seen in the baseline sample.
    pub(super) novel: bool,
    /// Significance of the wave's concentration shift on this value, if the detector found one.
    pub(super) shift: Option<f64>,
}

impl Score {
    /// One number for ranking: cosine, plus 0.5 when new, plus up to 1 for a shift.
    pub(super) fn prior(&self) -> f64 {
        let novel = if self.novel { 0.5 } else { 0.0 };
        self.cosine + novel + self.shift.map_or(0.0, |s| (s / 10.0).min(1.0))
    }
}

/// Evidence entries: each condition with the strongest of its values' scores.
pub(super) fn evidence(
    conds: &[Candidate],
    scores: &FxHashMap<(Field, Value), Score>,
) -> Vec<Evidence> {
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    conds
        .iter()
        .map(|c| {
            let values: Vec<&Value> = match &c.cond.op {
                Op::Eq(v) => vec![v],
                Op::In(vs) => vs.iter().collect(),
                _ => Vec::new(),
            };
            let best = values
                .iter()
                .filter_map(|v| scores.get(&(c.cond.field, (*v).clone())))
                .max_by(|a, b| a.prior().total_cmp(&b.prior()));
            let feature = match best {
                Some(s) => format!(
                    "{}: cosine {:.3} with the wave-minus-baseline vector{}{}",
                    c.cond,
                    s.cosine,
                    if s.novel {
                        ", new against the baseline"
                    } else {
                        ""
                    },
                    s.shift
                        .map(|x| format!(", concentration shift significance {x:.1}"))
                        .unwrap_or_default()
                ),
                None => format!(
                    "{}: generalises the wave's values (prefix, range or mask)",
                    c.cond
                ),
            };
            Evidence {
                field: c.cond.field,
                feature,
                score: round(best.map_or(c.prior, Score::prior)),
            }
        })
        .collect()
}
