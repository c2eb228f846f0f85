//! Bounded memory for unbounded input: how much of the stream is kept in detail, and the
//! cutoff before which buckets are folded into history and table records evicted.
//!
//! Every consumer thread (timeline, tables, residual) and the index keeper run their own
//! [`Clock`] over the same batches in the same order, so they compute the same cutoffs without
//! talking to each other; cutoffs move only at batch boundaries and never backwards.

use crate::decode::Packet;
use serde::Serialize;
use std::collections::VecDeque;

/// How much of the stream is kept in detail: a time span and/or bytes of wire data (the
/// stricter wins when both are set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep packets at most this much older than the newest one (nanoseconds).
    pub span_ns: Option<i64>,
    /// Keep at most about this many bytes of wire data (original frame lengths).
    pub bytes: Option<u64>,
}

/// Retention applied to `--interface` when none is given: ten minutes.
pub const LIVE_DEFAULT: Retention = Retention {
    span_ns: Some(600 * 1_000_000_000),
    bytes: None,
};

impl Retention {
    /// Parses `10m`, `90s`, `1h`, `512MB`, `2GiB`, or a time and a size separated by a comma
    /// (`10m,512MB`). Sizes take `B`, `KB`/`MB`/`GB` (powers of 1000) or `KiB`/`MiB`/`GiB`.
    ///
    /// # Errors
    /// A message naming what could not be parsed.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut r = Retention::default();
        for part in s.split(',').map(str::trim) {
            let bad = || format!("bad retention {part:?} (try 10m, 512MB or 10m,512MB)");
            let split = part
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(bad)?;
            let (num, unit) = part.split_at(split);
            let v: f64 = num.parse().map_err(|_| bad())?;
            if !v.is_finite() || v <= 0.0 {
                return Err(bad());
            }
            let time = match unit {
                "ms" => Some(1e6),
                "s" => Some(1e9),
                "m" | "min" => Some(60e9),
                "h" => Some(3600e9),
                "d" => Some(86_400e9),
                _ => None,
            };
            let size = match unit.to_ascii_lowercase().as_str() {
                "b" => Some(1.0),
                "kb" | "k" => Some(1e3),
                "mb" | "mbyte" => Some(1e6),
                "gb" => Some(1e9),
                "kib" => Some(1024.0),
                "mib" => Some(1024.0 * 1024.0),
                "gib" => Some(1024.0 * 1024.0 * 1024.0),
                _ => None,
            };
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            match (time, size) {
                (Some(m), _) if r.span_ns.is_none() => {
                    r.span_ns = Some((v * m).clamp(1e6, 9e18) as i64);
                }
                (None, Some(m)) if r.bytes.is_none() => {
                    r.bytes = Some((v * m).clamp(1.0, 1.8e19) as u64);
                }
                _ => return Err(bad()),
            }
        }
        Ok(r)
    }

    /// True when nothing is limited.
    #[must_use]
    pub fn is_unbounded(&self) -> bool {
        self.span_ns.is_none() && self.bytes.is_none()
    }
}

impl std::fmt::Display for Retention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(ns) = self.span_ns {
            #[allow(clippy::cast_precision_loss)]
            parts.push(format!("{}s", ns as f64 / 1e9));
        }
        if let Some(b) = self.bytes {
            parts.push(format!("{b} bytes"));
        }
        f.write_str(&parts.join(" and "))
    }
}

/// Leaf-cache budget of the residual stage under retention (bytes): 32k leaves of the default
/// 256-dimension stripes.
pub const LEAF_BUDGET: usize = 32 << 20;

/// The deterministic cutoff: a pure function of the batches seen so far.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    ret: Retention,
    newest: Option<i64>,
    cutoff: Option<i64>,
    /// Per batch (for the byte limit): newest timestamp in it and its wire bytes.
    batches: VecDeque<(i64, u64)>,
    bytes: u64,
}

impl Clock {
    /// A clock for a retention.
    #[must_use]
    pub fn new(ret: Retention) -> Self {
        Self {
            ret,
            ..Self::default()
        }
    }

    /// The retention it applies.
    #[must_use]
    pub fn retention(&self) -> Retention {
        self.ret
    }

