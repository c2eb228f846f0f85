//! An index of rules by one anchor condition each, so replay evaluates per packet only the
//! rules that can match it instead of every rule (with a hundred waves' drafts, matching every
//! packet against every rule was about a third of drafting).
//!
//! Each rule is filed under its most selective condition that pins a field to one value, a set
//! of values or an address prefix. A rule can only match a packet whose value of that field is
//! among those keys, so every rule the index does not return for a packet is a certain miss;
//! the returned candidates are still checked with [`Rule::matches`]. Rules without such a
//! condition are always candidates.

use super::matcher::field_value;
use super::model::{Kind, Op, Rule, kind, mask32, mask128};
use crate::decode::{Field, Packet, Value, ValueRef};
use rustc_hash::FxHashMap;
use std::net::IpAddr;

/// Rule indices under keys of one kind (a value only ever equals a value of its own kind, as
/// in the matcher).
#[derive(Default)]
struct Keyed {
    u: FxHashMap<u64, Vec<usize>>,
    ip: FxHashMap<IpAddr, Vec<usize>>,
    mac: FxHashMap<[u8; 6], Vec<usize>>,
    text: FxHashMap<Box<[u8]>, Vec<usize>>,
}

impl Keyed {
    fn insert(&mut self, v: &Value, rule: usize) {
        let list = match v {
            Value::U(x) => self.u.entry(*x).or_default(),
            Value::Ip(x) => self.ip.entry(*x).or_default(),
            Value::Mac(x) => self.mac.entry(*x).or_default(),
            Value::Text(t) => self.text.entry(t.as_bytes().into()).or_default(),
        };
        // A set listing one value twice must not make the rule a candidate twice.
        if list.last() != Some(&rule) {
            list.push(rule);
        }
    }

    fn get(&self, v: ValueRef<'_>) -> &[usize] {
        let list = match v {
            ValueRef::U(x) => self.u.get(&x),
            ValueRef::Ip(x) => self.ip.get(&x),
            ValueRef::Mac(x) => self.mac.get(&x),
            ValueRef::Text(t) => self.text.get(t.as_bytes()),
        };
        list.map_or(&[], Vec::as_slice)
    }
}

/// Rules filed under the network address of one prefix length of one field.
struct Prefixes {
    field: Field,
    v6: bool,
    len: u8,
    nets: FxHashMap<IpAddr, Vec<usize>>,
}

/// The anchor of one rule.
enum Anchor<'a> {
    Values(Field, Vec<&'a Value>),
    Prefix(Field, IpAddr, u8),
}

/// Rough share of packets a condition on `field` with one value matches: only the order
/// matters (it picks the anchor, never a result).
fn field_share(field: Field) -> f64 {
    match (kind(field), field) {
        (Kind::Ip, _) => 0.001,
        (Kind::Text, _) | (_, Field::SrcPort | Field::DstPort | Field::DnsId) => 0.01,
        (
            _,
            Field::IpLen
            | Field::PayloadLen
            | Field::FrameLen
            | Field::TcpWindow
            | Field::Ttl
            | Field::DnsSize
            | Field::NtpSize
            | Field::Timestamp,
        ) => 0.02,
        (Kind::Mac, _) => 0.1,
        _ => 0.3,
    }
}

/// The most selective condition of `rule` that the index can key, if any.
fn anchor(rule: &Rule) -> Option<Anchor<'_>> {
    let mut best: Option<(f64, Anchor<'_>)> = None;
    for c in &rule.def.conditions {
        let share = field_share(c.field);
        #[allow(clippy::cast_precision_loss)]
        let (cost, a) = match &c.op {
            Op::Eq(v) => (share, Anchor::Values(c.field, vec![v])),
            Op::In(vs) => (
                share * vs.len() as f64,
                Anchor::Values(c.field, vs.iter().collect()),
            ),
            Op::Cidr(net, len) => {
                let bits = if net.is_ipv4() { 32 } else { 128 };
                let host_bits = f64::from(bits - i32::from(*len).min(bits));
                // Addresses cluster: a /24 holds far fewer hosts' traffic than 2^8 addresses.
                (
                    share * 2f64.powf(host_bits / 2.0),
                    Anchor::Prefix(c.field, *net, *len),
                )
            }
            _ => continue,
        };
        if best.as_ref().is_none_or(|(b, _)| cost < *b) {
            best = Some((cost, a));
        }
    }
    best.map(|(_, a)| a)
}

/// Rules by anchor: built once, then asked per packet.
pub(super) struct RuleIndex {
    values: Vec<(Field, Keyed)>,
    prefixes: Vec<Prefixes>,
    always: Vec<usize>,
}

impl RuleIndex {
    /// Files every rule under its anchor (rule numbers are positions in `rules`).
    pub(super) fn new(rules: &[Rule]) -> Self {
        let mut ix = RuleIndex {
            values: Vec::new(),
            prefixes: Vec::new(),
            always: Vec::new(),
        };
        for (i, rule) in rules.iter().enumerate() {
            match anchor(rule) {
                Some(Anchor::Values(field, vs)) => {
                    let pos = match ix.values.iter().position(|(f, _)| *f == field) {
                        Some(pos) => pos,
                        None => {
                            ix.values.push((field, Keyed::default()));
                            ix.values.len() - 1
                        }
                    };
                    for v in vs {
                        ix.values[pos].1.insert(v, i);
                    }
                }
                Some(Anchor::Prefix(field, net, len)) => {
                    let v6 = net.is_ipv6();
                    let pos = match ix
                        .prefixes
                        .iter()
                        .position(|p| p.field == field && p.v6 == v6 && p.len == len)
                    {
                        Some(pos) => pos,
                        None => {
                            ix.prefixes.push(Prefixes {
                                field,
                                v6,
                                len,
                                nets: FxHashMap::default(),
                            });
                            ix.prefixes.len() - 1
                        }
                    };
                    ix.prefixes[pos].nets.entry(net).or_default().push(i);
                }
                None => ix.always.push(i),
            }
        }
        ix
    }

    /// Calls `f` once with each rule that may match `p` (every other rule does not).
    pub(super) fn candidates(&self, p: &Packet, mut f: impl FnMut(usize)) {
        let mut each = |list: &[usize]| list.iter().for_each(|&i| f(i));
        for (field, keyed) in &self.values {
            if let Some(v) = field_value(p, *field) {
                each(keyed.get(v));
            }
        }
        for g in &self.prefixes {
            // The same masking as the matcher's prefix test, so a key hit is a prefix match.
            let net = match field_value(p, g.field) {
                Some(ValueRef::Ip(IpAddr::V4(a))) if !g.v6 => {
                    IpAddr::V4((u32::from(a) & mask32(g.len)).into())
                }
                Some(ValueRef::Ip(IpAddr::V6(a))) if g.v6 => {
                    IpAddr::V6((u128::from(a) & mask128(g.len)).into())
                }
                _ => continue,
            };
            if let Some(list) = g.nets.get(&net) {
                each(list);
            }
        }
        each(&self.always);
    }
}
