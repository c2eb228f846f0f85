//! `OnlineSubspace`: candid covariance-free incremental PCA (CCIPCA, Weng, Zhang and Hwang
//! 2003) with amnesia, an EMA residual threshold and periodic re-orthonormalisation.
//!
//! Per sample `x` (n = samples so far including x, l = amnesia):
//!
//! ```text
//! r   = residual of x against the components *before* this update (returned)
//! μ  += (x - μ) / n ;  u = x - μ
//! w1  = max(0, (n - 1 - l) / n) ;  w2 = 1 - w1
//! for each component i (in order):
//!     if v_i is not yet initialised: v_i = u (if u != 0); stop
//!     v_i = w1 v_i + w2 (u · v_i / ‖v_i‖) u          (‖v_i‖ estimates eigenvalue λ_i)
//!     u  -= (u · e_i) e_i        with e_i = v_i / ‖v_i‖   (deflation)
//! every `reorth_interval` samples: Gram-Schmidt on the v_i, keeping their norms
//! ```
//!
//! The returned residual uses sequential deflation by the current unit components, which is
//! the orthogonal-projection residual while they are orthonormal (kept so by the deflation and
//! the periodic Gram-Schmidt). Queries ([`OnlineSubspace::basis`]) orthonormalise exactly.
//!
//! Threshold: `mean + sigma_mult * sqrt(var)` of the residuals seen by `update`, a plain
//! running mean/variance for the first `1 / ema_alpha` samples and an EMA after; infinite
//! before two samples.

use super::basis::Basis;
use crate::algebra::kernel::{axpy, dot, norm2};
use serde::{Deserialize, Serialize};

/// Parameters of an [`OnlineSubspace`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubspaceParams {
    /// Number of components.
    pub k: usize,
    /// CCIPCA amnesia `l` (default 2.0): larger forgets old samples faster.
    pub amnesia: f64,
    /// EMA weight of the residual statistics (default 0.01).
    pub ema_alpha: f64,
    /// Threshold = mean + `sigma_mult` standard deviations (default 3.5).
    pub sigma_mult: f64,
    /// Gram-Schmidt every this many samples (default 500; 0 = never).
    pub reorth_interval: u64,
}

impl SubspaceParams {
    /// Defaults (amnesia 2.0, ema_alpha 0.01, sigma_mult 3.5, reorth_interval 500) with `k`.
    #[must_use]
    pub fn new(k: usize) -> Self {
        Self {
            k,
            amnesia: 2.0,
            ema_alpha: 0.01,
            sigma_mult: 3.5,
            reorth_interval: 500,
        }
    }
}

/// An online PCA subspace of dimension `dim` with up to `k` components.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnlineSubspace {
    dim: usize,
    params: SubspaceParams,
    n: u64,
    #[serde(with = "crate::algebra::serde_vec::f32s")]
    mean: Vec<f32>,
    /// `k * dim`, row i = v_i (norm = eigenvalue estimate).
    #[serde(with = "crate::algebra::serde_vec::f32s")]
    comps: Vec<f32>,
    initialised: usize,
    total_var: f64,
    n_obs: u64,
    res_mean: f64,
    res_var: f64,
    /// `‖v_i‖²` of every component, kept in step with `comps`.
    #[serde(skip)]
    norms: NormCache,
}

/// Cached `‖v_i‖²` per component (k slots; empty after deserialising, then rebuilt). Each
/// update used to recompute them in three of its nine passes over every component; the cache
/// holds the very values those passes returned, so results are unchanged. (Fusing the other
/// passes into one loop was tried: without AVX the extra accumulators spill, and it was
/// slower.) A function of `comps`, so it never makes two subspaces unequal.
#[derive(Clone, Debug, Default)]
struct NormCache(Vec<f32>);

impl PartialEq for NormCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl OnlineSubspace {
    /// An empty subspace with default parameters.
    #[must_use]
    pub fn new(dim: usize, k: usize) -> Self {
        Self::with_params(dim, SubspaceParams::new(k))
    }

