//! nftables: an `nft -f` file with its own `inet holoscope` table. Rules live in chain
//! `rules`, jumped to from `input` and `forward` base chains; each has a counter and a comment
//! naming the rule id. Loading the file again replaces the table's rules (`table` + `flush`).
//!
//! Lengths: `ip_len` is `ip length` (IPv6: `ip6 length` = ip_len - 40); UDP payload sizes are
//! `udp length` = payload + 8. nftables cannot compute a TCP payload length, so `payload_len`
//! needs `proto=17`. Text fields cannot be matched at all and refuse the rule.

use super::{
    Fam, Refusal, Repeat, families, header, needs_family, precheck, proto_of, refusal_comment,
    refuse, shift, version_holds,
};
use crate::decode::field::format_mac;
use crate::decode::{Field, Value};
use crate::rules::model::{Action, Condition, Op, Rule};
use std::fmt::Write as _;

pub(super) fn export(rules: &[&Rule], repeats: &[Repeat]) -> String {
    let mut out = String::new();
    header(
        &mut out,
        "#",
        "nftables (load with: nft -f FILE)",
        rules,
        repeats,
    );
    out.push_str("table inet holoscope {}\nflush table inet holoscope\n");
    out.push_str("table inet holoscope {\n\tchain rules {\n");
    for r in rules {
        match rule_lines(r) {
            Ok(lines) => {
                for l in lines {
                    let _ = writeln!(out, "\t\t{l}");
                }
            }
            Err(e) => refusal_comment(&mut out, "\t\t#", r, &e),
        }
    }
    out.push_str("\t}\n");
    for hook in ["input", "forward"] {
        let _ = writeln!(
            out,
            "\tchain {hook} {{\n\t\ttype filter hook {hook} priority filter - 10; policy accept;\n\t\tjump rules\n\t}}"
        );
    }
    out.push_str("}\n");
    out
}

fn rule_lines(r: &Rule) -> Result<Vec<String>, Refusal> {
    precheck(r)?;
    let fams: Vec<Option<Fam>> = if needs_family(r) {
        families(r).into_iter().map(Some).collect()
    } else {
        vec![None]
    };
    let mut lines = Vec::new();
    for fam in fams {
        if let Some(l) = line(r, fam)? {
            lines.push(l);
        }
    }
    if lines.is_empty() {
        return Err(Refusal(
            "its conditions cannot all hold for one packet".into(),
        ));
    }
    Ok(lines)
}

/// A rule on a TCP header field matches TCP only: its one-of protocol set narrows to TCP
/// (nft rejects `meta l4proto { 6, 17 }` beside `tcp flags` as conflicting protocols), and a
/// set without TCP matches nothing (`None`).
fn narrow_to_tcp(r: &Rule) -> Option<std::borrow::Cow<'_, Rule>> {
    let tcp_field = r
        .def
        .conditions
        .iter()
        .any(|c| matches!(c.field, Field::TcpFlags | Field::TcpWindow));
    let set = r
        .def
        .conditions
        .iter()
        .position(|c| c.field == Field::Proto && matches!(c.op, Op::In(_)));
    let (true, Some(i)) = (tcp_field, set) else {
        return Some(std::borrow::Cow::Borrowed(r));
    };
    let mut q = r.clone();
    let c = q.def.conditions.get_mut(i)?;
    let Op::In(vs) = &c.op else {
        return Some(std::borrow::Cow::Borrowed(r));
    };
    if !vs.contains(&Value::U(6)) {
        return None;
    }
    c.op = Op::Eq(Value::U(6));
    Some(std::borrow::Cow::Owned(q))
}

/// One nft rule for one family (`None` when the rule cannot match in that family).
fn line(r: &Rule, fam: Option<Fam>) -> Result<Option<String>, Refusal> {
    let Some(r) = narrow_to_tcp(r) else {
        return Ok(None);
    };
    let r = r.as_ref();
    let proto = proto_of(r);
    let tp = match proto {
        Some(6) => "tcp",
        Some(17) => "udp",
        _ => "th",
    };
    let mut parts = Vec::new();
    if tp == "th"
        && r.def
            .conditions
            .iter()
            .any(|c| matches!(c.field, Field::SrcPort | Field::DstPort))
    {
        parts.push("meta l4proto { tcp, udp }".to_string());
    }
    for c in &r.def.conditions {
        match cond(c, fam, tp, proto)? {
            Some(s) => parts.push(s),
            None => return Ok(None),
        }
    }
    let id = r.id;
    let tail = match r.def.action {
        Action::Drop => format!("counter drop comment \"{id}\""),
        Action::RateLimit(n) => format!("limit rate over {n}/second counter drop comment \"{id}\""),
        Action::Alert => format!("counter log prefix \"holoscope {id}: \" comment \"{id}\""),
    };
    parts.push(tail);
    Ok(Some(parts.join(" ")))
}

