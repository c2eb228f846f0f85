//! The reply direction of a drafted rule.
//!
//! The greedy search in [`super::select`] keeps one direction of a conversation: the
//! attacker's requests carry the excess that tells the wave apart, while the server's replies
//! share their source port and address with its normal traffic. A firewall dropping the
//! requests stops the replies too, but a capture filter or an IDS rule meant to isolate the
//! wave misses half of it, and so does a rule checked against the wave's packets. The mirror
//! swaps the rule's directional conditions (addresses and ports) and keeps only the conditions
//! that hold in both directions (protocol, IP version); it is drafted as a companion rule only
//! when it adds wave packets and spares the baseline.

use super::model::Condition;
use super::select::{Candidate, Choice, Sample};
use crate::decode::Field;

/// Least share of the wave's excess the mirror must add.
const MIN_GAIN: f64 = 0.02;
/// Largest share of baseline packets the mirror may match: the bound under which a draft
/// may drop rather than only alert.
const MAX_COLLATERAL: f64 = super::draft::MAX_DROP_COLLATERAL;

/// The condition for the other direction, or `None` when the field is one-directional
/// (flags, lengths, TTL and MAC differ between requests and replies).
fn swap(c: &Condition) -> Option<Condition> {
    let field = match c.field {
        Field::SrcIp => Field::DstIp,
        Field::DstIp => Field::SrcIp,
        Field::SrcPort => Field::DstPort,
        Field::DstPort => Field::SrcPort,
        Field::Proto | Field::IpVersion => c.field,
        _ => return None,
    };
    Condition::new(field, c.op.clone()).ok()
}

/// The conditions, addresses first, then ports, then the rest (stable within each).
fn selective(cs: &[Condition]) -> Vec<&Condition> {
    let mut v: Vec<&Condition> = cs.iter().collect();
    v.sort_by_key(|c| match c.field {
        Field::SrcIp | Field::DstIp => 0,
        Field::SrcPort | Field::DstPort => 1,
        _ => 2,
    });
    v
}

/// The companion rule for replies of the chosen rule's traffic, with its estimated figures
/// on the sample (coverage is the share of the wave's excess it adds beyond the rule).
#[must_use]
pub fn mirror(choice: &Choice, s: &Sample<'_>) -> Option<Choice> {
    let conds: Vec<Condition> = choice.conditions.iter().map(|c| c.cond.clone()).collect();
    // Only a rule that names an end of the conversation has a reverse direction.
    if !conds
        .iter()
        .any(|c| matches!(c.field, Field::SrcIp | Field::DstIp))
    {
        return None;
    }
    let mirrored: Vec<Condition> = conds.iter().filter_map(swap).collect();
    let has_ip = mirrored
        .iter()
        .any(|c| matches!(c.field, Field::SrcIp | Field::DstIp));
    if !has_ip || mirrored == conds {
        return None;
    }
    // Counted with the address conditions tested first: on the baseline sample (60,000
    // packets, once per wave) they reject nearly every packet at once, where a protocol or a
    // port first matched most of them and the search went on (counting was 1.7% of a
    // report's CPU). The order changes no count.
    let (mirrored_first, conds_first) = (selective(&mirrored), selective(&conds));
    let all = |cs: &[&Condition], p| cs.iter().all(|c| c.matches(p));
    let w = s
        .wave
        .iter()
        .filter(|p| all(&mirrored_first, p) && !all(&conds_first, p))
        .count();
    let b = s.base.iter().filter(|p| all(&mirrored_first, p)).count();
    let e0 = s.total_excess();
    let gain = s.excess(w, b) / e0;
    #[allow(clippy::cast_precision_loss)]
    let collateral = b as f64 / s.base.len().max(1) as f64;
    (gain >= MIN_GAIN && collateral <= MAX_COLLATERAL).then(|| Choice {
        conditions: mirrored
            .into_iter()
            .map(|cond| Candidate { cond, prior: 0.0 })
            .collect(),
        coverage: gain.min(1.0),
        collateral,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Packet;
    use crate::rules::model::Op;
    use crate::time::Timestamp;

    fn pkt(src: &str, sport: u16, dst: &str, dport: u16, t: i64) -> Packet {
        Packet {
            ts: Timestamp(t * 1_000_000_000),
            src_ip: Some(src.parse().unwrap()),
            dst_ip: Some(dst.parse().unwrap()),
            proto: Some(6),
            src_port: Some(sport),
            dst_port: Some(dport),
            ..Packet::default()
        }
    }

    fn cand(field: Field, v: &str) -> Candidate {
        let value = match field {
            Field::SrcIp | Field::DstIp => crate::decode::Value::Ip(v.parse().unwrap()),
            _ => crate::decode::Value::U(v.parse().unwrap()),
        };
        Candidate {
            cond: Condition::new(field, Op::Eq(value)).unwrap(),
            prior: 0.0,
        }
    }

    #[test]
    fn replies_of_an_attackers_conversation_get_a_companion_rule() {
        // Baseline: clients browse the server. Wave: an attacker's requests and the server's
        // replies, plus the usual browsing.
        let base: Vec<Packet> = (0..400)
            .flat_map(|t| {
                [
                    pkt("10.0.0.5", 40_000, "10.0.0.10", 80, t),
                    pkt("10.0.0.10", 80, "10.0.0.5", 40_000, t),
                ]
            })
            .collect();
        let mut wave: Vec<Packet> = base[..40].to_vec();
        for i in 0..300 {
            wave.push(pkt("10.0.0.66", 50_000 + i, "10.0.0.10", 80, 500));
            wave.push(pkt("10.0.0.10", 80, "10.0.0.66", 50_000 + i, 500));
        }
        let s = Sample {
            wave: crate::rules::refs(&wave),
            wave_stride: 1.0,
            base: crate::rules::refs(&base),
            base_stride: 1.0,
            wave_seconds: 20.0,
            base_seconds: 400.0,
            shift_mass: 0.0,
            own_ports: None,
        };
        let requests = Choice {
            conditions: vec![
                cand(Field::SrcIp, "10.0.0.66"),
                cand(Field::DstIp, "10.0.0.10"),
                cand(Field::DstPort, "80"),
            ],
            coverage: 0.5,
            collateral: 0.0,
        };
        let m = mirror(&requests, &s).expect("a reply rule");
        let hits = |p: &Packet| m.conditions.iter().all(|c| c.cond.matches(p));
        assert!(hits(&pkt("10.0.0.10", 80, "10.0.0.66", 50_001, 500)));
        assert!(!hits(&pkt("10.0.0.10", 80, "10.0.0.5", 40_000, 500)));
        assert!(m.coverage > 0.4, "{m:?}");
        assert!(m.collateral < 1e-9);

        // Replies to a client the baseline knows well are not worth a rule of their own.
        let mut busy = base.clone();
        busy.extend((0..400).map(|t| pkt("10.0.0.10", 80, "10.0.0.66", 45_000, t)));
        let s2 = Sample {
            base: crate::rules::refs(&busy),
            ..s
        };
        assert!(mirror(&requests, &s2).is_none());
        // A rule naming no address has no reverse direction.
        let ports = Choice {
            conditions: vec![cand(Field::DstPort, "80")],
            ..requests
        };
        assert!(mirror(&ports, &s).is_none());
    }
}
