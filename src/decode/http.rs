//! HTTP/1.x requests: method, target, Host and User-Agent, via httparse.
//!
//! Only TCP payloads that begin with a known method token are tried, so binary protocols cost
//! one byte comparison. A request split over segments or cut by the snaplen still yields what
//! was parsed: httparse reports the request line of a partial request but hands back no
//! headers, so the complete header lines are then scanned by hand (a few lines, see
//! [`scan_headers`]).

use super::field::Http;
use crate::text::Untrusted;

/// Methods of RFC 9110, PATCH, and the WebDAV ones scanners probe with.
const METHODS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
    b"PROPFIND ",
    b"PROPPATCH ",
    b"MKCOL ",
    b"COPY ",
    b"MOVE ",
    b"LOCK ",
    b"UNLOCK ",
    b"SEARCH ",
];

/// Headers httparse may fill; requests with more are read by the fallback scan.
const MAX_HEADERS: usize = 48;

/// True when the payload starts with a known method and a space, or with any upper-case token
/// (scanners probe with `CCM_POST`, `OPTIONSHTTP/1.1`...) on a first line that mentions `HTTP/`.
pub(crate) fn starts_with_method(payload: &[u8]) -> bool {
    if !payload.first().is_some_and(u8::is_ascii_uppercase) {
        return false;
    }
    if METHODS.iter().any(|m| payload.starts_with(m)) {
        return true;
    }
    let tok = method_token_len(payload);
    // "HTTP/1.1 200 OK" is a response, not a method.
    (3..=24).contains(&tok)
        && &payload[..tok] != b"HTTP"
        && matches!(payload.get(tok), Some(b' ' | b'/'))
        && first_line(payload).windows(5).any(|w| w == b"HTTP/")
}

/// Length of the leading method-like token, counting at most 25 bytes (longer is no method, and
/// an opaque payload of letters must not be scanned to its end).
fn method_token_len(payload: &[u8]) -> usize {
    payload
        .iter()
        .take(25)
        .take_while(|&&b| b.is_ascii_uppercase() || b == b'_' || b == b'-')
        .count()
}

/// The first line, at most 512 bytes, without its newline.
fn first_line(payload: &[u8]) -> &[u8] {
    let head = &payload[..payload.len().min(512)];
    head.iter()
        .position(|&b| b == b'\n')
        .map_or(head, |n| &head[..n])
}

/// Parses the request at the start of `payload` (call only when [`starts_with_method`]).
pub(crate) fn parse(payload: &[u8]) -> Option<Http> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let status = req.parse(payload);
    let mut http = Http {
        method: req.method.map(|m| Untrusted::new(m.as_bytes())),
        path: req.path.map(|p| Untrusted::new(p.as_bytes())),
        ..Http::default()
    };
    match status {
        Ok(httparse::Status::Complete(_)) => {
            for h in req.headers.iter() {
                if h.name.eq_ignore_ascii_case("host") {
                    http.host.get_or_insert_with(|| Untrusted::new(h.value));
                } else if h.name.eq_ignore_ascii_case("user-agent") {
                    http.user_agent
                        .get_or_insert_with(|| Untrusted::new(h.value));
                }
            }
            return Some(http);
        }
        Ok(httparse::Status::Partial) => {}
        // A malformed request line (bad version, missing target): probing traffic worth
        // seeing, so split the line by hand. Errors after the request line keep httparse's.
        Err(_) if req.version.is_none() => request_line(payload, &mut http),
        Err(_) => {}
    }
    http.method.as_ref()?;
    scan_headers(payload, &mut http);
    Some(http)
}

/// Method and target of a request line httparse refused: the method token, then the next
/// space-separated word unless it is already the version.
fn request_line(payload: &[u8], http: &mut Http) {
    let line = first_line(payload);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let tok = method_token_len(line);
    http.method = (tok > 0).then(|| Untrusted::new(&line[..tok]));
    let rest = line[tok..].trim_ascii_start();
    let target = rest.split(|&b| b == b' ').next().unwrap_or_default();
    http.path =
        (!target.is_empty() && !target.starts_with(b"HTTP/")).then(|| Untrusted::new(target));
}

/// Finds Host and User-Agent among the complete header lines (those ending in `\n`) after the
/// request line, stopping at the blank line. Values are trimmed of spaces and the `\r`.
fn scan_headers(payload: &[u8], http: &mut Http) {
    let mut lines = payload.split_inclusive(|&b| b == b'\n').skip(1);
    for line in lines.by_ref() {
        let Some(line) = line.strip_suffix(b"\n") else {
            break;
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"host") {
            http.host.get_or_insert_with(|| Untrusted::new(value));
        } else if name.eq_ignore_ascii_case(b"user-agent") {
            http.user_agent.get_or_insert_with(|| Untrusted::new(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &[u8] = b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5\r\nAccept: */*\r\n\r\n";

    #[test]
    fn complete_request() {
        assert!(starts_with_method(REQ));
        let h = parse(REQ).unwrap_or_default();
        assert_eq!(h.method, Some(Untrusted::new(b"GET")));
        assert_eq!(h.path, Some(Untrusted::new(b"/index.html?q=1")));
        assert_eq!(h.host, Some(Untrusted::new(b"example.com")));
        assert_eq!(h.user_agent, Some(Untrusted::new(b"curl/8.5")));
    }

    #[test]
    fn partial_request_keeps_complete_lines() {
        let h = parse(&REQ[..60]).unwrap_or_default();
        assert_eq!(h.method, Some(Untrusted::new(b"GET")));
        assert_eq!(h.host, Some(Untrusted::new(b"example.com")));
        assert_eq!(h.user_agent, None); // its line is cut
        let h = parse(b"POST /up").unwrap_or_default();
        assert_eq!(h.method, Some(Untrusted::new(b"POST")));
    }

    #[test]
    fn malformed_probes_keep_method_and_host() {
        let h = parse(b"CCM_POST / HTTP/1.\nHost: www.google.com\n\n").unwrap_or_default();
        assert_eq!(h.method, Some(Untrusted::new(b"CCM_POST")));
        assert_eq!(h.path, Some(Untrusted::new(b"/")));
        assert_eq!(h.host, Some(Untrusted::new(b"www.google.com")));
        let p = b"OPTIONS HTTP/1.1\nHost: a\n\n";
        assert!(starts_with_method(p));
        let h = parse(p).unwrap_or_default();
        assert_eq!((h.method, h.path), (Some(Untrusted::new(b"OPTIONS")), None));
        assert!(starts_with_method(b"GET/HTTP/1.1\n"));
        assert!(!starts_with_method(b"EHLO mail.example.com\r\n"));
        assert!(!starts_with_method(b"HTTP/1.1 200 OK\r\n"));
    }

    #[test]
    fn not_http() {
        assert!(!starts_with_method(b"\x16\x03\x01"));
        assert!(!starts_with_method(b"GETX /"));
        assert!(!starts_with_method(b"HELO x HTTP/1.1"[..2].as_ref()));
    }
}
