//! The detection sections of the report: attack waves, ranked entities and session
//! violations, built from the engine's [`Findings`] snapshot, and their text/Markdown tables.

use super::table::Table;
use crate::detect::rank::{Components, ViolationCount};
use crate::detect::shift::Shift;
pub use crate::detect::violations::Violation;
use crate::detect::waves::WaveEntity;
use crate::detect::{BaselineInfo, Findings};
use crate::engine::Analysis;
use crate::engine::entities::{EntityId, EntityRow};
use serde::Serialize;

/// One shift as reported.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ShiftRow {
    /// Field name.
    pub field: String,
    /// Value (terminal-safe), null for a spread.
    pub value: Option<String>,
    /// `concentrated`, `rising`, `spread` or `vanished`.
    pub kind: String,
    /// Share in the baseline.
    pub baseline_share: f64,
    /// Share in the wave.
    pub recent_share: f64,
    /// z-like significance from the counts.
    pub significance: f64,
    /// Never seen in the baseline.
    pub novel: bool,
    /// Distinct values of the field in the wave.
    pub distinct: u64,
    /// The shift in words.
    pub text: String,
}

impl ShiftRow {
    fn new(s: &Shift) -> Self {
        Self {
            field: s.field.name().into(),
            value: s.value.as_ref().map(|v| v.display(s.field)),
            kind: s.kind.name().into(),
            baseline_share: s.baseline_share,
            recent_share: s.recent_share,
            significance: s.significance,
            novel: s.novel,
            distinct: s.distinct,
            text: s.phrase(),
        }
    }
}

/// One attack wave as reported.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WaveRow {
    /// 1-based id.
    pub id: u32,
    /// Start (UTC epoch seconds).
    pub start: f64,
    /// End (UTC epoch seconds).
    pub end: f64,
    /// Highest bucket score (in units of the quiet-score spread).
    pub score: f64,
    /// One line built from the fields.
    pub summary: String,
    /// Shifts, most telling first.
    pub shifts: Vec<ShiftRow>,
    /// Entities driving it.
    pub entities: Vec<WaveEntity>,
    /// Violations of its entities' sessions during it.
    pub violations: Vec<Violation>,
    /// Mean residual profile (empty without the subspace stage).
    pub residual_profile: Vec<f32>,
    /// Stripes whose mean residual exceeds their threshold, most exceeded first.
    pub residual_flagged: Vec<usize>,
    /// Field names living in the flagged stripes (the stripe legend), same order.
    pub residual_fields: Vec<String>,
    /// Packets in its buckets (a session wave: of its conversation).
    pub packets: u64,
    /// `traffic` (found in the buckets) or `session` (a new beacon, found in sessions).
    pub kind: String,
    /// A session wave's conversation: the only packets that are the wave's.
    pub scope: Option<ScopeRow>,
    /// Id of the first earlier wave this one recurs as (the same fields moving the same way,
    /// an entity in common: the same attack coming back), `null` when it is the first of
    /// its kind ([`crate::detect::recur`]).
    pub like: Option<u32>,
}

/// A session wave's conversation.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ScopeRow {
    /// Client address.
    pub client: String,
    /// Server address.
    pub server: String,
    /// Server port (0 without ports).
    pub port: u16,
    /// IP protocol.
    pub proto: u8,
}

/// One entity as reported: its traffic row plus its attention rank.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RankedRow {
    /// Traffic counters (`entity`, `packets`, ...).
    #[serde(flatten)]
    pub row: EntityRow,
    /// Attention score.
    pub score: f64,
    /// `hot`, `warm` or `cold`.
    pub tier: String,
    /// The five components of the score.
    pub components: Components,
    /// Ids of waves it drives.
    pub waves: Vec<u32>,
    /// Its violations (sessions it opened).
    pub violations: Vec<ViolationCount>,
    /// Violations of the sessions it answered, as their server (a flood's victim, a scan's
    /// target, a beacon's C2 server).
    pub violations_received: Vec<ViolationCount>,
}

/// The baseline used.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BaselineRow {
    /// `decaying` or `fixed`.
    pub kind: String,
    /// Fixed: start; decaying: end of warm-up (UTC epoch seconds).
    pub from: Option<f64>,
    /// Fixed: end.
    pub to: Option<f64>,
    /// Decaying: half-life in seconds.
    pub half_life_seconds: Option<f64>,
    /// Fixed: timeline buckets inside it (0: the interval holds none of the capture's
    /// traffic, and every bucket is judged against an empty baseline).
    pub buckets: Option<usize>,
}

