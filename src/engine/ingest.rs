//! The streaming ingest pipeline: source -> decode -> aggregates, in one pass, on all cores.
//!
//! A reader thread copies records into batches (so the parser's buffer can move on); the calling
//! thread decodes each batch (see [`decode_batch`] for why not on the rayon pool), runs the one
//! stateful decoding stage (TLS first-flight reassembly) in file order, and feeds every packet
//! to the sink. Bounded channels keep memory flat however large the input.

use super::sampler::Sampler;
pub use super::sampler::{MAX_SAMPLE_RATIO, SampleCounters, Sampling};
use crate::capture::{CaptureInfo, LinkType, OwnedPacket, PacketSource, RawPacket, Warning};
use crate::decode::{self, Packet};
use crate::time::Timestamp;
use crossbeam_channel::{Receiver, TrySendError, bounded};
use rayon::prelude::*;
use std::sync::Arc;

/// Records per batch: large enough to amortise channel and rayon overhead, small enough that a
/// batch of jumbo frames stays a few megabytes.
pub const BATCH_RECORDS: usize = 4096;

/// Decoded batches each consumer thread (timeline, tables, residual stage) may have queued.
/// The consumers share each batch, so this bounds the decoded packets in flight (about 13 MB
/// at 16 batches of 4,096), not their number of copies. At 4, the decoding thread waited on
/// the slowest consumer's full queue while the others ran dry, and the pass left a core idle
/// now and then: 16 took 2.2% off `report`'s wall time on the bench capture, CPU unchanged
/// (medians of 10 and 12 alternating runs, 40 ms each time).
pub const CONSUMER_QUEUE: usize = 16;

/// Metadata of one record in a batch; the bytes live in the batch's shared buffer.
#[derive(Clone, Copy, Debug)]
struct RecMeta {
    ts: Timestamp,
    interface: u32,
    link: LinkType,
    orig_len: u32,
    offset: u64,
    start: usize,
    len: usize,
}

/// A batch of records copied out of the reader's buffer.
#[derive(Default)]
pub struct RawBatch {
    data: Vec<u8>,
    recs: Vec<RecMeta>,
}

impl RawBatch {
    fn push(&mut self, p: &RawPacket<'_>) {
        let start = self.data.len();
        self.data.extend_from_slice(p.data);
        self.recs.push(RecMeta {
            ts: p.ts,
            interface: p.interface,
            link: p.link,
            orig_len: p.orig_len,
            offset: p.offset,
            start,
            len: p.data.len(),
        });
    }

    /// Number of records.
    #[must_use]
    pub fn len(&self) -> usize {
        self.recs.len()
    }

    /// True when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// The latest timestamp of the batch's records (`None` when empty). Records need not be
    /// in time order, so this is a maximum, not the last record's.
    #[must_use]
    pub fn latest(&self) -> Option<Timestamp> {
        self.recs.iter().map(|r| r.ts).max()
    }

    /// The i-th record.
    #[must_use]
    pub fn raw(&self, i: usize) -> Option<RawPacket<'_>> {
        let r = self.recs.get(i)?;
        Some(RawPacket {
            ts: r.ts,
            interface: r.interface,
            link: r.link,
            orig_len: r.orig_len,
            data: self.data.get(r.start..r.start + r.len)?,
            offset: r.offset,
        })
    }

    /// The i-th record decoded (an empty packet past the end).
    fn decode(&self, i: usize) -> Packet {
        self.raw(i).map(|r| decode::decode(&r)).unwrap_or_default()
    }

    /// Iterates over the records.
    pub fn iter(&self) -> impl Iterator<Item = RawPacket<'_>> {
        (0..self.recs.len()).filter_map(|i| self.raw(i))
    }

    /// Every other record (the sampler halving a batch it could not hand on).
    #[must_use]
    pub fn thin(&self) -> RawBatch {
        let mut out = RawBatch::default();
        for i in (0..self.recs.len()).step_by(2) {
            if let Some(r) = self.raw(i) {
                out.push(&r);
            }
        }
        out
    }

    /// Owned copies (tests).
    #[must_use]
    pub fn to_owned_packets(&self) -> Vec<OwnedPacket> {
        self.iter().map(|r| r.to_owned()).collect()
    }
}

/// What the reader thread hands back when the stream ends.
pub struct ReaderEnd {
    /// Source facts.
    pub info: CaptureInfo,
    /// Warnings from the source (truncation, corruption, timestamps...).
    pub warnings: Vec<Warning>,
    /// Bytes read from the stream.
    pub bytes_read: u64,
    /// An I/O error that ended reading early, if any.
    pub error: Option<String>,
}

