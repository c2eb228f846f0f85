//! Flows: packets grouped by direction-normalised 5-tuple.
//!
//! The key puts the lower (address, port) endpoint first, so both directions of a conversation
//! share one entry; the first packet seen decides who initiated it. Community IDs are computed
//! only when a flow is reported (a SHA-1 per flow, not per packet).

use super::community_id::community_id;
use crate::decode::Packet;
use crate::time::Timestamp;
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::net::IpAddr;

/// Direction-normalised 5-tuple (`a` is the lower endpoint).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    /// IP protocol.
    pub proto: u8,
    /// Lower endpoint address.
    pub a_ip: IpAddr,
    /// Lower endpoint port (ICMP: type).
    pub a_port: u16,
    /// Higher endpoint address.
    pub b_ip: IpAddr,
    /// Higher endpoint port (ICMP: code).
    pub b_port: u16,
}

/// An address as two words for hashing (IPv4 tagged so it never equals an IPv6 word pair).
fn ip_words(ip: &IpAddr) -> (u64, u64) {
    match ip {
        IpAddr::V4(a) => (0, u64::from(u32::from(*a)) | 1 << 32),
        IpAddr::V6(a) => {
            let v = u128::from(*a);
            #[allow(clippy::cast_possible_truncation)]
            ((v >> 64) as u64, v as u64)
        }
    }
}

// Hand-written: the derived impl feeds the enum tags and every byte through the hasher
// separately; four words are enough and this is the hottest lookup of the pass.
impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let (ah, al) = ip_words(&self.a_ip);
        let (bh, bl) = ip_words(&self.b_ip);
        h.write_u64(ah ^ bh.rotate_left(29));
        h.write_u64(al);
        h.write_u64(bl);
        h.write_u64(
            u64::from(self.a_port) << 24 | u64::from(self.b_port) << 8 | u64::from(self.proto),
        );
    }
}

impl FlowKey {
    /// The key of a packet and whether the packet goes from `a` to `b`. `None` without IP.
    #[must_use]
    pub fn of(pkt: &Packet) -> Option<(FlowKey, bool)> {
        let (src, dst, proto) = (pkt.src_ip?, pkt.dst_ip?, pkt.proto.unwrap_or(0));
        let (sp, dp) = match (pkt.src_port, pkt.dst_port) {
            (Some(s), Some(d)) => (s, d),
            // ICMP flows are keyed by type/code only through the Community ID; here the
            // conversation between two hosts is one flow whatever the message type.
            _ => (0, 0),
        };
        Some(if (src, sp) <= (dst, dp) {
            (
                FlowKey {
                    proto,
                    a_ip: src,
                    a_port: sp,
                    b_ip: dst,
                    b_port: dp,
                },
                true,
            )
        } else {
            (
                FlowKey {
                    proto,
                    a_ip: dst,
                    a_port: dp,
                    b_ip: src,
                    b_port: sp,
                },
                false,
            )
        })
    }
}

/// Counters of one flow.
#[derive(Clone, Debug)]
pub struct FlowStats {
    /// True when the first packet went from `a` to `b` (then `a` is the originator).
    pub a_originated: bool,
    /// Packets a->b.
    pub packets_ab: u64,
    /// Packets b->a.
    pub packets_ba: u64,
    /// Bytes a->b (frame lengths).
    pub bytes_ab: u64,
    /// Bytes b->a.
    pub bytes_ba: u64,
    /// First packet time.
    pub first: Timestamp,
    /// Last packet time.
    pub last: Timestamp,
    /// Union of TCP flags seen.
    pub tcp_flags: u8,
    /// ICMP type of the first packet (for the Community ID).
    pub icmp: Option<(u8, u8)>,
}

