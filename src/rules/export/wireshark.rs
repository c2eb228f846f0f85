//! Wireshark display filters, one per line with `#` comment lines: match-only (the action is
//! named in the comment). Each rule is split by IP family (`ip && ...` / `ipv6 && ...`).
//!
//! Text conditions become string comparisons whose literal escapes every byte outside
//! `[A-Za-z0-9._/-]` as `\xNN` (quotes, backslashes, control bytes, invalid UTF-8), so a packet
//! value can never close the literal. TCP flags are compared bit by bit (`tcp.flags.syn == 1`)
//! because `tcp.flags` also holds the NS and reserved bits.

use super::{Fam, Refusal, Repeat, ints, proto_of, refuse, shift, version_holds};
use crate::decode::field::format_mac;
use crate::decode::{Field, Value};
use crate::rules::model::{Condition, Op, Rule};
use crate::text::Untrusted;
use std::fmt::Write as _;

pub(super) fn export(rules: &[&Rule], repeats: &[Repeat]) -> String {
    super::match_only_lines(
        rules,
        repeats,
        "Wireshark display filters, one per line (match-only: no drop or rate limit)",
        expr,
    )
}

/// A display-filter string literal with `\xNN` escapes for every byte that is not plainly safe.
fn literal(t: &Untrusted) -> String {
    let mut s = String::from("\"");
    for &b in t.as_bytes() {
        if super::is_safe_text_byte(b) {
            s.push(char::from(b));
        } else {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s.push('"');
    s
}

fn value(c: &Condition, v: &Value) -> Result<String, Refusal> {
    Ok(match v {
        Value::U(n) => n.to_string(),
        Value::Ip(a) => a.to_string(),
        Value::Mac(m) => format_mac(*m),
        Value::Text(_) if c.field == Field::TlsAlpn => {
            return refuse(c.field, "ALPN lists do not compare as one string");
        }
        Value::Text(t) => literal(t),
    })
}

fn cmp(c: &Condition, lhs: &str, offset: i64, max: u64) -> Result<String, Refusal> {
    let s = |n| shift(c, n, offset, max);
    let shifted = |v: &Value| match v {
        Value::U(n) => s(*n).map(|n| n.to_string()),
        v => value(c, v),
    };
    Ok(match &c.op {
        Op::Eq(v) => format!("{lhs} == {}", shifted(v)?),
        Op::In(vs) => {
            let v: Vec<String> = vs
                .iter()
                .map(|v| shifted(v).map(|v| format!("{lhs} == {v}")))
                .collect::<Result<_, _>>()?;
            format!("({})", v.join(" || "))
        }
        Op::Range(lo, hi) => format!("({lhs} >= {} && {lhs} <= {})", s(*lo)?, s(*hi)?),
        Op::Gt(n) => format!("{lhs} > {}", s(*n)?),
        Op::Lt(n) => format!("{lhs} < {}", s(*n)?),
        Op::Mask { mask, bits } if offset == 0 => format!("{lhs} & {mask:#x} == {bits:#x}"),
        Op::Cidr(a, len) => format!("{lhs} == {a}/{len}"),
        // `matches` is a case-insensitive regular expression; a domain holds only
        // `[a-z0-9_-]` and dots (`Condition::check`), and each dot becomes `[.]`, so the
        // pattern needs no escaping inside the string literal.
        Op::Subdomain(d) => format!("{lhs} matches \"[.]{}$\"", d.replace('.', "[.]")),
        Op::Mask { .. } => return refuse(c.field, "operator not expressible"),
    })
}

const FLAG_FIELDS: [(u64, &str); 8] = [
    (0x01, "fin"),
    (0x02, "syn"),
    (0x04, "reset"),
    (0x08, "push"),
    (0x10, "ack"),
    (0x20, "urg"),
    (0x40, "ece"),
    (0x80, "cwr"),
];

fn flag_bits(mask: u64, bits: u64) -> String {
    let v: Vec<String> = FLAG_FIELDS
        .iter()
        .filter(|(b, _)| mask & b != 0)
        .map(|(b, n)| format!("tcp.flags.{n} == {}", u8::from(bits & b != 0)))
        .collect();
    format!("({})", v.join(" && "))
}

fn expr(r: &Rule) -> Result<String, Refusal> {
    super::per_family(r, " || ", branch)
}

fn simple(f: Field) -> Option<&'static str> {
    Some(match f {
        Field::TcpWindow => "tcp.window_size_value",
        Field::IcmpType => "icmp.type",
        Field::IcmpCode => "icmp.code",
        Field::SrcMac => "eth.src",
        Field::DstMac => "eth.dst",
        Field::Vlan => "vlan.id",
        Field::EtherType => "eth.type",
        Field::FrameLen => "frame.len",
        Field::Interface => "frame.interface_id",
        Field::DnsId => "dns.id",
        Field::DnsQr => "dns.flags.response",
        Field::DnsOpcode => "dns.flags.opcode",
        Field::DnsRcode => "dns.flags.rcode",
        Field::DnsQtype => "dns.qry.type",
        Field::DnsAnswers => "dns.count.answers",
        Field::DnsQname => "dns.qry.name",
        Field::TlsSni => "tls.handshake.extensions_server_name",
        Field::TlsAlpn => "tls.handshake.extensions_alpn_str",
        Field::HttpMethod => "http.request.method",
        Field::HttpHost => "http.host",
        Field::HttpPath => "http.request.uri",
        Field::HttpUserAgent => "http.user_agent",
        Field::NtpMode => "ntp.flags.mode",
        _ => return None,
    })
}

fn branch(r: &Rule, fam: Fam) -> Result<Option<String>, Refusal> {
    let v4 = fam == Fam::V4;
    let proto = proto_of(r);
    let mut parts = vec![if v4 { "ip" } else { "ipv6" }.to_string()];
    for c in &r.def.conditions {
        let s = match c.field {
            Field::Proto => cmp(c, if v4 { "ip.proto" } else { "ipv6.nxt" }, 0, 255)?,
            Field::IpVersion if version_holds(c, v4)? => continue,
            Field::IpVersion => return Ok(None),
            Field::SrcIp | Field::DstIp => {
                let lhs = match (v4, c.field == Field::SrcIp) {
                    (true, true) => "ip.src",
                    (true, false) => "ip.dst",
                    (false, true) => "ipv6.src",
                    (false, false) => "ipv6.dst",
                };
                let keep = |v: &Value| matches!(v, Value::Ip(a) if Fam::of(*a) == fam);
                let c2 = match &c.op {
                    Op::Eq(v) if keep(v) => c.clone(),
                    Op::Cidr(a, _) if Fam::of(*a) == fam => c.clone(),
                    Op::In(vs) if vs.iter().any(keep) => Condition {
                        field: c.field,
                        op: Op::In(vs.iter().filter(|v| keep(v)).cloned().collect()),
                    },
                    Op::Eq(_) | Op::Cidr(..) | Op::In(_) => return Ok(None),
                    _ => return refuse(c.field, "operator not expressible for addresses"),
                };
                cmp(&c2, lhs, 0, 0)?
            }
            Field::SrcPort | Field::DstPort => {
                let d = if c.field == Field::SrcPort {
                    "srcport"
                } else {
                    "dstport"
                };
                match proto {
                    Some(6) => cmp(c, &format!("tcp.{d}"), 0, 65535)?,
                    Some(17) => cmp(c, &format!("udp.{d}"), 0, 65535)?,
                    _ => format!(
                        "({} || {})",
                        cmp(c, &format!("tcp.{d}"), 0, 65535)?,
                        cmp(c, &format!("udp.{d}"), 0, 65535)?
                    ),
                }
            }
            Field::TcpFlags => match &c.op {
                Op::Eq(Value::U(v)) => flag_bits(0xff, *v),
                Op::Mask { mask, bits } => flag_bits(*mask, *bits),
                Op::In(vs) => {
                    let v: Vec<String> = ints(c, vs)?.iter().map(|v| flag_bits(0xff, *v)).collect();
                    format!("({})", v.join(" || "))
                }
                _ => {
                    return refuse(
                        c.field,
                        "only =, one-of and masks are expressible for flags",
                    );
                }
            },
            Field::Ttl => cmp(c, if v4 { "ip.ttl" } else { "ipv6.hlim" }, 0, 255)?,
            Field::Df if v4 => cmp(c, "ip.flags.df", 0, 1)?,
            Field::Df => return Ok(None),
            Field::IpLen if v4 => cmp(c, "ip.len", 0, 65535)?,
            Field::IpLen => cmp(c, "ipv6.plen", -40, 65535)?,
            Field::PayloadLen => match proto {
                Some(6) => cmp(c, "tcp.len", 0, 65535)?,
                Some(17) => cmp(c, "udp.length", 8, 65535)?,
                _ => format!(
                    "({} || {})",
                    cmp(c, "tcp.len", 0, 65535)?,
                    cmp(c, "udp.length", 8, 65535)?
                ),
            },
            Field::DnsSize => format!("(dns && {})", cmp(c, "udp.length", 8, 65535)?),
            Field::NtpSize => format!("(ntp && {})", cmp(c, "udp.length", 8, 65535)?),
            Field::IcmpType if !v4 => cmp(c, "icmpv6.type", 0, 255)?,
            Field::IcmpCode if !v4 => cmp(c, "icmpv6.code", 0, 255)?,
            f => match simple(f) {
                Some(lhs) => cmp(c, lhs, 0, crate::rules::model::max_value(f))?,
                None => return refuse(c.field, "no Wireshark equivalent"),
            },
        };
        parts.push(s);
    }
    Ok(Some(parts.join(" && ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_escapes() {
        assert_eq!(
            literal(&Untrusted::new(b"a\"\\\x1b\xffb.c")),
            "\"a\\x22\\x5c\\x1b\\xffb.c\""
        );
    }
}
