//! Waves found in sessions rather than in buckets: a beacon to a service nobody used before.
//!
//! A command-and-control beacon checks in with a few packets every few seconds. No bucket of
//! a busy network moves, so the bucket scan never enters a wave for it: lab_E's E5 is 97
//! packets over 49 s beside about 55 packets/s of workstation traffic. What changed is that a
//! pair started checking in, like clockwork, with a service that had never been used. Such a
//! beacon becomes a wave of its own, *scoped* to the pair's conversation. Drafting and replay
//! count only the pair's packets (both directions) as the wave's, so its rules are chosen and
//! judged on the beacon and not on the traffic around it.
//!
//! A beacon is promoted when all of these hold:
//! - it scores at least [`beacon::MIN_SCORE`], i.e. it is reported as a violation;
//! - it began after the baseline's warm-up, or outside the analyst's fixed baseline;
//! - no other client had a session with its service (server, port, protocol) before it began.
//!   The workstations' regular polling of the intranet server is old news; a first-ever
//!   service polled on a schedule is a change. RITA's "first seen" and "prevalence" modifiers
//!   make the same point about destinations;
//! - no bucket wave explains it: one that overlaps it names its client (a brute force opens
//!   connections at a steady pace too), or bucket waves hold most of its check-ins (a flood
//!   from a fixed pool of forged sources, repeated on a timer, revisits each of them on that
//!   timer);
//! - it checked in over at least [`beacon::MIN_EVENTS`] connections, as RITA counts them: an
//!   interactive session (an FTP login typed over a minute) pauses as regularly as a beacon
//!   within one connection;
//! - its server is one host: routers' IGMP queries, router advertisements, mDNS and SSDP
//!   announce themselves to a group address on a timer, and a real LAN is full of them.

use super::beacon::{self, Beacon};
use super::session::SessionStats;
use super::violations::{SessionFinding, is_group};
use super::waves::{Role, WaveEntity};
use crate::decode::Packet;
use crate::time::Timestamp;
use rustc_hash::FxHashMap;
use std::net::IpAddr;

/// The conversation a session wave is made of: a client and one service, both directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    /// The client (initiator).
    pub client: IpAddr,
    /// The server.
    pub server: IpAddr,
    /// The server's port (0 for protocols without ports).
    pub port: u16,
    /// IP protocol.
    pub proto: u8,
}

impl Scope {
    /// Whether a packet belongs to the conversation (either direction).
    #[must_use]
    pub fn matches(&self, p: &Packet) -> bool {
        if p.proto != Some(self.proto) {
            return false;
        }
        let (Some(src), Some(dst)) = (p.src_ip, p.dst_ip) else {
            return false;
        };
        let port = |x: Option<u16>| x.unwrap_or(0) == self.port;
        (src == self.client && dst == self.server && port(p.dst_port))
            || (src == self.server && dst == self.client && port(p.src_port))
    }
}

/// A beacon promoted to a wave, with the packets each side sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Promoted {
    /// The beacon.
    pub beacon: Beacon,
    /// Its conversation.
    pub scope: Scope,
    /// The wave's entities: the client (source) and the server (target).
    pub entities: Vec<WaveEntity>,
}

