//! The engine: owns everything learned from a capture and drives the one streaming pass.
//!
//! `analyze` is the headless entry point (report, rules, bench, tests): it runs the ingest
//! pipeline to the end and returns an [`Analysis`]. Later stages (detectors, algebra) plug into
//! [`Aggregates::observe`] so there is still exactly one pass over the packets. The pass
//! itself (reader, decoding, consumer threads) is `engine/pass.rs`.

pub mod community_id;
pub mod entities;
pub mod flows;
pub mod ingest;
pub mod kept;
mod pass;
pub mod retention;
pub mod sampler;
pub mod snapshot;

use crate::capture::{CaptureInfo, PacketSource, Warning};
use crate::decode::{self, Packet};
use crate::time::Timestamp;
use crate::timeline::Timeline;
use entities::EntityTable;
use flows::FlowTable;
use pass::ingest_all;
pub use snapshot::{Snapshot, SnapshotPolicy};
use std::collections::BTreeMap;

/// Options of one analysis.
#[derive(Clone, Debug)]
pub struct Options {
    /// Fixed bucket width in nanoseconds; `None` chooses it from the capture.
    pub bucket_ns: Option<i64>,
    /// Build only the timeline, not flows/entities/sessions (the `timeline` stage of
    /// `holoscope bench`, which measures exactly read + decode + timeline).
    pub timeline_only: bool,
    /// Detection settings (baseline, thresholds, weights).
    pub detect: crate::detect::DetectOptions,
    /// Run the residual-profile stage on its own thread (default true; `--no-residual`).
    pub residual: bool,
    /// Keep only the recent part of the stream in detail (`--retention`); `None` keeps all.
    pub retention: Option<retention::Retention>,
    /// Capture filter (`--filter`): packets it rejects are decoded, counted in the filter and
    /// dropped before every aggregate and the packet index.
    pub filter: Option<std::sync::Arc<crate::rules::filter::PacketFilter>>,
    /// Keep the decoded packets, up to this many, for a stage that needs them again (rule
    /// drafting; see [`kept`]); a capture beyond it keeps none. `None` (the default) keeps
    /// none, and so does a live capture or a bounded `retention`, whose point is flat memory.
    pub keep_packets: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            bucket_ns: None,
            timeline_only: false,
            detect: crate::detect::DetectOptions::default(),
            residual: true,
            retention: None,
            filter: None,
            keep_packets: None,
        }
    }
}

/// Counters over the whole capture.
#[derive(Clone, Debug, Default)]
pub struct CaptureStats {
    /// Records read.
    pub packets: u64,
    /// Bytes on the wire (original lengths).
    pub bytes: u64,
    /// Earliest timestamp.
    pub first_ts: Option<Timestamp>,
    /// Latest timestamp.
    pub last_ts: Option<Timestamp>,
    /// Records per link type.
    pub link_types: BTreeMap<u16, u64>,
    /// Packets per decoded protocol, indexed like [`PROTOCOLS`] (see [`CaptureStats::decoded`]).
    pub protocols: [u64; PROTOCOLS.len()],
    /// Packets whose decoding stopped early, per (layer, reason).
    pub stops: BTreeMap<(decode::Layer, &'static str), u64>,
}

/// Protocol counters of [`CaptureStats`], in report order. A fixed array, not a map keyed by
/// name: these are bumped several times per packet on the hot path.
pub const PROTOCOLS: [&str; 15] = [
    "ethernet",
    "vlan",
    "mpls",
    "ipv4",
    "ipv6",
    "ip_fragment",
    "tcp",
    "udp",
    "icmp",
    "icmpv6",
    "dns",
    "tls_sni",
    "tls_client_hello",
    "http",
    "ntp",
];

impl CaptureStats {
    /// Packets per decoded protocol name (`ethernet`, `ipv4`, `tcp`, `dns`, `tls_sni`...),
    /// protocols never seen left out.
    #[must_use]
    pub fn decoded(&self) -> BTreeMap<&'static str, u64> {
        PROTOCOLS
            .iter()
            .zip(self.protocols)
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (*k, n))
            .collect()
    }

    fn merge(&mut self, o: CaptureStats) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.first_ts = match (self.first_ts, o.first_ts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_ts = match (self.last_ts, o.last_ts) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (k, v) in o.link_types {
            *self.link_types.entry(k).or_default() += v;
        }
        for (mine, theirs) in self.protocols.iter_mut().zip(o.protocols) {
            *mine += theirs;
        }
        for (k, v) in o.stops {
            *self.stops.entry(k).or_default() += v;
        }
    }

    fn observe(&mut self, pkt: &Packet) {
        self.packets += 1;
        self.bytes += u64::from(pkt.frame_len);
        self.first_ts = Some(self.first_ts.map_or(pkt.ts, |t| t.min(pkt.ts)));
        self.last_ts = Some(self.last_ts.map_or(pkt.ts, |t| t.max(pkt.ts)));
        *self.link_types.entry(pkt.link_type).or_default() += 1;
        let c = &mut self.protocols;
        // Indexes into PROTOCOLS.
        c[0] += u64::from(pkt.src_mac.is_some() && pkt.link_type == 1);
        c[1] += u64::from(pkt.vlan.is_some());
        c[2] += u64::from(pkt.mpls_label.is_some());
        c[3] += u64::from(pkt.ip_version == Some(4));
        c[4] += u64::from(pkt.ip_version == Some(6));
        c[5] += u64::from(pkt.frag_more == Some(true) || pkt.frag_offset.is_some_and(|o| o > 0));
        match pkt.proto {
            Some(6) if pkt.tcp_flags.is_some() => c[6] += 1,
            Some(17) if pkt.src_port.is_some() => c[7] += 1,
            Some(1) if pkt.icmp_type.is_some() => c[8] += 1,
            Some(58) if pkt.icmp_type.is_some() => c[9] += 1,
            _ => {}
        }
        c[10] += u64::from(pkt.dns.is_some());
        if let Some(t) = &pkt.tls {
            c[if t.sni.is_some() { 11 } else { 12 }] += 1;
        }
        c[13] += u64::from(pkt.http.is_some());
        c[14] += u64::from(pkt.ntp.is_some());
        if let Some(s) = &pkt.stopped {
            *self.stops.entry((s.layer, s.reason)).or_default() += 1;
        }
    }
}

