//! The JSON-lines alert stream (`holoscope report --follow-json`): one line per wave start,
//! update and end, with a sequence number, for piping into other tools while a live capture or
//! a growing file is analysed.
//!
//! Detection runs again on every engine snapshot, and a later view of the same traffic may
//! number, stretch, merge or split waves differently. So alerts carry their own stable number
//! (`wave`), assigned at `start`, and each snapshot's waves are matched to the announced ones by
//! time overlap: an overlapping wave continues an alert (an `update` when anything reported
//! changed), a wave overlapping none starts one, and an announced wave no longer seen ends with
//! `reason: "revised"` (or `"merged"` when another alert absorbed its time). A wave ends when
//! the detector closed it (it no longer reaches the newest bucket), or when the stream ends.

use super::findings::{WaveRow, waves};
use crate::detect::Findings;
use serde::Serialize;

/// One line of the stream.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AlertEvent {
    /// 1, 2, 3... over the whole stream, never repeated.
    pub seq: u64,
    /// `start`, `update` or `end`.
    pub event: &'static str,
    /// Stable alert number of the wave (the detector's own id is `detail.id`).
    pub wave: u64,
    /// Why an `end` happened: `closed`, `revised`, `merged` or `stream_end`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// Newest packet time of the view this line comes from (UTC epoch seconds).
    pub at: f64,
    /// Packets analysed when the line was produced.
    pub packets_seen: u64,
    /// The wave as the report shows it (start, end, score, summary, shifts, entities...).
    pub detail: WaveRow,
}

#[derive(Debug)]
struct Tracked {
    alert: u64,
    row: WaveRow,
    open: bool,
}

/// Turns successive findings into alert events.
#[derive(Debug, Default)]
pub struct AlertStream {
    seq: u64,
    next_alert: u64,
    tracked: Vec<Tracked>,
}

/// The same wave in two views: overlapping in time, and of the same kind and conversation (a
/// session wave, a beacon over minutes, overlaps the bucket waves around it without being
/// any of them).
fn overlaps(a: &WaveRow, b: &WaveRow) -> bool {
    a.kind == b.kind && a.scope == b.scope && a.start <= b.end && b.start <= a.end
}

/// What a consumer cares about changed (not float noise in scores).
fn changed(old: &WaveRow, new: &WaveRow) -> bool {
    old.start != new.start
        || old.end != new.end
        || old.packets != new.packets
        || old.summary != new.summary
        || old.entities.len() != new.entities.len()
}

impl AlertStream {
    /// A new stream (sequence numbers start at 1).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The events for a new view of the stream: `at` is its newest packet time and
    /// `packets_seen` the packets analysed so far.
    pub fn observe(&mut self, f: &Findings, at: f64, packets_seen: u64) -> Vec<AlertEvent> {
        let rows = waves(f);
        let newest = f.buckets.len();
        let mut out = Vec::new();
        let mut matched = vec![false; self.tracked.len()];
        for (w, row) in f.waves.iter().zip(rows) {
            let closed = w.buckets.end < newest;
            // Continue the earliest announced alert this wave overlaps; others it overlaps
            // were merged into it.
            let hits: Vec<usize> = (0..self.tracked.len())
                .filter(|i| !matched[*i] && overlaps(&self.tracked[*i].row, &row))
                .collect();
            let Some((&first, rest)) = hits.split_first() else {
                let alert = self.new_alert();
                out.push(self.event("start", alert, None, at, packets_seen, &row));
                if closed {
                    out.push(self.event("end", alert, Some("closed"), at, packets_seen, &row));
                }
                self.tracked.push(Tracked {
                    alert,
                    row,
                    open: !closed,
                });
                matched.push(true);
                continue;
            };
            for &i in rest {
                matched[i] = true;
                if self.tracked[i].open {
                    out.push(self.close(i, "merged", at, packets_seen));
                }
            }
            matched[first] = true;
            let t = &self.tracked[first];
            let (alert, was_open, differs) = (t.alert, t.open, changed(&t.row, &row));
            // Grew or changed, or went on after it had ended: an update (then an end when the
            // detector has closed it in this view).
            if differs || (!was_open && !closed) {
                out.push(self.event("update", alert, None, at, packets_seen, &row));
            }
            if closed && (was_open || differs) {
                out.push(self.event("end", alert, Some("closed"), at, packets_seen, &row));
            }
            let t = &mut self.tracked[first];
            t.row = row;
            t.open = !closed;
        }
        let gone: Vec<usize> = matched
            .iter()
            .enumerate()
            .filter(|(i, m)| !**m && self.tracked[*i].open)
            .map(|(i, _)| i)
            .collect();
        for i in gone {
            out.push(self.close(i, "revised", at, packets_seen));
        }
        out
    }

    /// Ends the open alert at `i`.
    fn close(&mut self, i: usize, reason: &'static str, at: f64, n: u64) -> AlertEvent {
        self.tracked[i].open = false;
        let (a, r) = (self.tracked[i].alert, self.tracked[i].row.clone());
        self.event("end", a, Some(reason), at, n, &r)
    }

