//! iptables-restore / ip6tables-restore files (`*filter` ... `COMMIT`). IPv4 rules go to the
//! iptables file and IPv6 rules to the ip6tables one ([`super::ExportFormat::Ip6tables`]); a
//! rule with no part in the file's family is listed as a comment pointing at the other file.
//!
//! Rules live in chain `holoscope`, jumped to from INPUT and FORWARD. The file declares the
//! built-in chains, so `iptables-restore FILE` replaces the filter table (use a dedicated host
//! or merge by hand). Rate limits use `hashlimit` with one bucket per rule (`holo-R3`).
//!
//! A one-of set iptables cannot hold in one rule (`tcp_flags=S,RA`, `src_mac=A,B`, more than
//! 15 ports) is written as one line per value, at most [`super::MAX_PARTS`], under a comment
//! that says so. The lines of a rate limit share its `hashlimit` name, so they share one bucket
//! and the limit stays the rule's.
//!
//! Lengths: `ip_len` is `-m length` (IP total length in both families). UDP payload sizes use
//! `u32` on the UDP length field (payload + 8, IPv4 only); TCP payload length is refused.

use super::{
    Fam, Refusal, Repeat, families, header, ints, parts_comment, precheck, proto_of,
    refusal_comment, refuse, shift, split_sets, version_holds,
};
use crate::decode::field::format_mac;
use crate::decode::{Field, Value};
use crate::rules::model::{Action, Condition, Kind, Op, Rule, kind};
use std::fmt::Write as _;

