//! Order-independent parallel encoding: results never depend on the number of threads.
//!
//! Packets are cut into shards of a fixed size (not one per thread), each shard is encoded and
//! accumulated on its own, and shard accumulators are merged in shard order. The additions thus
//! happen in the same order whatever the pool size, so results are bit-identical.
//!
//! [`materialise_all`] turns many leaf accumulators over one table into dense ones, each
//! bit-identical to [`LeafAccumulator::materialise`]'s.

use super::accumulator::Accumulator;
use super::encoder::PacketEncoder;
use super::kernel::axpy_f64;
use super::leaf::{LeafAccumulator, LeafId, LeafTable};
use super::schema::Schema;
use crate::decode::field::Packet;
use crate::subspace::striped::StripedBasis;
use rayon::prelude::*;

/// Packets per shard used by [`accumulate_and_score`].
pub const SHARD: usize = 256;

/// Accumulates every packet's encoding (weight 1) and scores each against `basis`, in parallel
/// on the current rayon pool. Returns the accumulator and the per-packet residual magnitudes in
/// packet order.
#[must_use]
pub fn accumulate_and_score(
    schema: &Schema,
    basis: &StripedBasis,
    packets: &[Packet],
) -> (Accumulator, Vec<f64>) {
    let dim = schema.layout.dim();
    let shards: Vec<(Accumulator, Vec<f64>)> = packets
        .par_chunks(SHARD)
        .map(|chunk| {
            let mut enc = PacketEncoder::new(schema.clone());
            let mut acc = Accumulator::new(dim);
            let mut scores = Vec::with_capacity(chunk.len());
            let mut x = vec![0.0f32; dim];
            for p in chunk {
                x.iter_mut().for_each(|v| *v = 0.0);
                enc.encode_into(p, &mut x);
                acc.add(&x);
                scores.push(basis.residual(&x).magnitude);
            }
            (acc, scores)
        })
        .collect();
    let mut acc = Accumulator::new(dim);
    let mut scores = Vec::with_capacity(packets.len());
    for (a, s) in shards {
        acc.merge(&a);
        scores.extend(s);
    }
    (acc, scores)
}

/// Dimensions per parallel part of [`materialise_all`]: the part's sums for 65 accumulators
/// (65 KiB) stay in the core's cache while every leaf's slice streams past.
const MATERIALISE_SLICE: usize = 128;

/// [`LeafAccumulator::materialise`] of every accumulator, each bit-identical to its own.
///
/// Each sum still adds its leaves in id order, element by element, so the result is the same;
/// but each leaf's vector is read once for all the accumulators instead of once for each.
/// Drafting materialises a wave per accumulator: one at a time, each of 64 waves read its own
/// 1,024-dimension leaves from the probe's table (32 MiB, full on the bench capture) again,
/// and here the table is read once. The dimensions are split across the pool; every
/// element's sum is independent of the others.
#[must_use]
pub fn materialise_all(accs: &[&LeafAccumulator], table: &LeafTable) -> Vec<Accumulator> {
    let layout = table.schema().layout;
    let dim = layout.dim();
    let leaves = accs
        .iter()
        .map(|a| a.leaf_bound())
        .max()
        .unwrap_or(0)
        .min(table.len());
    let starts: Vec<usize> = (0..dim).step_by(MATERIALISE_SLICE).collect();
    let parts: Vec<Vec<Vec<f64>>> = starts
        .par_iter()
        .map(|&lo| {
            let hi = (lo + MATERIALISE_SLICE).min(dim);
            let mut sums = vec![vec![0.0f64; hi - lo]; accs.len()];
            for i in 0..leaves {
                #[allow(clippy::cast_possible_truncation)]
                let id = LeafId(i as u32);
                // The part of this slice the leaf's stripe covers, if any.
                let r = layout.range(table.stripe(id));
                let (a, b) = (r.start.max(lo), r.end.min(hi));
                if a >= b {
                    continue;
                }
                let Some(v) = table.vector(id).get(a - r.start..b - r.start) else {
                    continue;
                };
                for (acc, s) in accs.iter().zip(sums.iter_mut()) {
                    if let (Some(w), Some(y)) = (acc.nonzero_weight(id), s.get_mut(a - lo..b - lo))
                    {
                        axpy_f64(y, w, v);
                    }
                }
            }
            sums
        })
        .collect();
    accs.iter()
        .enumerate()
        .map(|(k, acc)| {
            let mut sums = Vec::with_capacity(dim);
            for part in &parts {
                if let Some(s) = part.get(k) {
                    sums.extend_from_slice(s);
                }
            }
            Accumulator::from_parts(sums, acc.count(), acc.total())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::leaf::LeafSet;
    use crate::algebra::schema::Layout;

    fn pkt(port: u16, len: u32, src: u32) -> Packet {
        Packet {
            dst_port: Some(port),
            ip_len: Some(len),
            src_ip: Some(std::net::Ipv4Addr::from(src).into()),
            proto: Some(6),
            ..Packet::default()
        }
    }

    /// Every accumulator comes out bit-identical to its own materialisation: whole and striped
    /// layouts (a stripe narrower and wider than a parallel part), decayed weights, accumulators
    /// that saw only some of the table's leaves, and an empty one.
    #[test]
    fn materialise_all_equals_one_at_a_time() {
        for layout in [
            Layout::whole(1024),
            Layout::striped(8, 48),
            Layout::striped(2, 300),
        ] {
            let mut table = LeafTable::with_capacity(Schema::packets(3, layout), 4096);
            let mut set = LeafSet::default();
            let mut accs = vec![LeafAccumulator::new(); 5];
            for i in 0..2_000u32 {
                let p = pkt(
                    u16::try_from(i % 97).unwrap(),
                    40 + i % 13,
                    0x0a00_0000 + i * 7,
                );
                table.leaves_of(&p, &mut set);
                let k = (i % 4) as usize + usize::from(i > 1_500);
                accs[k.min(3)].add(&set, 0.5 + f64::from(i % 3));
                if i % 100 == 0 {
                    accs[1].decay(0.93);
                }
            }
            let refs: Vec<&LeafAccumulator> = accs.iter().collect();
            let all = materialise_all(&refs, &table);
            assert_eq!(all.len(), accs.len());
            for (got, acc) in all.iter().zip(&accs) {
                let want = acc.materialise(&table);
                assert_eq!(got.count(), want.count());
                assert_eq!(got.weight().to_bits(), want.weight().to_bits());
                let bits =
                    |a: &Accumulator| a.sums().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(got), bits(&want), "{layout:?}");
            }
            assert!(all[0].sums().iter().any(|x| *x != 0.0));
        }
    }
}
