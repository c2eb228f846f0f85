//! `StripedSubspace`: one [`OnlineSubspace`] per stripe of a flat striped vector.
//!
//! The aggregate residual is the root of the sum of squared stripe residuals; the per-stripe
//! residual vector (the *residual profile*) is kept, because its direction tells apart
//! anomalies of equal magnitude.

use super::basis::Basis;
use super::ccipca::{OnlineSubspace, SubspaceParams};
use crate::algebra::schema::Layout;
use serde::{Deserialize, Serialize};

/// Residuals of one vector: aggregate magnitude and per-stripe profile.
#[derive(Clone, Debug, PartialEq)]
pub struct StripedResidual {
    /// `sqrt(Σ profile²)`.
    pub magnitude: f64,
    /// Residual of each stripe.
    pub profile: Vec<f64>,
}

impl StripedResidual {
    fn from_profile(profile: Vec<f64>) -> Self {
        Self {
            magnitude: rss(&profile),
            profile,
        }
    }
}

/// Root of the sum of squares.
#[must_use]
pub fn rss(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// One online subspace per stripe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StripedSubspace {
    layout: Layout,
    stripes: Vec<OnlineSubspace>,
}

impl StripedSubspace {
    /// Empty, with default parameters and `k` components per stripe.
    #[must_use]
    pub fn new(layout: Layout, k: usize) -> Self {
        Self::with_params(layout, SubspaceParams::new(k))
    }

    /// Empty, with explicit parameters.
    #[must_use]
    pub fn with_params(layout: Layout, params: SubspaceParams) -> Self {
        let d = layout.stripe_dim as usize;
        let stripes = (0..layout.stripes)
            .map(|_| OnlineSubspace::with_params(d, params))
            .collect();
        Self { layout, stripes }
    }

    /// The layout.
    #[must_use]
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The subspace of stripe `s`.
    #[must_use]
    pub fn stripe(&self, s: usize) -> Option<&OnlineSubspace> {
        self.stripes.get(s)
    }

    /// All stripe subspaces.
    #[must_use]
    pub fn stripes(&self) -> &[OnlineSubspace] {
        &self.stripes
    }

    /// Learns a flat vector (length `layout.dim()`); residuals are measured before the update.
    pub fn update(&mut self, x: &[f32]) -> StripedResidual {
        let layout = self.layout;
        if x.len() != layout.dim() {
            return StripedResidual {
                magnitude: f64::NAN,
                profile: Vec::new(),
            };
        }
        let profile = self
            .stripes
            .iter_mut()
            .enumerate()
            .map(|(s, sub)| sub.update(&x[layout.range(s)]))
            .collect();
        StripedResidual::from_profile(profile)
    }

    /// Aggregate threshold: root of the sum of squared stripe thresholds.
    #[must_use]
    pub fn threshold(&self) -> f64 {
        self.stripes
            .iter()
            .map(|s| s.threshold().powi(2))
            .sum::<f64>()
            .sqrt()
    }

    /// Exact orthonormal snapshots of every stripe, for queries.
    #[must_use]
    pub fn basis(&self) -> StripedBasis {
        StripedBasis {
            layout: self.layout,
            stripes: self.stripes.iter().map(OnlineSubspace::basis).collect(),
        }
    }
}

/// Orthonormal snapshots of a [`StripedSubspace`].
#[derive(Clone, Debug, PartialEq)]
pub struct StripedBasis {
    layout: Layout,
    stripes: Vec<Basis>,
}

impl StripedBasis {
    /// The layout.
    #[must_use]
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Basis of stripe `s`.
    #[must_use]
    pub fn stripe(&self, s: usize) -> Option<&Basis> {
        self.stripes.get(s)
    }

    /// Per-stripe residuals of a flat vector (empty if the length is wrong).
    #[must_use]
    pub fn residual_profile(&self, x: &[f32]) -> Vec<f64> {
        if x.len() != self.layout.dim() {
            return Vec::new();
        }
        self.stripes
            .iter()
            .enumerate()
            .map(|(s, b)| b.residual(&x[self.layout.range(s)]))
            .collect()
    }

    /// Magnitude and profile.
    #[must_use]
    pub fn residual(&self, x: &[f32]) -> StripedResidual {
        StripedResidual::from_profile(self.residual_profile(x))
    }

    /// Anomalous component of stripe `s` of a flat vector.
    #[must_use]
    pub fn anomalous_component(&self, x: &[f32], s: usize) -> Vec<f32> {
        match (self.stripes.get(s), x.get(self.layout.range(s))) {
            (Some(b), Some(xs)) => b.anomalous_component(xs),
            _ => Vec::new(),
        }
    }
}
