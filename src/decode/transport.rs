//! Transport layer: TCP and UDP headers via etherparse, ICMP/ICMPv6 type and code.

use super::field::{Layer, Packet, Stopped};
use super::ip::Transport;
use etherparse::{TcpHeaderSlice, UdpHeaderSlice};

/// IP protocol numbers we decode.
pub(crate) const TCP: u8 = 6;
/// UDP.
pub(crate) const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// Decodes the transport header, filling the L4 fields of `pkt`. Returns the captured
/// application payload of TCP and UDP (possibly empty), `None` for other protocols.
pub(crate) fn decode_transport<'a>(
    pkt: &mut Packet,
    t: &Transport<'a>,
) -> Result<Option<&'a [u8]>, Stopped> {
    let stop = |reason| Stopped {
        layer: Layer::L4,
        reason,
    };
    if !t.has_header {
        // Non-first fragment: the bytes are the middle of a datagram, not a header.
        pkt.payload_len = Some(t.wire_len);
        return Ok(None);
    }
    let header_len = match t.proto {
        TCP => match TcpHeaderSlice::from_slice(t.bytes) {
            Ok(h) => {
                pkt.src_port = Some(h.source_port());
                pkt.dst_port = Some(h.destination_port());
                pkt.tcp_seq = Some(h.sequence_number());
                pkt.tcp_window = Some(h.window_size());
                // The flags byte (FIN..CWR) is byte 13; etherparse only offers one bool each.
                pkt.tcp_flags = h.slice().get(13).copied();
                h.slice().len()
            }
            Err(_) => {
                // Options cut by the snaplen still leave the fixed part: keep what it says.
                let data_offset = t.bytes.get(12).map_or(0, |b| usize::from(b >> 4) * 4);
                if t.bytes.len() >= 20 && data_offset >= 20 {
                    tcp_fixed_fields(pkt, t.bytes);
                    pkt.payload_len = Some(t.wire_len.saturating_sub(data_offset as u32));
                    return Err(stop("truncated tcp options"));
                }
                return Err(stop(
                    if data_offset > 0 && data_offset < 20 && t.bytes.len() >= 20 {
                        "bad tcp data offset"
                    } else {
                        "truncated tcp header"
                    },
                ));
            }
        },
        UDP => match UdpHeaderSlice::from_slice(t.bytes) {
            Ok(h) => {
                pkt.src_port = Some(h.source_port());
                pkt.dst_port = Some(h.destination_port());
                8
            }
            Err(_) => return Err(stop("truncated udp header")),
        },
        ICMP | ICMPV6 => {
            // Type and code are the first two bytes; reading them directly also works on
            // captures cut before the 8-byte header ends.
            pkt.icmp_type = t.bytes.first().copied();
            pkt.icmp_code = t.bytes.get(1).copied();
            pkt.payload_len = Some(t.wire_len.saturating_sub(8));
            if t.bytes.len() < 2 {
                return Err(stop("truncated icmp header"));
            }
            return Ok(None);
        }
        _ => {
            pkt.payload_len = Some(t.wire_len);
            return Ok(None);
        }
    };
    let payload_len = t.wire_len.saturating_sub(header_len as u32);
    pkt.payload_len = Some(payload_len);
    let payload = t.bytes.get(header_len..).unwrap_or_default();
    if payload_len > 0 && !payload.is_empty() {
        pkt.payload_offset = u32::try_from(t.offset + header_len).ok();
    }
    Ok(Some(payload))
}

/// The 20-byte fixed TCP header, read by hand only when etherparse refused the full header.
fn tcp_fixed_fields(pkt: &mut Packet, b: &[u8]) {
    let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    pkt.src_port = Some(u16_at(0));
    pkt.dst_port = Some(u16_at(2));
    pkt.tcp_seq = Some(u32::from_be_bytes([b[4], b[5], b[6], b[7]]));
    pkt.tcp_flags = Some(b[13]);
    pkt.tcp_window = Some(u16_at(14));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(proto: u8, bytes: &[u8], wire_len: u32) -> Transport<'_> {
        Transport {
            proto,
            bytes,
            offset: 34,
            wire_len,
            has_header: true,
        }
    }

    #[test]
    fn tcp_with_options_cut_keeps_ports() {
        let mut h = [0u8; 30];
        h[0..2].copy_from_slice(&443u16.to_be_bytes());
        h[2..4].copy_from_slice(&5555u16.to_be_bytes());
        h[12] = 10 << 4; // 40-byte header, only 30 captured
        h[13] = 0x12;
        let mut p = Packet::default();
        let r = decode_transport(&mut p, &t(TCP, &h, 40));
        assert_eq!(r.err().map(|s| s.reason), Some("truncated tcp options"));
        assert_eq!(
            (p.src_port, p.dst_port, p.tcp_flags),
            (Some(443), Some(5555), Some(0x12))
        );
        assert_eq!(p.payload_len, Some(0));
    }

    #[test]
    fn non_first_fragment_has_no_ports() {
        let mut p = Packet::default();
        let tr = Transport {
            has_header: false,
            ..t(UDP, &[0, 53, 0, 53, 0, 0, 0, 0], 800)
        };
        assert_eq!(decode_transport(&mut p, &tr), Ok(None));
        assert_eq!((p.src_port, p.payload_len), (None, Some(800)));
    }

    #[test]
    fn udp_payload_len_from_wire_and_offset() {
        let mut p = Packet::default();
        let b = [0, 1, 0, 123, 0, 56, 0, 0, 0x23, 0];
        let pl = decode_transport(&mut p, &t(UDP, &b, 56));
        assert_eq!(pl.ok().flatten().map(<[u8]>::len), Some(2));
        assert_eq!((p.payload_len, p.payload_offset), (Some(48), Some(42)));
    }
}
