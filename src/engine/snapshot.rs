//! Snapshots of a running pass: the TUI fills its panes while a large capture loads, a live
//! interface is watched as traffic arrives, and `--follow-json` announces waves as they start.
//!
//! The consumer threads own their state, so a snapshot is a message in their packet stream:
//! when the ingest loop asks, each thread clones its state *between two batches* and replies.
//! Every thread sees the same batches in the same order, so the three parts always describe the
//! same packets. A separate thread assembles the parts and runs detection (the same code as the
//! final analysis), so ingest never waits for it; while one snapshot is being built no other is
//! asked for, and the interval stretches to several times the last snapshot's cost, so snapshots
//! never take more than a small share of the machine on a huge capture.

use super::{Aggregates, Analysis, Options, Progress};
use crate::capture::CaptureInfo;
use crate::decode::Packet;
use crate::detect::residual::ResidualTrack;
use crate::timeline::Timeline;
use crossbeam_channel::{Receiver, Sender, bounded};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often the ingest loop looks at the clock while no batch arrives (quiet live traffic).
pub(super) const TICK: Duration = Duration::from_millis(200);

/// A published view of a running (or finished) pass.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Where the pass was when the snapshot was taken.
    pub progress: Progress,
    /// The analysis of every packet up to that point (warnings come only with the final one).
    pub analysis: Arc<Analysis>,
}

/// How often a running pass publishes snapshots.
#[derive(Clone, Copy, Debug)]
pub struct SnapshotPolicy {
    /// When the first snapshot is asked for (early, so a large capture shows something fast;
    /// it is also the cheapest one).
    pub first_after: Duration,
    /// Least time between two snapshots.
    pub interval: Duration,
    /// The interval never drops below this many times the cost of the previous snapshot, so
    /// building snapshots stays a bounded share of the work (4 = at most about 20%).
    pub cost_factor: u32,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        Self {
            first_after: Duration::from_millis(200),
            interval: Duration::from_millis(500),
            cost_factor: 4,
        }
    }
}

/// A message to a consumer thread: packets, or a request for a copy of its state.
pub(super) enum Msg<T> {
    /// The next batch, in file order.
    Batch(Arc<Vec<Packet>>),
    /// Reply with a copy of the state after every earlier batch.
    Snap(Sender<T>),
}

/// Replies to a snapshot request (a closed receiver only means the snapshot was abandoned).
pub(super) fn reply<T>(to: &Sender<T>, part: T) {
    let _ = to.send(part);
}

/// One snapshot being assembled: where to collect the parts from.
struct Request {
    progress: Progress,
    index: Vec<u64>,
    index_first: u64,
    timeline: Receiver<Timeline>,
    tables: Receiver<Aggregates>,
    residual: Option<Receiver<ResidualTrack>>,
}

/// The ingest loop's side: decides when a snapshot is due and asks the consumer threads.
pub(super) struct Snapshotter {
    policy: SnapshotPolicy,
    busy: Arc<AtomicBool>,
    next_due: Instant,
    last_packets: u64,
    cost_ns: Arc<std::sync::atomic::AtomicU64>,
    requests: Sender<Request>,
}

/// The senders of the three consumer threads, as the snapshotter needs them.
pub(super) struct Consumers<'a> {
    pub timeline: &'a Sender<Msg<Timeline>>,
    pub tables: &'a Sender<Msg<Aggregates>>,
    pub residual: Option<&'a Sender<Msg<ResidualTrack>>>,
}

impl Snapshotter {
    /// Asks for a snapshot if one is due, none is being built and packets arrived since the
    /// last one. `index` is copied only when a snapshot is actually taken.
    pub fn maybe_request(
        &mut self,
        progress: Progress,
        (index, index_first): (&[u64], u64),
        to: &Consumers<'_>,
    ) {
        let now = Instant::now();
        if now < self.next_due
            || progress.packets == self.last_packets
            || self.busy.load(Ordering::Acquire)
        {
            return;
        }
        self.last_packets = progress.packets;
        let cost = Duration::from_nanos(self.cost_ns.load(Ordering::Relaxed));
        self.next_due = now + self.policy.interval.max(cost * self.policy.cost_factor);
        let (tl_tx, tl_rx) = bounded(1);
        let (tb_tx, tb_rx) = bounded(1);
        if to.timeline.send(Msg::Snap(tl_tx)).is_err() || to.tables.send(Msg::Snap(tb_tx)).is_err()
        {
            return;
        }
        let residual = to.residual.and_then(|tx| {
            let (r_tx, r_rx) = bounded(1);
            tx.send(Msg::Snap(r_tx)).ok().map(|()| r_rx)
        });
        self.busy.store(true, Ordering::Release);
        let req = Request {
            progress,
            index: index.to_vec(),
            index_first,
            timeline: tl_rx,
            tables: tb_rx,
            residual,
        };
        if self.requests.send(req).is_err() {
            self.busy.store(false, Ordering::Release);
        }
    }
}

/// Starts the assembling thread inside `scope`; `publish` receives every snapshot, in order.
/// The thread ends when the returned [`Snapshotter`] is dropped.
pub(super) fn start<'scope, 'env, F>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    info: CaptureInfo,
    opts: &Options,
    policy: SnapshotPolicy,
    mut publish: F,
) -> Snapshotter
where
    F: FnMut(Snapshot) + Send + 'scope,
{
    let (tx, rx) = bounded::<Request>(1);
    let busy = Arc::new(AtomicBool::new(false));
    let cost_ns = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (b, c) = (Arc::clone(&busy), Arc::clone(&cost_ns));
    let opts = opts.clone();
    scope.spawn(move || {
        for req in rx {
            let t0 = Instant::now();
            let progress = req.progress;
            if let Some(analysis) = assemble(req, &info, &opts) {
                publish(Snapshot {
                    progress,
                    analysis: Arc::new(analysis),
                });
            }
            let cost = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
            c.store(cost, Ordering::Relaxed);
            b.store(false, Ordering::Release);
        }
    });
    Snapshotter {
        policy,
        busy,
        next_due: Instant::now() + policy.first_after,
        last_packets: 0,
        cost_ns,
        requests: tx,
    }
}

/// Collects the parts of one snapshot and runs detection on them (`None` if a consumer thread
/// is gone).
fn assemble(req: Request, info: &CaptureInfo, opts: &Options) -> Option<Analysis> {
    let mut agg = req.tables.recv().ok()?;
    agg.timeline = req.timeline.recv().ok()?;
    agg.index = req.index;
    agg.index_first = req.index_first;
    agg.retention = opts.retention.filter(|r| !r.is_unbounded());
    let track = req.residual.and_then(|r| r.recv().ok());
    let findings = super::detect_all(&agg, opts, track.as_ref());
    Some(Analysis {
        info: info.clone(),
        warnings: Vec::new(),
        agg,
        findings: Arc::new(findings),
        filter: opts.filter.clone(),
        packets: None,
    })
}
