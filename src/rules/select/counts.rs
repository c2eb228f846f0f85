//! Candidate conditions on one field: the wave's and baseline's packets per distinct value
//! (still matching the conditions chosen so far), and the values, sets, ranges, bounds, masks
//! and prefixes that carry the current excess.

use super::columns::{Column, Numbers, sum_where};
use super::{Candidate, MAX_DRAFT_SET, Sample};
use crate::decode::{Field, Value, ValueRef};
use crate::rules::model::{Condition, Kind, MAX_SET, Op, kind, mask32, mask128, max_value};
use std::net::IpAddr;

/// Packets of the current wave and baseline samples per distinct value of one field. Whether
/// a packet matches a condition depends only on its value of the condition's field, so every
/// candidate is counted over the distinct values instead of over the packets again.
pub(super) struct FieldCounts<'c, 'a> {
    pub(super) column: &'c Column<'c, 'a>,
    /// Per value index: (wave packets, baseline packets).
    pub(super) counts: Vec<(u64, u64)>,
}

impl<'c, 'a> FieldCounts<'c, 'a> {
    pub(super) fn new(column: &'c Column<'c, 'a>, w: &[usize], b: &[usize]) -> Self {
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
    pub(super) fn present(&self) -> impl Iterator<Item = (ValueRef<'a>, u64, u64)> + '_ {
        self.column
            .values()
            .zip(&self.counts)
            .filter(|(_, (w, b))| *w > 0 || *b > 0)
            .map(|(v, (w, b))| (v, *w, *b))
    }

    /// Wave and baseline packets matching `cond` (a condition on this field).
    pub(super) fn matching(&self, cond: &Condition) -> (usize, usize) {
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
    pub(super) fn numeric(&self, cond: &Condition) -> Option<(usize, usize)> {
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
    pub(super) fn excess(&self, s: &Sample<'_>) -> Vec<(ValueRef<'a>, f64)> {
        #[allow(clippy::cast_precision_loss)]
        self.present()
            .filter(|(_, nw, _)| *nw > 0)
            .map(|(v, nw, nb)| (v, nw as f64 * s.wave_stride - nb as f64 * s.bg_factor()))
            .filter(|(_, ex)| *ex > 0.0)
            .collect()
    }
}

/// Largest excess first, then the smaller value (a total order: values are distinct).
pub(super) fn by_excess(a: &(ValueRef<'_>, f64), b: &(ValueRef<'_>, f64)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0))
}

/// Sorts the first `k` values [`by_excess`], leaving the rest in any order. Candidates look at
/// the largest few only, and a spoofed flood's source field has tens of thousands of values:
/// sorting them all was a third of the condition search.
pub(super) fn top_by_excess(vals: &mut [(ValueRef<'_>, f64)], k: usize) {
    if vals.len() > k {
        vals.select_nth_unstable_by(k, by_excess);
    }
    let k = k.min(vals.len());
    vals[..k].sort_by(by_excess);
}

/// Candidate conditions on `field` from the values that carry the current excess.
pub(super) fn candidates_for(
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
    // A client's own port is never named (see `ports.rs`): it is skipped by the equalities
    // and breaks the one-of set, whose values must carry the excess without it.
    let own = |v: &ValueRef<'_>| s.is_own_port(field, *v);
    for &(v, _) in vals.iter().filter(|(v, _)| !own(v)).take(2) {
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
        if own(&v) {
            continue;
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
pub(super) fn network(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask32(len)).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask128(len)).into()),
    }
}
