//! Retention for the timeline: buckets older than the cutoff fold into one bounded history
//! summary (a bucket whose distinct values are capped like any other), and the value interner
//! is compacted when it holds far more values than the kept buckets still reference.

use super::{Bucket, FieldKey, Interner, Timeline};
use rustc_hash::FxHashMap;

/// Least interned values before compaction is considered at all.
const COMPACT_FLOOR: usize = 1 << 16;

/// Everything folded out of the timeline: one merged bucket and where it came from.
#[derive(Clone, Debug)]
pub struct History {
    /// Sum of the folded buckets (index unused; distinct values capped per field).
    pub bucket: Bucket,
    /// Buckets folded.
    pub buckets: u64,
    /// Start of the oldest folded bucket (ns).
    pub from_ns: Option<i64>,
    /// End of the newest folded bucket (ns).
    pub to_ns: Option<i64>,
}

impl Default for History {
    fn default() -> Self {
        Self {
            bucket: Bucket::new(0),
            buckets: 0,
            from_ns: None,
            to_ns: None,
        }
    }
}

impl History {
    /// Packets folded.
    #[must_use]
    pub fn packets(&self) -> u64 {
        self.bucket.packets
    }

    /// Time covered by the folded buckets (ns, 0 when empty).
    #[must_use]
    pub fn span_ns(&self) -> i64 {
        match (self.from_ns, self.to_ns) {
            (Some(a), Some(b)) => b.saturating_sub(a).max(0),
            _ => 0,
        }
    }

    fn absorb(&mut self, b: &Bucket, width: i64) {
        let start = b.start(width).0;
        let end = start.saturating_add(width);
        self.from_ns = Some(self.from_ns.map_or(start, |x| x.min(start)));
        self.to_ns = Some(self.to_ns.map_or(end, |x| x.max(end)));
        self.bucket.merge(b);
        self.buckets += 1;
    }
}

impl Timeline {
    /// What was folded out by [`Timeline::fold_before`].
    #[must_use]
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Counts of one field in the history summary, most frequent first, plus untracked
    /// packets (like [`Timeline::field_counts`] over the folded part).
    #[must_use]
    pub fn history_counts(
        &self,
        field: crate::decode::Field,
    ) -> (Vec<(crate::decode::Value, u64)>, u64) {
        let mut out: Vec<(FieldKey, u64)> = self
            .history
            .bucket
            .counts
            .iter()
            .filter(|(k, _)| k.field() == field)
            .map(|(k, c)| (*k, *c))
            .collect();
        out.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        (
            out.into_iter()
                .map(|(k, c)| (self.interner.value(k), c))
                .collect(),
            self.history.bucket.other[field as usize],
        )
    }

    /// Folds every bucket that ends at or before `cutoff_ns` into the history summary and
    /// drops it. Returns the number of buckets folded. Compacts the interner when due.
    pub fn fold_before(&mut self, cutoff_ns: i64) -> usize {
        self.flush();
        let width = self.width;
        let n = self
            .buckets
            .partition_point(|b| b.index.saturating_add(1).saturating_mul(width) <= cutoff_ns);
        if n == 0 {
            return 0;
        }
        for b in self.buckets.drain(..n) {
            self.history.absorb(&b, width);
        }
        if self.interner.len() >= self.compact_at {
            self.compact();
        }
        n
    }

    /// Re-keys every interned value still referenced (kept buckets and history) into a fresh
    /// interner, in key order so the result is the same on every run. The old values go.
    pub fn compact(&mut self) {
        self.flush();
        let mut used: Vec<FieldKey> = self
            .buckets
            .iter()
            .chain(std::iter::once(&self.history.bucket))
            .flat_map(|b| b.counts.keys().copied())
            .filter(|k| k.is_interned())
            .collect();
        used.sort_unstable();
        used.dedup();
        let mut fresh = Interner::default();
        let map: FxHashMap<FieldKey, FieldKey> = used
            .iter()
            .map(|k| (*k, fresh.key(k.field(), self.interner.value(*k).as_ref())))
            .collect();
        let remap = |b: &mut Bucket| {
            if b.counts.keys().any(|k| k.is_interned()) {
                let old = std::mem::take(&mut b.counts);
                b.counts = old
                    .into_iter()
                    .map(|(k, c)| (map.get(&k).copied().unwrap_or(k), c))
                    .collect();
            }
        };
        for b in &mut self.buckets {
            remap(b);
        }
        remap(&mut self.history.bucket);
        self.interner = fresh;
        self.compact_at = (2 * self.interner.len()).max(COMPACT_FLOOR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Field, Packet, Value};
    use crate::text::Untrusted;
    use crate::time::Timestamp;

    const S: i64 = 1_000_000_000;

    fn dns(ts_s: i64, name: &str) -> Packet {
        Packet {
            ts: Timestamp(ts_s * S),
            frame_len: 100,
            dst_port: Some(53),
            dns: Some(Box::new(crate::decode::field::Dns {
                qname: Some(Untrusted::new(name.as_bytes())),
                ..Default::default()
            })),
            ..Packet::default()
        }
    }

    #[test]
    fn folding_keeps_every_packet_and_byte() {
        let mut t = Timeline::fixed(S);
        for i in 0..1000 {
            t.add(&dns(i / 10, &format!("n{}.example", i % 37)));
            if i % 50 == 49 {
                t.fold_before((i / 10 - 20) * S);
            }
        }
        t.flush();
        let kept = t.totals(0..t.buckets().len());
        let h = t.history();
        assert!(h.buckets > 50, "{}", h.buckets);
        assert_eq!(kept.0 + h.packets(), 1000);
        assert_eq!(kept.1 + h.bucket.bytes, 100_000);
        assert!(t.buckets().len() <= 26, "{}", t.buckets().len());
        assert_eq!(h.bucket.field_total(Field::DstPort), h.packets());
    }

    #[test]
    fn compaction_drops_unreferenced_values_and_keeps_lookups() {
        let mut t = Timeline::fixed(S);
        // Every second carries new names: without compaction the interner grows forever.
        for s in 0..400 {
            for j in 0..400 {
                t.add(&dns(s, &format!("h{s}-{j}.example")));
            }
            t.fold_before((s - 5) * S);
        }
        t.flush();
        // The history bucket keeps at most DISTINCT_CAP names; kept buckets six seconds' worth.
        let cap = super::super::bucket::DISTINCT_CAP as usize;
        assert!(t.interner().len() <= 2 * (cap + 6 * 400) + COMPACT_FLOOR);
        assert!(t.interner().len() < 160_000, "{}", t.interner().len());
        let name = Value::Text(Untrusted::new(b"h399-7.example"));
        let k = t.interner().lookup(Field::DnsQname, &name).unwrap();
        let last = t.buckets().len() - 1;
        let (counts, _) = t.field_counts(last..last + 1, Field::DnsQname);
        assert!(counts.contains(&(name.clone(), 1)));
        assert_eq!(t.interner().value(k), name);
        // A folded name that the history kept still decodes to itself.
        let (hist, _) = t.history_counts(Field::DnsQname);
        assert!(hist.iter().all(|(v, _)| matches!(v, Value::Text(_))));
        assert!(
            hist.iter()
                .any(|(v, _)| *v == Value::Text(Untrusted::new(b"h0-0.example")))
        );
    }
}