/// Everything aggregated from the packets.
#[derive(Debug, Default, Clone)]
pub struct Aggregates {
    /// Whole-capture counters.
    pub stats: CaptureStats,
    /// Time buckets.
    pub timeline: Timeline,
    /// Conversations.
    pub flows: FlowTable,
    /// Hosts.
    pub entities: EntityTable,
    /// Byte offset of every packet in the (decompressed) stream, in file order: the per-packet
    /// index used to re-read a packet later without decoding the file again.
    pub index: Vec<u64>,
    /// Per-session statistics for the protocol-expectation checks.
    pub sessions: crate::detect::session::SessionTable,
    /// Packet number of `index[0]` (nonzero once retention dropped older entries).
    pub index_first: u64,
    /// The retention the pass applied, if any.
    pub retention: Option<retention::Retention>,
    /// Sampling of a live source (`None` for files and stdin, which never sample).
    pub sampling: Option<ingest::Sampling>,
}

impl Aggregates {
    /// New aggregates for the given options.
    #[must_use]
    pub fn new(opts: &Options) -> Self {
        let timeline = opts
            .bucket_ns
            .map_or_else(Timeline::default, Timeline::fixed);
        Self {
            timeline,
            ..Self::default()
        }
    }

    /// Feeds one decoded packet to every aggregate (the index is kept by the caller).
    pub fn observe(&mut self, pkt: &Packet) {
        self.timeline.add(pkt);
        self.timeline.flush();
        self.observe_tables(pkt);
    }

    /// Feeds one packet to everything but the timeline (which [`analyze`] runs on its own
    /// thread).
    pub fn observe_tables(&mut self, pkt: &Packet) {
        self.stats.observe(pkt);
        if let Some((slot, key)) = self.flows.add(pkt) {
            self.sessions.add_at(slot, key, pkt);
        }
        self.entities.add(pkt);
    }

    /// Index entries from packet number `packet_no` on (numbered from the start of the
    /// stream; retention may have dropped earlier entries, which are then skipped).
    #[must_use]
    pub fn index_from(&self, packet_no: u64) -> &[u64] {
        let skip =
            usize::try_from(packet_no.saturating_sub(self.index_first)).unwrap_or(usize::MAX);
        self.index.get(skip.min(self.index.len())..).unwrap_or(&[])
    }

    /// What retention did, when it was set.
    #[must_use]
    pub fn retention_report(&self) -> Option<retention::RetentionReport> {
        let r = self.retention?;
        let h = self.timeline.history();
        #[allow(clippy::cast_precision_loss)]
        Some(retention::RetentionReport {
            span_s: r.span_ns.map(|ns| ns as f64 / 1e9),
            bytes: r.bytes,
            cutoff_ts: h.to_ns.map(|ns| ns as f64 / 1e9),
            buckets_folded: h.buckets,
            packets_in_history: h.packets(),
            flows_evicted: self.flows.evicted(),
            entities_evicted: self.entities.evicted(),
            index_dropped: self.index_first,
        })
    }