/// All flows of a capture: a key -> slot map and a vector of records (cheap to grow: rehashing
/// moves 4-byte slots, not the records).
#[derive(Debug, Default, Clone)]
pub struct FlowTable {
    slots: FxHashMap<FlowKey, u32>,
    keys: Vec<FlowKey>,
    stats: Vec<FlowStats>,
    evicted: u64,
}

/// Makes room for `additional` more items in a vector that may grow very large: from
/// [`BIG_FROM`] items on, room for `max` items (or for the `additional`, if more) at once;
/// past `max` it grows as usual. Doubling a big vector copies it (jemalloc copies a large
/// block it cannot grow in place) and touches up to twice its final size in fresh pages: on
/// the 1.5 M-packet bench capture's 257,593 flows and sessions, about 0.2 s of CPU (medians of
/// six runs). Address space reserved beyond what is used costs nothing until it is written.
pub(crate) fn reserve_big<T>(v: &mut Vec<T>, additional: usize, max: usize) {
    if v.capacity() - v.len() < additional && v.len() >= BIG_FROM && v.len() < max {
        v.reserve_exact((max - v.len()).max(additional));
    }
}

/// Length from which [`reserve_big`] reserves the maximum. At 65,536 (before), the doublings
/// up to it still copied the bench capture's first 65,536 session records (288 bytes each) and
/// flows, and the pass's packet index: together with the session findings sized up front
/// ([`crate::detect::violations::findings`]), 18 k fewer page faults and 2-3% less CPU for
/// `report` (two rounds of eight and ten alternating runs). A capture with fewer flows never
/// reserves.
pub(crate) const BIG_FROM: usize = 1 << 12;

