//! Entities ranked by attention, SCYTHE-style: a weighted sum of confidence, evidence,
//! recency, anomaly and protocol-violation components, every component kept so the rank can be
//! explained; tiers hot / warm / cold. Also a 22-dimension behavioural fingerprint per entity
//! for later similar-entity queries.

use super::session::{SessionStats, Welford, flag};
use super::violations::SessionFinding;
use super::waves::WaveEntity;
use crate::engine::entities::{EntityId, EntityStats, EntityTable};
use crate::time::Timestamp;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Component weights (SCYTHE's attention engine defaults), configurable.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Weights {
    /// Confidence that the entity drives a wave.
    pub confidence: f64,
    /// Amount of evidence (packets in waves and in violating sessions, either end).
    pub evidence: f64,
    /// How recently it was active.
    pub recency: f64,
    /// How many distinct observations point at it.
    pub anomaly: f64,
    /// Protocol-expectation violations.
    pub protocol: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            confidence: 0.37,
            evidence: 0.28,
            recency: 0.18,
            anomaly: 0.07,
            protocol: 0.10,
        }
    }
}

/// Recency half-life (SCYTHE: 1800 s).
pub const RECENCY_HALF_LIFE_S: f64 = 1800.0;
/// Tier thresholds (SCYTHE): hot at or above the first, warm at or above the second.
pub const TIERS: (f64, f64) = (0.65, 0.35);

/// The five components, each in [0, 1].
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Components {
    /// Strength of the strongest wave it drives, times its share of that wave.
    pub confidence: f64,
    /// log10(1 + evidence packets) / 4, capped at 1 (packets of the waves it drives and of
    /// the violating sessions it opened; those it answered count half).
    pub evidence: f64,
    /// 0.5^(age of its last packet / half-life) at the capture's end.
    pub recency: f64,
    /// 0.7 min(1, observations/10) + 0.3 min(1, kinds/4); observations are its waves and its
    /// violating sessions (those it answered, as their server, count half).
    pub anomaly: f64,
    /// Largest session violation score (as client; half as server).
    pub protocol: f64,
}

/// Count and worst score of one violation kind for an entity.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ViolationCount {
    /// Kind.
    pub kind: String,
    /// Sessions with it.
    pub sessions: u64,
    /// Largest weight.
    pub score: f64,
}

/// Number of dimensions of [`RankedEntity::fingerprint`].
pub const FINGERPRINT_DIMS: usize = 22;

/// One ranked entity.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RankedEntity {
    /// Address.
    pub entity: String,
    /// Weighted sum of the components.
    pub score: f64,
    /// `hot`, `warm` or `cold`.
    pub tier: &'static str,
    /// Every component.
    pub components: Components,
    /// Ids of the waves it drives.
    pub waves: Vec<u32>,
    /// Its violations (sessions it opened), worst first.
    pub violations: Vec<ViolationCount>,
    /// Violations of the sessions it answered (as their server), worst first: the victim of
    /// a spoofed flood opens nothing, yet every forged source's SYN-only session is its.
    pub violations_received: Vec<ViolationCount>,
    /// Behavioural fingerprint: rate, fan-out and port-spread features used for similarity.
    #[serde(skip)]
    pub fingerprint: [f32; FINGERPRINT_DIMS],
}

/// A wave as the ranker needs it.
pub struct WaveRef<'a> {
    /// Wave id.
    pub id: u32,
    /// Strength in [0, 1].
    pub strength: f64,
    /// Its entities.
    pub entities: &'a [WaveEntity],
}

/// Violating sessions and the worst score, by kind. Keyed by the kinds' static names, made
/// owned strings only for the ranked entities ([`counts`]): the bench capture's 74,620
/// violating sessions allocated a key twice each.
type Kinds = BTreeMap<&'static str, (u64, f64)>;

/// Per entity while ranking: components so far, wave ids, evidence packets, violations by kind
/// (as client, as server).
#[derive(Default)]
struct Partial {
    c: Components,
    waves: Vec<u32>,
    evidence: f64,
    sent: Kinds,
    received: Kinds,
}

