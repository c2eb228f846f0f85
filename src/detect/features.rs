//! Per-bucket features against the baseline, and the bucket anomaly score built from them.
//!
//! For every field the bucket's value distribution is compared with the baseline's by total
//! variation distance (half the L1 distance between the two share vectors; values the bucket
//! could not track count as unseen). Fields differ wildly in how much they move between quiet
//! buckets (source ports and DNS ids are new every time, the protocol almost never changes), so
//! each feature is standardised against its own history over quiet buckets ([`Norms`]) and the
//! bucket score is the mean of the largest standardised features. Rate change, drift (cosine of
//! the bucket's counts against the baseline's), homogeneity (the chance that two packets of the
//! bucket agree on a field: high for floods of identical packets) and the optional residual
//! score join as further features.

use super::baseline::{Baseline, Ema};
use crate::timeline::{Bucket, FieldKey, NFIELDS};

/// Packets added to the denominator when shrinking a small bucket's distance toward zero: a
/// bucket of three packets differs from any baseline by chance.
const SHRINK_PACKETS: f64 = 5.0;
/// Floors on the spread of each standardised feature (so a feature that never moved during
/// the baseline does not turn a tiny change into a huge score).
const TV_FLOOR: f64 = 0.05;
const RATE_FLOOR: f64 = 0.5;
const HOMOG_FLOOR: f64 = 0.05;
const DRIFT_FLOOR: f64 = 0.05;
const RESIDUAL_FLOOR: f64 = 0.1;

/// Raw features of one bucket.
#[derive(Clone, Debug)]
pub struct BucketFeatures {
    /// Shrunk total variation distance per field (`None` where the bucket lacks the field).
    pub tv: [Option<f64>; NFIELDS],
    /// Share of the field's packets carrying a value unseen in the baseline.
    pub novel: [Option<f64>; NFIELDS],
    /// log2 of packets against the baseline's expectation for a bucket.
    pub rate: f64,
    /// Mean over present fields of the Simpson index (sum of squared shares).
    pub homogeneity: f64,
    /// 1 - cosine between the bucket's counts and the baseline's.
    pub drift: f64,
    /// Residual score from the subspace stage, when supplied.
    pub residual: Option<f64>,
}

/// Computes the features of a bucket.
#[must_use]
pub fn features(
    b: &Bucket,
    base: &Baseline,
    width_ns: i64,
    residual: Option<f64>,
) -> BucketFeatures {
    let mut n = [0u64; NFIELDS];
    for (k, c) in &b.counts {
        n[k.field() as usize] += c;
    }
    for (f, o) in b.other.iter().enumerate() {
        n[f] += o;
    }
    let entries = b.counts.iter().map(|(k, c)| (*k, *c, base.count(*k)));
    features_of(
        &Counted {
            per_field: &n,
            other: &b.other,
            packets: b.packets,
        },
        entries,
        base,
        width_ns,
        residual,
    )
}

/// Totals of a set of counts, for [`features_of`].
pub struct Counted<'a> {
    /// Packets per field, untracked ones included.
    pub per_field: &'a [u64; NFIELDS],
    /// Untracked packets per field.
    pub other: &'a [u64; NFIELDS],
    /// Packets.
    pub packets: u64,
}

