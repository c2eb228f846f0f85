//! Choosing a rule's conditions: candidate conditions from the wave's and the baseline's
//! packets, then a greedy search for the smallest conjunction that keeps the wave's excess
//! packets while shedding baseline packets.
//!
//! "Excess" is what the wave carries beyond the baseline rate: a candidate set `C` covers
//! `n_wave(C) - rate_baseline(C) * wave_seconds` anomalous packets, so benign traffic that
//! happens to share the wave's buckets neither rewards nor punishes a condition. Every figure
//! is measured on the actual (sampled) packets, not estimated from marginals.

use super::model::{Condition, Kind, MAX_SET, Op, kind, mask32, mask128, max_value};
use crate::decode::{Field, Packet, Value, ValueRef};
use rustc_hash::FxHashMap;
use std::net::IpAddr;

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
const COVERAGE_STEP: f64 = 0.05;
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
    pub wave: &'a [Packet],
    /// Sampling stride of `wave`.
    pub wave_stride: f64,
    /// Baseline packets (every `base_stride`-th).
    pub base: &'a [Packet],
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

/// No value of the field (the packet lacks it).
const ABSENT: u32 = u32::MAX;

/// Every baseline sample packet's value of one drafting field, as an index into the field's
/// distinct values, with the count of each over the whole sample.
struct BaseColumn<'a> {
    ids: FxHashMap<ValueRef<'a>, u32>,
    values: Vec<ValueRef<'a>>,
    base: Vec<u32>,
    /// Baseline packets per value index (the first greedy step counts the whole sample).
    all: Vec<u64>,
}

/// The baseline sample's columns for every drafting field. Every wave of a capture is drafted
/// against the same baseline sample, so these are found once and shared: hashing the 60,000
/// baseline packets' values again for each of 60 waves was a sixth of drafting's time.
pub struct BaseColumns<'a> {
    packets: &'a [Packet],
    cols: Vec<BaseColumn<'a>>,
}

impl<'a> BaseColumns<'a> {
    /// The columns of `base` (the [`Sample::base`] they will be used with).
    #[must_use]
    pub fn new(base: &'a [Packet]) -> Self {
        let cols = FIELDS
            .iter()
            .map(|&field| {
                let mut col = BaseColumn {
                    ids: FxHashMap::default(),
                    values: Vec::new(),
                    base: Vec::with_capacity(base.len()),
                    all: Vec::new(),
                };
                for p in base {
                    let id = match super::matcher::field_value(p, field) {
                        None => ABSENT,
                        Some(v) => *col.ids.entry(v).or_insert_with(|| {
                            col.values.push(v);
                            col.all.push(0);
                            u32::try_from(col.values.len() - 1).unwrap_or(ABSENT)
                        }),
                    };
                    if let Some(n) = col.all.get_mut(id as usize) {
                        *n += 1;
                    }
                    col.base.push(id);
                }
                col
            })
            .collect();
        BaseColumns {
            packets: base,
            cols,
        }
    }
}

/// Every sample packet's value of one drafting field, as an index into the field's distinct
/// values (the baseline's first, then those only the wave has), found once per [`choose`]:
/// each greedy step then counts indices instead of hashing every packet's value again for
/// every field.
struct Column<'c, 'a> {
    shared: &'c BaseColumn<'a>,
    /// Values the baseline sample does not have, with indices after the baseline's.
    extra: Vec<ValueRef<'a>>,
    extra_ids: FxHashMap<ValueRef<'a>, u32>,
    wave: Vec<u32>,
    /// The values as plain numbers, found on the first range or prefix candidate.
    numbers: std::cell::OnceCell<Option<Numbers>>,
}

/// Every value of a column as a plain number, by value index, when they are all integers or
/// all IPv4 addresses: a range, bound, prefix or mask candidate is then counted in a tight
/// loop over these instead of matching each value through [`Condition::matches_value`]
/// (those scans were a third of the condition search).
enum Numbers {
    U(Vec<u64>),
    V4(Vec<u32>),
}

