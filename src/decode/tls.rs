//! TLS ClientHello: SNI and ALPN via tls-parser, plus first-flight reassembly
//! ([`FirstFlight`], in `tls/flight.rs`) for hellos that span several TCP segments.
//!
//! The record and handshake headers (5 + 4 bytes) are read by hand to know how many bytes the
//! hello needs before anything is parsed; tls-parser then parses the complete ClientHello body
//! and the SNI/ALPN extension contents. Only when the hello is cut (snaplen, lost segments) or
//! rejected by tls-parser does a lenient hand walk recover what the bytes still hold.

use super::field::Tls;
use crate::text::Untrusted;
use tls_parser::{SNIType, TlsExtension};

mod flight;

pub use flight::{FirstFlight, FlightStats};

/// Largest ClientHello we reassemble or parse (handshake bytes, records included).
pub const MAX_HELLO: usize = 16 * 1024;

/// What a buffer starting with a TLS record holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Hello {
    /// A complete ClientHello.
    Complete(Tls),
    /// A ClientHello whose end is not in the buffer yet: `needed` bytes in total.
    NeedMore {
        /// Total bytes (records and headers) the hello needs.
        needed: usize,
    },
    /// A ClientHello that can never be parsed (too large, broken records).
    Broken,
    /// Not a TLS handshake record carrying a ClientHello.
    Other,
}

/// Cheap test for "starts a TLS handshake record" (content type 22, version 3.x).
pub(crate) fn starts_handshake(payload: &[u8]) -> bool {
    matches!(payload, [0x16, 0x03, minor, ..] if *minor <= 4)
}

/// Record header: (payload length) when `b` starts with a handshake record header.
fn record_len(b: &[u8]) -> Option<usize> {
    match b {
        [0x16, 0x03, _, hi, lo, ..] => Some(usize::from(u16::from_be_bytes([*hi, *lo]))),
        _ => None,
    }
}

/// Examines a buffer that starts with a TLS record and extracts the ClientHello if complete.
pub(crate) fn client_hello(buf: &[u8]) -> Hello {
    let Some(first_len) = record_len(buf) else {
        return Hello::Other;
    };
    // The handshake header is the first 4 bytes of the first record's payload.
    let (Some(&msg_type), Some(len3)) = (buf.get(5), buf.get(6..9)) else {
        // Too short to tell; a segment this small starting a record is odd but possible.
        return if buf.len() < 9 {
            Hello::NeedMore { needed: 9 }
        } else {
            Hello::Other
        };
    };
    if msg_type != 1 {
        return Hello::Other;
    }
    let hs_len = usize::from(len3[0]) << 16 | usize::from(len3[1]) << 8 | usize::from(len3[2]);
    if first_len == 0 || hs_len + 4 > MAX_HELLO || first_len > MAX_HELLO + 2048 {
        return Hello::Broken;
    }
    if first_len >= hs_len + 4 {
        // Common case: the whole message sits in the first record; no copy.
        return match buf.get(9..9 + hs_len) {
            Some(body) => Hello::Complete(parse_body(body)),
            None => Hello::NeedMore { needed: 9 + hs_len },
        };
    }
    // The message is fragmented over several records: concatenate their payloads.
    let mut msg = Vec::with_capacity(hs_len + 4);
    let mut rest = buf;
    let mut needed = 0;
    while msg.len() < hs_len + 4 {
        let Some(len) = record_len(rest) else {
            return if rest.len() < 5 {
                Hello::NeedMore { needed: needed + 5 }
            } else {
                Hello::Broken
            };
        };
        if len == 0 {
            return Hello::Broken;
        }
        needed += 5 + len;
        let Some(payload) = rest.get(5..5 + len) else {
            return Hello::NeedMore { needed };
        };
        msg.extend_from_slice(payload);
        rest = &rest[5 + len..];
    }
    msg.get(4..4 + hs_len)
        .map_or(Hello::Broken, |body| Hello::Complete(parse_body(body)))
}

/// A complete ClientHello body (after the 4-byte handshake header).
fn parse_body(body: &[u8]) -> Tls {
    match tls_parser::parse_tls_handshake_client_hello(body) {
        Ok((_, hello)) => {
            let mut tls = Tls::default();
            if let Some(ext) = hello.ext {
                read_extensions(ext, &mut tls);
            }
            tls
        }
        Err(_) => Tls {
            incomplete: true,
            ..partial_body(body)
        },
    }
}

/// Best effort on a hello that is cut or malformed: walks the fixed part by hand and reads
/// whatever extensions are complete. Always marks the result `incomplete`.
pub(crate) fn partial(buf: &[u8]) -> Tls {
    // Only the first record's payload is walked: enough for a hello cut by the snaplen.
    let body = buf.get(9..).unwrap_or_default();
    let body = match record_len(buf) {
        Some(len) => body.get(..len.saturating_sub(4)).unwrap_or(body),
        None => body,
    };
    Tls {
        incomplete: true,
        ..partial_body(body)
    }
}

fn partial_body(body: &[u8]) -> Tls {
    let mut tls = Tls {
        incomplete: true,
        ..Tls::default()
    };
    // version (2), random (32), then session id <1>, cipher suites <2>, compression <1>.
    let mut pos = 34;
    for width in [1usize, 2, 1] {
        let Some(len) = body.get(pos..pos + width) else {
            return tls;
        };
        let len = len.iter().fold(0usize, |acc, &b| acc << 8 | usize::from(b));
        pos += width + len;
    }
    if let Some(ext) = body.get(pos + 2..) {
        read_extensions(ext, &mut tls);
    }
    tls
}

