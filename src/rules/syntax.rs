//! The one-line text form of rules, shared by the rule list, the command language (`edit R3
//! drop when dst_port=53`) and error messages. `Rule::from_str(&rule.to_string())` gives back the
//! same id and definition (provenance is not part of the line; see RON for a lossless form).
//!
//! ```text
//! RULE   = ID " " BODY                       ID = "R" digits
//! BODY   = ACTION [" when" (" " COND)+] " priority=" 0..255   (priority optional, default 100)
//! ACTION = "drop" | "alert" | "rate-limit " N "/s"
//! COND   = FIELD "=" VALUE                   equals
//!        | FIELD "=" VALUE ("," VALUE)+      one of
//!        | FIELD "=" LO ".." HI              inclusive integer range
//!        | FIELD "=" IP "/" LEN              address prefix
//!        | FIELD "&" MASK "=" BITS           masked bits (tcp_flags&SA=S)
//!        | FIELD ">" N | FIELD "<" N         strict bounds
//!        | FIELD "=*." DOMAIN                 names under a domain (dns_qname, tls_sni)
//! VALUE  = decimal | 0xHEX | TCP flag letters (tcp_flags: FSRPAUEC, "." for none)
//!        | IP | MAC | "TEXT"
//! ```
//!
//! Text is always quoted; inside the quotes only printable ASCII other than `"` and `\` is
//! literal, everything else is `\"`, `\\` or `\xNN`, so any bytes (quotes, newlines, terminal
//! escapes, invalid UTF-8) survive the round trip and never reach a terminal raw.

use super::model::{
    Action, Condition, DEFAULT_PRIORITY, Kind, Op, Rule, RuleDef, RuleId, kind, max_value,
};
use crate::decode::field::{format_mac, tcp_flags_letters};
use crate::decode::{Field, Value};
use crate::text::{Untrusted, escape_terminal_str};
use std::fmt::{self, Write as _};
use std::str::FromStr;

/// Why a rule line did not parse (the message quotes input only terminal-escaped).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleParseError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, RuleParseError> {
    Err(RuleParseError(msg.into()))
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Drop => f.write_str("drop"),
            Action::Alert => f.write_str("alert"),
            Action::RateLimit(n) => write!(f, "rate-limit {n}/s"),
        }
    }
}

/// Writes text as a quoted, escaped literal.
pub(crate) fn quote_text(t: &Untrusted, out: &mut String) {
    out.push('"');
    for &b in t.as_bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
}

fn write_value(field: Field, v: &Value, out: &mut String) {
    match v {
        Value::U(n) if field == Field::TcpFlags => out.push_str(&tcp_flags_letters(*n)),
        Value::U(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Ip(ip) => {
            let _ = write!(out, "{ip}");
        }
        Value::Mac(m) => out.push_str(&format_mac(*m)),
        Value::Text(t) => quote_text(t, out),
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::from(self.field.name());
        match &self.op {
            Op::Eq(v) => {
                s.push('=');
                write_value(self.field, v, &mut s);
            }
            Op::In(vs) => {
                s.push('=');
                for (i, v) in vs.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    write_value(self.field, v, &mut s);
                }
            }
            Op::Range(lo, hi) => {
                let _ = write!(s, "={lo}..{hi}");
            }
            Op::Cidr(ip, len) => {
                let _ = write!(s, "={ip}/{len}");
            }
            Op::Mask { mask, bits } if self.field == Field::TcpFlags => {
                let _ = write!(
                    s,
                    "&{}={}",
                    tcp_flags_letters(*mask),
                    tcp_flags_letters(*bits)
                );
            }
            Op::Mask { mask, bits } => {
                let _ = write!(s, "&{mask:#x}={bits:#x}");
            }
            Op::Gt(n) => {
                let _ = write!(s, ">{n}");
            }
            Op::Lt(n) => {
                let _ = write!(s, "<{n}");
            }
            Op::Subdomain(d) => {
                let _ = write!(s, "=*.{d}");
            }
        }
        f.write_str(&s)
    }
}

impl fmt::Display for RuleDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.action)?;
        if !self.conditions.is_empty() {
            f.write_str(" when")?;
            for c in &self.conditions {
                write!(f, " {c}")?;
            }
        }
        write!(f, " priority={}", self.priority)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id, self.def)
    }
}

/// Splits on spaces outside double quotes (a backslash escapes the next char inside quotes).
fn tokens(s: &str) -> Result<Vec<&str>, RuleParseError> {
    let mut out = Vec::new();
    let mut start = None;
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in s.char_indices() {
        if quoted {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => {}
            }
            continue;
        }
        if c.is_whitespace() {
            if let Some(st) = start.take() {
                out.push(&s[st..i]);
            }
        } else {
            start.get_or_insert(i);
            quoted = c == '"';
        }
    }
    if quoted {
        return err("unterminated quoted text");
    }
    if let Some(st) = start {
        out.push(&s[st..]);
    }
    Ok(out)
}

