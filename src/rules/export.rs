//! Export of rules to firewall, IDS and filter languages, one module per format.
//!
//! Every exporter works the same way: a rule is translated condition by condition; if any
//! condition cannot be expressed exactly (or at least not more broadly than the rule says) the
//! whole rule is refused and a comment names the rule, the field and the reason. Dropping just
//! the offending condition would widen the rule, which for a `drop` is the dangerous direction.
//! Comments never contain packet-derived bytes: only rule ids, field names and fixed text.
//!
//! Rules are written in priority order (highest first, stable). Rules without conditions are
//! refused everywhere except RON: they would match all traffic.

pub mod bpf;
pub mod edn;
pub mod iptables;
pub mod nft;
pub mod ron;
pub mod suricata;
pub mod wireshark;

use super::model::{Condition, Op, Rule};
use crate::decode::{Field, Value};
use std::fmt::Write as _;
use std::net::IpAddr;

pub use self::ron::import_ron;

/// A target format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExportFormat {
    /// `nft -f` file with its own table.
    Nft,
    /// `iptables-restore` file (IPv4 rules).
    Iptables,
    /// `ip6tables-restore` file (the IPv6 half of [`ExportFormat::Iptables`]).
    Ip6tables,
    /// Suricata rules.
    Suricata,
    /// BPF capture-filter expressions, one per line (match-only).
    Bpf,
    /// Wireshark display filters, one per line (match-only).
    Wireshark,
    /// EDN rules of the holon XDP lab, one map per line.
    Edn,
    /// holoscope's own lossless RON.
    Ron,
}

impl ExportFormat {
    /// Every format.
    pub const ALL: &'static [ExportFormat] = &[
        ExportFormat::Nft,
        ExportFormat::Iptables,
        ExportFormat::Ip6tables,
        ExportFormat::Suricata,
        ExportFormat::Bpf,
        ExportFormat::Wireshark,
        ExportFormat::Edn,
        ExportFormat::Ron,
    ];

    /// The name used by `export FORMAT FILE` and `holoscope rules --format`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Nft => "nft",
            ExportFormat::Iptables => "iptables",
            ExportFormat::Ip6tables => "ip6tables",
            ExportFormat::Suricata => "suricata",
            ExportFormat::Bpf => "bpf",
            ExportFormat::Wireshark => "wireshark",
            ExportFormat::Edn => "edn",
            ExportFormat::Ron => "ron",
        }
    }

    /// Looks a format up by name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|f| f.name() == name)
    }
}

/// Why an export failed as a whole (single rules are refused with a comment instead).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A rule is not well formed.
    #[error("rule {0}: {1}")]
    Invalid(String, String),
    /// Two rules share an id.
    #[error("duplicate rule id {0}")]
    DuplicateId(String),
    /// RON (de)serialisation failed.
    #[error("RON: {0}")]
    Ron(String),
}

/// Exports `rules` (normally the accepted ones: see [`super::model::accepted`]).
pub fn export(format: ExportFormat, rules: &[Rule]) -> Result<String, ExportError> {
    let mut seen = rustc_hash::FxHashSet::default();
    for r in rules {
        r.check()
            .map_err(|e| ExportError::Invalid(r.id.to_string(), e.to_string()))?;
        if !seen.insert(r.id) {
            return Err(ExportError::DuplicateId(r.id.to_string()));
        }
    }
    if format == ExportFormat::Ron {
        return ron::export(rules);
    }
    let mut order: Vec<&Rule> = rules.iter().collect();
    order.sort_by_key(|r| std::cmp::Reverse(r.def.priority));
    // Match-only filters stay one per rule: they are how an analyst looks at what one rule
    // matches (`tshark -Y`, `tcpdump`), so each id keeps its own line.
    let (order, repeats) = if matches!(format, ExportFormat::Bpf | ExportFormat::Wireshark) {
        (order, Vec::new())
    } else {
        distinct(order)
    };
    let (order, repeats) = (&order[..], &repeats[..]);
    Ok(match format {
        ExportFormat::Nft => nft::export(order, repeats),
        ExportFormat::Iptables => iptables::export(order, repeats, Fam::V4),
        ExportFormat::Ip6tables => iptables::export(order, repeats, Fam::V6),
        ExportFormat::Suricata => suricata::export(order, repeats),
        ExportFormat::Bpf => bpf::export(order, repeats),
        ExportFormat::Wireshark => wireshark::export(order, repeats),
        ExportFormat::Edn => edn::export(order, repeats),
        ExportFormat::Ron => String::new(),
    })
}

