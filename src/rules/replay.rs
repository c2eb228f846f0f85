//! Replay: how much of a wave a rule catches (coverage) and what else it would hit (collateral),
//! computed in one pass over labelled packets for many rules at once.

use super::index::RuleIndex;
use super::model::Rule;
use crate::decode::Packet;
use rustc_hash::{FxHashMap, FxHashSet};
use std::net::IpAddr;

/// What a packet of the replayed capture is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label<'a> {
    /// An anomalous packet of the wave with this id.
    Wave(&'a str),
    /// A packet of the baseline interval.
    Baseline,
    /// Anything else.
    Other,
}

/// Counts behind the replay figures of one rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayCounts {
    /// Packets of the rule's wave (of any wave when the rule names none).
    pub wave_total: u64,
    /// ... of which the rule matches.
    pub wave_matched: u64,
    /// Baseline packets.
    pub baseline_total: u64,
    /// ... of which the rule matches.
    pub baseline_matched: u64,
    /// Non-wave packets between hosts of which neither took part in any wave.
    pub uninvolved_total: u64,
    /// ... of which the rule matches.
    pub uninvolved_matched: u64,
    /// Benign packets expected among `wave_total`: the baseline rate over the wave's span
    /// (0 when not estimated).
    pub wave_background: u64,
    /// ... of which the rule would match at the baseline rate of what it matches.
    pub wave_background_matched: u64,
    /// Packets the wave's shifts say it carries beyond the baseline: the anomalous packets
    /// when the expected background leaves none (0 when unknown).
    pub wave_shift_mass: u64,
}

fn share(n: u64, d: u64) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)]
    (d > 0).then(|| n as f64 / d as f64)
}

impl ReplayCounts {
    /// Share of the wave's anomalous packets matched (None without wave packets).
    #[must_use]
    pub fn coverage(&self) -> Option<f64> {
        share(self.wave_matched, self.wave_total)
    }

    /// Share of the wave's anomalous packets matched: wave packets beyond the expected
    /// background, matched beyond the background the rule would match anyway (clamped to
    /// 0..=1; equals [`ReplayCounts::coverage`] when no background was estimated).
    #[must_use]
    pub fn anomalous_coverage(&self) -> Option<f64> {
        let mut total = self.wave_total.saturating_sub(self.wave_background);
        if total == 0 {
            // The background expected from the baseline's average rate outweighs the wave
            // (a low-volume wave in seconds busier than average): its shifts say how many
            // packets it carries, as when drafting ([`super::select::Sample`]).
            total = self.wave_shift_mass.min(self.wave_total);
        }
        if total == 0 {
            return self.coverage();
        }
        let hit = self
            .wave_matched
            .saturating_sub(self.wave_background_matched);
        share(hit.min(total), total)
    }

    /// Fills the expected background from the baseline counts: the baseline rate over
    /// `baseline_seconds` times the wave's `wave_seconds`.
    pub fn set_background(&mut self, wave_seconds: f64, baseline_seconds: f64) {
        if baseline_seconds <= 0.0 || wave_seconds <= 0.0 {
            return;
        }
        let k = wave_seconds / baseline_seconds;
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let scale = |n: u64| (n as f64 * k).round() as u64;
        self.wave_background = scale(self.baseline_total).min(self.wave_total);
        self.wave_background_matched = scale(self.baseline_matched).min(self.wave_matched);
    }

    /// Share of baseline packets matched.
    #[must_use]
    pub fn baseline_collateral(&self) -> Option<f64> {
        share(self.baseline_matched, self.baseline_total)
    }

    /// Share of the traffic of hosts that never took part in a wave that is matched.
    #[must_use]
    pub fn uninvolved_collateral(&self) -> Option<f64> {
        share(self.uninvolved_matched, self.uninvolved_total)
    }

    /// `coverage 97.0% (of all wave packets 80.1%) · baseline 0.1% · uninvolved hosts 0.0%`
    /// (`-` where undefined). Coverage is of the wave's anomalous packets, as in the report.
    #[must_use]
    pub fn summary(&self) -> String {
        let pct =
            |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{:.1}%", v * 100.0));
        format!(
            "coverage {} (of all wave packets {}) · baseline {} · uninvolved hosts {}",
            pct(self.anomalous_coverage()),
            pct(self.coverage()),
            pct(self.baseline_collateral()),
            pct(self.uninvolved_collateral())
        )
    }
}

