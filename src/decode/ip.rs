//! Network layer: IPv4 and IPv6 (with extension headers) through etherparse's header slices.
//!
//! Lengths come from the IP headers, not the captured bytes, so that a snaplen-truncated packet
//! still knows how big it was on the wire. Ethernet trailer padding is cut off by the same rule.
//! (etherparse's `LaxIpSlice` does the same walk but builds a larger value; the plain header
//! slices keep a TCP packet's decode well under 100 ns.)

use super::field::{Layer, Packet, Stopped};
use etherparse::{Ipv4HeaderSlice, Ipv6ExtensionSlice, Ipv6ExtensionsSlice, Ipv6HeaderSlice};

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

fn stop(reason: &'static str) -> Stopped {
    Stopped {
        layer: Layer::L3,
        reason,
    }
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Decodes the IP header at `data[off..]`, filling the L3 fields of `pkt`.
pub(crate) fn decode_ip<'a>(
    pkt: &mut Packet,
    data: &'a [u8],
    off: usize,
) -> Result<Transport<'a>, Stopped> {
    let bytes = data.get(off..).unwrap_or_default();
    match bytes.first().map(|b| b >> 4) {
        Some(4) => ipv4(pkt, bytes, off),
        Some(6) => ipv6(pkt, bytes, off),
        Some(_) => Err(stop("bad ip version")),
        None => Err(stop("truncated ip header")),
    }
}

fn ipv4<'a>(pkt: &mut Packet, bytes: &'a [u8], off: usize) -> Result<Transport<'a>, Stopped> {
    let h = Ipv4HeaderSlice::from_slice(bytes).map_err(|e| {
        use etherparse::err::ipv4::HeaderSliceError as E;
        stop(match e {
            E::Len(_) => "truncated ip header",
            E::Content(_) => "bad ip header",
        })
    })?;
    pkt.ip_version = Some(4);
    pkt.src_ip = Some(h.source_addr().into());
    pkt.dst_ip = Some(h.destination_addr().into());
    pkt.ttl = Some(h.ttl());
    pkt.df = Some(h.dont_fragment());
    pkt.frag_more = Some(h.more_fragments());
    let frag_offset = h.fragments_offset().value().saturating_mul(8);
    pkt.frag_offset = Some(frag_offset);
    pkt.ip_len = Some(u32::from(h.total_len()));
    // An IPsec AH header is reported as protocol 51, not walked: rare, and never a port.
    let proto = h.protocol().0;
    pkt.proto = Some(proto);
    let header_len = h.slice().len();
    let total = usize::from(h.total_len());
    // TSO captures write total length 0 on outgoing packets: fall back to the capture.
    let (end, wire_len) = if total >= header_len {
        (total.min(bytes.len()), total - header_len)
    } else {
        (bytes.len(), bytes.len() - header_len)
    };
    Ok(Transport {
        proto,
        bytes: bytes.get(header_len..end).unwrap_or_default(),
        offset: off + header_len,
        wire_len: len_u32(wire_len),
        has_header: frag_offset == 0,
    })
}

fn ipv6<'a>(pkt: &mut Packet, bytes: &'a [u8], off: usize) -> Result<Transport<'a>, Stopped> {
    let h = Ipv6HeaderSlice::from_slice(bytes).map_err(|e| {
        use etherparse::err::ipv6::HeaderSliceError as E;
        stop(match e {
            E::Len(_) => "truncated ip header",
            E::Content(_) => "bad ip header",
        })
    })?;
    pkt.ip_version = Some(6);
    pkt.src_ip = Some(h.source_addr().into());
    pkt.dst_ip = Some(h.destination_addr().into());
    pkt.ttl = Some(h.hop_limit());
    let plen = usize::from(h.payload_length());
    pkt.ip_len = Some(len_u32(plen + 40));
    // Payload length 0 means a jumbogram (or a broken writer): use what was captured.
    let end = if plen == 0 {
        bytes.len()
    } else {
        (40 + plen).min(bytes.len())
    };
    let payload = bytes.get(40..end).unwrap_or_default();
    let (exts, next, rest, err) = Ipv6ExtensionsSlice::from_slice_lax(h.next_header(), payload);
    pkt.proto = Some(next.0);
    let mut frag_offset = 0;
    if !exts.is_empty() {
        for ext in exts {
            if let Ipv6ExtensionSlice::Fragment(f) = ext {
                frag_offset = f.fragment_offset().value().saturating_mul(8);
                pkt.frag_offset = Some(frag_offset);
                pkt.frag_more = Some(f.more_fragments());
            }
        }
    }
    if err.is_some() {
        return Err(stop("bad ip extension header"));
    }
    let ext_len = payload.len() - rest.len();
    let wire_len = if plen == 0 {
        rest.len()
    } else {
        plen.saturating_sub(ext_len)
    };
    Ok(Transport {
        proto: next.0,
        bytes: rest,
        offset: off + 40 + ext_len,
        wire_len: len_u32(wire_len),
        has_header: frag_offset == 0,
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
        assert_eq!(e.map(|s| s.reason), Some("bad ip version"));
    }
}