pub(super) fn export(rules: &[&Rule], repeats: &[Repeat], fam: Fam) -> String {
    let (tool, other) = match fam {
        Fam::V4 => ("iptables-restore", "ip6tables"),
        Fam::V6 => ("ip6tables-restore", "iptables"),
    };
    let mut out = String::new();
    header(
        &mut out,
        "#",
        &format!("{tool} (load with: {tool} FILE)"),
        rules,
        repeats,
    );
    out.push_str("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    out.push_str(":holoscope - [0:0]\n-A INPUT -j holoscope\n-A FORWARD -j holoscope\n");
    for r in rules {
        if !families(r).contains(&fam) {
            let _ = writeln!(
                out,
                "# {} has no part in this address family: see the {other} export",
                r.id
            );
            continue;
        }
        let lines = split_sets(r, split_here).and_then(|parts| {
            parts
                .iter()
                .map(|p| line(p, fam))
                .collect::<Result<Vec<_>, _>>()
        });
        match lines {
            Ok(lines) => {
                // A part that cannot match in this family (or at all) is left out.
                let lines: Vec<String> = lines.into_iter().flatten().collect();
                if lines.is_empty() {
                    let _ = writeln!(
                        out,
                        "# {} has no part in this address family: see the {other} export",
                        r.id
                    );
                }
                if lines.len() > 1 {
                    parts_comment(
                        &mut out,
                        "#",
                        r,
                        lines.len(),
                        "value of a one-of set iptables cannot hold in one rule",
                    );
                }
                for l in lines {
                    let _ = writeln!(out, "-A holoscope {l}");
                }
            }
            Err(e) => refusal_comment(&mut out, "#", r, &e),
        }
    }
    out.push_str("COMMIT\n");
    out
}

/// Whether a one-of set on the condition is written as one rule per value ([`split_sets`]):
/// iptables matches address lists (iptables-restore expands them itself) and `multiport` lists
/// of up to 15 ports in one rule, and fields it cannot match at all are refused as they are.
fn split_here(c: &Condition) -> bool {
    match (c.field, &c.op) {
        (Field::SrcPort | Field::DstPort, Op::In(vs)) => vs.len() > 15,
        (
            Field::Proto
            | Field::TcpFlags
            | Field::Ttl
            | Field::IpLen
            | Field::Df
            | Field::PayloadLen
            | Field::DnsSize
            | Field::NtpSize
            | Field::IcmpType
            | Field::SrcMac,
            _,
        ) => true,
        _ => false,
    }
}

/// The protocol the rule's conditions require (explicit `proto=N` or implied by a field);
/// `Err(None)` when two requirements conflict (the rule matches nothing).
fn rule_proto(r: &Rule, fam: Fam) -> Result<Option<u64>, Option<Refusal>> {
    let mut p = proto_of(r);
    for c in &r.def.conditions {
        let implied = match c.field {
            Field::Proto if !matches!(c.op, Op::Eq(_)) => {
                return Err(Some(Refusal(
                    "proto: only proto=N is expressible in iptables".into(),
                )));
            }
            Field::TcpFlags => Some(6),
            Field::DnsSize | Field::NtpSize => Some(17),
            Field::IcmpType | Field::IcmpCode => Some(if fam == Fam::V4 { 1 } else { 58 }),
            _ => None,
        };
        match (p, implied) {
            (Some(a), Some(b)) if a != b => return Err(None),
            (None, Some(b)) => p = Some(b),
            _ => {}
        }
    }
    Ok(p)
}

/// `a:b` range text for an iptables range option, from an integer condition shifted by
/// `offset` (UDP length = payload + 8).
fn range(c: &Condition, offset: i64, max: u64) -> Result<String, Refusal> {
    let s = |n| shift(c, n, offset, max);
    Ok(match &c.op {
        Op::Eq(Value::U(n)) => s(*n)?.to_string(),
        Op::Range(lo, hi) => format!("{}:{}", s(*lo)?, s(*hi)?),
        Op::Gt(n) => format!("{}:{max}", s(n.saturating_add(1))?),
        Op::Lt(0) => return refuse(c.field, "can never match"),
        Op::Lt(n) => format!("{}:{}", s(0)?, s(n - 1)?),
        _ => return refuse(c.field, "operator not expressible in iptables"),
    })
}

const FLAG_NAMES: [(u64, &str); 8] = [
    (0x01, "FIN"),
    (0x02, "SYN"),
    (0x04, "RST"),
    (0x08, "PSH"),
    (0x10, "ACK"),
    (0x20, "URG"),
    (0x40, "ECE"),
    (0x80, "CWR"),
];

fn flag_list(bits: u64) -> String {
    let v: Vec<&str> = FLAG_NAMES
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if v.is_empty() {
        "NONE".into()
    } else {
        v.join(",")
    }
}

/// Addresses of an address condition that belong to `fam` (`None`: none do).
fn addrs(c: &Condition, fam: Fam) -> Result<Option<String>, Refusal> {
    let v: Vec<String> = match &c.op {
        Op::Eq(Value::Ip(a)) if Fam::of(*a) == fam => vec![a.to_string()],
        Op::Cidr(a, len) if Fam::of(*a) == fam => vec![format!("{a}/{len}")],
        Op::In(vs) => vs
            .iter()
            .filter_map(|v| match v {
                Value::Ip(a) if Fam::of(*a) == fam => Some(a.to_string()),
                _ => None,
            })
            .collect(),
        Op::Eq(_) | Op::Cidr(..) => Vec::new(),
        _ => return refuse(c.field, "operator not expressible for addresses"),
    };
    Ok((!v.is_empty()).then(|| v.join(",")))
}

fn line(r: &Rule, fam: Fam) -> Result<Option<String>, Refusal> {
    precheck(r)?;
    let proto = match rule_proto(r, fam) {
        Ok(p) => p,
        Err(None) => return Ok(None),
        Err(Some(e)) => return Err(e),
    };
    let mut m: Vec<String> = Vec::new();
    if let Some(p) = proto {
        m.push(format!("-p {p}"));
    }
    let l4 = match proto {
        Some(6) => Some("tcp"),
        Some(17) => Some("udp"),
        _ => None,
    };
    for c in &r.def.conditions {
        let frag = match c.field {
            Field::Proto => continue,
            Field::IpVersion if version_holds(c, fam == Fam::V4)? => continue,
            Field::IpVersion => return Ok(None),
            Field::SrcIp | Field::DstIp => {
                let Some(a) = addrs(c, fam)? else {
                    return Ok(None);
                };
                let flag = if c.field == Field::SrcIp { "-s" } else { "-d" };
                format!("{flag} {a}")
            }
            Field::SrcPort | Field::DstPort => {
                let Some(l4) = l4 else {
                    return refuse(c.field, "ports need proto=6 or proto=17 in iptables");
                };
                let dir = if c.field == Field::SrcPort { "s" } else { "d" };
                match &c.op {
                    Op::In(vs) if vs.len() <= 15 => {
                        let v: Vec<String> = ints(c, vs)?.iter().map(u64::to_string).collect();
                        format!("-m multiport --{dir}ports {}", v.join(","))
                    }
                    _ => format!("-m {l4} --{dir}port {}", range(c, 0, 65535)?),
                }
            }
            Field::TcpFlags => match &c.op {
                Op::Eq(Value::U(v)) => format!("-m tcp --tcp-flags ALL {}", flag_list(*v)),
                Op::Mask { mask, bits } => {
                    format!(
                        "-m tcp --tcp-flags {} {}",
                        flag_list(*mask),
                        flag_list(*bits)
                    )
                }
                _ => return refuse(c.field, "only tcp_flags=F or tcp_flags&M=F is expressible"),
            },
            Field::Ttl => {
                let module = if fam == Fam::V4 { "ttl" } else { "hl" };
                match &c.op {
                    Op::Eq(Value::U(n)) => format!("-m {module} --{module}-eq {n}"),
                    Op::Gt(n) => format!("-m {module} --{module}-gt {n}"),
                    Op::Lt(n) => format!("-m {module} --{module}-lt {n}"),
                    _ => return refuse(c.field, "only =, > and < are expressible"),
                }
            }
            Field::IpLen => format!("-m length --length {}", range(c, 0, 65535)?),
            Field::Df if fam == Fam::V4 => match &c.op {
                Op::Eq(Value::U(1)) => "-m u32 --u32 \"4&0x4000=0x4000\"".into(),
                Op::Eq(Value::U(0)) => "-m u32 --u32 \"4&0x4000=0x0\"".into(),
                _ => return refuse(c.field, "only df=0 or df=1 is expressible"),
            },
            Field::Df => return Ok(None),
            Field::PayloadLen | Field::DnsSize | Field::NtpSize => {
                if l4 != Some("udp") || fam != Fam::V4 {
                    return refuse(
                        c.field,
                        "iptables expresses payload length only for UDP over IPv4 (add proto=17)",
                    );
                }
                // u32: skip the IPv4 header (IHL*4), read the UDP length field (payload + 8).
                format!("-m u32 --u32 \"0>>22&0x3C@4>>16={}\"", range(c, 8, 65535)?)
            }
            Field::IcmpType => match &c.op {
                Op::Eq(Value::U(n)) if fam == Fam::V4 => format!("-m icmp --icmp-type {n}"),
                Op::Eq(Value::U(n)) => format!("-m icmp6 --icmpv6-type {n}"),
                _ => return refuse(c.field, "only icmp_type=N is expressible"),
            },
            Field::SrcMac => match &c.op {
                Op::Eq(Value::Mac(mac)) => format!("-m mac --mac-source {}", format_mac(*mac)),
                _ => return refuse(c.field, "only src_mac=MAC is expressible"),
            },
            f if kind(f) == Kind::Text => {
                return refuse(c.field, "iptables cannot match this text field exactly");
            }
            _ => return refuse(c.field, "no iptables equivalent"),
        };
        m.push(frag);
    }
    let id = r.id;
    m.push(format!("-m comment --comment \"{id}\""));
    match r.def.action {
        Action::Drop => m.push("-j DROP".into()),
        Action::RateLimit(n) => {
            m.push(format!(
                "-m hashlimit --hashlimit-above {n}/sec --hashlimit-name holo-{id}"
            ));
            m.push("-j DROP".into());
        }
        Action::Alert => m.push(format!("-j LOG --log-prefix \"holoscope {id}: \"")),
    }
    Ok(Some(m.join(" ")))
}
