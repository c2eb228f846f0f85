//! Timestamps: nanoseconds since the Unix epoch in a signed 64-bit integer.
//!
//! Why i64 nanoseconds: pcap gives (seconds, fraction) and pcapng gives a 64-bit count in an
//! interface-specific unit. One integer type keeps ordering and arithmetic cheap everywhere after
//! the reader. It covers 1677..2262, which includes the year-2106 overflow case; anything outside
//! is clamped by the reader and reported as an absurd timestamp.

use serde::{Deserialize, Serialize};

/// A capture timestamp in nanoseconds since 1970-01-01 UTC.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Nanoseconds per second.
    pub const NANOS: i64 = 1_000_000_000;

    /// Builds a timestamp from whole seconds and a nanosecond fraction, saturating on overflow.
    #[must_use]
    pub fn from_secs_nanos(secs: i64, nanos: i64) -> Self {
        Self(secs.saturating_mul(Self::NANOS).saturating_add(nanos))
    }

    /// UTC epoch seconds as a float: the unit of every timestamp in the report JSON.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn as_secs_f64(self) -> f64 {
        let secs = self.0.div_euclid(Self::NANOS);
        let frac = self.0.rem_euclid(Self::NANOS);
        secs as f64 + frac as f64 / 1e9
    }

    /// Builds a timestamp from float epoch seconds (used for `--baseline` and truth files).
    #[must_use]
    #[allow(clippy::cast_possible_truncation)]
    pub fn from_secs_f64(secs: f64) -> Self {
        Self((secs * 1e9).round() as i64)
    }

    /// Whole seconds (floor).
    #[must_use]
    pub fn secs(self) -> i64 {
        self.0.div_euclid(Self::NANOS)
    }
}

/// Formats a timestamp as `YYYY-MM-DD HH:MM:SS.ffffff` UTC without a date crate.
///
/// Hand-written because pulling in chrono/time for one formatter is not worth it; the civil
/// date conversion is Howard Hinnant's well-known days-from-civil inverse.
#[must_use]
pub fn format_utc(ts: Timestamp) -> String {
    let secs = ts.secs();
    let micros = ts.0.rem_euclid(Timestamp::NANOS) / 1000;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{micros:06}",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_utc(Timestamp(0)), "1970-01-01 00:00:00.000000");
        let t = Timestamp::from_secs_nanos(4_294_967_296, 0);
        assert_eq!(format_utc(t), "2106-02-07 06:28:16.000000");
        let t = Timestamp::from_secs_nanos(1_418_145_369, 924_505_488);
        assert_eq!(format_utc(t), "2014-12-09 17:16:09.924505");
        assert_eq!(
            format_utc(Timestamp(-505 * Timestamp::NANOS)),
            "1969-12-31 23:51:35.000000"
        );
    }

    #[test]
    fn float_seconds_round_trip() {
        let t = Timestamp::from_secs_nanos(1_795_317_927, 379_921_000);
        assert!((t.as_secs_f64() - 1_795_317_927.379_921).abs() < 1e-6);
        // f64 keeps about 0.2 us at today's epoch: enough for microsecond captures.
        assert!((Timestamp::from_secs_f64(t.as_secs_f64()).0 - t.0).abs() < 1000);
    }
}
