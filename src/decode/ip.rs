//! Network layer: IPv4 and IPv6 (with extension headers) through etherparse's lax IP slice.
//!
//! Lengths come from the IP headers, not the captured bytes, so that a snaplen-truncated packet
//! still knows how big it was on the wire. Ethernet trailer padding is cut off by the same rule.

use super::field::{Packet, Stopped};
use etherparse::{Ipv6ExtensionSlice, LaxIpSlice};

/// What the transport decoder needs from the network layer.
#[derive(Debug)]
pub(crate) struct Transport<'a> {
    /// Transport protocol (after IPv6 extension headers).
    pub proto: u8,
    /// Captured transport bytes, never beyond the IP-declared end.
    pub bytes: &'a [u8],
    /// Offset of `bytes` in the record.
    pub offset: usize,
    /// Transport length on the wire, from the IP header (captured length when the header's
    /// length is zero or absurd, e.g. TSO captures and jumbograms).
    pub wire_len: u32,
    /// False for non-first fragments: their bytes start mid-stream, with no transport header.
    pub has_header: bool,
}

/// Decodes the IP header at `data[off..]`, filling the L3 fields of `pkt`.
pub(crate) fn decode_ip<'a>(
    pkt: &mut Packet,
    data: &'a [u8],
    off: usize,
) -> Result<Transport<'a>, Stopped> {
    let stop = |reason| Stopped {
        layer: super::field::Layer::L3,
        reason,
    };
    let ip_bytes = data.get(off..).unwrap_or_default();
    let (ip, ext_err) = LaxIpSlice::from_slice(ip_bytes).map_err(|e| {
        use etherparse::err::ip::LaxHeaderSliceError as E;
        stop(match e {
            E::Len(_) => "truncated ip header",
            E::Content(_) => "bad ip header",
        })
    })?;
    pkt.src_ip = Some(ip.source_addr());
    pkt.dst_ip = Some(ip.destination_addr());
    // The IP-declared end of the packet, when the header states a usable one.
    let declared_total = match &ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            pkt.ip_version = Some(4);
            pkt.ttl = Some(h.ttl());
            pkt.df = Some(h.dont_fragment());
            pkt.frag_more = Some(h.more_fragments());
            pkt.frag_offset = Some(h.fragments_offset().value().saturating_mul(8));
            pkt.ip_len = Some(u32::from(h.total_len()));
            // TSO captures write total length 0 on outgoing packets.
            let total = usize::from(h.total_len());
            (total >= usize::from(h.ihl()) * 4).then_some(total)
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            pkt.ip_version = Some(6);
            pkt.ttl = Some(h.hop_limit());
            pkt.ip_len = Some(u32::from(h.payload_length()) + 40);
            if !v6.extensions().is_empty() {
                for ext in v6.extensions().clone() {
                    if let Ipv6ExtensionSlice::Fragment(f) = ext {
                        pkt.frag_offset = Some(f.fragment_offset().value().saturating_mul(8));
                        pkt.frag_more = Some(f.more_fragments());
                    }
                }
            }
            // Payload length 0 means a jumbogram (or a broken writer): no usable length.
            (h.payload_length() != 0).then_some(usize::from(h.payload_length()) + 40)
        }
    };
    let payload = ip.payload();
    pkt.proto = Some(payload.ip_number.0);
    if ext_err.is_some() {
        return Err(stop("bad ip extension header"));
    }
    // Header and extension bytes before the transport: the difference of two addresses within
    // the same slice (plain integer arithmetic, nothing is dereferenced).
    let header_len = (payload.payload.as_ptr() as usize).saturating_sub(ip_bytes.as_ptr() as usize);
    let wire_len = declared_total
        .and_then(|t| t.checked_sub(header_len))
        .unwrap_or(payload.payload.len());
    Ok(Transport {
        proto: payload.ip_number.0,
        bytes: payload.payload,
        offset: off + header_len,
        wire_len: u32::try_from(wire_len).unwrap_or(u32::MAX),
        has_header: pkt.frag_offset.unwrap_or(0) == 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    #[test]
    fn ipv4_lengths_come_from_the_header_not_the_capture() {
        let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(1000, 53);
        let mut v = Vec::new();
        b.write(&mut v, &[0u8; 100]).unwrap_or_default();
        let mut p = Packet::default();
        let t = decode_ip(&mut p, &v[..40], 0).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(p.ip_len, Some(128));
        assert_eq!(t.wire_len, 108);
        assert_eq!(t.bytes.len(), 20);
        assert_eq!(t.offset, 20);
        assert_eq!(p.ttl, Some(64));
    }

    #[test]
    fn ipv4_zero_total_length_falls_back_to_capture() {
        // TSO captures write total length 0 on outgoing packets.
        let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(1000, 53);
        let mut v = Vec::new();
        b.write(&mut v, &[0u8; 10]).unwrap_or_default();
        v[2] = 0;
        v[3] = 0;
        let mut p = Packet::default();
        let t = decode_ip(&mut p, &v, 0).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(t.wire_len, 18);
    }

    #[test]
    fn bad_version_stops_at_l3() {
        let mut p = Packet::default();
        let e = decode_ip(&mut p, &[0x15; 30], 0).err();
        assert_eq!(e.map(|s| s.reason), Some("bad ip header"));
    }
}