    /// An empty subspace.
    #[must_use]
    pub fn with_params(dim: usize, params: SubspaceParams) -> Self {
        let k = params.k.min(dim);
        Self {
            dim,
            params: SubspaceParams { k, ..params },
            n: 0,
            mean: vec![0.0; dim],
            comps: vec![0.0; k * dim],
            initialised: 0,
            total_var: 0.0,
            n_obs: 0,
            res_mean: 0.0,
            res_var: 0.0,
            norms: NormCache(vec![0.0; k]),
        }
    }

    /// Dimension.
    #[must_use]
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Parameters.
    #[must_use]
    pub fn params(&self) -> &SubspaceParams {
        &self.params
    }

    /// Samples learned.
    #[must_use]
    pub fn n(&self) -> u64 {
        self.n
    }

    /// The running mean.
    #[must_use]
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// Component `i` (unnormalised; its norm is the eigenvalue estimate).
    fn comp(&self, i: usize) -> &[f32] {
        &self.comps[i * self.dim..(i + 1) * self.dim]
    }

    /// `‖v_i‖²` (cached when the cache is built).
    fn comp_norm2(&self, i: usize) -> f32 {
        match self.norms.0.get(i) {
            Some(n) => *n,
            None => norm2(self.comp(i)),
        }
    }

    /// Rebuilds the norm cache unless it covers every component.
    fn ensure_norms(&mut self) {
        if self.norms.0.len() != self.params.k {
            self.norms.0 = (0..self.params.k).map(|i| norm2(self.comp(i))).collect();
        }
    }

    /// Learns `x` (length `dim`; other lengths are ignored and return NaN) and returns its
    /// residual measured before the update.
    pub fn update(&mut self, x: &[f32]) -> f64 {
        if x.len() != self.dim {
            return f64::NAN;
        }
        self.ensure_norms();
        let r = self.deflation_residual(x);
        self.observe_residual(r);
        self.n += 1;
        let n = self.n as f64;
        let inv_n = (1.0 / n) as f32;
        for (m, xi) in self.mean.iter_mut().zip(x) {
            *m += (xi - *m) * inv_n;
        }
        let mut u: Vec<f32> = x.iter().zip(&self.mean).map(|(a, b)| a - b).collect();
        let w1 = ((n - 1.0 - self.params.amnesia) / n).max(0.0);
        let w2 = 1.0 - w1;
        self.total_var = w1 * self.total_var + w2 * f64::from(norm2(&u));
        let d = self.dim;
        for i in 0..self.params.k {
            let v = &mut self.comps[i * d..(i + 1) * d];
            if i == self.initialised {
                let nu = norm2(&u);
                if nu > 0.0 {
                    v.copy_from_slice(&u);
                    self.norms.0[i] = nu;
                    self.initialised += 1;
                }
                break;
            }
            let nv = self.norms.0[i].sqrt();
            if nv <= 0.0 {
                continue;
            }
            let coef = (w2 * f64::from(dot(&u, v)) / f64::from(nv)) as f32;
            for (vi, ui) in v.iter_mut().zip(&u) {
                *vi = w1 as f32 * *vi + coef * ui;
            }
            let nv2 = norm2(v);
            self.norms.0[i] = nv2;
            if nv2 > 0.0 {
                let p = dot(&u, v) / nv2;
                axpy(&mut u, -p, v);
            }
        }
        let ri = self.params.reorth_interval;
        if ri > 0 && self.n.is_multiple_of(ri) {
            self.reorthonormalise();
        }
        r
    }

    /// Residual of `x` by sequential deflation against the current components.
    #[must_use]
    pub fn deflation_residual(&self, x: &[f32]) -> f64 {
        let mut u: Vec<f32> = x.iter().zip(&self.mean).map(|(a, b)| a - b).collect();
        for i in 0..self.initialised {
            let v = self.comp(i);
            let nv2 = self.comp_norm2(i);
            if nv2 > 0.0 {
                let p = dot(&u, v) / nv2;
                axpy(&mut u, -p, v);
            }
        }
        f64::from(norm2(&u)).sqrt()
    }

