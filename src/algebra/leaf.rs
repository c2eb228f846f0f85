//! The leaf cache of the fast path: every distinct (field, filler) gets a dense [`LeafId`] and
//! its bound vector `role ⊙ filler` is computed once.
//!
//! By linearity a packet's vector is the sum of its leaves, and an accumulator of packets is
//! `Σ_leaf weight(leaf) · leaf`: [`LeafAccumulator`] keeps one weight per leaf (O(fields) per
//! packet instead of O(D)) and materialises the dense [`Accumulator`] only when asked.
//!
//! Memory is bounded: past `max_leaves` distinct leaves, a new value of a field maps to that
//! field's single *overflow* leaf (filler atom `u:18446744073709551615`, a value no encoded
//! field can hold). Up to the cap, the fast path equals the full encoder exactly.

use super::accumulator::Accumulator;
use super::encoder::{OwnedFillerKey, PacketEncoder};
use super::schema::{FieldEncoder, Filler, Schema};
use crate::decode::field::{Field, Packet, ValueRef};
use crate::timeline::FieldKey;
use rustc_hash::FxHashMap;

/// Default memory budget for cached leaf vectors (bytes).
pub const DEFAULT_LEAF_BUDGET: usize = 256 << 20;

/// Dense id of a distinct (field, filler).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeafId(pub u32);

const NONE: u32 = u32::MAX;

#[derive(Clone, Debug)]
struct Entry {
    field: Field,
    stripe: u32,
    key: OwnedFillerKey,
    /// Next entry with the same 64-bit key hash.
    next: u32,
}

/// The leaves of one packet, grouped by stripe (ascending), then in schema order.
#[derive(Clone, Debug, Default)]
pub struct LeafSet {
    /// `(stripe, leaf)` pairs.
    pub leaves: Vec<(u32, LeafId)>,
}

/// Interns leaves and caches their vectors (stripe dimension each).
#[derive(Clone, Debug)]
pub struct LeafTable {
    encoder: PacketEncoder,
    stripe_dim: usize,
    index: FxHashMap<u64, u32>,
    entries: Vec<Entry>,
    vectors: Vec<f32>,
    norms: Vec<f32>,
    overflow: Vec<u32>,
    max_leaves: usize,
    /// Raw value -> leaf, skipping quantisation (logarithms), filler hashing and the walk of
    /// the leaf's hash chain on repeats; bounded like the leaves. Keyed by the timeline's
    /// packed one-word key ([`FieldKey::inline`]): integers, IPv4 addresses and MACs. Keyed
    /// by integers alone, every address missed it (`find_hashed` was 2% of a report's CPU,
    /// in the residual stage).
    raw: FxHashMap<FieldKey, u32>,
    /// Scratch of the per-packet sort by stripe: start of each stripe, then the sorted leaves.
    sort_starts: Vec<usize>,
    sort_buf: Vec<(u32, LeafId)>,
}

impl LeafTable {
    /// A table for a schema, with the default memory budget.
    #[must_use]
    pub fn new(schema: Schema) -> Self {
        let d = (schema.layout.stripe_dim as usize).max(1);
        Self::with_capacity(schema, DEFAULT_LEAF_BUDGET / (4 * d))
    }

    /// A table that caches at most `max_leaves` distinct leaves (plus one overflow per field).
    #[must_use]
    pub fn with_capacity(schema: Schema, max_leaves: usize) -> Self {
        let stripe_dim = schema.layout.stripe_dim as usize;
        Self {
            encoder: PacketEncoder::uncached(schema),
            stripe_dim,
            index: FxHashMap::default(),
            entries: Vec::new(),
            vectors: Vec::new(),
            norms: Vec::new(),
            overflow: vec![NONE; Field::ALL.len()],
            max_leaves,
            raw: FxHashMap::default(),
            sort_starts: Vec::new(),
            sort_buf: Vec::new(),
        }
    }

    /// Makes room for `leaves` more leaves at once. A table known to fill (drafting's probe)
    /// then never grows by copying: grown leaf by leaf, its 32 MiB of vectors were copied
    /// into fresh memory at every doubling, a third or more of the probe's interning time
    /// (0.09-0.16 s -> 0.06-0.07 s on the bench capture).
    pub fn reserve(&mut self, leaves: usize) {
        self.vectors.reserve(leaves.saturating_mul(self.stripe_dim));
        self.norms.reserve(leaves);
        self.entries.reserve(leaves);
    }