    /// Takes one batch into account and returns the cutoff: everything strictly older than it
    /// may be forgotten. `None` while no limit was reached.
    ///
    /// The newest timestamp moves the clock. A live source stamps packets itself; a file
    /// with one packet stamped in 2106 folds what came before it (its totals stay), and
    /// [`REAPPLY_BATCHES`] keeps what follows bounded.
    pub fn advance(&mut self, batch: &[Packet]) -> Option<i64> {
        let Some(max) = batch.iter().map(|p| p.ts.0).max() else {
            return self.cutoff;
        };
        let newest = self.newest.map_or(max, |n| n.max(max));
        self.newest = Some(newest);
        let mut cut = self.ret.span_ns.map(|s| newest.saturating_sub(s));
        if let Some(limit) = self.ret.bytes {
            let bytes: u64 = batch.iter().map(|p| u64::from(p.frame_len)).sum();
            self.batches.push_back((max, bytes));
            self.bytes += bytes;
            // Whole batches leave the window while the rest still exceeds the limit; the
            // newest batch always stays.
            while self.bytes > limit && self.batches.len() > 1 {
                let Some((ts, b)) = self.batches.pop_front() else {
                    break;
                };
                self.bytes -= b;
                let c = ts.saturating_add(1);
                cut = Some(cut.map_or(c, |x| x.max(c)));
            }
        }
        if let Some(c) = cut {
            self.cutoff = Some(self.cutoff.map_or(c, |x| x.max(c)));
        }
        self.cutoff
    }

    /// The current cutoff.
    #[must_use]
    pub fn cutoff(&self) -> Option<i64> {
        self.cutoff
    }

    /// The newest timestamp seen.
    #[must_use]
    pub fn newest(&self) -> Option<i64> {
        self.newest
    }
}

/// Batches after which a cutoff is applied again even if it did not move (256 batches of
/// 4096 packets: about a million packets).
pub const REAPPLY_BATCHES: u32 = 256;

/// One consumer's retention state: its own [`Clock`] and the cutoff it last applied. Each
/// stage calls its method once per batch, after feeding the batch's packets.
#[derive(Clone, Debug, Default)]
pub struct Keeper {
    clock: Option<Clock>,
    applied: Option<i64>,
    /// Batches since the cutoff was last applied.
    since: u32,
    /// Per batch still in the index: number of its first packet and its newest timestamp.
    batches: VecDeque<(u64, i64)>,
}

impl Keeper {
    /// A keeper for an optional retention (`None`: every method does nothing).
    #[must_use]
    pub fn new(ret: Option<Retention>) -> Self {
        Self {
            clock: ret.filter(|r| !r.is_unbounded()).map(Clock::new),
            ..Self::default()
        }
    }

    /// Advances the clock; returns the cutoff when it moved by at least `1/den` of the kept
    /// span since it was last applied (so work proportional to a table's size is done a
    /// bounded number of times per span, not per batch), or after [`REAPPLY_BATCHES`] batches
    /// whatever it did (records that arrive already older than a cutoff that stopped moving,
    /// after a clock jump, must not pile up).
    fn due(&mut self, batch: &[Packet], den: i64) -> Option<i64> {
        let clock = self.clock.as_mut()?;
        let cut = clock.advance(batch)?;
        let newest = clock.newest()?;
        let step = (newest.saturating_sub(cut) / den.max(1)).max(1);
        self.since = self.since.saturating_add(1);
        match self.applied {
            Some(a) if cut.saturating_sub(a) < step && self.since < REAPPLY_BATCHES => None,
            _ => {
                self.applied = Some(cut);
                self.since = 0;
                Some(cut)
            }
        }
    }

    /// Timeline stage: folds buckets that ended before the cutoff into the history.
    pub fn timeline(&mut self, tl: &mut crate::timeline::Timeline, batch: &[Packet]) {
        if let Some(cut) = self.due(batch, 64) {
            tl.fold_before(cut);
        }
    }

    /// Tables stage: evicts flows (with their sessions) and entities last seen before the
    /// cutoff. Their packets stay in the capture totals.
    pub fn tables(&mut self, agg: &mut super::Aggregates, batch: &[Packet]) {
        if let Some(cut) = self.due(batch, 8) {
            let cut = crate::time::Timestamp(cut);
            if let Some(keep) = agg.flows.evict_before(cut) {
                agg.sessions.retain_slots(&keep);
            }
            agg.entities.evict_before(cut);
        }
    }