    fn observe_residual(&mut self, r: f64) {
        if !r.is_finite() {
            return;
        }
        self.n_obs += 1;
        let n = self.n_obs as f64;
        let d = r - self.res_mean;
        if n * self.params.ema_alpha <= 1.0 {
            // Warm-up: exact running mean and population variance (Welford).
            self.res_mean += d / n;
            self.res_var += (d * (r - self.res_mean) - self.res_var) / n;
        } else {
            let a = self.params.ema_alpha;
            self.res_mean += a * d;
            self.res_var = (1.0 - a) * (self.res_var + a * d * d);
        }
    }

    /// Gram-Schmidt on the components in order, each keeping its norm (eigenvalue).
    pub fn reorthonormalise(&mut self) {
        let d = self.dim;
        for i in 0..self.initialised {
            let (done, rest) = self.comps.split_at_mut(i * d);
            let v = &mut rest[..d];
            let lambda = norm2(v).sqrt();
            for j in 0..i {
                let q = &done[j * d..(j + 1) * d];
                let nq2 = norm2(q);
                if nq2 > 0.0 {
                    axpy(v, -dot(v, q) / nq2, q);
                }
            }
            let nv = norm2(v).sqrt();
            if nv > 0.0 {
                crate::algebra::kernel::scale(v, lambda / nv);
            }
        }
        self.norms.0 = (0..self.params.k).map(|i| norm2(self.comp(i))).collect();
    }

    /// The residual threshold (infinite before two residuals were observed).
    #[must_use]
    pub fn threshold(&self) -> f64 {
        if self.n_obs < 2 {
            return f64::INFINITY;
        }
        self.res_mean + self.params.sigma_mult * self.res_var.max(0.0).sqrt()
    }

    /// Mean and variance of the observed residuals.
    #[must_use]
    pub fn residual_stats(&self) -> (f64, f64) {
        (self.res_mean, self.res_var)
    }

    /// Eigenvalue estimates `‖v_i‖` of the initialised components, in component order.
    #[must_use]
    pub fn eigenvalues(&self) -> Vec<f64> {
        (0..self.initialised)
            .map(|i| f64::from(norm2(self.comp(i))).sqrt())
            .collect()
    }

    /// Share of the total variance explained by the components (0 before any variance).
    #[must_use]
    pub fn explained_ratio(&self) -> f64 {
        if self.total_var <= 0.0 {
            return 0.0;
        }
        (self.eigenvalues().iter().sum::<f64>() / self.total_var).min(1.0)
    }

    /// An exact orthonormal snapshot for queries (O(k² D): hold it for repeated queries).
    #[must_use]
    pub fn basis(&self) -> Basis {
        let rows: Vec<&[f32]> = (0..self.initialised).map(|i| self.comp(i)).collect();
        Basis::new(self.mean.clone(), &rows)
    }

    /// Coordinates of `x - μ` in the orthonormal basis.
    #[must_use]
    pub fn project(&self, x: &[f32]) -> Vec<f32> {
        self.basis().project(x)
    }

    /// `μ + Qᵀ Q (x - μ)`: the closest point of the affine subspace.
    #[must_use]
    pub fn reconstruct(&self, x: &[f32]) -> Vec<f32> {
        self.basis().reconstruct(x)
    }

    /// `x - reconstruct(x)`.
    #[must_use]
    pub fn anomalous_component(&self, x: &[f32]) -> Vec<f32> {
        self.basis().anomalous_component(x)
    }

    /// `‖x - reconstruct(x)‖` (exact orthogonal projection).
    #[must_use]
    pub fn residual(&self, x: &[f32]) -> f64 {
        self.basis().residual(x)
    }
}
