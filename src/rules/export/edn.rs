//! EDN rules of the holon XDP lab (`veth-lab`, docs/EDN-RULES.md): one map per line,
//! `{:constraints [...] :actions [...] :priority N :comment "holoscope R3"}`, `;;` comments.
//!
//! The engine matches nine IPv4 dimensions (`proto src-addr dst-addr src-port dst-port
//! tcp-flags ttl df tcp-window`); any other field, an IPv6 address or a prefix shorter than /32
//! refuses the rule. Alerts become `(count :name ["holoscope" "R3"])` (non-terminating).

use super::{Refusal, Repeat, header, precheck, refusal_comment, refuse};
use crate::decode::{Field, Value};
use crate::rules::model::{Action, Condition, Op, Rule};
use std::fmt::Write as _;
use std::net::IpAddr;

pub(super) fn export(rules: &[&Rule], repeats: &[Repeat]) -> String {
    let mut out = String::new();
    header(
        &mut out,
        ";;",
        "EDN for the holon XDP lab (--rules-file)",
        rules,
        repeats,
    );
    for r in rules {
        match line(r) {
            Ok(l) => {
                let _ = writeln!(out, "{l}");
            }
            Err(e) => refusal_comment(&mut out, ";;", r, &e),
        }
    }
    out
}

fn dim(f: Field) -> Option<&'static str> {
    Some(match f {
        Field::Proto => "proto",
        Field::SrcIp => "src-addr",
        Field::DstIp => "dst-addr",
        Field::SrcPort => "src-port",
        Field::DstPort => "dst-port",
        Field::TcpFlags => "tcp-flags",
        Field::Ttl => "ttl",
        Field::Df => "df",
        Field::TcpWindow => "tcp-window",
        _ => return None,
    })
}

fn value(c: &Condition, v: &Value) -> Result<String, Refusal> {
    match v {
        Value::U(n) => Ok(n.to_string()),
        Value::Ip(IpAddr::V4(a)) => Ok(a.to_string()),
        _ => refuse(
            c.field,
            "the XDP lab matches IPv4 addresses and integers only",
        ),
    }
}

fn cond(c: &Condition) -> Result<Vec<String>, Refusal> {
    if c.field == Field::IpVersion {
        return match c.op {
            Op::Eq(Value::U(4)) => Ok(Vec::new()),
            _ => refuse(c.field, "the XDP lab handles IPv4 only"),
        };
    }
    let Some(d) = dim(c.field) else {
        return refuse(c.field, "not one of the XDP lab's dimensions");
    };
    Ok(match &c.op {
        Op::Eq(v) => vec![format!("(= {d} {})", value(c, v)?)],
        Op::In(vs) => {
            let v: Vec<String> = vs.iter().map(|v| value(c, v)).collect::<Result<_, _>>()?;
            vec![format!("(in {d} {})", v.join(" "))]
        }
        Op::Range(lo, hi) => vec![format!("(>= {d} {lo})"), format!("(<= {d} {hi})")],
        Op::Gt(n) => vec![format!("(> {d} {n})")],
        Op::Lt(n) => vec![format!("(< {d} {n})")],
        Op::Mask { mask, bits } => vec![format!("(mask-eq {d} {mask:#x} {bits:#x})")],
        Op::Cidr(IpAddr::V4(a), 32) => vec![format!("(= {d} {a})")],
        Op::Cidr(..) => return refuse(c.field, "the XDP lab has no address prefixes"),
        Op::Subdomain(_) => return refuse(c.field, "the XDP lab matches no names"),
    })
}

fn line(r: &Rule) -> Result<String, Refusal> {
    precheck(r)?;
    let mut cons = Vec::new();
    for c in &r.def.conditions {
        cons.extend(cond(c)?);
    }
    let id = r.id;
    let action = match r.def.action {
        Action::Drop => "(drop)".to_string(),
        Action::RateLimit(n) => format!("(rate-limit {n})"),
        Action::Alert => format!("(count :name [\"holoscope\" \"{id}\"])"),
    };
    Ok(format!(
        "{{:constraints [{}] :actions [{action}] :priority {} :comment \"holoscope {id}\"}}",
        cons.join(" "),
        r.def.priority
    ))
}
