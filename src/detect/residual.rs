//! The residual-profile stage: a streaming consumer that scores packets against a striped
//! CCIPCA subspace of normal traffic and keeps, per time cell, the mean per-stripe residual
//! profile (the data of the heatmap and of each wave's `residual_profile`).
//!
//! # Pipeline (one pass, causal)
//!
//! - Encoding is the fast path: each packet's role-filler leaves come from a [`LeafTable`]
//!   (16 stripes x 256 by default) and are scored by a [`FastScorer`] frozen on the current
//!   basis, about (fields x k) work per packet.
//! - Sampling: every packet is scored for the first [`FULL_PACKETS`] packets, then a
//!   deterministic 1-in-[`SAMPLE_EVERY`] sample (packet number modulo 8, in file order), so the
//!   stage keeps pace with ingest on large captures. Profiles are means over scored packets,
//!   which the sample estimates without bias.
//! - Judging happens per block of [`BLOCK_NS`] on the block's mean profile: a single packet
//!   with a new address always has a large residual (categorical atoms of unseen values are
//!   orthogonal to everything learned), so what marks an attack is a *bucket* whose packets
//!   are unfamiliar on average, in a familiar or new direction.
//! - Thresholds: each stripe's threshold fuses, by the log-mean strategy, the maximum `m` of a
//!   [`ResidualBuffer`] of mean residuals of accepted blocks with that buffer's statistical
//!   threshold `c` = mean + 3.5 standard deviations (the subspace default multiple). A block is
//!   anomalous when its largest stripe ratio (mean residual / threshold) exceeds
//!   `1 + alignment`, where alignment (the block profile's direction judged by a
//!   [`ProfileJudge`] learned on accepted blocks) is 1 for a familiar pattern and 0 for a new
//!   one: both signals decide, a familiar direction needs twice the magnitude.
//! - Learning: during the warm-up (the detector's warm-up time, at least [`WARMUP_LEARNED`]
//!   learned packets and [`WARMUP_BLOCKS`] scored blocks) every sampled packet of a block
//!   teaches the subspace. After it, a block teaches only if it was not anomalous, so an attack
//!   never becomes normal while it runs. With an analyst-chosen baseline interval only packets
//!   inside it teach, and profiles start once it has ended. At most
//!   [`WARMUP_LEARN_PER_BLOCK`] packets per block are learned during the warm-up and
//!   [`LEARN_PER_BLOCK`] after it (an evenly thinned, deterministic selection of the block's
//!   scored packets).
//! - The scorer is re-frozen on the learned basis when the number of packets learned since the
//!   last freeze reaches a quarter of the total (at least 32), so re-freezing (which refills
//!   every cached leaf projection) costs O(log n) snapshots over a capture.

pub mod track;

use track::{Cell, merge_cell};
pub use track::{ResidualTrack, stripe_fields, worst_ratio};

use super::{BaselineTime, DetectOptions};
use crate::algebra::leaf::{LeafSet, LeafTable};
use crate::algebra::schema::{Layout, Schema};
use crate::decode::Packet;
use crate::subspace::{
    Basis, FastScorer, ProfileJudge, ResidualBuffer, StripedSubspace, ThresholdStrategy,
};
use crate::timeline::LADDER;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Packets scored in full before sampling starts.
pub const FULL_PACKETS: u64 = 65_536;
/// After [`FULL_PACKETS`], one packet in this many is scored.
pub const SAMPLE_EVERY: u64 = 8;
/// Width of a learning block (1 s).
pub const BLOCK_NS: i64 = 1_000_000_000;
/// Most packets learned per block during the warm-up.
pub const WARMUP_LEARN_PER_BLOCK: usize = 64;
/// Most packets learned per accepted block after the warm-up: the subspace follows change
/// over time, and a few packets per second of capture are plenty for k components per
/// stripe, whatever the packet rate.
pub const LEARN_PER_BLOCK: usize = 8;
/// Least packets learned before the warm-up ends.
pub const WARMUP_LEARNED: u64 = 256;
/// Scored blocks before the warm-up may end (the detector's default warm-up buckets), also
/// the least accepted blocks a threshold needs.
pub const WARMUP_BLOCKS: usize = 20;
/// Standard deviations above the mean of accepted block residuals (the subspace default).
pub const SIGMA: f64 = 3.5;
/// Atom seed of the residual stage's schema.
pub const SEED: u64 = 0x686f_6c6f_7363_6f70;
/// Components per stripe subspace.
pub const K: usize = 4;
/// Stripes whose threshold is below this never count (a constant stripe has threshold 0,
/// and float noise must not flag it).
pub const MIN_THRESHOLD: f64 = 1e-3;
/// Non-empty cells kept before the cell width coarsens (4x the timeline's bucket bound, so a
/// cell never spans two timeline buckets).
const MAX_CELLS: usize = 4 * crate::timeline::DEFAULT_MAX_BUCKETS;