/// Replays `rules` over labelled packets. `wave_hosts` are the addresses that took part in any
/// wave; a non-wave packet with an IP address where neither end is in it counts as uninvolved
/// traffic (packets without IP addresses are not attributed to hosts). Returns one
/// [`ReplayCounts`] per rule, in order. No allocation per packet.
pub fn replay<'p>(
    rules: &[Rule],
    packets: impl IntoIterator<Item = (&'p Packet, Label<'p>)>,
    wave_hosts: &FxHashSet<IpAddr>,
) -> Vec<ReplayCounts> {
    let mut r = Replayer::new(rules, wave_hosts);
    for (p, label) in packets {
        r.add(p, label);
    }
    r.finish()
}

/// [`replay`] one packet at a time, for callers that see packets by reference in a stream
/// (no copy of each packet to batch them).
///
/// Totals do not depend on the rule's conditions, only on the packet's class (its wave, or
/// baseline, and whether its hosts are uninvolved), so they are counted once per packet per
/// class and handed to each rule at the end; only the rules an index of their conditions names
/// as possible matches are evaluated per packet.
pub struct Replayer<'r> {
    rules: &'r [Rule],
    hosts: &'r FxHashSet<IpAddr>,
    /// Index of `groups`, by their first rule's anchor.
    index: RuleIndex,
    /// Rules by their conditions: each distinct set once, with every rule that has it (a
    /// recurring wave's drafts repeat its first wave's rules), so a packet is matched once
    /// per set. Positions in `rules`, the first of each group standing for it.
    groups: Vec<Vec<usize>>,
    /// Each rule's wave as a position in `waves` (`None`: the rule counts every wave).
    rule_wave: Vec<Option<usize>>,
    /// The distinct waves the rules name, by name.
    waves: FxHashMap<&'r str, usize>,
    /// Matched counts per rule (totals stay zero until [`Replayer::finish`]).
    out: Vec<ReplayCounts>,
    /// Wave packets of each wave in `waves`.
    wave_packets: Vec<u64>,
    /// Wave packets of any wave.
    any_wave_packets: u64,
    baseline_packets: u64,
    uninvolved_packets: u64,
}

impl<'r> Replayer<'r> {
    /// Counts start at zero.
    #[must_use]
    pub fn new(rules: &'r [Rule], wave_hosts: &'r FxHashSet<IpAddr>) -> Self {
        let mut waves: FxHashMap<&'r str, usize> = FxHashMap::default();
        let rule_wave = rules
            .iter()
            .map(|r| {
                let w = r.provenance.wave.as_deref()?;
                let n = waves.len();
                Some(*waves.entry(w).or_insert(n))
            })
            .collect();
        let groups = groups(rules);
        Replayer {
            rules,
            hosts: wave_hosts,
            index: RuleIndex::new(groups.iter().filter_map(|g| rules.get(*g.first()?))),
            groups,
            rule_wave,
            wave_packets: vec![0; waves.len()],
            waves,
            out: vec![ReplayCounts::default(); rules.len()],
            any_wave_packets: 0,
            baseline_packets: 0,
            uninvolved_packets: 0,
        }
    }

    /// Counts one labelled packet for every rule.
    pub fn add(&mut self, p: &Packet, label: Label<'_>) {
        let uninvolved = label_is_uninvolved(p, label, self.hosts);
        // The wave's position among the rules' waves (`None`: only rules naming no wave
        // count it).
        let mut wave = None;
        match label {
            Label::Wave(w) => {
                self.any_wave_packets += 1;
                wave = self.waves.get(w).copied();
                if let Some(i) = wave {
                    self.wave_packets[i] += 1;
                }
            }
            Label::Baseline => self.baseline_packets += 1,
            // Neither a wave's nor the baseline's nor uninvolved: no rule counts it.
            Label::Other if !uninvolved => return,
            Label::Other => {}
        }
        if uninvolved {
            self.uninvolved_packets += 1;
        }
        let (rules, rule_wave, out) = (self.rules, &self.rule_wave, &mut self.out);
        let groups = &self.groups;
        self.index.candidates(p, |g| {
            let Some(members) = groups.get(g) else { return };
            let in_scope = |i: &usize| rule_wave[*i].is_none_or(|rw| Some(rw) == wave);
            let wave_label = matches!(label, Label::Wave(_));
            // A wave's packet counts only for rules of that wave (or of none).
            if wave_label && !members.iter().any(in_scope) {
                return;
            }
            if !members.first().is_some_and(|&i| rules[i].matches(p)) {
                return;
            }
            for &i in members {
                let c = &mut out[i];
                match label {
                    Label::Wave(_) => c.wave_matched += u64::from(in_scope(&i)),
                    Label::Baseline => {
                        c.baseline_matched += 1;
                        c.uninvolved_matched += u64::from(uninvolved);
                    }
                    Label::Other => c.uninvolved_matched += 1,
                }
            }
        });
    }

