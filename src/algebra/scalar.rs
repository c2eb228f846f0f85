//! Scalar encoders: numbers become vectors whose similarity follows numeric closeness.
//!
//! Every scalar encoder quantises its input to one of `levels` levels, so that the number of
//! distinct filler vectors per field is small and the fast path can cache them. A level vector
//! mixes two atoms `A` and `B` coordinate by coordinate, the coordinates taken in a seeded random
//! order (`permutation`):
//!
//! - linear and log-scale: level t in [0, 1] takes `B` on the first `round(t * D)` coordinates of
//!   the order and `A` elsewhere, so `cos(level(s), level(t)) ~= 1 - |s - t|`: the two ends are
//!   orthogonal, neighbours nearly equal.
//! - circular: phase t in [0, 1) takes `B` on a window of `D / 2` consecutive coordinates of the
//!   order starting at `round(t * D)` (cyclically), so `cos ~= 1 - 2 * circular_distance(s, t)`:
//!   hour 23 is next to hour 0, and an encoder with a one-week period puts the same hour next
//!   week at the same vector.
//!
//! Categorical values need no encoder here: each value is its own atom.

use super::atom::{AtomKind, fill_atom, permutation};
use serde::{Deserialize, Serialize};

/// A quantising scalar encoder.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scalar {
    /// Linear between `lo` and `hi` (clamped).
    Linear {
        /// Value of level 0.
        lo: f64,
        /// Value of the last level.
        hi: f64,
        /// Number of levels (at least 2).
        levels: u32,
    },
    /// `ln(1 + x) / ln(1 + max)`, for sizes, rates and counts spanning orders of magnitude.
    Log {
        /// Value of the last level (larger values clamp).
        max: f64,
        /// Number of levels (at least 2).
        levels: u32,
    },
    /// Periodic: `x mod period`, for time of day (86400 s) or week (604800 s).
    Circular {
        /// The period, in the input's unit.
        period: f64,
        /// Number of phase levels (at least 2).
        levels: u32,
    },
}

impl Scalar {
    /// Number of levels.
    #[must_use]
    pub fn levels(&self) -> u32 {
        match *self {
            Scalar::Linear { levels, .. }
            | Scalar::Log { levels, .. }
            | Scalar::Circular { levels, .. } => levels.max(2),
        }
    }

    /// The level of `x` (NaN maps to level 0).
    #[must_use]
    pub fn level(&self, x: f64) -> u32 {
        let n = self.levels();
        let t = match *self {
            Scalar::Linear { lo, hi, .. } => {
                if hi > lo {
                    (x - lo) / (hi - lo)
                } else {
                    0.0
                }
            }
            Scalar::Log { max, .. } => {
                let den = (max.max(0.0)).ln_1p();
                if den > 0.0 {
                    x.max(0.0).ln_1p() / den
                } else {
                    0.0
                }
            }
            Scalar::Circular { period, .. } => {
                if period > 0.0 {
                    // Circular levels cover [0, 1) with n steps; level n wraps to 0.
                    let phase = x.rem_euclid(period) / period;
                    let l = (phase * f64::from(n)).round() as u32;
                    return if l >= n { 0 } else { l };
                }
                0.0
            }
        };
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        (t * f64::from(n - 1)).round() as u32
    }

    /// The position in [0, 1] (linear, log) or phase in [0, 1) (circular) of a level.
    #[must_use]
    pub fn position(&self, level: u32) -> f64 {
        let n = self.levels();
        let l = f64::from(level.min(n - 1));
        match self {
            Scalar::Circular { .. } => l / f64::from(n),
            _ => l / f64::from(n - 1),
        }
    }

    /// Writes the vector of `level` into `out` (its length is the dimension).
    pub fn fill(&self, seed: u64, kind: AtomKind, level: u32, out: &mut [f32]) {
        let d = out.len();
        let circular = matches!(self, Scalar::Circular { .. });
        let (a, b, order) = if circular {
            (
                &b"scalar:circ_a"[..],
                &b"scalar:circ_b"[..],
                &b"scalar:circ_order"[..],
            )
        } else {
            (&b"scalar:lo"[..], &b"scalar:hi"[..], &b"scalar:order"[..])
        };
        fill_atom(seed, a, kind, out);
        let mut bv = vec![0.0f32; d];
        fill_atom(seed, b, kind, &mut bv);
        let p = permutation(seed, order, d);
        let start = (self.position(level) * d as f64).round() as usize;
        if circular {
            for j in 0..d / 2 {
                let i = p[(start + j) % d] as usize;
                out[i] = bv[i];
            }
        } else {
            for &i in &p[..start.min(d)] {
                out[i as usize] = bv[i as usize];
            }
        }
    }

    /// The vector of the level of `x`.
    #[must_use]
    pub fn encode(&self, seed: u64, kind: AtomKind, x: f64, dim: usize) -> Vec<f32> {
        let mut v = vec![0.0; dim];
        self.fill(seed, kind, self.level(x), &mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::primitives::cosine;

    const D: usize = 4096;

    #[test]
    fn linear_similarity_follows_distance() {
        let s = Scalar::Linear {
            lo: 0.0,
            hi: 100.0,
            levels: 101,
        };
        let v0 = s.encode(1, AtomKind::Bipolar, 0.0, D);
        let v10 = s.encode(1, AtomKind::Bipolar, 10.0, D);
        let v100 = s.encode(1, AtomKind::Bipolar, 100.0, D);
        assert!((cosine(&v0, &v10) - 0.9).abs() < 0.05);
        assert!(cosine(&v0, &v100).abs() < 0.06);
        assert_eq!(s.level(1e9), 100);
        assert_eq!(s.level(f64::NAN), 0);
    }

    #[test]
    fn log_scale_separates_orders_of_magnitude() {
        let s = Scalar::Log {
            max: 65535.0,
            levels: 64,
        };
        let e = |x| s.encode(1, AtomKind::Bipolar, x, D);
        let (a, b, c) = (e(60.0), e(64.0), e(1500.0));
        assert!(cosine(&a, &b) > 0.95);
        assert!(cosine(&a, &c) < cosine(&a, &b) - 0.2);
    }

    #[test]
    fn circular_wraps_and_repeats_weekly() {
        let day = Scalar::Circular {
            period: 86400.0,
            levels: 24,
        };
        let e = |x| day.encode(1, AtomKind::Bipolar, x, D);
        let h23 = e(23.0 * 3600.0);
        let h0 = e(0.0);
        let h12 = e(12.0 * 3600.0);
        assert!(cosine(&h23, &h0) > 0.85);
        assert!(cosine(&h0, &h12).abs() < 0.06);
        let week = Scalar::Circular {
            period: 7.0 * 86400.0,
            levels: 168,
        };
        let t = 3.0 * 86400.0 + 5.0 * 3600.0;
        assert_eq!(week.level(t), week.level(t + 7.0 * 86400.0));
        let w = |x| week.encode(1, AtomKind::Bipolar, x, D);
        assert!(cosine(&w(t), &w(t + 3600.0)) > 0.95);
    }
}
