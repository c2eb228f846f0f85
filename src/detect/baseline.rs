//! The causal baseline: exponentially decayed per-(field, value) counts of earlier quiet
//! buckets, plus the running mean and spread of every per-bucket feature.
//!
//! Decay is lazy: stored values are divided by a global multiplier that shrinks with time, so
//! decaying costs nothing per entry; the map is renormalised (and entries that decayed to
//! nothing are pruned) only when the multiplier gets small. A fixed baseline (the analyst's
//! `--baseline A..B`) is the same structure filled once and never decayed or updated.

use crate::timeline::{Bucket, FieldKey, NFIELDS};
use rustc_hash::FxHashMap;

/// Entries whose decayed count falls below this are pruned at renormalisation.
const PRUNE_BELOW: f64 = 1e-3;
/// Renormalise when the global multiplier falls below this.
const RENORM_BELOW: f64 = 1e-60;
/// Largest number of (field, value) entries kept; the smallest are pruned beyond it, so a
/// spoofed flood in the baseline period cannot grow the map without bound.
const MAX_ENTRIES: usize = 400_000;
/// Longest change journal kept; past it the journal restarts as a new generation (whoever
/// follows it then looks everything up again, once).
const JOURNAL_MAX: usize = 1 << 18;

/// Running mean and variance with exponential forgetting (plain averaging while young).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Ema {
    /// Observations so far.
    pub n: u64,
    /// Mean.
    pub mean: f64,
    /// Variance.
    pub var: f64,
}

impl Ema {
    /// Adds an observation with forgetting rate `alpha` (used once `1/n < alpha`).
    pub fn add(&mut self, x: f64, alpha: f64) {
        self.n += 1;
        #[allow(clippy::cast_precision_loss)]
        let a = (1.0 / self.n as f64).max(alpha);
        let d = x - self.mean;
        self.mean += a * d;
        self.var = (1.0 - a) * (self.var + a * d * d);
    }

    /// Standard deviation.
    #[must_use]
    pub fn std(&self) -> f64 {
        self.var.max(0.0).sqrt()
    }

    /// Standardised distance of `x` above the mean, with a floor on the spread.
    #[must_use]
    pub fn z(&self, x: f64, floor: f64) -> f64 {
        (x - self.mean) / self.std().max(floor)
    }
}

/// Decayed counts of earlier traffic.
#[derive(Clone, Debug)]
pub struct Baseline {
    counts: FxHashMap<FieldKey, f64>,
    field_totals: [f64; NFIELDS],
    packets: f64,
    seconds: f64,
    /// Decayed quiet wall-clock time, empty stretches between buckets included (the
    /// timeline keeps only buckets that saw packets, so `seconds` alone overstates the rate
    /// of bursty traffic many times over).
    elapsed: f64,
    scale: f64,
    /// Sum of squared stored (undecayed) counts, for the cosine drift.
    sq: f64,
    last_ns: Option<i64>,
    half_life_ns: i64,
    frozen: bool,
    /// Buckets absorbed.
    pub buckets: u64,
    /// Per-field share of packets carrying a value unseen in the baseline (per bucket).
    pub novel_rate: [Ema; NFIELDS],
    /// Per field, the values whose share reached [`HEAVY_SHARE`] (a small list): answers
    /// [`Baseline::values_over`] without scanning every stored value of every field for every
    /// bucket, which made detection quadratic on large captures.
    heavy: Vec<Vec<FieldKey>>,
    /// Keys whose stored count changed since the current generation began, each with its
    /// stored count after the change, in order: lets the recent window keep its copies of
    /// stored counts current from the few keys each bucket touches instead of looking up
    /// every key of the window for every bucket (and, with the counts, without looking up
    /// even those: every key of each learnt bucket was a lookup into this large map).
    journal: Vec<(FieldKey, f64)>,
    /// The keys of the bucket being absorbed with their new stored counts (kept to reuse
    /// its allocation): the journal's next entries, and what [`Baseline::track_heavy`]
    /// checks without looking each key up again.
    touched: Vec<(FieldKey, f64)>,
    /// Bumped whenever every stored count may have changed (renormalisation) or the journal
    /// restarted.
    generation: u64,
}

