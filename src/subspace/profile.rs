//! The residual profile as two signals: magnitude, and direction judged by a tiny profile
//! subspace (dim = number of stripes, k = 1) learned on normal traffic.
//!
//! `alignment = 1 - profile_residual / ‖profile‖`: 1 when the pattern of stripe residuals is a
//! familiar one, 0 when it is entirely new. A rare-but-benign client and a scanner can have the
//! same magnitude; they rarely have the same direction.

use super::ccipca::OnlineSubspace;
use serde::{Deserialize, Serialize};

/// Magnitude and directional familiarity of a residual profile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProfileSignals {
    /// `‖profile‖` (the aggregate residual).
    pub magnitude: f64,
    /// `1 - residual / ‖profile‖` in [0, 1]; 0 before the judge has learned anything.
    pub alignment: f64,
}

/// Learns the normal direction of residual profiles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileJudge {
    subspace: OnlineSubspace,
}

impl ProfileJudge {
    /// A judge for profiles of `stripes` stripes (k = 1).
    #[must_use]
    pub fn new(stripes: usize) -> Self {
        Self {
            subspace: OnlineSubspace::new(stripes, 1),
        }
    }

    /// The profile subspace.
    #[must_use]
    pub fn subspace(&self) -> &OnlineSubspace {
        &self.subspace
    }

    /// Learns the profile of traffic accepted as normal.
    pub fn learn(&mut self, profile: &[f64]) {
        let v: Vec<f32> = profile.iter().map(|x| *x as f32).collect();
        self.subspace.update(&v);
    }

    /// Magnitude and alignment of a profile.
    #[must_use]
    pub fn judge(&self, profile: &[f64]) -> ProfileSignals {
        let magnitude = super::striped::rss(profile);
        if self.subspace.n() == 0 || magnitude <= 0.0 {
            return ProfileSignals {
                magnitude,
                alignment: 0.0,
            };
        }
        let v: Vec<f32> = profile.iter().map(|x| *x as f32).collect();
        let r = self.subspace.residual(&v);
        ProfileSignals {
            magnitude,
            alignment: (1.0 - r / magnitude).clamp(0.0, 1.0),
        }
    }
}
