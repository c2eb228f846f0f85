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
pub mod residual;
pub mod session;
pub mod session_waves;
pub mod shift;
pub mod violations;
pub mod waves;
pub mod window;

use crate::engine::Aggregates;
use crate::time::Timestamp;
use baseline::Baseline;
use features::{Feature, Norms};
use rank::{RankedEntity, WaveRef, Weights};
use shift::{Shift, WindowCounts};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Range;
use violations::{SessionFinding, Violation};
use waves::{Hysteresis, Segmenter, WaveEntity};

const S: i64 = 1_000_000_000;
/// Floor on the spread of quiet-bucket scores.
const SCORE_FLOOR: f64 = 0.25;
/// A closed wave teaches the baseline with this weight in total, relative to the baseline's
/// own mass (so recurring benign bursts become familiar, an attack's return still stands out).
const WAVE_LEARN_SHARE: f64 = 0.0;
/// After warm-up the baseline learns at most this many times its own packet rate...
const LEARN_RATE_FACTOR: f64 = 2.0;
/// ...plus bursts of up to this many seconds of its rate.
const LEARN_BURST_S: f64 = 5.0;

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
    /// A message naming what could not be parsed.
    pub fn parse_range(s: &str) -> Result<(Self, Self), String> {
        let (a, b) = s
            .split_once("..")
            .ok_or_else(|| format!("bad baseline {s:?} (try 00:00..01:30)"))?;
        Ok((Self::parse(a)?, Self::parse(b)?))
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

fn feature_name(f: Feature) -> String {
    match f {
        Feature::Field(i) => crate::decode::Field::ALL
            .get(i)
            .map_or("?", |f| f.name())
            .to_string(),
        Feature::Rate => "rate".into(),
        Feature::Homogeneity => "homogeneity".into(),
        Feature::Drift => "drift".into(),
        Feature::Residual => "residual".into(),
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
        detect_beside(agg, opts, residuals, span, sessions)
    })
}

