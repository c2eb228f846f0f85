//! Choosing a rule's conditions: candidate conditions from the wave's and the baseline's
//! packets, then a greedy search for the smallest conjunction that keeps the wave's excess
//! packets while shedding baseline packets.
//!
//! "Excess" is what the wave carries beyond the baseline rate: a candidate set `C` covers
//! `n_wave(C) - rate_baseline(C) * wave_seconds` anomalous packets, so benign traffic that
//! happens to share the wave's buckets neither rewards nor punishes a condition. Every figure
//! is measured on the actual (sampled) packets, not estimated from marginals.

use super::model::{Condition, Op};
use crate::decode::{Field, Packet, Value, ValueRef};
use columns::Column;
use counts::{FieldCounts, candidates_for};

mod columns;
mod counts;
mod ports;

pub use columns::BaseColumns;
pub use ports::{MAX_OWN_CONNECTIONS, OwnEndpoints, OwnPorts};

/// Fields drafting may use: header fields every exporter can express. Text fields are left to
/// the analyst (a capture filter cannot match them; an IDS rule can).
pub const FIELDS: &[Field] = &[
    Field::Proto,
    Field::SrcIp,
    Field::DstIp,
    Field::SrcPort,
    Field::DstPort,
    Field::TcpFlags,
    Field::IcmpType,
    Field::IcmpCode,
    Field::IpLen,
    Field::PayloadLen,
    Field::Ttl,
    Field::Df,
    Field::IpVersion,
    Field::SrcMac,
];

/// Most conditions a drafted rule gets.
pub const MAX_CONDITIONS: usize = 5;
/// Most values in a drafted one-of set: past this a prefix or range says it better.
pub const MAX_DRAFT_SET: usize = 16;
/// Weight of baseline collateral against wave coverage in the greedy objective: one point of
/// baseline share costs as much as four points of coverage.
const COLLATERAL_WEIGHT: f64 = 4.0;
/// Each condition costs this much objective (smaller rules win ties).
const CONDITION_COST: f64 = 0.002;

/// A condition counts as keeping coverage only if it sheds at least 1/`SHED_MIN` of the
/// baseline packets still matched.
const SHED_MIN: usize = 5;
/// Coverage a greedy step may give up and still count as keeping it.
pub const COVERAGE_STEP: f64 = 0.05;
/// Coverage the tightening pass may give up for one more condition.
const TIGHTEN_LOSS: f64 = 0.01;
/// Fields the tightening pass tries, in order: what names the traffic to an analyst.
const ANCHORS: &[Field] = &[
    Field::Proto,
    Field::DstIp,
    Field::SrcIp,
    Field::DstPort,
    Field::SrcPort,
];
/// Largest set the tightening pass adds.
const ANCHOR_SET: usize = 4;

/// The packets a rule is chosen on, with the scale of each sample.
pub struct Sample<'a> {
    /// The wave's packets (every `wave_stride`-th).
    pub wave: &'a [&'a Packet],
    /// Sampling stride of `wave`.
    pub wave_stride: f64,
    /// Baseline packets (every `base_stride`-th).
    pub base: &'a [&'a Packet],
    /// Sampling stride of `base`.
    pub base_stride: f64,
    /// Seconds of the wave's buckets.
    pub wave_seconds: f64,
    /// Seconds of baseline buckets.
    pub base_seconds: f64,
    /// Packets the wave's shifts say it carries beyond the baseline (0 when unknown): what
    /// the wave is measured against when the background expected from the baseline's
    /// average rate exceeds the wave's packets.
    pub shift_mass: f64,
    /// Client ports that name a connection, never offered as a port value ([`OwnPorts`]);
    /// `None` offers every port.
    pub own_ports: Option<&'a OwnPorts>,
}

/// A candidate condition with its prior (evidence) score.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The condition.
    pub cond: Condition,
    /// Evidence score from the vector probe and the shifts (breaks ties; higher first).
    pub prior: f64,
}

/// Outcome of the search: the conditions and their estimated figures on the sample.
#[derive(Clone, Debug, Default)]
pub struct Choice {
    /// Chosen conditions, in the order chosen.
    pub conditions: Vec<Candidate>,
    /// Estimated share of the wave's excess packets covered.
    pub coverage: f64,
    /// Share of baseline packets matched.
    pub collateral: f64,
}

