//! What a closed wave carries: its shifts and entities, the packets it holds beyond the
//! baseline, the violations of its entities' sessions and its mean residual profile.

use super::baseline::Baseline;
use super::features::Feature;
use super::shift::{self, Shift, WindowCounts};
use super::violations::{SessionFinding, Violation};
use super::waves::{self, Role, WaveEntity};
use super::{DetectOptions, ResidualSummary};
use crate::time::Timestamp;
use rustc_hash::FxHashMap;
use std::net::IpAddr;

pub(super) fn feature_name(f: Feature) -> String {
    match f {
        Feature::Field(i) => crate::decode::Field::ALL
            .get(i)
            .map_or("?", |f| f.name())
            .to_string(),
        Feature::Rate => "rate".into(),
        Feature::Homogeneity => "homogeneity".into(),
        Feature::Drift => "drift".into(),
        Feature::Residual => "residual".into(),
    }
}

/// A closed wave explained: its span, packets, top shifts and entities.
pub(super) type Explained = (waves::Span, u64, Vec<Shift>, Vec<WaveEntity>);

/// A closed wave's packets, shifts and entities against the baseline it was judged by.
pub(super) fn explain(
    sp: waves::Span,
    buckets: &[crate::timeline::Bucket],
    base: &Baseline,
    interner: &crate::timeline::Interner,
    width: i64,
    opts: &DetectOptions,
) -> Explained {
    let wb = buckets.get(sp.first..sp.last + 1).unwrap_or(&[]);
    let w = WindowCounts::of(wb);
    let mut sh = shift::shifts(&w, base, interner);
    // The share of the wave's packets the baseline's volume accounts for: a flood at a host
    // that already received all the traffic (a victim seen from its own link) carries the
    // excess of the flood, not none. Without a rate to go by, or when the wave is no busier
    // than the baseline, the shares alone decide, as for any change of mix.
    #[allow(clippy::cast_precision_loss)]
    let packets = w.packets as f64;
    let volume = if base.time_rate() > 0.0 && packets > 0.0 {
        (predicted(base, wb, width) / packets).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let ents = waves::entities(&w, base, interner, &sh, volume, opts.wave_entities);
    sh.truncate(opts.wave_shifts);
    (sp, w.packets, sh, ents)
}

/// Packets a wave carries beyond what the baseline predicts: over its span's volume, or in
/// the values that shifted, whichever is more. A reflection or a tunnel that runs while the
/// rest of a busy network happens to be a little quieter changes the mix, not the volume: on
/// the bench capture (1,500 packets/s of background) the rate alone called 1,600 reflected
/// NTP packets "-1,300 packets of excess" and dropped the wave.
pub(super) fn mass(
    base: &Baseline,
    buckets: &[crate::timeline::Bucket],
    sp: waves::Span,
    width: i64,
    shifts: &[Shift],
) -> f64 {
    excess(base, buckets, sp, width).max(shift::excess_in_values(shifts))
}

/// Packets of a wave beyond what the baseline rate predicts over its span.
pub(super) fn excess(
    base: &Baseline,
    buckets: &[crate::timeline::Bucket],
    sp: waves::Span,
    width: i64,
) -> f64 {
    let wb = buckets.get(sp.first..sp.last + 1).unwrap_or(&[]);
    #[allow(clippy::cast_precision_loss)]
    let packets: f64 = wb.iter().map(|b| b.packets as f64).sum();
    packets - predicted(base, wb, width)
}

/// Packets the baseline's rate predicts over the wall-clock span of these buckets.
fn predicted(base: &Baseline, wb: &[crate::timeline::Bucket], width: i64) -> f64 {
    // Wall-clock span: bucket positions skip empty time.
    let span_ns = match (wb.first(), wb.last()) {
        (Some(a), Some(z)) => z.start(width).0.saturating_add(width) - a.start(width).0,
        _ => 0,
    };
    #[allow(clippy::cast_precision_loss)]
    let seconds = span_ns as f64 / 1e9;
    base.time_rate() * seconds
}

/// The sessions that have violations, by address (client and server): a wave looks up its
/// entities' sessions instead of scanning every session (64 waves over a busy capture's
/// sessions were most of the work after the walk).
pub(super) struct SessionsByHost<'a> {
    sessions: &'a [SessionFinding],
    by_host: FxHashMap<IpAddr, Vec<u32>>,
}

