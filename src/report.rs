//! Headless reports: one serialisable model ([`Report`]) and three renderings of it
//! (JSON, Markdown, plain text).
//!
//! The JSON is a contract read by tests outside the repository: field names given by the issues
//! are kept forever; new fields may be added, none renamed or dropped.

pub mod alerts;
pub mod findings;
pub mod groups;
pub mod markdown;
pub mod rules;
pub mod table;
pub mod text;

use crate::engine::Analysis;
use crate::engine::flows::FlowRow;
use serde::Serialize;
use std::collections::BTreeMap;

/// Output format of `holoscope report`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Stable JSON contract.
    Json,
    /// Markdown tables.
    Markdown,
    /// Plain text for a terminal.
    Text,
}

/// One warning as reported.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct WarningRow {
    /// Category (`truncated`, `corrupt`, `unsupported_link_type`...).
    pub kind: String,
    /// One line for humans.
    pub message: String,
    /// Byte offset where it happened, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// The `capture` section.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CaptureSection {
    /// Path as given (`-` for standard input).
    pub source: String,
    /// `pcap`, `pcap-ns`, `pcap-modified` or `pcapng`.
    pub format: String,
    /// `none`, `gzip` or `zstd`.
    pub compression: String,
    /// Records read.
    pub packets: u64,
    /// Bytes on the wire.
    pub bytes: u64,
    /// First timestamp (UTC epoch seconds), null without packets.
    pub first_ts: Option<f64>,
    /// Last timestamp (UTC epoch seconds).
    pub last_ts: Option<f64>,
    /// Records per link type name.
    pub link_types: BTreeMap<String, u64>,
    /// Packets per decoded protocol.
    pub decoded: BTreeMap<String, u64>,
    /// Problems that did not stop processing.
    pub warnings: Vec<WarningRow>,
    /// What retention kept and folded (present only with `--retention` or a live capture).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<crate::engine::retention::RetentionReport>,
    /// Live sampling (present only for a live capture).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampling: Option<crate::engine::ingest::Sampling>,
}

/// One timeline bucket as reported.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BucketRow {
    /// Bucket start (UTC epoch seconds).
    pub start: f64,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

/// The `timeline` section.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TimelineSection {
    /// Bucket width in seconds.
    pub bucket_seconds: f64,
    /// Non-empty buckets in time order.
    pub buckets: Vec<BucketRow>,
}

/// The whole report.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    /// Capture facts.
    pub capture: CaptureSection,
    /// Largest flows (by packets).
    pub flows: Vec<FlowRow>,
    /// Number of flows in the capture (the list above may be cut).
    pub flows_total: usize,
    /// Entities ranked by attention (highest first), each with its traffic counters and the
    /// components of its score.
    pub entities: Vec<findings::RankedRow>,
    /// Number of entities in the capture.
    pub entities_total: usize,
    /// Packet and byte counts over time.
    pub timeline: TimelineSection,
    /// Attack waves in time order.
    pub waves: Vec<findings::WaveRow>,
    /// Without waves, why not in one line, and the entity with the most attention when
    /// violations put it there (`null` when there are waves).
    pub waves_note: Option<String>,
    /// Protocol-expectation violations, worst first.
    pub violations: Vec<findings::Violation>,
    /// Violations in the capture (the list above may be cut).
    pub violations_total: usize,
    /// The violations grouped by kind and the address their sessions share, most sessions first.
    pub violation_groups: Vec<groups::ViolationGroup>,
    /// Number of such groups (the list above may be cut).
    pub violation_groups_total: usize,
    /// The baseline detection used.
    pub baseline: findings::BaselineRow,
    /// Residual profiles per bucket and their thresholds (null with `--no-residual`).
    pub residual: Option<findings::ResidualRow>,
    /// Drafted mitigation rules with their replay figures (empty unless drafted).
    pub rules: Vec<rules::RuleRow>,
    /// The capture filter and its counts (absent without `--filter`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<crate::rules::filter::FilterCounts>,
}

/// How many rows of each table to include.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Flow rows.
    pub flows: usize,
    /// Entity rows.
    pub entities: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            flows: 100,
            entities: 100,
        }
    }
}

impl Report {
    /// Builds the report model from an analysis.
    #[must_use]
    pub fn build(a: &Analysis, limits: Limits) -> Self {
        let s = &a.agg.stats;
        let mut link_types = BTreeMap::new();
        for (lt, n) in &s.link_types {
            link_types.insert(crate::capture::LinkType(*lt).name(), *n);
        }
        let tl = &a.agg.timeline;
        let width = tl.width_ns();
        #[allow(clippy::cast_precision_loss)]
        let bucket_seconds = width as f64 / 1e9;
        let (violation_groups, violation_groups_total) = groups::violation_groups(
            &a.findings.sessions,
            limits.entities.min(groups::MAX_GROUPS),
        );
        Report {
            capture: CaptureSection {
                source: crate::text::escape_terminal_str(&a.info.source),
                format: a.info.format.name().into(),
                compression: format!("{:?}", a.info.compression).to_lowercase(),
                packets: s.packets,
                bytes: s.bytes,
                first_ts: s.first_ts.map(crate::time::Timestamp::as_secs_f64),
                last_ts: s.last_ts.map(crate::time::Timestamp::as_secs_f64),
                link_types,
                decoded: s
                    .decoded()
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), *v))
                    .collect(),
                warnings: a
                    .warnings
                    .iter()
                    .map(|w| WarningRow {
                        kind: serde_json::to_value(w.kind)
                            .ok()
                            .and_then(|v| v.as_str().map(String::from))
                            .unwrap_or_default(),
                        message: crate::text::escape_terminal_str(&w.message),
                        offset: w.offset,
                    })
                    .collect(),
                retention: a.agg.retention_report(),
                sampling: a.agg.sampling,
            },
            flows: a.agg.flows.top(limits.flows),
            flows_total: a.agg.flows.len(),
            entities: findings::entities(a, limits.entities),
            entities_total: a.agg.entities.len(),
            timeline: TimelineSection {
                bucket_seconds,
                buckets: tl
                    .buckets()
                    .iter()
                    .map(|b| BucketRow {
                        start: b.start(width).as_secs_f64(),
                        packets: b.packets,
                        bytes: b.bytes,
                    })
                    .collect(),
            },
            waves: findings::waves(&a.findings),
            waves_note: crate::explain::no_wave_note(a),
            violations: findings::violations(&a.findings, limits.entities),
            violations_total: a.findings.sessions.iter().map(|s| s.violations.len()).sum(),
            violation_groups,
            violation_groups_total,
            baseline: findings::baseline(&a.findings),
            residual: findings::residual(a),
            rules: Vec::new(),
            filter: None,
        }
    }

    /// The report with the `filter` section filled from the filter the analysis used.
    #[must_use]
    pub fn with_filter(mut self, f: &crate::rules::filter::PacketFilter) -> Self {
        self.filter = Some(f.counts());
        self
    }

    /// The report with the `rules` section filled from drafts.
    #[must_use]
    pub fn with_rules(mut self, drafts: &[crate::rules::Draft]) -> Self {
        self.rules = rules::rows(drafts);
        self
    }

    /// Renders in the chosen format.
    ///
    /// # Errors
    /// Only if JSON serialisation fails (it does not for this model).
    pub fn render(&self, format: Format) -> Result<String, serde_json::Error> {
        Ok(match format {
            Format::Json => serde_json::to_string_pretty(self)? + "\n",
            Format::Markdown => markdown::render(self),
            Format::Text => text::render(self),
        })
    }
}
