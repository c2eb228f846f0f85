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

/// Quiet windows a field must have been seen in (one window length of buckets) before it
/// counts in the window score.
pub const MIN_FIELD_HISTORY: u64 = 10;

/// One (field, value) of the window with its count and a copy of the baseline's stored count
/// (NaN until looked up).
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
#[derive(Clone, Debug)]
pub struct Window {
    len_ns: i64,
    width_ns: i64,
    members: VecDeque<usize>,
    packets: u64,
    per_field: [u64; NFIELDS],
    other: [u64; NFIELDS],
    index: FxHashMap<FieldKey, u32>,
    slots: Vec<Slot>,
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
        while let Some(&first) = self.members.front() {
            let old = buckets
                .get(first)
                .map_or(i64::MIN, |o| o.start(self.width_ns).0);
            if end.saturating_sub(old) < self.len_ns {
                break;
            }
            if let Some(o) = buckets.get(first) {
                self.sub(o);
            }
            self.members.pop_front();
        }
        self.add(b);
        self.members.push_back(pos);
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
        self.slots.len()
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
        let entries = self.slots.iter_mut().map(|s| {
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

    /// Brings the stored-count copies up to date with the baseline's journal.
    fn sync(&mut self, base: &Baseline) {
        let (generation, journal) = base.changes();
        match self.synced {
            Some((g, seen)) if g == generation && seen <= journal.len() => {
                for k in journal.get(seen..).unwrap_or(&[]) {
                    if let Some(s) = self
                        .index
                        .get(k)
                        .and_then(|i| self.slots.get_mut(*i as usize))
                    {
                        s.stored = f64::NAN;
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

    fn add(&mut self, b: &Bucket) {
        self.packets += b.packets;
        for (f, o) in b.other.iter().enumerate() {
            self.other[f] += o;
            self.per_field[f] += o;
        }
        // Exact sums, no distinct cap: a bucket is already capped, and the window holds a
        // bounded number of buckets.
        for (k, c) in &b.counts {
            self.per_field[k.field() as usize] += c;
            let next = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
            let i = *self.index.entry(*k).or_insert(next);
            match self.slots.get_mut(i as usize) {
                Some(s) => s.count += c,
                None => self.slots.push(Slot {
                    key: *k,
                    count: *c,
                    stored: f64::NAN,
                }),
            }
        }
    }

    fn sub(&mut self, b: &Bucket) {
        self.packets = self.packets.saturating_sub(b.packets);
        for (f, o) in b.other.iter().enumerate() {
            self.other[f] = self.other[f].saturating_sub(*o);
            self.per_field[f] = self.per_field[f].saturating_sub(*o);
        }
        for (k, c) in &b.counts {
            let f = k.field() as usize;
            self.per_field[f] = self.per_field[f].saturating_sub(*c);
            let Some(&i) = self.index.get(k) else {
                continue;
            };
            let Some(s) = self.slots.get_mut(i as usize) else {
                continue;
            };
            s.count = s.count.saturating_sub(*c);
            if s.count == 0 {
                // Swap-remove the slot and repoint the key that moved into its place.
                self.index.remove(k);
                self.slots.swap_remove(i as usize);
                if let Some(moved) = self.slots.get(i as usize) {
                    self.index.insert(moved.key, i);
                }
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
}