impl<'a> SessionsByHost<'a> {
    pub(super) fn new(sessions: &'a [SessionFinding]) -> Self {
        let mut by_host: FxHashMap<IpAddr, Vec<u32>> = FxHashMap::default();
        for (i, s) in sessions.iter().enumerate() {
            let Ok(i) = u32::try_from(i) else { break };
            if s.violations.is_empty() {
                continue;
            }
            by_host.entry(s.client).or_default().push(i);
            if s.server != s.client {
                by_host.entry(s.server).or_default().push(i);
            }
        }
        SessionsByHost { sessions, by_host }
    }

    /// Violations of sessions of the wave's entities that overlap the wave, worst first (at
    /// most 20; ties in session order). A session reached only through a target (its other
    /// end drives none of the wave) counts only when it began within the wave: a victim's
    /// long-standing conversations with other hosts (workstations polling the server a scan
    /// hits) are true but not the wave's, and listed they buried the wave's own.
    pub(super) fn wave_violations(
        &self,
        ents: &[WaveEntity],
        start: Timestamp,
        end: Timestamp,
    ) -> Vec<Violation> {
        // Entity names are addresses' display forms: compare addresses, not strings formatted
        // per session (that formatting was a third of detection on a busy capture). A name is
        // kept only when it is its address's display form, so the match is the string match.
        // Each session index carries whether a source reached it.
        let mut at: Vec<(u32, bool)> = ents
            .iter()
            .filter_map(|e| {
                let ip: IpAddr = e.entity.parse().ok()?;
                (ip.to_string() == e.entity).then_some((ip, e.role == Role::Source))
            })
            .filter_map(|(ip, source)| Some((self.by_host.get(&ip)?, source)))
            .flat_map(|(ids, source)| ids.iter().map(move |i| (*i, source)))
            .collect();
        // Session order, each once (a session of two entities is under both); the one kept
        // counts as reached by a source when any of its duplicates was.
        at.sort_unstable();
        at.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                earlier.1 |= later.1;
            }
            same
        });
        // Rank references and copy only the 20 kept: a busy wave touches thousands of sessions.
        let mut out: Vec<&Violation> = at
            .iter()
            .filter_map(|(i, source)| Some((self.sessions.get(*i as usize)?, *source)))
            .filter(|(s, source)| s.first < end && s.last >= start && (*source || s.first >= start))
            .map(|(s, _)| s)
            .flat_map(|s| s.violations.iter())
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.packets.cmp(&a.packets)));
        out.into_iter().take(20).cloned().collect()
    }
}