/// [`detect`] with the session checks running on `sessions`.
fn detect_beside(
    agg: &Aggregates,
    opts: &DetectOptions,
    residuals: Option<&[Option<ResidualSummary>]>,
    span: (Timestamp, Timestamp),
    sessions: std::thread::ScopedJoinHandle<'_, Vec<SessionFinding>>,
) -> Findings {
    let tl = &agg.timeline;
    let width = tl.width_ns();
    let buckets = tl.buckets();
    let res = |i: usize| residuals.and_then(|r| r.get(i)).and_then(Option::as_ref);
    let res_score = |i: usize| res(i).filter(|_| opts.residual_score).map(|r| r.score);
    let h = opts.hysteresis;

    let first = agg.stats.first_ts.unwrap_or_default();
    let (mut base, mut norms, info) = match opts.baseline {
        Some((from, to)) => {
            let (from, to) = (from.resolve(first), to.resolve(first));
            let r = tl.range_for(from, to);
            let slice = buckets.get(r.clone()).unwrap_or(&[]);
            let mut base = Baseline::fixed(slice, width);
            let mut norms = Norms::default();
            for (off, b) in slice.iter().enumerate() {
                let x = features::features(b, &base, width, res_score(r.start + off));
                norms.learn(&x, opts.norm_alpha);
                for (f, v) in x.novel.iter().enumerate() {
                    if let Some(v) = v {
                        base.novel_rate[f].add(*v, opts.norm_alpha);
                    }
                }
            }
            let info = BaselineInfo::Fixed {
                from,
                to,
                buckets: slice.len(),
            };
            (base, norms, info)
        }
        None => (
            Baseline::decaying(opts.half_life_ns),
            Norms::default(),
            BaselineInfo::Decaying {
                half_life_ns: opts.half_life_ns,
                warmup_end: None,
            },
        ),
    };
    let frozen = base.is_frozen();
    // Retention folded older buckets into a history summary: it seeds the baseline, so the
    // kept part is judged against what came before instead of starting a full warm-up again
    // (the warm-up buckets remain, for the per-feature spreads, without the time floor).
    let hist = tl.history();
    let prior = !frozen && hist.buckets > 0;
    if prior {
        base.absorb_prior(
            &hist.bucket,
            hist.to_ns.unwrap_or(0),
            hist.span_ns(),
            opts.warmup_ns,
        );
    }
    let (warmup_buckets, warmup_ns) = if prior {
        (opts.warmup_buckets, 0)
    } else {
        (opts.warmup_buckets, opts.warmup_ns)
    };
    let mut warmup_end = None;
    let t0 = buckets.first().map_or(0, |b| b.start(width).0);
    let mut seg = Segmenter::default();
    let mut quiet_scores = baseline::Ema::default();
    let mut scores: Vec<BucketScore> = Vec::with_capacity(buckets.len());
    let mut spans = Vec::new();
    let mut bucket_shifts = BTreeMap::new();
    // End of the previous bucket when it taught the baseline: the empty stretch from there to
    // the next taught bucket is quiet time too (the timeline stores only buckets with packets).
    let mut quiet_until: Option<i64> = None;
    let mut allowance = 0.0f64;
    let mut window = window::Window::new(width);
    for (i, b) in buckets.iter().enumerate() {
        let start = b.start(width);
        let gap = quiet_until.map_or(0, |e| start.0 - e);
        quiet_until = None;
        // The bucket's and the window's features read the same baseline and nothing else
        // they share: judge them side by side.
        let (x, wx) = rayon::join(
            || features::features(b, &base, width, res_score(i)),
            || {
                window.advance(buckets, i);
                window.features(&base)
            },
        );
        let warm = !frozen && (i < warmup_buckets || start.0 - t0 < warmup_ns);
        if warm {
            // The first buckets compare against an almost empty baseline: skip them in the
            // norms so they do not inflate every feature's spread.
            if i >= 3 {
                norms.learn(&x, opts.norm_alpha);
                window.norms.learn(&wx, opts.norm_alpha);
            }
            if i >= warmup_buckets / 2 {
                quiet_scores.add(
                    features::score(&norms.zscores(&x), opts.top_features),
                    opts.norm_alpha,
                );
                let wraw = features::score(
                    &window
                        .norms
                        .zscores_seasoned(&wx, window::MIN_FIELD_HISTORY),
                    opts.top_features,
                );
                window.quiet.add(wraw, opts.norm_alpha);
            }
            learn_novel(&mut base, &x, opts.norm_alpha, i >= 3);
            base.add_quiet_gap(gap);
            base.absorb(b, width);
            quiet_until = Some(start.0.saturating_add(width));
            scores.push(BucketScore {
                start,
                score: 0.0,
                drift: x.drift,
                homogeneity: x.homogeneity,
                rate: x.rate,
                leading: Vec::new(),
                warmup: true,
            });
            continue;
        }
        if warmup_end.is_none() {
            warmup_end = Some(start);
        }
        let z = norms.zscores(&x);
        let raw = features::score(&z, opts.top_features);
        // The raw score is a maximum over dozens of features, so even quiet buckets score
        // above zero; thresholds apply to its standardised form over quiet buckets.
        let bucket_score = if quiet_scores.n >= 5 {
            quiet_scores.z(raw, SCORE_FLOOR)
        } else {
            raw
        };
        // The recent window sees what is too diluted for one bucket; the bucket sees what is
        // too short for the window. The louder of the two decides.
        let wz = window
            .norms
            .zscores_seasoned(&wx, window::MIN_FIELD_HISTORY);
        let wraw = features::score(&wz, opts.top_features);
        let window_score = if window.quiet.n >= 5 {
            window.quiet.z(wraw, SCORE_FLOOR)
        } else {
            0.0
        };
        let (score, z) = if window_score > bucket_score {
            (window_score, wz)
        } else {
            (bucket_score, z)
        };
        // The window opens waves, but an open wave lasts only while its buckets stay hot: the
        // window lags by its length and, more sensitive to small lasting changes of the mix,
        // would otherwise hold a wave open across the quiet gap to the next one.
        let seg_score = if seg.is_open() { bucket_score } else { score };
        if let Some(span) = seg.push(&h, i, start.0, width, seg_score) {
            // Explain a closed wave now, while the baseline is still the one it was judged
            // by (wave buckets never teach it).
            let e = explain(span, buckets, &base, tl.interner(), opts);
            // A wave nobody can say anything about (no field shifted significantly against
            // the baseline) is noise in the score, not something to hand an analyst.
            if !e.2.is_empty() && mass(&base, buckets, span, width, &e.2) >= opts.min_wave_packets {
                spans.push(e);
            }
            learn_wave(&mut base, buckets, span, width);
        }
        if score >= h.enter {
            let w = WindowCounts::of([b]);
            let mut s = shift::shifts(&w, &base, tl.interner());
            s.truncate(5);
            bucket_shifts.insert(i, s);
        }
        if score < h.enter {
            // The spread of quiet scores and features learns from every bucket under the
            // enter level, inside an open wave too: that is what quiet noise looks like. Left
            // to the buckets outside waves, it learnt only from the calmest seconds of a
            // capture where attacks fill half the time: the spread narrowed, ordinary
            // background between a cycle's attacks rose over the exit level and held waves
            // open (the seed-7 bench capture's 64 attacks came out as 30 waves, 14 of them 25
            // to 55 s long). A bucket under the enter level opens nothing, and an attack's
            // hot buckets never teach the spread.
            quiet_scores.add(raw, opts.norm_alpha);
            norms.learn(&x, opts.norm_alpha);
            window.quiet.add(wraw, opts.norm_alpha);
            window.norms.learn(&wx, opts.norm_alpha);
        }
        if !seg.busy() && score < h.enter {
            learn_novel(&mut base, &x, opts.norm_alpha, !frozen);
            // The baseline's counts learn outside waves only, and only from buckets under the
            // exit level: an attack that ramps up through the grey zone would otherwise be
            // learnt as normal within seconds (its packets outnumber the background's), and
            // the background after it would then look anomalous.
            if score < h.exit {
                base.add_quiet_gap(gap);
                // Learning-rate limit: packets teach at most LEARN_RATE_FACTOR times the
                // baseline's own rate (with a burst allowance), so a sustained jump in
                // traffic under the enter level cannot swamp the counts within seconds.
                #[allow(clippy::cast_precision_loss)]
                let packets = b.packets as f64;
                let r = base.time_rate();
                #[allow(clippy::cast_precision_loss)]
                let dt = (gap + width) as f64 / 1e9;
                allowance = (allowance + dt * LEARN_RATE_FACTOR * r).min(r * LEARN_BURST_S);
                let w = if packets > 0.0 && r > 0.0 {
                    (allowance / packets).clamp(0.05, 1.0)
                } else {
                    1.0
                };
                allowance = (allowance - packets * w).max(0.0);
                base.absorb_limited(b, width, w);
                quiet_until = Some(start.0.saturating_add(width));
            }
        }
        scores.push(BucketScore {
            start,
            score,
            drift: x.drift,
            homogeneity: x.homogeneity,
            rate: x.rate,
            leading: z
                .iter()
                .take(3)
                .map(|(f, v)| (feature_name(*f), *v))
                .collect(),
            warmup: false,
        });
    }
    if let Some(span) = seg.finish() {
        let e = explain(span, buckets, &base, tl.interner(), opts);
        if !e.2.is_empty() && mass(&base, buckets, span, width, &e.2) >= opts.min_wave_packets {
            spans.push(e);
        }
    }
    let info = match info {
        BaselineInfo::Decaying { half_life_ns, .. } => BaselineInfo::Decaying {
            half_life_ns,
            warmup_end,
        },
        f => f,
    };

    // A panic in the checks is a bug: pass it on rather than report no violations.
    let sessions = sessions
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));

    let mut waves_out = Vec::new();
    for (n, (sp, packets, sh, ents)) in spans.into_iter().enumerate() {
        let range = sp.first..sp.last + 1;
        let start = tl.bucket_start(sp.first).unwrap_or_default();
        let end = Timestamp(
            tl.bucket_start(sp.last)
                .unwrap_or_default()
                .0
                .saturating_add(width),
        );
        let score = scores
            .get(range.clone())
            .map_or(0.0, |s| s.iter().map(|b| b.score).fold(0.0, f64::max));
        let viol = wave_violations(&sessions, &ents, start, end);
        let residual_profile = mean_profile(range.clone().filter_map(res));
        waves_out.push(Wave {
            id: u32::try_from(n + 1).unwrap_or(u32::MAX),
            start,
            end,
            score,
            summary: waves::summary(&sh, &ents),
            shifts: sh,
            entities: ents,
            violations: viol,
            residual_profile,
            residual_flagged: Vec::new(),
            residual_fields: Vec::new(),
            buckets: range,
            packets,
            scope: None,
        });
    }
    let fresh = |first: Timestamp, end: Timestamp| match info {
        BaselineInfo::Decaying { warmup_end, .. } => warmup_end.is_some_and(|w| first >= w),
        BaselineInfo::Fixed { from, to, .. } => end < from || first >= to,
    };
    let spans: Vec<session_waves::BucketWave<'_>> = waves_out
        .iter()
        .map(|w| (w.start, w.end, w.entities.as_slice()))
        .collect();
    let explained = |b: &beacon::Beacon| session_waves::explained(b, &spans);
    let promoted = session_waves::promote(
        &sessions,
        agg.sessions.iter().map(|x| x.1),
        fresh,
        explained,
    );
    for p in promoted {
        let b = &p.beacon;
        // Bucket wave scores are in units of the quiet-score spread and a wave enters at
        // `h.enter`; a beacon at the reporting threshold counts as just entering.
        let score = h.enter * b.score / beacon::MIN_SCORE;
        let end = Timestamp(b.end.0.saturating_add(1));
        let viol = wave_violations(&sessions, &p.entities, b.first, end);
        waves_out.push(Wave {
            id: 0,
            start: b.first,
            end,
            score,
            summary: session_waves::summary(&p),
            shifts: Vec::new(),
            entities: p.entities,
            violations: viol,
            // A few packets every few seconds move no bucket's residual.
            residual_profile: Vec::new(),
            residual_flagged: Vec::new(),
            residual_fields: Vec::new(),
            buckets: tl.range_for(b.first, end),
            packets: b.packets,
            scope: Some(p.scope),
        });
    }
    // Ids follow time order across both kinds.
    waves_out.sort_by(|a, b| a.start.cmp(&b.start).then(a.end.cmp(&b.end)));
    for (n, w) in waves_out.iter_mut().enumerate() {
        w.id = u32::try_from(n + 1).unwrap_or(u32::MAX);
    }

    let refs: Vec<WaveRef<'_>> = waves_out
        .iter()
        .map(|w| WaveRef {
            id: w.id,
            strength: 1.0 - (-w.score / h.strong.max(1e-9)).exp(),
            entities: &w.entities,
        })
        .collect();
    let entities = rank::rank(
        &agg.entities,
        agg.sessions.iter().map(|x| x.1),
        &sessions,
        &refs,
        span.1,
        &opts.weights,
        opts.entity_limit,
    );
    drop(refs);
    Findings {
        bucket_ns: width,
        baseline: info,
        buckets: scores,
        waves: waves_out,
        sessions,
        entities,
        bucket_shifts,
        residual: None,
    }
}

