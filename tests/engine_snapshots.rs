//! Snapshots of a running pass: every snapshot is a consistent view of a prefix of the capture
//! (all three consumer threads cut at the same packet), they grow monotonically, and a TUI fed
//! with them fills its panes before the final analysis, refuses decisions until then, keeps the
//! analyst's cursor across snapshots and the final result, and in live mode follows the present
//! until the analyst moves the cursor.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use holoscope::engine::{self, Options, Snapshot, SnapshotPolicy};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A snapshot after every batch: the most the policy can be asked for.
fn eager() -> SnapshotPolicy {
    SnapshotPolicy {
        first_after: Duration::ZERO,
        interval: Duration::ZERO,
        cost_factor: 0,
    }
}

/// The capture read at a pace a live link could have (64 KiB every 4 ms, about 16 MB/s), which
/// at each quarter of the file waits (at most 30 s) until as many snapshots as quarters passed
/// have been published. How many snapshots fit in a read of a small file depends on the
/// machine's load (one snapshot is built at a time, and on a busy 2-core machine one took
/// longer than the whole read); these tests need several, at known points.
struct Paced {
    file: std::fs::File,
    read: u64,
    quarter: u64,
    published: Arc<Mutex<Vec<Snapshot>>>,
}

impl std::io::Read for Paced {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        std::thread::sleep(Duration::from_millis(4));
        let quarters = self.read / self.quarter;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        // The batches read so far are with the pass, which requests a snapshot of them
        // unprompted (it wakes up on a timer, not only on new batches).
        while (self.published.lock().unwrap().len() as u64) < quarters.min(3)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        let n = buf.len().min(64 * 1024);
        let n = self.file.read(&mut buf[..n])?;
        self.read += n as u64;
        Ok(n)
    }
}

fn snapshots_of(path: &str) -> (Vec<Snapshot>, engine::Analysis) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    let file = std::fs::File::open(path).unwrap();
    let quarter = (file.metadata().unwrap().len() / 4).max(1);
    let paced = Paced {
        file,
        read: 0,
        quarter,
        published: Arc::clone(&got),
    };
    let src = holoscope::capture::from_reader(path.to_string(), Box::new(paced)).unwrap();
    let a = engine::analyze_with(
        src,
        &Options::default(),
        |_| {},
        Some((eager(), move |s| sink.lock().unwrap().push(s))),
    );
    let v = std::mem::take(&mut *got.lock().unwrap());
    (v, a)
}

#[test]
fn snapshots_are_consistent_prefixes_of_the_capture() {
    let (snaps, fin) = snapshots_of("samples/demo.pcap");
    // The reader waits for a snapshot at each quarter of the file.
    assert!(
        snaps.len() >= 3,
        "a 6 MB capture in 4096-packet batches gives several snapshots, got {}",
        snaps.len()
    );
    let mut last = 0;
    for s in &snaps {
        let a = &s.analysis;
        let n = a.agg.stats.packets;
        assert_eq!(
            n, s.progress.packets,
            "tables thread cut at the progress point"
        );
        let in_buckets: u64 = a.agg.timeline.buckets().iter().map(|b| b.packets).sum();
        assert_eq!(in_buckets, n, "timeline thread cut at the same packet");
        assert_eq!(a.agg.index.len() as u64, n, "index cut at the same packet");
        assert!(n > last, "snapshots grow");
        assert!(n <= fin.agg.stats.packets);
        last = n;
    }
    // Every snapshot that reaches well past the sample's first wave already shows it (which
    // snapshots exist depends on timing; the detector on a prefix is the same detector).
    let first = fin.findings.waves.first().expect("the sample has waves");
    for s in &snaps {
        let a = &s.analysis;
        if a.agg
            .stats
            .last_ts
            .is_some_and(|t| t.0 > first.end.0 + 60_000_000_000)
        {
            assert!(
                a.findings
                    .waves
                    .iter()
                    .any(|w| w.start <= first.end && first.start <= w.end),
                "a snapshot of {} packets misses the first wave",
                s.progress.packets
            );
        }
    }
}

