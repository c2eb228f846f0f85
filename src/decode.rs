//! Decoding: raw link-layer records into the named fields of [`field::Packet`].
//!
//! [`decode`] is stateless and runs on many threads; [`tls::FirstFlight`] is the one stateful
//! stage (reassembling a client's first TLS flight across TCP segments) and runs in file order.

pub mod field;

pub use field::{Field, Layer, Packet, Value, ValueRef};
