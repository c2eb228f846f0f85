//! The engine: owns everything learned from a capture and drives the one streaming pass.
//!
//! `analyze` is the headless entry point (report, rules, bench, tests): it runs the ingest
//! pipeline to the end and returns an [`Analysis`]. Later stages (detectors, algebra) plug into
//! [`Aggregates::observe`] so there is still exactly one pass over the packets.

pub mod community_id;
pub mod entities;
pub mod flows;
pub mod ingest;

use crate::capture::{CaptureInfo, PacketSource, Warning, WarningKind};
use crate::decode::{self, Packet};
use crate::time::Timestamp;
use crate::timeline::Timeline;
use entities::EntityTable;
use flows::FlowTable;
use std::collections::BTreeMap;

/// Options of one analysis.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Fixed bucket width in nanoseconds; `None` chooses it from the capture.
    pub bucket_ns: Option<i64>,
    /// Detection settings (baseline, thresholds, weights).
    pub detect: crate::detect::DetectOptions,
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
    /// Packets per decoded protocol (`ethernet`, `ipv4`, `tcp`, `dns`, `tls_sni`...).
    pub decoded: BTreeMap<&'static str, u64>,
    /// Packets whose decoding stopped early, per (layer, reason).
    pub stops: BTreeMap<(decode::Layer, &'static str), u64>,
}

impl CaptureStats {
    fn observe(&mut self, pkt: &Packet) {
        self.packets += 1;
        self.bytes += u64::from(pkt.frame_len);
        self.first_ts = Some(self.first_ts.map_or(pkt.ts, |t| t.min(pkt.ts)));
        self.last_ts = Some(self.last_ts.map_or(pkt.ts, |t| t.max(pkt.ts)));
        *self.link_types.entry(pkt.link_type).or_default() += 1;
        let mut bump = |k: &'static str| *self.decoded.entry(k).or_default() += 1;
        if pkt.src_mac.is_some() && pkt.link_type == 1 {
            bump("ethernet");
        }
        if pkt.vlan.is_some() {
            bump("vlan");
        }
        if pkt.mpls_label.is_some() {
            bump("mpls");
        }
        match pkt.ip_version {
            Some(4) => bump("ipv4"),
            Some(6) => bump("ipv6"),
            _ => {}
        }
        if pkt.frag_more == Some(true) || pkt.frag_offset.is_some_and(|o| o > 0) {
            bump("ip_fragment");
        }
        match pkt.proto {
            Some(6) if pkt.tcp_flags.is_some() => bump("tcp"),
            Some(17) if pkt.src_port.is_some() => bump("udp"),
            Some(1) if pkt.icmp_type.is_some() => bump("icmp"),
            Some(58) if pkt.icmp_type.is_some() => bump("icmpv6"),
            _ => {}
        }
        if pkt.dns.is_some() {
            bump("dns");
        }
        if let Some(t) = &pkt.tls {
            bump(if t.sni.is_some() {
                "tls_sni"
            } else {
                "tls_client_hello"
            });
        }
        if pkt.http.is_some() {
            bump("http");
        }
        if pkt.ntp.is_some() {
            bump("ntp");
        }
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

    /// Feeds one decoded packet to every aggregate.
    pub fn observe(&mut self, pkt: &Packet, offset: u64) {
        self.stats.observe(pkt);
        self.timeline.add(pkt);
        self.flows.add(pkt);
        self.entities.add(pkt);
        self.sessions.add(pkt);
        self.index.push(offset);
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
}

/// Progress of a running pass (for progress bars).
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Packets processed.
    pub packets: u64,
    /// Stream offset reached (decompressed bytes).
    pub offset: u64,
}

/// Runs the whole pipeline on a source and returns the analysis.
pub fn analyze(
    source: Box<dyn PacketSource + Send>,
    opts: &Options,
    mut progress: impl FnMut(Progress),
) -> Analysis {
    let (rx, reader) = ingest::spawn_reader(source, ingest::BATCH_RECORDS);
    let mut agg = Aggregates::new(opts);
    let mut tls = decode::tls::FirstFlight::default();
    let mut last_offset = 0;
    for batch in rx {
        let pkts = ingest::decode_batch(&batch, &mut tls);
        for (i, pkt) in pkts.iter().enumerate() {
            let off = batch.raw(i).map_or(0, |r| r.offset);
            last_offset = off;
            agg.observe(pkt, off);
        }
        progress(Progress {
            packets: agg.stats.packets,
            offset: last_offset,
        });
    }
    let end = match reader.join() {
        Ok(end) => end,
        Err(_) => ingest::ReaderEnd {
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
    let findings = std::sync::Arc::new(crate::detect::detect(&agg, &opts.detect, None));
    Analysis {
        info: end.info,
        warnings,
        agg,
        findings,
    }
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
                "{n} records of unsupported link type ({}) counted, not decoded",
                types.join(", ")
            )
        } else {
            format!("{n} packets stopped decoding at {}: {reason}", layer.name())
        };
        out.push(Warning {
            kind,
            message: detail,
            offset: None,
        });
    }
    out
}
