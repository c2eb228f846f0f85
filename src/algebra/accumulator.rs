//! A decaying float accumulator of vectors: frequencies survive because nothing is thresholded
//! on update (thresholding a prototype after each update destroys them).
//!
//! Sums are `f64` so that millions of additions stay exact (integer-valued sums are exact up to
//! 2^53). Merging is plain addition: accumulators of the shards of a capture sum to the
//! accumulator of the whole, bit for bit when the weights are integers and shards are merged
//! in a fixed order.

use super::kernel::axpy_f64;
use serde::{Deserialize, Serialize};

/// The per-step factor that halves a weight after `half_life` steps: `0.5^(1 / half_life)`.
#[must_use]
pub fn half_life_factor(half_life: f64) -> f64 {
    if half_life > 0.0 {
        0.5f64.powf(1.0 / half_life)
    } else {
        0.0
    }
}

/// Float sums of added vectors plus a count and a total weight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accumulator {
    #[serde(with = "super::serde_vec::f64s")]
    sums: Vec<f64>,
    count: u64,
    weight: f64,
}

impl Accumulator {
    /// An empty accumulator of dimension `dim`.
    #[must_use]
    pub fn new(dim: usize) -> Self {
        Self {
            sums: vec![0.0; dim],
            count: 0,
            weight: 0.0,
        }
    }

    /// Builds one from raw sums (used when materialising leaf accumulators).
    #[must_use]
    pub fn from_parts(sums: Vec<f64>, count: u64, weight: f64) -> Self {
        Self {
            sums,
            count,
            weight,
        }
    }

    /// Dimension.
    #[must_use]
    pub fn dim(&self) -> usize {
        self.sums.len()
    }

    /// Number of vectors added (merges add counts; decay does not change it).
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Total (decayed) weight.
    #[must_use]
    pub fn weight(&self) -> f64 {
        self.weight
    }

    /// The raw sums.
    #[must_use]
    pub fn sums(&self) -> &[f64] {
        &self.sums
    }

    /// Adds a vector with weight 1.
    pub fn add(&mut self, v: &[f32]) {
        self.add_weighted(v, 1.0);
    }

    /// Adds `w * v`.
    pub fn add_weighted(&mut self, v: &[f32], w: f64) {
        axpy_f64(&mut self.sums, w, v);
        self.count += 1;
        self.weight += w;
    }

    /// Multiplies everything by `factor` (in [0, 1] to forget).
    pub fn decay(&mut self, factor: f64) {
        for s in &mut self.sums {
            *s *= factor;
        }
        self.weight *= factor;
    }

    /// Decays by `steps` steps of a process with the given half-life (in steps).
    pub fn decay_steps(&mut self, steps: f64, half_life: f64) {
        self.decay(half_life_factor(half_life).powf(steps));
    }

    /// Adds another accumulator (same dimension; extra coordinates are ignored).
    pub fn merge(&mut self, other: &Accumulator) {
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            *a += b;
        }
        self.count += other.count;
        self.weight += other.weight;
    }

    /// Unit-norm `f32` copy for queries (zero stays zero).
    #[must_use]
    pub fn normalized(&self) -> Vec<f32> {
        let n = self.sums.iter().map(|x| x * x).sum::<f64>().sqrt();
        let inv = if n > 0.0 { 1.0 / n } else { 0.0 };
        self.sums.iter().map(|x| (x * inv) as f32).collect()
    }

    /// The mean vector (sums / weight).
    #[must_use]
    pub fn mean(&self) -> Vec<f32> {
        let inv = if self.weight > 0.0 {
            1.0 / self.weight
        } else {
            0.0
        };
        self.sums.iter().map(|x| (x * inv) as f32).collect()
    }

    /// Thresholded copy (sign of each sum), where a bipolar prototype is wanted.
    #[must_use]
    pub fn sign(&self) -> Vec<f32> {
        self.sums
            .iter()
            .map(|x| {
                if *x > 0.0 {
                    1.0
                } else if *x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Cosine between the accumulated direction and `v`.
    #[must_use]
    pub fn cosine(&self, v: &[f32]) -> f64 {
        let (mut d, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
        for (a, b) in self.sums.iter().zip(v) {
            let b = f64::from(*b);
            d += a * b;
            na += a * a;
            nb += b * b;
        }
        let den = (na * nb).sqrt();
        if den > 0.0 { d / den } else { 0.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_halves_at_the_half_life() {
        let mut a = Accumulator::new(4);
        a.add(&[2.0, 0.0, -2.0, 1.0]);
        a.decay_steps(100.0, 100.0);
        assert!((a.sums()[0] - 1.0).abs() < 1e-12);
        assert!((a.weight() - 0.5).abs() < 1e-12);
        let f = half_life_factor(1000.0);
        assert!((f.powi(1000) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn frequency_survives_and_sign_thresholds() {
        let mut a = Accumulator::new(2);
        for _ in 0..3 {
            a.add(&[1.0, -1.0]);
        }
        a.add(&[-1.0, 1.0]);
        assert_eq!(a.sums(), &[2.0, -2.0]);
        assert_eq!(a.sign(), vec![1.0, -1.0]);
        assert_eq!(a.mean(), vec![0.5, -0.5]);
        assert!((a.cosine(&[1.0, -1.0]) - 1.0).abs() < 1e-12);
        assert_eq!(a.count(), 4);
    }
}
