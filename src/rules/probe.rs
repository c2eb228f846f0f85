//! The evidence side of drafting: the hypervector probe (the wave's and the baseline's
//! accumulators, their difference, and the cosine of a (field, value) leaf with it) and the
//! per-condition evidence recorded in a draft's provenance.

use super::model::{Evidence, Op};
use super::select::Candidate;
use crate::algebra::encoder::OwnedFillerKey;
use crate::algebra::parallel::materialise_all;
use crate::algebra::schema::FieldEncoder;
use crate::algebra::{Accumulator, Layout, LeafAccumulator, LeafId, LeafTable, Schema};
use crate::decode::{Field, Packet, Value, ValueRef};
use crate::timeline::FieldKey;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// Hypervector dimension of the drafting probe.
const PROBE_DIM: u32 = 1024;
/// Distinct leaves the probe caches (beyond, a field's new values share its overflow leaf:
/// thousands of spoofed sources need no vector each). Bounds the probe to 32 MiB.
const PROBE_LEAVES: usize = 8192;

/// The vector probe: leaf table and the baseline's leaf accumulator.
pub(super) struct Probe {
    table: LeafTable,
    base: LeafAccumulator,
}

impl Probe {
    pub(super) fn new(base: &[&Packet]) -> Self {
        let mut table =
            LeafTable::with_capacity(Schema::packets(1, Layout::whole(PROBE_DIM)), PROBE_LEAVES);
        // Drafting a capture with many waves fills the probe; its overflow leaves come on top.
        table.reserve(PROBE_LEAVES + Field::ALL.len());
        // Tallied in parallel chunks and interned chunk by chunk, as the waves are below: the
        // same leaves in the same order, and the same whole counts, as adding packet by packet.
        let parts: Vec<Tally> = base
            .par_chunks(TALLY_CHUNK)
            .map(|c| Tally::of(&table, c))
            .collect();
        let mut counts: FxHashMap<LeafId, u64> = FxHashMap::default();
        for part in parts {
            part.intern_into(&mut table, &mut counts);
        }
        let mut acc = LeafAccumulator::new();
        acc.add_counts(counts, base.len() as u64);
        Probe { table, base: acc }
    }

    /// `mean(wave) - mean(baseline)` for every wave, in wave order (`None` for a wave with no
    /// packets). The waves' new leaves are interned into the probe in wave order, as one wave
    /// after another would: which values get a leaf of their own before the table is full
    /// depends on that order.
    ///
    /// Looking the packets' values up is most of the cost, and needs no change to the table:
    /// every wave's chunks are tallied against the table as it stands before any wave, all in
    /// parallel, and only the values a chunk lacks are interned afterwards, serially, wave
    /// after wave in the order they first occur. A value an earlier wave interned is then
    /// found by `intern` itself, so the table and every sum are exactly what interning packet
    /// by packet gives. (Tallying one wave at a time left a core idle at every wave's end,
    /// while its new values were interned. The values lacking are now held for all waves at
    /// once, 40 bytes each: 125,000 of them, 5 MB, for the 64 waves of the bench capture.)
    pub(super) fn differences<'p, W: AsRef<[&'p Packet]>>(
        &mut self,
        waves: &[W],
    ) -> Vec<Option<Vec<f64>>> {
        let chunks: Vec<(usize, &[&Packet])> = waves
            .iter()
            .enumerate()
            .flat_map(|(wi, w)| w.as_ref().chunks(TALLY_CHUNK).map(move |c| (wi, c)))
            .collect();
        let parts: Vec<(usize, Tally)> = chunks
            .par_iter()
            .map(|&(wi, c)| (wi, Tally::of(&self.table, c)))
            .collect();
        let mut counts: Vec<FxHashMap<LeafId, u64>> = vec![FxHashMap::default(); waves.len()];
        for (wi, part) in parts {
            if let Some(counts) = counts.get_mut(wi) {
                part.intern_into(&mut self.table, counts);
            }
        }
        let accs: Vec<Option<LeafAccumulator>> = waves
            .iter()
            .zip(counts)
            .map(|(w, counts)| {
                let w = w.as_ref();
                if w.is_empty() {
                    return None;
                }
                let mut acc = LeafAccumulator::new();
                acc.add_counts(counts, w.len() as u64);
                Some(acc)
            })
            .collect();
        // The table is complete: the dense sums (thousands of leaves of 1,024 dimensions per
        // wave, and the baseline's) all at once, reading each leaf's vector once.
        let mut all: Vec<&LeafAccumulator> = vec![&self.base];
        all.extend(accs.iter().flatten());
        let mut dense = materialise_all(&all, &self.table).into_iter();
        let Some(base) = dense.next() else {
            return accs.iter().map(|_| None).collect();
        };
        accs.iter()
            .map(|acc| {
                acc.as_ref()?;
                dense.next().map(|w| difference_of(&w, &base))
            })
            .collect()
    }
}