/// A rule left out of an export because an earlier one does the same: (its id, that one's).
pub(crate) type Repeat = (super::model::RuleId, super::model::RuleId);

/// The rules in order without repeats: a rule with the same action, priority and conditions
/// (in any order) as an earlier one is left out and named in the header. Drafting gives every
/// wave its own rule, so an attack that comes back in sixteen waves brings sixteen identical
/// drafts; a firewall or IDS loaded with all of them would test each packet sixteen times
/// (and Suricata would log each alert sixteen times). Used for the formats that enforce or
/// alert; the match-only filters (BPF, Wireshark) keep a line per rule, and RON, holoscope's
/// own lossless format, every rule.
fn distinct(order: Vec<&Rule>) -> (Vec<&Rule>, Vec<Repeat>) {
    let mut kept: Vec<&Rule> = Vec::with_capacity(order.len());
    let mut repeats = Vec::new();
    for r in order {
        match kept.iter().find(|k| k.def.same_as(&r.def)) {
            Some(k) => repeats.push((r.id, k.id)),
            None => kept.push(r),
        }
    }
    (kept, repeats)
}

/// Why one rule (or one family of it) is not exported. Built only from fixed text, field names
/// and numbers, never from packet bytes, because it ends up in a comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal(pub String);

pub(crate) fn refuse<T>(field: Field, why: &str) -> Result<T, Refusal> {
    Err(Refusal(format!("{}: {why}", field.name())))
}

/// Writes the refusal comment for a rule.
pub(crate) fn refusal_comment(out: &mut String, prefix: &str, rule: &Rule, r: &Refusal) {
    let _ = writeln!(out, "{prefix} {} not exported: {}", rule.id, r.0);
}

/// IP family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fam {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Fam {
    pub(crate) fn of(ip: IpAddr) -> Fam {
        if ip.is_ipv4() { Fam::V4 } else { Fam::V6 }
    }
}

/// Fields whose translation differs between IPv4 and IPv6 in the packet-level languages.
pub(crate) fn family_dependent(field: Field) -> bool {
    matches!(
        field,
        Field::IpVersion
            | Field::SrcIp
            | Field::DstIp
            | Field::Ttl
            | Field::Df
            | Field::IpLen
            | Field::FragOffset
            | Field::FragMore
            | Field::IcmpType
            | Field::IcmpCode
    )
}

/// Whether the rule needs a per-family translation.
pub(crate) fn needs_family(rule: &Rule) -> bool {
    rule.def
        .conditions
        .iter()
        .any(|c| family_dependent(c.field))
}

/// The IP families a rule can match, judged from `ip_version` and address conditions (a rule
/// with an IPv4 source and an IPv6 destination matches nothing: empty).
pub(crate) fn families(rule: &Rule) -> Vec<Fam> {
    let mut v4 = true;
    let mut v6 = true;
    for c in &rule.def.conditions {
        let allowed: Option<(bool, bool)> = match (c.field, &c.op) {
            (Field::IpVersion, Op::Eq(Value::U(v))) => Some((*v == 4, *v == 6)),
            (Field::IpVersion, Op::In(vs)) => {
                Some((vs.contains(&Value::U(4)), vs.contains(&Value::U(6))))
            }
            (Field::SrcIp | Field::DstIp, Op::Eq(Value::Ip(ip)) | Op::Cidr(ip, _)) => {
                Some((ip.is_ipv4(), ip.is_ipv6()))
            }
            (Field::SrcIp | Field::DstIp, Op::In(vs)) => Some((
                vs.iter().any(|v| matches!(v, Value::Ip(IpAddr::V4(_)))),
                vs.iter().any(|v| matches!(v, Value::Ip(IpAddr::V6(_)))),
            )),
            (Field::Df, _) | (Field::Proto, Op::Eq(Value::U(1))) => Some((true, false)),
            (Field::Proto, Op::Eq(Value::U(58))) => Some((false, true)),
            _ => None,
        };
        if let Some((a, b)) = allowed {
            v4 &= a;
            v6 &= b;
        }
    }
    let mut out = Vec::new();
    if v4 {
        out.push(Fam::V4);
    }
    if v6 {
        out.push(Fam::V6);
    }
    out
}

