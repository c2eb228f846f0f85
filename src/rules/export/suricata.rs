//! Suricata rules. Sids are `9_100_000 + rule number` (range 9_100_000..=9_999_999; a rule
//! numbered above 899_999 is refused). `msg` is `"holoscope R3"` and never carries packet text.
//!
//! Suricata has no one-of set outside addresses and ports, so a rule like `tcp_flags=S,RA` (a
//! scan's probes and the target's resets) is written as one rule per value, at most
//! [`super::MAX_PARTS`], under a comment that says so: the first keeps the rule's sid, part
//! `k` gets `9_100_000 + k * 100_000 + rule number` (rule numbers below 100 000). Every sid of
//! a file is unique: a rule whose sid another rule of the file took is refused.
//!
//! `ip_len` (the IP total length, no Suricata 7 keyword) is a `byte_test` on the `ipv4.hdr`
//! or `ipv6.hdr` buffer; a rule whose addresses leave the family open is written once per
//! family, and these parts count towards the same limit.
//!
//! Suricata treats a rule of addresses, ports and `ip_proto` alone as IP-only: it is inspected
//! once per flow direction, so an alert fires once per flow direction and a `drop` drops the
//! rest of the flow with its first packet; a packet keyword (`flags`, `byte_test`, `dsize`,
//! `ttl`...) makes it inspected on every packet. `tests/suricata_replay.rs` runs Suricata on
//! captures and checks both against holoscope's own matcher.
//!
//! `drop` only blocks in inline IPS mode (NFQ/AF_PACKET IPS); in IDS mode it alerts. A rate
//! limit is `drop` with `detection_filter:track by_dst, count N, seconds 1` (drop what
//! exceeds N matches per second per destination host: Suricata 7 has no per-rule tracking
//! here). Text conditions use the sticky buffers (`dns.query`, `tls.sni`, `http.host.raw`, `http.uri.raw`, `http.user_agent`, `http.method`) with
//! `content:"..."; startswith; endswith;` (exact match); every byte outside `[A-Za-z0-9._/-]`
//! is written as `|XX|` hex, so quotes, semicolons, backslashes and control bytes cannot end
//! the content string or the rule.

mod parts;

use super::{
    Fam, Refusal, Repeat, families, header, ints, parts_comment, precheck, proto_of,
    refusal_comment, refuse, shift,
};
use crate::decode::{Field, Value};
use crate::rules::model::{Action, Condition, Op, Rule};
use crate::text::Untrusted;
use parts::{parts, per_family, sid};
use rustc_hash::FxHashSet;
use std::fmt::Write as _;

/// First sid of the range (the rule `R0` gets it).
pub const SID_BASE: u32 = 9_100_000;
/// Last sid of the range.
pub const SID_MAX: u32 = 9_999_999;
/// Sids between the parts of a rule written as several.
pub const PART_STRIDE: u32 = 100_000;

pub(super) fn export(rules: &[&Rule], repeats: &[Repeat]) -> String {
    let mut out = String::new();
    header(
        &mut out,
        "#",
        "Suricata (suricata -S FILE; drop blocks only in IPS mode)",
        rules,
        repeats,
    );
    let mut used: FxHashSet<u32> = FxHashSet::default();
    for r in rules {
        let lines = parts(r)
            .and_then(|parts| {
                parts
                    .iter()
                    .enumerate()
                    .map(|(k, p)| line(p, k))
                    .collect::<Result<Vec<_>, _>>()
            })
            .and_then(|lines| {
                // Suricata refuses a whole file with a duplicate sid: a part numbered like another
                // rule of this file (rule numbers of 100 000 and more) is refused instead.
                if lines.iter().any(|(sid, _)| used.contains(sid)) {
                    return Err(Refusal(
                        "its sid is already used by another rule of this file".into(),
                    ));
                }
                Ok(lines)
            });
        match lines {
            Ok(lines) => {
                if lines.len() > 1 {
                    let why = if per_family(r) {
                        "IP family its ip_len reads and value of a one-of set Suricata cannot \
                         hold in one rule"
                    } else {
                        "value of a one-of set Suricata cannot hold in one rule"
                    };
                    parts_comment(&mut out, "#", r, lines.len(), why);
                    if let Action::RateLimit(n) = r.def.action {
                        let _ = writeln!(
                            out,
                            "# {}: each of them limits its own matches to {n} per second per \
                             destination (Suricata counts per rule)",
                            r.id
                        );
                    }
                }
                for (sid, l) in lines {
                    used.insert(sid);
                    let _ = writeln!(out, "{l}");
                }
            }
            Err(e) => refusal_comment(&mut out, "#", r, &e),
        }
    }
    out
}