impl Sample<'_> {
    /// True when `v`, a value of `field`, is a port the wave carries only at clients' own
    /// endpoints, which no drafted condition names ([`OwnPorts`]).
    pub(crate) fn is_own_port(&self, field: Field, v: ValueRef<'_>) -> bool {
        match (field, v, self.own_ports) {
            (Field::SrcPort | Field::DstPort, ValueRef::U(p), Some(own)) => own.contains(p),
            _ => false,
        }
    }

    fn bg_factor(&self) -> f64 {
        if self.base_seconds > 0.0 {
            self.base_stride * self.wave_seconds / self.base_seconds
        } else {
            0.0
        }
    }

    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn excess(&self, wave_n: usize, base_n: usize) -> f64 {
        (wave_n as f64 * self.wave_stride - base_n as f64 * self.bg_factor()).max(0.0)
    }

    /// The wave's excess packets, which coverage is a share of. When the background expected
    /// from the baseline's average rate outweighs the wave (a tunnel of 1% of the traffic in
    /// seconds a little busier than average), the values that shifted say what it carries;
    /// without them, every packet of the wave counts. Measuring a 20 packet/s tunnel against
    /// all 8,700 packets of its seconds made every condition cover "1%", so the search took
    /// the cleanest sliver (the resolver's replies on one port) and the requests' companion
    /// fell under its minimum gain.
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn total_excess(&self) -> f64 {
        let e0 = self.excess(self.wave.len(), self.base.len());
        if e0 > 0.0 {
            e0
        } else if self.shift_mass >= 1.0 {
            self.shift_mass
        } else {
            (self.wave.len() as f64 * self.wave_stride).max(1.0)
        }
    }
}

/// The column of `field` among `columns` (one per [`FIELDS`] entry), if it has one.
fn column_of<'h, 'c, 'a>(
    columns: &'h [Column<'c, 'a>],
    field: Field,
) -> Option<&'h Column<'c, 'a>> {
    FIELDS
        .iter()
        .position(|f| *f == field)
        .and_then(|i| columns.get(i))
}

/// A condition matched against the sample packets. A packet's match depends only on its
/// value of the condition's field, so with the field's column each distinct value is matched
/// once and a packet is looked up by its value index.
struct Matcher<'h, 'c, 'a> {
    cond: &'h Condition,
    col: Option<(&'h Column<'c, 'a>, Vec<bool>)>,
}

impl<'h, 'c, 'a> Matcher<'h, 'c, 'a> {
    fn new(columns: &'h [Column<'c, 'a>], cond: &'h Condition) -> Self {
        let col = column_of(columns, cond.field)
            .map(|col| (col, col.values().map(|v| cond.matches_value(v)).collect()));
        Matcher { cond, col }
    }

    /// Whether packet `i` of the wave sample (`base` false) or the baseline's matches.
    fn at(&self, s: &Sample<'_>, i: usize, base: bool) -> bool {
        match &self.col {
            Some((col, hit)) => {
                let ids = if base { &col.shared.base } else { &col.wave };
                ids.get(i)
                    .and_then(|id| hit.get(*id as usize))
                    .copied()
                    .unwrap_or(false)
            }
            None => {
                let pkts = if base { s.base } else { s.wave };
                pkts.get(i).is_some_and(|p| self.cond.matches(p))
            }
        }
    }
}

/// The wave and baseline sample packets (by index) that still match after adding `cand`.
fn narrow(
    s: &Sample<'_>,
    columns: &[Column<'_, '_>],
    w: &[usize],
    b: &[usize],
    cand: &Candidate,
) -> (Vec<usize>, Vec<usize>) {
    let m = Matcher::new(columns, &cand.cond);
    let keep = |idx: &[usize], base: bool| -> Vec<usize> {
        idx.iter().copied().filter(|&i| m.at(s, i, base)).collect()
    };
    (keep(w, false), keep(b, true))
}

/// Greedy search: start from all packets, add the condition that most improves
/// `coverage - 4 * collateral - 0.002 * conditions`, stop when nothing improves it.
/// `prior(field, value)` is the evidence score of a value (ties go to stronger evidence).
#[must_use]
pub fn choose(s: &Sample<'_>, prior: &dyn Fn(Field, &Value) -> f64) -> Choice {
    choose_with(s, None, prior)
}

