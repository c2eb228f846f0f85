//! Order-independent parallel encoding: results never depend on the number of threads.
//!
//! Packets are cut into shards of a fixed size (not one per thread), each shard is encoded and
//! accumulated on its own, and shard accumulators are merged in shard order. The additions thus
//! happen in the same order whatever the pool size, so results are bit-identical.

use super::accumulator::Accumulator;
use super::encoder::PacketEncoder;
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