/// A closed wave's packets, shifts and entities against the baseline it was judged by.
fn explain(
    sp: waves::Span,
    buckets: &[crate::timeline::Bucket],
    base: &Baseline,
    interner: &crate::timeline::Interner,
    opts: &DetectOptions,
) -> (waves::Span, u64, Vec<Shift>, Vec<WaveEntity>) {
    let wb = buckets.get(sp.first..sp.last + 1).unwrap_or(&[]);
    let w = WindowCounts::of(wb);
    let mut sh = shift::shifts(&w, base, interner);
    let ents = waves::entities(&w, base, interner, &sh, opts.wave_entities);
    sh.truncate(opts.wave_shifts);
    (sp, w.packets, sh, ents)
}

/// Packets a wave carries beyond what the baseline predicts: over its span's volume, or in
/// the values that shifted, whichever is more. A reflection or a tunnel that runs while the
/// rest of a busy network happens to be a little quieter changes the mix, not the volume: on
/// the bench capture (1,500 packets/s of background) the rate alone called 1,600 reflected
/// NTP packets "-1,300 packets of excess" and dropped the wave.
fn mass(
    base: &Baseline,
    buckets: &[crate::timeline::Bucket],
    sp: waves::Span,
    width: i64,
    shifts: &[Shift],
) -> f64 {
    excess(base, buckets, sp, width).max(shift::excess_in_values(shifts))
}