/// [`choose`] with the baseline sample's columns found beforehand ([`BaseColumns::new`] of
/// `s.base`; columns of another slice are ignored and found again).
#[must_use]
pub fn choose_with<'a>(
    s: &Sample<'a>,
    base: Option<&BaseColumns<'a>>,
    prior: &dyn Fn(Field, &Value) -> f64,
) -> Choice {
    let own;
    let base = match base {
        Some(b) if std::ptr::eq(b.packets, s.base) => b,
        _ => {
            own = BaseColumns::new(s.base);
            &own
        }
    };
    let columns: Vec<Column<'_, 'a>> = Column::all(s, &base.cols);
    let mut w: Vec<usize> = (0..s.wave.len()).collect();
    let mut b: Vec<usize> = (0..s.base.len()).collect();
    let e0 = s.total_excess();
    #[allow(clippy::cast_precision_loss)]
    let base_n = s.base.len().max(1) as f64;
    #[allow(clippy::cast_precision_loss)]
    let figures = |wn: usize, bn: usize| ((s.excess(wn, bn) / e0).min(1.0), bn as f64 / base_n);
    let mut choice = Choice {
        coverage: 1.0,
        collateral: if s.base.is_empty() { 0.0 } else { 1.0 },
        ..Choice::default()
    };
    // The empty rule is never a draft: the first condition is taken whatever it scores.
    let mut best_obj = f64::NEG_INFINITY;
    while choice.conditions.len() < MAX_CONDITIONS {
        let mut best: Option<(f64, Candidate)> = None;
        let mut best_keeping: Option<(f64, Candidate)> = None;
        for (fi, &field) in FIELDS.iter().enumerate() {
            if choice.conditions.iter().any(|c| c.cond.field == field) {
                continue;
            }
            let counts = FieldCounts::new(&columns[fi], &w, &b);
            for cand in candidates_for(s, &counts, field, prior) {
                let (w2, b2) = counts.matching(&cand.cond);
                let (cov, col) = figures(w2, b2);
                #[allow(clippy::cast_precision_loss)]
                let obj = cov
                    - COLLATERAL_WEIGHT * col
                    - CONDITION_COST * (choice.conditions.len() + 1) as f64
                    + 1e-6 * cand.prior;
                // Conditions that keep coverage come first: collateral can still be cut by a
                // later condition, lost coverage never comes back (a one-step greedy would
                // otherwise take a narrow exact match over the pair that describes the wave).
                // But a condition that sheds almost none of the baseline still matched tells
                // the wave from nothing: it keeps coverage only by keeping everything, and
                // taking it first crowded out the signature whenever the excess estimate ran
                // high (a busier background around the wave than the baseline's average).
                let informative = b.is_empty() || b2 < b.len() - b.len() / SHED_MIN;
                let slot = if informative && cov >= choice.coverage - COVERAGE_STEP {
                    &mut best_keeping
                } else {
                    &mut best
                };
                if slot.as_ref().is_none_or(|(o, _)| obj > *o) {
                    *slot = Some((obj, cand));
                }
            }
        }
        let Some((obj, cand)) = best_keeping.or(best) else {
            break;
        };
        let (w2, b2) = narrow(s, &columns, &w, &b, &cand);
        if obj <= best_obj + 1e-4 {
            break;
        }
        best_obj = obj;
        (choice.coverage, choice.collateral) = figures(w2.len(), b2.len());
        choice.conditions.push(cand);
        w = w2;
        b = b2;
        if w.is_empty() {
            break;
        }
    }
    prune(s, &columns, &mut choice);
    if !choice.conditions.is_empty() {
        tighten(s, &columns, prior, &mut choice, (&w, &b), &figures);
    }
    choice
}

