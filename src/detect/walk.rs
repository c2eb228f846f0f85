//! The walk over the timeline buckets: each bucket and the recent window judged against the
//! causal baseline, the score stream segmented into waves, each closed wave explained, then
//! entities ranked and session waves promoted (see the parent module).

mod pair;
mod step;

use super::baseline::{self, Baseline};
use super::features::{self, Norms};
use super::rank::{self, WaveRef};
use super::violations::SessionFinding;
use super::wave_facts::{SessionsByHost, mean_profile};
use super::waves::WaveEntity;
use super::waves::{self, Segmenter};
use super::{BaselineInfo, DetectOptions, Findings, ResidualSummary, Wave};
use super::{beacon, session_waves};
use crate::engine::Aggregates;
use crate::time::Timestamp;
use rayon::prelude::*;
use std::collections::BTreeMap;
use step::Walk;

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
    let (mut base, norms, info) = match opts.baseline {
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
    let t0 = buckets.first().map_or(0, |b| b.start(width).0);
    let walk = Walk {
        opts,
        tl,
        frozen,
        warmup_buckets,
        warmup_ns,
        t0,
        base,
        norms,
        quiet_scores: baseline::Ema::default(),
        wnorms: Norms::default(),
        wquiet: baseline::Ema::default(),
        seg: Segmenter::default(),
        warmup_end: None,
        scores: Vec::with_capacity(buckets.len()),
        spans: Vec::new(),
        bucket_shifts: BTreeMap::new(),
        quiet_until: None,
        allowance: 0.0,
    };
    // The window's thread judges the window and the bucket against the baseline; the rest of
    // the bucket's work changes the baseline and the walk's state, never the window's sums,
    // which depend on the buckets alone: the window moves on to the next bucket meanwhile.
    let mut walk = pair::run(walk, buckets, width, &res_score);
    if let Some(span) = walk.seg.finish() {
        walk.close(span);
    }
    let Walk {
        warmup_end,
        scores,
        spans,
        bucket_shifts,
        ..
    } = walk;
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
    let by_host = SessionsByHost::new(&sessions);

    let bounds = |first: usize, last: usize| {
        let start = tl.bucket_start(first).unwrap_or_default();
        let end = Timestamp(
            tl.bucket_start(last)
                .unwrap_or_default()
                .0
                .saturating_add(width),
        );
        (start, end)
    };
    let fresh = |first: Timestamp, end: Timestamp| match info {
        BaselineInfo::Decaying { warmup_end, .. } => warmup_end.is_some_and(|w| first >= w),
        BaselineInfo::Fixed { from, to, .. } => end < from || first >= to,
    };
    let bucket_waves: Vec<session_waves::BucketWave<'_>> = spans
        .iter()
        .map(|(sp, _, _, ents)| {
            let (start, end) = bounds(sp.first, sp.last);
            (start, end, ents.as_slice())
        })
        .collect();
    let bucket_score = |first: usize, last: usize| {
        scores
            .get(first..last + 1)
            .map_or(0.0, |s| s.iter().map(|b| b.score).fold(0.0, f64::max))
    };
    // Bucket wave scores are in units of the quiet-score spread and a wave enters at
    // `h.enter`; a beacon at the reporting threshold counts as just entering.
    let beacon_score = |b: &beacon::Beacon| h.enter * b.score / beacon::MIN_SCORE;
    let beacon_end = |b: &beacon::Beacon| Timestamp(b.end.0.saturating_add(1));
    // Each closed wave's facts (violations, mean residual profile, summary) depend on it
    // alone: found side by side, kept in wave order. Beside them: the beacons the bucket
    // waves leave unexplained (they need only the waves' spans and entities; one pass over
    // every session, 12 ms of one core on the bench capture), then the ranking, which needs
    // only every wave's id, score and entities (25-30 ms of one core, which waited for the
    // facts before).
    let (mut waves_out, (promoted, entities)): (Vec<Wave>, _) = rayon::join(
        || {
            spans
                .par_iter()
                .enumerate()
                .map(|(n, (sp, packets, sh, ents))| {
                    let range = sp.first..sp.last + 1;
                    let (start, end) = bounds(sp.first, sp.last);
                    let viol = by_host.wave_violations(ents, start, end);
                    let residual_profile = mean_profile(range.clone().filter_map(res));
                    Wave {
                        id: u32::try_from(n + 1).unwrap_or(u32::MAX),
                        start,
                        end,
                        score: bucket_score(sp.first, sp.last),
                        summary: waves::summary(sh, ents),
                        shifts: sh.clone(),
                        entities: ents.clone(),
                        violations: viol,
                        residual_profile,
                        residual_flagged: Vec::new(),
                        residual_fields: Vec::new(),
                        buckets: range,
                        packets: *packets,
                        scope: None,
                        like: None,
                    }
                })
                .collect()
        },
        || {
            let explained = |b: &beacon::Beacon| session_waves::explained(b, &bucket_waves);
            let promoted = session_waves::promote(
                &sessions,
                agg.sessions.iter().map(|x| x.1),
                fresh,
                explained,
            );
            // Every wave as it will be numbered below: bucket waves, then promoted beacons,
            // in the same stable time order.
            let mut heads: Vec<(Timestamp, Timestamp, f64, &[WaveEntity])> = spans
                .iter()
                .zip(&bucket_waves)
                .map(|((sp, ..), (start, end, ents))| {
                    (*start, *end, bucket_score(sp.first, sp.last), *ents)
                })
                .chain(promoted.iter().map(|p| {
                    let b = &p.beacon;
                    (
                        b.first,
                        beacon_end(b),
                        beacon_score(b),
                        p.entities.as_slice(),
                    )
                }))
                .collect();
            heads.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
            let refs: Vec<WaveRef<'_>> = heads
                .iter()
                .enumerate()
                .map(|(n, (_, _, score, entities))| WaveRef {
                    id: u32::try_from(n + 1).unwrap_or(u32::MAX),
                    strength: 1.0 - (-score / h.strong.max(1e-9)).exp(),
                    entities,
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
            (promoted, entities)
        },
    );
    drop(bucket_waves);
    for p in promoted {
        let b = &p.beacon;
        let end = beacon_end(b);
        let viol = by_host.wave_violations(&p.entities, b.first, end);
        waves_out.push(Wave {
            id: 0,
            start: b.first,
            end,
            score: beacon_score(b),
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
            like: None,
        });
    }
    // Ids follow time order across both kinds (the order the ranking numbered them in).
    waves_out.sort_by(|a, b| a.start.cmp(&b.start).then(a.end.cmp(&b.end)));
    for (n, w) in waves_out.iter_mut().enumerate() {
        w.id = u32::try_from(n + 1).unwrap_or(u32::MAX);
    }
    let like = super::recur::recurrences(&waves_out);
    for (w, like) in waves_out.iter_mut().zip(like) {
        w.like = like;
    }
    drop(by_host);
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

#[cfg(test)]
pub(super) mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::engine::{self, Analysis, Options};
    use crate::sample::{SampleConfig, write_sample};

    /// The shipped sample's analysis, with the default options.
    pub(crate) fn analyze_demo() -> Analysis {
        let mut bytes = Vec::new();
        write_sample(&SampleConfig::demo(), &mut bytes).unwrap();
        let src = crate::capture::from_reader("demo".into(), Box::new(std::io::Cursor::new(bytes)))
            .unwrap();
        engine::analyze(src, &Options::default(), |_| {})
    }

    /// The ranking numbers the waves before their facts are found: every wave an entity is
    /// ranked for is one that names it, and every wave's entities are ranked for it.
    #[test]
    fn ranked_wave_ids_are_the_waves_ids() {
        let f = analyze_demo().findings;
        assert!(f.waves.len() >= 3);
        let mut linked = 0;
        for e in &f.entities {
            for id in &e.waves {
                let w = f.waves.iter().find(|w| w.id == *id).unwrap();
                assert!(
                    w.entities.iter().any(|x| x.entity == e.entity),
                    "{id} {}",
                    e.entity
                );
                linked += 1;
            }
        }
        for w in &f.waves {
            for x in &w.entities {
                if let Some(e) = f.entities.iter().find(|e| e.entity == x.entity) {
                    assert!(e.waves.contains(&w.id), "{} {}", w.id, x.entity);
                }
            }
        }
        assert!(linked >= f.waves.len());
    }
}
