//! The recent window: the sum of the buckets of the last second or so, judged against the
//! baseline beside each single bucket.
//!
//! A bucket is short (10-100 ms on busy captures), so an attack whose packets are mixed with
//! the background at a modest rate (a form brute force, a DNS tunnel) looks like noise in any
//! one of them, and the baseline would learn it as normal bucket by bucket. Summed over a
//! window the same change is unmistakable. The window is kept incrementally (each bucket is
//! added once and subtracted once), so judging it costs one feature pass per bucket.

use super::baseline::Baseline;
use super::features::{self, BucketFeatures, Counted};
use crate::timeline::{Bucket, FieldKey, NFIELDS};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

/// The window spans at least this long...
pub const WINDOW_MIN_NS: i64 = 1_000_000_000;
/// ...and at least this many bucket widths.
pub const WINDOW_MIN_BUCKETS: i64 = 10;

/// Free slots tolerated before the window packs its slots (see [`Window::advance`]).
const COMPACT_MIN: usize = 256;

/// Quiet windows a field must have been seen in (one window length of buckets) before it
/// counts in the window score.
pub const MIN_FIELD_HISTORY: u64 = 10;

/// One (field, value) of the window with its count and a copy of the baseline's stored count
/// (NaN until looked up). A count of zero marks a free slot.
#[derive(Clone, Copy, Debug)]
struct Slot {
    key: FieldKey,
    count: u64,
    stored: f64,
}

/// A rolling sum of the buckets that started within the last window length.
///
/// The sum is a vector of slots with a key -> slot map, not a plain map: judging the window
/// needs the baseline's count of every value in it, for every bucket, and the slots keep a
/// copy of it that only the few keys the baseline learnt since the last bucket need updating
/// (see [`Baseline::changes`]). Looking every key up afresh was most of detection's time.
///
/// A slot stays where it is while its key is in the window (a freed slot goes to the next new
/// key), so each member bucket keeps the slots its keys went to: subtracting a bucket that
/// leaves is a pass over that list, with no lookups but for the keys that leave with it.
/// (Moving the last slot into each freed one, and looking every key of the leaving bucket up
/// again, made moving the window the largest single cost of the walk.)
#[derive(Clone, Debug)]
pub struct Window {
    len_ns: i64,
    width_ns: i64,
    /// Each member bucket's position and the (slot, count) of each of its keys.
    members: VecDeque<(usize, Vec<(u32, u64)>)>,
    packets: u64,
    per_field: [u64; NFIELDS],
    other: [u64; NFIELDS],
    index: FxHashMap<FieldKey, u32>,
    slots: Vec<Slot>,
    /// Free slots (count zero), reused last freed first.
    free: Vec<u32>,
    /// The slot lists of buckets that left, kept for their allocations.
    spare: Vec<Vec<(u32, u64)>>,
    /// The baseline journal's (generation, length) the stored copies reflect.
    synced: Option<(u64, usize)>,
}

impl Window {
    /// An empty window for buckets of `width_ns`.
    #[must_use]
    pub fn new(width_ns: i64) -> Self {
        let width_ns = width_ns.max(1);
        Self {
            len_ns: WINDOW_MIN_NS.max(width_ns.saturating_mul(WINDOW_MIN_BUCKETS)),
            width_ns,
            members: VecDeque::new(),
            packets: 0,
            per_field: [0; NFIELDS],
            other: [0; NFIELDS],
            index: FxHashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            spare: Vec::new(),
            synced: None,
        }
    }

    /// Window length.
    #[must_use]
    pub fn len_ns(&self) -> i64 {
        self.len_ns
    }

    /// Moves the window to end with bucket `pos` of `buckets` (positions must come in
    /// increasing order).
    pub fn advance(&mut self, buckets: &[Bucket], pos: usize) {
        let Some(b) = buckets.get(pos) else {
            return;
        };
        let end = b.start(self.width_ns).0;
        while let Some((first, _)) = self.members.front() {
            let old = buckets
                .get(*first)
                .map_or(i64::MIN, |o| o.start(self.width_ns).0);
            if end.saturating_sub(old) < self.len_ns {
                break;
            }
            if let Some((first, keys)) = self.members.pop_front() {
                if let Some(o) = buckets.get(first) {
                    self.sub(o, &keys);
                }
                self.spare.push(keys);
            }
        }
        let keys = self.add(b);
        self.members.push_back((pos, keys));
        // After a burst of distinct values leaves (a spoofed flood), most slots would be free
        // and judging the window would step over them for every bucket: pack them once a
        // quarter are.
        if self.free.len() > COMPACT_MIN && self.free.len() * 4 > self.slots.len() {
            self.compact();
        }
    }

