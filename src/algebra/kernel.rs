//! Hot loops over slices, written so that the compiler vectorises them.
//!
//! Vectors are `f32`: bipolar and ternary atoms are exact in `f32`, sums of a few thousand of
//! them are exact integers below 2^24, and half the memory of `f64` doubles the SIMD width.
//! Long-running sums (accumulators) use `f64` instead.
//!
//! A reduction like `dot` is written with 16 independent partial sums over `chunks_exact(16)`:
//! a single running sum is a serial dependency chain the compiler may not reorder (float
//! addition is not associative), while 16 lanes map onto AVX registers. The order of additions
//! is fixed by the code, so results are bit-identical run to run.

const LANES: usize = 16;

/// Dot product of two equally long slices (extra elements of the longer one are ignored).
#[must_use]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        // Fixed-size arrays: no bounds checks, so the 16 lanes become SIMD registers.
        let (Ok(x), Ok(y)) = (<&[f32; LANES]>::try_from(x), <&[f32; LANES]>::try_from(y)) else {
            continue;
        };
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    sum_lanes(&acc) + tail
}

/// Squared Euclidean norm.
#[must_use]
pub fn norm2(a: &[f32]) -> f32 {
    dot(a, a)
}

/// Euclidean norm.
#[must_use]
pub fn norm(a: &[f32]) -> f32 {
    norm2(a).sqrt()
}

/// `y += alpha * x`.
pub fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// `y += alpha * x` into an `f64` sum.
pub fn axpy_f64(y: &mut [f64], alpha: f64, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * f64::from(*xi);
    }
}

/// `y += alpha * x`, then returns `dot(y, z)` of the updated `y`: one pass instead of two,
/// with the lanes and order of [`dot`], so the result is bit-identical to the two calls.
/// Slices of unequal length fall back to the two calls.
pub fn axpy_dot(y: &mut [f32], alpha: f32, x: &[f32], z: &[f32]) -> f32 {
    if x.len() != y.len() || z.len() != y.len() {
        axpy(y, alpha, x);
        return dot(y, z);
    }
    let mut acc = [0.0f32; LANES];
    let mut cy = y.chunks_exact_mut(LANES);
    let mut cx = x.chunks_exact(LANES);
    let mut cz = z.chunks_exact(LANES);
    for ((yc, xc), zc) in (&mut cy).zip(&mut cx).zip(&mut cz) {
        let (Ok(yc), Ok(xc), Ok(zc)) = (
            <&mut [f32; LANES]>::try_from(yc),
            <&[f32; LANES]>::try_from(xc),
            <&[f32; LANES]>::try_from(zc),
        ) else {
            continue;
        };
        for i in 0..LANES {
            yc[i] += alpha * xc[i];
            acc[i] += yc[i] * zc[i];
        }
    }
    let mut tail = 0.0f32;
    for ((yi, xi), zi) in cy
        .into_remainder()
        .iter_mut()
        .zip(cx.remainder())
        .zip(cz.remainder())
    {
        *yi += alpha * xi;
        tail += *yi * zi;
    }
    sum_lanes(&acc) + tail
}

/// `y += alpha * x`, then returns `norm2(y)` of the updated `y` (one pass, bit-identical to
/// the two calls; unequal lengths fall back to them).
pub fn axpy_norm2(y: &mut [f32], alpha: f32, x: &[f32]) -> f32 {
    if x.len() != y.len() {
        axpy(y, alpha, x);
        return norm2(y);
    }
    let mut acc = [0.0f32; LANES];
    let mut cy = y.chunks_exact_mut(LANES);
    let mut cx = x.chunks_exact(LANES);
    for (yc, xc) in (&mut cy).zip(&mut cx) {
        let (Ok(yc), Ok(xc)) = (
            <&mut [f32; LANES]>::try_from(yc),
            <&[f32; LANES]>::try_from(xc),
        ) else {
            continue;
        };
        for i in 0..LANES {
            yc[i] += alpha * xc[i];
            acc[i] += yc[i] * yc[i];
        }
    }
    let mut tail = 0.0f32;
    for (yi, xi) in cy.into_remainder().iter_mut().zip(cx.remainder()) {
        *yi += alpha * xi;
        tail += *yi * *yi;
    }
    sum_lanes(&acc) + tail
}

