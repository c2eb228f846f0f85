//! Network layer: IPv4 and IPv6 (with extension headers) through etherparse's header slices.
//!
//! Lengths come from the IP headers, not the captured bytes, so that a snaplen-truncated packet
//! still knows how big it was on the wire. Ethernet trailer padding is cut off by the same rule.
//! (etherparse's `LaxIpSlice` does the same walk but builds a larger value; the plain header
//! slices keep a TCP packet's decode well under 100 ns.)

use super::field::{Layer, Packet, Stopped};
use etherparse::{Ipv4HeaderSlice, Ipv6HeaderSlice};

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
    let walk = walk_ipv6_extensions(h.next_header().0, payload);
    let (next, rest) = (walk.next, walk.rest);
    pkt.proto = Some(next);
    let mut frag_offset = 0;
    if let Some((offset, more)) = walk.fragment {
        frag_offset = offset.saturating_mul(8);
        pkt.frag_offset = Some(frag_offset);
        pkt.frag_more = Some(more);
    }
    if walk.truncated {
        return Err(stop("bad ip extension header"));
    }
    let ext_len = payload.len() - rest.len();
    let wire_len = if plen == 0 {
        rest.len()
    } else {
        plen.saturating_sub(ext_len)
    };
    Ok(Transport {
        proto: next,
        bytes: rest,
        offset: off + 40 + ext_len,
        wire_len: len_u32(wire_len),
        has_header: frag_offset == 0,
    })
}

/// What walking an IPv6 extension header chain found.
struct ExtWalk<'a> {
    /// Protocol after the last extension header.
    next: u8,
    /// Bytes after the last extension header.
    rest: &'a [u8],
    /// Fragment header: offset in 8-byte units and the more-fragments flag.
    fragment: Option<(u16, bool)>,
    /// The chain ran past the captured bytes.
    truncated: bool,
}

/// Walks the extension header chain with checked slicing.
///
/// Written by hand: etherparse 0.21's `Ipv6ExtensionsSlice::from_slice_lax` iterator read past
/// the end of its input on a fuzzed packet (AddressSanitizer heap-buffer-overflow in
/// `Ipv6RawExtHeaderSlice::from_slice_unchecked`; reproducer in fuzz/regressions/link). The
/// chain format is simple (RFC 8200 section 4: next header, length in 8-octet units beyond
/// the first; AH counts 4-octet units beyond the first two), so a few checked lines replace it.
fn walk_ipv6_extensions(first: u8, mut bytes: &[u8]) -> ExtWalk<'_> {
    // Hop-by-hop, routing, fragment, destination options, AH, mobility, HIP, shim6.
    const EXT: [u8; 8] = [0, 43, 44, 60, 51, 135, 139, 140];
    let mut next = first;
    let mut fragment = None;
    // At most one of each in a sane packet; bound the walk so a crafted chain stays cheap.
    for _ in 0..16 {
        if !EXT.contains(&next) {
            break;
        }
        let len = match (next, bytes.get(1)) {
            (44, Some(_)) => 8,
            (51, Some(l)) => (usize::from(*l) + 2) * 4,
            (_, Some(l)) => (usize::from(*l) + 1) * 8,
            (_, None) => 0,
        };
        let (Some(head), Some(tail)) = (bytes.get(..len).filter(|_| len > 0), bytes.get(len..))
        else {
            return ExtWalk {
                next,
                rest: bytes,
                fragment,
                truncated: true,
            };
        };
        if next == 44 {
            let word = u16::from_be_bytes([head[2], head[3]]);
            fragment = Some((word >> 3, word & 1 == 1));
        }
        next = head[0];
        bytes = tail;
    }
    ExtWalk {
        next,
        rest: bytes,
        fragment,
        truncated: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    #[test]
    fn ipv6_extension_chain_is_walked_with_checks() {
        // Hop-by-hop (8 bytes) -> fragment (offset 185 x 8, more) -> UDP.
        let mut b = vec![44, 0, 1, 4, 0, 0, 0, 0];
        b.extend_from_slice(&[17, 0, 0x05, 0xc9, 0, 0, 0, 1]);
        b.extend_from_slice(b"udp");
        let w = walk_ipv6_extensions(0, &b);
        assert_eq!((w.next, w.rest, w.truncated), (17, &b"udp"[..], false));
        assert_eq!(w.fragment, Some((185, true)));
        // AH counts 4-octet units beyond two: length 1 -> 12 bytes.
        let mut ah = vec![6, 1];
        ah.extend_from_slice(&[0; 10]);
        ah.push(0xaa);
        let w = walk_ipv6_extensions(51, &ah);
        assert_eq!((w.next, w.rest), (6, &[0xaa][..]));
        // A header claiming more than was captured stops the walk, never reads past it.
        let w = walk_ipv6_extensions(60, &[6, 200, 0, 0]);
        assert!(w.truncated);
        assert_eq!(w.next, 60);
        assert!(walk_ipv6_extensions(0, &[]).truncated);
        // Not an extension header: nothing to walk.
        let w = walk_ipv6_extensions(6, b"tcp");
        assert_eq!((w.next, w.rest, w.truncated), (6, &b"tcp"[..], false));
    }

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