/// Which beacons become waves (see the module comment), in time order.
///
/// `fresh(first, end)` says whether a pair active from `first` to `end` lies outside what the
/// baseline learned from; `explained(beacon)` whether the bucket waves explain it.
pub fn promote<'a>(
    findings: &[SessionFinding],
    sessions: impl Iterator<Item = &'a SessionStats>,
    fresh: impl Fn(Timestamp, Timestamp) -> bool,
    explained: impl Fn(&Beacon) -> bool,
) -> Vec<Promoted> {
    let candidates: Vec<&Beacon> = findings
        .iter()
        .filter_map(|f| f.beacon.as_ref())
        .filter(|b| {
            b.score >= beacon::MIN_SCORE && b.sessions >= beacon::MIN_EVENTS && !is_group(b.server)
        })
        .filter(|b| fresh(b.first, b.end) && !explained(b))
        .collect();
    if candidates.is_empty() {
        return Vec::new();
    }
    type Service = (IpAddr, u16, u8);
    // Per candidate service: the earliest session of any other client; per candidate pair:
    // the packets each side sent. One pass over the sessions, touching only those services.
    let mut earliest: FxHashMap<Service, Vec<(IpAddr, Timestamp)>> = FxHashMap::default();
    for b in &candidates {
        earliest.entry((b.server, b.port, b.proto)).or_default();
    }
    let mut sent: FxHashMap<(IpAddr, Service), (u64, u64)> = FxHashMap::default();
    for s in sessions {
        let service = (s.server, s.server_port, s.proto);
        let Some(firsts) = earliest.get_mut(&service) else {
            continue;
        };
        firsts.push((s.client, s.first));
        let e = sent.entry((s.client, service)).or_default();
        e.0 += s.packets_fwd;
        e.1 += s.packets_rev;
    }
    let mut out: Vec<Promoted> = candidates
        .into_iter()
        .filter(|b| {
            earliest
                .get(&(b.server, b.port, b.proto))
                .is_none_or(|v| v.iter().all(|(c, t)| *c == b.client || *t >= b.first))
        })
        .map(|b| {
            let (fwd, rev) = sent
                .get(&(b.client, (b.server, b.port, b.proto)))
                .copied()
                .unwrap_or((b.packets, 0));
            let entity = |ip: IpAddr, role, packets| WaveEntity {
                entity: ip.to_string(),
                role,
                packets,
                score: 1.0,
            };
            Promoted {
                scope: Scope {
                    client: b.client,
                    server: b.server,
                    port: b.port,
                    proto: b.proto,
                },
                entities: vec![
                    entity(b.client, Role::Source, fwd),
                    entity(b.server, Role::Target, rev),
                ],
                beacon: b.clone(),
            }
        })
        .collect();
    out.sort_by_key(|p| p.beacon.first);
    out
}

/// A bucket wave as [`explained`] reads it: start, end and entities.
pub type BucketWave<'a> = (Timestamp, Timestamp, &'a [WaveEntity]);

