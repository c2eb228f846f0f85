//! BPF capture-filter expressions (pcap-filter syntax), one per line with `#` comment lines:
//! match-only (a filter cannot drop or rate-limit; the action is named in the comment).
//!
//! Each rule is split by IP family (`ip and ...` / `ip6 and ...`, joined with `or`) because
//! header offsets differ. libpcap's `tcp[]`/`udp[]` accessors mean IPv4 only, so IPv6 TCP/UDP
//! header fields are read at fixed offsets after a 40-byte header (`ip6[6] = 6 and ip6[53]`),
//! i.e. only without extension headers. Payload lengths are computed exactly from the headers
//! (`udp[4:2]` = payload + 8; TCP: IP length minus both header lengths), not with `greater`,
//! which counts link-layer bytes. Text cannot be matched: such rules are refused.

use super::{Fam, Refusal, Repeat, ints, proto_of, refuse, shift, version_holds};
use crate::decode::field::format_mac;
use crate::decode::{Field, Value};
use crate::rules::model::{Condition, Op, Rule};

pub(super) fn export(rules: &[&Rule], repeats: &[Repeat]) -> String {
    super::match_only_lines(
        rules,
        repeats,
        "BPF capture filters, one per line (match-only: no drop or rate limit)",
        expr,
    )
}

fn int(c: &Condition, lhs: &str, offset: i64, max: u64) -> Result<String, Refusal> {
    let s = |n| shift(c, n, offset, max);
    Ok(match &c.op {
        Op::Eq(Value::U(n)) => format!("{lhs} = {}", s(*n)?),
        Op::In(vs) => {
            let v: Vec<String> = ints(c, vs)?
                .into_iter()
                .map(|n| s(n).map(|n| format!("{lhs} = {n}")))
                .collect::<Result<_, _>>()?;
            format!("({})", v.join(" or "))
        }
        Op::Range(lo, hi) => format!("({lhs} >= {} and {lhs} <= {})", s(*lo)?, s(*hi)?),
        Op::Gt(n) => format!("{lhs} > {}", s(*n)?),
        Op::Lt(n) => format!("{lhs} < {}", s(*n)?),
        Op::Mask { mask, bits } if offset == 0 => format!("{lhs} & {mask:#x} = {bits:#x}"),
        _ => return refuse(c.field, "operator not expressible in BPF"),
    })
}

/// A TCP header byte range: `tcp[o:n]` (IPv4) or the fixed IPv6 offset with its guard.
fn tcp(fam: Fam, off: u32, size: u32) -> String {
    match fam {
        Fam::V4 => format!("tcp[{off}:{size}]"),
        Fam::V6 => format!("ip6[{}:{size}]", 40 + off),
    }
}

fn udp_len(fam: Fam) -> &'static str {
    match fam {
        Fam::V4 => "udp[4:2]",
        Fam::V6 => "ip6[44:2]",
    }
}

fn tcp_payload(fam: Fam) -> &'static str {
    match fam {
        Fam::V4 => "(ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2))",
        Fam::V6 => "(ip6[4:2] - ((ip6[52] & 0xf0) >> 2))",
    }
}

fn expr(r: &Rule) -> Result<String, Refusal> {
    super::per_family(r, " or ", branch)
}