impl Numbers {
    fn of<'a>(mut values: impl Iterator<Item = ValueRef<'a>>) -> Option<Self> {
        let first = values.next()?;
        let rest = std::iter::once(first).chain(values);
        match first {
            ValueRef::U(_) => rest
                .map(|v| match v {
                    ValueRef::U(x) => Some(x),
                    _ => None,
                })
                .collect::<Option<Vec<u64>>>()
                .map(Numbers::U),
            ValueRef::Ip(IpAddr::V4(_)) => rest
                .map(|v| match v {
                    ValueRef::Ip(IpAddr::V4(a)) => Some(u32::from(a)),
                    _ => None,
                })
                .collect::<Option<Vec<u32>>>()
                .map(Numbers::V4),
            _ => None,
        }
    }
}

impl<'c, 'a> Column<'c, 'a> {
    fn new(s: &Sample<'a>, shared: &'c BaseColumn<'a>, field: Field) -> Self {
        let mut extra_ids: FxHashMap<ValueRef<'a>, u32> = FxHashMap::default();
        let mut extra = Vec::new();
        let n_base = shared.values.len();
        let wave = s
            .wave
            .iter()
            .map(|p| {
                let Some(v) = super::matcher::field_value(p, field) else {
                    return ABSENT;
                };
                if let Some(id) = shared.ids.get(&v) {
                    return *id;
                }
                *extra_ids.entry(v).or_insert_with(|| {
                    extra.push(v);
                    u32::try_from(n_base + extra.len() - 1).unwrap_or(ABSENT)
                })
            })
            .collect();
        Column {
            shared,
            extra,
            extra_ids,
            wave,
            numbers: std::cell::OnceCell::new(),
        }
    }

    /// The index of a value, if either sample has it.
    fn id_of(&self, v: ValueRef<'_>) -> Option<u32> {
        // Maps are covariant in their keys: look up with the shorter-lived value.
        let (shared, extra): (&FxHashMap<ValueRef<'_>, u32>, &FxHashMap<ValueRef<'_>, u32>) =
            (&self.shared.ids, &self.extra_ids);
        shared.get(&v).or_else(|| extra.get(&v)).copied()
    }

    fn len(&self) -> usize {
        self.shared.values.len() + self.extra.len()
    }

    fn values(&self) -> impl Iterator<Item = ValueRef<'a>> + '_ {
        self.shared.values.iter().chain(&self.extra).copied()
    }

    fn numbers(&self) -> Option<&Numbers> {
        self.numbers
            .get_or_init(|| Numbers::of(self.values()))
            .as_ref()
    }
}

/// Packets of the current wave and baseline samples per distinct value of one field. Whether
/// a packet matches a condition depends only on its value of the condition's field, so every
/// candidate is counted over the distinct values instead of over the packets again.
struct FieldCounts<'c, 'a> {
    column: &'c Column<'c, 'a>,
    /// Per value index: (wave packets, baseline packets).
    counts: Vec<(u64, u64)>,
}

impl<'c, 'a> FieldCounts<'c, 'a> {
    fn new(column: &'c Column<'c, 'a>, w: &[usize], b: &[usize]) -> Self {
        let mut counts = vec![(0u64, 0u64); column.len()];
        for &i in w {
            if let Some(c) = column
                .wave
                .get(i)
                .and_then(|id| counts.get_mut(*id as usize))
            {
                c.0 += 1;
            }
        }
        // `b` lists distinct sample indices, so its full length means the whole sample.
        if b.len() == column.shared.base.len() {
            for (c, n) in counts.iter_mut().zip(&column.shared.all) {
                c.1 = *n;
            }
        } else {
            for &i in b {
                if let Some(c) = column
                    .shared
                    .base
                    .get(i)
                    .and_then(|id| counts.get_mut(*id as usize))
                {
                    c.1 += 1;
                }
            }
        }
        FieldCounts { column, counts }
    }