fn int(c: &Condition, lhs: &str, offset: i64, max: u64) -> Result<String, Refusal> {
    let s = |n| shift(c, n, offset, max);
    Ok(match &c.op {
        Op::Eq(Value::U(n)) => format!("{lhs} {}", s(*n)?),
        Op::In(vs) => {
            let v: Vec<String> = super::ints(c, vs)?
                .into_iter()
                .map(|n| s(n).map(|n| n.to_string()))
                .collect::<Result<_, _>>()?;
            format!("{lhs} {{ {} }}", v.join(", "))
        }
        Op::Range(lo, hi) => format!("{lhs} {}-{}", s(*lo)?, s(*hi)?),
        Op::Gt(n) => format!("{lhs} > {}", s(*n)?),
        Op::Lt(n) => format!("{lhs} < {}", s(*n)?),
        Op::Mask { mask, bits } if offset == 0 => format!("{lhs} & {mask:#x} == {bits:#x}"),
        _ => return refuse(c.field, "operator not expressible in nftables"),
    })
}

fn cond(
    c: &Condition,
    fam: Option<Fam>,
    tp: &str,
    proto: Option<u64>,
) -> Result<Option<String>, Refusal> {
    let v4 = fam == Some(Fam::V4);
    let ip = if v4 { "ip" } else { "ip6" };
    let s = match c.field {
        Field::Proto => int(c, "meta l4proto", 0, 255)?,
        Field::SrcPort => int(c, &format!("{tp} sport"), 0, 65535)?,
        Field::DstPort => int(c, &format!("{tp} dport"), 0, 65535)?,
        Field::TcpFlags => match &c.op {
            Op::Eq(Value::U(n)) => format!("tcp flags == {n:#x}"),
            Op::In(vs) => {
                let v: Vec<String> = super::ints(c, vs)?
                    .iter()
                    .map(|n| format!("{n:#x}"))
                    .collect();
                format!("tcp flags {{ {} }}", v.join(", "))
            }
            _ => int(c, "tcp flags", 0, 255)?,
        },
        Field::TcpWindow => int(c, "tcp window", 0, 65535)?,
        Field::Ttl => int(c, if v4 { "ip ttl" } else { "ip6 hoplimit" }, 0, 255)?,
        Field::IpLen if v4 => int(c, "ip length", 0, 65535)?,
        Field::IpLen => int(c, "ip6 length", -40, 65535)?,
        Field::Df if v4 => match &c.op {
            Op::Eq(Value::U(1)) => "ip frag-off & 0x4000 != 0".into(),
            Op::Eq(Value::U(0)) => "ip frag-off & 0x4000 == 0".into(),
            _ => return refuse(c.field, "only df=0 or df=1 is expressible"),
        },
        Field::Df => return Ok(None),
        Field::PayloadLen if proto == Some(17) => int(c, "udp length", 8, 65535)?,
        Field::PayloadLen => {
            return refuse(
                c.field,
                "nftables has no TCP payload length (add proto=17 for UDP)",
            );
        }
        Field::DnsSize | Field::NtpSize => int(c, "udp length", 8, 65535)?,
        Field::IcmpType => int(c, if v4 { "icmp type" } else { "icmpv6 type" }, 0, 255)?,
        Field::IcmpCode => int(c, if v4 { "icmp code" } else { "icmpv6 code" }, 0, 255)?,
        Field::IpVersion => {
            if !version_holds(c, v4)? {
                return Ok(None);
            }
            format!("meta nfproto {}", if v4 { "ipv4" } else { "ipv6" })
        }
        Field::SrcIp | Field::DstIp => {
            let dir = if c.field == Field::SrcIp {
                "saddr"
            } else {
                "daddr"
            };
            let Some(fam) = fam else {
                return refuse(c.field, "address without a family");
            };
            let vals: Vec<String> = match &c.op {
                Op::Eq(Value::Ip(a)) => vec![a.to_string()],
                Op::Cidr(a, len) => vec![format!("{a}/{len}")],
                Op::In(vs) => vs
                    .iter()
                    .filter_map(|v| match v {
                        Value::Ip(a) if Fam::of(*a) == fam => Some(a.to_string()),
                        _ => None,
                    })
                    .collect(),
                _ => return refuse(c.field, "operator not expressible for addresses"),
            };
            let family_ok = match &c.op {
                Op::Eq(Value::Ip(a)) | Op::Cidr(a, _) => Fam::of(*a) == fam,
                _ => !vals.is_empty(),
            };
            if !family_ok {
                return Ok(None);
            }
            if vals.len() == 1 {
                format!("{ip} {dir} {}", vals[0])
            } else {
                format!("{ip} {dir} {{ {} }}", vals.join(", "))
            }
        }
        Field::SrcMac | Field::DstMac => {
            let dir = if c.field == Field::SrcMac {
                "saddr"
            } else {
                "daddr"
            };
            let macs: Vec<String> = match &c.op {
                Op::Eq(Value::Mac(m)) => vec![format_mac(*m)],
                Op::In(vs) => vs
                    .iter()
                    .filter_map(|v| match v {
                        Value::Mac(m) => Some(format_mac(*m)),
                        _ => None,
                    })
                    .collect(),
                _ => return refuse(c.field, "operator not expressible for MAC addresses"),
            };
            format!("ether {dir} {{ {} }}", macs.join(", "))
        }
        f if crate::rules::model::kind(f) == crate::rules::model::Kind::Text => {
            return refuse(c.field, "nftables cannot match packet text");
        }
        _ => return refuse(c.field, "no nftables equivalent"),
    };
    Ok(Some(s))
}
