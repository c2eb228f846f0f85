//! Learned normal behaviour: online PCA subspaces (CCIPCA), striped per stripe of the packet
//! vector, residual profiles, residual-derived thresholds, attribution and engrams.

pub mod attribution;
pub mod basis;
pub mod buffer;
pub mod ccipca;
pub mod engram;
pub mod fast;
pub mod profile;
pub mod striped;

pub use attribution::{Attribution, attribute};
pub use basis::Basis;
pub use buffer::{ResidualBuffer, ThresholdStrategy};
pub use ccipca::{OnlineSubspace, SubspaceParams};
pub use engram::{Engram, EngramError};
pub use fast::FastScorer;
pub use profile::{ProfileJudge, ProfileSignals};
pub use striped::{StripedBasis, StripedResidual, StripedSubspace};
