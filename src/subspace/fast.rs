//! The fast scoring path: residual profile and attribution of a packet from cached per-leaf
//! quantities, about (fields x k) work instead of (fields x D).
//!
//! # Math
//!
//! For one stripe with orthonormal basis rows `Q` (k x d) and mean `μ`, a packet's stripe
//! vector is the sum of its leaves `x = Σ_f L_f`. With `c = x - μ`:
//!
//! ```text
//! r² = ‖c - QᵀQc‖² = ‖c‖² - ‖Qc‖²                       (Q has orthonormal rows)
//! Qc   = Σ_f (Q L_f) - Qμ
//! ‖c‖² = Σ_f ‖L_f‖² + 2 Σ_{f<g} L_f·L_g - 2 Σ_f μ·L_f + ‖μ‖²
//! ```
//!
//! `Q L_f` (k numbers) and `μ·L_f` are cached per leaf and per basis version; `‖L_f‖²` per
//! leaf; `Qμ`, `‖μ‖²` per version. Cross terms `L_f·L_g` exist only between leaves sharing a
//! stripe and are computed from the cached leaf vectors (a few per packet with stripes). A
//! stripe without leaves has the constant residual of `-μ`. Sums run in `f64`.
//!
//! Attribution of field `f` in stripe `s` (anomalous component `a = c - QᵀQc`, `‖a‖ = r`):
//! `a·L_f = c·L_f - (Qc)·(Q L_f)` with `c·L_f = Σ_g L_g·L_f - μ·L_f`, so
//! `cos(a, L_f) = a·L_f / (r ‖L_f‖)`, again from cached quantities.

use super::attribution::{Attribution, sort_attributions};
use super::striped::StripedBasis;
use crate::algebra::kernel::{dot, norm2};
use crate::algebra::leaf::{LeafId, LeafSet, LeafTable};
use crate::algebra::schema::Layout;
use rustc_hash::FxHashMap;

/// `L_a·L_b`, cached.
fn pair_dot(pairs: &mut FxHashMap<u64, f32>, table: &LeafTable, a: LeafId, b: LeafId) -> f32 {
    let key = (u64::from(a.0.min(b.0)) << 32) | u64::from(a.0.max(b.0));
    if let Some(v) = pairs.get(&key) {
        return *v;
    }
    let v = dot(table.vector(a), table.vector(b));
    if pairs.len() < MAX_PAIRS {
        pairs.insert(key, v);
    }
    v
}

#[derive(Clone, Debug, Default)]
struct Snap {
    k: usize,
    q: Vec<f32>,
    mean: Vec<f32>,
    q_mean: Vec<f64>,
    mean_norm2: f64,
}

/// Scores leaf sets against a frozen copy of a [`StripedBasis`].
#[derive(Clone, Debug)]
pub struct FastScorer {
    layout: Layout,
    kmax: usize,
    version: u32,
    snaps: Vec<Snap>,
    empty_profile: Vec<f64>,
    /// Per leaf: `Q L_f` (kmax slots, widened to f64 once here rather than on every packet),
    /// `μ·L_f`, `‖L_f‖² - 2 μ·L_f` (its whole linear share of `‖c‖²`), and the version they
    /// were computed for.
    proj: Vec<f64>,
    mdot: Vec<f64>,
    lin: Vec<f64>,
    stamp: Vec<u32>,
    b: Vec<f64>,
    /// `L_f·L_g` of leaves sharing a stripe, keyed by `(min id << 32) | max id`. Independent of
    /// the basis, so it survives `sync`; bounded by [`MAX_PAIRS`].
    pairs: FxHashMap<u64, f32>,
}

/// Cached cross terms before new ones are computed without caching.
pub const MAX_PAIRS: usize = 1 << 22;