    /// Adds aggregates of another part of a capture (or of another capture). Every part is a
    /// sum, so the result does not depend on how packets were split, except for which values
    /// bounded sets keep once full.
    pub fn merge(&mut self, other: Aggregates) {
        self.stats.merge(other.stats);
        self.timeline.merge(other.timeline);
        self.flows.merge(other.flows);
        self.entities.merge(other.entities);
        self.sessions.merge(other.sessions);
        self.index.extend(other.index);
    }
}

/// The result of a complete pass over a capture.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Source facts.
    pub info: CaptureInfo,
    /// Reader and decoder warnings, in the order found.
    pub warnings: Vec<Warning>,
    /// Everything aggregated.
    pub agg: Aggregates,
    /// What detection found (an immutable snapshot, shareable with the TUI).
    pub findings: std::sync::Arc<crate::detect::Findings>,
    /// The capture filter the pass applied (`--filter`), if any: passes that read the capture
    /// again (rule drafting, replay) apply it too, so rules are drafted and judged on the
    /// traffic that was analysed.
    pub filter: Option<std::sync::Arc<crate::rules::filter::PacketFilter>>,
    /// The decoded packets, when [`Options::keep_packets`] asked for them and they fitted.
    pub packets: Option<kept::KeptPackets>,
}

/// Progress of a running pass (for progress bars).
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Packets processed.
    pub packets: u64,
    /// Stream offset reached (decompressed bytes).
    pub offset: u64,
    /// Live sampling: 1 in this many packets is kept right now (0 or 1: no sampling).
    pub sample_ratio: u64,
}

/// Runs the whole pipeline on a source and returns the analysis.
///
/// Threads: a reader; this thread decoding batches and keeping the file-order index; one
/// thread for the timeline, one for the other aggregates and one for the residual stage.
/// Channels are bounded, so memory stays flat on endless input.
pub fn analyze(
    source: Box<dyn PacketSource + Send>,
    opts: &Options,
    progress: impl FnMut(Progress),
) -> Analysis {
    analyze_with(
        source,
        opts,
        progress,
        None::<(SnapshotPolicy, fn(Snapshot))>,
    )
}

/// [`analyze`], publishing [`Snapshot`]s of the pass so far to `snapshots` while it runs (at
/// most as often as the policy allows; see [`snapshot`]). The final analysis is returned as
/// usual and is not published.
pub fn analyze_with<F>(
    source: Box<dyn PacketSource + Send>,
    opts: &Options,
    progress: impl FnMut(Progress),
    snapshots: Option<(SnapshotPolicy, F)>,
) -> Analysis
where
    F: FnMut(Snapshot) + Send,
{
    let (info, warnings, agg, track, packets) = ingest_all(source, opts, progress, snapshots);
    let findings = std::sync::Arc::new(detect_all(&agg, opts, track.as_ref()));
    Analysis {
        info,
        warnings,
        agg,
        findings,
        filter: opts.filter.clone(),
        packets,
    }
}

/// Detection over aggregates, with the residual track when the stage ran.
fn detect_all(
    agg: &Aggregates,
    opts: &Options,
    track: Option<&crate::detect::residual::ResidualTrack>,
) -> crate::detect::Findings {
    match track.map(|t| t.for_timeline(&agg.timeline)) {
        Some((map, summaries)) => {
            let mut f = crate::detect::detect(agg, &opts.detect, Some(&summaries));
            f.attach_residual(map);
            f
        }
        None => crate::detect::detect(agg, &opts.detect, None),
    }
}

/// The streaming pass alone (no detection): source facts, warnings and aggregates. The
/// residual stage, whose result only detection uses, does not run here (see [`analyze`]).
pub fn ingest(
    source: Box<dyn PacketSource + Send>,
    opts: &Options,
    progress: impl FnMut(Progress),
) -> (CaptureInfo, Vec<Warning>, Aggregates) {
    let opts = Options {
        residual: false,
        keep_packets: None,
        ..opts.clone()
    };
    let (info, warnings, agg, ..) = ingest_all(
        source,
        &opts,
        progress,
        None::<(SnapshotPolicy, fn(Snapshot))>,
    );
    (info, warnings, agg)
}