/// [`features`] of counts given as (key, count, baseline's decayed count) entries, so a
/// caller that keeps the baseline's counts at hand (the recent window) need not look them
/// up again.
#[must_use]
pub fn features_of(
    totals: &Counted<'_>,
    entries: impl Iterator<Item = (FieldKey, u64, f64)>,
    base: &Baseline,
    width_ns: i64,
    residual: Option<f64>,
) -> BucketFeatures {
    let n = totals.per_field;
    let mut abs = [0.0f64; NFIELDS];
    let mut bsum = [0.0f64; NFIELDS];
    let mut novel = [0u64; NFIELDS];
    let mut simpson = [0.0f64; NFIELDS];
    let mut dot = 0.0;
    let mut norm_r = 0.0;
    // Shares by multiplying with each field's reciprocal totals, not dividing per entry: two
    // divisions for each of the window's 12,000 values, for every bucket, took about a
    // quarter of judging the window (the last bits of the shares differ from a division's).
    let mut inv_n = [0.0f64; NFIELDS];
    let mut inv_bt = [0.0f64; NFIELDS];
    for f in 0..NFIELDS {
        if n[f] > 0 {
            #[allow(clippy::cast_precision_loss)]
            {
                inv_n[f] = 1.0 / n[f] as f64;
            }
        }
        let bt = base.field_total(f);
        if bt > 0.0 {
            inv_bt[f] = 1.0 / bt;
        }
    }
    for (k, c, bc) in entries {
        let f = k.field() as usize;
        #[allow(clippy::cast_precision_loss)]
        let r = c as f64 * inv_n[f];
        let bs = bc * inv_bt[f];
        abs[f] += (r - bs).abs();
        bsum[f] += bs;
        if bc < 1.0 {
            novel[f] += c;
        }
        simpson[f] += r * r;
        #[allow(clippy::cast_precision_loss)]
        let cf = c as f64;
        dot += cf * bc;
        norm_r += cf * cf;
    }
    let mut tv = [None; NFIELDS];
    let mut nov = [None; NFIELDS];
    let mut hsum = 0.0;
    let mut hn = 0.0;
    for f in 0..NFIELDS {
        if n[f] == 0 {
            continue;
        }
        #[allow(clippy::cast_precision_loss)]
        let nf = n[f] as f64;
        #[allow(clippy::cast_precision_loss)]
        let other = totals.other[f] as f64 / nf;
        let d = if base.field_total(f) > 0.0 {
            0.5 * (abs[f] + (1.0 - bsum[f]).max(0.0) + other)
        } else {
            1.0
        };
        tv[f] = Some(d * nf / (nf + SHRINK_PACKETS));
        #[allow(clippy::cast_precision_loss)]
        let nv = (novel[f] + totals.other[f]) as f64 / nf;
        nov[f] = Some(nv);
        hsum += simpson[f];
        hn += 1.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let width_s = width_ns as f64 / 1e9;
    let expected = base.rate() * width_s;
    #[allow(clippy::cast_precision_loss)]
    let rate = ((totals.packets as f64 + 1.0) / (expected + 1.0)).log2();
    let nb = base.norm();
    let drift = if nb > 0.0 && norm_r > 0.0 {
        1.0 - dot / (nb * norm_r.sqrt())
    } else {
        1.0
    };
    BucketFeatures {
        tv,
        novel: nov,
        rate,
        homogeneity: if hn > 0.0 { hsum / hn } else { 0.0 },
        drift,
        residual,
    }
}

/// How each feature behaves on quiet buckets.
#[derive(Clone, Debug)]
pub struct Norms {
    tv: [Ema; NFIELDS],
    rate: Ema,
    homogeneity: Ema,
    drift: Ema,
    residual: Ema,
}

/// One standardised feature: what it is and how far above normal it is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Feature {
    /// A field's value distribution moved.
    Field(usize),
    /// Packet rate.
    Rate,
    /// Homogeneity.
    Homogeneity,
    /// Drift.
    Drift,
    /// Residual score.
    Residual,
}

impl Default for Norms {
    fn default() -> Self {
        Self {
            tv: [Ema::default(); NFIELDS],
            rate: Ema::default(),
            homogeneity: Ema::default(),
            drift: Ema::default(),
            residual: Ema::default(),
        }
    }
}

impl Norms {
    /// Learns from a quiet bucket's features with forgetting rate `alpha`.
    pub fn learn(&mut self, x: &BucketFeatures, alpha: f64) {
        for f in 0..NFIELDS {
            if let Some(v) = x.tv[f] {
                self.tv[f].add(v, alpha);
            }
        }
        self.rate.add(x.rate, alpha);
        self.homogeneity.add(x.homogeneity, alpha);
        self.drift.add(x.drift, alpha);
        if let Some(r) = x.residual {
            self.residual.add(r, alpha);
        }
    }

    /// Standardised features, largest first. Fields with no history yet score by their raw
    /// distance over the floor.
    #[must_use]
    pub fn zscores(&self, x: &BucketFeatures) -> Vec<(Feature, f64)> {
        self.zscores_seasoned(x, 0)
    }

