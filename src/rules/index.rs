//! An index of rules by one anchor condition each, so replay evaluates per packet only the
//! rules that can match it instead of every rule (with a hundred waves' drafts, matching every
//! packet against every rule was about a third of drafting).
//!
//! Each rule is filed under its most selective condition that pins a field to one value, a set
//! of values, an address prefix or a domain (`dns_qname=*.t.example`: a packet's name is looked
//! up by each domain it is under). A rule can only match a packet whose value of that field is
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
    Domain(Field, &'a str),
}

/// Rules filed under domains (lower case) of one name field.
struct Domains {
    field: Field,
    rules: FxHashMap<Box<[u8]>, Vec<usize>>,
}

impl Domains {
    /// Calls `f` with the rules filed under each domain `name` is strictly under (the
    /// matcher's test: after a dot, ASCII case ignored, one trailing root dot ignored).
    fn each_under(&self, name: &[u8], mut f: impl FnMut(&[usize])) {
        let name = name.strip_suffix(b".").unwrap_or(name);
        let lower;
        let name = if name.iter().any(u8::is_ascii_uppercase) {
            lower = name.to_ascii_lowercase();
            &lower[..]
        } else {
            name
        };
        for (i, _) in name.iter().enumerate().filter(|(_, b)| **b == b'.') {
            if let Some(list) = name.get(i + 1..).and_then(|d| self.rules.get(d)) {
                f(list);
            }
        }
    }
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
            // Many names, each rare: as selective as a short set of names.
            Op::Subdomain(d) => (share * 10.0, Anchor::Domain(c.field, d.as_str())),
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
    domains: Vec<Domains>,
    always: Vec<usize>,
}

