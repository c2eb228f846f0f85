//! Detection and explanation: concentration shifts, drift and floods, protocol-expectation
//! violations, ranked entities and attack waves, from counts alone (no signatures).
//!
//! [`detect`] is a pure function of the aggregates of one pass: it walks the closed timeline
//! buckets in time order, judging bucket `i` only against a baseline built from earlier quiet
//! buckets (causal, so the same code runs incrementally on live input), segments the score
//! stream into waves, explains each wave, checks every session against protocol expectations
//! and ranks entities. The result, [`Findings`], is an immutable snapshot (`Clone + Send +
//! Sync`) that the report prints and the TUI can hold in an `Arc`.
//!
//! Every threshold is a documented default in [`DetectOptions`]; the per-feature scales are
//! learned from the capture itself.

pub mod baseline;
pub mod beacon;
pub mod features;
pub mod rank;
pub mod recur;
pub mod residual;
pub mod session;
pub mod session_waves;
pub mod shift;
pub mod violations;
mod walk;
mod wave_facts;
pub mod waves;
pub mod window;

use crate::engine::Aggregates;
use crate::time::Timestamp;
use rank::{RankedEntity, Weights};
use shift::Shift;
use std::collections::BTreeMap;
use std::ops::Range;
use violations::{SessionFinding, Violation};
use waves::{Hysteresis, WaveEntity};

const S: i64 = 1_000_000_000;

/// Detection settings; every default is documented here and none is tuned to one capture.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectOptions {
    /// Half-life of the decaying baseline (default 300 s: long enough to span an attack's
    /// quiet gaps, short enough to follow a network over an hour).
    pub half_life_ns: i64,
    /// Warm-up: the baseline learns without judging for at least this long...
    pub warmup_ns: i64,
    /// ...and at least this many buckets (defaults 10 s and 20 buckets).
    pub warmup_buckets: usize,
    /// Analyst-chosen baseline interval `[from, to)` instead of the decaying one.
    pub baseline: Option<(BaselineTime, BaselineTime)>,
    /// Wave segmentation, in units of the spread of quiet-bucket scores (defaults: enter 4,
    /// strong 10, exit 2.5, streak of
    /// 2 buckets, drain 5 s).
    pub hysteresis: Hysteresis,
    /// Number of largest standardised features averaged into the bucket score (default 4).
    pub top_features: usize,
    /// Forgetting rate of the per-feature norms (default 0.02: about 50 quiet buckets).
    pub norm_alpha: f64,
    /// Least packets a wave must carry beyond what the baseline predicts, in volume over its
    /// span or in the values that shifted (default 100): a handful of announcement packets
    /// from a new host is a real change of mix on a quiet network, but not something to hand
    /// an analyst as an attack wave.
    pub min_wave_packets: f64,
    /// Attention weights.
    pub weights: Weights,
    /// Ranked entities kept (default 100).
    pub entity_limit: usize,
    /// Entities listed per wave (default 5).
    pub wave_entities: usize,
    /// Shifts kept per wave (default 8).
    pub wave_shifts: usize,
    /// Let the residual stage's per-bucket score join the bucket score as one more feature
    /// (default false). Measured on the labelled set (`EVAL_RESIDUAL_SCORE=1` in
    /// `tests/eval_waves.rs`): recall drops from 19/22 to 18/22 and the residual stays above
    /// its quiet level between the lab waves, so lab_E's attacks merge into one wave; the
    /// profiles are therefore used for explanation only.
    pub residual_score: bool,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self {
            half_life_ns: 300 * S,
            warmup_ns: 10 * S,
            warmup_buckets: 20,
            baseline: None,
            hysteresis: Hysteresis {
                enter: 4.0,
                strong: 10.0,
                exit: 2.5,
                streak: 2,
                drain_ns: 5 * S,
            },
            top_features: 4,
            norm_alpha: 0.02,
            min_wave_packets: 100.0,
            weights: Weights::default(),
            entity_limit: 100,
            wave_entities: 5,
            wave_shifts: 8,
            residual_score: false,
        }
    }
}

/// One end of an analyst-chosen baseline interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaselineTime {
    /// Nanoseconds after the capture's first packet.
    Offset(i64),
    /// An absolute time.
    At(Timestamp),
}

impl BaselineTime {
    /// The absolute time, given the capture's first packet.
    #[must_use]
    pub fn resolve(self, first: Timestamp) -> Timestamp {
        match self {
            BaselineTime::Offset(ns) => Timestamp(first.0.saturating_add(ns)),
            BaselineTime::At(t) => t,
        }
    }