/// Settings of the stage.
#[derive(Clone, Debug, PartialEq)]
pub struct ResidualOptions {
    /// Vector layout (default 16 stripes x 256).
    pub layout: Layout,
    /// Components per stripe (default [`K`]).
    pub k: usize,
    /// Warm-up time from the first packet (the detector's `warmup_ns`).
    pub warmup_ns: i64,
    /// Analyst-chosen baseline interval.
    pub baseline: Option<(BaselineTime, BaselineTime)>,
    /// Fixed cell width (the timeline's fixed bucket width), or adaptive along the ladder.
    pub cell_ns: Option<i64>,
    /// Memory budget of the leaf cache in bytes (values first seen once it is full share
    /// their field's overflow leaf).
    pub leaf_budget: usize,
}

impl ResidualOptions {
    /// Options matching a detection configuration and a timeline bucket choice.
    #[must_use]
    pub fn new(detect: &DetectOptions, bucket_ns: Option<i64>) -> Self {
        Self {
            layout: Layout::default(),
            k: K,
            warmup_ns: detect.warmup_ns,
            baseline: detect.baseline,
            cell_ns: bucket_ns,
            leaf_budget: crate::algebra::leaf::DEFAULT_LEAF_BUDGET,
        }
    }
}

/// The streaming stage; feed packets in file order with [`ResidualStage::observe`].
#[derive(Clone, Debug)]
pub struct ResidualStage {
    opts: ResidualOptions,
    table: LeafTable,
    sub: StripedSubspace,
    scorer: Option<FastScorer>,
    judge: ProfileJudge,
    judge_basis: Option<Basis>,
    buffers: Vec<ResidualBuffer>,
    thresholds: Arc<[f64]>,
    set: LeafSet,
    profile: Vec<f64>,
    seen: u64,
    scored: u64,
    learned: u64,
    learned_at_sync: u64,
    blocks: usize,
    first: Option<i64>,
    interval: Option<(i64, i64)>,
    warm: bool,
    block: Option<i64>,
    block_scored: u64,
    block_sum: Vec<f64>,
    block_stride: u64,
    block_offered: u64,
    candidates: Vec<LeafSet>,
    cell_ns: i64,
    fixed_cells: bool,
    cells: BTreeMap<i64, Cell>,
}

impl ResidualStage {
    /// A fresh stage.
    #[must_use]
    pub fn new(opts: ResidualOptions) -> Self {
        let schema = Schema::packets(SEED, opts.layout);
        let stripes = opts.layout.stripes as usize;
        let (cell_ns, fixed_cells) = match opts.cell_ns {
            Some(w) => (w.max(1_000_000), true),
            None => (LADDER[0], false),
        };
        Self {
            table: {
                let d = (schema.layout.stripe_dim as usize).max(1);
                LeafTable::with_capacity(schema, opts.leaf_budget / (4 * d))
            },
            sub: StripedSubspace::new(opts.layout, opts.k),
            scorer: None,
            judge: ProfileJudge::new(stripes),
            judge_basis: None,
            buffers: vec![
                ResidualBuffer::new(
                    crate::subspace::buffer::DEFAULT_CAPACITY,
                    WARMUP_BLOCKS
                );
                stripes
            ],
            thresholds: vec![f64::INFINITY; stripes].into(),
            set: LeafSet::default(),
            profile: Vec::with_capacity(stripes),
            seen: 0,
            scored: 0,
            learned: 0,
            learned_at_sync: 0,
            blocks: 0,
            first: None,
            interval: None,
            warm: true,
            block: None,
            block_scored: 0,
            block_sum: vec![0.0; stripes],
            block_stride: 1,
            block_offered: 0,
            candidates: Vec::new(),
            cell_ns,
            fixed_cells,
            cells: BTreeMap::new(),
            opts,
        }
    }