/// `mean(wave) - mean(baseline)` from the two dense accumulators (the wave's alone when the
/// baseline is empty).
fn difference_of(w: &Accumulator, b: &Accumulator) -> Vec<f64> {
    #[allow(clippy::cast_precision_loss)]
    let (nw, nb) = (w.count().max(1) as f64, b.count().max(1) as f64);
    let has_base = b.count() > 0;
    w.sums()
        .iter()
        .zip(b.sums())
        .map(|(x, y)| x / nw - if has_base { y / nb } else { 0.0 })
        .collect()
}

impl Probe {
    /// A view of the probe for drafting one wave: leaves the wave asks for that the probe
    /// does not hold are computed on the side, as a copy of the probe would have interned them
    /// (up to the same capacity, then the field's overflow leaf), so waves drafted in parallel
    /// neither see each other's leaves nor copy the whole table (32 MiB per wave).
    pub(super) fn for_wave(&self) -> WaveProbe<'_> {
        let schema = self.table.schema().clone();
        WaveProbe {
            probe: self,
            local: LeafTable::with_capacity(schema, PROBE_LEAVES.saturating_sub(self.table.len())),
        }
    }
}

/// Packets per parallel tally: small enough that a wave of a few thousand packets keeps both
/// cores busy, big enough that repeats of a new value mostly fall in one chunk.
const TALLY_CHUNK: usize = 1024;

/// One chunk of a wave's packets counted against the probe's table as it stands.
struct Tally {
    /// Leaves the table has, with their occurrences.
    found: FxHashMap<LeafId, u64>,
    /// Values it lacks, in the order they first occur, with their occurrences.
    missing: Vec<(Field, OwnedFillerKey, u64)>,
}

impl Tally {
    /// Counts the chunk's distinct (field, value) pairs first, in a map that stays small, then
    /// looks each one up in the probe's table once: looking every occurrence up in the table
    /// (thousands of leaves) and then counting its leaf was most of drafting's vector work.
    /// Missing values come out in the order they first occur, as before; two values that share
    /// a filler become two entries that intern to one leaf, which adds up to the same counts.
    fn of(table: &LeafTable, packets: &[&Packet]) -> Self {
        let schema = table.schema();
        // Integers, IPv4 addresses and MACs (nearly every value) are keyed by their packed
        // timeline key: one word to hash instead of a `ValueRef` (hashing those was a third
        // of the tally). Text and IPv6 values keep the general map.
        let mut packed: FxHashMap<FieldKey, usize> = FxHashMap::default();
        let mut at: FxHashMap<(Field, ValueRef<'_>), usize> = FxHashMap::default();
        let mut distinct: Vec<(Field, ValueRef<'_>, u64)> = Vec::new();
        for p in packets {
            p.visit(|field, value| {
                // Skipped fields (the timestamp) have no leaf and a new value in every packet.
                if matches!(schema.encoder(field), FieldEncoder::Skip) {
                    return;
                }
                let next = distinct.len();
                let i = match FieldKey::inline(field, value) {
                    Some(k) => *packed.entry(k).or_insert(next),
                    None => *at.entry((field, value)).or_insert(next),
                };
                match distinct.get_mut(i) {
                    Some(d) => d.2 += 1,
                    None => distinct.push((field, value, 1)),
                }
            });
        }
        let mut found: FxHashMap<LeafId, u64> = FxHashMap::default();
        let mut missing: Vec<(Field, OwnedFillerKey, u64)> = Vec::new();
        for (field, value, c) in distinct {
            match table.lookup(field, value) {
                Some(Ok(id)) => *found.entry(id).or_insert(0) += c,
                Some(Err(f)) => missing.push((field, OwnedFillerKey::of(f), c)),
                None => {}
            }
        }
        Tally { found, missing }
    }
}

impl Tally {
    /// Adds the chunk's counts to `counts`, interning the values the table lacked (in the
    /// order they first occurred; one interned meanwhile is found by `intern` itself).
    fn intern_into(self, table: &mut LeafTable, counts: &mut FxHashMap<LeafId, u64>) {
        for (id, c) in self.found {
            *counts.entry(id).or_insert(0) += c;
        }
        for (field, key, c) in self.missing {
            if let Some(id) = table.intern(field, key.as_filler()) {
                *counts.entry(id).or_insert(0) += c;
            }
        }
    }
}

/// Cosine of an f32 leaf with an f64 difference vector, in f64 (0 when either is zero).
fn leaf_cosine(leaf: &[f32], diff: &[f64]) -> f64 {
    let (mut dot, mut nl, mut nd) = (0.0f64, 0.0f64, 0.0f64);
    for (a, b) in leaf.iter().zip(diff) {
        dot += f64::from(*a) * b;
        nl += f64::from(*a) * f64::from(*a);
        nd += b * b;
    }
    if nl > 0.0 && nd > 0.0 {
        dot / (nl.sqrt() * nd.sqrt())
    } else {
        0.0
    }
}

/// One wave's view of the [`Probe`]: the shared leaves plus the wave's own new ones.
pub(super) struct WaveProbe<'a> {
    probe: &'a Probe,
    local: LeafTable,
}

impl WaveProbe<'_> {
    /// Cosine of a (field, value) leaf with the difference (0 if the schema skips it).
    pub(super) fn cosine(&mut self, diff: &[f64], field: Field, v: &Value) -> f64 {
        let shared = &self.probe.table;
        let Some(f) = shared.schema().filler(field, v.as_ref()) else {
            return 0.0;
        };
        // A leaf's vector depends only on its field and filler, never on its id or table.
        let leaf = match shared.find(field, f) {
            Some(id) => shared.vector(id),
            None => match self.local.intern(field, f) {
                Some(id) => self.local.vector(id),
                None => return 0.0,
            },
        };
        leaf_cosine(leaf, diff)
    }
}