    /// The schema.
    #[must_use]
    pub fn schema(&self) -> &Schema {
        self.encoder.schema()
    }

    /// Number of leaves.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no leaf exists yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The bound vector of a leaf (stripe dimension).
    #[must_use]
    pub fn vector(&self, id: LeafId) -> &[f32] {
        let i = id.0 as usize * self.stripe_dim;
        self.vectors.get(i..i + self.stripe_dim).unwrap_or(&[])
    }

    /// `‖leaf‖²`.
    #[must_use]
    pub fn norm2(&self, id: LeafId) -> f32 {
        self.norms.get(id.0 as usize).copied().unwrap_or(0.0)
    }

    /// The field of a leaf.
    #[must_use]
    pub fn field(&self, id: LeafId) -> Option<Field> {
        self.entries.get(id.0 as usize).map(|e| e.field)
    }

    /// The filler of a leaf.
    #[must_use]
    pub fn filler(&self, id: LeafId) -> Option<Filler<'_>> {
        self.entries.get(id.0 as usize).map(|e| e.key.as_filler())
    }

    /// The stripe of a leaf.
    #[must_use]
    pub fn stripe(&self, id: LeafId) -> usize {
        self.entries
            .get(id.0 as usize)
            .map_or(0, |e| e.stripe as usize)
    }

    /// The id of `(field, filler)` if it already has a leaf (overflow leaves are not found by
    /// value).
    #[must_use]
    pub fn find(&self, field: Field, filler: Filler<'_>) -> Option<LeafId> {
        self.find_hashed(filler.key_hash(field), field, filler)
    }

    fn find_hashed(&self, h: u64, field: Field, filler: Filler<'_>) -> Option<LeafId> {
        let mut cur = self.index.get(&h).copied().unwrap_or(NONE);
        while cur != NONE {
            let e = &self.entries[cur as usize];
            if e.field == field && e.key.as_filler() == filler {
                return Some(LeafId(cur));
            }
            cur = e.next;
        }
        None
    }

    /// The id of `(field, filler)`, creating the leaf if needed; `None` for a skipped field.
    pub fn intern(&mut self, field: Field, filler: Filler<'_>) -> Option<LeafId> {
        let h = filler.key_hash(field);
        if let Some(id) = self.find_hashed(h, field, filler) {
            return Some(id);
        }
        if self.entries.len() >= self.max_leaves {
            return self.overflow_leaf(field);
        }
        let id = self.push(field, filler)?;
        let head = self.index.insert(h, id).unwrap_or(NONE);
        self.entries[id as usize].next = head;
        Some(LeafId(id))
    }

    fn overflow_leaf(&mut self, field: Field) -> Option<LeafId> {
        let slot = *self.overflow.get(field as usize)?;
        if slot != NONE {
            return Some(LeafId(slot));
        }
        let id = self.push(field, Filler::U(u64::MAX))?;
        self.overflow[field as usize] = id;
        Some(LeafId(id))
    }

    fn push(&mut self, field: Field, filler: Filler<'_>) -> Option<u32> {
        let start = self.vectors.len();
        self.vectors.resize(start + self.stripe_dim, 0.0);
        let Some(stripe) = self
            .encoder
            .fill_leaf(field, filler, &mut self.vectors[start..])
        else {
            self.vectors.truncate(start);
            return None;
        };
        let id = u32::try_from(self.entries.len()).ok()?;
        self.norms
            .push(super::kernel::norm2(&self.vectors[start..]));
        self.entries.push(Entry {
            field,
            stripe: stripe as u32,
            key: OwnedFillerKey::of(filler),
            next: NONE,
        });
        Some(id)
    }

    /// The leaf of one visited `(field, value)` without changing the table: `Ok` when it has
    /// one already (the same id [`LeafTable::leaves_of`] would give), `Err` with its filler
    /// when it would have to be interned, `None` when the field has no leaf. Lets many threads
    /// tally packets against a shared table and intern only the few new values afterwards.
    #[must_use]
    pub fn lookup<'a>(
        &self,
        field: Field,
        value: ValueRef<'a>,
    ) -> Option<Result<LeafId, Filler<'a>>> {
        if matches!(self.encoder.schema().encoder(field), FieldEncoder::Skip) {
            return None;
        }
        if let Some(id) = FieldKey::inline(field, value).and_then(|k| self.raw.get(&k)) {
            return Some(Ok(LeafId(*id)));
        }
        let f = self.encoder.schema().filler(field, value)?;
        Some(self.find(field, f).ok_or(f))
    }

    /// Fills `set` with the leaves of a packet, grouped by stripe.
    pub fn leaves_of(&mut self, p: &Packet, set: &mut LeafSet) {
        set.leaves.clear();
        p.visit(|field, value| {
            // A skipped field (the timestamp, DNS ids) has no leaf: without this its ever-new
            // values each cost a missed probe of the raw-value cache.
            if matches!(self.encoder.schema().encoder(field), FieldEncoder::Skip) {
                return;
            }
            let raw = FieldKey::inline(field, value);
            if let Some(id) = raw.and_then(|k| self.raw.get(&k)) {
                set.leaves
                    .push((self.entries[*id as usize].stripe, LeafId(*id)));
                return;
            }
            let Some(f) = self.encoder.schema().filler(field, value) else {
                return;
            };
            if let Some(id) = self.intern(field, f) {
                if let Some(k) = raw
                    && self.raw.len() < self.max_leaves.saturating_mul(4)
                {
                    self.raw.insert(k, id.0);
                }
                set.leaves.push((self.entries[id.0 as usize].stripe, id));
            }
        });
        self.sort_by_stripe(set);
    }

    /// Stable sort by stripe, which keeps schema order inside a stripe (deterministic sums):
    /// a counting sort over the few stripes, the same order as a stable comparison sort
    /// without its per-packet scratch allocation (a packet has a few dozen leaves).
    fn sort_by_stripe(&mut self, set: &mut LeafSet) {
        let stripes = self.encoder.schema().layout.stripes as usize;
        let starts = &mut self.sort_starts;
        starts.clear();
        starts.resize(stripes + 1, 0);
        for (s, _) in &set.leaves {
            match starts.get_mut(*s as usize + 1) {
                Some(c) => *c += 1,
                // Not a stripe of this layout (cannot happen): fall back to a plain sort.
                None => return set.leaves.sort_by_key(|(s, _)| *s),
            }
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        self.sort_buf.clear();
        self.sort_buf.resize(set.leaves.len(), (0, LeafId(0)));
        for &(s, id) in &set.leaves {
            let at = &mut starts[s as usize];
            self.sort_buf[*at] = (s, id);
            *at += 1;
        }
        std::mem::swap(&mut set.leaves, &mut self.sort_buf);
    }

    /// The flat vector of a leaf set (the full-encoder result, from cached leaves).
    #[must_use]
    pub fn materialise(&self, set: &LeafSet) -> Vec<f32> {
        let layout = self.encoder.schema().layout;
        let mut out = vec![0.0; layout.dim()];
        for (s, id) in &set.leaves {
            let block = &mut out[layout.range(*s as usize)];
            for (o, x) in block.iter_mut().zip(self.vector(*id)) {
                *o += x;
            }
        }
        out
    }
}