    /// Like [`Norms::zscores`], leaving out fields seen in fewer than `min_history` quiet
    /// observations: for the recent window, where one rare packet (the first ICMP echo of a
    /// quiet network) would otherwise hold a floored, huge z for the window's whole length.
    #[must_use]
    pub fn zscores_seasoned(&self, x: &BucketFeatures, min_history: u64) -> Vec<(Feature, f64)> {
        let mut out = Vec::with_capacity(NFIELDS + 4);
        for f in 0..NFIELDS {
            if let Some(v) = x.tv[f]
                && self.tv[f].n >= min_history
            {
                out.push((Feature::Field(f), self.tv[f].z(v, TV_FLOOR)));
            }
        }
        out.push((Feature::Rate, self.rate.z(x.rate, RATE_FLOOR)));
        out.push((
            Feature::Homogeneity,
            self.homogeneity.z(x.homogeneity, HOMOG_FLOOR),
        ));
        out.push((Feature::Drift, self.drift.z(x.drift, DRIFT_FLOOR)));
        if let Some(r) = x.residual {
            out.push((Feature::Residual, self.residual.z(r, RESIDUAL_FLOOR)));
        }
        out.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        out
    }
}

/// The bucket score: mean of the `top` largest standardised features (negative ones count as
/// zero). Several fields moving together is what a real change looks like; one noisy field is
/// diluted.
#[must_use]
pub fn score(z: &[(Feature, f64)], top: usize) -> f64 {
    let top = top.max(1);
    let s: f64 = z.iter().take(top).map(|(_, v)| v.max(0.0)).sum();
    #[allow(clippy::cast_precision_loss)]
    let d = top as f64;
    s / d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Field, ValueRef};
    use crate::timeline::Interner;

    fn bucket(i: &mut Interner, idx: i64, ports: &[(u64, u64)]) -> Bucket {
        let mut b = Bucket::new(idx);
        for (p, n) in ports {
            for _ in 0..*n {
                b.count(i.key(Field::DstPort, ValueRef::U(*p)));
                b.count(i.key(Field::Proto, ValueRef::U(6)));
                b.packets += 1;
            }
        }
        b
    }

    #[test]
    fn same_mix_is_close_and_new_value_is_far() {
        let mut i = Interner::default();
        let mut base = Baseline::decaying(60_000_000_000);
        for t in 0..10 {
            base.absorb(&bucket(&mut i, t, &[(80, 50), (443, 50)]), 1_000_000_000);
        }
        let same = features(
            &bucket(&mut i, 10, &[(80, 50), (443, 50)]),
            &base,
            1_000_000_000,
            None,
        );
        let f = Field::DstPort as usize;
        assert!(same.tv[f].unwrap() < 0.05);
        assert!(same.rate.abs() < 0.1);
        assert!(same.drift < 0.01);
        let flood = features(
            &bucket(&mut i, 11, &[(25565, 900), (80, 50)]),
            &base,
            1_000_000_000,
            None,
        );
        assert!(flood.tv[f].unwrap() > 0.9);
        assert!(flood.novel[f].unwrap() > 0.9);
        assert!(flood.rate > 3.0);
        assert!(flood.homogeneity > same.homogeneity);
        assert!(flood.drift > 0.3 && flood.drift > same.drift * 10.0);
    }

    #[test]
    fn score_is_standardised_against_quiet_history() {
        let mut i = Interner::default();
        let mut base = Baseline::decaying(60_000_000_000);
        let mut norms = Norms::default();
        for t in 0..30 {
            let b = bucket(&mut i, t, &[(80, 40 + (t as u64 % 7)), (443, 50)]);
            let x = features(&b, &base, 1_000_000_000, None);
            if t > 2 {
                norms.learn(&x, 0.05);
            }
            base.absorb(&b, 1_000_000_000);
        }
        let quiet = features(
            &bucket(&mut i, 30, &[(80, 45), (443, 50)]),
            &base,
            1_000_000_000,
            None,
        );
        let loud = features(
            &bucket(&mut i, 31, &[(22, 500), (80, 45)]),
            &base,
            1_000_000_000,
            None,
        );
        let sq = score(&norms.zscores(&quiet), 3);
        let sl = score(&norms.zscores(&loud), 3);
        assert!(sq < 2.0, "quiet {sq}");
        assert!(sl > 8.0, "loud {sl}");
    }
}
