//! Throughput of the algebra on a synthetic packet mix (plain `main`, prints a table of
//! medians over several runs). `cargo bench --no-default-features --bench algebra`.

use holoscope::algebra::kernel::dot;
use holoscope::algebra::leaf::{LeafAccumulator, LeafSet, LeafTable};
use holoscope::algebra::{Accumulator, Layout, PacketEncoder, Schema, synth};
use holoscope::decode::field::Packet;
use holoscope::subspace::{FastScorer, OnlineSubspace, StripedSubspace};
use std::hint::black_box;
use std::time::Instant;

const RUNS: usize = 5;
const K: usize = 20;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median seconds per item of `f` over `items` items.
fn time_per_item(items: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm caches
    median(
        (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() / items as f64
            })
            .collect(),
    )
}

fn trained(layout: Layout, train: &[Packet]) -> (Schema, StripedSubspace) {
    let schema = Schema::packets(1, layout);
    let mut enc = PacketEncoder::new(schema.clone());
    let mut sub = StripedSubspace::new(layout, K);
    for p in train {
        sub.update(&enc.encode(p));
    }
    (schema, sub)
}

fn row(name: &str, secs: f64) {
    println!(
        "| {name:<58} | {:>10.3} | {:>12.0} |",
        secs * 1e6,
        1.0 / secs
    );
}

fn main() {
    let packets = synth::packets(7, 200_000);
    let train = synth::packets(8, 2_000);
    let mut fields = 0usize;
    packets[0].visit(|_, _| fields += 1);
    println!(
        "synthetic mix: {} packets, {} fields in the first one, k = {K}",
        packets.len(),
        fields
    );
    println!(
        "| {:<58} | {:>10} | {:>12} |",
        "path", "us/packet", "packets/s"
    );
    println!("|{}|{}|{}|", "-".repeat(60), "-".repeat(12), "-".repeat(14));

    for layout in [Layout::whole(4096), Layout::striped(16, 256)] {
        let label = format!("{}x{}", layout.stripes, layout.stripe_dim);
        let (schema, sub) = trained(layout, &train);
        let basis = sub.basis();

        // (a) plain per-packet full encode (filler atoms cached, leaves bound and summed).
        let mut enc = PacketEncoder::new(schema.clone());
        let mut x = vec![0.0f32; layout.dim()];
        let n = 20_000;
        let t = time_per_item(n, || {
            for p in &packets[..n] {
                x.iter_mut().for_each(|v| *v = 0.0);
                enc.encode_into(p, &mut x);
                black_box(&x);
            }
        });
        row(&format!("full encode, D={} ({label})", layout.dim()), t);

        // Full path: encode + dense accumulate + exact subspace residual.
        let mut acc = Accumulator::new(layout.dim());
        let n = 5_000;
        let t = time_per_item(n, || {
            for p in &packets[..n] {
                x.iter_mut().for_each(|v| *v = 0.0);
                enc.encode_into(p, &mut x);
                acc.add(&x);
                black_box(basis.residual(&x).magnitude);
            }
        });
        row(&format!("full encode + accumulate + score ({label})"), t);

        // (b) cached fast path: leaves + leaf accumulator + cached-projection score.
        let mut table = LeafTable::new(schema.clone());
        let mut fast = FastScorer::new(&basis);
        let mut lacc = LeafAccumulator::new();
        let mut set = LeafSet::default();
        let mut profile = Vec::new();
        let t = time_per_item(packets.len(), || {
            for p in &packets {
                table.leaves_of(p, &mut set);
                lacc.add(&set, 1.0);
                black_box(fast.score(&table, &set, &mut profile));
            }
        });
        row(&format!("fast encode + accumulate + score ({label})"), t);
        let t = time_per_item(packets.len(), || {
            for p in &packets {
                table.leaves_of(p, &mut set);
                black_box(&set);
            }
        });
        row(&format!("fast encode only (leaf lookup) ({label})"), t);
        let sets: Vec<LeafSet> = packets[..50_000]
            .iter()
            .map(|p| {
                let mut s = LeafSet::default();
                table.leaves_of(p, &mut s);
                s
            })
            .collect();
        let t = time_per_item(sets.len(), || {
            for s in &sets {
                black_box(fast.score(&table, s, &mut profile));
            }
        });
        row(&format!("fast score only ({label})"), t);
        let t = time_per_item(sets.len(), || {
            for s in &sets {
                lacc.add(s, 1.0);
            }
        });
        row(&format!("leaf accumulate only ({label})"), t);
        println!(
            "|   leaves cached: {:<41} | {:>10} | {:>12} |",
            table.len(),
            "",
            ""
        );
    }

    // CCIPCA update cost.
    for d in [4096usize, 1024] {
        let mut enc = PacketEncoder::new(Schema::packets(1, Layout::whole(d as u32)));
        let xs: Vec<Vec<f32>> = train.iter().map(|p| enc.encode(p)).collect();
        let mut sub = OnlineSubspace::new(d, K);
        let t = time_per_item(xs.len(), || {
            for x in &xs {
                black_box(sub.update(x));
            }
        });
        println!(
            "| {:<58} | {:>10.3} | {:>12.0} |",
            format!("CCIPCA update, D={d}, k={K}"),
            t * 1e6,
            1.0 / t
        );
    }

    // Dot product kernel.
    let a = vec![0.5f32; 4096];
    let b = vec![0.25f32; 4096];
    let reps = 200_000;
    let t = time_per_item(reps, || {
        for _ in 0..reps {
            black_box(dot(black_box(&a), black_box(&b)));
        }
    });
    println!(
        "| {:<58} | {:>10.4} | {:>12} |",
        "16-lane f32 dot, D=4096 (us per dot)",
        t * 1e6,
        ""
    );
}