#[derive(Default)]
struct SessionAgg {
    payload: Welford,
    iat: Welford,
    proto: [u64; 4],
    flags: [u64; 5],
    packets: u64,
}

/// An entity's score before it is known to make the list.
struct Scored<'a> {
    id: EntityId,
    st: &'a EntityStats,
    score: f64,
    c: Components,
    waves_of: Vec<u32>,
    viol: Kinds,
    received: Kinds,
}

/// The entity a wave names: an address, or a MAC in `aa:bb:cc:dd:ee:ff` form.
fn parse_entity(name: &str) -> Option<EntityId> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Some(EntityId::Ip(ip));
    }
    let mut mac = [0u8; 6];
    let mut parts = name.split(':');
    for b in &mut mac {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(EntityId::Mac(mac))
}

fn tier(score: f64) -> &'static str {
    if score >= TIERS.0 {
        "hot"
    } else if score >= TIERS.1 {
        "warm"
    } else {
        "cold"
    }
}

/// Violation counts, worst first (then by kind).
fn counts(kinds: Kinds) -> Vec<ViolationCount> {
    let mut v: Vec<ViolationCount> = kinds
        .into_iter()
        .map(|(kind, (sessions, score))| ViolationCount {
            kind: kind.to_string(),
            sessions,
            score,
        })
        .collect();
    v.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.kind.cmp(&b.kind)));
    v
}

