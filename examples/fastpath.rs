//! Runs only the fast encode + accumulate + score path (16 x 256, k = 20) after one warm pass,
//! for instruction counts: `valgrind --tool=callgrind --toggle-collect='fastpath::hot_loop'
//! target/release/examples/fastpath 20000` (deterministic on a noisy machine, unlike timings).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use holoscope::algebra::leaf::{LeafAccumulator, LeafSet, LeafTable};
use holoscope::algebra::{Layout, PacketEncoder, Schema, synth};
use holoscope::subspace::{FastScorer, StripedSubspace};
use std::hint::black_box;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(50_000);
    let packets = synth::packets(7, n);
    let train = synth::packets(8, 2_000);
    let layout = Layout::striped(16, 256);
    let schema = Schema::packets(1, layout);
    let mut enc = PacketEncoder::new(schema.clone());
    let mut sub = StripedSubspace::new(layout, 20);
    for p in &train {
        sub.update(&enc.encode(p));
    }
    let basis = sub.basis();
    let mut table = LeafTable::new(schema.clone());
    let mut fast = FastScorer::new(&basis);
    let mut lacc = LeafAccumulator::new();
    let mut set = LeafSet::default();
    let mut profile = Vec::new();
    // First pass fills the caches (leaves, projections, pair dots) untimed.
    hot_warm(
        &packets,
        &mut table,
        &mut lacc,
        &mut set,
        &mut fast,
        &mut profile,
    );
    let t = std::time::Instant::now();
    hot_loop(
        &packets,
        &mut table,
        &mut lacc,
        &mut set,
        &mut fast,
        &mut profile,
    );
    println!(
        "{:.3} us/packet",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}

#[inline(never)]
fn hot_warm(
    packets: &[holoscope::decode::field::Packet],
    table: &mut LeafTable,
    lacc: &mut LeafAccumulator,
    set: &mut LeafSet,
    fast: &mut FastScorer,
    profile: &mut Vec<f64>,
) {
    hot_loop(packets, table, lacc, set, fast, profile);
}

#[inline(never)]
fn hot_loop(
    packets: &[holoscope::decode::field::Packet],
    table: &mut LeafTable,
    lacc: &mut LeafAccumulator,
    set: &mut LeafSet,
    fast: &mut FastScorer,
    profile: &mut Vec<f64>,
) {
    for p in packets {
        table.leaves_of(p, set);
        lacc.add(set, 1.0);
        black_box(fast.score(table, set, profile));
    }
}
