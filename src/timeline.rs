//! The timeline: fixed-width time buckets of counts, with cheap queries over windows.
//!
//! The width is chosen from the capture itself: reading starts at a fine width and, whenever
//! more than `max_buckets` non-empty buckets exist, coarsens to the next step of a ladder whose
//! steps are integer multiples of each other (so merging is exact). A fixed width can be forced.
//! Buckets are sparse (only non-empty ones are stored), so a capture whose clock jumps ten years
//! costs two buckets, not a million.

pub mod bucket;
pub mod dense;
pub mod history;
pub mod key;

pub use bucket::{Bucket, NFIELDS};
pub use history::History;
pub use key::{FieldKey, Interner};

use crate::decode::{Field, Packet, Value, ValueRef};
use crate::time::Timestamp;
use rustc_hash::FxHashMap;
use std::ops::Range;

const MS: i64 = 1_000_000;
const S: i64 = 1_000 * MS;

/// Width ladder in nanoseconds; each step divides the next.
pub const LADDER: &[i64] = &[
    10 * MS,
    20 * MS,
    100 * MS,
    200 * MS,
    S,
    2 * S,
    10 * S,
    20 * S,
    60 * S,
    120 * S,
    600 * S,
    1200 * S,
    3600 * S,
    7200 * S,
    21_600 * S,
    43_200 * S,
    86_400 * S,
];

/// Default maximum number of non-empty buckets before coarsening.
pub const DEFAULT_MAX_BUCKETS: usize = 2000;

/// Per-bucket counts over the whole capture.
#[derive(Debug, Clone)]
pub struct Timeline {
    width: i64,
    fixed: bool,
    max_buckets: usize,
    buckets: Vec<Bucket>,
    interner: Interner,
    dense: dense::Dense,
    /// Buckets folded out by retention ([`Timeline::fold_before`]).
    history: History,
    /// Interner size at which the next fold compacts it.
    compact_at: usize,
}

impl Default for Timeline {
    fn default() -> Self {
        Self::adaptive(DEFAULT_MAX_BUCKETS)
    }
}

impl Timeline {
    /// Width chosen from the data, at most `max_buckets` non-empty buckets.
    #[must_use]
    pub fn adaptive(max_buckets: usize) -> Self {
        Self {
            width: LADDER[0],
            fixed: false,
            max_buckets: max_buckets.max(16),
            buckets: Vec::new(),
            interner: Interner::default(),
            dense: dense::Dense::default(),
            history: History::default(),
            compact_at: 1 << 16,
        }
    }

    /// A fixed width in nanoseconds (at least 1 ms), never coarsened.
    #[must_use]
    pub fn fixed(width_ns: i64) -> Self {
        Self {
            width: width_ns.max(MS),
            fixed: true,
            max_buckets: usize::MAX,
            buckets: Vec::new(),
            interner: Interner::default(),
            dense: dense::Dense::default(),
            history: History::default(),
            compact_at: 1 << 16,
        }
    }

    /// Bucket width in nanoseconds.
    #[must_use]
    pub fn width_ns(&self) -> i64 {
        self.width
    }

    /// The non-empty buckets in time order.
    #[must_use]
    pub fn buckets(&self) -> &[Bucket] {
        debug_assert!(
            self.dense.is_clean(),
            "Timeline::flush() before reading counts"
        );
        &self.buckets
    }

    /// The interner that decodes this timeline's keys.
    #[must_use]
    pub fn interner(&self) -> &Interner {
        &self.interner
    }

    /// Mutable interner (to make keys for lookups that may intern).
    pub fn interner_mut(&mut self) -> &mut Interner {
        &mut self.interner
    }

    /// Adds one packet. Returns the bucket position it landed in.
    ///
    /// Counts of small values of the newest bucket stay pending in a dense array until the
    /// stream moves to another bucket: call [`Timeline::flush`] before reading counts.
    pub fn add(&mut self, pkt: &Packet) -> usize {
        let idx = pkt.ts.0.div_euclid(self.width);
        if self.dense.bucket != Some(idx) {
            self.flush();
            self.dense.bucket = Some(idx);
        }
        let pos = self.position_for(idx);
        let interner = &mut self.interner;
        let dense = &mut self.dense;
        let bucket = &mut self.buckets[pos];
        bucket.packets += 1;
        bucket.bytes += u64::from(pkt.frame_len);
        pkt.visit(|field, value| {
            if !field.counted() {
                return;
            }
            match value {
                ValueRef::U(v) if v < dense::DENSE_LIMIT => dense.bump(field, v),
                _ => bucket.count(interner.key(field, value)),
            }
        });
        if !self.fixed && self.buckets.len() > self.max_buckets {
            self.coarsen();
            return self.position_for(pkt.ts.0.div_euclid(self.width));
        }
        pos
    }

