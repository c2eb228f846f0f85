//! The walk over the timeline buckets: each bucket and the recent window judged against the
//! causal baseline, the score stream segmented into waves, each closed wave explained, then
//! entities ranked and session waves promoted (see the parent module).

use super::baseline::{self, Baseline};
use super::features::{self, Norms};
use super::rank::{self, WaveRef};
use super::shift::{self, WindowCounts};
use super::violations::SessionFinding;
use super::wave_facts::{explain, feature_name, mass, mean_profile, wave_violations};
use super::waves::{self, Segmenter};
use super::{BaselineInfo, BucketScore, DetectOptions, Findings, ResidualSummary, Wave};
use super::{beacon, session_waves, window};
use crate::engine::Aggregates;
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// Floor on the spread of quiet-bucket scores.
const SCORE_FLOOR: f64 = 0.25;
/// A closed wave teaches the baseline with this weight in total, relative to the baseline's
/// own mass (so recurring benign bursts become familiar, an attack's return still stands out).
const WAVE_LEARN_SHARE: f64 = 0.0;
/// After warm-up the baseline learns at most this many times its own packet rate...
const LEARN_RATE_FACTOR: f64 = 2.0;
/// ...plus bursts of up to this many seconds of its rate.
const LEARN_BURST_S: f64 = 5.0;

/// [`detect`] with the session checks running on `sessions`.
pub(super) fn detect_beside(
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

pub(super) fn learn_wave(
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

pub(super) fn learn_novel(
    base: &mut Baseline,
    x: &features::BucketFeatures,
    alpha: f64,
    learn: bool,
) {
    if !learn {
        return;
    }
    for (f, v) in x.novel.iter().enumerate() {
        if let Some(v) = v {
            base.novel_rate[f].add(*v, alpha);
        }
    }
}