/// The evidence behind one (field, value): the vector probe, novelty and the detector's shift.
#[derive(Clone, Copy, Debug)]
pub(super) struct Score {
    /// Cosine of the value's leaf with `mean(wave) - mean(baseline)`.
    pub(super) cosine: f64,
    /// Never seen in the baseline sample.
    pub(super) novel: bool,
    /// Significance of the wave's concentration shift on this value, if the detector found one.
    pub(super) shift: Option<f64>,
}

impl Score {
    /// One number for ranking: cosine, plus 0.5 when new, plus up to 1 for a shift.
    pub(super) fn prior(&self) -> f64 {
        let novel = if self.novel { 0.5 } else { 0.0 };
        self.cosine + novel + self.shift.map_or(0.0, |s| (s / 10.0).min(1.0))
    }
}

/// Evidence entries: each condition with the strongest of its values' scores.
pub(super) fn evidence(
    conds: &[Candidate],
    scores: &FxHashMap<(Field, Value), Score>,
) -> Vec<Evidence> {
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    conds
        .iter()
        .map(|c| {
            let values: Vec<&Value> = match &c.cond.op {
                Op::Eq(v) => vec![v],
                Op::In(vs) => vs.iter().collect(),
                _ => Vec::new(),
            };
            let best = values
                .iter()
                .filter_map(|v| scores.get(&(c.cond.field, (*v).clone())))
                .max_by(|a, b| a.prior().total_cmp(&b.prior()));
            let feature = match best {
                Some(s) => format!(
                    "{}: cosine {:.3} with the wave-minus-baseline vector{}{}",
                    c.cond,
                    s.cosine,
                    if s.novel {
                        ", new against the baseline"
                    } else {
                        ""
                    },
                    s.shift
                        .map(|x| format!(", concentration shift significance {x:.1}"))
                        .unwrap_or_default()
                ),
                None => format!(
                    "{}: generalises the wave's values (prefix, range or mask)",
                    c.cond
                ),
            };
            Evidence {
                field: c.cond.field,
                feature,
                score: round(best.map_or(c.prior, Score::prior)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::LeafSet;

    fn pkt(src: u32, port: u16) -> Packet {
        Packet {
            src_ip: Some(std::net::Ipv4Addr::from(src).into()),
            dst_port: Some(port),
            proto: Some(17),
            ..Packet::default()
        }
    }

    /// Cosine as drafting computed it on its own copy of the probe's table.
    fn on_copy(table: &mut LeafTable, diff: &[f64], field: Field, v: &Value) -> f64 {
        let Some(f) = table.schema().filler(field, v.as_ref()) else {
            return 0.0;
        };
        let Some(id) = table.intern(field, f) else {
            return 0.0;
        };
        leaf_cosine(table.vector(id), diff)
    }

    /// The probe as drafting built it before tallies: the baseline added packet by packet.
    fn by_packets(base: &[Packet]) -> Probe {
        let mut table =
            LeafTable::with_capacity(Schema::packets(1, Layout::whole(PROBE_DIM)), PROBE_LEAVES);
        let mut acc = LeafAccumulator::new();
        let mut set = LeafSet::default();
        for p in base {
            table.leaves_of(p, &mut set);
            acc.add(&set, 1.0);
        }
        Probe { table, base: acc }
    }

    /// What drafting did before tallies: each wave's packets interned one by one.
    fn serial(probe: &mut Probe, waves: &[Vec<Packet>]) -> Vec<Option<Vec<f64>>> {
        waves
            .iter()
            .map(|w| {
                if w.is_empty() {
                    return None;
                }
                let mut acc = LeafAccumulator::new();
                let mut set = LeafSet::default();
                for p in w {
                    probe.table.leaves_of(p, &mut set);
                    acc.add(&set, 1.0);
                }
                let base = probe.base.materialise(&probe.table);
                Some(difference_of(&acc.materialise(&probe.table), &base))
            })
            .collect()
    }

    /// Parallel tallies give the same vectors and the same table as interning packet by
    /// packet, wave after wave: over several chunks, with values shared between waves, an
    /// empty wave, and more new values than the probe holds (which ones overflow depends on
    /// the order they were first seen).
    #[test]
    fn tallied_differences_equal_packet_by_packet_interning() {
        // Several chunks, with values first seen in later chunks.
        let base: Vec<Packet> = (0..3_000)
            .map(|i| {
                pkt(
                    0x0a00_0000 + (i * 13) % (40 + i / 10),
                    53 + u16::try_from(i / 700).unwrap(),
                )
            })
            .collect();
        let wave = |from: u32, n: u32, port: u16| -> Vec<Packet> {
            (0..n).map(|i| pkt(from + (i * 7919) % n, port)).collect()
        };
        let waves = vec![
            wave(0xc0a8_0000, 5_000, 123),
            Vec::new(),
            wave(0xc0a8_0800, 6_000, 53),
            wave(0xac10_0000, 3_000, 80),
        ];
        let mut a = Probe::new(crate::rules::refs(&base));
        let mut b = by_packets(&base);
        assert_eq!(
            a.base, b.base,
            "the tallied baseline equals adding packet by packet"
        );
        let wave_refs: Vec<Vec<&Packet>> = waves.iter().map(|w| w.iter().collect()).collect();
        let got = a.differences(&wave_refs);
        let want = serial(&mut b, &waves);
        assert_eq!(got, want);
        assert!(
            a.table.len() > PROBE_LEAVES,
            "the test must overflow the probe"
        );
        assert_eq!(a.table.len(), b.table.len());
        for i in 0..a.table.len() {
            let id = LeafId(u32::try_from(i).unwrap());
            assert_eq!(a.table.field(id), b.table.field(id));
            assert_eq!(a.table.filler(id), b.table.filler(id));
        }
    }

    #[test]
    fn a_waves_view_equals_a_copy_of_the_probe_past_its_capacity() {
        let base: Vec<Packet> = (0..200).map(|i| pkt(0x0a00_0000 + i % 50, 53)).collect();
        let wave: Vec<Packet> = (0..200).map(|i| pkt(0xc0a8_0000 + i, 123)).collect();
        let mut probe = Probe::new(crate::rules::refs(&base));
        let diff = probe
            .differences(&[wave.iter().collect::<Vec<_>>()])
            .remove(0)
            .unwrap();
        let mut copy = probe.table.clone();
        let mut view = probe.for_wave();
        // Known values, then more new addresses than the probe holds (they overflow).
        let mut values: Vec<(Field, Value)> = (0..60)
            .map(|i| {
                (
                    Field::SrcIp,
                    Value::Ip(std::net::Ipv4Addr::from(0x0a00_0000 + i).into()),
                )
            })
            .collect();
        values.extend([53, 123, 80].map(|p| (Field::DstPort, Value::U(p))));
        values.extend((0..PROBE_LEAVES as u32 + 50).map(|i| {
            (
                Field::SrcIp,
                Value::Ip(std::net::Ipv4Addr::from(0xac10_0000 + i).into()),
            )
        }));
        values.push((Field::Timestamp, Value::U(1)));
        let mut distinct = FxHashMap::default();
        for (field, v) in &values {
            let want = on_copy(&mut copy, &diff, *field, v);
            let got = view.cosine(&diff, *field, v);
            assert_eq!(got.to_bits(), want.to_bits(), "{field:?} {v:?}");
            *distinct.entry(want.to_bits()).or_insert(0u32) += 1;
        }
        assert!(copy.len() > PROBE_LEAVES, "the copy overflowed");
        assert!(distinct.len() > 100, "cosines vary");
        assert!(
            distinct.values().any(|n| *n > 40),
            "overflowing values share one leaf"
        );
    }
}