/// Builds the wave rows.
#[must_use]
pub fn waves(f: &Findings) -> Vec<WaveRow> {
    f.waves
        .iter()
        .map(|w| WaveRow {
            id: w.id,
            start: w.start.as_secs_f64(),
            end: w.end.as_secs_f64(),
            score: w.score,
            summary: w.summary.clone(),
            shifts: w.shifts.iter().map(ShiftRow::new).collect(),
            entities: w.entities.clone(),
            violations: w.violations.clone(),
            residual_profile: w.residual_profile.clone(),
            residual_flagged: w.residual_flagged.clone(),
            residual_fields: w
                .residual_fields
                .iter()
                .map(|f| f.name().to_string())
                .collect(),
            packets: w.packets,
            kind: if w.scope.is_some() {
                "session"
            } else {
                "traffic"
            }
            .to_string(),
            scope: w.scope.map(|s| ScopeRow {
                client: s.client.to_string(),
                server: s.server.to_string(),
                port: s.port,
                proto: s.proto,
            }),
            like: w.like,
        })
        .collect()
}

/// Builds the ranked entity rows (highest attention first, at most `limit`).
#[must_use]
pub fn entities(a: &Analysis, limit: usize) -> Vec<RankedRow> {
    let mut by_name = std::collections::HashMap::new();
    for (id, st) in a.agg.entities.iter() {
        by_name.insert(id.to_string(), (*id, st));
    }
    a.findings
        .entities
        .iter()
        .take(limit)
        .filter_map(|r| {
            let (id, st): (EntityId, _) = *by_name.get(&r.entity)?;
            Some(RankedRow {
                row: EntityRow::new(&id, st),
                score: r.score,
                tier: r.tier.into(),
                components: r.components,
                waves: r.waves.clone(),
                violations: r.violations.clone(),
                violations_received: r.violations_received.clone(),
            })
        })
        .collect()
}

/// The session violations, worst first (at most `limit`).
#[must_use]
pub fn violations(f: &Findings, limit: usize) -> Vec<Violation> {
    f.sessions
        .iter()
        .flat_map(|s| s.violations.iter().cloned())
        .take(limit)
        .collect()
}

/// The baseline description.
#[must_use]
pub fn baseline(f: &Findings) -> BaselineRow {
    match &f.baseline {
        BaselineInfo::Decaying {
            half_life_ns,
            warmup_end,
        } => BaselineRow {
            kind: "decaying".into(),
            from: warmup_end.map(crate::time::Timestamp::as_secs_f64),
            to: None,
            #[allow(clippy::cast_precision_loss)]
            half_life_seconds: Some(*half_life_ns as f64 / 1e9),
            buckets: None,
        },
        BaselineInfo::Fixed { from, to, buckets } => BaselineRow {
            kind: "fixed".into(),
            from: Some(from.as_secs_f64()),
            to: Some(to.as_secs_f64()),
            half_life_seconds: None,
            buckets: Some(*buckets),
        },
    }
}

/// Lines describing each wave (text and Markdown share them).
#[must_use]
pub fn wave_lines(waves: &[WaveRow]) -> Vec<String> {
    let mut out = Vec::new();
    for w in waves {
        out.push(format!(
            "wave {} {} .. {} ({:.1} s, {} packets, score {:.1}{}): {}",
            w.id,
            crate::report::text::when(Some(w.start)),
            crate::report::text::when(Some(w.end)),
            w.end - w.start,
            w.packets,
            w.score,
            w.like
                .map_or_else(String::new, |n| format!(", like wave {n}")),
            w.summary.replace('`', "'")
        ));
        for s in w.shifts.iter().take(5) {
            out.push(format!(
                "  shift: {} (significance {:.1})",
                s.text.replace('`', "'"),
                s.significance
            ));
        }
        for e in &w.entities {
            out.push(format!(
                "  {}: {} ({} packets, {:.0}% of the excess)",
                if e.role == crate::detect::waves::Role::Source {
                    "source"
                } else {
                    "target"
                },
                e.entity,
                e.packets,
                e.score * 100.0
            ));
        }
        for v in w.violations.iter().take(3) {
            out.push(format!(
                "  violation: {} {} -> {} ({})",
                v.kind,
                v.client,
                super::groups::endpoint(v.proto, &v.server.to_string(), v.port),
                v.detail
            ));
        }
        if !w.residual_flagged.is_empty() {
            let stripes: Vec<String> = w.residual_flagged.iter().map(usize::to_string).collect();
            out.push(format!(
                "  residual above threshold in stripes {} ({})",
                stripes.join(", "),
                w.residual_fields.join(", ")
            ));
        }
    }
    out
}