impl FlowTable {
    /// Counts one packet; returns its flow's slot (flows are numbered in order of first
    /// appearance, so tables that follow the same packets can share the numbering) and key.
    pub fn add(&mut self, pkt: &Packet) -> Option<(usize, FlowKey)> {
        let (key, ab) = FlowKey::of(pkt)?;
        let len = u64::from(pkt.frame_len);
        // One probe for hit and miss alike (a quarter of a scan's or flood's packets open a
        // new flow).
        let slot = match self.slots.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => *e.get() as usize,
            std::collections::hash_map::Entry::Vacant(e) => {
                let i = self.stats.len();
                e.insert(u32::try_from(i).unwrap_or(u32::MAX));
                reserve_big(&mut self.keys, 1, crate::detect::session::MAX_SESSIONS);
                reserve_big(&mut self.stats, 1, crate::detect::session::MAX_SESSIONS);
                self.keys.push(key);
                self.stats.push(FlowStats {
                    a_originated: ab,
                    packets_ab: 0,
                    packets_ba: 0,
                    bytes_ab: 0,
                    bytes_ba: 0,
                    first: pkt.ts,
                    last: pkt.ts,
                    tcp_flags: 0,
                    icmp: pkt.icmp_type.map(|t| (t, pkt.icmp_code.unwrap_or(0))),
                });
                i
            }
        };
        let s = self.stats.get_mut(slot)?;
        if ab {
            s.packets_ab += 1;
            s.bytes_ab += len;
        } else {
            s.packets_ba += 1;
            s.bytes_ba += len;
        }
        s.first = s.first.min(pkt.ts);
        s.last = s.last.max(pkt.ts);
        s.tcp_flags |= pkt.tcp_flags.unwrap_or(0);
        Some((slot, key))
    }

    /// Adds another table (a parallel shard). Shards split by flow key never share a flow; if
    /// they do, the counters add up and the earlier first packet decides the originator.
    pub fn merge(&mut self, other: FlowTable) {
        self.evicted += other.evicted;
        for (k, o) in other.keys.into_iter().zip(other.stats) {
            let Some(&i) = self.slots.get(&k) else {
                self.slots
                    .insert(k, u32::try_from(self.stats.len()).unwrap_or(u32::MAX));
                self.keys.push(k);
                self.stats.push(o);
                continue;
            };
            let Some(s) = self.stats.get_mut(i as usize) else {
                continue;
            };
            if o.first < s.first {
                s.a_originated = o.a_originated;
                s.icmp = o.icmp;
            }
            s.packets_ab += o.packets_ab;
            s.packets_ba += o.packets_ba;
            s.bytes_ab += o.bytes_ab;
            s.bytes_ba += o.bytes_ba;
            s.first = s.first.min(o.first);
            s.last = s.last.max(o.last);
            s.tcp_flags |= o.tcp_flags;
        }
    }

    /// Evicts the flows last seen before `cutoff` (retention). Slots are renumbered in order,
    /// so the returned keep-mask (per old slot) lets a table that shares the numbering (the
    /// sessions) do the same; `None` when nothing was evicted.
    pub fn evict_before(&mut self, cutoff: Timestamp) -> Option<Vec<bool>> {
        if !self.stats.iter().any(|s| s.last < cutoff) {
            return None;
        }
        let keep: Vec<bool> = self.stats.iter().map(|s| s.last >= cutoff).collect();
        let mut renum = Vec::with_capacity(keep.len());
        let mut next = 0u32;
        for k in &keep {
            renum.push(next);
            next += u32::from(*k);
        }
        let mut it = keep.iter();
        self.keys.retain(|_| it.next().copied().unwrap_or(true));
        let mut it = keep.iter();
        self.stats.retain(|_| it.next().copied().unwrap_or(true));
        self.slots.retain(|_, v| {
            let i = *v as usize;
            if keep.get(i).copied().unwrap_or(false) {
                *v = renum[i];
                true
            } else {
                false
            }
        });
        self.evicted += (keep.len() - self.stats.len()) as u64;
        Some(keep)
    }

    /// Flows evicted by retention so far.
    #[must_use]
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Number of flows.
    #[must_use]
    pub fn len(&self) -> usize {
        self.stats.len()
    }

    /// True when no flow was seen.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.stats.is_empty()
    }

    /// Iterates over all flows in order of first appearance.
    pub fn iter(&self) -> impl Iterator<Item = (&FlowKey, &FlowStats)> {
        self.keys.iter().zip(&self.stats)
    }

    /// The `n` largest flows by packets (ties by key), as report rows.
    #[must_use]
    pub fn top(&self, n: usize) -> Vec<FlowRow> {
        let mut v: Vec<_> = self.iter().collect();
        let order = |a: &(&FlowKey, &FlowStats), b: &(&FlowKey, &FlowStats)| {
            (b.1.packets_ab + b.1.packets_ba)
                .cmp(&(a.1.packets_ab + a.1.packets_ba))
                .then(a.0.cmp(b.0))
        };
        // Keys are unique, so the order is total and selecting the first n before sorting
        // them gives exactly the rows a full sort would (a flood has hundreds of thousands).
        if n < v.len() {
            v.select_nth_unstable_by(n, order);
            v.truncate(n);
        }
        v.sort_unstable_by(order);
        v.into_iter()
            .take(n)
            .map(|(k, s)| FlowRow::new(k, s))
            .collect()
    }
}

/// One flow as reported (originator first).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FlowRow {
    /// Community ID v1.
    pub community_id: String,
    /// IP protocol number.
    pub proto: u8,
    /// Originator address.
    pub src_ip: String,
    /// Originator port.
    pub src_port: u16,
    /// Responder address.
    pub dst_ip: String,
    /// Responder port.
    pub dst_port: u16,
    /// Packets both ways.
    pub packets: u64,
    /// Bytes both ways.
    pub bytes: u64,
    /// Packets originator -> responder.
    pub packets_fwd: u64,
    /// Packets responder -> originator.
    pub packets_rev: u64,
    /// First packet (UTC epoch seconds).
    pub first_ts: f64,
    /// Last packet (UTC epoch seconds).
    pub last_ts: f64,
    /// TCP flags seen (letters).
    pub tcp_flags: String,
}

