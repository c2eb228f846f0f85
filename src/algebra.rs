//! The vector-symbolic core: atoms, primitives, scalar and structural encoders, accumulators.
//!
//! Packets become high-dimensional vectors by role-filler binding ([`encoder`]); traffic is
//! summarised in decaying float accumulators ([`accumulator`], [`leaf`]). The module knows
//! nothing of packets beyond the field schema.

pub mod accumulator;
pub mod atom;
pub mod encoder;
pub mod kernel;
pub mod leaf;
pub mod parallel;
pub mod primitives;
pub mod scalar;
pub mod schema;
pub mod serde_vec;
pub mod synth;

pub use accumulator::Accumulator;
pub use atom::{AtomKind, Codebook};
pub use encoder::PacketEncoder;
pub use leaf::{LeafAccumulator, LeafId, LeafSet, LeafTable};
pub use scalar::Scalar;
pub use schema::{FieldEncoder, Filler, Layout, Schema};
