//! What a closed wave carries: its shifts and entities, the packets it holds beyond the
//! baseline, the violations of its entities' sessions and its mean residual profile.

use super::baseline::Baseline;
use super::features::Feature;
use super::shift::{self, Shift, WindowCounts};
use super::violations::{SessionFinding, Violation};
use super::waves::{self, WaveEntity};
use super::{DetectOptions, ResidualSummary};
use crate::time::Timestamp;
use std::net::IpAddr;

pub(super) fn feature_name(f: Feature) -> String {
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

/// A closed wave explained: its span, packets, top shifts and entities.
pub(super) type Explained = (waves::Span, u64, Vec<Shift>, Vec<WaveEntity>);

/// A closed wave's packets, shifts and entities against the baseline it was judged by.
pub(super) fn explain(
    sp: waves::Span,
    buckets: &[crate::timeline::Bucket],
    base: &Baseline,
    interner: &crate::timeline::Interner,
    opts: &DetectOptions,
) -> Explained {
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
pub(super) fn mass(
    base: &Baseline,
    buckets: &[crate::timeline::Bucket],
    sp: waves::Span,
    width: i64,
    shifts: &[Shift],
) -> f64 {
    excess(base, buckets, sp, width).max(shift::excess_in_values(shifts))
}

/// Packets of a wave beyond what the baseline rate predicts over its span.
pub(super) fn excess(
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

/// Violations of sessions of the wave's entities that overlap the wave, worst first (at most
/// 20).
pub(super) fn wave_violations(
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

pub(super) fn mean_profile<'a>(it: impl Iterator<Item = &'a ResidualSummary>) -> Vec<f32> {
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