/// Splits on commas outside double quotes.
fn split_list(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut start) = (false, false, 0);
    for (i, c) in s.char_indices() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (_, false, '"') => quoted = !quoted,
            (false, _, ',') => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_u(s: &str, field: Field) -> Result<u64, RuleParseError> {
    let n = if let Some(hex) = s.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).ok()
    } else if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.parse().ok()
    } else if field == Field::TcpFlags {
        flag_letters(s)
    } else {
        None
    };
    match n {
        Some(n) if n <= max_value(field) => Ok(n),
        Some(_) => err(format!(
            "{}: {} is out of range",
            field.name(),
            escape_terminal_str(s)
        )),
        None => err(format!(
            "{}: expected a number, got {}",
            field.name(),
            escape_terminal_str(s)
        )),
    }
}

fn flag_letters(s: &str) -> Option<u64> {
    if s == "." {
        return Some(0);
    }
    s.chars().try_fold(0u64, |acc, c| {
        let bit = match c {
            'F' => 0x01,
            'S' => 0x02,
            'R' => 0x04,
            'P' => 0x08,
            'A' => 0x10,
            'U' => 0x20,
            'E' => 0x40,
            'C' => 0x80,
            _ => return None,
        };
        Some(acc | bit)
    })
}

fn unquote(s: &str) -> Result<Untrusted, RuleParseError> {
    let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return err("text values are written in double quotes");
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut bytes = inner.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'"') => out.push(b'"'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hi = bytes.next().and_then(|c| char::from(c).to_digit(16));
                let lo = bytes.next().and_then(|c| char::from(c).to_digit(16));
                match (hi, lo) {
                    #[allow(clippy::cast_possible_truncation)]
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => return err("\\x needs two hex digits"),
                }
            }
            _ => return err("unknown escape in text (use \\\" \\\\ or \\xNN)"),
        }
    }
    Ok(Untrusted::new(&out))
}

fn parse_value(field: Field, s: &str) -> Result<Value, RuleParseError> {
    let what = |k: &str| {
        RuleParseError(format!(
            "{}: expected {k}, got {}",
            field.name(),
            escape_terminal_str(s)
        ))
    };
    Ok(match kind(field) {
        Kind::U => Value::U(parse_u(s, field)?),
        Kind::Ip => Value::Ip(s.parse().map_err(|_| what("an IP address"))?),
        Kind::Mac => {
            let parts: Vec<u8> = s
                .split(':')
                .map(|p| u8::from_str_radix(p, 16))
                .collect::<Result<_, _>>()
                .map_err(|_| what("a MAC address"))?;
            Value::Mac(parts.try_into().map_err(|_| what("a MAC address"))?)
        }
        Kind::Text => Value::Text(unquote(s)?),
    })
}

impl FromStr for Condition {
    type Err = RuleParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name_end = s
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(s.len());
        let (name, rest) = s.split_at(name_end);
        let Some(field) = Field::from_name(name) else {
            return err(format!("unknown field {}", escape_terminal_str(name)));
        };
        let op = if let Some(n) = rest.strip_prefix('>') {
            Op::Gt(parse_u(n, field)?)
        } else if let Some(n) = rest.strip_prefix('<') {
            Op::Lt(parse_u(n, field)?)
        } else if let Some(m) = rest.strip_prefix('&') {
            let Some((mask, bits)) = m.split_once('=') else {
                return err(format!("{name}&MASK=BITS expected"));
            };
            Op::Mask {
                mask: parse_u(mask, field)?,
                bits: parse_u(bits, field)?,
            }
        } else if let Some(v) = rest.strip_prefix('=') {
            let k = kind(field);
            if k == Kind::U && v.contains("..") {
                let (lo, hi) = v.split_once("..").unwrap_or((v, v));
                Op::Range(parse_u(lo, field)?, parse_u(hi, field)?)
            } else if k == Kind::Ip && v.contains('/') {
                let (ip, len) = v.split_once('/').unwrap_or((v, ""));
                let ip = parse_value(field, ip)?;
                let len = len
                    .parse()
                    .map_err(|_| RuleParseError(format!("{name}: bad prefix length")))?;
                match ip {
                    Value::Ip(ip) => Op::Cidr(ip, len),
                    _ => return err(format!("{name}: expected an address prefix")),
                }
            } else if let Some(d) = v.strip_prefix("*.").filter(|_| k == Kind::Text) {
                Op::Subdomain(d.to_ascii_lowercase())
            } else {
                let parts = split_list(v);
                if parts.len() == 1 {
                    Op::Eq(parse_value(field, v)?)
                } else {
                    Op::In(
                        parts
                            .into_iter()
                            .map(|p| parse_value(field, p))
                            .collect::<Result<_, _>>()?,
                    )
                }
            }
        } else {
            return err(format!("{name}: expected = & > or < after the field name"));
        };
        Condition::new(field, op).map_err(|e| RuleParseError(e.to_string()))
    }
}

