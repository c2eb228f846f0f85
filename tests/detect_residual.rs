//! The residual-profile stage on the shipped sample: the heatmap map is filled, residuals are
//! higher in wave buckets than in quiet ones, the result is deterministic, and the stripe legend
//! covers every encoded field of the schema.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use holoscope::algebra::schema::{FieldEncoder, Layout, Schema};
use holoscope::decode::Field;
use holoscope::detect::residual::{SEED, stripe_fields, worst_ratio};
use holoscope::{capture, engine};
use std::path::PathBuf;

fn demo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/demo.pcap"))
}

fn run(residual: bool) -> engine::Analysis {
    let opts = engine::Options {
        residual,
        ..engine::Options::default()
    };
    engine::analyze(capture::open(&demo()).unwrap(), &opts, |_| {})
}

fn norm(p: &[f32]) -> f64 {
    p.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt()
}

#[test]
fn residual_map_is_filled_and_waves_stand_out() {
    let a = run(true);
    let f = &a.findings;
    let map = f.residual.as_ref().expect("residual map");
    assert_eq!(map.stripes, 16);
    assert_eq!(map.profiles.len(), f.buckets.len());
    assert_eq!(map.thresholds.len(), map.stripes);
    eprintln!("thresholds {:?}", map.thresholds);
    assert!(map.thresholds.iter().all(|t| t.is_finite() && *t >= 0.0));
    assert!(map.threshold.is_finite() && map.threshold > 0.0);
    let filled = map.profiles.iter().flatten().count();
    assert!(filled * 2 > map.profiles.len(), "{filled} profiles");
    assert!(
        map.profiles
            .iter()
            .flatten()
            .all(|p| p.len() == map.stripes && p.iter().all(|x| x.is_finite() && *x >= 0.0))
    );

    assert!(!f.waves.is_empty());
    let in_wave = |i: usize| f.waves.iter().any(|w| w.buckets.contains(&i));
    let thr: Vec<f64> = map.thresholds.iter().map(|t| f64::from(*t)).collect();
    // Stripe residuals relative to their thresholds: the address stripes carry large
    // residuals for every packet, what matters is how far each stripe is above its norm.
    let rel = |p: &[f32]| {
        let p: Vec<f64> = p.iter().map(|x| f64::from(*x)).collect();
        worst_ratio(&p, &thr)
    };
    let (mut wave, mut quiet) = (Vec::new(), Vec::new());
    for (i, p) in map.profiles.iter().enumerate() {
        if let Some(p) = p {
            if in_wave(i) {
                wave.push(rel(p));
            } else if !f.buckets[i].warmup {
                quiet.push(rel(p));
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(!wave.is_empty() && !quiet.is_empty());
    let (mw, mq) = (mean(&wave), mean(&quiet));
    eprintln!(
        "mean residual: waves {mw:.3} over {} buckets, quiet {mq:.3} over {}; threshold {}",
        wave.len(),
        quiet.len(),
        map.threshold
    );
    assert!(mw > 2.0 * mq, "waves {mw} quiet {mq}");

    for w in &f.waves {
        assert_eq!(w.residual_profile.len(), map.stripes);
        eprintln!(
            "wave {}: |profile| {:.3}, flagged stripes {:?}, fields {:?}",
            w.id,
            norm(&w.residual_profile),
            w.residual_flagged,
            w.residual_fields
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
        );
        for s in &w.residual_flagged {
            assert!(w.residual_profile[*s] > map.thresholds[*s]);
        }
        let fields: Vec<Field> = w
            .residual_flagged
            .iter()
            .flat_map(|s| map.stripe_fields[*s].clone())
            .collect();
        assert_eq!(fields, w.residual_fields);
    }
    // At least one wave of the sample is visible in the residual alone.
    assert!(f.waves.iter().any(|w| !w.residual_flagged.is_empty()));
}

#[test]
fn residual_stage_is_deterministic_and_optional() {
    let a = run(true);
    let b = run(true);
    assert_eq!(a.findings.residual, b.findings.residual);
    assert_eq!(a.findings.waves, b.findings.waves);
    let off = run(false);
    assert!(off.findings.residual.is_none());
    assert!(
        off.findings
            .waves
            .iter()
            .all(|w| w.residual_profile.is_empty()
                && w.residual_flagged.is_empty()
                && w.residual_fields.is_empty())
    );
}

#[test]
fn stripe_legend_covers_the_schema() {
    let schema = Schema::packets(SEED, Layout::default());
    let legend = stripe_fields(&schema);
    assert_eq!(legend.len(), 16);
    for f in Field::ALL {
        let n = legend.iter().filter(|s| s.contains(f)).count();
        let expected = usize::from(schema.encoder(*f) != FieldEncoder::Skip);
        assert_eq!(n, expected, "{}", f.name());
        if expected == 1 {
            assert!(legend[schema.stripe(*f)].contains(f));
        }
    }
    // The map published with the findings carries the same legend.
    let a = run(true);
    assert_eq!(a.findings.residual.as_ref().unwrap().stripe_fields, legend);
}

#[test]
fn fixed_baseline_interval_teaches_the_subspace() {
    let mut opts = engine::Options::default();
    opts.detect.baseline =
        Some(holoscope::detect::BaselineTime::parse_range("00:00..00:25").unwrap());
    let a = engine::analyze(capture::open(&demo()).unwrap(), &opts, |_| {});
    let f = &a.findings;
    let map = f.residual.as_ref().expect("residual map");
    let t0 = a.agg.stats.first_ts.unwrap().as_secs_f64();
    let end = t0 + 25.0;
    for (i, b) in f.buckets.iter().enumerate() {
        // Profiles start once the interval has ended (the subspace is final then).
        if b.start.as_secs_f64() + 1.0 < end {
            assert!(map.profiles[i].is_none(), "bucket {i} inside the interval");
        }
    }
    let after = map.profiles.iter().flatten().count();
    assert!(after * 2 > map.profiles.len(), "{after}");
    assert!(f.waves.iter().any(|w| !w.residual_flagged.is_empty()));
}