    /// The values present in the current packets with their counts.
    fn present(&self) -> impl Iterator<Item = (ValueRef<'a>, u64, u64)> + '_ {
        self.column
            .values()
            .zip(&self.counts)
            .filter(|(_, (w, b))| *w > 0 || *b > 0)
            .map(|(v, (w, b))| (v, *w, *b))
    }

    /// Wave and baseline packets matching `cond` (a condition on this field).
    fn matching(&self, cond: &Condition) -> (usize, usize) {
        let (mut nw, mut nb) = (0u64, 0u64);
        // An equality or a set names its values: look them up instead of matching every
        // distinct value of the field (a port field has tens of thousands, and this runs for
        // every candidate of every greedy step of every wave). Text compares as bytes in the
        // matcher, so it keeps the scan.
        let named: Option<&[Value]> = match &cond.op {
            Op::Eq(v) => Some(std::slice::from_ref(v)),
            Op::In(set) => Some(set),
            _ => None,
        };
        if named.is_none()
            && let Some(sums) = self.numeric(cond)
        {
            return sums;
        }
        match named {
            Some(vals) if !vals.iter().any(|v| matches!(v, Value::Text(_))) => {
                let mut ids: Vec<u32> = vals
                    .iter()
                    .filter_map(|v| self.column.id_of(v.as_ref()))
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                for id in ids {
                    if let Some((w, b)) = self.counts.get(id as usize) {
                        nw += w;
                        nb += b;
                    }
                }
            }
            _ => {
                for (v, w, b) in self.present() {
                    if cond.matches_value(v) {
                        nw += w;
                        nb += b;
                    }
                }
            }
        }
        let n = |x: u64| usize::try_from(x).unwrap_or(usize::MAX);
        (n(nw), n(nb))
    }

    /// [`FieldCounts::matching`] for a range, bound, prefix or mask on a column of plain
    /// numbers (`None` for any other condition or column). Exactly the values
    /// [`Condition::matches_value`] accepts are counted; values no packet has count zero.
    fn numeric(&self, cond: &Condition) -> Option<(usize, usize)> {
        let c = &self.counts;
        Some(match (&cond.op, self.column.numbers()?) {
            (Op::Range(lo, hi), Numbers::U(xs)) => sum_where(xs, c, |x| *lo <= x && x <= *hi),
            (Op::Gt(n), Numbers::U(xs)) => sum_where(xs, c, |x| x > *n),
            (Op::Lt(n), Numbers::U(xs)) => sum_where(xs, c, |x| x < *n),
            (Op::Mask { mask, bits }, Numbers::U(xs)) => sum_where(xs, c, |x| x & mask == *bits),
            (Op::Cidr(IpAddr::V4(net), len), Numbers::V4(xs)) => {
                let (m, net) = (mask32(*len), u32::from(*net));
                sum_where(xs, c, |x| x & m == net)
            }
            _ => return None,
        })
    }

    /// The wave's values with their excess over the scaled baseline, positive ones only, in
    /// the column's order.
    fn excess(&self, s: &Sample<'_>) -> Vec<(ValueRef<'a>, f64)> {
        #[allow(clippy::cast_precision_loss)]
        self.present()
            .filter(|(_, nw, _)| *nw > 0)
            .map(|(v, nw, nb)| (v, nw as f64 * s.wave_stride - nb as f64 * s.bg_factor()))
            .filter(|(_, ex)| *ex > 0.0)
            .collect()
    }
}

/// Largest excess first, then the smaller value (a total order: values are distinct).
fn by_excess(a: &(ValueRef<'_>, f64), b: &(ValueRef<'_>, f64)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0))
}

