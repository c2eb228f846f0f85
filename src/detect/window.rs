//! The recent window: the sum of the buckets of the last second or so, judged against the
//! baseline beside each single bucket.
//!
//! A bucket is short (10-100 ms on busy captures), so an attack whose packets are mixed with
//! the background at a modest rate (a form brute force, a DNS tunnel) looks like noise in any
//! one of them, and the baseline would learn it as normal bucket by bucket. Summed over a
//! window the same change is unmistakable. The window is kept incrementally (each bucket is
//! added once and subtracted once), so judging it costs one feature pass per bucket.

use super::baseline::{Baseline, Ema};
use super::features::{self, BucketFeatures, Norms};
use crate::timeline::{Bucket, FieldKey};
use std::collections::VecDeque;

/// The window spans at least this long...
pub const WINDOW_MIN_NS: i64 = 1_000_000_000;
/// ...and at least this many bucket widths.
pub const WINDOW_MIN_BUCKETS: i64 = 10;

/// Quiet windows a field must have been seen in (one window length of buckets) before it
/// counts in the window score.
pub const MIN_FIELD_HISTORY: u64 = 10;

/// A rolling sum of the buckets that started within the last window length.
#[derive(Clone, Debug)]
pub struct Window {
    len_ns: i64,
    width_ns: i64,
    members: VecDeque<usize>,
    sum: Bucket,
    /// Spread of each feature over quiet windows.
    pub norms: Norms,
    /// Spread of the raw window score over quiet windows.
    pub quiet: Ema,
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
            sum: Bucket::new(0),
            norms: Norms::default(),
            quiet: Ema::default(),
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

    /// Features of the window against the baseline. The rate compares the window's packets
    /// with what the baseline's wall-clock rate predicts for the window's length.
    #[must_use]
    pub fn features(&self, base: &Baseline) -> BucketFeatures {
        let mut x = features::features(&self.sum, base, self.width_ns, None);
        #[allow(clippy::cast_precision_loss)]
        let expected = base.time_rate() * self.len_ns as f64 / 1e9;
        #[allow(clippy::cast_precision_loss)]
        let packets = self.sum.packets as f64;
        x.rate = ((packets + 1.0) / (expected + 1.0)).log2();
        x
    }

    fn add(&mut self, b: &Bucket) {
        self.sum.packets += b.packets;
        self.sum.bytes += b.bytes;
        for (f, o) in b.other.iter().enumerate() {
            self.sum.other[f] += o;
        }
        // Exact sums, no distinct cap: a bucket is already capped, and the window holds a
        // bounded number of buckets.
        for (k, c) in &b.counts {
            *self.sum.counts.entry(*k).or_default() += c;
        }
    }

    fn sub(&mut self, b: &Bucket) {
        self.sum.packets = self.sum.packets.saturating_sub(b.packets);
        self.sum.bytes = self.sum.bytes.saturating_sub(b.bytes);
        for (f, o) in b.other.iter().enumerate() {
            self.sum.other[f] = self.sum.other[f].saturating_sub(*o);
        }
        for (k, c) in &b.counts {
            remove(&mut self.sum.counts, *k, *c);
        }
    }
}

fn remove(m: &mut rustc_hash::FxHashMap<FieldKey, u64>, k: FieldKey, c: u64) {
    if let Some(v) = m.get_mut(&k) {
        *v = v.saturating_sub(c);
        if *v == 0 {
            m.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Field, ValueRef};
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
        assert_eq!(w.sum.packets, expect);
        let k80 = i.key(Field::DstPort, ValueRef::U(80));
        let even: u64 = (10..20).filter(|t| t % 2 == 0).map(|t| 1 + t as u64).sum();
        assert_eq!(w.sum.counts.get(&k80).copied(), Some(even));
        // A gap longer than the window empties it but for the new bucket.
        let mut more = bs.clone();
        more.push(bucket(&mut i, 60, 22, 3));
        w.advance(&more, 20);
        assert_eq!(w.buckets(), 1);
        assert_eq!(w.sum.packets, 3);
        assert_eq!(w.sum.counts.len(), 1);
    }
}
