//! DNS over UDP and TCP: header, first question, answer count.
//!
//! The header and the first question are read by hand, leniently, because simple-dns 0.13 only
//! parses whole messages (no public question parser), refuses unknown QTYPEs, and a
//! snaplen-truncated response must still give its id and qname. simple-dns still decides, as a
//! strict full parse, whether a payload on a port that is not a DNS port is DNS at all.

use super::field::Dns;
use crate::text::Untrusted;

/// Ports that make a payload worth a lenient DNS reading (DNS, mDNS, LLMNR).
pub(crate) fn is_dns_port(port: u16) -> bool {
    matches!(port, 53 | 5353 | 5355)
}

/// Compression pointers followed per name (real names need one or two).
const MAX_HOPS: usize = 16;
/// RFC 1035 limit on a name in wire form.
const MAX_NAME: usize = 255;

/// DNS in a UDP payload. `wire_len` is the UDP payload length on the wire; `hinted` says a
/// port is 53/5353/5355.
pub(crate) fn parse_udp(payload: &[u8], wire_len: u32, hinted: bool) -> Option<Dns> {
    parse_message(payload, wire_len, hinted)
}

/// DNS in a TCP segment: a 2-byte length prefix, then the message (only the first message of
/// the segment is read).
pub(crate) fn parse_tcp(payload: &[u8], wire_len: u32, hinted: bool) -> Option<Dns> {
    let prefix = u32::from(u16::from_be_bytes([*payload.first()?, *payload.get(1)?]));
    let available = wire_len.checked_sub(2)?;
    // Off a DNS port the prefix must agree with the segment exactly.
    if prefix < 12 || (!hinted && prefix != available) {
        return None;
    }
    let msg_len = prefix.min(available);
    let end = payload.len().min(2 + msg_len as usize);
    parse_message(payload.get(2..end)?, msg_len, hinted)
}

fn parse_message(msg: &[u8], wire_len: u32, hinted: bool) -> Option<Dns> {
    let h = msg.get(..12)?;
    let be = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    let (id, flags) = (be(0), be(2));
    let (qd, an, ns, ar) = (be(4), be(6), be(8), be(10));
    let qr = flags & 0x8000 != 0;
    let opcode = ((flags >> 11) & 0xf) as u8;
    // Opcodes in use: query, iquery, status, notify, update, DSO.
    if !matches!(opcode, 0 | 1 | 2 | 4 | 5 | 6) {
        return None;
    }
    // Responses without a question are normal in mDNS and zone transfers; queries need one.
    let records = u32::from(an) + u32::from(ns) + u32::from(ar);
    if qd == 0 && !(hinted && qr && records > 0) {
        return None;
    }
    // Every question takes at least 5 bytes and every record at least 11: counts that cannot
    // fit the wire length are not DNS (and would make simple-dns reserve absurd vectors).
    let min_len = 12 + 5 * u32::from(qd) + 11 * records;
    if min_len > wire_len || qd > 32 {
        return None;
    }
    let truncated = (msg.len() as u64) < u64::from(wire_len);
    let mut dns = Dns {
        id,
        qr,
        opcode,
        rcode: (flags & 0xf) as u8,
        qname: None,
        qtype: None,
        answers: an,
        size: wire_len,
    };
    if qd > 0 {
        let mut name = [0u8; MAX_NAME];
        match read_name(msg, 12, &mut name) {
            Ok((len, end)) => {
                dns.qname = Some(Untrusted::new(name.get(..len).unwrap_or(b".")));
                dns.qtype = msg
                    .get(end..end + 2)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]));
                if dns.qtype.is_none() && !truncated {
                    return None;
                }
            }
            // Cut by the snaplen inside the question: keep the header.
            Err(NameError::Truncated) if truncated => {}
            Err(_) => return None,
        }
    }
    if !hinted {
        // Off a DNS port only a complete, strictly valid message counts.
        let strict =
            !truncated && flags & 0x0040 == 0 && qd > 0 && simple_dns::Packet::parse(msg).is_ok();
        if !strict {
            return None;
        }
    }
    Some(dns)
}

#[derive(Debug, PartialEq, Eq)]
enum NameError {
    /// The captured bytes end inside the name.
    Truncated,
    /// Not a valid name (bad label type, loop, too long).
    Invalid,
}

