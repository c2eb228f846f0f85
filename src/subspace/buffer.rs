//! `ResidualBuffer`: recent residuals of traffic accepted as normal, and thresholds that fuse
//! the buffer's maximum `m` with the subspace's statistical threshold `c`. No hand-tuned
//! constant: both inputs come from the data.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Residuals kept (the last 500 accepted).
pub const DEFAULT_CAPACITY: usize = 500;
/// Residuals needed before a threshold is given.
pub const DEFAULT_MIN: usize = 50;

/// How `m` (buffer max) and `c` (subspace threshold) combine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdStrategy {
    /// Logarithmic mean `(c - m) / ln(c / m)` (default: settled fastest in the published sweep).
    #[default]
    LogMean,
    /// `sqrt(m c)`.
    Geometric,
    /// `(m + c) / 2`.
    Arithmetic,
    /// `(m + c + sqrt(m c)) / 3`.
    Heronian,
    /// Buffer mean + 3 standard deviations (ignores `c`).
    MeanThreeSigma,
}

/// A bounded buffer of accepted residuals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResidualBuffer {
    capacity: usize,
    min: usize,
    values: VecDeque<f64>,
}

impl Default for ResidualBuffer {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY, DEFAULT_MIN)
    }
}

impl ResidualBuffer {
    /// A buffer keeping the last `capacity` residuals, ready after `min`.
    #[must_use]
    pub fn new(capacity: usize, min: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            min: min.clamp(1, capacity),
            values: VecDeque::with_capacity(capacity),
        }
    }

    /// Records the residual of accepted traffic (non-finite values are ignored).
    pub fn push(&mut self, r: f64) {
        if !r.is_finite() {
            return;
        }
        if self.values.len() == self.capacity {
            self.values.pop_front();
        }
        self.values.push_back(r);
    }

    /// Number of residuals held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// True once `min` residuals are held.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.values.len() >= self.min
    }

    /// Largest residual held.
    #[must_use]
    pub fn max(&self) -> Option<f64> {
        self.values.iter().copied().reduce(f64::max)
    }

    /// Mean and population standard deviation.
    #[must_use]
    pub fn mean_std(&self) -> Option<(f64, f64)> {
        if self.values.is_empty() {
            return None;
        }
        let n = self.values.len() as f64;
        let mean = self.values.iter().sum::<f64>() / n;
        let var = self.values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        Some((mean, var.sqrt()))
    }

    /// The threshold for subspace threshold `c`, or `None` before `min` residuals or when `c`
    /// is not finite. Degenerate inputs (`m` or `c` not positive) give the arithmetic mean.
    #[must_use]
    pub fn threshold(&self, strategy: ThresholdStrategy, c: f64) -> Option<f64> {
        if !self.is_ready() {
            return None;
        }
        if strategy == ThresholdStrategy::MeanThreeSigma {
            return self.mean_std().map(|(m, s)| m + 3.0 * s);
        }
        if !c.is_finite() {
            return None;
        }
        let m = self.max()?;
        Some(fuse(strategy, m, c))
    }
}

/// Combines `m` and `c` by a strategy (see [`ThresholdStrategy`]).
#[must_use]
pub fn fuse(strategy: ThresholdStrategy, m: f64, c: f64) -> f64 {
    if m <= 0.0 || c <= 0.0 {
        return (m + c) / 2.0;
    }
    match strategy {
        ThresholdStrategy::LogMean => {
            let l = c.ln() - m.ln();
            if l.abs() < 1e-12 {
                (m + c) / 2.0
            } else {
                (c - m) / l
            }
        }
        ThresholdStrategy::Geometric => (m * c).sqrt(),
        ThresholdStrategy::Arithmetic | ThresholdStrategy::MeanThreeSigma => (m + c) / 2.0,
        ThresholdStrategy::Heronian => (m + c + (m * c).sqrt()) / 3.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_min_and_orders_means() {
        let mut b = ResidualBuffer::new(500, 50);
        for i in 0..49 {
            b.push(f64::from(i));
        }
        assert_eq!(b.threshold(ThresholdStrategy::LogMean, 100.0), None);
        b.push(f64::NAN);
        b.push(10.0);
        assert!(b.is_ready());
        let c = 100.0;
        let t = |s| b.threshold(s, c).unwrap();
        let (g, l, a) = (
            t(ThresholdStrategy::Geometric),
            t(ThresholdStrategy::LogMean),
            t(ThresholdStrategy::Arithmetic),
        );
        // geometric <= logarithmic <= arithmetic for any two positive numbers.
        assert!(g < l && l < a, "{g} {l} {a}");
        assert!((l - (c - 48.0) / (c / 48.0f64).ln()).abs() < 1e-9);
        assert_eq!(b.threshold(ThresholdStrategy::LogMean, f64::INFINITY), None);
        assert!(t(ThresholdStrategy::MeanThreeSigma) > 24.0);
        assert!((fuse(ThresholdStrategy::LogMean, 5.0, 5.0) - 5.0).abs() < 1e-12);
    }

    #[test]
    fn keeps_only_the_last_values() {
        let mut b = ResidualBuffer::new(3, 1);
        for x in [9.0, 1.0, 2.0, 3.0] {
            b.push(x);
        }
        assert_eq!(b.len(), 3);
        assert_eq!(b.max(), Some(3.0));
    }
}