#[test]
fn without_a_policy_nothing_is_published_and_results_are_unchanged() {
    let (_, with) = snapshots_of("samples/demo.pcap");
    let src = holoscope::capture::open(std::path::Path::new("samples/demo.pcap")).unwrap();
    let plain = engine::analyze(src, &Options::default(), |_| {});
    assert_eq!(with.agg.stats.packets, plain.agg.stats.packets);
    let spans = |a: &engine::Analysis| -> Vec<_> {
        a.findings.waves.iter().map(|w| (w.start, w.end)).collect()
    };
    assert_eq!(
        spans(&with),
        spans(&plain),
        "snapshots do not change the result"
    );
}

#[cfg(feature = "tui")]
mod tui {
    use super::*;
    use holoscope::investigation::Hooks;
    use holoscope::ui::app::{App, AppEvent};
    use holoscope::ui::theme::Theme;

    fn key(c: crossterm::event::KeyCode) -> AppEvent {
        AppEvent::Key(crossterm::event::KeyEvent::new(
            c,
            crossterm::event::KeyModifiers::NONE,
        ))
    }

    /// The TUI's app for the shipped sample, before anything arrived.
    fn demo_app() -> App {
        App::new(
            "samples/demo.pcap".into(),
            Theme::default(),
            None,
            Hooks::default(),
        )
    }

    /// Hands the app the final analysis of the sample, as the loader thread does.
    fn load(app: &mut App, fin: engine::Analysis) {
        let built = App::investigate(
            std::path::Path::new("samples/demo.pcap"),
            fin,
            Hooks::default(),
            None,
        );
        app.handle(AppEvent::Loaded(Box::new(built)));
    }

    fn command(app: &mut App, line: &str) {
        app.handle(key(crossterm::event::KeyCode::Char(':')));
        for ch in line.chars() {
            app.handle(key(crossterm::event::KeyCode::Char(ch)));
        }
        app.handle(key(crossterm::event::KeyCode::Enter));
    }

    #[test]
    fn panes_fill_from_snapshots_and_decisions_wait_for_the_end() {
        let (snaps, fin) = snapshots_of("samples/demo.pcap");
        let mut app = demo_app();
        let mid = snaps.len() / 2;
        for s in snaps.iter().take(mid + 1) {
            app.handle(AppEvent::Snapshot(Box::new(s.clone())));
        }
        let inv = app.inv.as_ref().expect("a snapshot builds a view");
        assert!(app.loading);
        assert!(!inv.is_empty(), "buckets are shown before the end");
        // View commands work on the snapshot; decisions are refused with a reason. The next
        // wave, when this prefix has one past the cursor (it opens on the first); else a step.
        let (before, at_end) = (inv.cursor, inv.cursor + 1 >= inv.len());
        app.handle(key(crossterm::event::KeyCode::Char(']')));
        if app.inv.as_ref().unwrap().cursor == before {
            use crossterm::event::KeyCode::{Left, Right};
            app.handle(key(if at_end { Left } else { Right }));
        }
        assert_ne!(
            app.inv.as_ref().unwrap().cursor,
            before,
            "the analyst moved"
        );
        let cursor_t = app.inv.as_ref().unwrap().cursor_time();
        assert!(cursor_t.0 > 0);
        command(&mut app, "suppress dst_port=53");
        let (msg, err) = app.message.clone().expect("a message");
        assert!(err && msg.contains("still loading"), "{msg}");
        assert!(app.inv.as_ref().unwrap().suppressions.is_empty());
        // More snapshots keep the cursor at the same time.
        for s in snaps.iter().skip(mid + 1) {
            app.handle(AppEvent::Snapshot(Box::new(s.clone())));
        }
        let inv = app.inv.as_ref().unwrap();
        assert_eq!(
            inv.bucket_time(inv.cursor),
            inv.bucket_time(inv.pos_at(cursor_t))
        );
        // The final analysis keeps the cursor too, and decisions now work.
        load(&mut app, fin);
        assert!(!app.loading);
        let inv = app.inv.as_ref().unwrap();
        assert_eq!(inv.cursor, inv.pos_at(cursor_t));
        command(&mut app, "suppress dst_port=53");
        assert_eq!(app.inv.as_ref().unwrap().suppressions.len(), 1);
    }