/// `byte_test` keywords for an integer condition on a 2-byte big-endian header field at
/// `at` of the current buffer, the condition's values shifted by `offset`.
fn byte_test(c: &Condition, at: u32, offset: i64) -> Result<Vec<String>, Refusal> {
    let s = |n| shift(c, n, offset, 65535);
    let t = |op: &str, n: u64| format!("byte_test:2,{op},{n},{at}");
    Ok(match &c.op {
        Op::Eq(Value::U(n)) => vec![t("=", s(*n)?)],
        Op::Range(lo, hi) => {
            let (lo, hi) = (s(*lo)?, s(*hi)?);
            if lo == hi {
                vec![t("=", lo)]
            } else {
                vec![t(">=", lo), t("<=", hi)]
            }
        }
        Op::Gt(n) => vec![t(">", s(*n)?)],
        Op::Lt(n) => vec![t("<", s(*n)?)],
        _ => return refuse(c.field, "operator not expressible in Suricata"),
    })
}

/// `content:"..."` with `|XX ..|` hex for every byte that is not plainly safe.
fn content(t: &Untrusted) -> String {
    let mut s = String::from("content:\"");
    let mut in_hex = false;
    for &b in t.as_bytes() {
        if super::is_safe_text_byte(b) {
            if in_hex {
                s.push('|');
                in_hex = false;
            }
            s.push(char::from(b));
        } else {
            if in_hex {
                s.push(' ');
            } else {
                s.push('|');
                in_hex = true;
            }
            let _ = write!(s, "{b:02X}");
        }
    }
    if in_hex {
        s.push('|');
    }
    s.push('"');
    s
}

/// Suricata unsigned-integer keyword arguments (`ttl`, `dsize`, `itype`...).
fn uint(c: &Condition, kw: &str, offset: i64, max: u64) -> Result<Vec<String>, Refusal> {
    let s = |n| shift(c, n, offset, max);
    Ok(match &c.op {
        Op::Eq(Value::U(n)) => vec![format!("{kw}:{}", s(*n)?)],
        Op::Gt(n) => vec![format!("{kw}:>{}", s(*n)?)],
        Op::Lt(n) => vec![format!("{kw}:<{}", s(*n)?)],
        // Suricata's `a<>b` is exclusive at both ends.
        Op::Range(lo, hi) => {
            let (lo, hi) = (s(*lo)?, s(*hi)?);
            match (lo == 0, hi == max) {
                _ if lo == hi => vec![format!("{kw}:{lo}")],
                (true, true) => Vec::new(),
                (true, false) => vec![format!("{kw}:<{}", hi + 1)],
                (false, true) => vec![format!("{kw}:>{}", lo - 1)],
                (false, false) => vec![format!("{kw}:{}<>{}", lo - 1, hi + 1)],
            }
        }
        _ => return refuse(c.field, "operator not expressible in Suricata"),
    })
}

fn addr(c: &Condition) -> Result<String, Refusal> {
    Ok(match &c.op {
        Op::Eq(Value::Ip(a)) => a.to_string(),
        Op::Cidr(a, len) => format!("{a}/{len}"),
        Op::In(vs) => {
            let v: Vec<String> = vs
                .iter()
                .map(|v| match v {
                    Value::Ip(a) => Ok(a.to_string()),
                    _ => refuse(c.field, "expected addresses"),
                })
                .collect::<Result<_, _>>()?;
            format!("[{}]", v.join(","))
        }
        _ => return refuse(c.field, "operator not expressible for addresses"),
    })
}