/// Sorts the first `k` values [`by_excess`], leaving the rest in any order. Candidates look at
/// the largest few only, and a spoofed flood's source field has tens of thousands of values:
/// sorting them all was a third of the condition search.
fn top_by_excess(vals: &mut [(ValueRef<'_>, f64)], k: usize) {
    if vals.len() > k {
        vals.select_nth_unstable_by(k, by_excess);
    }
    let k = k.min(vals.len());
    vals[..k].sort_by(by_excess);
}

/// Wave and baseline packets over the value indices whose number satisfies `hit`.
fn sum_where<T: Copy>(xs: &[T], counts: &[(u64, u64)], hit: impl Fn(T) -> bool) -> (usize, usize) {
    let (mut nw, mut nb) = (0u64, 0u64);
    for (x, (w, b)) in xs.iter().zip(counts) {
        if hit(*x) {
            nw += w;
            nb += b;
        }
    }
    let n = |x: u64| usize::try_from(x).unwrap_or(usize::MAX);
    (n(nw), n(nb))
}

/// Candidate conditions on `field` from the values that carry the current excess.
fn candidates_for(
    s: &Sample<'_>,
    counts: &FieldCounts<'_, '_>,
    field: Field,
    prior: &dyn Fn(Field, &Value) -> f64,
) -> Vec<Candidate> {
    let mut vals = counts.excess(s);
    // The values below are read in excess order up to the set's size limit; past it only the
    // percentiles by value (sorted again) and the total read them. The total is summed in the
    // column's order now, not in excess order: in floating point that may differ in the last
    // bit, and changed no report on the 60 captures compared.
    top_by_excess(&mut vals, MAX_DRAFT_SET.min(MAX_SET));
    let Some(top) = vals.first().map(|&(v, _)| v.to_owned()) else {
        return Vec::new();
    };
    let top = &top;
    let total: f64 = vals.iter().map(|(_, e)| e).sum();
    let mut out = Vec::new();
    let mut push = |op: Op, p: f64| {
        if let Ok(cond) = Condition::new(field, op) {
            out.push(Candidate { cond, prior: p });
        }
    };
    for &(v, _) in vals.iter().take(2) {
        let v = v.to_owned();
        let p = prior(field, &v);
        push(Op::Eq(v), p);
    }
    // The fewest values that carry 97% of the excess, as a set. Values with a negligible
    // excess (a couple of background packets that fell into the wave's buckets) are noise:
    // they would widen the rule without covering the wave.
    let floor = (2.0 * s.wave_stride).max(0.005 * total);
    let mut acc = 0.0;
    let mut set: Vec<Value> = Vec::new();
    for &(v, e) in &vals {
        if acc >= 0.97 * total || set.len() >= MAX_DRAFT_SET.min(MAX_SET) || e < floor {
            break;
        }
        acc += e;
        set.push(v.to_owned());
    }
    if set.len() >= 2 && acc >= 0.95 * total {
        let p = set.iter().map(|v| prior(field, v)).fold(0.0, f64::max);
        set.sort();
        push(Op::In(set), p);
    }
    let p_top = prior(field, top);
    match (kind(field), top) {
        (Kind::Ip, Value::Ip(ip)) => {
            let lens: &[u8] = if ip.is_ipv4() {
                &[24, 16, 8]
            } else {
                &[64, 48, 32]
            };
            for &len in lens {
                push(Op::Cidr(network(*ip, len), len), p_top * 0.9);
            }
        }
        (Kind::U, _) if field == Field::TcpFlags => {
            // SYN without ACK, SYN+ACK, RST: the flag patterns floods and scans share.
            for (mask, bits) in [(0x12, 0x02), (0x12, 0x12), (0x04, 0x04)] {
                push(Op::Mask { mask, bits }, p_top * 0.9);
            }
        }
        (Kind::U, _) if max_value(field) > 1 => {
            // Excess-weighted 1st..99th percentile of the values, as range and bounds.
            let mut by_value: Vec<(u64, f64)> = vals
                .iter()
                .filter_map(|(v, e)| match v {
                    ValueRef::U(n) => Some((*n, *e)),
                    _ => None,
                })
                .collect();
            by_value.sort_by_key(|(n, _)| *n);
            let q = |f: f64| {
                let mut acc = 0.0;
                for (n, e) in &by_value {
                    acc += e;
                    if acc >= f * total {
                        return *n;
                    }
                }
                by_value.last().map_or(0, |x| x.0)
            };
            let (lo, hi) = (q(0.01), q(0.99));
            if lo < hi {
                push(Op::Range(lo, hi), p_top * 0.8);
            }
            if lo > 0 {
                push(Op::Gt(lo - 1), p_top * 0.7);
            }
            if hi < max_value(field) {
                push(Op::Lt(hi + 1), p_top * 0.7);
            }
        }
        _ => {}
    }
    out
}

/// The network address of `ip`'s `/len` prefix.
fn network(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask32(len)).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask128(len)).into()),
    }
}

