//! Read + decode + timeline only, for instruction counts with callgrind:
//! `valgrind --tool=callgrind target/release/examples/timeline_only FILE`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
fn main() {
    let path = std::env::args().nth(1).expect("capture");
    let opts = holoscope::engine::Options {
        timeline_only: true,
        residual: false,
        ..holoscope::engine::Options::default()
    };
    let src = holoscope::capture::open(std::path::Path::new(&path)).unwrap();
    let t = std::time::Instant::now();
    let (_, _, agg) = holoscope::engine::ingest(src, &opts, |_| {});
    println!(
        "{} packets in {:.3}s",
        agg.index.len(),
        t.elapsed().as_secs_f64()
    );
}
