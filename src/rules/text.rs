//! Text companions: a rule on the one DNS name, SNI, HTTP host, path, method or user agent
//! that a wave's packets share and the baseline does not.
//!
//! The header rule of [`super::select`] is what firewalls and capture filters can load; text
//! is what an IDS matches and what an analyst recognises ("ApacheBench/2.3 on /contact.html").
//! A companion is drafted only when one value carries most of the wave's packets that have the
//! field at all (for DNS names and TLS SNI, else one domain that most names are under:
//! `dns_qname=*.t.example` for a tunnel that puts a new name in every query), and the rule
//! built on it (the value plus the protocol, server and port those packets share) spares the
//! baseline. Exporters that cannot match text (nftables, iptables,
//! BPF, EDN) refuse it with a comment naming the field; Suricata, Wireshark and RON carry it,
//! escaped.

use super::model::{Condition, Op, domain_field, valid_domain};
use super::select::{Candidate, Choice, Sample};
use crate::decode::{Field, Packet, Value, ValueRef};
use rustc_hash::FxHashMap;

/// Text fields tried, most specific to an attack tool first.
pub const TEXT_FIELDS: &[Field] = &[
    Field::HttpUserAgent,
    Field::TlsSni,
    Field::DnsQname,
    Field::HttpHost,
    Field::HttpPath,
    Field::HttpMethod,
];
/// Least (scaled) wave packets carrying the value.
const MIN_PACKETS: f64 = 20.0;
/// Least share of the wave's packets with the field that carry the value.
const MIN_SHARE: f64 = 0.8;
/// Largest share of the baseline's packets with the field that may carry the value.
const MAX_BASE_SHARE: f64 = 0.05;
/// Share of the value's packets an anchor (protocol, server, port) must hold to be added.
const ANCHOR_SHARE: f64 = 0.95;
/// Fields anchoring a text rule to the traffic it names.
const ANCHORS: &[Field] = &[Field::Proto, Field::DstIp, Field::DstPort];

fn value(p: &Packet, f: Field) -> Option<Value> {
    super::matcher::field_value(p, f).map(crate::decode::ValueRef::to_owned)
}

