//! An orthonormal snapshot of a subspace (mean plus orthonormal rows) for exact queries.

use crate::algebra::kernel::{axpy, dot, norm2};

/// Mean `μ` and orthonormal rows `Q` (k' x D, k' <= k: degenerate components are dropped).
#[derive(Clone, Debug, PartialEq)]
pub struct Basis {
    mean: Vec<f32>,
    q: Vec<f32>,
    k: usize,
}

impl Basis {
    /// Orthonormalises `rows` (modified Gram-Schmidt, in order) around `mean`.
    #[must_use]
    pub fn new(mean: Vec<f32>, rows: &[&[f32]]) -> Self {
        let d = mean.len();
        let mut q: Vec<f32> = Vec::with_capacity(rows.len() * d);
        let mut k = 0;
        for r in rows {
            if r.len() != d {
                continue;
            }
            let mut v = r.to_vec();
            let n0 = norm2(&v).sqrt();
            for _ in 0..2 {
                // Twice is enough (Kahan/Parlett) for orthogonality to working precision.
                for j in 0..k {
                    let qj = &q[j * d..(j + 1) * d];
                    let p = dot(&v, qj);
                    axpy(&mut v, -p, qj);
                }
            }
            let n = norm2(&v).sqrt();
            if n > 1e-4 * n0 && n > 0.0 {
                q.extend(v.iter().map(|x| x / n));
                k += 1;
            }
        }
        Self { mean, q, k }
    }

    /// Dimension.
    #[must_use]
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Number of orthonormal rows.
    #[must_use]
    pub fn k(&self) -> usize {
        self.k
    }

    /// The mean.
    #[must_use]
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// Row `i` of `Q`.
    #[must_use]
    pub fn row(&self, i: usize) -> &[f32] {
        let d = self.dim();
        &self.q[i * d..(i + 1) * d]
    }

    /// `Q (x - μ)`.
    #[must_use]
    pub fn project(&self, x: &[f32]) -> Vec<f32> {
        let c = self.centre(x);
        (0..self.k).map(|i| dot(&c, self.row(i))).collect()
    }

    fn centre(&self, x: &[f32]) -> Vec<f32> {
        x.iter().zip(&self.mean).map(|(a, b)| a - b).collect()
    }

    /// `μ + Qᵀ Q (x - μ)`.
    #[must_use]
    pub fn reconstruct(&self, x: &[f32]) -> Vec<f32> {
        let p = self.project(x);
        let mut out = self.mean.clone();
        for (i, pi) in p.iter().enumerate() {
            axpy(&mut out, *pi, self.row(i));
        }
        out
    }

    /// `(x - μ) - Qᵀ Q (x - μ)`.
    #[must_use]
    pub fn anomalous_component(&self, x: &[f32]) -> Vec<f32> {
        let mut c = self.centre(x);
        for i in 0..self.k {
            let p = dot(&c, self.row(i));
            axpy(&mut c, -p, self.row(i));
        }
        c
    }

    /// `‖anomalous_component(x)‖`.
    #[must_use]
    pub fn residual(&self, x: &[f32]) -> f64 {
        f64::from(norm2(&self.anomalous_component(x))).sqrt()
    }
}