/// The single protocol number the rule requires, if it has `proto=N`.
pub(crate) fn proto_of(rule: &Rule) -> Option<u64> {
    rule.def
        .conditions
        .iter()
        .find_map(|c| match (c.field, &c.op) {
            (Field::Proto, Op::Eq(Value::U(p))) => Some(*p),
            _ => None,
        })
}

/// Whether the rule constrains a port (required before a DNS/NTP size can be exported as a
/// plain payload length without widening the rule to every UDP packet).
pub(crate) fn has_port(rule: &Rule) -> bool {
    rule.def
        .conditions
        .iter()
        .any(|c| matches!(c.field, Field::SrcPort | Field::DstPort))
}

/// Whether an `ip_version` condition holds in the branch of one IP family (`v4` or not):
/// `true` when it adds nothing there, `false` when the branch matches nothing; refused unless
/// it names versions (`=` or one-of).
pub(crate) fn version_holds(c: &Condition, v4: bool) -> Result<bool, Refusal> {
    let want = Value::U(if v4 { 4 } else { 6 });
    match &c.op {
        Op::Eq(v) => Ok(*v == want),
        Op::In(vs) => Ok(vs.contains(&want)),
        _ => refuse(c.field, "only ip_version=4 or 6 is expressible"),
    }
}

/// A match-only filter file (BPF capture filters, Wireshark display filters): the header,
/// then per rule a `#` comment naming it, its action and priority, and its filter `expr` on
/// the next line, or a comment saying why the rule was refused.
pub(crate) fn match_only_lines(
    rules: &[&Rule],
    repeats: &[Repeat],
    title: &str,
    expr: impl Fn(&Rule) -> Result<String, Refusal>,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    header(&mut out, "#", title, rules, repeats);
    for r in rules {
        match expr(r) {
            Ok(e) => {
                let _ = writeln!(
                    out,
                    "# {} {} priority={} (match-only)\n{e}",
                    r.id, r.def.action, r.def.priority
                );
            }
            Err(e) => refusal_comment(&mut out, "#", r, &e),
        }
    }
    out
}

/// A filter expression for every IP family the rule can match ([`families`]): each family's
/// `branch` (`None` for one it leaves out), joined by `or` when there are several (BPF and
/// Wireshark filters, which differ only in how they say it and in each branch).
pub(crate) fn per_family(
    rule: &Rule,
    or: &str,
    branch: impl Fn(&Rule, Fam) -> Result<Option<String>, Refusal>,
) -> Result<String, Refusal> {
    precheck(rule)?;
    let mut branches = Vec::new();
    for fam in families(rule) {
        if let Some(b) = branch(rule, fam)? {
            branches.push(b);
        }
    }
    match branches.len() {
        0 => Err(Refusal(
            "its conditions cannot all hold for one packet".into(),
        )),
        1 => Ok(branches.swap_remove(0)),
        _ => Ok(branches
            .iter()
            .map(|b| format!("({b})"))
            .collect::<Vec<_>>()
            .join(or)),
    }
}

/// Checks the common preconditions; `Err` is the refusal.
pub(crate) fn precheck(rule: &Rule) -> Result<(), Refusal> {
    if rule.def.conditions.is_empty() {
        return Err(Refusal("no conditions (it would match all traffic)".into()));
    }
    for c in &rule.def.conditions {
        if matches!(c.field, Field::DnsSize | Field::NtpSize) && !has_port(rule) {
            return refuse(
                c.field,
                "size conditions need a port condition in this format",
            );
        }
    }
    Ok(())
}

