//! `holoscope bench`: per-stage throughput, CPU time and peak memory, so a user can tell
//! whether holoscope keeps up with a link.
//!
//! Each stage is a separate pass over the same file and includes the stages before it
//! (read; + decode; + timeline; + flows/entities/sessions; + detection, including the
//! residual-profile stage unless `--no-residual`; + the report with its rule drafts, i.e. the
//! whole `holoscope report`), so the differences show what each stage costs. A last pass
//! repeats the full report while publishing snapshots the way the TUI does, to show what they
//! cost and how soon the first view is ready.
//!
//! Each row gives the process's CPU time (every thread, user + system) beside the wall time:
//! with idle cores a stage's parallel work hides in the wall time, and on a busy machine the
//! wall time stretches, but the CPU a packet costs says whether `cores` cores can keep up with
//! a rate (1 M packets/s allows `cores` microseconds per packet).

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
    /// CPU seconds (user + system, every thread of the process) the pass used, if the
    /// platform tells. On a machine with idle cores, wall time hides work that runs in
    /// parallel; CPU time says what the stage costs when every core is busy.
    pub cpu_seconds: Option<f64>,
    /// CPU microseconds per packet ([`StageRow::cpu_seconds`] over the packets).
    pub cpu_us_per_packet: Option<f64>,
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
    /// Cores this process may run on.
    pub cores: usize,
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

/// User + system CPU seconds of this process so far (every thread), from `getrusage`.
#[must_use]
pub fn process_cpu_seconds() -> Option<f64> {
    use nix::sys::resource::{UsageWho, getrusage};
    let u = getrusage(UsageWho::RUSAGE_SELF).ok()?;
    #[allow(clippy::cast_precision_loss)]
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Some(secs(u.user_time()) + secs(u.system_time()))
}

/// The start of one timed pass: wall clock and process CPU time.
struct Meter {
    wall: Instant,
    cpu: Option<f64>,
}

impl Meter {
    fn start() -> Self {
        Self {
            cpu: process_cpu_seconds(),
            wall: Instant::now(),
        }
    }

    /// The pass's row, measured now.
    #[allow(clippy::cast_precision_loss)]
    fn row(&self, stage: &str, packets: u64, bytes: u64) -> StageRow {
        let secs = self.wall.elapsed().as_secs_f64();
        let cpu = self
            .cpu
            .zip(process_cpu_seconds())
            .map(|(a, b)| (b - a).max(0.0));
        let s = secs.max(1e-9);
        StageRow {
            stage: stage.into(),
            seconds: secs,
            packets_per_second: packets as f64 / s,
            bytes_per_second: bytes as f64 / s,
            cpu_seconds: cpu,
            cpu_us_per_packet: cpu
                .filter(|_| packets > 0)
                .map(|c| c * 1e6 / packets as f64),
        }
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
    let t = Meter::start();
    let mut src = capture::open(path)?;
    let (mut packets, mut bytes) = (0u64, 0u64);
    while let Ok(Some(p)) = src.next_packet() {
        packets += 1;
        bytes += u64::from(p.orig_len);
    }
    let read = t.row("read", packets, bytes);

    // Stage 2: read + decode (parallel), no aggregation.
    let t = Meter::start();
    let (rx, reader) = ingest::spawn_reader(capture::open(path)?, ingest::BATCH_RECORDS);
    let mut tls = decode::tls::FirstFlight::default();
    let mut decoded = 0u64;
    for batch in rx {
        decoded += ingest::decode_batch_parallel(&batch, &mut tls).len() as u64;
    }
    let _ = reader.map(std::thread::JoinHandle::join);
    let dec = t.row("decode", decoded, bytes);

    // Stage 3: read + decode + timeline.
    let t = Meter::start();
    let only = engine::Options {
        timeline_only: true,
        ..engine::Options::default()
    };
    let (_, _, agg) = engine::ingest(capture::open(path)?, &only, |_| {});
    let timeline = t.row("timeline", packets, bytes);
    drop(agg);

    // Stage 4: the streaming pass with every aggregate (timeline, flows, entities, sessions).
    let t = Meter::start();
    let (_, _, agg) = engine::ingest(capture::open(path)?, &engine::Options::default(), |_| {});
    let tables = t.row("tables", agg.stats.packets, agg.stats.bytes);
    drop(agg);

    // Stage 5: everything `holoscope report` does: the pass plus detection.
    let t = Meter::start();
    let full = engine::Options {
        residual,
        ..engine::Options::default()
    };
    let a = engine::analyze(capture::open(path)?, &full, |_| {});
    let report = t.row("detect", a.agg.stats.packets, a.agg.stats.bytes);

    drop(a);

    // Stage 6: the whole `holoscope report` on a file: the analysis (keeping the decoded
    // packets, as `report` does), the report and the rule drafts with their replay.
    let t = Meter::start();
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
    let whole = t.row("report", a.agg.stats.packets, a.agg.stats.bytes);
    drop((r, a));

    // Stage 7: the analysis pass publishing snapshots with the TUI's policy.
    let t = Meter::start();
    let seen = std::sync::Mutex::new((None, 0u64, 0u64));
    let publish = |snap: engine::Snapshot| {
        if let Ok(mut g) = seen.lock() {
            if g.0.is_none() {
                *g = (
                    Some(t.wall.elapsed().as_secs_f64()),
                    g.1,
                    snap.progress.packets,
                );
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
    let snap_row = t.row("snapshots", a.agg.stats.packets, a.agg.stats.bytes);
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
        cores: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
    })
}

impl BenchReport {
    /// Plain-text table.
    #[must_use]
    pub fn text(&self) -> String {
        let mut t = crate::report::table::Table::new(&[
            "stage",
            "seconds",
            "packets/s",
            "MB/s",
            "CPU s",
            "CPU us/packet",
        ]);
        let opt = |x: Option<f64>, digits: usize| {
            x.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
        };
        for s in &self.stages {
            t.row(vec![
                s.stage.clone(),
                format!("{:.3}", s.seconds),
                format!("{:.0}", s.packets_per_second),
                format!("{:.1}", s.bytes_per_second / 1e6),
                opt(s.cpu_seconds, 3),
                opt(s.cpu_us_per_packet, 2),
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
        // What a rate costs in CPU: with every core busy, a stage keeps up with 1 M packets/s
        // only below this many microseconds of CPU per packet.
        #[allow(clippy::cast_precision_loss)]
        let budget = self.cores as f64;
        format!(
            "{} packets, {} bytes, {} threads, {} cores\n{}{first}, {} snapshots\n\
             1 M packets/s on {} cores allows {budget:.2} us of CPU per packet\n\
             peak RSS {rss}\n",
            self.packets,
            self.bytes,
            self.threads,
            self.cores,
            t.text(),
            snap.count,
            self.cores,
        )
    }
}