impl FastScorer {
    /// A scorer frozen on `basis`.
    #[must_use]
    pub fn new(basis: &StripedBasis) -> Self {
        let mut s = Self {
            layout: basis.layout(),
            kmax: 0,
            version: 0,
            snaps: Vec::new(),
            empty_profile: Vec::new(),
            proj: Vec::new(),
            mdot: Vec::new(),
            lin: Vec::new(),
            stamp: Vec::new(),
            b: Vec::new(),
            pairs: FxHashMap::default(),
        };
        s.sync(basis);
        s
    }

    /// Re-freezes on a newer basis; per-leaf caches refill lazily (version stamp).
    pub fn sync(&mut self, basis: &StripedBasis) {
        self.layout = basis.layout();
        self.version = self.version.wrapping_add(1);
        if self.version == 0 {
            // Stamps of 0 mean "never computed": skip it on wrap-around.
            self.stamp.iter_mut().for_each(|s| *s = u32::MAX);
            self.version = 1;
        }
        self.snaps.clear();
        self.empty_profile.clear();
        let mut kmax = 0;
        for s in 0..self.layout.stripes as usize {
            let mut snap = Snap::default();
            if let Some(b) = basis.stripe(s) {
                snap.k = b.k();
                snap.mean = b.mean().to_vec();
                for i in 0..b.k() {
                    snap.q.extend_from_slice(b.row(i));
                }
                snap.q_mean = (0..b.k())
                    .map(|i| f64::from(dot(b.row(i), b.mean())))
                    .collect();
                snap.mean_norm2 = f64::from(norm2(b.mean()));
            }
            let e = snap.mean_norm2 - snap.q_mean.iter().map(|x| x * x).sum::<f64>();
            self.empty_profile.push(e.max(0.0).sqrt());
            kmax = kmax.max(snap.k);
            self.snaps.push(snap);
        }
        if kmax != self.kmax {
            self.kmax = kmax;
            self.proj.clear();
            self.mdot.clear();
            self.lin.clear();
            self.stamp.clear();
        }
        self.b = vec![0.0; kmax];
    }

    fn ensure(&mut self, table: &LeafTable, id: LeafId, stripe: usize) {
        let i = id.0 as usize;
        if i >= self.stamp.len() {
            self.stamp.resize(i + 1, 0);
            self.mdot.resize(i + 1, 0.0);
            self.lin.resize(i + 1, 0.0);
            self.proj.resize((i + 1) * self.kmax, 0.0);
        }
        if self.stamp[i] == self.version {
            return;
        }
        let v = table.vector(id);
        let snap = &self.snaps[stripe];
        let d = self.layout.stripe_dim as usize;
        let p = &mut self.proj[i * self.kmax..(i + 1) * self.kmax];
        for (j, pj) in p.iter_mut().enumerate().take(snap.k) {
            *pj = f64::from(dot(&snap.q[j * d..(j + 1) * d], v));
        }
        self.mdot[i] = if snap.mean.is_empty() {
            0.0
        } else {
            f64::from(dot(&snap.mean, v))
        };
        self.lin[i] = f64::from(table.norm2(id)) - 2.0 * self.mdot[i];
        self.stamp[i] = self.version;
    }

    /// Per-stripe residuals of a packet's leaves into `profile`; returns the magnitude.
    pub fn score(&mut self, table: &LeafTable, set: &LeafSet, profile: &mut Vec<f64>) -> f64 {
        profile.clear();
        profile.extend_from_slice(&self.empty_profile);
        let leaves = &set.leaves;
        let mut start = 0;
        while start < leaves.len() {
            let s = leaves[start].0;
            let mut end = start + 1;
            while end < leaves.len() && leaves[end].0 == s {
                end += 1;
            }
            let r2 = self.stripe_r2_score(table, &leaves[start..end], s as usize);
            if let Some(p) = profile.get_mut(s as usize) {
                *p = r2.max(0.0).sqrt();
            }
            start = end;
        }
        profile.iter().map(|x| x * x).sum::<f64>().sqrt()
    }

