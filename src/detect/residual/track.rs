//! The result of a residual pass ([`ResidualTrack`]): per-cell sums of residual profiles,
//! the final thresholds and the stripe legend, and their mapping onto the timeline's buckets.

use super::MIN_THRESHOLD;
use crate::algebra::schema::{FieldEncoder, Schema};
use crate::decode::Field;
use crate::detect::{ResidualMap, ResidualSummary};
use crate::timeline::Timeline;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Debug, Default)]
pub(super) struct Cell {
    pub(super) sum: Vec<f64>,
    pub(super) n: u64,
    /// Per-stripe thresholds in force when the cell opened (causal scoring).
    pub(super) thresholds: Option<Arc<[f64]>>,
}

pub(super) fn merge_cell(into: &mut Cell, c: &Cell) {
    if into.sum.len() < c.sum.len() {
        into.sum.resize(c.sum.len(), 0.0);
    }
    for (a, b) in into.sum.iter_mut().zip(&c.sum) {
        *a += b;
    }
    if into.thresholds.is_none() {
        into.thresholds.clone_from(&c.thresholds);
    }
    into.n += c.n;
}

/// Largest ratio of a stripe's mean residual to its threshold (stripes without a usable
/// threshold do not count).
#[must_use]
pub fn worst_ratio(mean: &[f64], thresholds: &[f64]) -> f64 {
    mean.iter()
        .zip(thresholds)
        .filter(|(_, t)| t.is_finite() && **t > MIN_THRESHOLD)
        .map(|(v, t)| v / t)
        .fold(0.0, f64::max)
}

/// Fields whose leaves live in each stripe (encoded fields only).
#[must_use]
pub fn stripe_fields(schema: &Schema) -> Vec<Vec<Field>> {
    let mut out = vec![Vec::new(); schema.layout.stripes as usize];
    for f in Field::ALL {
        if schema.encoder(*f) == FieldEncoder::Skip {
            continue;
        }
        if let Some(v) = out.get_mut(schema.stripe(*f)) {
            v.push(*f);
        }
    }
    out
}

/// What the stage learned over a pass: per-cell sums, thresholds and the stripe legend.
#[derive(Clone, Debug, Default)]
pub struct ResidualTrack {
    pub(super) stripes: usize,
    pub(super) cell_ns: i64,
    pub(super) cells: BTreeMap<i64, Cell>,
    /// Final per-stripe thresholds.
    pub thresholds: Vec<f32>,
    /// Final aggregate threshold.
    pub threshold: f32,
    /// Stripe-to-fields legend.
    pub stripe_fields: Vec<Vec<Field>>,
    /// Packets scored or used for learning (after sampling).
    pub scored: u64,
    /// Packets learned.
    pub learned: u64,
}

impl ResidualTrack {
    /// Per timeline bucket: the heatmap map and the detector's per-bucket summaries (profile =
    /// mean per-stripe residual; score = its largest stripe ratio to the thresholds in force
    /// when the bucket's first cell opened, so the detector's feature stays causal).
    #[must_use]
    pub fn for_timeline(&self, tl: &Timeline) -> (ResidualMap, Vec<Option<ResidualSummary>>) {
        let width = tl.width_ns();
        let mut per: Vec<Cell> = vec![Cell::default(); tl.buckets().len()];
        let starts: Vec<i64> = tl.buckets().iter().map(|b| b.index).collect();
        for (k, c) in &self.cells {
            let idx = k.saturating_mul(self.cell_ns).div_euclid(width);
            if let Ok(pos) = starts.binary_search(&idx)
                && let Some(slot) = per.get_mut(pos)
            {
                merge_cell(slot, c);
            }
        }
        let summaries: Vec<Option<ResidualSummary>> = per
            .iter()
            .map(|c| {
                (c.n > 0).then(|| {
                    #[allow(clippy::cast_precision_loss)]
                    let n = c.n as f64;
                    let mean: Vec<f64> = c.sum.iter().map(|s| s / n).collect();
                    ResidualSummary {
                        score: c
                            .thresholds
                            .as_deref()
                            .map_or(0.0, |t| worst_ratio(&mean, t)),
                        profile: mean.iter().map(|v| *v as f32).collect(),
                    }
                })
            })
            .collect();
        let map = ResidualMap {
            stripes: self.stripes,
            profiles: summaries
                .iter()
                .map(|s| s.as_ref().map(|s| s.profile.clone()))
                .collect(),
            thresholds: self.thresholds.clone(),
            threshold: self.threshold,
            stripe_fields: self.stripe_fields.clone(),
        };
        (map, summaries)
    }
}
