//! Beaconing: regular intervals and sizes between a client and a server port, scored like
//! RITA's beacon sub-scores.
//!
//! Events are the bursts of every session of the pair (a new connection, or a keep-alive inside
//! a long session, each start a burst after an idle second). The timestamp sub-score rewards a
//! symmetric (Bowley skewness near 0) and tight (median absolute deviation small against the
//! median) interval distribution; the size sub-score does the same for burst sizes; the
//! duration sub-score rewards pairs that keep it up over a good part of the time they could
//! have: half the capture, or what was left of it when the pair first appeared (a beacon that
//! starts late is not penalised for the minutes before it existed).

use super::session::{BURST_GAP_NS, SessionStats};
use crate::time::Timestamp;
use rustc_hash::FxHashMap;
use std::net::IpAddr;

/// Least events (RITA uses four connections).
pub const MIN_EVENTS: usize = 4;
/// Least check-ins of a beacon found inside one connection. Pauses inside a session are
/// cheaper than connections (an interactive login or a browser's keep-alive pauses between
/// requests), so a series from one session needs twice RITA's four: with four, an SSH
/// password guesser's retries, a browser's reused connection and a host's SSDP announcements
/// all read as beacons on the shared captures.
pub const MIN_EVENTS_IN_SESSION: usize = 2 * MIN_EVENTS;
/// Least beacon score reported.
pub const MIN_SCORE: f64 = 0.7;
/// Sub-score weights: timestamp, size, duration.
pub const WEIGHTS: (f64, f64, f64) = (0.45, 0.35, 0.20);

/// A beaconing pair.
#[derive(Clone, Debug, PartialEq)]
pub struct Beacon {
    /// Client.
    pub client: IpAddr,
    /// Server.
    pub server: IpAddr,
    /// Server port.
    pub port: u16,
    /// IP protocol.
    pub proto: u8,
    /// Combined score in [0, 1].
    pub score: f64,
    /// First event.
    pub first: Timestamp,
    /// Last event.
    pub last: Timestamp,
    /// Last packet of the pair's sessions.
    pub end: Timestamp,
    /// Sessions (connections) the check-ins came in.
    pub sessions: usize,
    /// When each check-in began (one per event).
    pub times: Vec<Timestamp>,
    /// Median seconds between check-ins.
    pub interval_s: f64,
    /// Packets of the pair's sessions.
    pub packets: u64,
    /// Measurements in words.
    pub detail: String,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let pos = q * (sorted.len() - 1) as f64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    #[allow(clippy::cast_precision_loss)]
    let frac = pos - lo as f64;
    sorted[lo] * (1.0 - frac) + sorted[hi] * frac
}

/// Asymptotic variance of Bowley's quartile skewness times the sample size, for a normal
/// sample (Kim and White, 2004): its standard error is `sqrt(1.84 / n)`.
const BOWLEY_VAR_N: f64 = 1.84;