    /// Moves the used slots to the front, in their order, and renumbers every reference.
    fn compact(&mut self) {
        let mut to = vec![u32::MAX; self.slots.len()];
        let mut next = 0u32;
        for (t, s) in to.iter_mut().zip(&self.slots) {
            if s.count > 0 {
                *t = next;
                next += 1;
            }
        }
        self.slots.retain(|s| s.count > 0);
        let renumber = |i: &mut u32| *i = to.get(*i as usize).copied().unwrap_or(u32::MAX);
        for (_, keys) in &mut self.members {
            for (i, _) in keys.iter_mut() {
                renumber(i);
            }
        }
        for i in self.index.values_mut() {
            renumber(i);
        }
        self.free.clear();
    }

    /// Buckets in the window.
    #[must_use]
    pub fn buckets(&self) -> usize {
        self.members.len()
    }

    /// Packets in the window.
    #[must_use]
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Distinct tracked (field, value) keys in the window.
    #[must_use]
    pub fn keys(&self) -> usize {
        self.index.len()
    }

    /// Packets in the window carrying a (field, value).
    #[must_use]
    pub fn count(&self, k: FieldKey) -> u64 {
        self.index
            .get(&k)
            .and_then(|i| self.slots.get(*i as usize))
            .map_or(0, |s| s.count)
    }

    /// Features of the window against the baseline. The rate compares the window's packets
    /// with what the baseline's wall-clock rate predicts for the window's length.
    pub fn features(&mut self, base: &Baseline) -> BucketFeatures {
        self.sync(base);
        let scale = base.scale();
        let entries = self.slots.iter_mut().filter(|s| s.count > 0).map(|s| {
            if s.stored.is_nan() {
                s.stored = base.stored(s.key);
            }
            (s.key, s.count, s.stored * scale)
        });
        let totals = Counted {
            per_field: &self.per_field,
            other: &self.other,
            packets: self.packets,
        };
        let mut x = features::features_of(&totals, entries, base, self.width_ns, None);
        #[allow(clippy::cast_precision_loss)]
        let expected = base.time_rate() * self.len_ns as f64 / 1e9;
        #[allow(clippy::cast_precision_loss)]
        let packets = self.packets as f64;
        x.rate = ((packets + 1.0) / (expected + 1.0)).log2();
        x
    }

    /// Features of the newest bucket (`b`, the one the last [`Window::advance`] added)
    /// against the baseline: what [`features::features`] gives, from the copies of stored
    /// counts the window keeps instead of a lookup per key. Call after [`Window::features`]
    /// with the same baseline, which brings those copies up to date.
    #[must_use]
    pub fn newest_features(
        &self,
        b: &Bucket,
        base: &Baseline,
        width_ns: i64,
        residual: Option<f64>,
    ) -> BucketFeatures {
        let Some((_, keys)) = self.members.back() else {
            return features::features(b, base, width_ns, residual);
        };
        let mut n = [0u64; NFIELDS];
        for (k, c) in &b.counts {
            n[k.field() as usize] += c;
        }
        for (f, o) in b.other.iter().enumerate() {
            n[f] += o;
        }
        let scale = base.scale();
        // The slot list follows the bucket's own key order, so the sums below add up in the
        // same order as a lookup per key would, to the same bits.
        let entries = keys.iter().filter_map(|(i, c)| {
            let s = self.slots.get(*i as usize)?;
            let stored = if s.stored.is_nan() {
                base.stored(s.key)
            } else {
                s.stored
            };
            Some((s.key, *c, stored * scale))
        });
        let totals = Counted {
            per_field: &n,
            other: &b.other,
            packets: b.packets,
        };
        features::features_of(&totals, entries, base, width_ns, residual)
    }

