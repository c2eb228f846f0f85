//! Times the phases of `holoscope report` on one capture (analysis, report building, rule
//! drafting with replay), for finding where the end-to-end wall time goes:
//! `target/release/examples/report_phases FILE [RUNS]`. Under callgrind use
//! `--separate-threads=yes` to see each consumer thread's instructions.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("capture");
    let runs: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let path = std::path::Path::new(&path);
    for _ in 0..runs {
        let t = Instant::now();
        let src = holoscope::capture::open(path).unwrap();
        let opts = holoscope::engine::Options {
            keep_packets: Some(holoscope::engine::kept::DEFAULT_KEEP),
            ..holoscope::engine::Options::default()
        };
        let mut a = holoscope::engine::analyze(src, &opts, |_| {});
        let t_an = t.elapsed().as_secs_f64();
        let r = holoscope::report::Report::build(&a, holoscope::report::Limits::default());
        let t_rep = t.elapsed().as_secs_f64();
        let plan = holoscope::rules::scan::Plan::new(&a);
        let mut seen = 0u64;
        holoscope::rules::scan::scan(path, &plan, |_, _| seen += 1).unwrap();
        let t_scan = t.elapsed().as_secs_f64();
        println!(
            "  one labelled scan of {seen} packets: {:.3}s",
            t_scan - t_rep
        );
        let t_rep = t.elapsed().as_secs_f64();
        let d = holoscope::rules::draft_for_taking(&mut a, path).unwrap();
        let r = r.with_rules(&d);
        let t_dr = t.elapsed().as_secs_f64();
        let n = a.agg.stats.packets;
        println!(
            "{n} packets: analyze {t_an:.3}s, drafts {:.3}s ({} rules), total without the scan {:.3}s = {:.0} packets/s; {} waves",
            t_dr - t_rep,
            d.len(),
            t_dr - (t_rep - t_an),
            n as f64 / (t_dr - (t_rep - t_an)),
            a.findings.waves.len()
        );
        drop(r);
    }
}