    /// Residual stage: forgets per-cell profiles of cells that ended before the cutoff.
    pub fn residual(
        &mut self,
        stage: &mut crate::detect::residual::ResidualStage,
        batch: &[Packet],
    ) {
        if let Some(cut) = self.due(batch, 64) {
            stage.forget_before(cut);
        }
    }

    /// Index keeper: `first` is the packet number of `index[0]`, `batch` the packets whose
    /// offsets were just appended. Entries of batches wholly before the cutoff are dropped,
    /// in large steps (at least half the index) so the shifting costs O(1) per packet.
    pub fn index(&mut self, index: &mut Vec<u64>, first: &mut u64, batch: &[Packet]) {
        if self.clock.is_none() {
            return;
        }
        let Some(newest) = batch.iter().map(|p| p.ts.0).max() else {
            return;
        };
        let start = (*first + index.len() as u64).saturating_sub(batch.len() as u64);
        self.batches.push_back((start, newest));
        let Some(cut) = self.due(batch, 64) else {
            return;
        };
        // Leading batches wholly before the cutoff (the newest batch always stays).
        let old = self
            .batches
            .iter()
            .take(self.batches.len().saturating_sub(1))
            .take_while(|b| b.1 < cut)
            .count();
        let Some(&(drop_to, _)) = self.batches.get(old) else {
            return;
        };
        let n = usize::try_from(drop_to.saturating_sub(*first))
            .unwrap_or(0)
            .min(index.len());
        if n > 0 && 2 * n >= index.len() {
            index.drain(..n);
            *first += n as u64;
            self.batches.drain(..old);
        }
    }
}

