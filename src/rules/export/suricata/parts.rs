//! How one rule becomes several Suricata rules, and their sids: one per IP family when an
//! `ip_len` condition must read the family's own header buffer, times one per value of a
//! one-of set Suricata has no form for (see the parent module for the sid scheme).

use super::super::{Refusal, families, proto_of, split_sets};
use super::{PART_STRIDE, SID_BASE, SID_MAX};
use crate::decode::{Field, Value};
use crate::rules::model::{Condition, Op, Rule};

/// The rules Suricata writes for one rule: one per IP family when an `ip_len` condition must
/// read the family's own header and the addresses leave both open, times one per value of a
/// one-of set Suricata has no form for. Parts whose conditions contradict each other (two
/// families, a TCP field on UDP) match nothing and are left out.
pub(super) fn parts(r: &Rule) -> Result<Vec<Rule>, Refusal> {
    let by_family: Vec<Rule> = if per_family(r) {
        let mut v = Vec::new();
        for version in [4, 6] {
            let mut q = r.clone();
            let c = Condition::new(Field::IpVersion, Op::Eq(Value::U(version)))
                .map_err(|e| Refusal(e.to_string()))?;
            q.def.conditions.push(c);
            v.push(q);
        }
        v
    } else {
        vec![r.clone()]
    };
    let mut out = Vec::new();
    for q in &by_family {
        let split = split_sets(q, split_here)?;
        out.extend(
            split
                .into_iter()
                .filter(|p| !families(p).is_empty() && !tcp_fields_on_other_protocol(p)),
        );
    }
    if out.is_empty() {
        return Err(Refusal(
            "its conditions cannot all hold for one packet".into(),
        ));
    }
    if out.len() > super::super::MAX_PARTS {
        return Err(Refusal(format!(
            "written once per IP family and set value it would take {} rules (at most {})",
            out.len(),
            super::super::MAX_PARTS
        )));
    }
    Ok(out)
}

/// Whether a one-of set on the condition is written as one rule per value: Suricata holds
/// address and port lists in one rule, and fields it cannot match at all (`src_mac`, ALPN)
/// are refused as they are.
fn split_here(c: &Condition) -> bool {
    matches!(
        c.field,
        Field::Proto
            | Field::IpVersion
            | Field::TcpFlags
            | Field::TcpWindow
            | Field::Ttl
            | Field::Df
            | Field::IpLen
            | Field::PayloadLen
            | Field::DnsSize
            | Field::NtpSize
            | Field::IcmpType
            | Field::IcmpCode
            | Field::DnsQname
            | Field::TlsSni
            | Field::HttpHost
            | Field::HttpPath
            | Field::HttpUserAgent
            | Field::HttpMethod
    )
}

/// Whether the rule names another protocol than TCP and a TCP header field (the part
/// `proto=17` of `proto=6,17 tcp_flags=S`): it matches nothing.
fn tcp_fields_on_other_protocol(r: &Rule) -> bool {
    let tcp_only = r
        .def
        .conditions
        .iter()
        .any(|c| matches!(c.field, Field::TcpFlags | Field::TcpWindow));
    tcp_only && proto_of(r).is_some_and(|p| p != 6)
}

/// Whether the rule is written once per IP family: its `ip_len` reads the family's own
/// header, and its addresses leave both families open.
pub(super) fn per_family(r: &Rule) -> bool {
    families(r).len() > 1 && r.def.conditions.iter().any(|c| c.field == Field::IpLen)
}

/// The sid of part `part` of rule number `id`: `SID_BASE + id` for the first (the only one of
/// most rules), then blocks of [`PART_STRIDE`].
pub(super) fn sid(id: u32, part: usize) -> Result<u32, Refusal> {
    let part = u32::try_from(part).unwrap_or(u32::MAX);
    if part > 0 && id >= PART_STRIDE {
        return Err(Refusal(
            "a rule written as several needs a number below 100000 for its sids".into(),
        ));
    }
    part.checked_mul(PART_STRIDE)
        .and_then(|o| o.checked_add(SID_BASE))
        .and_then(|s| s.checked_add(id))
        .filter(|s| *s <= SID_MAX)
        .ok_or_else(|| Refusal("rule number beyond the documented sid range".into()))
}
