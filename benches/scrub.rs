//! Scrub latency: time from a cursor move (a key event) to a complete new view rendered into a
//! 160x48 `TestBackend`, on a generated capture of at least 1.5 million packets. Prints p50,
//! p99 and max over single-bucket steps, large steps and wave jumps (target p99 < 16 ms).
//!
//! Run: `cargo bench --bench scrub` (env `HOLOSCOPE_BENCH_PACKETS` to change the size).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use holoscope::investigation::Hooks;
use holoscope::ui::app::{App, AppEvent};
use holoscope::ui::theme::Theme;
use holoscope::{capture, engine, sample};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::time::Instant;

fn pct(v: &[f64], p: f64) -> f64 {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn main() {
    let n: u64 = std::env::var("HOLOSCOPE_BENCH_PACKETS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_500_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("scrub.pcap");
    {
        let f = std::fs::File::create(&path).expect("create");
        let mut w = std::io::BufWriter::new(f);
        sample::write_bench_capture(n, 7, &mut w).expect("generate");
    }
    let t0 = Instant::now();
    let a = engine::analyze(
        capture::open(&path).expect("open"),
        &engine::Options::default(),
        |_| {},
    );
    println!(
        "scrub bench: {} packets, {} buckets, {} waves, analysed in {:.1} s",
        a.agg.stats.packets,
        a.findings.buckets.len(),
        a.findings.waves.len(),
        t0.elapsed().as_secs_f64()
    );
    let mut app = App::new(path.clone(), Theme::default(), None, Hooks::default());
    let built = App::investigate(&path, a, Hooks::default(), None);
    app.handle(AppEvent::Loaded(Box::new(built)));
    let mut term = Terminal::new(TestBackend::new(160, 48)).expect("terminal");
    term.draw(|f| app.draw(f)).expect("draw");
    let key = |c: KeyCode, m: KeyModifiers| AppEvent::Key(KeyEvent::new(c, m));
    let mut runs: Vec<(&str, Vec<f64>)> = Vec::new();
    let plans: [(&str, KeyCode, KeyModifiers, usize); 4] = [
        ("step →", KeyCode::Right, KeyModifiers::NONE, 600),
        ("step ←", KeyCode::Left, KeyModifiers::NONE, 600),
        ("large ⇧→", KeyCode::Right, KeyModifiers::SHIFT, 200),
        ("wave ]", KeyCode::Char(']'), KeyModifiers::NONE, 200),
    ];
    for (name, code, mods, count) in plans {
        let mut v = Vec::with_capacity(count);
        while v.len() < count {
            let before = app.inv.as_ref().map_or(0, |i| i.cursor);
            let t = Instant::now();
            app.handle(key(code, mods));
            term.draw(|f| app.draw(f)).expect("draw");
            let dt = t.elapsed().as_secs_f64() * 1e3;
            if app.inv.as_ref().map_or(0, |i| i.cursor) == before {
                // At an end: wrap around (not measured) so every sample is a real move.
                let back = if code == KeyCode::Left {
                    KeyCode::End
                } else {
                    KeyCode::Home
                };
                app.handle(key(back, KeyModifiers::NONE));
                continue;
            }
            v.push(dt);
        }
        v.sort_by(f64::total_cmp);
        runs.push((name, v));
    }
    println!(
        "{:<10} {:>8} {:>8} {:>8}",
        "move", "p50 ms", "p99 ms", "max ms"
    );
    let mut all = Vec::new();
    for (name, v) in &runs {
        println!(
            "{name:<10} {:>8.3} {:>8.3} {:>8.3}",
            pct(v, 0.5),
            pct(v, 0.99),
            v[v.len() - 1]
        );
        all.extend_from_slice(v);
    }
    all.sort_by(f64::total_cmp);
    println!(
        "{:<10} {:>8.3} {:>8.3} {:>8.3}",
        "all",
        pct(&all, 0.5),
        pct(&all, 0.99),
        all[all.len() - 1]
    );
}