/// Whether bucket waves explain a beacon: one that overlaps it names its client, or they hold
/// at least half of its check-ins.
#[must_use]
pub fn explained(b: &Beacon, waves: &[BucketWave<'_>]) -> bool {
    let name = b.client.to_string();
    let names = waves.iter().any(|(start, end, ents)| {
        *start <= b.end && b.first < *end && ents.iter().any(|e| e.entity == name)
    });
    let inside = b
        .times
        .iter()
        .filter(|t| waves.iter().any(|(start, end, _)| start <= *t && *t < end))
        .count();
    names || inside * 2 >= b.times.len()
}

/// The wave's one-line summary.
#[must_use]
pub fn summary(p: &Promoted) -> String {
    let b = &p.beacon;
    let proto = match b.proto {
        6 => "tcp".to_string(),
        17 => "udp".to_string(),
        n => format!("proto {n}"),
    };
    format!(
        "{} checks in with {} on {proto} port {} every {:.1} s ({} check-ins, {} packets) with a service nobody used before; beacon score {:.2}",
        b.client,
        b.server,
        b.port,
        b.interval_s,
        b.times.len(),
        b.packets,
        b.score
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::session::SessionTable;
    use crate::detect::violations;

    fn pkt(ts_ms: i64, client: &str, server: &str, sp: u16, dport: u16, fwd: bool) -> Packet {
        let flags = if fwd { 0x02 } else { 0x12 };
        let (c, s): (IpAddr, IpAddr) = (client.parse().unwrap(), server.parse().unwrap());
        let (src, dst, sport, dp) = if fwd {
            (c, s, sp, dport)
        } else {
            (s, c, dport, sp)
        };
        Packet {
            ts: Timestamp(ts_ms * 1_000_000),
            src_ip: Some(src),
            dst_ip: Some(dst),
            src_port: Some(sport),
            dst_port: Some(dp),
            proto: Some(6),
            tcp_flags: Some(flags),
            ip_len: Some(240),
            payload_len: Some(200),
            ..Packet::default()
        }
    }

    /// Eight check-ins every 7 s from `client` to `server`:`port`, from `from_ms` on.
    fn beacon(t: &mut SessionTable, client: &str, server: &str, port: u16, from_ms: i64) {
        for i in 0..8i64 {
            let at =
                from_ms + i * 7000 + [0, 90, -60, 40, 0, -30, 70, 10][usize::try_from(i).unwrap()];
            let sp = 40000 + u16::try_from(i).unwrap();
            t.add(&pkt(at, client, server, sp, port, true));
            t.add(&pkt(at + 1, client, server, sp, port, false));
            let mut ack = pkt(at + 2, client, server, sp, port, true);
            ack.tcp_flags = Some(0x18);
            t.add(&ack);
        }
    }

    fn run(t: &SessionTable, warmup_end_ms: i64) -> Vec<Promoted> {
        let span = (Timestamp(0), Timestamp(120_000_000_000));
        let all: Vec<&SessionStats> = t.iter().map(|x| x.1).collect();
        let f = violations::findings(&all, span);
        promote(
            &f,
            all.iter().copied(),
            |first, _| first.0 >= warmup_end_ms * 1_000_000,
            |_| false,
        )
    }

    #[test]
    fn a_late_beacon_to_a_new_service_is_promoted_with_its_scope() {
        let mut t = SessionTable::default();
        // Old news: a workstation polls the server from the start.
        beacon(&mut t, "10.0.0.5", "10.0.0.10", 80, 1000);
        // New: another one starts checking in with a service nobody used.
        beacon(&mut t, "10.0.0.6", "10.0.0.70", 8443, 60_000);
        t.finish();
        let p = run(&t, 10_000);
        assert_eq!(p.len(), 1, "{p:?}");
        let s = p[0].scope;
        assert_eq!((s.client.to_string(), s.port), ("10.0.0.6".into(), 8443));
        assert!(s.matches(&pkt(70_000, "10.0.0.6", "10.0.0.70", 40001, 8443, false)));
        assert!(!s.matches(&pkt(70_000, "10.0.0.6", "10.0.0.70", 40001, 8080, true)));
        assert!(!s.matches(&pkt(70_000, "10.0.0.5", "10.0.0.70", 40001, 8443, true)));
        assert_eq!(p[0].entities[0].role, Role::Source);
        assert_eq!(p[0].entities[0].packets, 16);
        assert_eq!(p[0].entities[1].packets, 8);
        assert!(summary(&p[0]).contains("every 7.0 s"), "{}", summary(&p[0]));
    }

    #[test]
    fn bucket_waves_that_name_the_client_or_hold_its_check_ins_explain_a_beacon() {
        let mut t = SessionTable::default();
        beacon(&mut t, "10.0.0.6", "10.0.0.70", 8443, 60_000);
        t.finish();
        let b = run(&t, 10_000).remove(0).beacon;
        let s = |ms: i64| Timestamp(ms * 1_000_000);
        let ent = |name: &str| WaveEntity {
            entity: name.to_string(),
            role: Role::Source,
            packets: 1,
            score: 1.0,
        };
        let (client, other) = ([ent("10.0.0.6")], [ent("10.0.0.9")]);
        // A wave elsewhere in time, or naming someone else over a few check-ins: no.
        assert!(!explained(&b, &[(s(0), s(50_000), &client)]));
        assert!(!explained(&b, &[(s(59_000), s(75_000), &other)]));
        // One that overlaps it and names its client: yes.
        assert!(explained(&b, &[(s(100_000), s(101_000), &client)]));
        // Waves (of anyone) around most of its check-ins: yes (a flood's forged sources,
        // reused every cycle, come back on the cycle's timer).
        let around: Vec<BucketWave<'_>> = (0..5i64)
            .map(|i| (s(59_500 + i * 7000), s(60_500 + i * 7000), &other[..]))
            .collect();
        assert!(explained(&b, &around));
        assert!(!explained(&b, &around[..3]));
    }

    #[test]
    fn a_beacon_to_a_service_others_used_before_is_not_promoted() {
        let mut t = SessionTable::default();
        beacon(&mut t, "10.0.0.5", "10.0.0.10", 443, 15_000);
        // The same service, from another client, earlier.
        t.add(&pkt(12_000, "10.0.0.7", "10.0.0.10", 50000, 443, true));
        t.finish();
        assert!(run(&t, 10_000).is_empty());
        // Without the earlier client it is new.
        let mut t = SessionTable::default();
        beacon(&mut t, "10.0.0.5", "10.0.0.10", 443, 15_000);
        t.finish();
        assert_eq!(run(&t, 10_000).len(), 1);
        // Before the warm-up ended it is part of what the baseline learned.
        assert!(run(&t, 20_000).is_empty());
    }
}