    /// Folds pending dense counts into their bucket. Every reader of counts needs this done
    /// (the engine does it when ingest ends); it is cheap and idempotent.
    pub fn flush(&mut self) {
        let Some(idx) = self.dense.bucket.take() else {
            return;
        };
        if self.dense.is_clean() {
            return;
        }
        let pos = self.position_for(idx);
        self.dense.flush_into(&mut self.buckets[pos]);
    }

    /// Finds or inserts the bucket with this index (fast path: the last one).
    fn position_for(&mut self, idx: i64) -> usize {
        match self.buckets.last_mut() {
            Some(b) if b.index == idx => return self.buckets.len() - 1,
            Some(b) if b.index < idx => {
                // The finished bucket keeps only what it holds (a flood bucket's table would
                // otherwise stay at its peak size); the next starts at its size, not at zero.
                let n = b.counts.len();
                if b.counts.capacity() > 4 * n + 64 {
                    b.counts.shrink_to_fit();
                }
                self.buckets.push(Bucket::with_capacity(idx, n));
                return self.buckets.len() - 1;
            }
            None => {
                self.buckets.push(Bucket::new(idx));
                return 0;
            }
            _ => {}
        }
        match self.buckets.binary_search_by_key(&idx, |b| b.index) {
            Ok(p) => p,
            Err(p) => {
                self.buckets.insert(p, Bucket::new(idx));
                p
            }
        }
    }

    /// Moves to the next ladder step until the bucket count fits.
    fn coarsen(&mut self) {
        self.flush();
        while self.buckets.len() > self.max_buckets {
            self.coarsen_step();
        }
    }

    /// Coarsens until the width is at least `width` (used before merging two timelines).
    fn coarsen_to(&mut self, width: i64) {
        while self.width < width {
            self.coarsen_step();
        }
    }

    /// Adds another timeline's counts (e.g. from a parallel shard of the same capture). Both are
    /// first brought to the same width; interned values are re-keyed into this interner. The
    /// result equals what one timeline fed with both shards' packets would hold, up to which
    /// values were tracked once a field hit its distinct cap.
    pub fn merge(&mut self, mut other: Timeline) {
        self.flush();
        other.flush();
        let w = self.width.max(other.width);
        self.coarsen_to(w);
        other.coarsen_to(w);
        for b in &other.buckets {
            let pos = self.position_for(b.index);
            let interner = &mut self.interner;
            let src = &other.interner;
            self.buckets[pos].merge_with(b, |k| {
                if k.is_interned() {
                    interner.key(k.field(), src.value(k).as_ref())
                } else {
                    k
                }
            });
        }
        let src = &other.interner;
        let interner = &mut self.interner;
        self.history.bucket.merge_with(&other.history.bucket, |k| {
            if k.is_interned() {
                interner.key(k.field(), src.value(k).as_ref())
            } else {
                k
            }
        });
        self.history.buckets += other.history.buckets;
        self.history.from_ns = match (self.history.from_ns, other.history.from_ns) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.history.to_ns = self.history.to_ns.max(other.history.to_ns);
        if !self.fixed {
            self.coarsen();
        }
    }

    /// One step up the ladder, merging buckets that fall together.
    fn coarsen_step(&mut self) {
        let next = LADDER
            .iter()
            .copied()
            .find(|w| *w > self.width)
            .unwrap_or(self.width * 2);
        let ratio = next / self.width;
        let mut merged: Vec<Bucket> = Vec::with_capacity(self.buckets.len() / 2 + 1);
        for b in std::mem::take(&mut self.buckets) {
            let idx = b.index.div_euclid(ratio);
            match merged.last_mut() {
                Some(m) if m.index == idx => m.merge(&b),
                _ => {
                    let mut nb = b;
                    nb.index = idx;
                    merged.push(nb);
                }
            }
        }
        self.width = next;
        self.buckets = merged;
    }

    /// Start time of the bucket at a position.
    #[must_use]
    pub fn bucket_start(&self, pos: usize) -> Option<Timestamp> {
        self.buckets.get(pos).map(|b| b.start(self.width))
    }

    /// Positions of the buckets that overlap `[from, to)`.
    #[must_use]
    pub fn range_for(&self, from: Timestamp, to: Timestamp) -> Range<usize> {
        let lo = from.0.div_euclid(self.width);
        let hi = (to.0 - 1).div_euclid(self.width);
        let a = self.buckets.partition_point(|b| b.index < lo);
        let z = self.buckets.partition_point(|b| b.index <= hi);
        a..z.max(a)
    }

    /// Packets and bytes in a window of bucket positions.
    #[must_use]
    pub fn totals(&self, window: Range<usize>) -> (u64, u64) {
        debug_assert!(
            self.dense.is_clean(),
            "Timeline::flush() before reading counts"
        );
        self.slice(window)
            .iter()
            .fold((0, 0), |(p, b), k| (p + k.packets, b + k.bytes))
    }