#[allow(clippy::too_many_lines)]
fn branch(r: &Rule, fam: Fam) -> Result<Option<String>, Refusal> {
    let v4 = fam == Fam::V4;
    let proto = proto_of(r);
    let mut parts = vec![if v4 { "ip" } else { "ip6" }.to_string()];
    // IPv6 fixed-offset reads need the next header checked explicitly.
    let mut guard = |p: u8| {
        let g = format!("ip6[6] = {p}");
        if !v4 && !parts.contains(&g) {
            parts.push(g);
        }
    };
    let mut conds = Vec::new();
    for c in &r.def.conditions {
        let s = match c.field {
            Field::Proto => int(c, if v4 { "ip[9]" } else { "ip6[6]" }, 0, 255)?,
            Field::IpVersion if version_holds(c, v4)? => continue,
            Field::IpVersion => return Ok(None),
            Field::SrcIp | Field::DstIp => {
                let dir = if c.field == Field::SrcIp {
                    "src"
                } else {
                    "dst"
                };
                let hosts: Vec<String> = match &c.op {
                    Op::Eq(Value::Ip(a)) if Fam::of(*a) == fam => vec![format!("{dir} host {a}")],
                    Op::Cidr(a, len) if Fam::of(*a) == fam => vec![format!("{dir} net {a}/{len}")],
                    Op::In(vs) => vs
                        .iter()
                        .filter_map(|v| match v {
                            Value::Ip(a) if Fam::of(*a) == fam => Some(format!("{dir} host {a}")),
                            _ => None,
                        })
                        .collect(),
                    Op::Eq(_) | Op::Cidr(..) => Vec::new(),
                    _ => return refuse(c.field, "operator not expressible for addresses"),
                };
                match hosts.len() {
                    0 => return Ok(None),
                    1 => hosts[0].clone(),
                    _ => format!("({})", hosts.join(" or ")),
                }
            }
            Field::SrcPort | Field::DstPort => {
                let dir = if c.field == Field::SrcPort {
                    "src"
                } else {
                    "dst"
                };
                let p = match proto {
                    Some(6) => "tcp ",
                    Some(17) => "udp ",
                    _ => "",
                };
                match &c.op {
                    Op::Eq(Value::U(n)) => format!("{p}{dir} port {n}"),
                    Op::In(vs) => {
                        let v: Vec<String> = ints(c, vs)?
                            .iter()
                            .map(|n| format!("{p}{dir} port {n}"))
                            .collect();
                        format!("({})", v.join(" or "))
                    }
                    Op::Range(lo, hi) => format!("{p}{dir} portrange {lo}-{hi}"),
                    Op::Gt(n) if *n < 65535 => format!("{p}{dir} portrange {}-65535", n + 1),
                    Op::Lt(n) if *n > 0 => format!("{p}{dir} portrange 0-{}", n - 1),
                    _ => {
                        return refuse(
                            c.field,
                            "port condition can never match or is not expressible",
                        );
                    }
                }
            }
            Field::TcpFlags => {
                guard(6);
                int(c, &tcp(fam, 13, 1), 0, 255)?
            }
            Field::TcpWindow => {
                guard(6);
                int(c, &tcp(fam, 14, 2), 0, 65535)?
            }
            Field::Ttl => int(c, if v4 { "ip[8]" } else { "ip6[7]" }, 0, 255)?,
            Field::Df if v4 => match &c.op {
                Op::Eq(Value::U(1)) => "ip[6] & 0x40 = 0x40".into(),
                Op::Eq(Value::U(0)) => "ip[6] & 0x40 = 0".into(),
                _ => return refuse(c.field, "only df=0 or df=1 is expressible"),
            },
            Field::Df => return Ok(None),
            Field::IpLen if v4 => int(c, "ip[2:2]", 0, 65535)?,
            Field::IpLen => int(c, "ip6[4:2]", -40, 65535)?,
            Field::PayloadLen if proto == Some(6) => {
                guard(6);
                int(c, tcp_payload(fam), 0, 65535)?
            }
            Field::PayloadLen if proto == Some(17) => {
                guard(17);
                int(c, udp_len(fam), 8, 65535)?
            }
            Field::PayloadLen if v4 => {
                format!(
                    "(({}) or ({}))",
                    int(c, "udp[4:2]", 8, 65535)?,
                    int(c, tcp_payload(fam), 0, 65535)?
                )
            }
            Field::PayloadLen => format!(
                "((ip6[6] = 17 and {}) or (ip6[6] = 6 and {}))",
                int(c, udp_len(fam), 8, 65535)?,
                int(c, tcp_payload(fam), 0, 65535)?
            ),
            Field::DnsSize | Field::NtpSize => {
                guard(17);
                int(c, udp_len(fam), 8, 65535)?
            }
            Field::IcmpType => int(c, if v4 { "icmp[0]" } else { "icmp6[0]" }, 0, 255)?,
            Field::IcmpCode => int(c, if v4 { "icmp[1]" } else { "icmp6[1]" }, 0, 255)?,
            Field::FrameLen => int(c, "len", 0, u64::from(u32::MAX))?,
            Field::SrcMac | Field::DstMac => {
                let dir = if c.field == Field::SrcMac {
                    "src"
                } else {
                    "dst"
                };
                let macs: Vec<String> = match &c.op {
                    Op::Eq(v) => vec![v.clone()],
                    Op::In(vs) => vs.clone(),
                    _ => return refuse(c.field, "operator not expressible for MAC addresses"),
                }
                .iter()
                .filter_map(|v| match v {
                    Value::Mac(m) => Some(format!("ether {dir} {}", format_mac(*m))),
                    _ => None,
                })
                .collect();
                format!("({})", macs.join(" or "))
            }
            f if crate::rules::model::kind(f) == crate::rules::model::Kind::Text => {
                return refuse(c.field, "BPF cannot match packet text");
            }
            _ => return refuse(c.field, "no BPF equivalent"),
        };
        conds.push(s);
    }
    parts.extend(conds);
    Ok(Some(parts.join(" and ")))
}