/// The ranked entity table.
#[must_use]
pub fn ranked_table(rows: &[RankedRow]) -> Table {
    let mut t = Table::new(&[
        "entity",
        "score",
        "tier",
        "conf",
        "evid",
        "recent",
        "anom",
        "proto",
        "waves",
        "violations",
        "packets",
        "peers",
        "ports out",
    ]);
    for r in rows {
        let c = &r.components;
        t.row(vec![
            r.row.entity.clone(),
            format!("{:.2}", r.score),
            r.tier.clone(),
            format!("{:.2}", c.confidence),
            format!("{:.2}", c.evidence),
            format!("{:.2}", c.recency),
            format!("{:.2}", c.anomaly),
            format!("{:.2}", c.protocol),
            r.waves
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(","),
            violation_counts(&r.violations, &r.violations_received),
            r.row.packets.to_string(),
            r.row.peers.to_string(),
            r.row.ports_out.to_string(),
        ]);
    }
    t
}

/// An entity's violation kinds with their session counts, those of the sessions it answered
/// after "received" (`tcp_syn_onlyx2`, `received tcp_syn_onlyx37669 beaconx1`).
pub(crate) fn violation_counts(sent: &[ViolationCount], received: &[ViolationCount]) -> String {
    let list = |v: &[ViolationCount]| {
        v.iter()
            .map(|v| format!("{}x{}", v.kind, v.sessions))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match (sent.is_empty(), received.is_empty()) {
        (_, true) => list(sent),
        (true, false) => format!("received {}", list(received)),
        (false, false) => format!("{} received {}", list(sent), list(received)),
    }
}

/// The violations table.
#[must_use]
pub fn violations_table(v: &[Violation]) -> Table {
    let mut t = Table::new(&[
        "kind", "score", "client", "server", "port", "packets", "detail",
    ]);
    for x in v {
        t.row(vec![
            x.kind.to_string(),
            format!("{:.2}", x.score),
            x.client.to_string(),
            x.server.to_string(),
            super::groups::port_or_proto(x.proto, x.port),
            x.packets.to_string(),
            x.detail.clone(),
        ]);
    }
    t
}

/// The residual-profile section: the heatmap's scale and the per-bucket magnitudes.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ResidualRow {
    /// Number of stripes.
    pub stripes: usize,
    /// Per-stripe thresholds (mean residual of a bucket above it is marked).
    pub thresholds: Vec<f32>,
    /// Aggregate threshold (root of the sum of squared stripe thresholds).
    pub threshold: f32,
    /// Field names of each stripe (the legend).
    pub stripe_fields: Vec<Vec<String>>,
    /// One entry per timeline bucket (same order as `timeline.buckets`).
    pub buckets: Vec<ResidualBucketRow>,
}

/// One bucket of the residual section.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ResidualBucketRow {
    /// Bucket start (UTC epoch seconds).
    pub start: f64,
    /// Magnitude of the bucket's mean residual profile (null before the subspace was
    /// learned).
    pub magnitude: Option<f64>,
    /// Stripes whose mean residual exceeds their threshold.
    pub flagged: Vec<usize>,
}

/// Builds the residual section (`None` when the stage did not run).
#[must_use]
pub fn residual(a: &Analysis) -> Option<ResidualRow> {
    let map = a.findings.residual.as_ref()?;
    let tl = &a.agg.timeline;
    let buckets = map
        .profiles
        .iter()
        .enumerate()
        .map(|(i, p)| ResidualBucketRow {
            start: tl
                .bucket_start(i)
                .map_or(0.0, crate::time::Timestamp::as_secs_f64),
            magnitude: p
                .as_ref()
                .map(|p| p.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt()),
            flagged: p.as_ref().map_or_else(Vec::new, |p| {
                p.iter()
                    .zip(&map.thresholds)
                    .enumerate()
                    .filter(|(_, (v, t))| {
                        f64::from(**t) > crate::detect::residual::MIN_THRESHOLD && *v > *t
                    })
                    .map(|(s, _)| s)
                    .collect()
            }),
        })
        .collect();
    Some(ResidualRow {
        stripes: map.stripes,
        thresholds: map.thresholds.clone(),
        threshold: map.threshold,
        stripe_fields: map
            .stripe_fields
            .iter()
            .map(|s| s.iter().map(|f| f.name().to_string()).collect())
            .collect(),
        buckets,
    })
}