    /// One [`ReplayCounts`] per rule, in order.
    #[must_use]
    pub fn finish(self) -> Vec<ReplayCounts> {
        let mut out = self.out;
        for (c, w) in out.iter_mut().zip(&self.rule_wave) {
            c.wave_total += w.map_or(self.any_wave_packets, |i| self.wave_packets[i]);
            c.baseline_total += self.baseline_packets;
            c.uninvolved_total += self.uninvolved_packets;
        }
        out
    }

    /// Adds the counts of a replayer of the same rules over other packets (parts of one
    /// capture replayed side by side).
    pub fn merge(&mut self, other: Replayer<'_>) {
        for (a, b) in self.out.iter_mut().zip(other.out) {
            a.wave_total += b.wave_total;
            a.wave_matched += b.wave_matched;
            a.baseline_total += b.baseline_total;
            a.baseline_matched += b.baseline_matched;
            a.uninvolved_total += b.uninvolved_total;
            a.uninvolved_matched += b.uninvolved_matched;
            a.wave_background += b.wave_background;
            a.wave_background_matched += b.wave_background_matched;
        }
        // The same rules give the same wave positions on both sides.
        for (a, b) in self.wave_packets.iter_mut().zip(other.wave_packets) {
            *a += b;
        }
        self.any_wave_packets += other.any_wave_packets;
        self.baseline_packets += other.baseline_packets;
        self.uninvolved_packets += other.uninvolved_packets;
    }
}

/// The rules grouped by their conditions (the same conditions in any order: a conjunction),
/// groups in order of their first rule.
fn groups(rules: &[Rule]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let same = |g: &&mut Vec<usize>| {
            g.first()
                .and_then(|&j| rules.get(j))
                .is_some_and(|o| o.def.same_conditions(&r.def))
        };
        match groups.iter_mut().find(same) {
            Some(g) => g.push(i),
            None => groups.push(vec![i]),
        }
    }
    groups
}