/// Ranks every entity; returns the best `limit`, highest score first.
#[must_use]
pub fn rank<'a>(
    table: &EntityTable,
    sessions: impl Iterator<Item = &'a SessionStats>,
    findings: &[SessionFinding],
    waves: &[WaveRef<'_>],
    end: Timestamp,
    weights: &Weights,
    limit: usize,
) -> Vec<RankedEntity> {
    // Keyed by entity, not by name: formatting the address of every session finding and of
    // every entity of the table (hundreds of thousands under a spoofed flood) to look it up
    // was most of ranking's time. Only the entities that make the cut get a name below.
    let mut per: FxHashMap<EntityId, Partial> = FxHashMap::default();
    // Wave entity names that are no address (none today; kept so nothing is silently lost).
    let mut per_named: FxHashMap<String, Partial> = FxHashMap::default();
    for w in waves {
        let top = w
            .entities
            .iter()
            .map(|e| e.score)
            .fold(0.0, f64::max)
            .max(1e-9);
        for e in w.entities {
            let p = match parse_entity(&e.entity) {
                Some(id) => per.entry(id).or_default(),
                None => per_named.entry(e.entity.clone()).or_default(),
            };
            p.c.confidence = p.c.confidence.max(w.strength * (e.score / top).min(1.0));
            if !p.waves.contains(&w.id) {
                p.waves.push(w.id);
            }
            #[allow(clippy::cast_precision_loss)]
            {
                p.evidence += e.packets as f64;
            }
        }
    }
    // Both ends of a violating session are evidence and observations, the server's at half
    // weight, as its protocol score is (it answered; it did not choose to send).
    for f in findings {
        for (ip, client) in [(f.client, true), (f.server, false)] {
            if !client && f.server == f.client {
                continue;
            }
            let p = per.entry(EntityId::Ip(ip)).or_default();
            let factor = if client { 1.0 } else { 0.5 };
            p.c.protocol = p.c.protocol.max(f.score * factor);
            let kinds = if client { &mut p.sent } else { &mut p.received };
            for v in &f.violations {
                #[allow(clippy::cast_precision_loss)]
                {
                    p.evidence += v.packets as f64 * factor;
                }
                let e = kinds.entry(v.kind).or_default();
                e.0 += 1;
                e.1 = e.1.max(v.score);
            }
        }
    }
    let mut scored: Vec<Scored<'_>> = Vec::with_capacity(table.len());
    for (id, st) in table.iter() {
        let mut partial = per.remove(id);
        if partial.is_none() && !per_named.is_empty() {
            partial = per_named.remove(&id.to_string());
        }
        let Partial {
            mut c,
            waves: waves_of,
            evidence: evidence_packets,
            sent: viol,
            received,
        } = partial.unwrap_or_default();
        #[allow(clippy::cast_precision_loss)]
        {
            c.evidence = ((1.0 + evidence_packets).log10() / 4.0).min(1.0);
            let age = (end.0 - st.last.0).max(0) as f64 / 1e9;
            c.recency = 0.5f64.powf(age / RECENCY_HALF_LIFE_S);
            let sessions = |k: &Kinds| k.values().map(|v| v.0 as f64).sum::<f64>();
            let obs = waves_of.len() as f64 + sessions(&viol) + 0.5 * sessions(&received);
            let distinct = viol
                .keys()
                .chain(received.keys().filter(|k| !viol.contains_key(*k)));
            let kinds = distinct.count() as f64 + if waves_of.is_empty() { 0.0 } else { 1.0 };
            c.anomaly = 0.7 * (obs / 10.0).min(1.0) + 0.3 * (kinds / 4.0).min(1.0);
        }
        let score = weights.confidence * c.confidence
            + weights.evidence * c.evidence
            + weights.recency * c.recency
            + weights.anomaly * c.anomaly
            + weights.protocol * c.protocol;
        scored.push(Scored {
            id: *id,
            st,
            score,
            c,
            waves_of,
            viol,
            received,
        });
    }
    // Only entities scoring at least the limit-th best can make the list (ties included, so
    // the order by name among equal scores is decided below exactly as with all of them).
    if limit == 0 {
        return Vec::new();
    }
    if scored.len() > limit {
        scored.select_nth_unstable_by(limit - 1, |a, b| b.score.total_cmp(&a.score));
        let cut = scored[limit - 1].score;
        scored.retain(|x| x.score.total_cmp(&cut).is_ge());
    }
    // Session aggregates (for the fingerprints) of the entities that made the cut only:
    // merged for every address of every session, they were most of ranking's time (258,598
    // sessions, 6,295 addresses, 100 kept on the bench capture). Each address's sessions
    // are merged in the same order as before, so its figures are the same.
    let wanted: FxHashSet<IpAddr> = scored
        .iter()
        .filter_map(|x| match x.id {
            EntityId::Ip(ip) => Some(ip),
            EntityId::Mac(_) => None,
        })
        .collect();
    let mut agg: FxHashMap<IpAddr, SessionAgg> = FxHashMap::default();
    for s in sessions {
        for ip in [s.client, s.server] {
            if !wanted.contains(&ip) {
                continue;
            }
            let a = agg.entry(ip).or_default();
            a.payload.merge(&s.payload_fwd);
            a.payload.merge(&s.payload_rev);
            a.iat.merge(&s.iat);
            let slot = match s.proto {
                6 => 0,
                17 => 1,
                1 | 58 => 2,
                _ => 3,
            };
            a.proto[slot] += s.packets();
            for (i, c) in s.flags.iter().enumerate() {
                a.flags[i] += c;
            }
            a.packets += s.packets();
        }
    }
    let mut out: Vec<RankedEntity> = Vec::with_capacity(scored.len());
    for Scored {
        id,
        st,
        score,
        c,
        waves_of,
        viol,
        received,
    } in scored
    {
        let sa = match id {
            EntityId::Ip(ip) => agg.get(&ip),
            EntityId::Mac(_) => None,
        };
        out.push(RankedEntity {
            entity: id.to_string(),
            score,
            tier: tier(score),
            components: c,
            waves: waves_of,
            violations: counts(viol),
            violations_received: counts(received),
            fingerprint: fingerprint(st, sa, c.protocol.max(c.confidence)),
        });
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.entity.cmp(&b.entity)));
    out.truncate(limit);
    out
}