    /// Feeds one packet (file order).
    pub fn observe(&mut self, p: &Packet) {
        self.seen += 1;
        if self.seen > FULL_PACKETS && !self.seen.is_multiple_of(SAMPLE_EVERY) {
            return;
        }
        let ts = p.ts.0;
        let first = *self.first.get_or_insert(ts);
        if self.interval.is_none()
            && let Some((a, b)) = self.opts.baseline
        {
            let t0 = crate::time::Timestamp(first);
            self.interval = Some((a.resolve(t0).0, b.resolve(t0).0));
        }
        let block = ts.div_euclid(BLOCK_NS);
        if self.block != Some(block) {
            self.close_block(ts);
            self.block = Some(block);
        }
        self.table.leaves_of(p, &mut self.set);
        self.scored += 1;
        let candidate = match self.interval {
            Some((a, b)) => ts >= a && ts < b,
            None => true,
        };
        if let Some(scorer) = self.scorer.as_mut() {
            scorer.score(&self.table, &self.set, &mut self.profile);
            self.block_scored += 1;
            for (s, v) in self.block_sum.iter_mut().zip(&self.profile) {
                *s += v;
            }
            if !self.warm {
                self.add_to_cell(ts);
            }
        }
        if candidate {
            self.offer_candidate();
        }
    }

    /// Keeps an evenly thinned, deterministic selection of at most [`LEARN_PER_BLOCK`] (or
    /// [`WARMUP_LEARN_PER_BLOCK`], or the same in a fixed baseline interval): every packet
    /// until the cap, then every second, fourth...
    fn offer_candidate(&mut self) {
        let cap = if self.warm {
            WARMUP_LEARN_PER_BLOCK
        } else {
            LEARN_PER_BLOCK
        };
        let i = self.block_offered;
        self.block_offered += 1;
        if !i.is_multiple_of(self.block_stride) {
            return;
        }
        if self.candidates.len() >= cap {
            let mut keep = 0usize;
            self.candidates.retain(|_| {
                keep += 1;
                keep % 2 == 1
            });
            self.block_stride *= 2;
            if !i.is_multiple_of(self.block_stride) {
                return;
            }
        }
        self.candidates.push(self.set.clone());
    }

    fn add_to_cell(&mut self, ts: i64) {
        let key = ts.div_euclid(self.cell_ns);
        let stripes = self.profile.len();
        let thresholds = &self.thresholds;
        let cell = self.cells.entry(key).or_insert_with(|| Cell {
            sum: vec![0.0; stripes],
            thresholds: Some(Arc::clone(thresholds)),
            ..Cell::default()
        });
        for (s, v) in cell.sum.iter_mut().zip(&self.profile) {
            *s += v;
        }
        cell.n += 1;
        if !self.fixed_cells && self.cells.len() > MAX_CELLS {
            self.coarsen();
        }
    }

    /// Forgets the cells that ended at or before `cutoff_ns` (retention): the heatmap covers
    /// the kept timeline buckets only, so nothing here grows with the stream's length.
    pub fn forget_before(&mut self, cutoff_ns: i64) {
        let first_kept = cutoff_ns.div_euclid(self.cell_ns);
        self.cells = self.cells.split_off(&first_kept);
    }

    /// Next ladder step: cells merge exactly because each step divides the next.
    fn coarsen(&mut self) {
        while self.cells.len() > MAX_CELLS {
            let next = LADDER
                .iter()
                .copied()
                .find(|w| *w > self.cell_ns)
                .unwrap_or(self.cell_ns * 2);
            let ratio = next / self.cell_ns;
            let old = std::mem::take(&mut self.cells);
            for (k, c) in old {
                let e = self.cells.entry(k.div_euclid(ratio)).or_default();
                merge_cell(e, &c);
            }
            self.cell_ns = next;
        }
    }