fn label_is_uninvolved(p: &Packet, label: Label<'_>, hosts: &FxHashSet<IpAddr>) -> bool {
    if matches!(label, Label::Wave(_)) {
        return false;
    }
    match (p.src_ip, p.dst_ip) {
        (Some(s), Some(d)) => !hosts.contains(&s) && !hosts.contains(&d),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(src: &str, dst: &str, port: u16) -> Packet {
        Packet {
            src_ip: Some(src.parse().unwrap()),
            dst_ip: Some(dst.parse().unwrap()),
            dst_port: Some(port),
            ..Packet::default()
        }
    }

    #[test]
    fn a_background_outweighing_the_wave_falls_back_to_the_shift_mass() {
        let mut c = ReplayCounts {
            wave_total: 1000,
            wave_matched: 100,
            baseline_total: 5000,
            ..ReplayCounts::default()
        };
        // The expected background (5000 baseline packets over a span as long as the wave's)
        // leaves no anomalous packet: without the shifts every packet counts.
        c.set_background(10.0, 10.0);
        assert_eq!(c.wave_background, 1000);
        assert_eq!(c.anomalous_coverage(), Some(0.1));
        // The shifts say the wave carries 120 packets beyond the baseline.
        c.wave_shift_mass = 120;
        let cov = c.anomalous_coverage().unwrap();
        assert!((cov - 100.0 / 120.0).abs() < 1e-12, "{cov}");
        // A background under the wave is used as before.
        c.set_background(1.0, 10.0);
        assert_eq!(c.anomalous_coverage(), Some(100.0 / 500.0));
    }

    #[test]
    fn coverage_and_collateral() {
        let mut r: Rule = "R1 drop when dst_port=53 priority=100".parse().unwrap();
        r.provenance.wave = Some("W1".into());
        let any: Rule = "R2 drop when src_ip=10.0.0.9 priority=100".parse().unwrap();
        let atk = pkt("10.0.0.9", "10.0.0.1", 53);
        let atk_other = pkt("10.0.0.9", "10.0.0.1", 80);
        let w2 = pkt("10.0.0.7", "10.0.0.1", 53);
        let base_hit = pkt("10.0.0.2", "10.0.0.3", 53);
        let base_miss = pkt("10.0.0.2", "10.0.0.1", 443);
        let other = pkt("10.0.0.4", "10.0.0.5", 53);
        let hosts: FxHashSet<IpAddr> = ["10.0.0.9", "10.0.0.1", "10.0.0.7"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let input = [
            (&atk, Label::Wave("W1")),
            (&atk, Label::Wave("W1")),
            (&atk_other, Label::Wave("W1")),
            (&w2, Label::Wave("W2")),
            (&base_hit, Label::Baseline),
            (&base_miss, Label::Baseline),
            (&other, Label::Other),
        ];
        let rules = [r, any];
        let out = replay(&rules, input, &hosts);
        // Replaying two parts and adding the counts gives the same figures.
        for cut in 0..=input.len() {
            let mut a = Replayer::new(&rules, &hosts);
            let mut b = Replayer::new(&rules, &hosts);
            for (i, (p, l)) in input.iter().enumerate() {
                if i < cut { a.add(p, *l) } else { b.add(p, *l) }
            }
            a.merge(b);
            assert_eq!(a.finish(), out, "cut at {cut}");
        }
        let c = out[0];
        assert_eq!(
            (c.wave_matched, c.wave_total),
            (2, 3),
            "W2 packets are not R1's wave"
        );
        assert_eq!((c.baseline_matched, c.baseline_total), (1, 2));
        // base_hit (10.0.0.2 -> 10.0.0.3) and other are uninvolved; base_miss touches 10.0.0.1.
        assert_eq!((c.uninvolved_matched, c.uninvolved_total), (2, 2));
        let c = out[1];
        assert_eq!(
            (c.wave_matched, c.wave_total),
            (3, 4),
            "no wave named: every wave counts"
        );
        assert_eq!(c.baseline_matched, 0);
        assert_eq!(
            c.summary(),
            "coverage 75.0% (of all wave packets 75.0%) · baseline 0.0% · uninvolved hosts 0.0%"
        );
        assert_eq!(ReplayCounts::default().coverage(), None);
    }

    #[test]
    fn rules_with_the_same_conditions_are_matched_once_and_counted_for_each() {
        // A recurring wave's draft repeats its first wave's conditions (here in another
        // order); a third rule has other conditions; a fourth names no wave.
        let rule = |text: &str, wave: Option<&str>| {
            let mut r: Rule = text.parse().unwrap();
            r.provenance.wave = wave.map(Into::into);
            r
        };
        let rules = [
            rule(
                "R1 drop when dst_port=53 src_ip=10.0.0.9 priority=100",
                Some("W1"),
            ),
            rule(
                "R2 alert when src_ip=10.0.0.9 dst_port=53 priority=100",
                Some("W2"),
            ),
            rule("R3 drop when dst_port=53 priority=100", Some("W2")),
            rule(
                "R4 drop when src_ip=10.0.0.9 dst_port=53 priority=100",
                None,
            ),
        ];
        assert_eq!(groups(&rules), vec![vec![0, 1, 3], vec![2]]);
        let hosts: FxHashSet<IpAddr> = ["10.0.0.9", "10.0.0.1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let atk = pkt("10.0.0.9", "10.0.0.1", 53);
        let miss = pkt("10.0.0.9", "10.0.0.1", 80);
        let dns = pkt("10.0.0.2", "10.0.0.3", 53);
        let input = [
            (&atk, Label::Wave("W1")),
            (&atk, Label::Wave("W2")),
            (&atk, Label::Wave("W2")),
            (&miss, Label::Wave("W2")),
            (&dns, Label::Wave("W2")),
            (&atk, Label::Baseline),
            (&dns, Label::Other),
        ];
        let out = replay(&rules, input, &hosts);
        let wave = |c: &ReplayCounts| (c.wave_matched, c.wave_total);
        assert_eq!(wave(&out[0]), (1, 1), "R1 counts W1's packets only");
        assert_eq!(wave(&out[1]), (2, 4), "R2 counts W2's");
        assert_eq!(wave(&out[2]), (3, 4));
        assert_eq!(wave(&out[3]), (3, 5), "no wave named: every wave's");
        for c in [&out[0], &out[1], &out[3]] {
            assert_eq!((c.baseline_matched, c.baseline_total), (1, 1));
            assert_eq!(c.uninvolved_matched, 0);
        }
        assert_eq!(
            out[2].uninvolved_matched, 1,
            "the uninvolved resolver traffic"
        );
        // The same figures as replaying each rule on its own.
        for (i, r) in rules.iter().enumerate() {
            let alone = replay(std::slice::from_ref(r), input, &hosts);
            assert_eq!(alone[0], out[i], "rule {}", i + 1);
        }
    }
}