pub(super) fn mean_profile<'a>(it: impl Iterator<Item = &'a ResidualSummary>) -> Vec<f32> {
    let mut sum: Vec<f64> = Vec::new();
    let mut n = 0u32;
    for r in it {
        if sum.len() < r.profile.len() {
            sum.resize(r.profile.len(), 0.0);
        }
        for (s, v) in sum.iter_mut().zip(&r.profile) {
            *s += f64::from(*v);
        }
        n += 1;
    }
    #[allow(clippy::cast_possible_truncation)]
    sum.into_iter()
        .map(|s| (s / f64::from(n.max(1))) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn session(
        client: &str,
        server: &str,
        first: i64,
        last: i64,
        scores: &[f64],
    ) -> SessionFinding {
        let violations = scores
            .iter()
            .map(|s| Violation {
                kind: "test",
                score: *s,
                client: client.parse().unwrap(),
                server: server.parse().unwrap(),
                port: 53,
                proto: 17,
                detail: String::new(),
                first_ts: 0.0,
                last_ts: 0.0,
                packets: 1,
            })
            .collect();
        SessionFinding {
            client: client.parse().unwrap(),
            server: server.parse().unwrap(),
            first: Timestamp(first),
            last: Timestamp(last),
            score: 1.0,
            violations,
            beacon: None,
        }
    }

    fn entity(name: &str) -> WaveEntity {
        WaveEntity {
            entity: name.into(),
            role: Role::Source,
            packets: 1,
            score: 1.0,
        }
    }

    #[test]
    fn a_wave_gets_its_entities_overlapping_sessions_once_worst_first() {
        let sessions = vec![
            session("10.0.0.1", "10.0.0.2", 0, 100, &[0.2]),
            // Both ends are entities of the wave: listed once.
            session("10.0.0.2", "10.0.0.1", 10, 20, &[0.9, 0.1]),
            // Before the wave.
            session("10.0.0.1", "10.0.0.3", 0, 4, &[1.0]),
            // No entity of the wave.
            session("10.0.0.7", "10.0.0.8", 0, 100, &[1.0]),
        ];
        let by_host = SessionsByHost::new(&sessions);
        let ents = [
            entity("10.0.0.1"),
            entity("10.0.0.2"),
            entity("spread (300 sources)"),
        ];
        let got: Vec<f64> = by_host
            .wave_violations(&ents, Timestamp(5), Timestamp(50))
            .iter()
            .map(|v| v.score)
            .collect();
        assert_eq!(got, vec![0.9, 0.2, 0.1]);
        // A name that is not an address's display form matches nothing.
        assert!(
            by_host
                .wave_violations(&[entity("010.0.0.1")], Timestamp(0), Timestamp(50))
                .is_empty()
        );
    }

    #[test]
    fn a_target_brings_only_the_sessions_that_began_in_the_wave() {
        let sessions = vec![
            // A workstation polling the scanned server since before the scan: not the wave's.
            session("10.0.0.7", "10.0.0.10", 0, 100, &[0.9]),
            // Opened during the wave (a probe from a forged source): the wave's.
            session("203.0.113.9", "10.0.0.10", 6, 7, &[0.5]),
            // The scanner's own session from before the wave: reached through the source.
            session("10.0.0.66", "10.0.0.10", 0, 100, &[0.3]),
        ];
        let by_host = SessionsByHost::new(&sessions);
        let target = WaveEntity {
            role: Role::Target,
            ..entity("10.0.0.10")
        };
        let scores = |ents: &[WaveEntity]| -> Vec<f64> {
            by_host
                .wave_violations(ents, Timestamp(5), Timestamp(50))
                .iter()
                .map(|v| v.score)
                .collect()
        };
        assert_eq!(scores(std::slice::from_ref(&target)), vec![0.5]);
        // Listed first as a target, then as a source's: the source keeps it.
        assert_eq!(scores(&[target, entity("10.0.0.66")]), vec![0.5, 0.3]);
    }

    #[test]
    fn a_flood_names_the_host_that_already_received_everything() {
        // Seen from the victim's own link: every packet goes to 10.10.10.10, a few a second,
        // then a flood from forged sources. Its share stays 100%; its volume does not.
        let pkt = |ns: i64, src: u32| crate::decode::Packet {
            ts: Timestamp(ns),
            src_ip: Some(std::net::Ipv4Addr::from(src).into()),
            dst_ip: Some("10.10.10.10".parse().unwrap()),
            proto: Some(6),
            dst_port: Some(25565),
            tcp_flags: Some(if src > 1000 { 0x02 } else { 0x04 }),
            ..crate::decode::Packet::default()
        };
        let sec = 1_000_000_000;
        let mut tl = crate::timeline::Timeline::fixed(sec);
        let mut base = Baseline::decaying(300 * sec);
        for t in 0..30 {
            for i in 0..5 {
                tl.add(&pkt(t * sec + i * 1000, 1 + u32::try_from(i).unwrap()));
            }
        }
        for t in 30..32 {
            for i in 0..2000 {
                tl.add(&pkt(
                    t * sec + i * 1000,
                    5000 + u32::try_from(t * 2000 + i).unwrap(),
                ));
            }
        }
        tl.flush();
        for b in &tl.buckets()[..30] {
            base.absorb(b, sec);
        }
        let span = waves::Span {
            first: 30,
            last: 31,
        };
        let opts = DetectOptions::default();
        let (_, _, _, ents) = explain(span, tl.buckets(), &base, tl.interner(), sec, &opts);
        let victim = ents.iter().find(|e| e.entity == "10.10.10.10");
        assert!(
            victim.is_some_and(|e| e.role == waves::Role::Target),
            "{ents:?}"
        );
        assert!(
            ents.iter().any(|e| e.entity.starts_with("spread (")),
            "{ents:?}"
        );
    }
}