    /// Ends the current block: learn its candidates if it was accepted, re-freeze if due.
    fn close_block(&mut self, now: i64) {
        #[allow(clippy::cast_precision_loss)]
        let n = self.block_scored.max(1) as f64;
        let mean: Vec<f64> = self.block_sum.iter().map(|s| s / n).collect();
        let anomalous = self.block_scored > 0 && !self.warm && self.is_anomalous(&mean);
        let accepted = match self.interval {
            Some((from, to)) => self.block.is_some_and(|k| {
                let start = k.saturating_mul(BLOCK_NS);
                start < to && start.saturating_add(BLOCK_NS) > from
            }),
            None => !anomalous,
        };
        if accepted && self.block_scored > 0 {
            for (b, v) in self.buffers.iter_mut().zip(&mean) {
                b.push(*v);
            }
            self.judge.learn(&mean);
            self.blocks += 1;
        }
        let candidates = std::mem::take(&mut self.candidates);
        if accepted {
            for set in &candidates {
                let x = self.table.materialise(set);
                self.sub.update(&x);
                self.learned += 1;
            }
        }
        self.block_scored = 0;
        self.block_sum.iter_mut().for_each(|s| *s = 0.0);
        self.block_stride = 1;
        self.block_offered = 0;
        let first = self.first.unwrap_or(now);
        let warm_now = match self.interval {
            Some((_, b)) => now < b || self.learned == 0,
            None => {
                now - first < self.opts.warmup_ns
                    || self.learned < WARMUP_LEARNED
                    || self.blocks < WARMUP_BLOCKS
            }
        };
        let since = self.learned - self.learned_at_sync;
        let due = since >= (self.learned / 4).max(32);
        if since > 0 && (due || (self.warm && !warm_now) || self.scorer.is_none()) {
            self.sync();
        } else if self.warm {
            self.refresh_thresholds();
        }
        self.warm = warm_now;
    }

    /// Freezes the scorer on the current basis and refreshes the thresholds.
    fn sync(&mut self) {
        let basis = self.sub.basis();
        match self.scorer.as_mut() {
            Some(s) => s.sync(&basis),
            None => self.scorer = Some(FastScorer::new(&basis)),
        }
        self.learned_at_sync = self.learned;
        self.refresh_thresholds();
    }

    /// Thresholds and the judge's snapshot follow the accepted blocks; refreshed at each
    /// freeze and during the warm-up (cheap: stripes x buffer length).
    fn refresh_thresholds(&mut self) {
        self.judge_basis = Some(self.judge.subspace().basis());
        self.thresholds = self.stripe_thresholds().into();
    }

    /// Is a block's mean profile beyond the thresholds (magnitude and direction)?
    fn is_anomalous(&self, mean: &[f64]) -> bool {
        let worst = worst_ratio(mean, &self.thresholds);
        let magnitude = super::super::subspace::striped::rss(mean);
        worst > 1.0 + alignment(self.judge_basis.as_ref(), mean, magnitude)
    }

    fn stripe_thresholds(&self) -> Vec<f64> {
        self.buffers
            .iter()
            .map(|b| {
                let c = b.mean_std().map_or(f64::INFINITY, |(m, s)| m + SIGMA * s);
                b.threshold(ThresholdStrategy::LogMean, c)
                    .unwrap_or(f64::INFINITY)
            })
            .collect()
    }

    /// The track so far, as if the pass ended now (for snapshots of a running pass; the stage
    /// itself goes on unchanged).
    #[must_use]
    pub fn snapshot(&self) -> ResidualTrack {
        self.clone().finish()
    }

    /// Ends the pass.
    #[must_use]
    pub fn finish(mut self) -> ResidualTrack {
        let last = self
            .block
            .map_or(0, |b| b.saturating_add(1).saturating_mul(BLOCK_NS));
        self.close_block(last);
        let thresholds: Vec<f32> = self.stripe_thresholds().iter().map(|t| *t as f32).collect();
        let threshold = thresholds
            .iter()
            .map(|t| f64::from(*t).powi(2))
            .sum::<f64>()
            .sqrt() as f32;
        ResidualTrack {
            stripes: self.opts.layout.stripes as usize,
            cell_ns: self.cell_ns,
            cells: std::mem::take(&mut self.cells),
            thresholds,
            threshold,
            stripe_fields: stripe_fields(self.table.schema()),
            scored: self.scored,
            learned: self.learned,
        }
    }
}

/// `1 - residual / ‖profile‖` against the judge's snapshot (0 without one).
fn alignment(basis: Option<&Basis>, profile: &[f64], magnitude: f64) -> f64 {
    let Some(b) = basis else { return 0.0 };
    if b.k() == 0 || magnitude <= 0.0 || b.dim() != profile.len() {
        return 0.0;
    }
    let c: Vec<f64> = profile
        .iter()
        .zip(b.mean())
        .map(|(x, m)| x - f64::from(*m))
        .collect();
    let mut r2: f64 = c.iter().map(|x| x * x).sum();
    for i in 0..b.k() {
        let p: f64 = c.iter().zip(b.row(i)).map(|(x, q)| x * f64::from(*q)).sum();
        r2 -= p * p;
    }
    (1.0 - r2.max(0.0).sqrt() / magnitude).clamp(0.0, 1.0)
}
