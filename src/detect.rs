//! Detection and explanation: concentration shifts, drift and floods, protocol-expectation
//! violations, ranked entities and attack waves, from counts alone (no signatures).

pub mod baseline;
pub mod features;
pub mod session;
pub mod beacon;
pub mod shift;
pub mod violations;