/// Drops a size condition the other size condition has made redundant. A packet's IP length
/// and payload length differ by its headers, so within a conversation they say the same
/// thing, and the greedy search often takes both (`ip_len=40,628,1064,1500 ...
/// payload_len=1460`): the second reads as noise and takes the room of a port or address the
/// tightening pass would add. A size condition is redundant when no sampled wave or baseline
/// packet fails it alone; the payload length goes first (no firewall matches a TCP payload
/// length), and a redundant IP length gives way to the IP lengths of the packets the rule
/// matches, replacing both, when those say the same on the sample. Either way the packets
/// the rule matches, and its figures, stay the same. Other conditions stay even when the
/// sample cannot tell them apart (a flood's `tcp_flags=S` beside its source): they describe
/// the traffic beyond the sample.
fn prune(s: &Sample<'_>, columns: &[Column<'_, '_>], choice: &mut Choice) {
    let size = |f: Field| matches!(f, Field::IpLen | Field::PayloadLen);
    let sizes = choice.conditions.iter().filter(|c| size(c.cond.field));
    // A bit per condition below: the search takes at most MAX_CONDITIONS (5).
    if sizes.count() < 2 || choice.conditions.len() > 8 {
        return;
    }
    let conds: Vec<Matcher<'_, '_, '_>> = choice
        .conditions
        .iter()
        .map(|c| Matcher::new(columns, &c.cond))
        .collect();
    let wave = failures(s, &conds, false);
    let base = failures(s, &conds, true);
    let alone = |n: usize| wave.iter().chain(&base).any(|m| *m == 1 << n);
    let at = |f: Field| conds.iter().position(|c| c.cond.field == f);
    let (Some(ip), Some(pl)) = (at(Field::IpLen), at(Field::PayloadLen)) else {
        return;
    };
    // Only one goes: with it gone, the other size is needed. The payload length goes first:
    // every exporter matches the IP length, and no firewall matches a TCP payload length.
    if !alone(pl) {
        choice.conditions.remove(pl);
        return;
    }
    if alone(ip) {
        return;
    }
    // The IP length adds nothing, the payload length does: when the IP lengths of the
    // packets the rule matches say the same as both (the same headers throughout), they
    // replace both, so the rule stays exportable everywhere.
    let others = !(1u8 << ip | 1u8 << pl);
    let lens: std::collections::BTreeSet<u64> = wave
        .iter()
        .zip(s.wave)
        .filter(|(m, _)| **m == 0)
        .filter_map(|(_, p)| p.ip_len.map(u64::from))
        .collect();
    let op = match lens.len() {
        1 => lens.first().map(|v| Op::Eq(Value::U(*v))),
        2..=ANCHOR_SET => Some(Op::In(lens.iter().map(|v| Value::U(*v)).collect())),
        _ => None,
    };
    let same = |cond: &Condition| {
        let agree = |ms: &[u8], pkts: &[&Packet]| {
            ms.iter()
                .zip(pkts)
                .filter(|(m, _)| **m & others == 0)
                .all(|(m, p)| cond.matches(p) == (*m == 0))
        };
        agree(&wave, s.wave) && agree(&base, s.base)
    };
    match op.and_then(|op| Condition::new(Field::IpLen, op).ok()) {
        Some(cond) if same(&cond) => {
            if let Some(c) = choice.conditions.get_mut(ip) {
                c.cond = cond;
            }
            choice.conditions.remove(pl);
        }
        _ => {
            choice.conditions.remove(ip);
        }
    }
}

/// Per packet of the wave sample (`base` false) or the baseline's, a bit per condition of
/// `conds` (at most 8) it fails.
fn failures(s: &Sample<'_>, conds: &[Matcher<'_, '_, '_>], base: bool) -> Vec<u8> {
    let n = if base { s.base.len() } else { s.wave.len() };
    (0..n)
        .map(|i| {
            conds
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.at(s, i, base))
                .fold(0u8, |m, (k, _)| m | 1 << k)
        })
        .collect()
}

/// Adds protocol, address and port conditions that cost (almost) no coverage and no
/// collateral: a rule that names the traffic it stops is easier to review and less likely to
/// hit traffic the baseline never showed.
fn tighten(
    s: &Sample<'_>,
    columns: &[Column<'_, '_>],
    prior: &dyn Fn(Field, &Value) -> f64,
    choice: &mut Choice,
    (w, b): (&[usize], &[usize]),
    figures: &dyn Fn(usize, usize) -> (f64, f64),
) {
    let (mut w, mut b) = (w.to_vec(), b.to_vec());
    for &field in ANCHORS {
        if choice.conditions.len() > MAX_CONDITIONS
            || choice.conditions.iter().any(|c| c.cond.field == field)
        {
            continue;
        }
        let Some(column) = column_of(columns, field) else {
            continue;
        };
        let counts = FieldCounts::new(column, &w, &b);
        let best = candidates_for(s, &counts, field, prior)
            .into_iter()
            .filter(|c| match &c.cond.op {
                Op::Eq(_) => true,
                Op::In(vs) => vs.len() <= ANCHOR_SET,
                _ => false,
            })
            .map(|c| (counts.matching(&c.cond).0, c))
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.prior.total_cmp(&a.1.prior)));
        let Some((_, cand)) = best else { continue };
        let (w2, b2) = narrow(s, columns, &w, &b, &cand);
        let (cov, col) = figures(w2.len(), b2.len());
        if cov >= choice.coverage - TIGHTEN_LOSS && col <= choice.collateral {
            (choice.coverage, choice.collateral) = (cov, col);
            choice.conditions.push(cand);
            (w, b) = (w2, b2);
        }
    }
}

#[cfg(test)]
mod tests;