/// The wave and baseline sample packets (by index) that still match after adding `cand`.
/// A packet's match depends only on its value of the condition's field, so each distinct
/// value is matched once and the packets are filtered by their value index.
fn narrow(
    s: &Sample<'_>,
    columns: &[Column<'_, '_>],
    w: &[usize],
    b: &[usize],
    cand: &Candidate,
) -> (Vec<usize>, Vec<usize>) {
    let Some(col) = FIELDS
        .iter()
        .position(|f| *f == cand.cond.field)
        .and_then(|i| columns.get(i))
    else {
        let keep = |idx: &[usize], pkts: &[Packet]| -> Vec<usize> {
            idx.iter()
                .copied()
                .filter(|&i| pkts.get(i).is_some_and(|p| cand.cond.matches(p)))
                .collect()
        };
        return (keep(w, s.wave), keep(b, s.base));
    };
    let hit: Vec<bool> = col.values().map(|v| cand.cond.matches_value(v)).collect();
    let keep = |idx: &[usize], ids: &[u32]| -> Vec<usize> {
        idx.iter()
            .copied()
            .filter(|&i| {
                ids.get(i)
                    .and_then(|id| hit.get(*id as usize))
                    .copied()
                    .unwrap_or(false)
            })
            .collect()
    };
    (keep(w, &col.wave), keep(b, &col.shared.base))
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
    let columns: Vec<Column<'_, 'a>> = FIELDS
        .iter()
        .zip(&base.cols)
        .map(|(f, shared)| Column::new(s, shared, *f))
        .collect();
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
    if !choice.conditions.is_empty() {
        tighten(s, &columns, prior, &mut choice, (&w, &b), &figures);
    }
    choice
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
        let Some(column) = FIELDS
            .iter()
            .position(|f| *f == field)
            .and_then(|i| columns.get(i))
        else {
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
mod tests {
    use super::*;
    use crate::time::Timestamp;

    /// A sample with every packet kept (strides of 1).
    fn sample<'a>(wave: &'a [Packet], base: &'a [Packet], wave_s: f64, base_s: f64) -> Sample<'a> {
        Sample {
            wave,
            wave_stride: 1.0,
            base,
            base_stride: 1.0,
            wave_seconds: wave_s,
            base_seconds: base_s,
            shift_mass: 0.0,
        }
    }

    fn pkt(src: &str, dst: &str, proto: u8, dport: u16, len: u16, t: i64) -> Packet {
        Packet {
            ts: Timestamp(t * 1_000_000_000),
            src_ip: Some(src.parse().unwrap()),
            dst_ip: Some(dst.parse().unwrap()),
            proto: Some(proto),
            src_port: Some(40_000),
            dst_port: Some(dport),
            ip_len: Some(u32::from(len)),
            ..Packet::default()
        }
    }

    #[test]
    fn choose_covers_the_flood_and_spares_the_baseline() {
        // Baseline: clients talk HTTP to the server. Wave: the same background plus a UDP
        // flood from one host to port 53 of the server, with two packet sizes.
        let bg = |t| pkt("10.0.0.5", "10.0.0.10", 6, 80, 60, t);
        let base: Vec<Packet> = (0..200).map(bg).collect();
        let mut wave: Vec<Packet> = (0..20).map(bg).collect();
        for i in 0..400 {
            let len = if i % 2 == 0 { 100 } else { 1400 };
            wave.push(pkt("10.0.0.66", "10.0.0.10", 17, 53, len, 1000));
        }
        let s = sample(&wave, &base, 20.0, 200.0);
        let c = choose(&s, &|_, _| 0.0);
        assert!(!c.conditions.is_empty());
        assert!(c.coverage > 0.99, "{c:?}");
        assert!(c.collateral < 1e-9, "{c:?}");
        let flood = &wave[20];
        let rule_hits = |p: &Packet| c.conditions.iter().all(|k| k.cond.matches(p));
        assert!(rule_hits(flood) && rule_hits(&wave[21]));
        assert!(!rule_hits(&base[0]));
        // Tightening names the traffic: the flood's source and protocol are in the rule.
        let fields: Vec<Field> = c.conditions.iter().map(|k| k.cond.field).collect();
        assert!(
            fields.contains(&Field::Proto) && fields.contains(&Field::SrcIp),
            "{fields:?}"
        );
    }

    #[test]
    fn a_wave_under_its_expected_background_is_measured_by_its_shifts() {
        let wave: Vec<Packet> = (0..100)
            .map(|i| pkt("10.0.0.5", "10.0.0.1", 17, 53, 60, i))
            .collect();
        let base: Vec<Packet> = (0..1000)
            .map(|i| pkt("10.0.0.6", "10.0.0.1", 17, 53, 60, i))
            .collect();
        // 1000 baseline packets over as many seconds as the wave: the wave (100) carries
        // nothing beyond them by rate.
        let mut s = sample(&wave, &base, 10.0, 10.0);
        assert!((s.total_excess() - 100.0).abs() < 1e-9);
        s.shift_mass = 30.0;
        assert!((s.total_excess() - 30.0).abs() < 1e-9);
        // Beyond its background the rate's excess is used, whatever the shifts say.
        let s = Sample {
            base_seconds: 1000.0,
            ..s
        };
        assert!((s.total_excess() - 90.0).abs() < 1e-9);
    }

    #[test]
    fn nothing_to_separate_gives_no_conditions_or_full_collateral() {
        // The wave is just more of the baseline's traffic: any condition keeps collateral.
        let p = |t| pkt("10.0.0.5", "10.0.0.10", 6, 80, 60, t);
        let base: Vec<Packet> = (0..100).map(p).collect();
        let wave: Vec<Packet> = (0..300).map(p).collect();
        let s = sample(&wave, &base, 10.0, 100.0);
        let c = choose(&s, &|_, _| 0.0);
        assert!(c.conditions.is_empty() || c.collateral > 0.99, "{c:?}");
    }

    #[test]
    fn shared_baseline_columns_choose_what_fresh_ones_do() {
        // Two waves against one baseline, as drafting does: the shared columns (and the
        // whole-sample counts of the first step) must give the same choice as columns found
        // per call; columns of another baseline slice are not used.
        let base: Vec<Packet> = (0..300)
            .map(|t| {
                let dst = if t % 3 == 0 { "10.0.0.11" } else { "10.0.0.10" };
                pkt(
                    "10.0.0.5",
                    dst,
                    6,
                    80 + u16::try_from(t % 4).unwrap(),
                    60,
                    t,
                )
            })
            .collect();
        let flood: Vec<Packet> = (0..500)
            .map(|i| pkt("10.0.0.66", "10.0.0.10", 17, 53, 100 + (i % 3) * 700, 1000))
            .chain((0..30).map(|t| base[t].clone()))
            .collect();
        let scan: Vec<Packet> = (0..400)
            .map(|i| pkt("10.0.0.77", "10.0.0.11", 6, 1 + i, 44, 2000))
            .collect();
        let shared = BaseColumns::new(&base);
        let other_base = base[..100].to_vec();
        let unrelated = BaseColumns::new(&other_base);
        for wave in [&flood, &scan] {
            let s = sample(wave, &base, 10.0, 300.0);
            let key = |c: &Choice| {
                let conds: Vec<String> = c.conditions.iter().map(|k| k.cond.to_string()).collect();
                (conds, c.coverage.to_bits(), c.collateral.to_bits())
            };
            let fresh = choose(&s, &|_, _| 0.0);
            assert!(!fresh.conditions.is_empty());
            assert_eq!(
                key(&choose_with(&s, Some(&shared), &|_, _| 0.0)),
                key(&fresh)
            );
            assert_eq!(
                key(&choose_with(&s, Some(&unrelated), &|_, _| 0.0)),
                key(&fresh)
            );
        }
    }

    #[test]
    fn a_busier_background_than_the_baseline_average_does_not_buy_a_blanket_rule() {
        // Baseline: 10 packets/s of clients on many ports. The wave's 10 s hold twice that
        // background plus 150 reflected NTP packets, so the expected excess (350 - 100) runs
        // high and the reflection's own signature "keeps" only 60% of it; conditions that
        // match nearly everything keep 100%. The draft must still name the reflection.
        let client = |i: u16, t: i64| {
            let mut p = pkt("10.0.0.5", "10.0.0.10", 6, 1000 + i % 400, 60 + i % 900, t);
            p.src_port = Some(40_000 + i);
            p
        };
        let base: Vec<Packet> = (0..3000u16).map(|i| client(i, i64::from(i) / 10)).collect();
        let mut wave: Vec<Packet> = (0..200u16).map(|i| client(i * 7, 1000)).collect();
        for _ in 0..150 {
            let mut p = pkt("198.51.100.9", "10.0.0.105", 17, 5156, 468, 1000);
            p.src_port = Some(123);
            wave.push(p);
        }
        let s = sample(&wave, &base, 10.0, 300.0);
        let c = choose(&s, &|_, _| 0.0);
        assert!(c.collateral < 0.01, "{c:?}");
        let rule_hits = |p: &Packet| c.conditions.iter().all(|k| k.cond.matches(p));
        assert!(wave[200..].iter().all(rule_hits), "{c:?}");
        assert!(!wave[..200].iter().any(rule_hits), "{c:?}");
    }

    #[test]
    fn the_top_values_come_out_as_a_full_sort_orders_them() {
        // Many ties (a spoofed flood's sources all carry the same excess) and a few larger.
        let ips: Vec<std::net::IpAddr> = (0..500u32)
            .map(|i| std::net::IpAddr::from((i * 7919 % 65_521).to_be_bytes()))
            .collect();
        let mut vals: Vec<(ValueRef<'_>, f64)> = ips
            .iter()
            .enumerate()
            .map(|(i, ip)| (ValueRef::Ip(*ip), if i % 97 == 0 { 9.0 } else { 2.0 }))
            .collect();
        let mut full = vals.clone();
        full.sort_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| a.0.to_owned().cmp(&b.0.to_owned()))
        });
        for k in [0, 1, 2, 16, 499, 500, 600] {
            top_by_excess(&mut vals, k);
            let k = k.min(vals.len());
            assert_eq!(vals[..k], full[..k], "k = {k}");
        }
        // Borrowed values order as owned ones do.
        let (a, b) = (
            crate::text::Untrusted::new(b"ab"),
            crate::text::Untrusted::new(b"b"),
        );
        let refs = [
            ValueRef::U(3),
            ValueRef::Ip(ips[1]),
            ValueRef::Text(&a),
            ValueRef::Text(&b),
        ];
        for x in refs {
            for y in refs {
                assert_eq!(x.cmp(&y), x.to_owned().cmp(&y.to_owned()));
            }
        }
    }

    #[test]
    fn numeric_counts_equal_matching_every_packet() {
        // Ports, flag bytes and IPv4 sources, partly shared between wave and baseline; one
        // baseline packet has an IPv6 source, so that column falls back to the general path.
        let mk = |i: u32, v6: bool| {
            let src: IpAddr = if v6 {
                "2001:db8::1".parse().unwrap()
            } else {
                IpAddr::from((0x0a00_0000 + i * 2_654_435_761 % 4096).to_be_bytes())
            };
            Packet {
                src_ip: Some(src),
                dst_ip: Some(IpAddr::from(((192 << 24) + i % 300).to_be_bytes())),
                src_port: Some(u16::try_from(i * 7919 % 65_536).unwrap()),
                tcp_flags: Some(u8::try_from(i * 37 % 64).unwrap()),
                ..Packet::default()
            }
        };
        let wave: Vec<Packet> = (0..700).map(|i| mk(i, false)).collect();
        let base: Vec<Packet> = (400..1500).map(|i| mk(i, i == 999)).collect();
        let s = sample(&wave, &base, 1.0, 1.0);
        let shared = BaseColumns::new(&base);
        let all_w: Vec<usize> = (0..wave.len()).collect();
        let all_b: Vec<usize> = (0..base.len()).collect();
        let half_w: Vec<usize> = (0..wave.len()).step_by(2).collect();
        let third_b: Vec<usize> = (0..base.len()).step_by(3).collect();
        let ops = [
            Op::Range(1000, 30_000),
            Op::Range(0, 0),
            Op::Gt(20_000),
            Op::Gt(u64::MAX),
            Op::Lt(5000),
            Op::Lt(0),
            Op::Mask {
                mask: 0x12,
                bits: 0x02,
            },
            Op::Cidr("10.0.0.0".parse().unwrap(), 22),
            Op::Cidr("10.0.12.0".parse().unwrap(), 24),
            Op::Cidr("192.0.0.0".parse().unwrap(), 25),
            Op::Cidr("0.0.0.0".parse().unwrap(), 0),
        ];
        let mut numeric_used = 0;
        for (fi, &field) in FIELDS.iter().enumerate() {
            let col = Column::new(&s, &shared.cols[fi], field);
            for (w, b) in [(&all_w, &all_b), (&half_w, &third_b)] {
                let counts = FieldCounts::new(&col, w, b);
                for op in &ops {
                    let Ok(cond) = Condition::new(field, op.clone()) else {
                        continue;
                    };
                    let want = (
                        w.iter().filter(|&&i| cond.matches(&wave[i])).count(),
                        b.iter().filter(|&&i| cond.matches(&base[i])).count(),
                    );
                    assert_eq!(counts.matching(&cond), want, "{field:?} {op:?}");
                    numeric_used += usize::from(counts.numeric(&cond).is_some());
                }
            }
        }
        // Ports, flags and destinations take the numeric path; the mixed source column not.
        assert!(numeric_used >= 20, "{numeric_used}");
        let src = FIELDS.iter().position(|f| *f == Field::SrcIp).unwrap();
        assert!(
            Column::new(&s, &shared.cols[src], Field::SrcIp)
                .numbers()
                .is_none()
        );
    }
}