/// The most common value of `f` among `pkts` and its count.
fn top<'a>(pkts: impl Iterator<Item = &'a Packet>, f: Field) -> Option<(Value, usize, usize)> {
    let mut counts: FxHashMap<Value, usize> = FxHashMap::default();
    let mut n = 0;
    for p in pkts {
        if let Some(v) = value(p, f) {
            *counts.entry(v).or_default() += 1;
            n += 1;
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .map(|(v, c)| (v, c, n))
}

/// What the baseline sample holds of each text field, counted once for every wave's
/// companion: packets with the field, with each value, and (names) under each domain.
pub struct BaseTexts {
    with: [usize; TEXT_FIELDS.len()],
    values: [FxHashMap<Value, usize>; TEXT_FIELDS.len()],
    domains: [FxHashMap<String, usize>; TEXT_FIELDS.len()],
}

impl BaseTexts {
    /// Counts `base` (the drafting baseline sample).
    #[must_use]
    pub fn new(base: &[&Packet]) -> Self {
        let mut t = BaseTexts {
            with: [0; TEXT_FIELDS.len()],
            values: Default::default(),
            domains: Default::default(),
        };
        for (i, &f) in TEXT_FIELDS.iter().enumerate() {
            for p in base {
                if let Some(v) = value(p, f) {
                    t.with[i] += 1;
                    *t.values[i].entry(v).or_default() += 1;
                }
            }
            if domain_field(f) {
                t.domains[i] = domain_counts(base.iter().copied(), f).0;
            }
        }
        t
    }

    fn at(f: Field) -> Option<usize> {
        TEXT_FIELDS.iter().position(|x| *x == f)
    }

    /// Baseline packets with field `f`.
    fn with(&self, f: Field) -> usize {
        Self::at(f).map_or(0, |i| self.with[i])
    }

    /// Baseline packets with a name of `f` strictly under `domain`.
    fn under(&self, f: Field, domain: &str) -> usize {
        Self::at(f)
            .and_then(|i| self.domains[i].get(domain))
            .copied()
            .unwrap_or(0)
    }

    /// Baseline packets a text condition (one value, or a domain) matches.
    fn carrying(&self, c: &Condition) -> usize {
        let Some(i) = Self::at(c.field) else {
            return 0;
        };
        match &c.op {
            Op::Eq(v) => self.values[i].get(v).copied().unwrap_or(0),
            Op::Subdomain(d) => self.domains[i].get(d).copied().unwrap_or(0),
            _ => 0,
        }
    }
}

/// How many of `pkts` carry, in field `f`, a name strictly under each domain of two labels at
/// least that is not itself a public suffix, and how many carry the field at all.
///
/// Public suffixes (`co.uk`, `github.io`, `cloudfront.net`...) come from Mozilla's list,
/// compiled into the `psl` crate: a rule on `*.co.uk` would stop every British company, and
/// no count in one capture can tell a suffix from a domain (a network that never looked up a
/// `.co.uk` name before the wave has no baseline under it). Its private section counts too:
/// a tunnel under one `github.io` site must not become a rule on all of them. Names under a
/// top-level domain the list does not know (`leak.lab`) follow its default rule: the last
/// label is the suffix.
fn domain_counts<'a>(
    pkts: impl Iterator<Item = &'a Packet>,
    f: Field,
) -> (FxHashMap<String, usize>, usize) {
    let mut counts: FxHashMap<String, usize> = FxHashMap::default();
    let mut n = 0;
    for p in pkts {
        let Some(ValueRef::Text(t)) = super::matcher::field_value(p, f) else {
            continue;
        };
        n += 1;
        let name = t.as_bytes().to_ascii_lowercase();
        let name = name.strip_suffix(b".").unwrap_or(&name);
        // Every dot but none in the last label: the domains this name is strictly under.
        let mut labels = 0usize;
        for (i, _) in name.iter().enumerate().rev().filter(|(_, b)| **b == b'.') {
            labels += 1;
            let Some(d) = name.get(i + 1..).and_then(|d| std::str::from_utf8(d).ok()) else {
                continue;
            };
            if labels < 2 {
                continue;
            }
            if let Some(c) = counts.get_mut(d) {
                *c += 1;
            } else if valid_domain(d) && psl::domain(d.as_bytes()).is_some() {
                counts.insert(d.to_string(), 1);
            }
        }
    }
    (counts, n)
}

/// The domain (two labels at least) whose names carry at least [`MIN_SHARE`] of the wave's
/// excess of packets with field `f`, and the wave packets under it. A tunnel or a
/// generated-name flood puts a new name in every packet, all under one domain; the wave's
/// seconds also carry the usual lookups, which the baseline's rate accounts for.
///
/// The names qualify for a chain of domains (`0000.362bc8.s.leak.lab` is under
/// `362bc8.s.leak.lab`, `s.leak.lab` and `leak.lab`). The broadest whose baseline packets are
/// no more than the narrowest's is taken: widening costs no baseline traffic, and a rule on
/// the tunnel's own domain outlives its session labels. A public suffix is never a candidate
/// (see [`domain_counts`]): a wave under `evil.co.uk` gets `*.evil.co.uk` at the broadest.
fn top_domain(s: &Sample<'_>, base: &BaseTexts, f: Field) -> Option<(String, usize)> {
    let (wave, n_w) = domain_counts(s.wave.iter().copied(), f);
    let field_excess = s.excess(n_w, base.with(f));
    if wave.is_empty() || field_excess < MIN_PACKETS {
        return None;
    }
    let mut found: Vec<(String, usize, usize)> = wave
        .into_iter()
        .map(|(d, c)| {
            let b = base.under(f, &d);
            (d, c, b)
        })
        .collect();
    found.retain(|(_, c, b)| s.excess(*c, *b) >= MIN_SHARE * field_excess);
    let least = found.iter().map(|(_, _, b)| *b).min()?;
    let labels = |d: &str| d.bytes().filter(|b| *b == b'.').count();
    found
        .into_iter()
        .filter(|(_, _, b)| *b == least)
        .min_by(|a, b| {
            labels(&a.0)
                .cmp(&labels(&b.0))
                .then(b.1.cmp(&a.1))
                .then_with(|| a.0.cmp(&b.0))
        })
        .map(|(d, c, _)| (d, c))
}

/// The best text companion for a wave, with its estimated figures on the sample (coverage is
/// the share of the wave's excess it matches).
#[must_use]
pub fn text_rule(s: &Sample<'_>, base: &BaseTexts) -> Option<Choice> {
    let mut best: Option<(f64, Choice)> = None;
    for &f in TEXT_FIELDS {
        // One exact value first; for a name, else the domain the names share.
        let exact = top(s.wave.iter().copied(), f).and_then(|(v, c, n)| {
            #[allow(clippy::cast_precision_loss)]
            let most = c as f64 >= MIN_SHARE * n as f64;
            Some((Condition::new(f, Op::Eq(v)).ok().filter(|_| most)?, c))
        });
        let domain = || {
            top_domain(s, base, f)
                .and_then(|(d, c)| Some((Condition::new(f, Op::Subdomain(d)).ok()?, c)))
        };
        let judged = match exact.and_then(|(t, c)| judge(s, base, t, c)) {
            Some(j) => Some(j),
            None if domain_field(f) => domain().and_then(|(t, c)| judge(s, base, t, c)),
            None => None,
        };
        let Some((coverage, choice)) = judged else {
            continue;
        };
        // The field listed first wins ties (a tool's user agent names it best).
        if best.as_ref().is_some_and(|(bc, _)| *bc >= coverage) {
            continue;
        }
        best = Some((coverage, choice));
    }
    best.map(|(_, c)| c)
}

/// The rule on `text` (carried by `c` wave packets, which the caller found to be most of the
/// wave's packets with the field) anchored to the protocol, server and port its packets
/// share, with its coverage; `None` when too few wave packets carry it, the baseline carries
/// it too, or the rule would cost baseline traffic.
fn judge(s: &Sample<'_>, base: &BaseTexts, text: Condition, c: usize) -> Option<(f64, Choice)> {
    let e0 = s.total_excess();
    #[allow(clippy::cast_precision_loss)]
    let base_n = s.base.len().max(1) as f64;
    let f = text.field;
    #[allow(clippy::cast_precision_loss)]
    if (c as f64) * s.wave_stride < MIN_PACKETS {
        return None;
    }
    // Novel against the baseline: a value the baseline's packets with the field often
    // carried (GET, the intranet's own host name) names normal traffic, not the wave.
    let base_same = base.carrying(&text);
    #[allow(clippy::cast_precision_loss)]
    if base_same as f64 > MAX_BASE_SHARE * base.with(f) as f64 {
        return None;
    }
    let mut conds = vec![text];
    let carrying: Vec<&Packet> = s
        .wave
        .iter()
        .copied()
        .filter(|p| conds[0].matches(p))
        .collect();
    for &a in ANCHORS {
        if let Some((av, ac, _)) = top(carrying.iter().copied(), a) {
            #[allow(clippy::cast_precision_loss)]
            let share = ac as f64 / carrying.len().max(1) as f64;
            // A client's own port names no service (`select/ports.rs`): the header rules
            // never name one, nor does a text rule's anchor.
            let own = s.is_own_port(a, av.as_ref());
            if share >= ANCHOR_SHARE
                && !own
                && let Ok(cond) = Condition::new(a, Op::Eq(av))
            {
                conds.push(cond);
            }
        }
    }
    let all = |p: &Packet| conds.iter().all(|c| c.matches(p));
    let w = s.wave.iter().filter(|p| all(p)).count();
    // No baseline packet carries the text (the usual case): none matches the rule either.
    let b = if base_same == 0 {
        0
    } else {
        s.base.iter().filter(|p| all(p)).count()
    };
    #[allow(clippy::cast_precision_loss)]
    let collateral = b as f64 / base_n;
    if collateral > super::draft::MAX_DROP_COLLATERAL {
        return None;
    }
    let coverage = (s.excess(w, b) / e0).min(1.0);
    if coverage <= 0.0 {
        return None;
    }
    let choice = Choice {
        conditions: conds
            .into_iter()
            .map(|cond| Candidate { cond, prior: 0.0 })
            .collect(),
        coverage,
        collateral,
    };
    Some((coverage, choice))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Packet;
    use crate::decode::field::Http;
    use crate::rules::refs;
    use crate::text::Untrusted;
    use crate::time::Timestamp;

    /// A wave of 30 s beside 300 s of baseline, both unsampled.
    fn sample<'a>(wave: &'a [Packet], base: &'a [Packet]) -> Sample<'a> {
        Sample {
            wave: crate::rules::refs(wave),
            wave_stride: 1.0,
            base: crate::rules::refs(base),
            base_stride: 1.0,
            wave_seconds: 30.0,
            base_seconds: 300.0,
            shift_mass: 0.0,
            own_ports: None,
        }
    }

    fn req(src: &str, agent: &[u8], t: i64) -> Packet {
        Packet {
            ts: Timestamp(t * 1_000_000_000),
            src_ip: Some(src.parse().unwrap()),
            dst_ip: Some("10.0.0.10".parse().unwrap()),
            proto: Some(6),
            src_port: Some(40_000),
            dst_port: Some(80),
            http: Some(Box::new(Http {
                user_agent: Some(Untrusted::new(agent)),
                ..Http::default()
            })),
            ..Packet::default()
        }
    }

    #[test]
    fn a_tools_user_agent_becomes_an_anchored_text_rule() {
        let base: Vec<Packet> = (0..300)
            .map(|t| req("10.0.0.5", b"Mozilla/5.0", t))
            .collect();
        let mut wave: Vec<Packet> = base[..30].to_vec();
        wave.extend((0..500).map(|_| req("10.0.0.66", b"ApacheBench/2.3\"; drop", 400)));
        let s = sample(&wave, &base);
        let c = text_rule(&s, &BaseTexts::new(s.base)).expect("a text rule");
        let fields: Vec<Field> = c.conditions.iter().map(|k| k.cond.field).collect();
        assert_eq!(
            fields,
            [
                Field::HttpUserAgent,
                Field::Proto,
                Field::DstIp,
                Field::DstPort
            ]
        );
        assert!(c.coverage > 0.95 && c.collateral == 0.0, "{c:?}");
        // Were the port a client's own (see `select/ports.rs`), no anchor would name it.
        let own: crate::rules::select::OwnPorts = [80].into_iter().collect();
        let own_80 = Sample {
            own_ports: Some(&own),
            ..s
        };
        let c = text_rule(&own_80, &BaseTexts::new(s.base)).expect("a text rule");
        let fields: Vec<Field> = c.conditions.iter().map(|k| k.cond.field).collect();
        assert_eq!(fields, [Field::HttpUserAgent, Field::Proto, Field::DstIp]);
        // Nothing shared: the browsers' own agent is the baseline's, so no rule.
        let plain: Vec<Packet> = (0..500)
            .map(|t| req("10.0.0.5", b"Mozilla/5.0", t))
            .collect();
        assert!(
            text_rule(
                &Sample {
                    wave: refs(&plain),
                    ..s
                },
                &BaseTexts::new(s.base)
            )
            .is_none()
        );
    }

    fn query(src: &str, name: &str, t: i64) -> Packet {
        Packet {
            ts: Timestamp(t * 1_000_000_000),
            src_ip: Some(src.parse().unwrap()),
            dst_ip: Some("10.0.0.2".parse().unwrap()),
            proto: Some(17),
            src_port: Some(40_000),
            dst_port: Some(53),
            dns: Some(Box::new(crate::decode::field::Dns {
                qname: Some(Untrusted::new(name.as_bytes())),
                ..crate::decode::field::Dns::default()
            })),
            ..Packet::default()
        }
    }

    /// The usual lookups of a network: a few names, each asked often.
    fn lookups(n: i64) -> Vec<Packet> {
        let names = [
            "www.example.com",
            "mail.example.org",
            "intranet.corp.example",
        ];
        (0..n)
            .map(|t| query("10.0.0.5", names[usize::try_from(t).unwrap() % 3], t))
            .collect()
    }

    #[test]
    fn a_tunnels_new_names_share_one_domain_rule() {
        let base = lookups(300);
        // The wave's seconds: the usual lookups at their rate, and a tunnel putting a new
        // name under one domain in every query (mixed case, as some tools send).
        let mut wave = lookups(30);
        wave.extend((0..400).map(|i| {
            query(
                "10.0.0.77",
                &format!("{i:x}f00d.{}.T.Tunnel.Example", i % 7),
                400,
            )
        }));
        let s = sample(&wave, &base);
        let c = text_rule(&s, &BaseTexts::new(s.base)).expect("a text rule");
        let first = &c.conditions[0].cond;
        assert_eq!(first.field, Field::DnsQname);
        // The broadest domain that costs the baseline nothing: the tunnel's own.
        assert_eq!(first.op, Op::Subdomain("tunnel.example".into()), "{c:?}");
        assert!(c.coverage > 0.95 && c.collateral == 0.0, "{c:?}");
        // The network looks up the domain's web server: the rule stays below it.
        let mut web = base.clone();
        web.extend((0..10).map(|i| query("10.0.0.5", "www.tunnel.example", i)));
        let c = text_rule(
            &Sample {
                base: refs(&web),
                ..s
            },
            &BaseTexts::new(refs(&web)),
        )
        .expect("a text rule");
        assert_eq!(
            c.conditions[0].cond.op,
            Op::Subdomain("t.tunnel.example".into())
        );
        // The same names in the baseline: the domain is the network's own, no rule.
        let mut busy = base.clone();
        busy.extend((0..300).map(|i| query("10.0.0.9", &format!("{i}.t.tunnel.example"), i)));
        assert!(
            text_rule(
                &Sample {
                    base: refs(&busy),
                    ..s
                },
                &BaseTexts::new(refs(&busy))
            )
            .is_none()
        );
        // New names under domains the baseline uses, none dominant: nothing to name.
        let spread: Vec<Packet> = (0..400)
            .map(|i| {
                query(
                    "10.0.0.77",
                    &format!(
                        "n{i}.{}",
                        ["example.com", "example.org", "corp.example"][i % 3]
                    ),
                    400,
                )
            })
            .collect();
        assert!(
            text_rule(
                &Sample {
                    wave: refs(&spread),
                    ..s
                },
                &BaseTexts::new(s.base)
            )
            .is_none()
        );
        // A busy second of the usual lookups has no excess of names: no rule.
        let usual = lookups(60);
        assert!(
            text_rule(
                &Sample {
                    wave: refs(&usual),
                    ..s
                },
                &BaseTexts::new(s.base)
            )
            .is_none()
        );
        // One name asked over and over stays an exact name.
        let one: Vec<Packet> = (0..400)
            .map(|_| query("10.0.0.77", "x.flood.example", 400))
            .collect();
        let c = text_rule(
            &Sample {
                wave: refs(&one),
                ..s
            },
            &BaseTexts::new(s.base),
        )
        .expect("a text rule");
        assert!(matches!(c.conditions[0].cond.op, Op::Eq(_)), "{c:?}");
    }

    /// A public suffix is never the rule's domain, though the baseline never looked anything
    /// up under it: the broadest candidate is the registrable domain the names share (ICANN
    /// and private sections of the list alike, and a wildcard entry), and names that share
    /// only a suffix get no domain rule.
    #[test]
    fn a_public_suffix_is_never_the_rules_domain() {
        let base = lookups(300);
        let tunnel = |domain: &str| -> Vec<Packet> {
            let mut wave = lookups(30);
            wave.extend(
                (0..400)
                    .map(|i| query("10.0.0.77", &format!("{i:x}f00d.{}.s.{domain}", i % 7), 400)),
            );
            wave
        };
        for (domain, want) in [
            ("evil.co.uk", "evil.co.uk"),
            ("attacker.github.io", "attacker.github.io"),
            ("d1234.cloudfront.net", "d1234.cloudfront.net"),
            // `*.ck` is a wildcard rule: `evil.ck` is itself a suffix.
            ("x.evil.ck", "x.evil.ck"),
            ("leak.lab", "leak.lab"),
        ] {
            let wave = tunnel(domain);
            let s = sample(&wave, &base);
            let c = text_rule(&s, &BaseTexts::new(s.base)).expect("a text rule");
            assert_eq!(
                c.conditions[0].cond.op,
                Op::Subdomain(want.into()),
                "{domain}: {c:?}"
            );
        }
        // New sites under one private suffix: one name each, nothing they share but the suffix.
        let sites: Vec<Packet> = (0..400)
            .map(|i| query("10.0.0.77", &format!("www.site{i}.github.io"), 400))
            .collect();
        let s = sample(&sites, &base);
        let c = text_rule(&s, &BaseTexts::new(s.base));
        assert!(
            c.as_ref()
                .is_none_or(|c| !matches!(c.conditions[0].cond.op, Op::Subdomain(_))),
            "{c:?}"
        );
    }
}
