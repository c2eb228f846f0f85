//! Regenerates the committed sample captures:
//! `cargo run --example gen_sample [OUT_DIR]` (default `samples/`).
//!
//! Writes `demo.pcap`, `demo.truth.ron`, `demo.truth.csv` and `hostile.pcap`.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use holoscope::sample::{SampleConfig, write_sample};

fn main() -> anyhow::Result<()> {
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