/// Starts the reader thread. Batches arrive on the returned channel; the join handle yields
/// the source's closing facts. The reader waits when the consumers are behind.
pub fn spawn_reader(
    source: Box<dyn PacketSource + Send>,
    batch_records: usize,
) -> (
    Receiver<RawBatch>,
    std::io::Result<std::thread::JoinHandle<ReaderEnd>>,
) {
    spawn_reader_with(source, batch_records, None)
}

/// Like [`spawn_reader`]; with `sampler`, a full channel never blocks the reader (a live
/// socket would then overflow and the kernel drop packets silently): it keeps 1 in N packets,
/// doubling N while the consumers stay behind and halving it once they keep up, and counts
/// what it left out.
pub fn spawn_reader_with(
    mut source: Box<dyn PacketSource + Send>,
    batch_records: usize,
    sampler: Option<Arc<SampleCounters>>,
) -> (
    Receiver<RawBatch>,
    std::io::Result<std::thread::JoinHandle<ReaderEnd>>,
) {
    let (tx, rx) = bounded::<RawBatch>(4);
    let handle = std::thread::Builder::new()
        .name("holo-reader".into())
        .spawn(move || {
            // Sources that wait for data (live, follow) get a hook that hands over the partial
            // batch whenever they wait, so nothing sits in the reader while traffic is quiet.
            // They pay a lock per record; files keep the lock-free loop below.
            let shared = std::sync::Arc::new(std::sync::Mutex::new(RawBatch::default()));
            let (slot, hook_tx) = (std::sync::Arc::clone(&shared), tx.clone());
            let waits = source.set_idle_hook(Box::new(move || {
                let taken = slot
                    .lock()
                    .ok()
                    .filter(|b| !b.is_empty())
                    .map(|mut b| std::mem::take(&mut *b));
                if let Some(b) = taken {
                    let _ = hook_tx.send(b);
                }
            }));
            let mut batch = RawBatch::default();
            let mut error = None;
            let mut s = Sampler::default();
            let to = Offer {
                tx: &tx,
                sampler: sampler.as_deref(),
                batch_records: batch_records.max(1),
            };
            loop {
                match source.next_packet() {
                    Ok(Some(p)) => {
                        let go = if waits {
                            shared.lock().is_ok_and(|mut b| to.take(&mut b, &p, &mut s))
                        } else {
                            to.take(&mut batch, &p, &mut s)
                        };
                        if !go {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        error = Some(e.to_string());
                        break;
                    }
                }
            }
            if let Ok(mut b) = shared.lock() {
                let rest = std::mem::take(&mut *b);
                if !rest.is_empty() {
                    let _ = tx.send(rest);
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            if let Some(c) = &sampler {
                s.publish(c);
            }
            ReaderEnd {
                info: source.info().clone(),
                warnings: source.take_warnings(),
                bytes_read: source.bytes_read(),
                error,
            }
        });
    (rx, handle)
}

/// Where the reader's records go: the channel, sampling when a live source outruns the
/// consumers.
struct Offer<'a> {
    tx: &'a crossbeam_channel::Sender<RawBatch>,
    sampler: Option<&'a SampleCounters>,
    batch_records: usize,
}

impl Offer<'_> {
    /// Adds one record to `batch` and sends the batch when it is full; false when the
    /// consumers are gone and reading must stop.
    fn take(&self, batch: &mut RawBatch, p: &RawPacket<'_>, s: &mut Sampler) -> bool {
        s.seen += 1;
        if self.sampler.is_some() && s.skip() {
            return true;
        }
        batch.push(p);
        // While the consumers are behind, a held batch is offered again each time it grows by
        // another batch's worth.
        if !batch.recs.len().is_multiple_of(self.batch_records) {
            return true;
        }
        // The next batch starts at this one's size: growing from empty re-copied every batch's
        // bytes several times (callgrind: 5% of read + decode + timeline in realloc copies).
        let fresh = RawBatch {
            data: Vec::with_capacity(batch.data.len() + batch.data.len() / 8),
            recs: Vec::with_capacity(self.batch_records),
        };
        let Some(counters) = self.sampler else {
            // A send error means the consumer is gone: stop reading.
            return self.tx.send(std::mem::replace(batch, fresh)).is_ok();
        };
        match self.tx.try_send(std::mem::replace(batch, fresh)) {
            Ok(()) => s.kept_up(),
            Err(TrySendError::Full(b)) => {
                *batch = b;
                s.behind();
                // Hold at most a few batches: halve what is held beyond that.
                if batch.len() >= 4 * self.batch_records {
                    let thin = batch.thin();
                    s.dropped += (batch.len() - thin.len()) as u64;
                    *batch = thin;
                }
            }
            Err(TrySendError::Disconnected(_)) => return false,
        }
        s.publish(counters);
        true
    }
}

/// Decodes a batch on the calling thread, then runs TLS first-flight reassembly in file order.
///
/// The streaming pass decodes here, not on the rayon pool: its consumer threads (timeline,
/// tables, residual stage) keep every core busy, and the pass goes no faster than the slowest
/// of them (the tables thread, about 0.35 µs of CPU per packet in a profile of the bench
/// capture), which one thread decoding outruns (the bench's read + decode + timeline stage:
/// 4.1 M packets/s decoding here, 3.7 M on the pool). Spread over the pool, each batch's
/// decoding only added hand-offs and wake-ups: `report` on the 1.5 M-packet bench capture
/// took 3.5% less wall time and 2.6% less CPU decoding here (medians of 12 alternating runs).
pub fn decode_batch(batch: &RawBatch, tls: &mut decode::tls::FirstFlight) -> Vec<Packet> {
    let mut pkts: Vec<Packet> = (0..batch.recs.len()).map(|i| batch.decode(i)).collect();
    reassemble(batch, &mut pkts, tls);
    pkts
}

/// [`decode_batch`] on all cores (order preserved): for a pass whose only other work is one
/// serial visit of the packets (drafting's second reading of a capture), which leaves a core
/// to decoding.
pub fn decode_batch_parallel(batch: &RawBatch, tls: &mut decode::tls::FirstFlight) -> Vec<Packet> {
    let mut pkts: Vec<Packet> = (0..batch.recs.len())
        .into_par_iter()
        .with_min_len(256)
        .map(|i| batch.decode(i))
        .collect();
    reassemble(batch, &mut pkts, tls);
    pkts
}

/// TLS first-flight reassembly over a decoded batch, in file order.
fn reassemble(batch: &RawBatch, pkts: &mut [Packet], tls: &mut decode::tls::FirstFlight) {
    for (i, pkt) in pkts.iter_mut().enumerate() {
        if pkt.proto != Some(6) {
            continue;
        }
        let Some(raw) = batch.raw(i) else { continue };
        let payload = decode::transport_payload(pkt, raw.data);
        if !payload.is_empty() {
            tls.observe(pkt, payload);
        }
    }
}

/// Drops the packets a capture filter rejects, from the decoded batch and from the raw batch
/// (whose offsets feed the packet index), and counts both outcomes in the filter. TLS
/// reassembly already saw every packet, so a filter on `tls_sni` sees reassembled names.
#[must_use]
pub fn apply_filter(
    filter: Option<&crate::rules::filter::PacketFilter>,
    mut batch: RawBatch,
    mut pkts: Vec<Packet>,
) -> (RawBatch, Vec<Packet>) {
    let Some(f) = filter else {
        return (batch, pkts);
    };
    let keep: Vec<bool> = pkts.iter().map(|p| f.matches(p)).collect();
    let kept = keep.iter().filter(|k| **k).count();
    f.count(kept as u64, (keep.len() - kept) as u64);
    if kept < keep.len() {
        let mut k = keep.iter();
        pkts.retain(|_| k.next().copied().unwrap_or(false));
        let mut k = keep.iter();
        batch.recs.retain(|_| k.next().copied().unwrap_or(false));
    }
    (batch, pkts)
}

/// Starts the residual-profile consumer (`holo-residual`) when the options ask for it: a
/// sender for packet batches (file order) and the thread that returns the stage's track.
#[allow(clippy::type_complexity)]
pub(super) fn spawn_residual(
    opts: &super::Options,
) -> Option<(
    crossbeam_channel::Sender<super::snapshot::Msg<crate::detect::residual::ResidualTrack>>,
    std::thread::JoinHandle<crate::detect::residual::ResidualTrack>,
)> {
    if !opts.residual || opts.timeline_only {
        return None;
    }
    let mut ro = crate::detect::residual::ResidualOptions::new(&opts.detect, opts.bucket_ns);
    let retention = opts.retention;
    if retention.is_some_and(|r| !r.is_unbounded()) {
        // On endless input new values never stop arriving: the leaf cache would fill its whole
        // default budget (256 MB) over hours. A retained window needs far fewer leaves.
        ro.leaf_budget = ro.leaf_budget.min(super::retention::LEAF_BUDGET);
    }
    let (tx, rx) =
        bounded::<super::snapshot::Msg<crate::detect::residual::ResidualTrack>>(CONSUMER_QUEUE);
    let handle = std::thread::Builder::new()
        .name("holo-residual".into())
        .spawn(move || {
            use super::snapshot::Msg;
            let mut stage = crate::detect::residual::ResidualStage::new(ro);
            let mut keep = super::retention::Keeper::new(retention);
            for msg in rx {
                match msg {
                    Msg::Batch(batch) => {
                        for p in batch.iter() {
                            stage.observe(p);
                        }
                        keep.residual(&mut stage, &batch);
                    }
                    Msg::Snap(to) => super::snapshot::reply(&to, stage.snapshot()),
                }
            }
            stage.finish()
        })
        .ok()?;
    Some((tx, handle))
}