/// Packets of a wave beyond what the baseline rate predicts over its span.
fn excess(
    base: &Baseline,
    buckets: &[crate::timeline::Bucket],
    sp: waves::Span,
    width: i64,
) -> f64 {
    let wb = buckets.get(sp.first..sp.last + 1).unwrap_or(&[]);
    #[allow(clippy::cast_precision_loss)]
    let packets: f64 = wb.iter().map(|b| b.packets as f64).sum();
    // Wall-clock span: bucket positions skip empty time.
    let span_ns = match (wb.first(), wb.last()) {
        (Some(a), Some(z)) => z.start(width).0.saturating_add(width) - a.start(width).0,
        _ => 0,
    };
    #[allow(clippy::cast_precision_loss)]
    let seconds = span_ns as f64 / 1e9;
    packets - base.time_rate() * seconds
}

fn learn_wave(
    base: &mut Baseline,
    buckets: &[crate::timeline::Bucket],
    sp: waves::Span,
    width: i64,
) {
    let wb = buckets.get(sp.first..sp.last + 1).unwrap_or(&[]);
    #[allow(clippy::cast_precision_loss)]
    let packets: f64 = wb.iter().map(|b| b.packets as f64).sum();
    if packets <= 0.0 {
        return;
    }
    let w = (WAVE_LEARN_SHARE * base.packets() / packets).min(1.0);
    for b in wb {
        base.absorb_weighted(b, width, w);
    }
}

