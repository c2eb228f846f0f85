//! Text companions: a rule on the one DNS name, SNI, HTTP host, path, method or user agent
//! that a wave's packets share and the baseline does not.
//!
//! The header rule of [`super::select`] is what firewalls and capture filters can load; text
//! is what an IDS matches and what an analyst recognises ("ApacheBench/2.3 on /contact.html").
//! A companion is drafted only when one value carries most of the wave's packets that have the
//! field at all, and the rule built on it (the value plus the protocol, server and port those
//! packets share) spares the baseline. Exporters that cannot match text (nftables, iptables,
//! BPF, EDN) refuse it with a comment naming the field; Suricata, Wireshark and RON carry it,
//! escaped.

use super::model::{Condition, Op};
use super::select::{Candidate, Choice, Sample};
use crate::decode::{Field, Packet, Value};
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

/// The best text companion for a wave, with its estimated figures on the sample (coverage is
/// the share of the wave's excess it matches).
#[must_use]
pub fn text_rule(s: &Sample<'_>) -> Option<Choice> {
    let e0 = s.total_excess();
    #[allow(clippy::cast_precision_loss)]
    let base_n = s.base.len().max(1) as f64;
    let mut best: Option<(f64, Choice)> = None;
    for &f in TEXT_FIELDS {
        let Some((v, c, n)) = top(s.wave.iter(), f) else {
            continue;
        };
        #[allow(clippy::cast_precision_loss)]
        let (cf, nf) = (c as f64, n as f64);
        if cf * s.wave_stride < MIN_PACKETS || cf < MIN_SHARE * nf {
            continue;
        }
        let Ok(text) = Condition::new(f, Op::Eq(v.clone())) else {
            continue;
        };
        // Novel against the baseline: a value the baseline's packets with the field often
        // carried (GET, the intranet's own host name) names normal traffic, not the wave.
        let base_with = s.base.iter().filter(|p| value(p, f).is_some()).count();
        let base_same = s.base.iter().filter(|p| text.matches(p)).count();
        #[allow(clippy::cast_precision_loss)]
        if base_same as f64 > MAX_BASE_SHARE * base_with as f64 {
            continue;
        }
        let mut conds = vec![text];
        let carrying: Vec<&Packet> = s.wave.iter().filter(|p| conds[0].matches(p)).collect();
        for &a in ANCHORS {
            if let Some((av, ac, _)) = top(carrying.iter().copied(), a) {
                #[allow(clippy::cast_precision_loss)]
                let share = ac as f64 / carrying.len().max(1) as f64;
                if share >= ANCHOR_SHARE
                    && let Ok(cond) = Condition::new(a, Op::Eq(av))
                {
                    conds.push(cond);
                }
            }
        }
        let all = |p: &Packet| conds.iter().all(|c| c.matches(p));
        let w = s.wave.iter().filter(|p| all(p)).count();
        let b = s.base.iter().filter(|p| all(p)).count();
        #[allow(clippy::cast_precision_loss)]
        let collateral = b as f64 / base_n;
        if collateral > super::draft::MAX_DROP_COLLATERAL {
            continue;
        }
        let coverage = (s.excess(w, b) / e0).min(1.0);
        // The field listed first wins ties (a tool's user agent names it best).
        if coverage <= 0.0 || best.as_ref().is_some_and(|(bc, _)| *bc >= coverage) {
            continue;
        }
        let choice = Choice {
            conditions: conds
                .into_iter()
                .map(|cond| Candidate { cond, prior: 0.0 })
                .collect(),
            coverage,
            collateral,
        };
        best = Some((coverage, choice));
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Packet;
    use crate::decode::field::Http;
    use crate::text::Untrusted;
    use crate::time::Timestamp;

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
        let s = Sample {
            wave: &wave,
            wave_stride: 1.0,
            base: &base,
            base_stride: 1.0,
            wave_seconds: 30.0,
            base_seconds: 300.0,
            shift_mass: 0.0,
        };
        let c = text_rule(&s).expect("a text rule");
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
        // Nothing shared: the browsers' own agent is the baseline's, so no rule.
        let plain: Vec<Packet> = (0..500)
            .map(|t| req("10.0.0.5", b"Mozilla/5.0", t))
            .collect();
        assert!(text_rule(&Sample { wave: &plain, ..s }).is_none());
    }
}