    /// Brings the stored-count copies up to date with the baseline's journal.
    fn sync(&mut self, base: &Baseline) {
        let (generation, journal) = base.changes();
        match self.synced {
            Some((g, seen)) if g == generation && seen <= journal.len() => {
                // A key changed more than once comes last with its latest count.
                for (k, stored) in journal.get(seen..).unwrap_or(&[]) {
                    if let Some(s) = self
                        .index
                        .get(k)
                        .and_then(|i| self.slots.get_mut(*i as usize))
                    {
                        s.stored = *stored;
                    }
                }
            }
            _ => {
                for s in &mut self.slots {
                    s.stored = f64::NAN;
                }
            }
        }
        self.synced = Some((generation, journal.len()));
    }

    /// Adds a bucket; returns the (slot, count) of each of its keys.
    fn add(&mut self, b: &Bucket) -> Vec<(u32, u64)> {
        self.packets += b.packets;
        for (f, o) in b.other.iter().enumerate() {
            self.other[f] += o;
            self.per_field[f] += o;
        }
        let mut keys = self.spare.pop().unwrap_or_default();
        keys.clear();
        keys.reserve(b.counts.len());
        let Self {
            index,
            slots,
            free,
            per_field,
            ..
        } = self;
        // Exact sums, no distinct cap: a bucket is already capped, and the window holds a
        // bounded number of buckets.
        for (k, c) in &b.counts {
            per_field[k.field() as usize] += c;
            let i = *index.entry(*k).or_insert_with(|| {
                let fresh = Slot {
                    key: *k,
                    count: 0,
                    stored: f64::NAN,
                };
                match free.pop() {
                    Some(i) => {
                        if let Some(s) = slots.get_mut(i as usize) {
                            *s = fresh;
                        }
                        i
                    }
                    None => {
                        slots.push(fresh);
                        u32::try_from(slots.len() - 1).unwrap_or(u32::MAX)
                    }
                }
            });
            if let Some(s) = slots.get_mut(i as usize) {
                s.count += c;
            }
            keys.push((i, *c));
        }
        keys
    }