impl RuleIndex {
    /// Files every rule under its anchor (rule numbers are positions in `rules`).
    pub(super) fn new<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> Self {
        let mut ix = RuleIndex {
            values: Vec::new(),
            prefixes: Vec::new(),
            domains: Vec::new(),
            always: Vec::new(),
        };
        for (i, rule) in rules.into_iter().enumerate() {
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
                Some(Anchor::Domain(field, d)) => {
                    let pos = match ix.domains.iter().position(|g| g.field == field) {
                        Some(pos) => pos,
                        None => {
                            ix.domains.push(Domains {
                                field,
                                rules: FxHashMap::default(),
                            });
                            ix.domains.len() - 1
                        }
                    };
                    let list = ix.domains[pos]
                        .rules
                        .entry(d.as_bytes().into())
                        .or_default();
                    if list.last() != Some(&i) {
                        list.push(i);
                    }
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
        for g in &self.domains {
            if let Some(ValueRef::Text(t)) = field_value(p, g.field) {
                g.each_under(t.as_bytes(), &mut each);
            }
        }
        each(&self.always);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::field::Dns;
    use crate::rules::model::{Action, Condition, RuleDef, RuleId};
    use crate::rules::replay::{Label, ReplayCounts, Replayer, replay};
    use crate::text::Untrusted;
    use rustc_hash::FxHashSet;

    /// SplitMix64: a seeded stream, so a failure replays exactly.
    struct SampleRng(u64);

    impl SampleRng {
        fn new(seed: u64) -> Self {
            SampleRng(seed)
        }

        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        /// Uniform in `lo..hi` (`lo` when empty; the modulo bias does not matter here).
        fn range(&mut self, lo: u64, hi: u64) -> u64 {
            if hi <= lo {
                lo
            } else {
                lo + self.next() % (hi - lo)
            }
        }

        fn index(&mut self, n: usize) -> usize {
            usize::try_from(self.range(0, n as u64)).unwrap()
        }
    }

    const ADDRS: &[&str] = &[
        "10.0.0.1",
        "10.0.0.2",
        "10.0.1.5",
        "10.0.0.200",
        "192.168.1.1",
        "2001:db8::1",
        "2001:db8:1::2",
    ];
    const NAMES: &[&[u8]] = &[
        b"a.example",
        b"b.example",
        b"",
        b"x.A.Example",
        b"y.a.example.",
        b"example",
        b".",
    ];

    fn pick<T: Copy>(g: &mut SampleRng, xs: &[T]) -> T {
        xs[g.index(xs.len())]
    }

    fn addr(g: &mut SampleRng) -> IpAddr {
        pick(g, ADDRS).parse().unwrap()
    }

    /// A value of `field`'s kind from the small pool packets draw from (so rules hit).
    fn value(g: &mut SampleRng, field: Field) -> Value {
        match kind(field) {
            Kind::Ip => Value::Ip(addr(g)),
            Kind::Mac => Value::Mac([pick(g, &[1, 2, 3]); 6]),
            Kind::Text => Value::Text(Untrusted::new(pick(g, NAMES))),
            Kind::U => Value::U(pick(g, &[0, 2, 6, 17, 18, 40, 53, 80, 443, 1500])),
        }
    }

    fn condition(g: &mut SampleRng) -> Condition {
        let field = pick(
            g,
            &[
                Field::SrcIp,
                Field::DstIp,
                Field::SrcPort,
                Field::DstPort,
                Field::Proto,
                Field::TcpFlags,
                Field::IpLen,
                Field::SrcMac,
                Field::DnsQname,
            ],
        );
        let op = match g.index(9) {
            0 | 1 => Op::Eq(value(g, field)),
            // Sets may repeat a value.
            2 => Op::In((0..2 + g.index(3)).map(|_| value(g, field)).collect()),
            3 => {
                let ip = addr(g);
                let len = if ip.is_ipv4() {
                    pick(g, &[0, 8, 16, 24, 31, 32])
                } else {
                    pick(g, &[0, 32, 48, 64, 128])
                };
                let net = match ip {
                    IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask32(len)).into()),
                    IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask128(len)).into()),
                };
                Op::Cidr(net, len)
            }
            4 => {
                let lo = g.range(0, 100);
                Op::Range(lo, lo + g.range(0, 1500))
            }
            5 => Op::Mask {
                mask: 0x12,
                bits: pick(g, &[0, 2, 0x12]),
            },
            6 => Op::Gt(g.range(0, 500)),
            7 if g.index(2) == 0 => {
                Op::Subdomain(pick(g, &["example", "a.example", "b.example", "x.a.example"]).into())
            }
            // An operator of the wrong kind for the field (unchecked rules can hold one).
            _ => Op::Eq(Value::U(53)),
        };
        // Fields are public: unchecked conditions (a value of another kind) on purpose.
        Condition { field, op }
    }

    fn packet(g: &mut SampleRng) -> Packet {
        let some = |g: &mut SampleRng| g.index(8) != 0;
        Packet {
            src_ip: some(g).then(|| addr(g)),
            dst_ip: some(g).then(|| addr(g)),
            src_port: some(g).then(|| pick(g, &[53, 80, 443, 40000])),
            dst_port: some(g).then(|| pick(g, &[53, 80, 443, 40000])),
            proto: some(g).then(|| pick(g, &[1, 6, 17])),
            tcp_flags: some(g).then(|| pick(g, &[0x02, 0x10, 0x12])),
            ip_len: some(g).then(|| pick(g, &[40, 60, 1500])),
            src_mac: some(g).then(|| [pick(g, &[1, 2, 3]); 6]),
            dns: some(g).then(|| {
                Box::new(Dns {
                    qname: some(g).then(|| Untrusted::new(pick(g, NAMES))),
                    ..Dns::default()
                })
            }),
            ..Packet::default()
        }
    }

    /// Every rule against every packet: what replay computed before the index.
    fn naive(
        rules: &[Rule],
        input: &[(Packet, Label<'_>)],
        hosts: &FxHashSet<IpAddr>,
    ) -> Vec<ReplayCounts> {
        let mut out = vec![ReplayCounts::default(); rules.len()];
        for (p, label) in input {
            let uninvolved = !matches!(label, Label::Wave(_))
                && matches!((p.src_ip, p.dst_ip), (Some(s), Some(d)) if !hosts.contains(&s) && !hosts.contains(&d));
            for (rule, c) in rules.iter().zip(out.iter_mut()) {
                let hit = u64::from(rule.matches(p));
                match label {
                    Label::Wave(w) if rule.provenance.wave.as_deref().is_none_or(|rw| rw == *w) => {
                        c.wave_total += 1;
                        c.wave_matched += hit;
                    }
                    Label::Baseline => {
                        c.baseline_total += 1;
                        c.baseline_matched += hit;
                    }
                    _ => {}
                }
                if uninvolved {
                    c.uninvolved_total += 1;
                    c.uninvolved_matched += hit;
                }
            }
        }
        out
    }

    #[test]
    fn indexed_replay_equals_every_rule_against_every_packet() {
        let mut g = SampleRng::new(7);
        let hosts: FxHashSet<IpAddr> = ["10.0.0.1", "2001:db8::1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let (mut matched, mut total) = (0u64, 0u64);
        for round in 0..300 {
            let rules: Vec<Rule> = (0..g.index(40))
                .map(|i| {
                    let mut r = Rule::new(
                        RuleId(u32::try_from(i).unwrap()),
                        RuleDef {
                            action: Action::Drop,
                            conditions: (0..g.index(5)).map(|_| condition(&mut g)).collect(),
                            priority: 100,
                        },
                    );
                    r.provenance.wave =
                        pick(&mut g, &[None, Some("W1"), Some("W2")]).map(Into::into);
                    r
                })
                .collect();
            // W3 is a wave no rule names.
            let input: Vec<(Packet, Label<'_>)> = (0..g.index(200))
                .map(|_| {
                    let label = pick(
                        &mut g,
                        &[
                            Label::Wave("W1"),
                            Label::Wave("W2"),
                            Label::Wave("W3"),
                            Label::Baseline,
                            Label::Other,
                        ],
                    );
                    (packet(&mut g), label)
                })
                .collect();
            let want = naive(&rules, &input, &hosts);
            let got = replay(&rules, input.iter().map(|(p, l)| (p, *l)), &hosts);
            assert_eq!(got, want, "round {round} (seeded: rerun to see it)");
            // Parts replayed side by side and merged give the same counts.
            let cut = g.index(input.len() + 1);
            let mut a = Replayer::new(&rules, &hosts);
            let mut b = Replayer::new(&rules, &hosts);
            for (i, (p, l)) in input.iter().enumerate() {
                if i < cut { a.add(p, *l) } else { b.add(p, *l) }
            }
            a.merge(b);
            assert_eq!(a.finish(), want, "round {round}, cut at {cut}");
            for c in &want {
                matched += c.wave_matched + c.baseline_matched + c.uninvolved_matched;
                total += c.wave_total + c.baseline_total + c.uninvolved_total;
            }
        }
        // The random rules both hit and miss, so the comparison tests something.
        assert!(
            matched > 1000 && total - matched > 10_000,
            "{matched} of {total}"
        );
    }
}
