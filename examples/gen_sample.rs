//! Regenerates the committed sample captures:
//! `cargo run --example gen_sample [OUT_DIR]` (default `samples/`).
//!
//! Writes `demo.pcap`, `demo.truth.ron`, `demo.truth.csv` and `hostile.pcap`.
//!
//! `cargo run --release --example gen_sample -- --bench N [FILE]` instead streams an
//! N-packet benchmark capture (to FILE, or nowhere) and prints the generation rate.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use holoscope::sample::{SampleConfig, write_bench_capture, write_sample};

fn bench(packets: u64, file: Option<PathBuf>) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    match file {
        Some(f) => write_bench_capture(packets, 1, &mut BufWriter::new(File::create(f)?))?,
        None => write_bench_capture(packets, 1, &mut std::io::sink())?,
    }
    let secs = start.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rate = packets as f64 / secs / 1e6;
    println!("{packets} packets in {secs:.3} s: {rate:.2} M packets/s");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "--bench") {
        let n = args
            .get(2)
            .and_then(|s| s.to_str()?.parse().ok())
            .unwrap_or(2_000_000);
        return bench(n, args.get(3).map(PathBuf::from));
    }
    let dir = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/samples")),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir)?;

    let demo = SampleConfig::demo();
    let truth = write_sample(
        &demo,
        &mut BufWriter::new(File::create(dir.join("demo.pcap"))?),
    )?;
    std::fs::write(dir.join("demo.truth.ron"), truth.to_ron()? + "\n")?;
    std::fs::write(dir.join("demo.truth.csv"), truth.to_csv())?;
    println!("demo.pcap: seed {}, {} packets", truth.seed, truth.packets);
    for w in &truth.waves {
        println!(
            "  {} {:<18} {:>6} pkts  +{:>7.3}s .. +{:>7.3}s  {}",
            w.wave,
            w.kind,
            w.packets,
            w.start - truth.first,
            w.end - truth.first,
            w.filter
        );
    }

    let hostile = SampleConfig::hostile();
    let t = write_sample(
        &hostile,
        &mut BufWriter::new(File::create(dir.join("hostile.pcap"))?),
    )?;
    println!("hostile.pcap: seed {}, {} packets", t.seed, t.packets);
    Ok(())
}
