//! One time bucket: packet and byte counts plus per-field value counts.
//!
//! Buckets are plain sums, so two adjacent buckets merge exactly (coarsening) and any window of
//! buckets is the sum of its members.

use super::key::FieldKey;
use crate::decode::Field;
use crate::time::Timestamp;
use rustc_hash::FxHashMap;

/// Number of schema fields (array sizes below).
pub const NFIELDS: usize = Field::ALL.len();

/// Default cap on distinct values tracked per field per bucket. Beyond it new values are only
/// counted in [`Bucket::other`]: a spoofed flood must not grow one bucket without bound, and
/// "spread over more than 4096 values" is all a detector needs to know.
pub const DISTINCT_CAP: u32 = 4096;

/// Counts for one interval `[start, start + width)`.
#[derive(Clone, Debug)]
pub struct Bucket {
    /// Bucket number: `start = index * width`.
    pub index: i64,
    /// Packets in the bucket.
    pub packets: u64,
    /// Bytes on the wire (original frame lengths).
    pub bytes: u64,
    /// Packets per (field, value).
    pub counts: FxHashMap<FieldKey, u64>,
    /// Distinct values tracked per field (index = `Field as usize`).
    pub distinct: [u32; NFIELDS],
    /// Packets whose value was not tracked because the field hit its distinct cap.
    pub other: [u64; NFIELDS],
}

impl Bucket {
    /// An empty bucket.
    #[must_use]
    pub fn new(index: i64) -> Self {
        Self::with_capacity(index, 0)
    }

    /// An empty bucket sized for `n` distinct keys (the previous bucket's count is a good
    /// guess, and saves rehashing the map as it grows packet by packet).
    #[must_use]
    pub fn with_capacity(index: i64, n: usize) -> Self {
        Self {
            index,
            packets: 0,
            bytes: 0,
            counts: FxHashMap::with_capacity_and_hasher(n, rustc_hash::FxBuildHasher),
            distinct: [0; NFIELDS],
            other: [0; NFIELDS],
        }
    }

    /// Start time for a given width.
    #[must_use]
    pub fn start(&self, width_ns: i64) -> Timestamp {
        Timestamp(self.index.saturating_mul(width_ns))
    }

    /// Counts one (field, value) occurrence.
    #[inline]
    pub fn count(&mut self, key: FieldKey) {
        self.count_n(key, 1);
    }

    /// Counts `n` occurrences of a (field, value).
    #[inline]
    pub fn count_n(&mut self, key: FieldKey, n: u64) {
        let f = key.field() as usize;
        // One probe for hit and miss alike (a new key per bucket is common: every bucket
        // starts empty).
        match self.counts.entry(key) {
            std::collections::hash_map::Entry::Occupied(mut e) => *e.get_mut() += n,
            std::collections::hash_map::Entry::Vacant(e) if self.distinct[f] < DISTINCT_CAP => {
                self.distinct[f] += 1;
                e.insert(n);
            }
            std::collections::hash_map::Entry::Vacant(_) => self.other[f] += n,
        }
    }

    /// Adds another bucket's counts into this one (exact; caps still apply to tracking).
    pub fn merge(&mut self, other: &Bucket) {
        self.merge_with(other, |k| k);
    }

    /// Like [`Bucket::merge`], translating the other bucket's keys first (another interner).
    pub fn merge_with(&mut self, other: &Bucket, mut key: impl FnMut(FieldKey) -> FieldKey) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        for (f, o) in other.other.iter().enumerate() {
            self.other[f] += o;
        }
        // FxHash has no per-process seed, so this iteration order (and therefore which values
        // get tracked once a field hits its cap) is the same on every run and machine.
        for (k, c) in &other.counts {
            let k = key(*k);
            let f = k.field() as usize;
            if let Some(mine) = self.counts.get_mut(&k) {
                *mine += c;
            } else if self.distinct[f] < DISTINCT_CAP {
                self.distinct[f] += 1;
                self.counts.insert(k, *c);
            } else {
                self.other[f] += c;
            }
        }
    }

    /// Packets that carried the field at all in this bucket.
    #[must_use]
    pub fn field_total(&self, field: Field) -> u64 {
        let tracked: u64 = self
            .counts
            .iter()
            .filter(|(k, _)| k.field() == field)
            .map(|(_, c)| c)
            .sum();
        tracked + self.other[field as usize]
    }
}
