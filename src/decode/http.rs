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

/// True when the payload starts with a method token and a space.
pub(crate) fn starts_with_method(payload: &[u8]) -> bool {
    payload.first().is_some_and(u8::is_ascii_uppercase)
        && METHODS.iter().any(|m| payload.starts_with(m))
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
        }
        // Partial input, too many headers, or a malformed header after a valid request line.
        Ok(httparse::Status::Partial) | Err(_) => {
            let request_line_ok =
                req.version.is_some() || matches!(status, Ok(httparse::Status::Partial));
            if !request_line_ok || http.method.is_none() {
                return None;
            }
            scan_headers(payload, &mut http);
        }
    }
    Some(http)
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
    fn not_http() {
        assert!(!starts_with_method(b"\x16\x03\x01"));
        assert!(!starts_with_method(b"GETX /"));
        // A method token followed by something that is not an HTTP request line.
        assert_eq!(parse(b"GET foo bar baz\r\n\r\n"), None);
    }
}