fn port(c: &Condition) -> Result<String, Refusal> {
    Ok(match &c.op {
        Op::Eq(Value::U(n)) => n.to_string(),
        Op::In(vs) => {
            let v: Vec<String> = ints(c, vs)?.iter().map(u64::to_string).collect();
            format!("[{}]", v.join(","))
        }
        Op::Range(lo, hi) => format!("{lo}:{hi}"),
        Op::Gt(n) if *n < 65535 => format!("{}:", n + 1),
        Op::Lt(n) if *n > 0 => format!("0:{}", n - 1),
        _ => {
            return refuse(
                c.field,
                "port condition can never match or is not expressible",
            );
        }
    })
}

/// Suricata's flag letters (`0` for none).
fn flags(bits: u64) -> String {
    let s = crate::decode::field::tcp_flag_letters_or_empty(bits);
    if s.is_empty() { "0".into() } else { s }
}

fn set_once(slot: &mut Option<String>, c: &Condition, v: String) -> Result<(), Refusal> {
    if slot.replace(v).is_some() {
        return refuse(c.field, "two conditions on one header field");
    }
    Ok(())
}

/// Part `part` of a rule (see [`sid`]) as one Suricata rule, with its sid.
#[allow(clippy::too_many_lines)]
fn line(r: &Rule, part: usize) -> Result<(u32, String), Refusal> {
    precheck(r)?;
    let sid = sid(r.id.0, part)?;
    let fams = families(r);
    if fams.is_empty() {
        return Err(Refusal(
            "its conditions cannot all hold for one packet".into(),
        ));
    }
    let mut proto: Option<String> = match proto_of(r) {
        Some(6) => Some("tcp".into()),
        Some(17) => Some("udp".into()),
        _ => None,
    };
    let (mut src, mut dst, mut sport, mut dport) = (None, None, None, None);
    let mut opts: Vec<String> = vec![format!("msg:\"holoscope {}\"", r.id)];
    for c in &r.def.conditions {
        match c.field {
            Field::Proto => match (&c.op, proto.as_deref()) {
                (Op::Eq(Value::U(6 | 17)), _) => {}
                (Op::Eq(Value::U(n)), _) => opts.push(format!("ip_proto:{n}")),
                (Op::Gt(n), _) => opts.push(format!("ip_proto:>{n}")),
                (Op::Lt(n), _) => opts.push(format!("ip_proto:<{n}")),
                _ => return refuse(c.field, "operator not expressible for proto"),
            },
            Field::IpVersion => {
                let want = match &c.op {
                    Op::Eq(Value::U(4)) => Fam::V4,
                    Op::Eq(Value::U(6)) => Fam::V6,
                    _ => return refuse(c.field, "only ip_version=4 or 6 is expressible"),
                };
                // An address, or the family's own header buffer that `ip_len` reads, says
                // the version; Suricata has no keyword for it.
                if fams != [want]
                    || !r
                        .def
                        .conditions
                        .iter()
                        .any(|c| matches!(c.field, Field::SrcIp | Field::DstIp | Field::IpLen))
                {
                    return refuse(
                        c.field,
                        "Suricata has no IP version keyword (add an address condition)",
                    );
                }
            }
            Field::SrcIp => set_once(&mut src, c, addr(c)?)?,
            Field::DstIp => set_once(&mut dst, c, addr(c)?)?,
            Field::SrcPort => set_once(&mut sport, c, port(c)?)?,
            Field::DstPort => set_once(&mut dport, c, port(c)?)?,
            Field::TcpFlags => {
                proto.get_or_insert_with(|| "tcp".into());
                match &c.op {
                    Op::Eq(Value::U(v)) => opts.push(format!("flags:{}", flags(*v))),
                    Op::Mask { mask, bits } => {
                        let ignore = !mask & 0xff;
                        if ignore == 0 {
                            opts.push(format!("flags:{}", flags(*bits)));
                        } else {
                            opts.push(format!("flags:{},{}", flags(*bits), flags(ignore)));
                        }
                    }
                    _ => {
                        return refuse(c.field, "only tcp_flags=F or tcp_flags&M=F is expressible");
                    }
                }
            }
            Field::TcpWindow => {
                proto.get_or_insert_with(|| "tcp".into());
                match &c.op {
                    Op::Eq(Value::U(n)) => opts.push(format!("window:{n}")),
                    _ => return refuse(c.field, "only tcp_window=N is expressible"),
                }
            }
            Field::Ttl => opts.extend(uint(c, "ttl", 0, 255)?),
            Field::Df => match &c.op {
                Op::Eq(Value::U(1)) => opts.push("fragbits:+D".into()),
                Op::Eq(Value::U(0)) => opts.push("fragbits:!D".into()),
                _ => return refuse(c.field, "only df=0 or df=1 is expressible"),
            },
            // The IP total length is a header field Suricata 7 has no keyword for: it is
            // read from the family's header buffer (IPv4 total length; IPv6 payload length,
            // which excludes the 40-byte fixed header that `ip_len` counts).
            Field::IpLen => {
                let (buf, at, offset) = match fams.as_slice() {
                    [Fam::V4] => ("ipv4.hdr", 2, 0),
                    [Fam::V6] => ("ipv6.hdr", 4, -40),
                    _ => return refuse(c.field, "the IP family must be known in Suricata"),
                };
                opts.push(buf.into());
                opts.extend(byte_test(c, at, offset)?);
            }
            Field::PayloadLen => opts.extend(uint(c, "dsize", 0, 65535)?),
            Field::DnsSize | Field::NtpSize => {
                proto.get_or_insert_with(|| "udp".into());
                opts.extend(uint(c, "dsize", 0, 65535)?);
            }
            Field::IcmpType => opts.extend(uint(c, "itype", 0, 255)?),
            Field::IcmpCode => opts.extend(uint(c, "icode", 0, 255)?),
            Field::DnsQname
            | Field::TlsSni
            | Field::HttpHost
            | Field::HttpPath
            | Field::HttpUserAgent
            | Field::HttpMethod => {
                let (buf, app) = match c.field {
                    Field::DnsQname => ("dns.query", "dns"),
                    Field::TlsSni => ("tls.sni", "tls"),
                    Field::HttpHost => ("http.host.raw", "http"),
                    Field::HttpPath => ("http.uri.raw", "http"),
                    Field::HttpUserAgent => ("http.user_agent", "http"),
                    _ => ("http.method", "http"),
                };
                if proto.is_none() {
                    proto = Some(app.into());
                }
                match &c.op {
                    Op::Eq(Value::Text(t)) if t.is_empty() => {
                        return refuse(c.field, "empty text cannot be a Suricata content");
                    }
                    Op::Eq(Value::Text(t)) => {
                        opts.push(buf.into());
                        opts.push(content(t));
                        opts.push("startswith".into());
                        opts.push("endswith".into());
                    }
                    // `.domain` at the end of the name, any case: exactly the names under
                    // it (a domain is `[a-z0-9_-]` labels and dots, written literally).
                    Op::Subdomain(d) => {
                        opts.push(buf.into());
                        opts.push(content(&Untrusted::new(format!(".{d}").as_bytes())));
                        opts.push("endswith".into());
                        opts.push("nocase".into());
                    }
                    _ => return refuse(c.field, "only one exact text value is expressible"),
                }
            }
            _ => return refuse(c.field, "no Suricata equivalent"),
        }
    }
    let proto = proto.unwrap_or_else(|| "ip".into());
    if proto == "ip" && (sport.is_some() || dport.is_some()) {
        return Err(Refusal("ports need proto=6 or proto=17 in Suricata".into()));
    }
    let action = match r.def.action {
        Action::Drop => "drop",
        Action::Alert => "alert",
        Action::RateLimit(n) => {
            opts.push(format!(
                "detection_filter:track by_dst, count {n}, seconds 1"
            ));
            "drop"
        }
    };
    opts.push(format!("sid:{sid}"));
    opts.push("rev:1".into());
    let any = || "any".to_string();
    Ok((
        sid,
        format!(
            "{action} {proto} {} {} -> {} {} ({};)",
            src.unwrap_or_else(any),
            sport.unwrap_or_else(any),
            dst.unwrap_or_else(any),
            dport.unwrap_or_else(any),
            opts.join("; ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hex_escapes_everything_unsafe() {
        let t = Untrusted::new(b"a\";b|\\\x1b\xff/c");
        assert_eq!(content(&t), "content:\"a|22 3B|b|7C 5C 1B FF|/c\"");
    }
}
