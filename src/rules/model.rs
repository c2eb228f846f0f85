//! The rule model: conditions over schema fields, an action, a priority and provenance.
//!
//! A [`Rule`] is its stable [`RuleId`], its definition ([`RuleDef`]: what the one-line text form
//! carries) and its [`Provenance`] (where it came from and who changed what; kept in RON
//! exports and sessions, not in the one-line form).

use crate::decode::{Field, Value};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Stable rule id, shown as `R3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RuleId(pub u32);

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "R{}", self.0)
    }
}

/// The kind of value a field holds (decides which operators apply and how values parse).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Unsigned integer, flag byte or boolean.
    U,
    /// IP address.
    Ip,
    /// MAC address.
    Mac,
    /// Packet text.
    Text,
}

/// The value kind of a schema field.
#[must_use]
pub fn kind(field: Field) -> Kind {
    match field {
        Field::SrcIp | Field::DstIp => Kind::Ip,
        Field::SrcMac | Field::DstMac => Kind::Mac,
        Field::DnsQname
        | Field::TlsSni
        | Field::TlsAlpn
        | Field::HttpMethod
        | Field::HttpHost
        | Field::HttpPath
        | Field::HttpUserAgent => Kind::Text,
        _ => Kind::U,
    }
}

/// Largest value an integer field can take (values above it could never match and would make
/// exported rules invalid, so conditions refuse them).
#[must_use]
pub fn max_value(field: Field) -> u64 {
    match field {
        Field::Df | Field::FragMore | Field::DnsQr => 1,
        Field::Vlan => 4095,
        Field::MplsLabel => (1 << 20) - 1,
        Field::DnsOpcode | Field::DnsRcode => 15,
        Field::NtpMode => 7,
        Field::IpVersion
        | Field::Ttl
        | Field::Proto
        | Field::TcpFlags
        | Field::IcmpType
        | Field::IcmpCode => 255,
        Field::LinkType
        | Field::EtherType
        | Field::FragOffset
        | Field::SrcPort
        | Field::DstPort
        | Field::TcpWindow
        | Field::DnsId
        | Field::DnsQtype
        | Field::DnsAnswers => 65535,
        Field::Timestamp => u64::MAX,
        _ => u64::from(u32::MAX),
    }
}

/// Most values a one-of condition may list (keeps exported sets and the matcher bounded).
pub const MAX_SET: usize = 256;

/// A test applied to one field's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal to the value.
    Eq(Value),
    /// Equal to one of the values (2 to [`MAX_SET`]; one value is [`Op::Eq`]).
    In(Vec<Value>),
    /// Within `lo..=hi` (integers).
    Range(u64, u64),
    /// Inside the IP prefix (network address with host bits zero, prefix length).
    Cidr(IpAddr, u8),
    /// `value & mask == bits` (integers; TCP flags mostly).
    Mask {
        /// Bits tested.
        mask: u64,
        /// Required value of the tested bits.
        bits: u64,
    },
    /// Strictly greater than.
    Gt(u64),
    /// Strictly less than.
    Lt(u64),
    /// A name strictly under this domain: it ends with `.` and the domain, ASCII case
    /// ignored (`dns_qname=*.t.example` matches `a1b2.t.example`, not `t.example` itself
    /// nor `evilt.example`). Only on names ([`domain_field`]); the domain is stored in lower
    /// case, labels of `[a-z0-9_-]` joined by dots, so every export format can write it
    /// literally.
    Subdomain(String),
}

/// Whether a field holds a DNS-style name that [`Op::Subdomain`] applies to (the HTTP `Host`
/// header may carry a port, so it is not one).
#[must_use]
pub fn domain_field(field: Field) -> bool {
    matches!(field, Field::DnsQname | Field::TlsSni)
}

/// Longest domain [`Op::Subdomain`] accepts (a DNS name is at most 253 characters).
pub const MAX_DOMAIN: usize = 253;

/// Whether `d` is a domain [`Op::Subdomain`] accepts: 1 to 63 characters of `[a-z0-9_-]` per
/// label, labels joined by single dots, at most [`MAX_DOMAIN`] in all.
#[must_use]
pub fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= MAX_DOMAIN
        && d.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

/// One condition of a rule: `field op`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// The schema field tested.
    pub field: Field,
    /// The test.
    pub op: Op,
}

/// Why a condition is not well formed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidCondition {
    /// Field name.
    pub field: &'static str,
    /// Short reason (never contains packet bytes).
    pub reason: &'static str,
}

impl Condition {
    /// A checked condition: the operator fits the field's kind, integers fit the field's width,
    /// CIDR prefixes are canonical (host bits zero) and sets are non-empty and bounded.
    pub fn new(field: Field, op: Op) -> Result<Self, InvalidCondition> {
        let c = Condition { field, op };
        c.check()?;
        Ok(c)
    }

    /// Checks the invariants of [`Condition::new`] (deserialised rules go through this too).
    pub fn check(&self) -> Result<(), InvalidCondition> {
        let field = self.field;
        let bad = |reason| {
            Err(InvalidCondition {
                field: field.name(),
                reason,
            })
        };
        let k = kind(field);
        let max = max_value(field);
        let value_ok = |v: &Value| match (k, v) {
            (Kind::U, Value::U(n)) => *n <= max,
            (Kind::Ip, Value::Ip(_)) | (Kind::Mac, Value::Mac(_)) => true,
            (Kind::Text, Value::Text(t)) => t.len() <= 4096,
            _ => false,
        };
        match &self.op {
            Op::Eq(v) if !value_ok(v) => bad("value of the wrong kind or out of range"),
            Op::In(vs) if vs.len() < 2 || vs.len() > MAX_SET => {
                bad("set must have 2..=256 values (use = for one)")
            }
            Op::In(vs) if !vs.iter().all(value_ok) => {
                bad("value of the wrong kind or out of range")
            }
            Op::Range(lo, hi) if k != Kind::U || lo > hi || *hi > max => bad("bad integer range"),
            Op::Cidr(ip, len) => {
                if k != Kind::Ip {
                    return bad("prefix on a non-address field");
                }
                let canonical = match ip {
                    IpAddr::V4(a) => *len <= 32 && u32::from(*a) & !mask32(*len) == 0,
                    IpAddr::V6(a) => *len <= 128 && u128::from(*a) & !mask128(*len) == 0,
                };
                if canonical {
                    Ok(())
                } else {
                    bad("prefix length too long or host bits set")
                }
            }
            Op::Mask { mask, bits } if k != Kind::U || bits & !mask != 0 || *mask > max => {
                bad("mask bits outside the mask or field")
            }
            Op::Gt(n) | Op::Lt(n) if k != Kind::U || *n > max => {
                bad("bound on a non-integer field")
            }
            Op::Subdomain(_) if !domain_field(field) => {
                bad("*.domain applies to dns_qname and tls_sni only")
            }
            Op::Subdomain(d) if !valid_domain(d) => {
                bad("domain must be lower-case labels of a-z 0-9 _ - (1 to 63 each) joined by dots")
            }
            _ => Ok(()),
        }
    }
}

/// Network mask of an IPv4 prefix length.
#[must_use]
pub fn mask32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

/// Network mask of an IPv6 prefix length.
#[must_use]
pub fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

/// What a matching packet gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Drop it.
    Drop,
    /// Let at most N matching packets per second through, drop the rest.
    RateLimit(u32),
    /// Let it through and raise an alert (log/count).
    Alert,
}

/// Review state of a rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Drafted, not reviewed.
    #[default]
    Draft,
    /// Accepted for export.
    Accepted,
    /// Rejected by the analyst.
    Rejected,
    /// Changed after drafting and not yet accepted or rejected.
    Edited,
}

impl Status {
    /// Lower-case name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Accepted => "accepted",
            Status::Rejected => "rejected",
            Status::Edited => "edited",
        }
    }
}

/// Who made a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Who {
    /// The person at the keyboard.
    Analyst,
    /// The drafting engine.
    Holoscope,
}

/// One recorded change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Who.
    pub who: Who,
    /// What, in words (conditions appear in their escaped one-line form).
    pub what: String,
}

/// A feature that led to a condition, with its score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The condition's field.
    pub field: Field,
    /// The feature, in words (e.g. `src_port CONCENTRATED on NEW value 53`).
    pub feature: String,
    /// Its score (detector-specific scale).
    pub score: f64,
}

/// Where a rule came from and what happened to it since.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The wave it was drafted for.
    pub wave: Option<String>,
    /// The features behind its conditions.
    pub evidence: Vec<Evidence>,
    /// Review state.
    pub status: Status,
    /// Every change, oldest first.
    pub history: Vec<Change>,
}

/// What a rule does: the part the one-line text form carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleDef {
    /// Action for matching packets.
    pub action: Action,
    /// All must hold (an empty list matches every packet).
    pub conditions: Vec<Condition>,
    /// 0-255, higher wins (the XDP lab's convention); default 100.
    pub priority: u8,
}

impl RuleDef {
    /// The same rule: action, priority and conditions, these in any order (a conjunction).
    /// Drafting gives every wave its own rule, so an attack that comes back brings the same
    /// rule again; exports write it once and the rules pane marks the repeats.
    #[must_use]
    pub fn same_as(&self, other: &RuleDef) -> bool {
        self.action == other.action
            && self.priority == other.priority
            && self.same_conditions(other)
    }

    /// The same conditions, in any order: the rules match the same packets.
    #[must_use]
    pub fn same_conditions(&self, other: &RuleDef) -> bool {
        self.conditions.len() == other.conditions.len()
            && self.conditions.iter().all(|c| other.conditions.contains(c))
            && other.conditions.iter().all(|c| self.conditions.contains(c))
    }
}

/// Default rule priority (as in the XDP lab).
pub const DEFAULT_PRIORITY: u8 = 100;

/// A mitigation rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Stable id.
    pub id: RuleId,
    /// What it does.
    pub def: RuleDef,
    /// Where it came from.
    pub provenance: Provenance,
}

impl Rule {
    /// A new rule with empty provenance (status draft).
    #[must_use]
    pub fn new(id: RuleId, def: RuleDef) -> Self {
        Rule {
            id,
            def,
            provenance: Provenance::default(),
        }
    }

    /// Review state.
    #[must_use]
    pub fn status(&self) -> Status {
        self.provenance.status
    }

    /// Checks every condition and the action (rate must be positive).
    pub fn check(&self) -> Result<(), InvalidCondition> {
        if self.def.action == Action::RateLimit(0) {
            return Err(InvalidCondition {
                field: "action",
                reason: "rate limit must be at least 1 packet/s",
            });
        }
        self.def.conditions.iter().try_for_each(Condition::check)
    }
}

/// The accepted rules of a list, in order (what exports are normally given).
#[must_use]
pub fn accepted(rules: &[Rule]) -> Vec<Rule> {
    rules
        .iter()
        .filter(|r| r.status() == Status::Accepted)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Untrusted;

    #[test]
    fn conditions_are_checked() {
        assert!(Condition::new(Field::DstPort, Op::Eq(Value::U(53))).is_ok());
        assert!(Condition::new(Field::DstPort, Op::Eq(Value::U(70000))).is_err());
        assert!(Condition::new(Field::DstPort, Op::Eq(Value::Text(Untrusted::new(b"x")))).is_err());
        assert!(Condition::new(Field::SrcIp, Op::Cidr("10.0.0.0".parse().unwrap(), 8)).is_ok());
        assert!(Condition::new(Field::SrcIp, Op::Cidr("10.0.0.1".parse().unwrap(), 8)).is_err());
        assert!(Condition::new(Field::SrcIp, Op::Cidr("::".parse().unwrap(), 129)).is_err());
        assert!(
            Condition::new(
                Field::TcpFlags,
                Op::Mask {
                    mask: 0x12,
                    bits: 0x02
                }
            )
            .is_ok()
        );
        assert!(
            Condition::new(
                Field::TcpFlags,
                Op::Mask {
                    mask: 0x12,
                    bits: 0x01
                }
            )
            .is_err()
        );
        assert!(Condition::new(Field::DstPort, Op::Range(10, 5)).is_err());
        assert!(Condition::new(Field::DstPort, Op::In(vec![])).is_err());
        assert!(Condition::new(Field::DstPort, Op::In(vec![Value::U(1)])).is_err());
        assert!(Condition::new(Field::DnsQname, Op::Gt(3)).is_err());
    }

    #[test]
    fn masks() {
        assert_eq!(mask32(0), 0);
        assert_eq!(mask32(8), 0xff00_0000);
        assert_eq!(mask32(32), u32::MAX);
        assert_eq!(mask128(128), u128::MAX);
    }
}
