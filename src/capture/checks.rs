//! Counted record anomalies: each kind is reported once, at the end of the stream, with a count
//! and the offset of its first occurrence, so a capture with a million bad timestamps gives one
//! line instead of a million.

use crate::capture::layout::implausible;
use crate::capture::{Warning, WarningKind};
use crate::time::Timestamp;

/// How many records showed one anomaly, and where the first was.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    count: u64,
    first: u64,
}

impl Tally {
    #[inline]
    fn note(&mut self, offset: u64) {
        if self.count == 0 {
            self.first = offset;
        }
        self.count += 1;
    }
}

/// Per-stream anomaly counters.
#[derive(Debug, Default)]
pub(crate) struct Checks {
    prev_ts: Option<Timestamp>,
    out_of_order: Tally,
    absurd: Tally,
    snaplen: Tally,
    unknown_iface: Tally,
    ignored_descriptions: Tally,
}

impl Checks {
    /// Checks one yielded record: ordering, plausibility (`bad_ts` when the reader already had
    /// to normalise or clamp it) and captured length against the snaplen and original length.
    #[inline]
    pub(crate) fn record(
        &mut self,
        offset: u64,
        ts: Timestamp,
        bad_ts: bool,
        caplen: u32,
        snaplen: u32,
        orig_len: u32,
    ) {
        if let Some(prev) = self.prev_ts
            && ts < prev
        {
            self.out_of_order.note(offset);
        }
        self.prev_ts = Some(ts);
        if bad_ts || implausible(ts) {
            self.absurd.note(offset);
        }
        if (snaplen > 0 && caplen > snaplen) || caplen > orig_len {
            self.snaplen.note(offset);
        }
    }

    /// A packet referring to an interface that was never described (skipped).
    pub(crate) fn unknown_interface(&mut self, offset: u64) {
        self.unknown_iface.note(offset);
    }

    /// A section or interface description beyond the reader's limits (ignored).
    pub(crate) fn ignored_description(&mut self, offset: u64) {
        self.ignored_descriptions.note(offset);
    }

    /// Appends one warning per anomaly seen and resets the counters.
    pub(crate) fn finish(&mut self, out: &mut Vec<Warning>) {
        // (count, kind, what one record is, what several are)
        let items = [
            (
                self.out_of_order,
                WarningKind::OutOfOrder,
                "record with a timestamp going backwards",
                "records with timestamps going backwards",
            ),
            (
                self.absurd,
                WarningKind::AbsurdTimestamp,
                "record with an implausible timestamp (before 1970, after 2100 or an invalid fraction)",
                "records with implausible timestamps (before 1970, after 2100 or an invalid fraction)",
            ),
            (
                self.snaplen,
                WarningKind::SnaplenViolation,
                "record with a captured length above the snapshot length or the original length",
                "records with a captured length above the snapshot length or the original length",
            ),
            (
                self.unknown_iface,
                WarningKind::UnknownInterface,
                "packet referring to an undescribed interface was skipped",
                "packets referring to an undescribed interface were skipped",
            ),
            (
                self.ignored_descriptions,
                WarningKind::Corrupt,
                "section or interface description beyond the limit of 65536 each was ignored",
                "section or interface descriptions beyond the limit of 65536 each were ignored",
            ),
        ];
        for (tally, kind, one, many) in items {
            if tally.count > 0 {
                let what = if tally.count == 1 { one } else { many };
                out.push(Warning {
                    kind,
                    message: format!("{} {what} (first at byte {})", tally.count, tally.first),
                    offset: Some(tally.first),
                });
            }
        }
        *self = Checks {
            prev_ts: self.prev_ts,
            ..Checks::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_reports_once() {
        let mut c = Checks::default();
        let t = |s| Timestamp::from_secs_nanos(s, 0);
        c.record(24, t(1_600_000_000), false, 60, 65535, 60);
        c.record(100, t(1_500_000_000), false, 60, 65535, 60);
        c.record(200, t(1_400_000_000), false, 70, 64, 60);
        c.record(300, t(-5), false, 60, 0, 60);
        c.unknown_interface(400);
        let mut w = Vec::new();
        c.finish(&mut w);
        assert_eq!(w.len(), 4);
        assert_eq!(w[0].kind, WarningKind::OutOfOrder);
        assert_eq!(
            w[0].message,
            "3 records with timestamps going backwards (first at byte 100)"
        );
        assert_eq!(w[1].offset, Some(300));
        assert_eq!(w[2].kind, WarningKind::SnaplenViolation);
        assert_eq!(w[3].kind, WarningKind::UnknownInterface);
        let mut again = Vec::new();
        c.finish(&mut again);
        assert!(again.is_empty());
    }
}