impl FlowRow {
    fn new(k: &FlowKey, s: &FlowStats) -> Self {
        let (src, sp, dst, dp, fwd, rev) = if s.a_originated {
            (
                k.a_ip,
                k.a_port,
                k.b_ip,
                k.b_port,
                s.packets_ab,
                s.packets_ba,
            )
        } else {
            (
                k.b_ip,
                k.b_port,
                k.a_ip,
                k.a_port,
                s.packets_ba,
                s.packets_ab,
            )
        };
        let cid = match s.icmp {
            Some((t, c)) if k.proto == 1 || k.proto == 58 => {
                community_id(src, dst, k.proto, u16::from(t), u16::from(c))
            }
            _ => community_id(src, dst, k.proto, sp, dp),
        };
        Self {
            community_id: cid,
            proto: k.proto,
            src_ip: src.to_string(),
            src_port: sp,
            dst_ip: dst.to_string(),
            dst_port: dp,
            packets: fwd + rev,
            bytes: s.bytes_ab + s.bytes_ba,
            packets_fwd: fwd,
            packets_rev: rev,
            first_ts: s.first.as_secs_f64(),
            last_ts: s.last.as_secs_f64(),
            tcp_flags: if k.proto == 6 {
                crate::decode::field::tcp_flags_letters(u64::from(s.tcp_flags))
            } else {
                String::new()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_vector_reserves_its_maximum_once_and_a_small_one_never() {
        let mut small: Vec<u32> = Vec::new();
        for i in 0..1000 {
            reserve_big(&mut small, 1, 1 << 20);
            small.push(i);
        }
        assert!(small.capacity() < BIG_FROM, "{}", small.capacity());
        let mut big: Vec<u32> = Vec::new();
        for i in 0..BIG_FROM + 1 {
            reserve_big(&mut big, 1, 1 << 20);
            big.push(i as u32);
        }
        assert_eq!(big.capacity(), 1 << 20);
        // Past the maximum the vector grows as usual (doubling, not one item at a time).
        big.resize(1 << 20, 0);
        reserve_big(&mut big, 1, 1 << 20);
        big.push(1);
        assert!(big.capacity() >= 2 << 20, "{}", big.capacity());
    }

    #[test]
    fn a_batch_that_crosses_the_maximum_gets_room_for_all_of_it() {
        let mut v: Vec<u64> = vec![0; BIG_FROM];
        reserve_big(&mut v, 100, BIG_FROM + 10);
        assert!(v.capacity() >= BIG_FROM + 100, "{}", v.capacity());
        let cap = v.capacity();
        v.extend(std::iter::repeat_n(1, 100));
        assert_eq!(v.capacity(), cap, "no second allocation for the batch");
    }

    fn p(src: &str, sp: u16, dst: &str, dp: u16) -> Packet {
        Packet {
            src_ip: Some(src.parse().unwrap()),
            dst_ip: Some(dst.parse().unwrap()),
            src_port: Some(sp),
            dst_port: Some(dp),
            proto: Some(6),
            frame_len: 100,
            ..Packet::default()
        }
    }

    #[test]
    fn both_directions_share_a_flow_and_keep_the_originator() {
        let mut t = FlowTable::default();
        t.add(&p("66.35.250.204", 80, "128.232.110.120", 34855)); // responder speaks first? no:
        t.add(&p("128.232.110.120", 34855, "66.35.250.204", 80));
        t.add(&p("128.232.110.120", 34855, "66.35.250.204", 80));
        assert_eq!(t.len(), 1);
        let row = &t.top(10)[0];
        assert_eq!((row.packets, row.bytes), (3, 300));
        // The first packet seen decides the originator.
        assert_eq!(row.src_ip, "66.35.250.204");
        assert_eq!((row.packets_fwd, row.packets_rev), (1, 2));
        assert_eq!(row.community_id, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    }
}