/// An accumulator that keeps one weight per leaf; equal to the dense [`Accumulator`] of the
/// same packets once materialised (linearity). Ids refer to one [`LeafTable`].
///
/// Decay is lazy: stored weights are in units of a running `scale`, so decaying costs O(1);
/// the weights are folded back when the scale gets tiny.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LeafAccumulator {
    weights: Vec<f64>,
    scale: f64,
    count: u64,
    total: f64,
}

impl LeafAccumulator {
    /// Empty.
    #[must_use]
    pub fn new() -> Self {
        Self {
            weights: Vec::new(),
            scale: 1.0,
            count: 0,
            total: 0.0,
        }
    }

    /// Adds a packet's leaves with weight `w`.
    pub fn add(&mut self, set: &LeafSet, w: f64) {
        let u = w / self.scale;
        for (_, id) in &set.leaves {
            let i = id.0 as usize;
            if i >= self.weights.len() {
                self.weights.resize(i + 1, 0.0);
            }
            self.weights[i] += u;
        }
        self.count += 1;
        self.total += u;
    }

    /// Adds `packets` packets at weight 1 whose leaves occurred `count` times each. On an
    /// accumulator that has not decayed, these are exactly the sums that adding each packet's
    /// leaf set with [`LeafAccumulator::add`] gives: whole counts are exact in `f64`, so the
    /// order of the additions does not matter.
    pub fn add_counts(&mut self, counts: impl IntoIterator<Item = (LeafId, u64)>, packets: u64) {
        let u = 1.0 / self.scale;
        for (id, c) in counts {
            let i = id.0 as usize;
            if i >= self.weights.len() {
                self.weights.resize(i + 1, 0.0);
            }
            #[allow(clippy::cast_precision_loss)]
            let c = c as f64;
            self.weights[i] += c * u;
        }
        self.count += packets;
        #[allow(clippy::cast_precision_loss)]
        let n = packets as f64;
        self.total += n * u;
    }

