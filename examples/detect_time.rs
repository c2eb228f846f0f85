//! Times detection alone on one capture: the streaming pass runs once, then `detect` runs
//! five times on its aggregates and the median is printed (`target/release/examples/detect_time
//! FILE`). The residual stage is left out, as in `engine::ingest`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("capture");
    let src = holoscope::capture::open(std::path::Path::new(&path)).unwrap();
    let o = holoscope::engine::Options::default();
    let (_, _, agg) = holoscope::engine::ingest(src, &o, |_| {});
    let mut times = Vec::new();
    let mut waves = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let f = holoscope::detect::detect(&agg, &o.detect, None);
        times.push(t.elapsed().as_secs_f64());
        waves = f.waves.len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "detection: median {:.3}s of {times:.3?} ({} buckets, {waves} waves)",
        times[2],
        agg.timeline.buckets().len()
    );
}
