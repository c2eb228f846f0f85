//! Text that came from a packet: `Untrusted` has no `Display`, so it cannot reach a terminal,
//! a report or a rule file without passing through one of the escaping functions here.
//!
//! Every DNS name, SNI, HTTP host/path/user-agent and ALPN value is stored as `Untrusted`. The
//! bytes are kept exactly (invalid UTF-8 included) so rules can match them; only the sinks decide
//! how to render them.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Bytes taken from a packet. Deliberately no `Display` and no `Deref<Target = str>`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Untrusted(Box<[u8]>);

impl std::fmt::Debug for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Debug output still ends up in logs and panics: escape it too.
        write!(f, "Untrusted(\"{}\")", self.escape_terminal())
    }
}

impl Untrusted {
    /// Wraps raw bytes from a packet.
    #[must_use]
    pub fn new(bytes: &[u8]) -> Self {
        Self(bytes.into())
    }

    /// The raw bytes, for matching and hashing (never for printing).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Safe for a terminal: printable ASCII and printable non-control Unicode pass; every control
    /// character (C0, DEL, C1), every byte of invalid UTF-8 and the backslash itself are written
    /// as `\xNN` / `\u{..}` escapes. No ESC, BEL or OSC can survive.
    #[must_use]
    pub fn escape_terminal(&self) -> String {
        let mut out = String::with_capacity(self.0.len());
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                push_escaped_char(&mut out, c);
            }
            for b in chunk.invalid() {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
        out
    }

    /// Strict ASCII form for rule files and filter languages: only `[A-Za-z0-9._-]` pass, every
    /// other byte becomes `\xNN`. Exporters that cannot express escapes refuse values for which
    /// [`Untrusted::is_plain_token`] is false.
    #[must_use]
    pub fn escape_ascii_token(&self) -> String {
        let mut out = String::with_capacity(self.0.len());
        for &b in self.0.iter() {
            if is_token_byte(b) {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
        out
    }

    /// True when every byte is in `[A-Za-z0-9._-]` (a DNS name or host with nothing hostile).
    #[must_use]
    pub fn is_plain_token(&self) -> bool {
        self.0.iter().all(|&b| is_token_byte(b))
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')
}

/// Escapes one char for a terminal (shared with [`escape_terminal_str`]).
fn push_escaped_char(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        c if c.is_control() => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
        // Bidi overrides and zero-width characters can disguise text; show them as escapes.
        '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
        | '\u{feff}' => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
        c => out.push(c),
    }
}

/// Terminal-escapes any string of uncertain origin (file names, error messages that quote input).
#[must_use]
pub fn escape_terminal_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_escaped_char(&mut out, c);
    }
    out
}

/// `host:port`, with an IPv6 address in brackets (`[2001:db8::1]:443`) so the port cannot be
/// read as the address's last group. `host` is an address already printed, never packet text.
#[must_use]
pub fn host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `one` for a count of 1, else `many`: the noun after a count in our own messages
/// (`1 bucket`, `3 buckets`), in one place rather than a conditional at every count.
#[must_use]
pub fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_brackets_ipv6_only() {
        assert_eq!(host_port("10.0.0.1", 53), "10.0.0.1:53");
        assert_eq!(host_port("2001:db8::10", 389), "[2001:db8::10]:389");
        let v6: std::net::IpAddr = "2001:db8::10".parse().unwrap();
        // The same text as the standard library's socket address.
        assert_eq!(
            host_port(&v6.to_string(), 389),
            std::net::SocketAddr::new(v6, 389).to_string()
        );
    }

    #[test]
    fn terminal_escape_removes_every_control_sequence() {
        let evil = Untrusted::new(b"a\x1b]0;pwn\x07b\x9bc\r\n\xff\xc2\x9d\\");
        let s = evil.escape_terminal();
        assert!(!s.chars().any(char::is_control), "{s}");
        assert!(s.starts_with('a'));
        assert!(s.contains("\\x") && s.contains("\\u{1b}"));
    }

    #[test]
    fn token_escape_keeps_plain_names() {
        assert_eq!(
            Untrusted::new(b"www.example.com").escape_ascii_token(),
            "www.example.com"
        );
        assert!(Untrusted::new(b"www.example.com").is_plain_token());
        let t = Untrusted::new(b"a\"; drop }");
        assert!(!t.is_plain_token());
        assert_eq!(t.escape_ascii_token(), "a\\x22\\x3b\\x20drop\\x20\\x7d");
    }
}