/// `v = a * v + b * u`, then returns `(norm2(v), dot(u, v))` of the updated `v` (the CCIPCA
/// component step): one pass instead of three, bit-identical to the separate calls. Unequal
/// lengths fall back to them.
pub fn scale_add_norm2_dot(v: &mut [f32], a: f32, b: f32, u: &[f32]) -> (f32, f32) {
    if u.len() != v.len() {
        for (vi, ui) in v.iter_mut().zip(u) {
            *vi = a * *vi + b * ui;
        }
        return (norm2(v), dot(u, v));
    }
    let mut an = [0.0f32; LANES];
    let mut ad = [0.0f32; LANES];
    let mut cv = v.chunks_exact_mut(LANES);
    let mut cu = u.chunks_exact(LANES);
    for (vc, uc) in (&mut cv).zip(&mut cu) {
        let (Ok(vc), Ok(uc)) = (
            <&mut [f32; LANES]>::try_from(vc),
            <&[f32; LANES]>::try_from(uc),
        ) else {
            continue;
        };
        for i in 0..LANES {
            vc[i] = a * vc[i] + b * uc[i];
            an[i] += vc[i] * vc[i];
            ad[i] += uc[i] * vc[i];
        }
    }
    let (mut tn, mut td) = (0.0f32, 0.0f32);
    for (vi, ui) in cv.into_remainder().iter_mut().zip(cu.remainder()) {
        *vi = a * *vi + b * ui;
        tn += *vi * *vi;
        td += ui * *vi;
    }
    (sum_lanes(&an) + tn, sum_lanes(&ad) + td)
}

/// `y *= alpha`.
pub fn scale(y: &mut [f32], alpha: f32) {
    for yi in y.iter_mut() {
        *yi *= alpha;
    }
}

/// Adds the lanes pairwise in a fixed order.
fn sum_lanes(acc: &[f32; LANES]) -> f32 {
    let mut half = [0.0f32; LANES / 2];
    for i in 0..LANES / 2 {
        half[i] = acc[i] + acc[i + LANES / 2];
    }
    let mut quarter = [0.0f32; LANES / 4];
    for i in 0..LANES / 4 {
        quarter[i] = half[i] + half[i + LANES / 4];
    }
    (quarter[0] + quarter[2]) + (quarter[1] + quarter[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_for_odd_lengths() {
        for n in [0, 1, 15, 16, 17, 100, 4096] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 3) % 5) as f32 - 2.0).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert_eq!(dot(&a, &b), naive, "n={n}");
        }
    }

    #[test]
    fn fused_passes_equal_the_separate_calls_bit_for_bit() {
        for n in [0, 1, 15, 16, 17, 100, 256, 4099] {
            let f = |m: usize, k: usize| -> Vec<f32> {
                (0..n)
                    .map(|i| (((i * m) % k) as f32 - 3.3) * 0.37)
                    .collect()
            };
            let (x, z) = (f(7, 11), f(3, 5));
            let (mut y1, mut y2) = (f(5, 13), f(5, 13));
            axpy(&mut y1, -0.61, &x);
            let d = axpy_dot(&mut y2, -0.61, &x, &z);
            assert_eq!(y1, y2, "n={n}");
            assert_eq!(dot(&y1, &z).to_bits(), d.to_bits(), "n={n}");
            let mut y3 = f(5, 13);
            let nn = axpy_norm2(&mut y3, 1.7, &x);
            let mut y4 = f(5, 13);
            axpy(&mut y4, 1.7, &x);
            assert_eq!(y3, y4);
            assert_eq!(norm2(&y4).to_bits(), nn.to_bits(), "n={n}");
            let (mut v1, mut v2) = (f(9, 17), f(9, 17));
            for (vi, ui) in v1.iter_mut().zip(&x) {
                *vi = 0.93 * *vi + 0.21 * ui;
            }
            let (n2, du) = scale_add_norm2_dot(&mut v2, 0.93, 0.21, &x);
            assert_eq!(v1, v2);
            assert_eq!(norm2(&v1).to_bits(), n2.to_bits(), "n={n}");
            assert_eq!(dot(&x, &v1).to_bits(), du.to_bits(), "n={n}");
        }
    }

    #[test]
    fn axpy_and_scale() {
        let mut y = vec![1.0f32; 20];
        axpy(&mut y, 2.0, &[1.0; 20]);
        scale(&mut y, 0.5);
        assert!(y.iter().all(|v| (*v - 1.5).abs() < 1e-6));
    }
}
