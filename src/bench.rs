//! `holoscope bench`: per-stage throughput and peak memory, so a user can tell whether holoscope
//! keeps up with a link.
//!
//! Each stage is a separate pass over the same file and includes the stages before it
//! (read; + decode; + timeline; + flows/entities/sessions; + detection, including the
//! residual-profile stage unless `--no-residual`; + the report with its rule drafts, i.e. the
//! whole `holoscope report`), so the differences show what each stage costs. A last pass repeats the full report while publishing snapshots
//! the way the TUI does, to show what they cost and how soon the first view is ready.

use crate::capture::{self, CaptureError};
use crate::decode;
use crate::engine::{self, ingest};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// One stage's figures.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StageRow {
    /// Stage name: `read`, `decode`, `timeline`, `tables`, `detect`, `report`, `snapshots`.
    pub stage: String,
    /// Wall-clock seconds of the pass.
    pub seconds: f64,
    /// Packets per second.
    pub packets_per_second: f64,
    /// Bytes (on the wire) per second.
    pub bytes_per_second: f64,
}

/// The bench result (JSON contract).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BenchReport {
    /// Packets in the capture.
    pub packets: u64,
    /// Bytes on the wire.
    pub bytes: u64,
    /// Stages in pipeline order.
    pub stages: Vec<StageRow>,
    /// Peak resident memory of the process (`VmHWM`), if the platform tells.
    pub peak_rss_bytes: Option<u64>,
    /// Worker threads used for decoding.
    pub threads: usize,
    /// The full-report stage again while publishing snapshots as the TUI does.
    pub snapshots: SnapshotFigures,
}

/// What publishing snapshots costs and how soon the first view is ready.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SnapshotFigures {
    /// Seconds from the start of the pass to the first published snapshot.
    pub first_seconds: Option<f64>,
    /// Snapshots published.
    pub count: u64,
    /// Packets in the first snapshot.
    pub first_packets: u64,
}

/// Peak resident set size of this process, from `/proc/self/status` (Linux).
#[must_use]
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[allow(clippy::cast_precision_loss)]
fn row(stage: &str, secs: f64, packets: u64, bytes: u64) -> StageRow {
    let s = secs.max(1e-9);
    StageRow {
        stage: stage.into(),
        seconds: secs,
        packets_per_second: packets as f64 / s,
        bytes_per_second: bytes as f64 / s,
    }
}

/// Runs the passes (the full-report stage with the residual-profile stage).
///
/// # Errors
/// When the file is not a readable capture.
pub fn run(path: &Path) -> Result<BenchReport, CaptureError> {
    run_with(path, true)
}