/// Reads SNI (type 0) and ALPN (type 16) from an extension block, stopping at the first
/// extension that is not complete. Other extensions are skipped without being parsed.
fn read_extensions(mut ext: &[u8], tls: &mut Tls) {
    while let [t0, t1, l0, l1, rest @ ..] = ext {
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        let Some(data) = rest.get(..len) else { return };
        match u16::from_be_bytes([*t0, *t1]) {
            0 => {
                if let Ok((_, TlsExtension::SNI(names))) =
                    tls_parser::parse_tls_extension_sni_content(data)
                {
                    tls.sni = names
                        .iter()
                        .find(|(t, _)| *t == SNIType::HostName)
                        .map(|(_, n)| Untrusted::new(n));
                }
            }
            16 => {
                if let Ok((_, TlsExtension::ALPN(protos))) =
                    tls_parser::parse_tls_extension_alpn_content(data)
                {
                    tls.alpn = Some(Untrusted::new(&protos.join(&b","[..])));
                }
            }
            _ => {}
        }
        ext = &rest[len..];
    }
}

/// The ClientHello in one captured segment, as `decode` sees it. `wire_len` is the segment's
/// payload length on the wire. A hello that needs more bytes than the segment carries on the
/// wire is left to [`FirstFlight`]; one cut only by the snaplen is reported `incomplete` now,
/// since no later segment can bring the missing bytes.
pub(crate) fn from_segment(payload: &[u8], wire_len: u32) -> Option<Tls> {
    match client_hello(payload) {
        Hello::Complete(tls) => Some(tls),
        Hello::Broken => Some(partial(payload)),
        Hello::NeedMore { .. } if (payload.len() as u64) < u64::from(wire_len) => {
            Some(partial(payload))
        }
        Hello::NeedMore { .. } | Hello::Other => None,
    }
}

/// Builds a ClientHello record with the given SNI and ALPN list and `pad` bytes of padding
/// extension (to make it span segments). Test helper, shared with `flight.rs`.
#[cfg(test)]
pub(crate) fn test_hello(sni: &str, alpn: &[&str], pad: usize) -> Vec<u8> {
    let mut ext = Vec::new();
    let host = sni.as_bytes();
    let mut sni_ext = ((host.len() + 3) as u16).to_be_bytes().to_vec();
    sni_ext.push(0);
    sni_ext.extend_from_slice(&(host.len() as u16).to_be_bytes());
    sni_ext.extend_from_slice(host);
    let mut list = Vec::new();
    for p in alpn {
        list.push(p.len() as u8);
        list.extend_from_slice(p.as_bytes());
    }
    let mut alpn_ext = (list.len() as u16).to_be_bytes().to_vec();
    alpn_ext.extend_from_slice(&list);
    for (t, data) in [(0u16, sni_ext), (16, alpn_ext), (21, vec![0u8; pad])] {
        ext.extend_from_slice(&t.to_be_bytes());
        ext.extend_from_slice(&(data.len() as u16).to_be_bytes());
        ext.extend_from_slice(&data);
    }
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0); // no session id
    body.extend_from_slice(&[0, 4, 0x13, 0x01, 0x13, 0x02, 1, 0]); // 2 suites, null compression
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1, 0];
    hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_hello_gives_sni_and_alpn() {
        let h = test_hello("www.example.com", &["h2", "http/1.1"], 0);
        let Hello::Complete(t) = client_hello(&h) else {
            panic!("not complete")
        };
        assert_eq!(t.sni, Some(Untrusted::new(b"www.example.com")));
        assert_eq!(t.alpn, Some(Untrusted::new(b"h2,http/1.1")));
        assert!(!t.incomplete);
    }

    #[test]
    fn cut_hello_needs_more_or_is_partial() {
        let h = test_hello("a.example", &["h2"], 2000);
        assert_eq!(
            client_hello(&h[..1000]),
            Hello::NeedMore { needed: h.len() }
        );
        // Cut by the snaplen: SNI comes before the padding, so it survives.
        let t = from_segment(&h[..200], h.len() as u32).unwrap_or_default();
        assert!(t.incomplete);
        assert_eq!(t.sni, Some(Untrusted::new(b"a.example")));
        // Cut on the wire (segment boundary): left to FirstFlight.
        assert_eq!(from_segment(&h[..1000], 1000), None);
    }

    #[test]
    fn hello_fragmented_over_records() {
        let h = test_hello("frag.example", &[], 100);
        let hs = &h[5..];
        let mut two = vec![0x16, 0x03, 0x01, 0, 50];
        two.extend_from_slice(&hs[..50]);
        two.extend_from_slice(&[0x16, 0x03, 0x01]);
        two.extend_from_slice(&((hs.len() - 50) as u16).to_be_bytes());
        two.extend_from_slice(&hs[50..]);
        let Hello::Complete(t) = client_hello(&two) else {
            panic!("not complete")
        };
        assert_eq!(t.sni, Some(Untrusted::new(b"frag.example")));
    }

    #[test]
    fn not_a_hello() {
        assert!(!starts_handshake(b"\x17\x03\x03"));
        assert_eq!(
            client_hello(&[0x16, 0x03, 0x03, 0, 4, 2, 0, 0, 0]),
            Hello::Other
        );
    }
}