    /// A capture file opens on its first wave: the cursor follows the first wave found from
    /// snapshot to snapshot and into the final analysis, until the analyst moves it.
    #[test]
    fn an_untouched_cursor_sits_on_the_first_wave() {
        let (snaps, fin) = snapshots_of("samples/demo.pcap");
        let mut app = demo_app();
        let mut with_waves = 0;
        for s in &snaps {
            app.handle(AppEvent::Snapshot(Box::new(s.clone())));
            let inv = app.inv.as_ref().unwrap();
            match inv.findings().waves.first() {
                Some(w) => {
                    with_waves += 1;
                    assert_eq!(inv.cursor, w.buckets.start);
                }
                None => assert_eq!(inv.cursor, 0),
            }
        }
        assert!(with_waves > 0, "no snapshot found a wave");
        load(&mut app, fin.clone());
        let inv = app.inv.as_ref().unwrap();
        assert_eq!(inv.wave_at(inv.cursor).map(|w| w.id), Some(1));
        assert_eq!(inv.cursor, inv.findings().waves[0].buckets.start);

        // Once the analyst moved it (Home: the first bucket), the cursor keeps its place.
        let mut app = demo_app();
        for s in &snaps {
            app.handle(AppEvent::Snapshot(Box::new(s.clone())));
            if app.inv.as_ref().unwrap().cursor > 0 {
                app.handle(key(crossterm::event::KeyCode::Home));
                assert_eq!(app.inv.as_ref().unwrap().cursor, 0);
            }
        }
        load(&mut app, fin);
        assert_eq!(app.inv.as_ref().unwrap().cursor, 0);
    }

    #[test]
    fn live_follows_the_present_until_pinned() {
        let (snaps, _) = snapshots_of("samples/demo.pcap");
        let mut app = App::new("eth0".into(), Theme::default(), None, Hooks::default());
        app.live = Some(true);
        for s in snaps.iter().take(2) {
            app.handle(AppEvent::Snapshot(Box::new(s.clone())));
        }
        let inv = app.inv.as_ref().unwrap();
        assert_eq!(
            inv.cursor,
            inv.len() - 1,
            "live: cursor at the newest bucket"
        );
        // Scrubbing back pins the view; new traffic no longer moves the cursor.
        app.handle(key(crossterm::event::KeyCode::Left));
        assert_eq!(app.live, Some(false));
        let pinned_t = app.inv.as_ref().unwrap().cursor_time();
        app.handle(AppEvent::Snapshot(Box::new(snaps[snaps.len() - 1].clone())));
        let inv = app.inv.as_ref().unwrap();
        assert!(inv.cursor < inv.len() - 1);
        assert_eq!(inv.cursor, inv.pos_at(pinned_t));
        // End returns to Live and jumps to the present.
        app.handle(key(crossterm::event::KeyCode::End));
        assert_eq!(app.live, Some(true));
        let inv = app.inv.as_ref().unwrap();
        assert_eq!(inv.cursor, inv.len() - 1);
    }