    /// Parses `mm:ss`, `hh:mm:ss`, seconds (`90`, `12.5`) as offsets from the capture start,
    /// or an absolute epoch in seconds (anything from 10^9 on, i.e. after 2001).
    ///
    /// # Errors
    /// A message naming what could not be parsed.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("bad time {s:?} (try 90, 01:30, 00:01:30 or an epoch)");
        let mut secs = 0.0f64;
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        for p in &parts {
            let v: f64 = p.parse().map_err(|_| bad())?;
            if !v.is_finite() || v < 0.0 {
                return Err(bad());
            }
            secs = secs * 60.0 + v;
        }
        #[allow(clippy::cast_possible_truncation)]
        let ns = (secs * 1e9).round().min(9.0e18) as i64;
        if parts.len() == 1 && secs >= 1e9 {
            Ok(BaselineTime::At(Timestamp(ns)))
        } else {
            Ok(BaselineTime::Offset(ns))
        }
    }

    /// Parses `A..B`.
    ///
    /// # Errors
    /// A message naming what could not be parsed, or a range that ends where or before it
    /// starts (when both ends are offsets, or both epochs).
    pub fn parse_range(s: &str) -> Result<(Self, Self), String> {
        let (a, b) = s
            .split_once("..")
            .ok_or_else(|| format!("bad baseline {s:?} (try 00:00..01:30)"))?;
        let (a, b) = (Self::parse(a)?, Self::parse(b)?);
        let empty = match (a, b) {
            (BaselineTime::Offset(x), BaselineTime::Offset(y)) => y <= x,
            (BaselineTime::At(x), BaselineTime::At(y)) => y <= x,
            _ => false,
        };
        if empty {
            return Err(format!(
                "baseline {s:?} ends where or before it starts (try 00:00..01:30)"
            ));
        }
        Ok((a, b))
    }
}

/// Residual summary of one bucket from the subspace stage (the hook for CCIPCA residual
/// profiles): `score` joins the bucket score as one more standardised feature, `profile`
/// (per-stripe residuals) is averaged into each wave's `residual_profile`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResidualSummary {
    /// Residual magnitude of the bucket.
    pub score: f64,
    /// Per-stripe residuals.
    pub profile: Vec<f32>,
}

/// One bucket's verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct BucketScore {
    /// Bucket start.
    pub start: Timestamp,
    /// Anomaly score (0 during warm-up).
    pub score: f64,
    /// 1 - cosine of its counts against the baseline.
    pub drift: f64,
    /// Chance two of its packets agree on a field.
    pub homogeneity: f64,
    /// log2 of packets against the baseline's expectation.
    pub rate: f64,
    /// The features that raised the score most (name, standardised value).
    pub leading: Vec<(String, f64)>,
    /// Still learning.
    pub warmup: bool,
}

/// One attack wave.
#[derive(Clone, Debug, PartialEq)]
pub struct Wave {
    /// 1-based id in time order.
    pub id: u32,
    /// Start of its first bucket.
    pub start: Timestamp,
    /// End of its last hot bucket.
    pub end: Timestamp,
    /// Highest bucket score.
    pub score: f64,
    /// One line built from the fields.
    pub summary: String,
    /// Shifts against the baseline, most telling first.
    pub shifts: Vec<Shift>,
    /// Entities driving it.
    pub entities: Vec<WaveEntity>,
    /// Violations of sessions of its entities active during it.
    pub violations: Vec<Violation>,
    /// Mean residual profile of its buckets (empty without the subspace stage).
    pub residual_profile: Vec<f32>,
    /// Stripes whose mean residual exceeds their threshold, most exceeded first (empty
    /// without the subspace stage).
    pub residual_flagged: Vec<usize>,
    /// Fields living in the flagged stripes, in the same order (the stripe legend).
    pub residual_fields: Vec<crate::decode::Field>,
    /// Bucket positions.
    pub buckets: Range<usize>,
    /// Packets in its buckets (a scoped wave: packets of its conversation).
    pub packets: u64,
    /// A wave found in sessions (a new beacon) is made of one conversation's packets, not of
    /// whole buckets: drafting and replay count only those as the wave's.
    pub scope: Option<session_waves::Scope>,
    /// Id of the first earlier wave this one recurs as, the same attack coming back
    /// ([`recur`]); `None` for the first of its kind.
    pub like: Option<u32>,
}

/// How the baseline was chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum BaselineInfo {
    /// Decaying over earlier quiet buckets after a warm-up ending at `warmup_end`.
    Decaying {
        /// Half-life.
        half_life_ns: i64,
        /// End of the warm-up.
        warmup_end: Option<Timestamp>,
    },
    /// Fixed interval chosen by the analyst.
    Fixed {
        /// Start.
        from: Timestamp,
        /// End (exclusive).
        to: Timestamp,
        /// Buckets in it.
        buckets: usize,
    },
}

