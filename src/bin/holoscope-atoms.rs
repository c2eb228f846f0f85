//! Determinism helper: derives atoms, encodes a synthetic capture and learns a baseline with
//! caches warmed in a chosen order, then prints vector hashes and writes the engram.
//!
//! `holoscope-atoms forward|reverse ENGRAM_PATH`. Two runs with different orders must print the
//! same lines and write byte-identical engrams (checked by tests/algebra_determinism.rs).

use anyhow::{Context, bail};
use holoscope::algebra::leaf::{LeafSet, LeafTable};
use holoscope::algebra::{AtomKind, Codebook, Layout, PacketEncoder, Schema, synth};
use holoscope::decode::field::Field;
use holoscope::subspace::{Engram, FastScorer, ProfileJudge, StripedSubspace};
use sha2::{Digest, Sha256};

fn hex_of(v: &[f32]) -> String {
    let mut h = Sha256::new();
    for x in v {
        h.update(x.to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (order, path) = match args.as_slice() {
        [_, o, p] => (o.as_str(), std::path::PathBuf::from(p)),
        _ => bail!("usage: holoscope-atoms forward|reverse ENGRAM_PATH"),
    };
    let reverse = match order {
        "forward" => false,
        "reverse" => true,
        _ => bail!("order must be forward or reverse"),
    };
    let mut names: Vec<String> = Field::ALL
        .iter()
        .map(|f| format!("role:{}", f.name()))
        .collect();
    names.extend((0..64).map(|i| format!("u:{i}")));
    if reverse {
        names.reverse();
    }
    let mut cb = Codebook::new(42, AtomKind::Bipolar, 4096);
    for n in &names {
        cb.get(n.as_bytes());
    }
    for (name, v) in cb.iter() {
        println!("atom {} {}", String::from_utf8_lossy(name), hex_of(v));
    }

    let layout = Layout::striped(8, 256);
    let schema = Schema::packets(42, layout);
    let mut packets = synth::packets(9, 600);
    // Warm the leaf cache in the chosen order: ids differ, results must not.
    let mut table = LeafTable::new(schema.clone());
    let mut set = LeafSet::default();
    let warm: Vec<_> = if reverse {
        packets.iter().rev().collect()
    } else {
        packets.iter().collect()
    };
    for p in warm {
        table.leaves_of(p, &mut set);
    }
    let mut enc = PacketEncoder::new(schema.clone());
    let mut sub = StripedSubspace::new(layout, 6);
    let mut judge = ProfileJudge::new(layout.stripes as usize);
    for p in &packets[..400] {
        let r = sub.update(&enc.encode(p));
        judge.learn(&r.profile);
    }
    let mut fast = FastScorer::new(&sub.basis());
    let mut profile = Vec::new();
    let mut scores = Vec::new();
    for p in packets.drain(400..) {
        table.leaves_of(&p, &mut set);
        scores.push(fast.score(&table, &set, &mut profile) as f32);
        println!("packet {}", hex_of(&table.materialise(&set)));
    }
    println!("scores {}", hex_of(&scores));
    let mut e = Engram::new(schema, sub);
    e.profile = Some(judge);
    e.save(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