    /// Summed counts of one field over a window, most frequent first, plus untracked packets.
    #[must_use]
    pub fn field_counts(&self, window: Range<usize>, field: Field) -> (Vec<(Value, u64)>, u64) {
        debug_assert!(
            self.dense.is_clean(),
            "Timeline::flush() before reading counts"
        );
        let mut acc: FxHashMap<FieldKey, u64> = FxHashMap::default();
        let mut other = 0;
        for b in self.slice(window) {
            other += b.other[field as usize];
            for (k, c) in &b.counts {
                if k.field() == field {
                    *acc.entry(*k).or_default() += c;
                }
            }
        }
        let mut out: Vec<(FieldKey, u64)> = acc.into_iter().collect();
        out.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        (
            out.into_iter()
                .map(|(k, c)| (self.interner.value(k), c))
                .collect(),
            other,
        )
    }

    /// All (field, value) counts of a window summed (detectors compare two of these).
    #[must_use]
    pub fn window_counts(&self, window: Range<usize>) -> FxHashMap<FieldKey, u64> {
        debug_assert!(
            self.dense.is_clean(),
            "Timeline::flush() before reading counts"
        );
        let mut acc: FxHashMap<FieldKey, u64> = FxHashMap::default();
        for b in self.slice(window) {
            for (k, c) in &b.counts {
                *acc.entry(*k).or_default() += c;
            }
        }
        acc
    }

    fn slice(&self, window: Range<usize>) -> &[Bucket] {
        let end = window.end.min(self.buckets.len());
        self.buckets.get(window.start.min(end)..end).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn pkt(ts_ms: i64, port: u16) -> Packet {
        Packet {
            ts: Timestamp(ts_ms * MS),
            frame_len: 60,
            src_ip: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            dst_port: Some(port),
            ..Packet::default()
        }
    }

    #[test]
    fn coarsening_keeps_every_count() {
        let mut t = Timeline::adaptive(16);
        for i in 0..10_000 {
            t.add(&pkt(i * 7, u16::try_from(i % 3).unwrap()));
        }
        t.flush();
        assert!(t.buckets().len() <= 16, "{}", t.buckets().len());
        assert!(t.width_ns() > LADDER[0]);
        assert_eq!(t.totals(0..t.buckets().len()), (10_000, 600_000));
        let (counts, other) = t.field_counts(0..t.buckets().len(), Field::DstPort);
        assert_eq!(other, 0);
        assert_eq!(counts.iter().map(|c| c.1).sum::<u64>(), 10_000);
        assert_eq!(counts[0], (Value::U(0), 3334));
    }

    #[test]
    fn sparse_buckets_survive_time_jumps_and_disorder() {
        let mut t = Timeline::fixed(S);
        t.add(&pkt(315_360_000_000, 1)); // ten years later
        t.add(&pkt(0, 2));
        t.add(&pkt(500, 3));
        t.flush();
        assert_eq!(t.buckets().len(), 2);
        assert_eq!(t.buckets()[0].packets, 2);
        let r = t.range_for(Timestamp(0), Timestamp(S));
        assert_eq!(t.totals(r), (2, 120));
    }

    #[test]
    fn merged_shards_equal_the_whole() {
        let mut whole = Timeline::adaptive(16);
        let (mut a, mut b) = (Timeline::adaptive(16), Timeline::adaptive(16));
        for i in 0..4000i64 {
            let mut p = pkt(i * 3, u16::try_from(i % 5).unwrap());
            if i % 7 == 0 {
                p.src_ip = Some("2001:db8::1".parse().unwrap());
            }
            whole.add(&p);
            if i % 3 == 0 {
                a.add(&p)
            } else {
                b.add(&p)
            };
        }
        a.merge(b);
        whole.flush();
        assert_eq!(a.width_ns(), whole.width_ns());
        assert_eq!(a.buckets().len(), whole.buckets().len());
        let n = whole.buckets().len();
        for f in [Field::DstPort, Field::SrcIp] {
            assert_eq!(a.field_counts(0..n, f), whole.field_counts(0..n, f));
        }
        assert_eq!(a.totals(0..n), whole.totals(0..n));
    }

    #[test]
    fn distinct_cap_counts_overflow() {
        let mut t = Timeline::fixed(1000 * S);
        for p in 0..5000u16 {
            t.add(&pkt(1, p));
        }
        t.flush();
        let (counts, other) = t.field_counts(0..1, Field::DstPort);
        assert_eq!(counts.len(), bucket::DISTINCT_CAP as usize);
        assert_eq!(other, 5000 - u64::from(bucket::DISTINCT_CAP));
    }
}