/// The 22 dimensions, each scaled to about [0, 1]: log packets out/in, log bytes out/in,
/// mean and std of payload size (/1500), log mean inter-arrival, inter-arrival cv (/4), log
/// packet rate, log peers, log ports out/in, TCP/UDP/ICMP/other shares, SYN/ACK/RST/FIN/PSH
/// shares, anomaly.
fn fingerprint(st: &EntityStats, sa: Option<&SessionAgg>, anomaly: f64) -> [f32; FINGERPRINT_DIMS] {
    #[allow(clippy::cast_precision_loss)]
    let lg = |x: u64, top: f64| ((1.0 + x as f64).log10() / top).min(1.0);
    let mut v = [0.0f64; FINGERPRINT_DIMS];
    v[0] = lg(st.packets_out, 7.0);
    v[1] = lg(st.packets_in, 7.0);
    v[2] = lg(st.bytes_out, 10.0);
    v[3] = lg(st.bytes_in, 10.0);
    #[allow(clippy::cast_precision_loss)]
    let dur = ((st.last.0 - st.first.0).max(0) as f64 / 1e9).max(1e-3);
    if let Some(a) = sa {
        v[4] = (a.payload.mean / 1500.0).min(1.0);
        v[5] = (a.payload.std() / 1500.0).min(1.0);
        v[6] = ((1.0 + a.iat.mean * 1000.0).log10() / 7.0).min(1.0);
        v[7] = (a.iat.cv() / 4.0).min(1.0);
        #[allow(clippy::cast_precision_loss)]
        let tot = a.packets.max(1) as f64;
        for i in 0..4 {
            #[allow(clippy::cast_precision_loss)]
            let x = a.proto[i] as f64 / tot;
            v[12 + i] = x;
        }
        for i in 0..5 {
            #[allow(clippy::cast_precision_loss)]
            let x = (a.flags[i] as f64 / tot).min(1.0);
            v[16 + i] = x;
        }
        let _ = flag::SYN;
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = st.packets() as f64 / dur;
    v[8] = ((1.0 + rate).log10() / 6.0).min(1.0);
    v[9] = lg(st.peers.len() as u64 + st.peers.overflow, 5.0);
    v[10] = lg(st.ports_out.len() as u64 + st.ports_out.overflow, 5.0);
    v[11] = lg(st.ports_in.len() as u64 + st.ports_in.overflow, 5.0);
    v[21] = anomaly.clamp(0.0, 1.0);
    #[allow(clippy::cast_possible_truncation)]
    v.map(|x| x as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Packet;
    use crate::detect::waves::Role;

    #[test]
    fn wave_driver_outranks_bystander_and_components_add_up() {
        let mut t = EntityTable::default();
        let p = |s: &str, d: &str, ts: i64| Packet {
            ts: Timestamp(ts),
            src_ip: Some(s.parse().unwrap()),
            dst_ip: Some(d.parse().unwrap()),
            proto: Some(6),
            ..Packet::default()
        };
        t.add(&p("10.0.0.66", "10.0.0.10", 0));
        t.add(&p("10.0.0.5", "10.0.0.10", 0));
        let ents = vec![
            WaveEntity {
                entity: "10.0.0.66".into(),
                role: Role::Source,
                packets: 4000,
                score: 0.6,
            },
            WaveEntity {
                entity: "10.0.0.10".into(),
                role: Role::Target,
                packets: 4000,
                score: 0.4,
            },
        ];
        let waves = [WaveRef {
            id: 1,
            strength: 0.9,
            entities: &ents,
        }];
        let w = Weights::default();
        let r = rank(&t, std::iter::empty(), &[], &waves, Timestamp(0), &w, 10);
        assert_eq!(r[0].entity, "10.0.0.66");
        assert_eq!(r[0].waves, vec![1]);
        assert_eq!(r.last().unwrap().entity, "10.0.0.5");
        let c = r[0].components;
        let sum = w.confidence * c.confidence
            + w.evidence * c.evidence
            + w.recency * c.recency
            + w.anomaly * c.anomaly
            + w.protocol * c.protocol;
        assert!((sum - r[0].score).abs() < 1e-12);
        assert!((c.confidence - 0.9).abs() < 1e-12 && (c.recency - 1.0).abs() < 1e-12);
        assert_eq!(r[0].tier, "hot");
        assert_eq!(r[2].tier, "cold");
        assert_eq!(r[0].fingerprint.len(), FINGERPRINT_DIMS);
    }

    #[test]
    fn fingerprints_carry_session_figures_whatever_the_cut() {
        let mut t = EntityTable::default();
        let mut sessions = crate::detect::session::SessionTable::default();
        let p = |s: &str, sp: u16, d: &str, dp: u16, proto: u8, len: u32, ts: i64| Packet {
            ts: Timestamp(ts * 1_000_000_000),
            src_ip: Some(s.parse().unwrap()),
            dst_ip: Some(d.parse().unwrap()),
            proto: Some(proto),
            src_port: Some(sp),
            dst_port: Some(dp),
            tcp_flags: (proto == 6).then_some(0x18),
            payload_len: Some(len),
            ..Packet::default()
        };
        for i in 0..20 {
            for q in [
                p("10.0.0.66", 40_000, "10.0.0.10", 443, 6, 600, i),
                p("10.0.0.5", 50_000, "10.0.0.53", 53, 17, 40, i),
            ] {
                t.add(&q);
                sessions.add(&q);
            }
        }
        let w = Weights::default();
        let stats = || sessions.iter().map(|x| x.1);
        let all = rank(&t, stats(), &[], &[], Timestamp(0), &w, 10);
        let attacker = all.iter().find(|e| e.entity == "10.0.0.66").unwrap();
        // TCP share 1, mean payload 600 of 1500: figures that only the sessions give.
        assert!(
            (attacker.fingerprint[12] - 1.0).abs() < 1e-6,
            "{attacker:?}"
        );
        assert!((attacker.fingerprint[4] - 0.4).abs() < 1e-6, "{attacker:?}");
        // Ranked with a cut, an entity gets the same fingerprint as without one.
        for limit in 1..=all.len() {
            for e in rank(&t, stats(), &[], &[], Timestamp(0), &w, limit) {
                let same = all.iter().find(|x| x.entity == e.entity).unwrap();
                assert_eq!(e.fingerprint, same.fingerprint, "{} at {limit}", e.entity);
            }
        }
    }

    #[test]
    fn the_cut_keeps_ties_in_name_order_and_names_parse_back() {
        let mut t = EntityTable::default();
        for s in ["10.0.0.9", "10.0.0.3", "10.0.0.7", "10.0.0.5"] {
            t.add(&Packet {
                ts: Timestamp(0),
                src_ip: Some(s.parse().unwrap()),
                dst_ip: Some("10.0.0.1".parse().unwrap()),
                proto: Some(17),
                ..Packet::default()
            });
        }
        let w = Weights::default();
        let all = rank(&t, std::iter::empty(), &[], &[], Timestamp(0), &w, 10);
        let two = rank(&t, std::iter::empty(), &[], &[], Timestamp(0), &w, 2);
        assert_eq!(two.len(), 2);
        assert_eq!(two, all[..2].to_vec());
        // The four senders tie; the receiver differs from them.
        let senders: Vec<&str> = all
            .iter()
            .map(|e| e.entity.as_str())
            .filter(|e| *e != "10.0.0.1")
            .collect();
        assert_eq!(senders, ["10.0.0.3", "10.0.0.5", "10.0.0.7", "10.0.0.9"]);
        let one = rank(&t, std::iter::empty(), &[], &[], Timestamp(0), &w, 1);
        assert_eq!(one, all[..1].to_vec());
        assert!(rank(&t, std::iter::empty(), &[], &[], Timestamp(0), &w, 0).is_empty());
        let mac = EntityId::Mac([0xaa, 0xbb, 0x0c, 0xd, 0xe, 0xff]);
        assert_eq!(parse_entity(&mac.to_string()), Some(mac));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(parse_entity("2001:db8::1"), Some(EntityId::Ip(v6)));
        assert_eq!(parse_entity("aa:bb"), None);
        assert_eq!(parse_entity("aa:bb:cc:dd:ee:ff:00"), None);
    }
}
