//! The holoscope binary.
fn main() {}