/// Runs the passes; `residual` chooses whether the full-report stage (`detect`) includes the
/// residual-profile stage. The `tables` stage never does ([`engine::ingest()`] skips it).
///
/// # Errors
/// When the file is not a readable capture.
pub fn run_with(path: &Path, residual: bool) -> Result<BenchReport, CaptureError> {
    // Stage 1: bare reading.
    let t = Instant::now();
    let mut src = capture::open(path)?;
    let (mut packets, mut bytes) = (0u64, 0u64);
    while let Ok(Some(p)) = src.next_packet() {
        packets += 1;
        bytes += u64::from(p.orig_len);
    }
    let read = row("read", t.elapsed().as_secs_f64(), packets, bytes);

    // Stage 2: read + decode (parallel), no aggregation.
    let t = Instant::now();
    let (rx, reader) = ingest::spawn_reader(capture::open(path)?, ingest::BATCH_RECORDS);
    let mut tls = decode::tls::FirstFlight::default();
    let mut decoded = 0u64;
    for batch in rx {
        decoded += ingest::decode_batch(&batch, &mut tls).len() as u64;
    }
    let _ = reader.map(std::thread::JoinHandle::join);
    let dec = row("decode", t.elapsed().as_secs_f64(), decoded, bytes);

    // Stage 3: read + decode + timeline.
    let t = Instant::now();
    let only = engine::Options {
        timeline_only: true,
        ..engine::Options::default()
    };
    let (_, _, agg) = engine::ingest(capture::open(path)?, &only, |_| {});
    let timeline = row("timeline", t.elapsed().as_secs_f64(), packets, bytes);
    drop(agg);

    // Stage 4: the streaming pass with every aggregate (timeline, flows, entities, sessions).
    let t = Instant::now();
    let (_, _, agg) = engine::ingest(capture::open(path)?, &engine::Options::default(), |_| {});
    let tables = row(
        "tables",
        t.elapsed().as_secs_f64(),
        agg.stats.packets,
        agg.stats.bytes,
    );
    drop(agg);

    // Stage 5: everything `holoscope report` does: the pass plus detection.
    let t = Instant::now();
    let full = engine::Options {
        residual,
        ..engine::Options::default()
    };
    let a = engine::analyze(capture::open(path)?, &full, |_| {});
    let report = row(
        "detect",
        t.elapsed().as_secs_f64(),
        a.agg.stats.packets,
        a.agg.stats.bytes,
    );

    drop(a);

    // Stage 6: the whole `holoscope report` on a file: the analysis (keeping the decoded
    // packets, as `report` does), the report and the rule drafts with their replay.
    let t = Instant::now();
    let keeping = engine::Options {
        keep_packets: Some(engine::kept::DEFAULT_KEEP),
        ..full.clone()
    };
    let mut a = engine::analyze(capture::open(path)?, &keeping, |_| {});
    let r = crate::report::Report::build(&a, crate::report::Limits::default());
    let drafted = crate::rules::draft_for_taking(&mut a, path).map_err(|e| match e {
        crate::rules::DraftError::Capture(c) => c,
    })?;
    let r = r.with_rules(&drafted);
    let whole = row(
        "report",
        t.elapsed().as_secs_f64(),
        a.agg.stats.packets,
        a.agg.stats.bytes,
    );
    drop((r, a));

    // Stage 7: the analysis pass publishing snapshots with the TUI's policy.
    let t = Instant::now();
    let seen = std::sync::Mutex::new((None, 0u64, 0u64));
    let publish = |snap: engine::Snapshot| {
        if let Ok(mut g) = seen.lock() {
            if g.0.is_none() {
                *g = (Some(t.elapsed().as_secs_f64()), g.1, snap.progress.packets);
            }
            g.1 += 1;
        }
    };
    let a = engine::analyze_with(
        capture::open(path)?,
        &full,
        |_| {},
        Some((engine::SnapshotPolicy::default(), publish)),
    );
    let snap_row = row(
        "snapshots",
        t.elapsed().as_secs_f64(),
        a.agg.stats.packets,
        a.agg.stats.bytes,
    );
    let (first_seconds, count, first_packets) = seen.into_inner().unwrap_or_default();

    Ok(BenchReport {
        packets,
        bytes,
        stages: vec![read, dec, timeline, tables, report, whole, snap_row],
        snapshots: SnapshotFigures {
            first_seconds,
            count,
            first_packets,
        },
        peak_rss_bytes: peak_rss_bytes(),
        threads: rayon::current_num_threads(),
    })
}

impl BenchReport {
    /// Plain-text table.
    #[must_use]
    pub fn text(&self) -> String {
        let mut t = crate::report::table::Table::new(&["stage", "seconds", "packets/s", "MB/s"]);
        for s in &self.stages {
            t.row(vec![
                s.stage.clone(),
                format!("{:.3}", s.seconds),
                format!("{:.0}", s.packets_per_second),
                format!("{:.1}", s.bytes_per_second / 1e6),
            ]);
        }
        let rss = self.peak_rss_bytes.map_or_else(
            || "unknown".into(),
            |b| format!("{:.1} MiB", b as f64 / 1048576.0),
        );
        let snap = &self.snapshots;
        let first = snap.first_seconds.map_or_else(
            || "no snapshot (the pass ended first)".into(),
            |s| {
                format!(
                    "first snapshot after {s:.2} s ({} packets)",
                    snap.first_packets
                )
            },
        );
        format!(
            "{} packets, {} bytes, {} threads\n{}{first}, {} snapshots\npeak RSS {rss}\n",
            self.packets,
            self.bytes,
            self.threads,
            t.text(),
            snap.count
        )
    }
}