/// Integer operand of an integer condition, shifted by `offset` (e.g. +8 for UDP length),
/// refusing when the shifted value leaves `0..=max`.
pub(crate) fn shift(c: &Condition, n: u64, offset: i64, max: u64) -> Result<u64, Refusal> {
    let v = i128::from(n) + i128::from(offset);
    if v < 0 || v > i128::from(max) {
        return refuse(c.field, "value outside what the target field can hold");
    }
    u64::try_from(v).map_err(|_| Refusal("value out of range".into()))
}

/// The integer values of a one-of condition (non-integers are a model error; refused).
pub(crate) fn ints(c: &Condition, vs: &[Value]) -> Result<Vec<u64>, Refusal> {
    vs.iter()
        .map(|v| match v {
            Value::U(n) => Ok(*n),
            _ => refuse(c.field, "expected integers"),
        })
        .collect()
}

/// Most rules one rule may become in a format that lacks a one-of set for a field (Suricata
/// numbers a rule's further parts in blocks of 100 000 sids: nine fit its range).
pub const MAX_PARTS: usize = 9;

/// A rule as an exact disjunction of rules without one-of sets on the conditions `split`
/// selects: each selected `field=a,b` becomes one part per value, the cartesian product over
/// several (conditions keep their order). A packet matches the rule exactly when it matches
/// one of the parts, so a format with no set for a field (iptables and Suricata for
/// `tcp_flags=S,RA`: the scan's probes and the target's resets) writes one line per part
/// instead of refusing the rule. More than [`MAX_PARTS`] parts are refused.
pub(crate) fn split_sets(
    rule: &Rule,
    split: impl Fn(&Condition) -> bool,
) -> Result<Vec<Rule>, Refusal> {
    let mut parts = vec![rule.clone()];
    for (i, c) in rule.def.conditions.iter().enumerate() {
        let Op::In(vs) = &c.op else {
            continue;
        };
        if !split(c) {
            continue;
        }
        let n = parts.len().saturating_mul(vs.len());
        if n > MAX_PARTS {
            return refuse(
                c.field,
                &format!(
                    "this format has no one-of set for it, and writing the rule once per \
                     value would take {n} rules (at most {MAX_PARTS})"
                ),
            );
        }
        let mut next = Vec::with_capacity(n);
        for p in &parts {
            for v in vs {
                let mut q = p.clone();
                if let Some(qc) = q.def.conditions.get_mut(i) {
                    qc.op = Op::Eq(v.clone());
                }
                next.push(q);
            }
        }
        parts = next;
    }
    Ok(parts)
}

/// The comment saying a rule is written as several, and why (fixed text).
pub(crate) fn parts_comment(out: &mut String, prefix: &str, rule: &Rule, parts: usize, why: &str) {
    let _ = writeln!(
        out,
        "{prefix} {} is written as {parts} rules, one per {why}",
        rule.id
    );
}

/// Text bytes that every exporter may write literally: `[A-Za-z0-9._/-]`. Anything else is
/// escaped in the target's own syntax.
pub(crate) fn is_safe_text_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/')
}

