//! The streaming ingest pipeline: source -> decode -> aggregates, in one pass, on all cores.
//!
//! A reader thread copies records into batches (so the parser's buffer can move on); the calling
//! thread decodes each batch in parallel with rayon (order preserved), runs the one stateful
//! decoding stage (TLS first-flight reassembly) in file order, and feeds every packet to the
//! sink. Bounded channels keep memory flat however large the input.

use crate::capture::{CaptureInfo, LinkType, OwnedPacket, PacketSource, RawPacket, Warning};
use crate::decode::{self, Packet};
use crate::time::Timestamp;
use crossbeam_channel::{Receiver, bounded};
use rayon::prelude::*;

/// Records per batch: large enough to amortise channel and rayon overhead, small enough that a
/// batch of jumbo frames stays a few megabytes.
pub const BATCH_RECORDS: usize = 4096;

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

    /// Iterates over the records.
    pub fn iter(&self) -> impl Iterator<Item = RawPacket<'_>> {
        (0..self.recs.len()).filter_map(|i| self.raw(i))
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
/// the source's closing facts.
pub fn spawn_reader(
    mut source: Box<dyn PacketSource + Send>,
    batch_records: usize,
) -> (
    Receiver<RawBatch>,
    std::io::Result<std::thread::JoinHandle<ReaderEnd>>,
) {
    let (tx, rx) = bounded::<RawBatch>(4);
    let handle = std::thread::Builder::new()
        .name("holo-reader".into())
        .spawn(move || {
            let mut batch = RawBatch::default();
            let mut error = None;
            loop {
                match source.next_packet() {
                    Ok(Some(p)) => {
                        batch.push(&p);
                        if batch.recs.len() >= batch_records {
                            // The next batch starts at this one's size: growing from empty
                            // re-copied every batch's bytes several times (callgrind: 5% of
                            // read + decode + timeline in realloc copies).
                            let next = RawBatch {
                                data: Vec::with_capacity(batch.data.len() + batch.data.len() / 8),
                                recs: Vec::with_capacity(batch_records),
                            };
                            // A send error means the consumer is gone: stop reading.
                            if tx.send(std::mem::replace(&mut batch, next)).is_err() {
                                break;
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        error = Some(e.to_string());
                        break;
                    }
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
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

/// Decodes a batch on all cores (order preserved), then runs TLS first-flight reassembly in
/// file order.
pub fn decode_batch(batch: &RawBatch, tls: &mut decode::tls::FirstFlight) -> Vec<Packet> {
    let mut pkts: Vec<Packet> = (0..batch.recs.len())
        .into_par_iter()
        .with_min_len(256)
        .map(|i| batch.raw(i).map(|r| decode::decode(&r)).unwrap_or_default())
        .collect();
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
    pkts
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
pub fn spawn_residual(
    opts: &super::Options,
) -> Option<(
    crossbeam_channel::Sender<std::sync::Arc<Vec<Packet>>>,
    std::thread::JoinHandle<crate::detect::residual::ResidualTrack>,
)> {
    if !opts.residual || opts.timeline_only {
        return None;
    }
    let ro = crate::detect::residual::ResidualOptions::new(&opts.detect, opts.bucket_ns);
    let (tx, rx) = bounded::<std::sync::Arc<Vec<Packet>>>(4);
    let handle = std::thread::Builder::new()
        .name("holo-residual".into())
        .spawn(move || {
            let mut stage = crate::detect::residual::ResidualStage::new(ro);
            for batch in rx {
                for p in batch.iter() {
                    stage.observe(p);
                }
            }
            stage.finish()
        })
        .ok()?;
    Some((tx, handle))
}
