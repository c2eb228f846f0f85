//! Which fields drive an anomaly: each field's share is the cosine between the anomalous
//! component of its stripe and that field's own bound leaf vector.
//!
//! Field-specific by construction: two fields in different stripes see different anomalous
//! components, and two fields in one stripe have near-orthogonal leaves, so a normal field
//! scores near 0 while the novel one scores near its share of the stripe residual. (Scoring
//! `‖bind(sign(anomaly), role)‖` instead gives the same number for every field.)

use super::striped::StripedBasis;
use crate::algebra::kernel::norm;
use crate::algebra::primitives::cosine;
use crate::decode::field::Field;

/// A stripe whose residual is below this fraction of a leaf's length is explained by the
/// subspace: its fields score 0 (the direction of a rounding-noise residual means nothing).
pub const QUIET: f32 = 1e-2;

/// One field's share in an anomaly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Attribution {
    /// The field.
    pub field: Field,
    /// Its stripe.
    pub stripe: usize,
    /// Cosine between the stripe's anomalous component and the field's leaf, in [-1, 1].
    pub score: f32,
}

/// Scores every leaf of a packet (`leaves` as given by `PacketEncoder::leaves`, `x` its flat
/// encoding), highest first; ties keep schema order.
#[must_use]
pub fn attribute(
    basis: &StripedBasis,
    x: &[f32],
    leaves: &[(Field, usize, Vec<f32>)],
) -> Vec<Attribution> {
    let stripes = basis.layout().stripes as usize;
    let mut anomalies: Vec<Option<Vec<f32>>> = vec![None; stripes];
    let mut out = Vec::with_capacity(leaves.len());
    for (field, s, leaf) in leaves {
        let Some(slot) = anomalies.get_mut(*s) else {
            continue;
        };
        let a = slot.get_or_insert_with(|| basis.anomalous_component(x, *s));
        let quiet = norm(a) < QUIET * norm(leaf);
        let score = if quiet { 0.0 } else { cosine(a, leaf) };
        out.push(Attribution {
            field: *field,
            stripe: *s,
            score,
        });
    }
    sort_attributions(&mut out);
    out
}

/// Highest score first; the stable sort keeps schema order among ties.
pub fn sort_attributions(v: &mut [Attribution]) {
    v.sort_by(|a, b| b.score.total_cmp(&a.score));
}
