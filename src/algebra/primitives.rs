//! The vector-symbolic primitives, on plain `f32` slices.
//!
//! All are elementwise or permutations, hence linear where the name says so (bind, bundle,
//! permute, negate, amplify, blend): that linearity is what lets the fast path cache bound
//! role-filler vectors and their projections.

use super::kernel::{dot, norm};

/// Elementwise product: binds a role to a filler. On bipolar vectors `bind(bind(a, b), a) == b`.
#[must_use]
pub fn bind(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x * y).collect()
}

/// Binds in place: `acc[i] *= b[i]`.
pub fn bind_into(acc: &mut [f32], b: &[f32]) {
    for (x, y) in acc.iter_mut().zip(b) {
        *x *= y;
    }
}

/// Recovers the filler bound to `key`. For bipolar keys this is `bind` itself; for ternary keys
/// coordinates where the key is 0 carry no information and stay 0.
#[must_use]
pub fn unbind(bound: &[f32], key: &[f32]) -> Vec<f32> {
    bind(bound, key)
}

/// Float bundle: the sum of the vectors (no thresholding, so frequencies survive).
/// Returns an empty vector for no input.
#[must_use]
pub fn bundle(vs: &[&[f32]]) -> Vec<f32> {
    let Some(first) = vs.first() else {
        return Vec::new();
    };
    let mut out = first.to_vec();
    for v in &vs[1..] {
        for (o, x) in out.iter_mut().zip(*v) {
            *o += x;
        }
    }
    out
}

/// Sign of each coordinate in {-1, 0, +1} (0 stays 0).
#[must_use]
pub fn sign(v: &[f32]) -> Vec<f32> {
    v.iter()
        .map(|x| {
            if *x > 0.0 {
                1.0
            } else if *x < 0.0 {
                -1.0
            } else {
                0.0
            }
        })
        .collect()
}

/// Majority bundle: the sign of the sum, for where a thresholded vector is wanted.
#[must_use]
pub fn majority(vs: &[&[f32]]) -> Vec<f32> {
    sign(&bundle(vs))
}

/// Cyclic shift of positions by `k` (coordinate i moves to i + k mod D). Encodes order.
#[must_use]
pub fn permute(v: &[f32], k: isize) -> Vec<f32> {
    let n = v.len();
    if n == 0 {
        return Vec::new();
    }
    let shift = k.rem_euclid(n as isize) as usize;
    let mut out = vec![0.0; n];
    for (i, x) in v.iter().enumerate() {
        out[(i + shift) % n] = *x;
    }
    out
}

/// Cosine similarity; 0 when either vector is zero.
#[must_use]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let d = norm(a) * norm(b);
    if d > 0.0 { dot(a, b) / d } else { 0.0 }
}

/// What changed from `before` to `after`: `after - before` (float, unclamped).
#[must_use]
pub fn difference(before: &[f32], after: &[f32]) -> Vec<f32> {
    after.iter().zip(before).map(|(a, b)| a - b).collect()
}

/// `-v`: the vector pointing away from a concept.
#[must_use]
pub fn negate(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| -x).collect()
}

/// `factor * v`.
#[must_use]
pub fn amplify(v: &[f32], factor: f32) -> Vec<f32> {
    v.iter().map(|x| x * factor).collect()
}

/// `(1 - t) * a + t * b`: t = 0 gives `a`, t = 1 gives `b`.
#[must_use]
pub fn blend(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    a.iter()
        .zip(b)
        .map(|(x, y)| (1.0 - t) * x + t * y)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::atom::{AtomKind, atom};

    #[test]
    fn bind_is_self_inverse_on_bipolar() {
        let a = atom(1, b"a", AtomKind::Bipolar, 512);
        let b = atom(1, b"b", AtomKind::Bipolar, 512);
        assert_eq!(unbind(&bind(&a, &b), &a), b);
        assert!(cosine(&bind(&a, &b), &a).abs() < 0.2);
    }

    #[test]
    fn bundle_keeps_members_similar() {
        let vs: Vec<Vec<f32>> = (0..5)
            .map(|i| atom(1, format!("x{i}").as_bytes(), AtomKind::Bipolar, 4096))
            .collect();
        let refs: Vec<&[f32]> = vs.iter().map(Vec::as_slice).collect();
        let s = bundle(&refs);
        let m = majority(&refs);
        let other = atom(1, b"other", AtomKind::Bipolar, 4096);
        assert!(cosine(&s, &vs[2]) > 0.35);
        assert!(cosine(&m, &vs[2]) > 0.25);
        assert!(cosine(&s, &other).abs() < 0.1);
    }

    #[test]
    fn permute_negate_amplify_blend_difference() {
        let v = vec![1.0, 2.0, 3.0];
        assert_eq!(permute(&v, 1), vec![3.0, 1.0, 2.0]);
        assert_eq!(permute(&permute(&v, 5), -5), v);
        assert_eq!(negate(&v), vec![-1.0, -2.0, -3.0]);
        assert_eq!(amplify(&v, 2.0), vec![2.0, 4.0, 6.0]);
        assert_eq!(blend(&v, &[3.0, 2.0, 1.0], 0.5), vec![2.0, 2.0, 2.0]);
        assert_eq!(difference(&v, &[1.0, 1.0, 4.0]), vec![0.0, -1.0, 1.0]);
        assert!((cosine(&v, &negate(&v)) + 1.0).abs() < 1e-6);
        assert_eq!(cosine(&v, &[0.0; 3]), 0.0);
    }
}
