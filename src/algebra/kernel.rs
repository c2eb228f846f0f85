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
    fn axpy_and_scale() {
        let mut y = vec![1.0f32; 20];
        axpy(&mut y, 2.0, &[1.0; 20]);
        scale(&mut y, 0.5);
        assert!(y.iter().all(|v| (*v - 1.5).abs() < 1e-6));
    }
}