impl BaselineInfo {
    /// Why the chosen baseline cannot be trusted, if it cannot: a fixed interval that holds
    /// none of the capture's traffic (past its end, or in a gap), against which every bucket
    /// is new.
    #[must_use]
    pub fn warning(&self) -> Option<&'static str> {
        match self {
            // Both ends of one kind are checked when parsed; an absolute end and an offset
            // from the capture's start can only be compared once the capture is read.
            BaselineInfo::Fixed { from, to, .. } if to <= from => Some(
                "the baseline interval ends where or before it starts once its offsets are \
                 counted from the capture's first packet, so it holds no traffic and every \
                 bucket is judged against an empty baseline: give both ends as offsets or \
                 both as times",
            ),
            BaselineInfo::Fixed { buckets: 0, .. } => Some(
                "the baseline interval holds none of the capture's traffic, so every bucket \
                 is judged against an empty baseline: choose an interval inside the capture",
            ),
            _ => None,
        }
    }
}

/// Everything detection found: an immutable snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct Findings {
    /// Bucket width.
    pub bucket_ns: i64,
    /// Baseline used.
    pub baseline: BaselineInfo,
    /// Per-bucket scores, in timeline order.
    pub buckets: Vec<BucketScore>,
    /// Attack waves in time order.
    pub waves: Vec<Wave>,
    /// Sessions with violations, worst first.
    pub sessions: Vec<SessionFinding>,
    /// Entities by attention, highest first.
    pub entities: Vec<RankedEntity>,
    /// Shifts of each anomalous bucket (position -> shifts).
    pub bucket_shifts: BTreeMap<usize, Vec<Shift>>,
    /// The residual heatmap (stripes x buckets), when residual scoring ran.
    pub residual: Option<ResidualMap>,
}

/// Per-bucket residual profiles against the striped subspace: the data of the TUI heatmap and
/// of each wave's `residual_profile`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResidualMap {
    /// Number of stripes.
    pub stripes: usize,
    /// One profile per timeline bucket position (`None` before the subspace was learned or
    /// for empty buckets): mean per-stripe residual of the bucket's scored packets.
    pub profiles: Vec<Option<Vec<f32>>>,
    /// Per-stripe threshold (`ResidualBuffer`), for marking cells above it.
    pub thresholds: Vec<f32>,
    /// Aggregate threshold (root of the sum of squared stripe thresholds).
    pub threshold: f32,
    /// Fields whose leaves live in each stripe (the stripe-to-fields legend).
    pub stripe_fields: Vec<Vec<crate::decode::Field>>,
}

impl Findings {
    /// Shifts of one bucket (empty unless it scored at least the enter level).
    #[must_use]
    pub fn shifts_at(&self, pos: usize) -> &[Shift] {
        self.bucket_shifts.get(&pos).map_or(&[], Vec::as_slice)
    }

    /// Attaches the residual heatmap and marks, in every wave, the stripes whose mean residual
    /// exceeds their threshold and the fields living in them.
    pub fn attach_residual(&mut self, map: ResidualMap) {
        for w in &mut self.waves {
            let mut over: Vec<(usize, f32)> = w
                .residual_profile
                .iter()
                .zip(&map.thresholds)
                .enumerate()
                .filter(|(_, (v, t))| {
                    t.is_finite() && f64::from(**t) > residual::MIN_THRESHOLD && *v > *t
                })
                .map(|(s, (v, t))| (s, v / t))
                .collect();
            over.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            w.residual_flagged = over.iter().map(|x| x.0).collect();
            w.residual_fields = w
                .residual_flagged
                .iter()
                .filter_map(|s| map.stripe_fields.get(*s))
                .flatten()
                .copied()
                .collect();
        }
        self.residual = Some(map);
    }
}

/// Runs detection over the aggregates of a finished pass. `residuals`, when given, holds one
/// entry per timeline bucket position.
///
/// The per-session protocol checks need nothing from the bucket scan, so they run on a second
/// thread beside it (on a capture of a million sessions they take as long as a third of the
/// scan).
#[must_use]
pub fn detect(
    agg: &Aggregates,
    opts: &DetectOptions,
    residuals: Option<&[Option<ResidualSummary>]>,
) -> Findings {
    let span = (
        agg.stats.first_ts.unwrap_or_default(),
        agg.stats.last_ts.unwrap_or_default(),
    );
    std::thread::scope(|scope| {
        let sessions = scope.spawn(move || {
            let all: Vec<&session::SessionStats> = agg.sessions.iter().map(|x| x.1).collect();
            violations::findings(&all, span)
        });
        // The walk's loop runs on two threads of its own (`walk/pair.rs`); what follows it
        // (the waves' facts beside the session waves) joins work on the pool. Run from a pool
        // thread, a join is a push and a pop on that thread's deque, not a hand-off to the
        // pool and a wait for its wake-up.
        rayon::scope(|_| walk::detect_beside(agg, opts, residuals, span, sessions))
    })
}
