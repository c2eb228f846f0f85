//! Decoding: raw link-layer records into the named fields of [`field::Packet`].
//!
//! [`decode`] is stateless and runs on many threads; [`tls::FirstFlight`] is the one stateful
//! stage (reassembling a client's first TLS flight across TCP segments) and runs in file order.
//!
//! Layers, one file each: `link` (Ethernet, VLAN, MPLS, SLL, loopback, raw IP), `ip`,
//! `transport`, then the application decoders `dns`, `tls`, `http`, `ntp`, chosen by content
//! with port hints. A layer that cannot be read stops decoding, keeps every field read so far
//! and records where and why in [`Packet::stopped`].

pub mod field;

mod dns;
mod http;
mod ip;
mod link;
mod ntp;
pub mod tls;
mod transport;

pub use field::{Field, Layer, Packet, Stopped, Value, ValueRef};
pub use tls::FirstFlight;

use crate::capture::{LinkType, RawPacket};

/// The `Stopped::reason` of records whose link type is not decoded (counted per type and
/// reported as an `unsupported_link_type` warning).
pub const UNSUPPORTED_LINK: &str = "unsupported link type";

/// Link types the decoder understands.
#[must_use]
pub fn is_supported_link(link: u16) -> bool {
    matches!(
        LinkType(link),
        LinkType::ETHERNET
            | LinkType::RAW
            | LinkType::IPV4
            | LinkType::IPV6
            | LinkType::NULL
            | LinkType::LOOP
            | LinkType::LINUX_SLL
            | LinkType::LINUX_SLL2
    )
}

/// Decodes one record. Never fails and never panics: whatever the bytes allow is filled in,
/// and `stopped` says where decoding ended early. Allocates only for application-layer text
/// (DNS names, SNI, HTTP fields).
#[must_use]
pub fn decode(raw: &RawPacket<'_>) -> Packet {
    let mut pkt = Packet {
        ts: raw.ts,
        interface: raw.interface,
        link_type: raw.link.0,
        frame_len: raw.orig_len,
        cap_len: u32::try_from(raw.data.len()).unwrap_or(u32::MAX),
        ..Packet::default()
    };
    if let Err(stopped) = decode_layers(&mut pkt, raw) {
        pkt.stopped = Some(Box::new(stopped));
    }
    pkt
}

fn decode_layers(pkt: &mut Packet, raw: &RawPacket<'_>) -> Result<(), Stopped> {
    let off = match link::decode_link(pkt, raw.link, raw.data) {
        link::L2::Ip(off) => off,
        link::L2::Other => return Ok(()),
        link::L2::Stop(reason) => {
            return Err(Stopped {
                layer: Layer::L2,
                reason,
            });
        }
    };
    let t = ip::decode_ip(pkt, raw.data, off)?;
    if let Some(payload) = transport::decode_transport(pkt, &t)? {
        app(pkt, payload);
    }
    Ok(())
}

/// Application layer, by content with port hints. `payload` is the captured transport payload.
fn app(pkt: &mut Packet, payload: &[u8]) {
    if payload.is_empty() {
        return;
    }
    let wire_len = pkt.payload_len.unwrap_or(0);
    let (sp, dp) = (pkt.src_port.unwrap_or(0), pkt.dst_port.unwrap_or(0));
    let dns_hint = dns::is_dns_port(sp) || dns::is_dns_port(dp);
    match pkt.proto {
        Some(transport::TCP) => {
            if tls::starts_handshake(payload) {
                pkt.tls = tls::from_segment(payload, wire_len).map(Box::new);
            } else if http::starts_with_method(payload) {
                pkt.http = http::parse(payload).map(Box::new);
            } else {
                pkt.dns = dns::parse_tcp(payload, wire_len, dns_hint).map(Box::new);
            }
        }
        Some(transport::UDP) => {
            if sp == 123 || dp == 123 {
                pkt.ntp = ntp::parse(payload, wire_len);
            } else if sp != 137 && dp != 137 {
                // (NetBIOS name service, port 137, uses the DNS wire format but is not DNS.)
                pkt.dns = dns::parse_udp(payload, wire_len, dns_hint).map(Box::new);
            }
        }
        _ => {}
    }
}

/// The captured transport payload of a decoded packet (what [`FirstFlight::observe`] takes):
/// empty when none was captured, never beyond the IP-declared payload length.
#[must_use]
pub fn transport_payload<'a>(pkt: &Packet, data: &'a [u8]) -> &'a [u8] {
    let (Some(off), Some(len)) = (pkt.payload_offset, pkt.payload_len) else {
        return &[];
    };
    let start = off as usize;
    let end = start.saturating_add(len as usize).min(data.len());
    data.get(start..end).unwrap_or_default()
}
