//! One bucket of the walk: its score from its features and the recent window's, the wave
//! segmentation, and what the baseline and the spreads of quiet scores learn from it.
//!
//! Kept apart from the window's sums ([`super::window::Window`]), which depend on the buckets
//! alone: the walk moves the window on to the next bucket while this runs.

use super::super::baseline::{Baseline, Ema};
use super::super::features::{self, BucketFeatures, Norms};
use super::super::shift::{self, Shift, WindowCounts};
use super::super::wave_facts::{Explained, explain, feature_name, mass};
use super::super::waves::{self, Segmenter};
use super::super::{BucketScore, DetectOptions, window};
use crate::time::Timestamp;
use crate::timeline::{Bucket, Timeline};
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

/// What the walk knows and learns, bucket after bucket.
pub(super) struct Walk<'a> {
    pub(super) opts: &'a DetectOptions,
    pub(super) tl: &'a Timeline,
    pub(super) frozen: bool,
    pub(super) warmup_buckets: usize,
    pub(super) warmup_ns: i64,
    /// Start of the first bucket.
    pub(super) t0: i64,
    pub(super) base: Baseline,
    /// Spread of each bucket feature, and of the raw bucket score, over quiet buckets.
    pub(super) norms: Norms,
    pub(super) quiet_scores: Ema,
    /// The same for the recent window's features and score.
    pub(super) wnorms: Norms,
    pub(super) wquiet: Ema,
    pub(super) seg: Segmenter,
    pub(super) warmup_end: Option<Timestamp>,
    pub(super) scores: Vec<BucketScore>,
    pub(super) spans: Vec<Explained>,
    pub(super) bucket_shifts: BTreeMap<usize, Vec<Shift>>,
    /// End of the previous bucket when it taught the baseline: the empty stretch from there
    /// to the next taught bucket is quiet time too (the timeline stores only buckets with
    /// packets).
    pub(super) quiet_until: Option<i64>,
    /// Learning-rate allowance, in packets.
    pub(super) allowance: f64,
}