/// Parses the condition list of a rule (`proto=6 dst_port=80,443`), as used by `--filter`:
/// conditions separated by spaces, optionally joined by `and`. At least one is required.
///
/// # Errors
/// The first condition that does not parse, a dangling `and`, or an empty list.
pub fn parse_conditions(s: &str) -> Result<Vec<Condition>, RuleParseError> {
    let toks = tokens(s)?;
    let mut out = Vec::with_capacity(toks.len());
    let mut after_and = false;
    for t in toks {
        if t == "and" {
            if out.is_empty() || after_and {
                return err("`and` goes between two conditions");
            }
            after_and = true;
            continue;
        }
        after_and = false;
        out.push(t.parse()?);
    }
    if after_and {
        return err("`and` goes between two conditions");
    }
    if out.is_empty() {
        return err("no condition given (e.g. proto=6 dst_port=80,443)");
    }
    Ok(out)
}

impl FromStr for RuleDef {
    type Err = RuleParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let toks = tokens(s)?;
        let mut it = toks.into_iter().peekable();
        let action = match it.next() {
            Some("drop") => Action::Drop,
            Some("alert") => Action::Alert,
            Some("rate-limit") => {
                let n = it
                    .next()
                    .and_then(|t| t.strip_suffix("/s"))
                    .and_then(|n| n.parse().ok());
                match n {
                    Some(n) if n > 0 => Action::RateLimit(n),
                    _ => return err("rate-limit needs a rate like 2000/s"),
                }
            }
            _ => return err("a rule starts with drop, alert or rate-limit N/s"),
        };
        let mut def = RuleDef {
            action,
            conditions: Vec::new(),
            priority: DEFAULT_PRIORITY,
        };
        if it.peek() == Some(&"when") {
            it.next();
        }
        for t in it {
            if let Some(p) = t.strip_prefix("priority=") {
                def.priority = p
                    .parse()
                    .map_err(|_| RuleParseError("priority is 0..255".into()))?;
            } else {
                def.conditions.push(t.parse()?);
            }
        }
        Ok(def)
    }
}

impl FromStr for RuleId {
    type Err = RuleParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix('R').map(str::parse) {
            Some(Ok(n)) => Ok(RuleId(n)),
            _ => err(format!(
                "rule ids look like R3, got {}",
                escape_terminal_str(s)
            )),
        }
    }
}

impl FromStr for Rule {
    type Err = RuleParseError;

    /// Parses `ID BODY`; the provenance is empty (a new draft).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (id, body) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
        Ok(Rule::new(id.parse()?, body.parse()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_round_trip() {
        for line in [
            "R3 drop when proto=6 dst_ip=10.10.10.10 dst_port=25565 tcp_flags&SA=S priority=100",
            "R4 rate-limit 2000/s when src_port=53 dns_size>300 priority=200",
            "R5 alert when dns_qname=\"a b\\\"c\\\\d\\x1b]0;x\\x07\\xff\" priority=7",
            "R6 drop when src_ip=10.0.0.0/8 dst_ip=2001:db8::/32 dst_port=1000..2000 priority=1",
            "R7 drop when proto=6,17 tcp_flags=S,SA,. src_mac=aa:bb:cc:dd:ee:ff priority=100",
            "R8 drop when http_host=\"a,b\",\"c d\" frag_offset&0x1fff=0x0 ttl<5 priority=0",
            "R9 drop priority=100",
            "R10 alert when dns_qname=*.t.cdn-stats.example tls_sni=*.a_b-1.example proto=17 priority=100",
        ] {
            let r: Rule = line.parse().unwrap();
            assert_eq!(r.to_string(), line);
        }
    }

    #[test]
    fn defaults_and_errors() {
        let d: RuleDef = "drop when dst_port=53".parse().unwrap();
        assert_eq!(d.priority, 100);
        assert_eq!(d.conditions.len(), 1);
        for bad in [
            "R1 block",
            "R1 drop when nope=1",
            "R1 drop when dst_port=99999",
            "R1 drop when dns_qname=abc",
            "R1 drop when dns_qname=\"abc",
            "R1 rate-limit 0/s",
            "X1 drop",
            "R1 drop when src_ip=10.0.0.1/8",
            "R1 drop when dns_qname=\"\\q\"",
            "R1 drop when http_host=*.example.com",
            "R1 drop when dst_port=*.example.com",
            "R1 drop when dns_qname=*.",
            "R1 drop when dns_qname=*.a..example",
            "R1 drop when dns_qname=*.a\"b.example",
            "R1 drop when dns_qname=*.example.com.",
        ] {
            assert!(bad.parse::<Rule>().is_err(), "{bad}");
        }
        // Domains are case-blind: written in any case, kept in lower case.
        let c: Condition = "dns_qname=*.T.Example".parse().unwrap();
        assert_eq!(c.op, Op::Subdomain("t.example".into()));
        assert_eq!(c.to_string(), "dns_qname=*.t.example");
        // A quoted name starting with "*." is an exact name, not a domain.
        let c: Condition = "dns_qname=\"*.t.example\"".parse().unwrap();
        assert!(matches!(c.op, Op::Eq(_)));
    }
}