/// Reads a (possibly compressed) name at `start` into `out` (the stack, not the heap: DNS is
/// most packets of some captures, and this ran once per packet): the length of its dotted form
/// (`.` for the root) and the offset just after the name at its original position. A name of
/// at most [`MAX_NAME`] wire bytes has at most `MAX_NAME - 1` dotted bytes, so `out` holds it.
fn read_name(
    msg: &[u8],
    start: usize,
    out: &mut [u8; MAX_NAME],
) -> Result<(usize, usize), NameError> {
    let mut n = 0usize;
    let mut pos = start;
    let mut end = None;
    let mut hops = 0;
    let mut wire = 0usize;
    loop {
        let len = *msg.get(pos).ok_or(NameError::Truncated)?;
        match len & 0xc0 {
            0x00 if len == 0 => break,
            0x00 => {
                let label = msg
                    .get(pos + 1..pos + 1 + usize::from(len))
                    .ok_or(NameError::Truncated)?;
                wire += 1 + label.len();
                if wire > MAX_NAME {
                    return Err(NameError::Invalid);
                }
                if n > 0 {
                    *out.get_mut(n).ok_or(NameError::Invalid)? = b'.';
                    n += 1;
                }
                out.get_mut(n..n + label.len())
                    .ok_or(NameError::Invalid)?
                    .copy_from_slice(label);
                n += label.len();
                pos += 1 + label.len();
            }
            0xc0 => {
                let lo = *msg.get(pos + 1).ok_or(NameError::Truncated)?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, lo]));
                hops += 1;
                // Pointers must go backwards (and not into the header): no loops possible.
                if hops > MAX_HOPS || target >= pos || target < 12 {
                    return Err(NameError::Invalid);
                }
                end.get_or_insert(pos + 2);
                pos = target;
            }
            _ => return Err(NameError::Invalid),
        }
    }
    if n == 0 {
        out[0] = b'.';
        n = 1;
    }
    Ok((n, end.unwrap_or(pos + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::{
        CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, ResourceRecord, TYPE,
        rdata::RData,
    };

    fn query(id: u16, name: &str) -> Vec<u8> {
        let mut p = Packet::new_query(id);
        p.set_flags(PacketFlag::RECURSION_DESIRED);
        let n = Name::new_unchecked(name);
        p.questions.push(Question::new(
            n,
            QTYPE::TYPE(TYPE::A),
            QCLASS::CLASS(CLASS::IN),
            false,
        ));
        p.build_bytes_vec().unwrap_or_default()
    }

    fn response(id: u16, name: &str) -> Vec<u8> {
        let mut p = Packet::new_reply(id);
        let n = Name::new_unchecked(name);
        p.questions.push(Question::new(
            n.clone(),
            QTYPE::TYPE(TYPE::A),
            QCLASS::CLASS(CLASS::IN),
            false,
        ));
        for i in 0..4u8 {
            let a = RData::A(simple_dns::rdata::A {
                address: u32::from_be_bytes([10, 0, 0, i]),
            });
            p.answers
                .push(ResourceRecord::new(n.clone(), CLASS::IN, 60, a));
        }
        p.build_bytes_vec_compressed().unwrap_or_default()
    }

    #[test]
    fn query_fields() {
        let q = query(0x1234, "www.example.com");
        let d = parse_udp(&q, q.len() as u32, true).unwrap_or_default();
        assert_eq!((d.id, d.qr, d.opcode, d.rcode), (0x1234, false, 0, 0));
        assert_eq!(d.qname, Some(Untrusted::new(b"www.example.com")));
        assert_eq!((d.qtype, d.answers, d.size), (Some(1), 0, q.len() as u32));
        // A valid message also counts on any port.
        assert!(parse_udp(&q, q.len() as u32, false).is_some());
    }

    #[test]
    fn truncated_response_keeps_id_and_qname() {
        let r = response(7, "a.example.org");
        let cut = &r[..40];
        let d = parse_udp(cut, r.len() as u32, true).unwrap_or_default();
        assert_eq!((d.id, d.qr, d.answers), (7, true, 4));
        assert_eq!(d.qname, Some(Untrusted::new(b"a.example.org")));
        // Off the DNS ports a truncated message is not trusted.
        assert_eq!(parse_udp(cut, r.len() as u32, false), None);
    }

    #[test]
    fn garbage_on_port_53_is_not_dns() {
        let g = b"\x17\x03\x03\x00\x40hello this is not dns at all, just some bytes....";
        assert_eq!(parse_udp(g, g.len() as u32, true), None);
        let zeros = [0u8; 40];
        assert_eq!(parse_udp(&zeros, 40, true), None);
        // Plausible header but a label type 0x40 in the question.
        let mut bad = query(1, "x.y").clone();
        bad[12] = 0x41;
        assert_eq!(parse_udp(&bad, bad.len() as u32, true), None);
    }

    #[test]
    fn tcp_length_prefix() {
        let q = query(9, "example.net");
        let mut seg = (q.len() as u16).to_be_bytes().to_vec();
        seg.extend_from_slice(&q);
        let d = parse_tcp(&seg, seg.len() as u32, true).unwrap_or_default();
        assert_eq!((d.id, d.size), (9, q.len() as u32));
        assert_eq!(d.qname, Some(Untrusted::new(b"example.net")));
    }

    #[test]
    fn longest_names_fit_and_longer_ones_are_refused() {
        // 4 labels of 63 bytes + 3 bytes: 254 wire bytes with the lengths, then the root.
        let mut m = vec![0u8; 12];
        for len in [63u8, 63, 63, 62] {
            m.push(len);
            m.extend(std::iter::repeat_n(b'a', usize::from(len)));
        }
        m.push(0);
        let mut out = [0; MAX_NAME];
        let (n, end) = read_name(&m, 12, &mut out).unwrap();
        assert_eq!((n, end), (254, m.len()));
        assert_eq!(out[63], b'.');
        // One more byte is past RFC 1035's 255.
        m[12 + 64 * 3] = 63;
        m.insert(12 + 64 * 3 + 1, b'a');
        assert_eq!(read_name(&m, 12, &mut out), Err(NameError::Invalid));
        assert_eq!(read_name(&[0; 13], 12, &mut out), Ok((1, 13)));
        assert_eq!(out[0], b'.');
    }

    #[test]
    fn pointer_loops_are_rejected() {
        let mut m = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(
            read_name(&m, 12, &mut [0; MAX_NAME]),
            Err(NameError::Invalid)
        );
    }
}