    /// The events of the final analysis: its changes, then an `end` for every alert still open.
    pub fn finish(&mut self, f: &Findings, at: f64, packets_seen: u64) -> Vec<AlertEvent> {
        let mut out = self.observe(f, at, packets_seen);
        let open: Vec<usize> = (0..self.tracked.len())
            .filter(|i| self.tracked[*i].open)
            .collect();
        for i in open {
            out.push(self.close(i, "stream_end", at, packets_seen));
        }
        out
    }

    fn new_alert(&mut self) -> u64 {
        self.next_alert += 1;
        self.next_alert
    }

    fn event(
        &mut self,
        event: &'static str,
        wave: u64,
        reason: Option<&'static str>,
        at: f64,
        packets_seen: u64,
        row: &WaveRow,
    ) -> AlertEvent {
        self.seq += 1;
        AlertEvent {
            seq: self.seq,
            event,
            wave,
            reason,
            at,
            packets_seen,
            detail: row.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings_of(path: &str) -> crate::engine::Analysis {
        let src = crate::capture::open(std::path::Path::new(path)).expect("sample");
        crate::engine::analyze(src, &crate::engine::Options::default(), |_| {})
    }

    #[test]
    fn a_whole_capture_gives_start_and_end_per_wave_in_sequence() {
        let a = findings_of("samples/demo.pcap");
        let mut s = AlertStream::new();
        let ev = s.finish(&a.findings, 0.0, a.agg.stats.packets);
        let n = a.findings.waves.len();
        assert!(n >= 2);
        assert_eq!(ev.iter().filter(|e| e.event == "start").count(), n);
        assert_eq!(ev.iter().filter(|e| e.event == "end").count(), n);
        for (i, e) in ev.iter().enumerate() {
            assert_eq!(e.seq, i as u64 + 1);
        }
        // Seeing the same view again says nothing new.
        assert!(s.observe(&a.findings, 0.0, 0).is_empty());
    }

    #[test]
    fn a_session_wave_over_a_bucket_wave_is_its_own_alert() {
        let a = findings_of("samples/demo.pcap");
        let mut f = (*a.findings).clone();
        let mut s = AlertStream::new();
        let first = s.finish(&f, 0.0, 0);
        let n = f.waves.len();
        // A beacon found later, spanning the first wave's time: a new alert, and the first
        // wave's alert neither merges into it nor ends.
        let mut beacon = f.waves[0].clone();
        beacon.scope = Some(crate::detect::session_waves::Scope {
            client: "10.0.0.5".parse().unwrap(),
            server: "10.0.0.70".parse().unwrap(),
            port: 8443,
            proto: 6,
        });
        f.waves.insert(0, beacon);
        let ev = s.observe(&f, 0.0, 0);
        assert_eq!(first.iter().filter(|e| e.event == "start").count(), n);
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert_eq!((ev[0].event, ev[0].wave), ("start", n as u64 + 1));
        assert_eq!(ev[0].detail.kind, "session", "{ev:?}");
        assert_eq!(ev[1].event, "end");
    }

    #[test]
    fn growing_and_vanishing_waves_update_and_end() {
        let a = findings_of("samples/demo.pcap");
        let mut f = (*a.findings).clone();
        let mut s = AlertStream::new();
        // A view where the first wave is still running: it reaches the newest bucket.
        let first = f.waves[0].clone();
        let mut early = f.clone();
        early.waves.truncate(1);
        early.buckets.truncate(first.buckets.end);
        let ev = s.observe(&early, 1.0, 10);
        assert_eq!(
            ev.iter().map(|e| e.event).collect::<Vec<_>>(),
            vec!["start"]
        );
        // It grew and closed: one update and one end, same alert number.
        f.waves[0].packets += 5;
        let ev = s.observe(&f, 2.0, 20);
        let mine: Vec<_> = ev.iter().filter(|e| e.wave == 1).map(|e| e.event).collect();
        assert_eq!(mine, vec!["update", "end"]);
        // An announced wave still running in one view and gone in the next ends as revised.
        let mut s = AlertStream::new();
        let mut v = (*a.findings).clone();
        v.waves.truncate(2);
        v.buckets.truncate(v.waves[1].buckets.end);
        let ev = s.observe(&v, 1.0, 10);
        assert_eq!(
            ev.iter().map(|e| (e.event, e.wave)).collect::<Vec<_>>(),
            vec![("start", 1), ("end", 1), ("start", 2)]
        );
        let mut g = v.clone();
        let gone = g.waves.remove(1);
        let ev = s.observe(&g, 2.0, 20);
        assert_eq!(ev.len(), 1);
        assert_eq!((ev[0].event, ev[0].wave), ("end", 2));
        assert_eq!(ev[0].reason, Some("revised"));
        assert!((ev[0].detail.start - gone.start.as_secs_f64()).abs() < 1e-9);
        assert_eq!(ev[0].seq, 4);
    }
}
