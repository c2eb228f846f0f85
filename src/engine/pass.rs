//! The streaming pass itself: the reader, parallel decoding and TLS first-flight reassembly
//! on the calling thread, and the consumer threads (timeline, tables, residual stage, kept
//! packets, snapshots) fed every batch in file order; then the warnings of the pass.

use super::{
    Aggregates, CaptureStats, Options, Progress, Snapshot, SnapshotPolicy, ingest, kept, retention,
    snapshot,
};
use crate::capture::{CaptureInfo, PacketSource, Warning, WarningKind};
use crate::decode;
use crate::timeline::Timeline;
/// What [`ingest_all`] returns: source facts, warnings, aggregates, the residual track and the
/// kept packets.
pub(super) type Ingested = (
    CaptureInfo,
    Vec<Warning>,
    Aggregates,
    Option<crate::detect::residual::ResidualTrack>,
    Option<kept::KeptPackets>,
);

/// Packets whose index entries the pass reserves room for at once (128 MiB of address space,
/// written only as packets come; a longer capture's index grows on by doubling).
const INDEX_RESERVE: usize = 1 << 24;

/// The streaming pass with the residual stage's result.
pub(super) fn ingest_all<F>(
    source: Box<dyn PacketSource + Send>,
    opts: &Options,
    mut progress: impl FnMut(Progress),
    snapshots: Option<(SnapshotPolicy, F)>,
) -> Ingested
where
    F: FnMut(Snapshot) + Send,
{
    use snapshot::Msg;
    let info = source.info().clone();
    // Only a live source samples: files and stdin wait for the consumers instead.
    let sampler = (info.format == crate::capture::CaptureFormat::Live)
        .then(|| std::sync::Arc::new(ingest::SampleCounters::default()));
    let (rx, reader) = ingest::spawn_reader_with(source, ingest::BATCH_RECORDS, sampler.clone());
    let mut tls = decode::tls::FirstFlight::default();
    let mut last_offset = 0;
    let mut index = Vec::new();
    let mut packets = 0u64;
    // The timeline gets its own thread; every other aggregate shares the second one. Each sees
    // every packet in file order, so the result is exactly that of a single thread.
    let (tl_tx, tl_rx) = crossbeam_channel::bounded::<Msg<Timeline>>(ingest::CONSUMER_QUEUE);
    let (tb_tx, tb_rx) = crossbeam_channel::bounded::<Msg<Aggregates>>(ingest::CONSUMER_QUEUE);
    let mut agg = Aggregates::new(opts);
    let mut timeline = std::mem::take(&mut agg.timeline);
    let (mut tl_keep, mut tb_keep) = (
        retention::Keeper::new(opts.retention),
        retention::Keeper::new(opts.retention),
    );
    let mut index_keep = retention::Keeper::new(opts.retention);
    let mut index_first = 0u64;
    let bounded = opts.retention.is_some_and(|r| !r.is_unbounded());
    let mut keeper = kept::Keeper::new(opts.keep_packets.filter(|_| sampler.is_none() && !bounded));
    let tl_thread = std::thread::Builder::new()
        .name("holo-timeline".into())
        .spawn(move || {
            for msg in tl_rx {
                match msg {
                    Msg::Batch(batch) => {
                        for p in batch.iter() {
                            timeline.add(p);
                        }
                        tl_keep.timeline(&mut timeline, &batch);
                    }
                    Msg::Snap(to) => {
                        let mut copy = timeline.clone();
                        copy.flush();
                        snapshot::reply(&to, copy);
                    }
                }
            }
            timeline.flush();
            timeline
        });
    let residual = ingest::spawn_residual(opts);
    let tables = !opts.timeline_only;
    let tables_thread = std::thread::Builder::new()
        .name("holo-tables".into())
        .spawn(move || {
            for msg in tb_rx {
                match msg {
                    Msg::Batch(batch) if tables => {
                        for p in batch.iter() {
                            agg.observe_tables(p);
                        }
                        tb_keep.tables(&mut agg, &batch);
                    }
                    Msg::Batch(_) => {}
                    Msg::Snap(to) => snapshot::reply(&to, agg.clone()),
                }
            }
            agg
        });
    std::thread::scope(|scope| {
        let mut snapper =
            snapshots.map(|(policy, publish)| snapshot::start(scope, info, opts, policy, publish));
        loop {
            // With snapshots, wake up during quiet periods too, so the last batch before a
            // pause gets published without waiting for more traffic.
            let next = if snapper.is_some() {
                rx.recv_timeout(snapshot::TICK)
            } else {
                rx.recv()
                    .map_err(|_| crossbeam_channel::RecvTimeoutError::Disconnected)
            };
            let batch = match next {
                Ok(b) => Some(b),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            };
            let batch_arrived = batch.is_some();
            if let Some(batch) = batch {
                let pkts = ingest::decode_batch(&batch, &mut tls);
                // Progress counts what was read, filtered or not.
                if let Some(r) = batch.iter().last() {
                    last_offset = r.offset;
                }
                let (batch, pkts) = ingest::apply_filter(opts.filter.as_deref(), batch, pkts);
                let pkts = std::sync::Arc::new(pkts);
                // 8 bytes a packet, every packet: grown by doubling it was copied again and
                // again (12 MB on the bench capture).
                super::flows::reserve_big(&mut index, batch.len(), INDEX_RESERVE);
                index.extend(batch.iter().map(|r| r.offset));
                packets += pkts.len() as u64;
                index_keep.index(&mut index, &mut index_first, &pkts);
                keeper.keep(&pkts);
                // Sends fail only if an aggregation thread died; ingest must not stall on it.
                let _ = tl_tx.send(Msg::Batch(std::sync::Arc::clone(&pkts)));
                if let Some((tx, _)) = &residual {
                    let _ = tx.send(Msg::Batch(std::sync::Arc::clone(&pkts)));
                }
                let _ = tb_tx.send(Msg::Batch(pkts));
            }
            let p = Progress {
                packets,
                offset: last_offset,
                sample_ratio: sampler
                    .as_ref()
                    .map_or(1, |s| s.ratio.load(std::sync::atomic::Ordering::Relaxed)),
            };
            if batch_arrived {
                progress(p);
            }
            if let Some(s) = &mut snapper {
                let to = snapshot::Consumers {
                    timeline: &tl_tx,
                    tables: &tb_tx,
                    residual: residual.as_ref().map(|(tx, _)| tx),
                };
                s.maybe_request(p, (&index, index_first), &to);
            }
        }
        // Dropping the snapshotter ends its thread once a snapshot in flight is published.
        drop(snapper);
    });
    drop((tl_tx, tb_tx));
    let track = residual.and_then(|(tx, handle)| {
        drop(tx);
        handle.join().ok()
    });
    let mut agg = match tables_thread.map(std::thread::JoinHandle::join) {
        Ok(Ok(a)) => a,
        _ => Aggregates::new(opts),
    };
    agg.timeline = match tl_thread.map(std::thread::JoinHandle::join) {
        Ok(Ok(t)) => t,
        _ => Timeline::default(),
    };
    agg.index = index;
    agg.index_first = index_first;
    agg.retention = opts.retention.filter(|r| !r.is_unbounded());
    agg.sampling = sampler.map(|s| s.summary());
    let end = match reader.map(std::thread::JoinHandle::join) {
        Ok(Ok(end)) => end,
        _ => ingest::ReaderEnd {
            info: CaptureInfo {
                source: String::new(),
                format: crate::capture::CaptureFormat::Pcap,
                compression: crate::capture::Compression::None,
            },
            warnings: vec![Warning {
                kind: WarningKind::Corrupt,
                message: "reader thread failed".into(),
                offset: None,
            }],
            bytes_read: 0,
            error: None,
        },
    };
    let mut warnings = end.warnings;
    if let Some(e) = end.error {
        warnings.push(Warning {
            kind: WarningKind::Truncated,
            message: format!("read error, stopped early: {e}"),
            offset: Some(last_offset),
        });
    }
    warnings.extend(decode_warnings(&agg.stats));
    if let Some(s) = agg.sampling.filter(|s| s.packets_dropped > 0) {
        warnings.push(Warning {
            kind: WarningKind::Sampled,
            message: format!(
                "ingest fell behind the link: {} of {} packets sampled out (up to 1 in {} kept); counts are of the kept packets",
                s.packets_dropped, s.packets_seen, s.max_ratio
            ),
            offset: None,
        });
    }
    (end.info, warnings, agg, track, keeper.finish())
}

/// Summarises link types we cannot decode and packets whose decoding stopped early.
fn decode_warnings(stats: &CaptureStats) -> Vec<Warning> {
    let mut out = Vec::new();
    for ((layer, reason), n) in &stats.stops {
        let kind = if *reason == decode::UNSUPPORTED_LINK {
            WarningKind::UnsupportedLinkType
        } else {
            WarningKind::DecodeError
        };
        let detail = if kind == WarningKind::UnsupportedLinkType {
            let types: Vec<String> = stats
                .link_types
                .keys()
                .filter(|lt| !decode::is_supported_link(**lt))
                .map(|lt| crate::capture::LinkType(*lt).name())
                .collect();
            format!(
                "{n} {} of unsupported link type ({}) counted, not decoded",
                crate::text::plural(*n, "record", "records"),
                types.join(", ")
            )
        } else {
            format!(
                "{n} {} decoding at {}: {reason}",
                crate::text::plural(*n, "packet stopped", "packets stopped"),
                layer.name()
            )
        };
        out.push(Warning {
            kind,
            message: detail,
            offset: None,
        });
    }
    out
}