/// Header comment lines shared by the line-oriented formats.
pub(crate) fn header(
    out: &mut String,
    prefix: &str,
    what: &str,
    rules: &[&Rule],
    repeats: &[Repeat],
) {
    let _ = writeln!(out, "{prefix} holoscope mitigation rules: {what}");
    let _ = writeln!(
        out,
        "{prefix} {} rule(s), highest priority first",
        rules.len()
    );
    // Rule ids only: nothing from a packet reaches a comment.
    for (id, same) in repeats {
        let _ = writeln!(out, "{prefix} {id} not repeated: the same rule as {same}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_version_holds_in_its_family_only_and_other_operators_are_refused() {
        let cond = |text: &str| {
            let r: Rule = format!("R1 drop when {text} priority=1").parse().unwrap();
            r.def.conditions[0].clone()
        };
        assert!(version_holds(&cond("ip_version=4"), true).unwrap());
        assert!(!version_holds(&cond("ip_version=4"), false).unwrap());
        assert!(version_holds(&cond("ip_version=4,6"), false).unwrap());
        assert!(!version_holds(&cond("ip_version=6"), true).unwrap());
        assert!(version_holds(&cond("ip_version>4"), true).is_err());
    }

    #[test]
    fn families_follow_addresses() {
        let r: Rule = "R1 drop when src_ip=10.0.0.1 priority=1".parse().unwrap();
        assert_eq!(families(&r), [Fam::V4]);
        let r: Rule = "R1 drop when src_ip=10.0.0.1 dst_ip=::1 priority=1"
            .parse()
            .unwrap();
        assert!(families(&r).is_empty());
        let r: Rule = "R1 drop when ttl=3 priority=1".parse().unwrap();
        assert_eq!(families(&r), [Fam::V4, Fam::V6]);
        let r: Rule = "R1 drop when ip_version=6 priority=1".parse().unwrap();
        assert_eq!(families(&r), [Fam::V6]);
    }

    /// The parts of a split rule match exactly the packets the rule matches, and no packet
    /// matches two parts (so a shared rate-limit bucket counts each packet once).
    #[test]
    fn split_rules_match_what_the_rule_matches() {
        use crate::decode::Packet;
        let r: Rule = "R1 drop when src_ip=10.0.0.10,10.0.0.66 tcp_flags=S,RA ttl=64,128 \
                       dst_port<1024 priority=1"
            .parse()
            .unwrap();
        let parts = split_sets(&r, |c| c.field != Field::SrcIp).unwrap();
        assert_eq!(parts.len(), 4);
        for p in &parts {
            let sets = p
                .def
                .conditions
                .iter()
                .filter(|c| matches!(c.op, Op::In(_)));
            assert_eq!(sets.map(|c| c.field).collect::<Vec<_>>(), [Field::SrcIp]);
            assert_eq!(p.def.conditions.len(), r.def.conditions.len());
            assert_eq!(
                (p.id, p.def.action, p.def.priority),
                (r.id, r.def.action, 1)
            );
        }
        let mut matched = 0;
        for src in ["10.0.0.10", "10.0.0.66", "10.0.0.11"] {
            for flags in [0x02u8, 0x14, 0x12, 0x04] {
                for ttl in [64u8, 128, 63] {
                    for port in [80u16, 4444] {
                        let p = Packet {
                            src_ip: Some(src.parse().unwrap()),
                            tcp_flags: Some(flags),
                            ttl: Some(ttl),
                            dst_port: Some(port),
                            ..Packet::default()
                        };
                        let n = parts.iter().filter(|q| q.matches(&p)).count();
                        assert_eq!(n > 0, r.matches(&p), "{src} {flags} {ttl} {port}");
                        assert!(n <= 1);
                        matched += n;
                    }
                }
            }
        }
        assert_eq!(matched, 2 * 2 * 2);
        // Nothing selected: the rule itself.
        assert_eq!(split_sets(&r, |_| false).unwrap(), std::slice::from_ref(&r));
        // Too many parts: refused, naming the field that overflowed.
        let big: Rule = "R2 drop when tcp_flags=S,RA,A icmp_type=1,2,3,4 priority=1"
            .parse()
            .unwrap();
        let e = split_sets(&big, |_| true).unwrap_err();
        assert!(e.0.starts_with("icmp_type: "), "{}", e.0);
        assert!(e.0.contains("12 rules (at most 9)"), "{}", e.0);
    }

    proptest::proptest! {
        /// Any mix of sets, split on any of them: every packet matches the rule exactly when
        /// it matches one part, and never two parts.
        #[test]
        fn split_parts_are_an_exact_disjoint_cover(
            flags in proptest::collection::btree_set(0u64..8, 1..4),
            ttls in proptest::collection::btree_set(60u64..64, 1..3),
            ports in proptest::collection::btree_set(20u64..24, 1..3),
            split_ports in proptest::bool::ANY,
            packets in proptest::collection::vec((0u8..8, 60u8..64, 20u16..24), 1..40),
        ) {
            use crate::decode::Packet;
            let op = |vs: &std::collections::BTreeSet<u64>| {
                let v: Vec<Value> = vs.iter().map(|n| Value::U(*n)).collect();
                if v.len() == 1 { Op::Eq(v[0].clone()) } else { Op::In(v) }
            };
            let conds = vec![
                Condition::new(Field::TcpFlags, op(&flags)).unwrap(),
                Condition::new(Field::Ttl, op(&ttls)).unwrap(),
                Condition::new(Field::DstPort, op(&ports)).unwrap(),
            ];
            let r = Rule::new(
                super::super::model::RuleId(1),
                super::super::model::RuleDef {
                    action: super::super::model::Action::Drop,
                    conditions: conds,
                    priority: 1,
                },
            );
            let split = split_sets(&r, |c| split_ports || c.field != Field::DstPort);
            let mut expect = flags.len() * ttls.len();
            if split_ports {
                expect *= ports.len();
            }
            if expect > MAX_PARTS {
                proptest::prop_assert!(split.is_err());
                return Ok(());
            }
            let parts = split.unwrap();
            proptest::prop_assert_eq!(parts.len(), expect);
            for (f, t, port) in packets {
                let p = Packet {
                    tcp_flags: Some(f),
                    ttl: Some(t),
                    dst_port: Some(port),
                    ..Packet::default()
                };
                let n = parts.iter().filter(|q| q.matches(&p)).count();
                proptest::prop_assert_eq!(n > 0, r.matches(&p));
                proptest::prop_assert!(n <= 1);
            }
        }
    }

    #[test]
    fn format_names_round_trip() {
        for f in ExportFormat::ALL {
            assert_eq!(ExportFormat::from_name(f.name()), Some(*f));
        }
        for name in crate::command::EXPORT_FORMATS {
            assert!(ExportFormat::from_name(name).is_some(), "{name}");
        }
    }

    /// A rule with the same action, priority and conditions as an earlier one (in another
    /// order) is written once, the other named in the header; a different priority, action
    /// or condition keeps a rule. RON and the match-only filters keep every rule.
    #[test]
    fn repeated_rules_are_exported_once() {
        let rules: Vec<Rule> = [
            "R1 drop when dns_qname=*.t.example proto=17 priority=100",
            "R2 drop when proto=17 dns_qname=*.t.example priority=100",
            "R3 drop when proto=17 dns_qname=*.t.example priority=90",
            "R4 alert when proto=17 dns_qname=*.t.example priority=100",
            "R5 drop when dns_qname=*.u.example proto=17 priority=100",
            "R6 drop when dns_qname=*.t.example proto=17 priority=100",
        ]
        .iter()
        .map(|l| l.parse().unwrap())
        .collect();
        let out = export(ExportFormat::Suricata, &rules).unwrap();
        assert!(out.contains("# 4 rule(s)"), "{out}");
        assert!(
            out.contains("# R2 not repeated: the same rule as R1\n"),
            "{out}"
        );
        assert!(
            out.contains("# R6 not repeated: the same rule as R1\n"),
            "{out}"
        );
        let sids: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(sids.len(), 4, "{out}");
        for id in ["R1", "R3", "R4", "R5"] {
            assert!(!out.contains(&format!("# {id} not repeated")), "{out}");
        }
        let ron = export(ExportFormat::Ron, &rules).unwrap();
        assert_eq!(import_ron(&ron).unwrap().len(), 6);
        // A filter per rule id: what R6 matches can still be looked at on its own.
        let ws = export(ExportFormat::Wireshark, &rules).unwrap();
        assert!(
            ws.contains("# 6 rule(s)") && !ws.contains("not repeated"),
            "{ws}"
        );
    }
}