    /// Stops after `n` packets without telling the source it ended, and never lets go of it
    /// (dropping a tee flushes its copy): a live capture still running, whose `--write` copy
    /// is still `FILE.part` with the newest packets in its write buffer.
    struct Running {
        inner: Option<Box<dyn holoscope::capture::PacketSource + Send>>,
        left: usize,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            std::mem::forget(self.inner.take());
        }
    }

    impl holoscope::capture::PacketSource for Running {
        fn info(&self) -> &holoscope::capture::CaptureInfo {
            self.inner.as_ref().unwrap().info()
        }
        fn next_packet(
            &mut self,
        ) -> Result<Option<holoscope::capture::RawPacket<'_>>, holoscope::capture::CaptureError>
        {
            if self.left == 0 {
                return Ok(None);
            }
            self.left -= 1;
            self.inner.as_mut().unwrap().next_packet()
        }
        fn take_warnings(&mut self) -> Vec<holoscope::capture::Warning> {
            self.inner.as_mut().unwrap().take_warnings()
        }
        fn bytes_read(&self) -> u64 {
            self.inner.as_ref().unwrap().bytes_read()
        }
    }

    /// In a live capture with `--write`, `explain` lists a host's packets from the growing
    /// copy up to the newest: the job flushes the copy first. Before, packets still in the
    /// write buffer (up to the last half second) were missing, here all of them.
    #[test]
    fn live_explain_reads_the_newest_packets_from_the_copy() {
        use holoscope::capture::write::{IndexBy, part_path, tee};
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("live.pcapng");
        let src = holoscope::capture::open(std::path::Path::new("samples/demo.pcap")).unwrap();
        let (teed, handle) = tee(src, &dest, IndexBy::Copy).unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&got);
        let running = Running {
            inner: Some(teed),
            left: 3000,
        };
        let a = engine::analyze_with(
            Box::new(running),
            &Options::default(),
            |_| {},
            Some((eager(), move |s| sink.lock().unwrap().push(s))),
        );
        let mut snaps = std::mem::take(&mut *got.lock().unwrap());
        let last = snaps.pop().expect("a snapshot of the running capture");
        let host = "10.0.0.10";
        let sent = a
            .agg
            .entities
            .iter()
            .find(|(id, _)| id.to_string() == host)
            .map(|(_, s)| s.packets())
            .unwrap();
        assert_eq!(last.analysis.agg.stats.packets, 3000);
        let mut app = App::new("eth0".into(), Theme::default(), None, Hooks::default());
        app.live = Some(true);
        app.packets_from = Some(part_path(&dest));
        app.copy = Some(handle);
        app.handle(AppEvent::Snapshot(Box::new(last)));
        command(&mut app, &format!("explain {host}"));
        let jobs = app.take_jobs();
        assert_eq!(jobs.len(), 1);
        for j in jobs {
            if let Some(ev) = j.run() {
                app.handle(ev);
            }
        }
        match &app.overlay {
            holoscope::ui::event::Overlay::Entity { entity, packets } => {
                assert_eq!(entity, host);
                let lines = packets.as_ref().expect("packets listed");
                assert_eq!(
                    lines.len() as u64,
                    sent.min(12),
                    "every packet of the host so far: {:?}",
                    app.message
                );
            }
            _ => panic!("no entity overlay"),
        }
    }

    /// A live capture without `--write` has nothing to read packets back from: `explain`
    /// opens the host and says how to get its packets, instead of failing to open a file
    /// named after the interface.
    #[test]
    fn live_explain_without_a_copy_says_to_write_one() {
        use crossterm::event::KeyCode;
        let (snaps, _) = snapshots_of("samples/demo.pcap");
        let mut app = App::new("eth0".into(), Theme::default(), None, Hooks::default());
        app.live = Some(true);
        app.live_without_copy = true;
        app.handle(AppEvent::Snapshot(Box::new(snaps[snaps.len() - 1].clone())));
        app.handle(key(KeyCode::Char(':')));
        for c in "explain 10.0.0.66".chars() {
            app.handle(key(KeyCode::Char(c)));
        }
        app.handle(key(KeyCode::Enter));
        match &app.overlay {
            holoscope::ui::event::Overlay::Entity { entity, packets } => {
                assert_eq!(entity, "10.0.0.66");
                assert_eq!(packets.as_deref(), Some(&[][..]));
            }
            _ => panic!("no entity overlay"),
        }
        let (m, is_error) = app.message.clone().unwrap();
        assert!(is_error && m.contains("--write"), "{m}");
    }
}