/// RITA-style regularity of a sample: mean of (1 - |Bowley skewness|) and (1 - MAD/median).
///
/// Only the skewness beyond one standard error counts: RITA reads skewness on thousands of
/// connections, where it is precise, but a beacon seen eight times has a skewness of +-0.5 from
/// jitter alone (lab_E's C2 beacon: intervals 7.1 s +- 0.3 s, skewness -0.79, which read as
/// "barely regular" though the spread is 4% of the median).
#[must_use]
pub fn regularity(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let (q1, q2, q3) = (quantile(&v, 0.25), quantile(&v, 0.5), quantile(&v, 0.75));
    let skew = if q3 - q1 > 1e-12 {
        (q1 + q3 - 2.0 * q2) / (q3 - q1)
    } else {
        0.0
    };
    let mut dev: Vec<f64> = v.iter().map(|x| (x - q2).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let mad = quantile(&dev, 0.5);
    let madm = if q2 > 1e-12 {
        mad / q2
    } else if mad > 0.0 {
        1.0
    } else {
        0.0
    };
    #[allow(clippy::cast_precision_loss)]
    let se = (BOWLEY_VAR_N / v.len().max(1) as f64).sqrt();
    let skew = (skew.abs() - se).max(0.0);
    0.5 * (1.0 - skew.min(1.0)) + 0.5 * (1.0 - madm.min(1.0))
}

/// The measurements of one series of check-ins.
struct Scored {
    score: f64,
    ts: f64,
    ds: f64,
    dur: f64,
    median: f64,
    times: Vec<Timestamp>,
}

/// Scores a series of (start, bytes) events (sorted here); `None` with fewer than
/// [`MIN_EVENTS`] or check-ins closer than two burst gaps.
fn score(ev: &mut [(Timestamp, u64)], span: (Timestamp, Timestamp)) -> Option<Scored> {
    if ev.len() < MIN_EVENTS {
        return None;
    }
    ev.sort_unstable();
    #[allow(clippy::cast_precision_loss)]
    let iv: Vec<f64> = ev
        .windows(2)
        .map(|w| (w[1].0.0 - w[0].0.0) as f64 / 1e9)
        .collect();
    let mut sorted = iv.clone();
    sorted.sort_by(f64::total_cmp);
    let median = quantile(&sorted, 0.5);
    #[allow(clippy::cast_precision_loss)]
    if median < 2.0 * BURST_GAP_NS as f64 / 1e9 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let sizes: Vec<f64> = ev.iter().map(|e| e.1 as f64).collect();
    let ts = regularity(&iv);
    let ds = regularity(&sizes);
    let (first, last) = (ev[0].0, ev[ev.len() - 1].0);
    #[allow(clippy::cast_precision_loss)]
    let span_s = ((span.1.0 - span.0.0) as f64 / 1e9).max(1e-9);
    // Judged on the time the pair could have beaconed: half the capture, or what was left of
    // it after the first check-in, whichever is less.
    #[allow(clippy::cast_precision_loss)]
    let left_s = ((span.1.0 - first.0) as f64 / 1e9).max(1e-9);
    #[allow(clippy::cast_precision_loss)]
    let dur = (((last.0 - first.0) as f64 / 1e9) / (span_s / 2.0).min(left_s)).min(1.0);
    Some(Scored {
        score: WEIGHTS.0 * ts + WEIGHTS.1 * ds + WEIGHTS.2 * dur,
        ts,
        ds,
        dur,
        median,
        times: ev.iter().map(|e| e.0).collect(),
    })
}

/// Scores every (client, server, port, proto) with enough events; returns those at or above
/// [`MIN_SCORE`].
///
/// A pair's sessions may carry more than one channel: a RAT's control connection sends a
/// keep-alive every 10 s while the same host uploads screenshots to the same port on new
/// connections in between. Mixed, neither series looks regular (the shared RAT capture scored
/// 0.66). So when the pair's mix falls short, a session with enough bursts of its own
/// ([`MIN_EVENTS_IN_SESSION`]) is scored alone, and the pair reports the best (one beacon per
/// pair). The mix is preferred when it passes: check-ins over several connections are the
/// stronger evidence.
pub fn pairs<'a>(
    sessions: impl Iterator<Item = &'a SessionStats>,
    span: (Timestamp, Timestamp),
) -> Vec<Beacon> {
    type Key = (IpAddr, IpAddr, u16, u8);
    let sessions: Vec<&SessionStats> = sessions.filter(|s| !s.bursts.is_empty()).collect();
    let key = |s: &SessionStats| (s.client, s.server, s.server_port, s.proto);
    // Count events per pair first: a spoofed flood makes hundreds of thousands of one-burst
    // pairs, and copying each one's events into a vector of its own only to drop it below
    // MIN_EVENTS was most of this function's time.
    let mut events: FxHashMap<Key, usize> = FxHashMap::default();
    for s in &sessions {
        *events.entry(key(s)).or_default() += s.bursts.len();
    }
    /// A pair's events, packets, last packet and sessions.
    type Group<'s> = (Vec<(Timestamp, u64)>, u64, Timestamp, Vec<&'s SessionStats>);
    let mut groups: FxHashMap<Key, Group<'_>> = FxHashMap::default();
    for s in &sessions {
        if events.get(&key(s)).is_none_or(|n| *n < MIN_EVENTS) {
            continue;
        }
        let g = groups.entry(key(s)).or_default();
        g.0.extend(s.closed_bursts());
        g.1 += s.packets();
        g.2 = g.2.max(s.last);
        g.3.push(s);
    }
    let mut out = Vec::new();
    for ((client, server, port, proto), (mut ev, packets, end, members)) in groups {
        let mut best = score(&mut ev, span).map(|sc| (sc, packets, end, members.len()));
        if members.len() > 1 && best.as_ref().is_none_or(|b| b.0.score < MIN_SCORE) {
            for m in &members {
                if m.bursts.len() < MIN_EVENTS_IN_SESSION {
                    continue;
                }
                let mut own: Vec<(Timestamp, u64)> = m.closed_bursts().collect();
                let Some(sc) = score(&mut own, span) else {
                    continue;
                };
                if best.as_ref().is_none_or(|b| sc.score > b.0.score) {
                    best = Some((sc, m.packets(), m.last, 1));
                }
            }
        }
        let Some((sc, packets, end, n_sessions)) = best else {
            continue;
        };
        if sc.score < MIN_SCORE {
            continue;
        }
        let within = if n_sessions == 1 && members.len() > 1 {
            " in one connection"
        } else {
            ""
        };
        let (Some(&first), Some(&last)) = (sc.times.first(), sc.times.last()) else {
            continue;
        };
        out.push(Beacon {
            client,
            server,
            port,
            proto,
            score: sc.score,
            first,
            last,
            end,
            sessions: n_sessions,
            detail: format!(
                "{} check-ins every {:.1} s{within} (timing {:.2}, size {:.2}, duration {:.2})",
                sc.times.len(),
                sc.median,
                sc.ts,
                sc.ds,
                sc.dur
            ),
            times: sc.times,
            interval_s: sc.median,
            packets,
        });
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.first.cmp(&b.first)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Packet;
    use crate::detect::session::SessionTable;

    fn pkt(ts_ms: i64, sp: u16, payload: u32) -> Packet {
        Packet {
            ts: Timestamp(ts_ms * 1_000_000),
            src_ip: Some("10.0.0.5".parse().unwrap()),
            dst_ip: Some("10.0.0.70".parse().unwrap()),
            src_port: Some(sp),
            dst_port: Some(8443),
            proto: Some(6),
            tcp_flags: Some(0x18),
            ip_len: Some(40 + payload),
            payload_len: Some(payload),
            ..Packet::default()
        }
    }

    #[test]
    fn regular_check_ins_beacon_and_irregular_ones_do_not() {
        let mut t = SessionTable::default();
        for i in 0..8i64 {
            let jitter = [0, 120, -200, 50, 300, -100, 0, 80][usize::try_from(i).unwrap()];
            // A new connection per check-in, like an HTTP beacon.
            let sp = 40000 + u16::try_from(i).unwrap();
            t.add(&pkt(i * 7000 + jitter, sp, 200));
            t.add(&pkt(i * 7000 + jitter + 3, sp, 200));
        }
        t.finish();
        let span = (Timestamp(0), Timestamp(60_000_000_000));
        let b = pairs(t.iter().map(|x| x.1), span);
        assert_eq!(b.len(), 1, "{b:?}");
        assert_eq!(b[0].port, 8443);
        assert!(b[0].score > 0.8, "{}", b[0].score);

        let mut t = SessionTable::default();
        for (i, at) in [0i64, 2500, 19000, 23000, 51000, 52500].iter().enumerate() {
            let sp = 40000 + u16::try_from(i).unwrap();
            t.add(&pkt(*at, sp, 100 + 300 * u32::try_from(i % 3).unwrap()));
        }
        t.finish();
        assert!(pairs(t.iter().map(|x| x.1), span).is_empty());
    }

    /// A RAT's control connection (port 6641) with a keep-alive every 10 s, and uploads to the
    /// same server port on a new connection each (start in seconds, packets of 1460 bytes).
    fn rat(keepalives: i64, uploads: &[(i64, i64)]) -> SessionTable {
        let mut t = SessionTable::default();
        for i in 0..keepalives {
            t.add(&pkt(i * 10_000, 6641, 49));
        }
        for (n, (at, packets)) in uploads.iter().enumerate() {
            let sp = 6643 + u16::try_from(n).unwrap();
            for k in 0..*packets {
                t.add(&pkt(at * 1000 + k, sp, 1460));
            }
        }
        t.finish();
        t
    }

    #[test]
    fn a_keepalive_inside_one_connection_beacons_beside_other_connections() {
        let span = (Timestamp(0), Timestamp(140_000_000_000));
        // Uploads 4 s after every keep-alive from t = 34 s, as in the shared RAT capture.
        let every_10s: Vec<(i64, i64)> = (3..13).map(|i| (i * 10 + 4, 60)).collect();
        let t = rat(14, &every_10s);
        // Mixed with the uploads the pair's check-ins are irregular.
        let mut mixed: Vec<(Timestamp, u64)> = t.iter().flat_map(|x| x.1.closed_bursts()).collect();
        assert!(score(&mut mixed, span).unwrap().score < MIN_SCORE);
        let b = pairs(t.iter().map(|x| x.1), span);
        assert_eq!(b.len(), 1, "{b:?}");
        assert_eq!((b[0].sessions, b[0].times.len()), (1, 14));
        assert!((b[0].interval_s - 10.0).abs() < 1e-9, "{}", b[0].interval_s);
        assert!(b[0].detail.contains("in one connection"), "{}", b[0].detail);
        // Seven regular keep-alives in the one connection (fewer than MIN_EVENTS_IN_SESSION)
        // beside irregular uploads: not enough.
        let t = rat(
            7,
            &[
                (3, 5),
                (5, 200),
                (17, 40),
                (21, 9),
                (24, 120),
                (33, 30),
                (47, 300),
                (52, 7),
                (71, 80),
                (88, 2),
                (101, 60),
                (119, 15),
            ],
        );
        let b = pairs(t.iter().map(|x| x.1), span);
        assert!(b.is_empty(), "{b:?}");
    }

    #[test]
    fn regularity_of_constant_sample_is_one() {
        assert!((regularity(&[7.0, 7.0, 7.0, 7.0]) - 1.0).abs() < 1e-12);
        assert!(regularity(&[1.0, 2.0, 30.0, 2.5, 100.0]) < 0.6);
    }
}