    /// Multiplies every weight by `factor`.
    pub fn decay(&mut self, factor: f64) {
        self.scale *= factor;
        if self.scale < 1e-200 {
            for w in &mut self.weights {
                *w *= self.scale;
            }
            self.total *= self.scale;
            self.scale = 1.0;
        }
    }

    /// The (decayed) weight of a leaf.
    #[must_use]
    pub fn weight(&self, id: LeafId) -> f64 {
        self.weights
            .get(id.0 as usize)
            .map_or(0.0, |w| w * self.scale)
    }

    /// Number of packets added.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Total (decayed) packet weight.
    #[must_use]
    pub fn total(&self) -> f64 {
        self.total * self.scale
    }

    /// The weight of one leaf as [`LeafAccumulator::iter`] gives it: `None` for the leaves it
    /// skips (stored weight zero).
    #[must_use]
    pub fn nonzero_weight(&self, id: LeafId) -> Option<f64> {
        let w = *self.weights.get(id.0 as usize)?;
        (w != 0.0).then_some(w * self.scale)
    }

    /// One past the highest leaf id that may have a weight.
    #[must_use]
    pub fn leaf_bound(&self) -> usize {
        self.weights.len()
    }

    /// Leaves with non-zero weight, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (LeafId, f64)> + '_ {
        self.weights
            .iter()
            .enumerate()
            .filter(|(_, w)| **w != 0.0)
            .map(|(i, w)| (LeafId(i as u32), w * self.scale))
    }

    /// Adds another leaf accumulator over the same table.
    pub fn merge(&mut self, other: &LeafAccumulator) {
        for (id, w) in other.iter() {
            let i = id.0 as usize;
            if i >= self.weights.len() {
                self.weights.resize(i + 1, 0.0);
            }
            self.weights[i] += w / self.scale;
        }
        self.count += other.count;
        self.total += other.total() / self.scale;
    }

    /// The dense accumulator: `Σ weight(leaf) · leaf`, each leaf in its stripe.
    #[must_use]
    pub fn materialise(&self, table: &LeafTable) -> Accumulator {
        let layout = table.schema().layout;
        let mut sums = vec![0.0f64; layout.dim()];
        for (id, w) in self.iter() {
            let r = layout.range(table.stripe(id));
            super::kernel::axpy_f64(&mut sums[r], w, table.vector(id));
        }
        Accumulator::from_parts(sums, self.count, self.total())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::schema::Layout;

    fn pkt(port: u16, len: u32) -> Packet {
        Packet {
            dst_port: Some(port),
            ip_len: Some(len),
            proto: Some(6),
            ..Packet::default()
        }
    }

    /// Addresses and MACs repeat through the raw-value cache: a packet's leaves are the same
    /// whether its values were seen before or not, the full encoder agrees, and the cache
    /// holds the IPv4 addresses and MACs (not the IPv6 ones).
    #[test]
    fn cached_addresses_give_the_leaves_of_a_fresh_table() {
        let schema = Schema::packets(9, Layout::striped(4, 64));
        let mut warm = LeafTable::new(schema.clone());
        let mut e = PacketEncoder::new(schema.clone());
        let (mut a, mut b) = (LeafSet::default(), LeafSet::default());
        let p = |i: u32| Packet {
            src_ip: Some(std::net::Ipv4Addr::from(i % 7).into()),
            dst_ip: Some(std::net::Ipv6Addr::from(u128::from(i % 3)).into()),
            src_mac: Some([2, 0, 0, 0, 0, u8::try_from(i % 5).unwrap()]),
            src_port: Some(u16::try_from(i % 7).unwrap()),
            ..Packet::default()
        };
        for i in 0..60 {
            warm.leaves_of(&p(i), &mut a);
            let mut fresh = LeafTable::new(schema.clone());
            fresh.leaves_of(&p(i), &mut b);
            let vectors = |t: &LeafTable, s: &LeafSet| {
                s.leaves
                    .iter()
                    .map(|(_, id)| t.vector(*id).to_vec())
                    .collect::<Vec<_>>()
            };
            assert_eq!(vectors(&warm, &a), vectors(&fresh, &b));
            assert_eq!(warm.materialise(&a), e.encode(&p(i)));
        }
        // 7 IPv4 and 5 MAC addresses; IPv6 stays out of the cache.
        let of = |f: Field| warm.raw.keys().filter(|k| k.field() == f).count();
        assert_eq!(
            (of(Field::SrcIp), of(Field::SrcMac), of(Field::DstIp)),
            (7, 5, 0)
        );
    }

    #[test]
    fn materialised_leaves_equal_the_full_encoder() {
        let schema = Schema::packets(5, Layout::striped(4, 64));
        let mut t = LeafTable::new(schema.clone());
        let mut e = PacketEncoder::new(schema);
        let mut set = LeafSet::default();
        let mut la = LeafAccumulator::new();
        let mut dense = Accumulator::new(e.dim());
        for i in 0..50u16 {
            let p = pkt(80 + i % 3, 40 + u32::from(i) * 10);
            t.leaves_of(&p, &mut set);
            assert_eq!(t.materialise(&set), e.encode(&p));
            la.add(&set, 1.0);
            dense.add(&e.encode(&p));
        }
        assert_eq!(la.materialise(&t).sums(), dense.sums());
        assert_eq!(la.count(), 50);
    }

    #[test]
    fn leaves_come_grouped_by_stripe_in_schema_order() {
        let mut t = LeafTable::new(Schema::packets(5, Layout::striped(4, 64)));
        let mut set = LeafSet::default();
        let mut p = pkt(443, 1500);
        p.src_ip = Some("10.0.0.1".parse().unwrap());
        p.dst_ip = Some("10.0.0.2".parse().unwrap());
        p.ttl = Some(64);
        p.tcp_flags = Some(0x12);
        for _ in 0..2 {
            t.leaves_of(&p, &mut set);
            let mut expected = Vec::new();
            p.visit(|f, v| {
                if let Some(filler) = t.schema().filler(f, v) {
                    let id = t.intern(f, filler).unwrap();
                    expected.push((t.stripe(id) as u32, id));
                }
            });
            expected.sort_by_key(|(s, _)| *s);
            assert!(expected.len() >= 8);
            assert_eq!(set.leaves, expected);
        }
    }

    #[test]
    fn capacity_maps_new_values_to_overflow() {
        let mut t = LeafTable::with_capacity(Schema::packets(5, Layout::whole(64)), 4);
        let ids: Vec<_> = (0..10u64)
            .map(|v| t.intern(Field::Proto, Filler::U(v)).unwrap())
            .collect();
        assert_eq!(ids[5], ids[9]);
        assert_ne!(ids[0], ids[1]);
        assert_eq!(t.len(), 5);
        assert_eq!(t.intern(Field::Proto, Filler::U(1)), Some(ids[1]));
    }

    #[test]
    fn lazy_decay_matches_eager_decay() {
        let mut t = LeafTable::new(Schema::packets(5, Layout::whole(64)));
        let mut set = LeafSet::default();
        t.leaves_of(&pkt(80, 60), &mut set);
        let mut a = LeafAccumulator::new();
        for _ in 0..1000 {
            a.add(&set, 1.0);
            a.decay(0.5);
        }
        // Geometric series 0.5 + 0.25 + ... -> 1.
        assert!((a.weight(set.leaves[0].1) - 1.0).abs() < 1e-9);
        assert!((a.total() - 1.0).abs() < 1e-9);
    }
}