    /// `r²` of one stripe for scoring. Most stripes of a packet hold a single leaf: then
    /// `‖Qc‖² = Σ_j (Q L_f - Qμ)_j²` needs no scratch vector, which is most of the per-packet
    /// cost saved.
    fn stripe_r2_score(&mut self, table: &LeafTable, group: &[(u32, LeafId)], s: usize) -> f64 {
        let [(_, id)] = group else {
            return self.stripe_r2(table, group, s);
        };
        if s >= self.snaps.len() {
            return 0.0;
        }
        self.ensure(table, *id, s);
        let snap = &self.snaps[s];
        let k = snap.k;
        let i = id.0 as usize;
        let p = &self.proj[i * self.kmax..i * self.kmax + k];
        let qc2: f64 = p
            .iter()
            .zip(&snap.q_mean[..k])
            .map(|(a, m)| (a - m) * (a - m))
            .sum();
        snap.mean_norm2 + self.lin[i] - qc2
    }

    /// `r²` of one stripe; leaves `self.b` = `Qc`.
    fn stripe_r2(&mut self, table: &LeafTable, group: &[(u32, LeafId)], s: usize) -> f64 {
        if s >= self.snaps.len() {
            return 0.0;
        }
        for (_, id) in group {
            self.ensure(table, *id, s);
        }
        // Disjoint borrows of the caches (no take/restore of `b` on every stripe).
        let Self {
            snaps,
            proj,
            lin,
            b,
            pairs,
            kmax,
            ..
        } = self;
        let snap = &snaps[s];
        let k = snap.k;
        let b = &mut b[..k];
        b.copy_from_slice(&snap.q_mean[..k]);
        b.iter_mut().for_each(|x| *x = -*x);
        let mut cc = snap.mean_norm2;
        for (gi, (_, id)) in group.iter().enumerate() {
            let i = id.0 as usize;
            for (bj, pj) in b.iter_mut().zip(&proj[i * *kmax..i * *kmax + k]) {
                *bj += *pj;
            }
            cc += lin[i];
            for (_, other) in &group[gi + 1..] {
                cc += 2.0 * f64::from(pair_dot(pairs, table, *id, *other));
            }
        }
        let qc2: f64 = b.iter().map(|x| x * x).sum();
        cc - qc2
    }

    /// Attribution of every leaf from cached quantities (see the module math), highest first.
    pub fn attribute(&mut self, table: &LeafTable, set: &LeafSet) -> Vec<Attribution> {
        let mut out = Vec::with_capacity(set.leaves.len());
        let leaves = &set.leaves;
        let mut start = 0;
        while start < leaves.len() {
            let s = leaves[start].0;
            let mut end = start + 1;
            while end < leaves.len() && leaves[end].0 == s {
                end += 1;
            }
            let group = &leaves[start..end];
            let r = self.stripe_r2(table, group, s as usize).max(0.0).sqrt();
            let k = self.snaps.get(s as usize).map_or(0, |x| x.k);
            for (_, f) in group {
                let i = f.0 as usize;
                let mut c_dot = -self.mdot[i];
                for (_, g) in group {
                    c_dot += if g == f {
                        f64::from(table.norm2(*f))
                    } else {
                        f64::from(pair_dot(&mut self.pairs, table, *g, *f))
                    };
                }
                let p = &self.proj[i * self.kmax..i * self.kmax + k];
                let qq: f64 = self.b[..k].iter().zip(p).map(|(x, y)| x * y).sum();
                let nf = f64::from(table.norm2(*f)).sqrt();
                let quiet = r < f64::from(super::attribution::QUIET) * nf;
                let den = r * nf;
                let score = if quiet || den <= 0.0 {
                    0.0
                } else {
                    ((c_dot - qq) / den) as f32
                };
                if let Some(field) = table.field(*f) {
                    out.push(Attribution {
                        field,
                        stripe: s as usize,
                        score,
                    });
                }
            }
            start = end;
        }
        sort_attributions(&mut out);
        out
    }
}
