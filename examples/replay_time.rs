//! Times the replay of a capture's drafted rules alone, for comparing replay implementations:
//! `target/release/examples/replay_time FILE [RUNS]` drafts the rules once, then per run times
//! one labelled scan without rules and one with every draft replayed (one thread each), and
//! prints the medians and their difference (the replay's own cost).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use holoscope::rules::replay::{Label, Replayer};
use holoscope::rules::scan::{Class, Plan, scan};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let path = std::env::args().nth(1).expect("capture");
    let runs: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let path = std::path::Path::new(&path);
    let src = holoscope::capture::open(path).unwrap();
    let a = holoscope::engine::analyze(src, &holoscope::engine::Options::default(), |_| {});
    let rules: Vec<_> = holoscope::rules::draft_for(&a, path)
        .unwrap()
        .into_iter()
        .map(|d| d.rule)
        .collect();
    let plan = Plan::new(&a);
    let label = |class: Class| match class {
        Class::Wave(i) => Label::Wave(plan.wave_ids[i].as_str()),
        Class::Baseline => Label::Baseline,
        Class::Other => Label::Other,
    };
    let (mut bare, mut with) = (Vec::new(), Vec::new());
    let mut check = 0u64;
    for _ in 0..runs {
        let t = Instant::now();
        let mut n = 0u64;
        scan(path, &plan, |_, class| {
            n += u64::from(label(class) != Label::Other)
        })
        .unwrap();
        bare.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut r = Replayer::new(&rules, &plan.wave_hosts);
        scan(path, &plan, |p, class| r.add(p, label(class))).unwrap();
        let out = r.finish();
        with.push(t.elapsed().as_secs_f64());
        check = out
            .iter()
            .map(|c| c.wave_matched + c.baseline_matched)
            .sum::<u64>()
            + n;
    }
    let (b, w) = (median(bare), median(with));
    println!(
        "{} rules, {} packets: scan {b:.3}s, scan+replay {w:.3}s, replay {:.3}s (medians of {runs}; checksum {check})",
        rules.len(),
        a.agg.stats.packets,
        w - b
    );
}
