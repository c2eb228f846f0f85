//! Dense counters for small values of the newest bucket.
//!
//! Most fields of most packets carry a small integer (flags, protocol, TTL, ICMP type, DNS
//! opcode, lengths under 256...). Counting those in a flat array and folding the array into the
//! bucket's hash map once, when the stream moves on to another bucket, takes about a third of
//! the per-packet cost of the timeline off the hot path. Only values seen are folded (a list of
//! touched slots), so moving between buckets costs what was counted, not the array size.

use super::bucket::{Bucket, NFIELDS};
use super::key::FieldKey;
use crate::decode::Field;

/// Values below this are counted densely.
pub const DENSE_LIMIT: u64 = 256;

/// Pending small-value counts of one bucket.
#[derive(Debug, Clone)]
pub struct Dense {
    counts: Vec<u32>,
    touched: Vec<u16>,
    /// Index (not position) of the bucket the pending counts belong to.
    pub bucket: Option<i64>,
}

impl Default for Dense {
    fn default() -> Self {
        Self {
            counts: vec![0; NFIELDS * 256],
            touched: Vec::new(),
            bucket: None,
        }
    }
}

impl Dense {
    /// Counts `value` (< [`DENSE_LIMIT`]) of `field`.
    #[inline]
    pub fn bump(&mut self, field: Field, value: u64) {
        let slot = (field as usize) * 256 + usize::try_from(value).unwrap_or(0);
        if let Some(c) = self.counts.get_mut(slot) {
            if *c == 0 {
                self.touched.push(u16::try_from(slot).unwrap_or(0));
            }
            *c += 1;
        }
    }

    /// True when nothing is pending.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.touched.is_empty()
    }

    /// Moves the pending counts into `bucket` (which must be the one they belong to).
    pub fn flush_into(&mut self, bucket: &mut Bucket) {
        // In first-seen order: deterministic for a given packet sequence.
        for slot in self.touched.drain(..) {
            let s = usize::from(slot);
            let n = std::mem::take(&mut self.counts[s]);
            let field = Field::ALL.get(s / 256).copied().unwrap_or(Field::Timestamp);
            bucket.count_n(FieldKey::small(field, (s % 256) as u64), u64::from(n));
        }
    }
}