    /// Subtracts a bucket whose keys went to the slots in `keys`.
    fn sub(&mut self, b: &Bucket, keys: &[(u32, u64)]) {
        self.packets = self.packets.saturating_sub(b.packets);
        for (f, o) in b.other.iter().enumerate() {
            self.other[f] = self.other[f].saturating_sub(*o);
            self.per_field[f] = self.per_field[f].saturating_sub(*o);
        }
        for (i, c) in keys {
            let Some(s) = self.slots.get_mut(*i as usize) else {
                continue;
            };
            let f = s.key.field() as usize;
            self.per_field[f] = self.per_field[f].saturating_sub(*c);
            s.count = s.count.saturating_sub(*c);
            if s.count == 0 {
                self.index.remove(&s.key);
                self.free.push(*i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Field, ValueRef};
    use crate::detect::baseline::Baseline;
    use crate::timeline::Interner;

    fn bucket(i: &mut Interner, idx: i64, port: u64, n: u64) -> Bucket {
        let mut b = Bucket::new(idx);
        for _ in 0..n {
            b.count(i.key(Field::DstPort, ValueRef::U(port)));
            b.packets += 1;
        }
        b
    }

    #[test]
    fn window_is_the_exact_sum_of_its_last_second() {
        let mut i = Interner::default();
        let w100 = 100_000_000;
        // Buckets at 0.0, 0.1, ..., 1.9 s, alternating ports.
        let bs: Vec<Bucket> = (0..20)
            .map(|t| bucket(&mut i, t, if t % 2 == 0 { 80 } else { 443 }, 1 + t as u64))
            .collect();
        let mut w = Window::new(w100);
        assert_eq!(w.len_ns(), 1_000_000_000);
        for p in 0..bs.len() {
            w.advance(&bs, p);
        }
        // The last second: buckets 10..=19.
        assert_eq!(w.buckets(), 10);
        let expect: u64 = (10..20).map(|t| 1 + t as u64).sum();
        assert_eq!(w.packets(), expect);
        let k80 = i.key(Field::DstPort, ValueRef::U(80));
        let even: u64 = (10..20).filter(|t| t % 2 == 0).map(|t| 1 + t as u64).sum();
        assert_eq!(w.count(k80), even);
        // A gap longer than the window empties it but for the new bucket.
        let mut more = bs.clone();
        more.push(bucket(&mut i, 60, 22, 3));
        w.advance(&more, 20);
        assert_eq!(w.buckets(), 1);
        assert_eq!(w.packets(), 3);
        assert_eq!(w.keys(), 1);
    }

    /// The window's kept copies of baseline counts must give exactly what looking every key
    /// up gives, while the baseline learns between buckets and renormalises.
    #[test]
    fn window_features_track_a_learning_baseline() {
        let mut i = Interner::default();
        let w100 = 100_000_000;
        let bs: Vec<Bucket> = (0..60)
            .map(|t| {
                let mut b = bucket(&mut i, t, 80 + (t as u64 % 7), 5 + t as u64);
                for _ in 0..3 {
                    b.count(i.key(Field::SrcPort, ValueRef::U(1000 + t as u64 % 13)));
                }
                b
            })
            .collect();
        let mut base = Baseline::decaying(2_000_000_000);
        let mut w = Window::new(w100);
        for p in 0..bs.len() {
            w.advance(&bs, p);
            let got = w.features(&base);
            // The same window summed into a plain bucket and judged the direct way.
            let mut sum = Bucket::new(0);
            for b in bs
                .iter()
                .take(p + 1)
                .skip((p + 1).saturating_sub(w.buckets()))
            {
                sum.merge(b);
            }
            let want = features::features(&sum, &base, w100, None);
            // The newest bucket judged from the window's copies: to the bit what the lookups
            // give.
            let own = features::features(&bs[p], &base, w100, Some(0.5));
            let newest = w.newest_features(&bs[p], &base, w100, Some(0.5));
            assert_eq!(format!("{own:?}"), format!("{newest:?}"), "bucket {p}");
            for f in 0..NFIELDS {
                match (got.tv[f], want.tv[f]) {
                    (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "field {f} at {p}"),
                    (a, b) => assert_eq!(a.is_some(), b.is_some(), "field {f} at {p}"),
                }
                assert_eq!(got.novel[f].is_some(), want.novel[f].is_some());
            }
            assert!((got.drift - want.drift).abs() < 1e-12, "drift at {p}");
            assert!((got.homogeneity - want.homogeneity).abs() < 1e-12);
            // Learn the bucket (every third one, far in the future, so the baseline decays
            // past its renormalisation point and every stored count changes).
            if p % 3 == 0 {
                base.absorb(&bs[p], w100);
            }
            if p == 30 {
                base.decay_to(10_000_000_000_000);
            }
        }
    }

    /// Slots freed by values that left are reused and, once a quarter are free, packed: the sums
    /// stay exact through a burst of distinct values coming and going.
    #[test]
    fn window_stays_exact_through_a_burst_of_distinct_values() {
        let mut i = Interner::default();
        let w100 = 100_000_000;
        let bs: Vec<Bucket> = (0..80)
            .map(|t| {
                let mut b = bucket(&mut i, t, 443, 10);
                // Buckets 20-29: a spoofed burst of 500 new source ports each.
                if (20..30).contains(&t) {
                    for n in 0..500 {
                        b.count(i.key(Field::SrcPort, ValueRef::U(10_000 + t as u64 * 1000 + n)));
                    }
                }
                b
            })
            .collect();
        let mut w = Window::new(w100);
        for p in 0..bs.len() {
            w.advance(&bs, p);
            let first = (p + 1).saturating_sub(w.buckets());
            // A plain sum (a bucket's merge would cap the distinct values; the window does not).
            let mut sum: FxHashMap<FieldKey, u64> = FxHashMap::default();
            for b in &bs[first..=p] {
                for (k, c) in &b.counts {
                    *sum.entry(*k).or_default() += c;
                }
            }
            assert_eq!(w.keys(), sum.len(), "at {p}");
            for (k, c) in &sum {
                assert_eq!(w.count(*k), *c, "at {p}");
            }
            assert_eq!(w.free.len() + w.index.len(), w.slots.len(), "at {p}");
        }
        // The burst left 5,000 slots behind; they were packed away.
        assert!(w.slots.len() < 100, "{} slots", w.slots.len());
    }
}