/// Share at which a value is remembered as a candidate for [`Baseline::values_over`]; queries
/// must ask for at least this share.
pub const HEAVY_SHARE: f64 = 0.05;

impl Baseline {
    /// An empty decaying baseline.
    #[must_use]
    pub fn decaying(half_life_ns: i64) -> Self {
        Self {
            counts: FxHashMap::default(),
            field_totals: [0.0; NFIELDS],
            packets: 0.0,
            seconds: 0.0,
            elapsed: 0.0,
            scale: 1.0,
            sq: 0.0,
            last_ns: None,
            half_life_ns: half_life_ns.max(1),
            frozen: false,
            buckets: 0,
            novel_rate: [Ema::default(); NFIELDS],
            heavy: vec![Vec::new(); NFIELDS],
            journal: Vec::new(),
            touched: Vec::new(),
            generation: 0,
        }
    }

    /// A fixed baseline from a set of buckets (never decayed, never updated afterwards).
    #[must_use]
    pub fn fixed<'a>(buckets: impl IntoIterator<Item = &'a Bucket>, width_ns: i64) -> Self {
        let mut b = Self::decaying(i64::MAX);
        let mut span: Option<(i64, i64)> = None;
        for k in buckets {
            b.absorb_raw(k, width_ns);
            let (s, e) = (
                k.start(width_ns).0,
                k.start(width_ns).0.saturating_add(width_ns),
            );
            span = Some(span.map_or((s, e), |(a, z)| (a.min(s), z.max(e))));
        }
        #[allow(clippy::cast_precision_loss)]
        if let Some((a, z)) = span {
            b.elapsed = (z - a) as f64 / 1e9;
        }
        b.frozen = true;
        b
    }

    /// True for an analyst-chosen interval.
    #[must_use]
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// Decays everything to time `now_ns` (no-op when frozen or going backwards).
    pub fn decay_to(&mut self, now_ns: i64) {
        if self.frozen {
            return;
        }
        if let Some(last) = self.last_ns {
            if now_ns > last {
                #[allow(clippy::cast_precision_loss)]
                let f = 0.5f64.powf((now_ns - last) as f64 / self.half_life_ns as f64);
                self.scale *= f;
                for t in &mut self.field_totals {
                    *t *= f;
                }
                self.packets *= f;
                self.seconds *= f;
                self.elapsed *= f;
                if self.scale < RENORM_BELOW {
                    self.renormalise();
                }
            } else {
                return;
            }
        }
        self.last_ns = Some(now_ns);
    }

    /// Adds a quiet bucket (decays first). No-op when frozen.
    pub fn absorb(&mut self, b: &Bucket, width_ns: i64) {
        if self.frozen {
            return;
        }
        self.decay_to(b.start(width_ns).0);
        self.absorb_raw(b, width_ns);
    }

    /// Adds a bucket with a weight in (0, 1] (a closed wave teaches the baseline a little, so
    /// a benign pattern that recurs becomes familiar while an attack's return still stands
    /// out). No-op when frozen.
    pub fn absorb_weighted(&mut self, b: &Bucket, width_ns: i64, weight: f64) {
        if self.frozen || weight <= 0.0 {
            return;
        }
        self.decay_to(b.start(width_ns).0);
        self.absorb_scaled(b, width_ns, weight.min(1.0));
    }

    /// Seeds the baseline with a summary of earlier traffic (the retention history) spanning
    /// `span_ns` and ending at `end_ns`, scaled to `mass_ns` worth of it. The history holds
    /// every folded bucket, attack waves included (which a baseline fed bucket by bucket
    /// would have left out), so it is kept light: it makes old values familiar and gives the
    /// rate a reference, and the kept buckets outweigh it within seconds. No-op when frozen.
    pub fn absorb_prior(&mut self, b: &Bucket, end_ns: i64, span_ns: i64, mass_ns: i64) {
        if self.frozen || b.packets == 0 || span_ns <= 0 {
            return;
        }
        #[allow(clippy::cast_precision_loss)]
        let weight = (mass_ns.max(0) as f64 / span_ns as f64).min(1.0);
        self.decay_to(end_ns);
        self.absorb_scaled(b, span_ns, weight);
    }

    /// Adds a quiet bucket whose packets count with `weight` in (0, 1] while its time counts
    /// in full: the learning-rate limit of [`crate::detect::detect`], so a rate jump under the
    /// enter level teaches the baseline no faster than its own rate allows. No-op when frozen.
    pub fn absorb_limited(&mut self, b: &Bucket, width_ns: i64, weight: f64) {
        if self.frozen || weight <= 0.0 {
            return;
        }
        self.decay_to(b.start(width_ns).0);
        let w = weight.min(1.0);
        self.absorb_scaled(b, width_ns, w);
        #[allow(clippy::cast_precision_loss)]
        {
            let t = width_ns as f64 / 1e9 * (1.0 - w);
            self.seconds += t;
            self.elapsed += t;
        }
    }

    fn absorb_raw(&mut self, b: &Bucket, width_ns: i64) {
        self.absorb_scaled(b, width_ns, 1.0);
    }

    fn absorb_scaled(&mut self, b: &Bucket, width_ns: i64, weight: f64) {
        // `c` below already carries the weight: stored counts are undecayed, hence 1/scale.
        let inv = 1.0 / self.scale;
        let mut touched = std::mem::take(&mut self.touched);
        touched.clear();
        for (k, c) in &b.counts {
            #[allow(clippy::cast_precision_loss)]
            let c = *c as f64 * weight;
            let e = self.counts.entry(*k).or_default();
            let d = c * inv;
            self.sq += d * (2.0 * *e + d);
            *e += d;
            touched.push((*k, *e));
            self.field_totals[k.field() as usize] += c;
        }
        for (f, o) in b.other.iter().enumerate() {
            #[allow(clippy::cast_precision_loss)]
            let o = *o as f64 * weight;
            self.field_totals[f] += o;
        }
        #[allow(clippy::cast_precision_loss)]
        {
            self.packets += b.packets as f64 * weight;
            self.seconds += width_ns as f64 / 1e9 * weight;
            self.elapsed += width_ns as f64 / 1e9 * weight;
        }
        self.buckets += 1;
        if self.journal.len() + touched.len() > JOURNAL_MAX {
            self.restart_journal();
        } else {
            self.journal.extend_from_slice(&touched);
        }
        // Renormalising rescales (and may prune) every stored count: the touched keys' counts
        // are looked up again then.
        let renormalised = self.counts.len() > MAX_ENTRIES;
        if renormalised {
            self.renormalise();
        }
        self.track_heavy(&touched, renormalised);
        self.touched = touched;
    }

    /// Updates the per-field candidate lists after absorbing a bucket whose keys and new
    /// stored counts are `touched` (stale when `look_up`).
    fn track_heavy(&mut self, touched: &[(FieldKey, f64)], look_up: bool) {
        for (k, stored) in touched {
            let f = k.field() as usize;
            let t = self.field_total(f);
            let count = if look_up {
                self.count(*k)
            } else {
                stored * self.scale
            };
            if t > 0.0
                && count / t >= HEAVY_SHARE
                && let Some(list) = self.heavy.get_mut(f)
                && !list.contains(k)
            {
                list.push(*k);
            }
        }
        for f in 0..NFIELDS {
            let t = self.field_total(f);
            let counts = &self.counts;
            let scale = self.scale;
            if let Some(list) = self.heavy.get_mut(f) {
                list.retain(|k| {
                    t > 0.0 && counts.get(k).map_or(0.0, |c| c * scale) / t >= HEAVY_SHARE / 4.0
                });
            }
        }
    }

    fn renormalise(&mut self) {
        let s = self.scale;
        let mut floor = PRUNE_BELOW;
        if self.counts.len() > MAX_ENTRIES {
            // Keep the largest half of the cap: find the value at that rank.
            let mut v: Vec<f64> = self.counts.values().map(|c| c * s).collect();
            let keep = MAX_ENTRIES / 2;
            v.select_nth_unstable_by(keep, |a, b| b.total_cmp(a));
            floor = floor.max(v[keep]);
        }
        self.counts.retain(|_, c| {
            *c *= s;
            *c >= floor
        });
        self.sq = self.counts.values().map(|c| c * c).sum();
        self.scale = 1.0;
        self.restart_journal();
    }

    fn restart_journal(&mut self) {
        self.journal.clear();
        self.generation = self.generation.wrapping_add(1);
    }

    /// The stored (undecayed) count of a key: [`Baseline::count`] is this times
    /// [`Baseline::scale`].
    #[must_use]
    pub fn stored(&self, k: FieldKey) -> f64 {
        self.counts.get(&k).copied().unwrap_or(0.0)
    }

    /// The global decay multiplier of stored counts.
    #[must_use]
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The journal's generation and the keys whose stored count changed since it began, in
    /// order, each with its stored count after that change. A reader that remembers
    /// (generation, length) can later update its copies of stored counts from the entries
    /// past that length (a key's last entry holds its current count), or must look
    /// everything up again when the generation moved on.
    #[must_use]
    pub fn changes(&self) -> (u64, &[(FieldKey, f64)]) {
        (self.generation, &self.journal)
    }

    /// Decayed count of a (field, value).
    #[must_use]
    pub fn count(&self, k: FieldKey) -> f64 {
        self.counts.get(&k).map_or(0.0, |c| c * self.scale)
    }

    /// Decayed number of packets carrying a field.
    #[must_use]
    pub fn field_total(&self, field: usize) -> f64 {
        self.field_totals.get(field).copied().unwrap_or(0.0)
    }

    /// Smoothed share of a value among the field's packets: half a count is added so that a
    /// value never seen has a small, finite share (the G-test needs one).
    #[must_use]
    pub fn share(&self, k: FieldKey) -> f64 {
        Self::share_of(self.count(k), self.field_total(k.field() as usize))
    }

    /// [`Baseline::share`] from a decayed count and its field's total.
    #[must_use]
    pub fn share_of(count: f64, field_total: f64) -> f64 {
        (count + 0.5) / (field_total + 1.0)
    }

    /// True when the value was (almost) never seen: less than one decayed packet.
    #[must_use]
    pub fn is_novel(&self, k: FieldKey) -> bool {
        self.count(k) < 1.0
    }

    /// Euclidean norm of the decayed counts.
    #[must_use]
    pub fn norm(&self) -> f64 {
        self.sq.max(0.0).sqrt() * self.scale
    }

    /// Decayed packets.
    #[must_use]
    pub fn packets(&self) -> f64 {
        self.packets
    }

    /// Counts `ns` of quiet time without packets (the empty stretch before an absorbed
    /// bucket) towards [`Baseline::time_rate`]. No-op when frozen.
    pub fn add_quiet_gap(&mut self, ns: i64) {
        if self.frozen || ns <= 0 {
            return;
        }
        #[allow(clippy::cast_precision_loss)]
        {
            self.elapsed += ns as f64 / 1e9;
        }
    }

    /// Packets per second of wall-clock quiet time, empty stretches included (0 when empty):
    /// what the baseline predicts for a span of time, e.g. a wave's excess.
    #[must_use]
    pub fn time_rate(&self) -> f64 {
        if self.elapsed > 0.0 {
            self.packets / self.elapsed
        } else {
            0.0
        }
    }

    /// Packets per second of the buckets that saw traffic (0 when empty): the expectation for
    /// one non-empty bucket.
    #[must_use]
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.packets / self.seconds
        } else {
            0.0
        }
    }

    /// Fraction of packets that carried the field.
    #[must_use]
    pub fn presence(&self, field: usize) -> f64 {
        if self.packets > 0.0 {
            (self.field_total(field) / self.packets).min(1.0)
        } else {
            0.0
        }
    }

    /// Values of one field with a share of at least `min_share` (for "vanished").
    #[must_use]
    pub fn values_over(&self, field: usize, min_share: f64) -> Vec<(FieldKey, f64)> {
        debug_assert!(
            min_share >= HEAVY_SHARE,
            "values_over answers shares of at least HEAVY_SHARE"
        );
        let t = self.field_total(field);
        if t <= 0.0 {
            return Vec::new();
        }
        let Some(list) = self.heavy.get(field) else {
            return Vec::new();
        };
        let mut out: Vec<(FieldKey, f64)> = list
            .iter()
            .map(|k| (*k, self.count(*k) / t))
            .filter(|(_, s)| *s >= min_share)
            .collect();
        // Stable order for reproducible output.
        out.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    /// Iterates over every (key, decayed count) (for cosine drift).
    pub fn iter(&self) -> impl Iterator<Item = (FieldKey, f64)> + '_ {
        self.counts.iter().map(|(k, c)| (*k, c * self.scale))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Field, ValueRef};
    use crate::timeline::Interner;

    fn bucket(index: i64, i: &mut Interner, port: u64, n: u64) -> Bucket {
        let mut b = Bucket::new(index);
        for _ in 0..n {
            b.count(i.key(Field::DstPort, ValueRef::U(port)));
            b.packets += 1;
        }
        b
    }

    #[test]
    fn decays_by_half_life_and_shares_are_smoothed() {
        let mut i = Interner::default();
        let mut b = Baseline::decaying(10_000_000_000);
        b.absorb(&bucket(0, &mut i, 80, 100), 1_000_000_000);
        b.absorb(&bucket(10, &mut i, 443, 100), 1_000_000_000);
        let k80 = i.key(Field::DstPort, ValueRef::U(80));
        let k443 = i.key(Field::DstPort, ValueRef::U(443));
        assert!((b.count(k80) - 50.0).abs() < 1e-9);
        assert!((b.count(k443) - 100.0).abs() < 1e-9);
        let k53 = i.key(Field::DstPort, ValueRef::U(53));
        assert!(b.is_novel(k53) && !b.is_novel(k80));
        assert!(b.share(k53) > 0.0 && b.share(k53) < 0.01);
    }

    #[test]
    fn renormalisation_keeps_values_and_prunes_dust() {
        let mut i = Interner::default();
        let mut b = Baseline::decaying(1_000_000_000);
        b.absorb(&bucket(0, &mut i, 80, 100), 1_000_000_000);
        for t in 1..400 {
            b.absorb(&bucket(t, &mut i, 443, 10), 1_000_000_000);
        }
        let k80 = i.key(Field::DstPort, ValueRef::U(80));
        let k443 = i.key(Field::DstPort, ValueRef::U(443));
        assert_eq!(b.count(k80), 0.0);
        assert!((b.count(k443) - 20.0).abs() < 0.01, "{}", b.count(k443));
    }

    #[test]
    fn time_rate_counts_empty_stretches_and_limited_learning_keeps_time() {
        let mut i = Interner::default();
        let s = 1_000_000_000;
        let mut b = Baseline::decaying(i64::MAX / 4);
        // Ten 100-packet buckets of 10 ms, each after 990 ms without packets: 100 packets/s
        // of wall-clock time, though each bucket alone runs at 10 000/s.
        let w = s / 100;
        for t in 0..10 {
            b.add_quiet_gap(if t == 0 { 0 } else { s - w });
            b.absorb(&bucket(t * 100, &mut i, 80, 100), w);
        }
        assert!((b.rate() - 10_000.0).abs() < 1e-6, "{}", b.rate());
        let expect = 1000.0 / (9.0 * 0.99 + 0.01 * 10.0);
        assert!((b.time_rate() - expect).abs() < 1e-6, "{}", b.time_rate());
        // A bucket learnt at a tenth of its weight adds a tenth of its packets but all of its
        // time, so a burst cannot lift the rate to its own.
        let before = b.packets();
        b.absorb_limited(&bucket(10, &mut i, 443, 1000), s, 0.1);
        assert!((b.packets() - before - 100.0).abs() < 1e-3);
        let k443 = i.key(Field::DstPort, ValueRef::U(443));
        assert!((b.count(k443) - 100.0).abs() < 1e-3);
        assert!(b.time_rate() < expect * 1.2, "{}", b.time_rate());
    }

    #[test]
    fn fixed_baseline_ignores_updates() {
        let mut i = Interner::default();
        let b0 = bucket(0, &mut i, 80, 10);
        let mut b = Baseline::fixed([&b0], 1_000_000_000);
        b.absorb(&bucket(5, &mut i, 443, 10), 1_000_000_000);
        assert!(b.is_frozen());
        assert!(b.is_novel(i.key(Field::DstPort, ValueRef::U(443))));
        assert!((b.rate() - 10.0).abs() < 1e-9);
    }
}
