//! The one named, seeded PRNG behind every generated sample.
//!
//! ChaCha8 from `rand_chacha` because its output stream is specified (not "whatever the
//! platform's fastest RNG is"), so the same seed yields byte-identical captures everywhere.
//! The helpers below use only integer arithmetic and IEEE-754 `+ - * /`, which are correctly
//! rounded on every platform; the logarithm for exponential gaps is computed here by a series
//! instead of calling the platform libm, whose last-bit results differ between systems.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// Deterministic random source used by the sample generators.
pub struct SampleRng(ChaCha8Rng);

impl SampleRng {
    /// A generator seeded from `seed` (and a stream tag so sub-generators do not overlap).
    #[must_use]
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&stream.to_le_bytes());
        key[16..].copy_from_slice(b"holoscope-sample");
        Self(ChaCha8Rng::from_seed(key))
    }

    /// A uniformly random `u32`.
    pub fn u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    /// A uniformly random `u16`.
    pub fn u16(&mut self) -> u16 {
        (self.0.next_u32() >> 16) as u16
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill_bytes(buf);
    }

    /// Uniform integer in `lo..hi` (`lo` when the range is empty). Lemire's multiply-shift:
    /// the tiny bias is irrelevant for traffic shaping and it stays platform independent.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo;
        let x = u128::from(self.0.next_u64()) * u128::from(span);
        lo + (x >> 64) as u64
    }

    /// Uniform index in `0..n` (0 when `n == 0`).
    pub fn index(&mut self, n: usize) -> usize {
        self.range(0, n as u64) as usize
    }

    /// Uniform float in `[0, 1)` built from 53 random bits.
    #[allow(clippy::cast_precision_loss)]
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Exponentially distributed gap with the given mean (Poisson arrivals).
    pub fn exp(&mut self, mean: f64) -> f64 {
        -det_ln(1.0 - self.unit()) * mean
    }

    /// Picks an index with probability proportional to `weights`.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut x = self.range(0, total);
        for (i, &w) in weights.iter().enumerate() {
            if x < u64::from(w) {
                return i;
            }
            x -= u64::from(w);
        }
        0
    }
}

/// Natural logarithm of `x` in `(0, 1]` using only correctly rounded operations.
///
/// Hand-written on purpose (see the module comment): `x = m * 2^e` with `m` in `[1, 2)`, then
/// `ln m = 2 atanh((m-1)/(m+1))` by its series, whose argument is at most 1/3 so 14 terms give
/// about 1e-15 relative error. Non-positive input returns 0 (never happens: callers pass
/// `1 - unit()`, which is in `(0, 1]`).
#[allow(clippy::cast_possible_wrap, clippy::cast_precision_loss)]
fn det_ln(x: f64) -> f64 {
    if !(x > 0.0 && x.is_finite()) {
        return 0.0;
    }
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if (bits >> 52) & 0x7ff == 0 {
        // Subnormal: cannot come from `unit()`, treat as the smallest normal.
        e = -1022;
        m = 1.0;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut sum = 0.0;
    for k in 0..14 {
        sum += term / f64::from(2 * k + 1);
        term *= s2;
    }
    e as f64 * std::f64::consts::LN_2 + 2.0 * sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = SampleRng::new(7, 1);
        let mut b = SampleRng::new(7, 1);
        let mut c = SampleRng::new(7, 2);
        let xa: Vec<u32> = (0..8).map(|_| a.u32()).collect();
        let xb: Vec<u32> = (0..8).map(|_| b.u32()).collect();
        let xc: Vec<u32> = (0..8).map(|_| c.u32()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    #[test]
    fn range_stays_in_bounds() {
        let mut r = SampleRng::new(1, 0);
        for _ in 0..1000 {
            let x = r.range(10, 13);
            assert!((10..13).contains(&x));
        }
        assert_eq!(r.range(5, 5), 5);
        assert_eq!(r.weighted(&[0, 0, 3]), 2);
    }

    #[test]
    fn det_ln_matches_std() {
        for &x in &[1.0, 0.5, 0.1, 1e-9, 0.999_999, 0.367_879_441] {
            let d: f64 = det_ln(x) - f64::ln(x);
            assert!(d.abs() < 1e-12, "{x}: {d}");
        }
    }
}