/// What retention did over a pass (the report's `retention` object).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RetentionReport {
    /// Time kept in detail (seconds), when limited by time.
    pub span_s: Option<f64>,
    /// Wire bytes kept in detail, when limited by size.
    pub bytes: Option<u64>,
    /// Cutoff reached (UTC epoch seconds): detail before it was folded or evicted.
    pub cutoff_ts: Option<f64>,
    /// Timeline buckets folded into the history summary.
    pub buckets_folded: u64,
    /// Packets counted only in the history summary.
    pub packets_in_history: u64,
    /// Flows (and their sessions) evicted.
    pub flows_evicted: u64,
    /// Entities evicted.
    pub entities_evicted: u64,
    /// Per-packet index entries dropped.
    pub index_dropped: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn p(ts_s: i64, len: u32) -> Packet {
        Packet {
            ts: Timestamp(ts_s * 1_000_000_000),
            frame_len: len,
            ..Packet::default()
        }
    }

    fn tcp(ts_s: i64, src: u8, sport: u16) -> Packet {
        Packet {
            ts: Timestamp(ts_s * 1_000_000_000),
            frame_len: 60,
            src_ip: Some(std::net::Ipv4Addr::new(10, 0, 0, src).into()),
            dst_ip: Some(std::net::Ipv4Addr::new(10, 0, 1, 1).into()),
            src_port: Some(sport),
            dst_port: Some(80),
            proto: Some(6),
            tcp_flags: Some(0x18),
            ..Packet::default()
        }
    }

    #[test]
    fn eviction_keeps_flows_and_sessions_numbered_alike() {
        let mut agg = super::super::Aggregates::default();
        let mut keep = Keeper::new(Some(Retention {
            span_ns: Some(100_000_000_000),
            bytes: None,
        }));
        // One long-lived flow (port 1000) plus a new short flow every second.
        for sec in 0..400i64 {
            let batch: Vec<Packet> = vec![
                tcp(sec, 1, 1000),
                tcp(sec, (sec % 200) as u8 + 2, 2000 + (sec as u16)),
            ];
            for p in &batch {
                agg.observe_tables(p);
            }
            keep.tables(&mut agg, &batch);
        }
        assert!(agg.flows.evicted() > 200, "{}", agg.flows.evicted());
        assert_eq!(agg.flows.evicted(), agg.sessions.evicted());
        assert!(agg.entities.evicted() > 0);
        // Same keys in the same slots, and each session counted the same packets as its flow.
        assert_eq!(agg.flows.len(), agg.sessions.len());
        for ((fk, fs), (sk, ss)) in agg.flows.iter().zip(agg.sessions.iter()) {
            assert_eq!(fk, sk);
            assert_eq!(fs.packets_ab + fs.packets_ba, ss.packets());
        }
        // The long flow survived every eviction with all its packets; totals keep everything.
        let long = agg.flows.iter().find(|(k, _)| k.a_port == 1000);
        assert_eq!(long.map(|(_, s)| s.packets_ab + s.packets_ba), Some(400));
        assert_eq!(agg.stats.packets, 800);
        // Only about the retained span (plus one eviction step) of short flows is left.
        assert!(
            agg.flows.len() <= 1 + 100 + 100 / 8 + 2,
            "{}",
            agg.flows.len()
        );
    }

    #[test]
    fn index_keeps_recent_entries_and_their_numbers() {
        let mut keep = Keeper::new(Some(Retention {
            span_ns: Some(10_000_000_000),
            bytes: None,
        }));
        let (mut index, mut first) = (Vec::new(), 0u64);
        for sec in 0..1000i64 {
            let batch = vec![p(sec, 1), p(sec, 1)];
            for i in 0..2 {
                index.push((2 * sec + i) as u64 * 100);
            }
            keep.index(&mut index, &mut first, &batch);
        }
        assert!(first > 1800, "{first}");
        assert!(index.len() <= 2 * 2 * 12, "{}", index.len());
        // Entry k still holds packet number first + k's offset.
        for (k, off) in index.iter().enumerate() {
            assert_eq!(*off, (first + k as u64) * 100);
        }
        let agg = super::super::Aggregates {
            index: index.clone(),
            index_first: first,
            ..Default::default()
        };
        assert_eq!(agg.index_from(1998), &[199_800, 199_900]);
        assert_eq!(agg.index_from(0), &index[..]);
    }

    #[test]
    fn parses_time_size_and_both() {
        let r = Retention::parse("10m").unwrap();
        assert_eq!(r.span_ns, Some(600_000_000_000));
        assert_eq!(Retention::parse("512MB").unwrap().bytes, Some(512_000_000));
        assert_eq!(Retention::parse("1MiB").unwrap().bytes, Some(1 << 20));
        let both = Retention::parse("90s, 2GB").unwrap();
        assert_eq!(both.span_ns, Some(90_000_000_000));
        assert_eq!(both.bytes, Some(2_000_000_000));
        for bad in ["", "10", "10x", "-5m", "1m,2m", "0s"] {
            assert!(Retention::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_cutoff_that_stopped_moving_is_still_applied_to_late_records() {
        let mut k = Keeper::new(Some(Retention {
            span_ns: Some(10_000_000_000),
            bytes: None,
        }));
        let mut tl = crate::timeline::Timeline::fixed(1_000_000_000);
        // A clock jump to 2106, then ordinary packets that are all older than the cutoff.
        let far = vec![p(4_294_967_295, 1)];
        tl.add(&far[0]);
        k.timeline(&mut tl, &far);
        for sec in 0..(2 * i64::from(REAPPLY_BATCHES)) {
            let b = vec![p(sec, 1)];
            tl.add(&b[0]);
            k.timeline(&mut tl, &b);
        }
        tl.flush();
        assert!(tl.buckets().len() <= REAPPLY_BATCHES as usize + 1);
        let kept: u64 = tl.buckets().iter().map(|b| b.packets).sum();
        assert_eq!(
            kept + tl.history().packets(),
            1 + 2 * u64::from(REAPPLY_BATCHES)
        );
    }

    #[test]
    fn cutoff_is_monotone_and_follows_the_stricter_limit() {
        let mut c = Clock::new(Retention {
            span_ns: Some(100_000_000_000),
            bytes: Some(1000),
        });
        assert_eq!(c.advance(&[p(0, 400), p(10, 400)]), Some(-90_000_000_000));
        // 800 + 800 bytes > 1000: the first batch leaves, cutoff just after its newest packet.
        assert_eq!(c.advance(&[p(20, 400), p(30, 400)]), Some(10_000_000_001));
        // Time now decides; a late packet does not move the cutoff back.
        assert_eq!(c.advance(&[p(200, 1)]), Some(100_000_000_000));
        assert_eq!(c.advance(&[p(5, 1)]), Some(100_000_000_000));
    }
}