impl Walk<'_> {
    /// Judges bucket `i` (`b`) from its features `x` and the window's `wx`, both against the
    /// baseline as it stands, then lets the baseline and the spreads learn from it.
    ///
    /// Returns true when the bucket is hot and its shifts are left to the caller (see
    /// [`Walk::shifts_of`] and [`Walk::step_now`]): the baseline did not change in this step,
    /// so the next bucket can be judged while they are found.
    #[must_use]
    pub(super) fn step(
        &mut self,
        i: usize,
        b: &Bucket,
        x: &BucketFeatures,
        wx: &BucketFeatures,
    ) -> bool {
        let opts = self.opts;
        let width = self.tl.width_ns();
        let start = b.start(width);
        let gap = self.quiet_until.map_or(0, |e| start.0 - e);
        self.quiet_until = None;
        let warm = !self.frozen && (i < self.warmup_buckets || start.0 - self.t0 < self.warmup_ns);
        if warm {
            self.warm_up(i, b, x, wx, gap);
            return false;
        }
        if self.warmup_end.is_none() {
            self.warmup_end = Some(start);
        }
        let z = self.norms.zscores(x);
        let raw = features::score(&z, opts.top_features);
        // The raw score is a maximum over dozens of features, so even quiet buckets score
        // above zero; thresholds apply to its standardised form over quiet buckets.
        let bucket_score = if self.quiet_scores.n >= 5 {
            self.quiet_scores.z(raw, SCORE_FLOOR)
        } else {
            raw
        };
        // The recent window sees what is too diluted for one bucket; the bucket sees what is
        // too short for the window. The louder of the two decides.
        let wz = self.wnorms.zscores_seasoned(wx, window::MIN_FIELD_HISTORY);
        let wraw = features::score(&wz, opts.top_features);
        let window_score = if self.wquiet.n >= 5 {
            self.wquiet.z(wraw, SCORE_FLOOR)
        } else {
            0.0
        };
        let (score, z) = if window_score > bucket_score {
            (window_score, wz)
        } else {
            (bucket_score, z)
        };
        let h = opts.hysteresis;
        // The window opens waves, but an open wave lasts only while its buckets stay hot: the
        // window lags by its length and, more sensitive to small lasting changes of the mix,
        // would otherwise hold a wave open across the quiet gap to the next one.
        let seg_score = if self.seg.is_open() {
            bucket_score
        } else {
            score
        };
        let mut closed = false;
        if let Some(span) = self.seg.push(&h, i, start.0, width, seg_score) {
            // Explain a closed wave now, while the baseline is still the one it was judged
            // by (wave buckets never teach it).
            self.close(span);
            learn_wave(&mut self.base, self.tl.buckets(), span, width);
            closed = true;
        }
        // A hot bucket teaches the baseline nothing (below): unless a wave closed here (and
        // may have taught it), its shifts against the baseline as it stands are the same now
        // or once the next bucket is being judged.
        let deferred = score >= h.enter && !closed;
        if score >= h.enter && closed {
            let s = self.shifts_of(b);
            self.bucket_shifts.insert(i, s);
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
            self.quiet_scores.add(raw, opts.norm_alpha);
            self.norms.learn(x, opts.norm_alpha);
            self.wquiet.add(wraw, opts.norm_alpha);
            self.wnorms.learn(wx, opts.norm_alpha);
        }
        if !self.seg.busy() && score < h.enter {
            learn_novel(&mut self.base, x, opts.norm_alpha, !self.frozen);
            // The baseline's counts learn outside waves only, and only from buckets under the
            // exit level: an attack that ramps up through the grey zone would otherwise be
            // learnt as normal within seconds (its packets outnumber the background's), and
            // the background after it would then look anomalous.
            if score < h.exit {
                self.learn_limited(b, gap, start);
            }
        }
        self.scores.push(BucketScore {
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
        deferred
    }

    /// [`Walk::step`] with a hot bucket's shifts found at once.
    pub(super) fn step_now(
        &mut self,
        i: usize,
        b: &Bucket,
        x: &BucketFeatures,
        wx: &BucketFeatures,
    ) {
        if self.step(i, b, x, wx) {
            let s = self.shifts_of(b);
            self.bucket_shifts.insert(i, s);
        }
    }

    /// A hot bucket's top shifts against the baseline as it stands.
    #[must_use]
    pub(super) fn shifts_of(&self, b: &Bucket) -> Vec<Shift> {
        let w = WindowCounts::of([b]);
        let mut s = shift::shifts(&w, &self.base, self.tl.interner());
        s.truncate(5);
        s
    }

    /// A warm-up bucket: the spreads and the baseline learn from it; it scores nothing.
    fn warm_up(&mut self, i: usize, b: &Bucket, x: &BucketFeatures, wx: &BucketFeatures, gap: i64) {
        let opts = self.opts;
        let width = self.tl.width_ns();
        // The first buckets compare against an almost empty baseline: skip them in the
        // norms so they do not inflate every feature's spread.
        if i >= 3 {
            self.norms.learn(x, opts.norm_alpha);
            self.wnorms.learn(wx, opts.norm_alpha);
        }
        if i >= self.warmup_buckets / 2 {
            self.quiet_scores.add(
                features::score(&self.norms.zscores(x), opts.top_features),
                opts.norm_alpha,
            );
            let wraw = features::score(
                &self.wnorms.zscores_seasoned(wx, window::MIN_FIELD_HISTORY),
                opts.top_features,
            );
            self.wquiet.add(wraw, opts.norm_alpha);
        }
        learn_novel(&mut self.base, x, opts.norm_alpha, i >= 3);
        self.base.add_quiet_gap(gap);
        self.base.absorb(b, width);
        let start = b.start(width);
        self.quiet_until = Some(start.0.saturating_add(width));
        self.scores.push(BucketScore {
            start,
            score: 0.0,
            drift: x.drift,
            homogeneity: x.homogeneity,
            rate: x.rate,
            leading: Vec::new(),
            warmup: true,
        });
    }

    /// A quiet bucket under the exit level teaches the baseline's counts, within the
    /// learning-rate limit: packets teach at most [`LEARN_RATE_FACTOR`] times the baseline's
    /// own rate (with a burst allowance), so a sustained jump in traffic under the enter level
    /// cannot swamp the counts within seconds.
    fn learn_limited(&mut self, b: &Bucket, gap: i64, start: Timestamp) {
        let width = self.tl.width_ns();
        self.base.add_quiet_gap(gap);
        #[allow(clippy::cast_precision_loss)]
        let packets = b.packets as f64;
        let r = self.base.time_rate();
        #[allow(clippy::cast_precision_loss)]
        let dt = (gap + width) as f64 / 1e9;
        self.allowance = (self.allowance + dt * LEARN_RATE_FACTOR * r).min(r * LEARN_BURST_S);
        let w = if packets > 0.0 && r > 0.0 {
            (self.allowance / packets).clamp(0.05, 1.0)
        } else {
            1.0
        };
        self.allowance = (self.allowance - packets * w).max(0.0);
        self.base.absorb_limited(b, width, w);
        self.quiet_until = Some(start.0.saturating_add(width));
    }

    /// Explains a closed wave and keeps it, unless nobody can say anything about it: a wave
    /// with no field shifted significantly against the baseline is noise in the score, not
    /// something to hand an analyst.
    pub(super) fn close(&mut self, span: waves::Span) {
        let (buckets, width) = (self.tl.buckets(), self.tl.width_ns());
        let e = explain(
            span,
            buckets,
            &self.base,
            self.tl.interner(),
            width,
            self.opts,
        );
        if !e.2.is_empty()
            && mass(&self.base, buckets, span, width, &e.2) >= self.opts.min_wave_packets
        {
            self.spans.push(e);
        }
    }
}

fn learn_wave(base: &mut Baseline, buckets: &[Bucket], sp: waves::Span, width: i64) {
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

fn learn_novel(base: &mut Baseline, x: &BucketFeatures, alpha: f64, learn: bool) {
    if !learn {
        return;
    }
    for (f, v) in x.novel.iter().enumerate() {
        if let Some(v) = v {
            base.novel_rate[f].add(*v, alpha);
        }
    }
}
