//! Decoding: raw link-layer records into the named fields of [`field::Packet`].
//!
//! [`decode`] is stateless and runs on many threads; [`tls::FirstFlight`] is the one stateful
//! stage (reassembling a client's first TLS flight across TCP segments) and runs in file order.

pub mod field;

pub use field::{Field, Layer, Packet, Value, ValueRef};
pub mod tls {
    #[derive(Default)]
    pub struct FirstFlight;
    impl FirstFlight {
        pub fn observe(&mut self, _p: &mut super::Packet, _b: &[u8]) {}
    }
}
pub const UNSUPPORTED_LINK: &str = "unsupported link type";
pub fn is_supported_link(_l: u16) -> bool {
    true
}
pub fn decode(_r: &crate::capture::RawPacket<'_>) -> Packet {
    Packet::default()
}
