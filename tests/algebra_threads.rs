//! Parallel work never changes a result: 1 and 2 threads give bit-identical accumulators and
//! scores.

use holoscope::algebra::parallel::accumulate_and_score;
use holoscope::algebra::{Layout, PacketEncoder, Schema, synth};
use holoscope::subspace::StripedSubspace;

#[test]
fn one_and_two_threads_agree_bit_for_bit() {
    let layout = Layout::striped(8, 128);
    let schema = Schema::packets(5, layout);
    let mut enc = PacketEncoder::new(schema.clone());
    let mut sub = StripedSubspace::new(layout, 4);
    for p in synth::packets(1, 300) {
        sub.update(&enc.encode(&p));
    }
    let basis = sub.basis();
    let packets = synth::packets(2, 2000);
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| accumulate_and_score(&schema, &basis, &packets))
    };
    let (a1, s1) = run(1);
    let (a2, s2) = run(2);
    assert_eq!(a1.count(), 2000);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(a1.sums()), bits(a2.sums()));
    assert_eq!(bits(&s1), bits(&s2));
    // And equal to the sequential encoding.
    let mut seq = holoscope::algebra::Accumulator::new(layout.dim());
    for p in &packets {
        seq.add(&enc.encode(p));
    }
    assert_eq!(bits(seq.sums()), bits(a1.sums()));
}