fn learn_novel(base: &mut Baseline, x: &features::BucketFeatures, alpha: f64, learn: bool) {
    if !learn {
        return;
    }
    for (f, v) in x.novel.iter().enumerate() {
        if let Some(v) = v {
            base.novel_rate[f].add(*v, alpha);
        }
    }
}

/// Violations of sessions of the wave's entities that overlap the wave, worst first (at most
/// 20).
fn wave_violations(
    sessions: &[SessionFinding],
    ents: &[WaveEntity],
    start: Timestamp,
    end: Timestamp,
) -> Vec<Violation> {
    // Entity names are addresses' display forms: compare addresses, not strings formatted
    // per session (that formatting was a third of detection on a busy capture). A name is
    // kept only when it is its address's display form, so the match is the string match.
    let addrs: Vec<IpAddr> = ents
        .iter()
        .filter_map(|e| {
            let ip: IpAddr = e.entity.parse().ok()?;
            (ip.to_string() == e.entity).then_some(ip)
        })
        .collect();
    // Rank references and copy only the 20 kept: a busy wave touches thousands of sessions.
    let mut out: Vec<&Violation> = sessions
        .iter()
        .filter(|s| s.first < end && s.last >= start)
        .filter(|s| addrs.contains(&s.client) || addrs.contains(&s.server))
        .flat_map(|s| s.violations.iter())
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.packets.cmp(&a.packets)));
    out.into_iter().take(20).cloned().collect()
}

fn mean_profile<'a>(it: impl Iterator<Item = &'a ResidualSummary>) -> Vec<f32> {
    let mut sum: Vec<f64> = Vec::new();
    let mut n = 0u32;
    for r in it {
        if sum.len() < r.profile.len() {
            sum.resize(r.profile.len(), 0.0);
        }
        for (s, v) in sum.iter_mut().zip(&r.profile) {
            *s += f64::from(*v);
        }
        n += 1;
    }
    #[allow(clippy::cast_possible_truncation)]
    sum.into_iter()
        .map(|s| (s / f64::from(n.max(1))) as f32)
        .collect()
}
