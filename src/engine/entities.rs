//! Entities: hosts by IP address, or by MAC where a frame carries no IP (ARP, LLDP...).
//!
//! Each entity keeps traffic counters, first/last seen, and bounded sets of peers and ports:
//! a spoofed flood must not make one victim's peer set grow without limit, so sets stop at
//! [`SET_CAP`] and count what they could not hold.

use crate::decode::Packet;
use crate::decode::field::format_mac;
use crate::time::Timestamp;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Largest peer/port set kept per entity.
pub const SET_CAP: usize = 4096;

/// Who an entity is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EntityId {
    /// A host by IP address.
    Ip(IpAddr),
    /// A host known only by MAC address.
    Mac([u8; 6]),
}

// Hand-written: the derived impl feeds two enum tags, a length and every address byte through
// the hasher separately; two words say the same (each kind tagged so none equals another).
// Four lookups per packet go through it (both entities and both peer sets).
impl std::hash::Hash for EntityId {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        match self {
            EntityId::Ip(IpAddr::V4(a)) => h.write_u64(u64::from(u32::from(*a)) | 1 << 32),
            EntityId::Ip(IpAddr::V6(a)) => {
                let v = u128::from(*a);
                #[allow(clippy::cast_possible_truncation)]
                {
                    h.write_u64((v >> 64) as u64 ^ 2 << 48);
                    h.write_u64(v as u64);
                }
            }
            EntityId::Mac(m) => {
                let mut w = [0u8; 8];
                w[..6].copy_from_slice(m);
                h.write_u64(u64::from_le_bytes(w) | 3 << 56);
            }
        }
    }
}

impl std::fmt::Display for EntityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntityId::Ip(ip) => write!(f, "{ip}"),
            EntityId::Mac(m) => f.write_str(&format_mac(*m)),
        }
    }
}

/// A bounded set that counts how many distinct values it had to drop (approximately: values
/// dropped twice are counted twice, so `overflow` is an upper bound).
#[derive(Clone, Debug)]
pub struct CappedSet<T: std::hash::Hash + Eq> {
    /// Values kept (only ever added to).
    pub items: FxHashSet<T>,
    /// Insertions refused because the set was full.
    pub overflow: u64,
    /// The last value inserted that is in `items`: a conversation repeats its peer and port
    /// packet after packet, and this skips the set probe (a cache miss in a large set) then.
    last: Option<T>,
}

impl<T: std::hash::Hash + Eq> Default for CappedSet<T> {
    fn default() -> Self {
        Self {
            items: FxHashSet::default(),
            overflow: 0,
            last: None,
        }
    }
}

impl<T: std::hash::Hash + Eq + Copy> CappedSet<T> {
    /// Inserts unless full.
    pub fn insert(&mut self, v: T) {
        if self.last == Some(v) {
            // Already held (`items` never shrinks): inserting again changes nothing.
            return;
        }
        if self.items.len() < SET_CAP {
            self.items.insert(v);
        } else if !self.items.contains(&v) {
            // Refused values are not remembered: each repeat counts again, as before.
            self.overflow += 1;
            return;
        }
        self.last = Some(v);
    }

    /// Adds another set's values (in sorted order, so the kept subset is deterministic).
    pub fn merge(&mut self, other: CappedSet<T>)
    where
        T: Ord,
    {
        let mut items: Vec<T> = other.items.into_iter().collect();
        items.sort_unstable();
        for v in items {
            self.insert(v);
        }
        self.overflow += other.overflow;
    }

    /// Number of distinct values (a lower bound when the set overflowed).
    #[must_use]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Counters of one entity.
#[derive(Clone, Debug)]
pub struct EntityStats {
    /// Packets sent.
    pub packets_out: u64,
    /// Packets received.
    pub packets_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// First packet.
    pub first: Timestamp,
    /// Last packet.
    pub last: Timestamp,
    /// Hosts it talked to (either direction).
    pub peers: CappedSet<EntityId>,
    /// Destination ports it sent to.
    pub ports_out: CappedSet<u16>,
    /// Destination ports it was contacted on.
    pub ports_in: CappedSet<u16>,
}

impl EntityStats {
    fn new(ts: Timestamp) -> Self {
        Self {
            packets_out: 0,
            packets_in: 0,
            bytes_out: 0,
            bytes_in: 0,
            first: ts,
            last: ts,
            peers: CappedSet::default(),
            ports_out: CappedSet::default(),
            ports_in: CappedSet::default(),
        }
    }

    /// Packets both ways.
    #[must_use]
    pub fn packets(&self) -> u64 {
        self.packets_out + self.packets_in
    }
}

/// The source and destination entities of a packet.
#[must_use]
pub fn endpoints(pkt: &Packet) -> Option<(EntityId, EntityId)> {
    match (pkt.src_ip, pkt.dst_ip, pkt.src_mac, pkt.dst_mac) {
        (Some(s), Some(d), _, _) => Some((EntityId::Ip(s), EntityId::Ip(d))),
        (_, _, Some(s), Some(d)) => Some((EntityId::Mac(s), EntityId::Mac(d))),
        _ => None,
    }
}

/// All entities of a capture.
#[derive(Debug, Default, Clone)]
pub struct EntityTable {
    map: FxHashMap<EntityId, EntityStats>,
    evicted: u64,
}

impl EntityTable {
    /// Counts one packet for its source and destination.
    pub fn add(&mut self, pkt: &Packet) {
        let Some((src, dst)) = endpoints(pkt) else {
            return;
        };
        let len = u64::from(pkt.frame_len);
        let s = self
            .map
            .entry(src)
            .or_insert_with(|| EntityStats::new(pkt.ts));
        s.packets_out += 1;
        s.bytes_out += len;
        s.first = s.first.min(pkt.ts);
        s.last = s.last.max(pkt.ts);
        s.peers.insert(dst);
        if let Some(p) = pkt.dst_port {
            s.ports_out.insert(p);
        }
        let d = self
            .map
            .entry(dst)
            .or_insert_with(|| EntityStats::new(pkt.ts));
        d.packets_in += 1;
        d.bytes_in += len;
        d.first = d.first.min(pkt.ts);
        d.last = d.last.max(pkt.ts);
        d.peers.insert(src);
        if let Some(p) = pkt.dst_port {
            d.ports_in.insert(p);
        }
    }

    /// Adds another table (a parallel shard of the same capture).
    pub fn merge(&mut self, other: EntityTable) {
        self.evicted += other.evicted;
        for (id, o) in other.map {
            match self.map.entry(id) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(o);
                }
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    let s = e.get_mut();
                    s.packets_out += o.packets_out;
                    s.packets_in += o.packets_in;
                    s.bytes_out += o.bytes_out;
                    s.bytes_in += o.bytes_in;
                    s.first = s.first.min(o.first);
                    s.last = s.last.max(o.last);
                    s.peers.merge(o.peers);
                    s.ports_out.merge(o.ports_out);
                    s.ports_in.merge(o.ports_in);
                }
            }
        }
    }

    /// Evicts the entities last seen before `cutoff` (retention).
    pub fn evict_before(&mut self, cutoff: Timestamp) {
        let n = self.map.len();
        self.map.retain(|_, s| s.last >= cutoff);
        self.evicted += (n - self.map.len()) as u64;
    }

    /// Entities evicted by retention so far.
    #[must_use]
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Number of entities.
    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Looks an entity up.
    #[must_use]
    pub fn get(&self, id: &EntityId) -> Option<&EntityStats> {
        self.map.get(id)
    }

    /// Iterates over all entities (unordered).
    pub fn iter(&self) -> impl Iterator<Item = (&EntityId, &EntityStats)> {
        self.map.iter()
    }

    /// The `n` busiest entities by packets, as report rows.
    #[must_use]
    pub fn top(&self, n: usize) -> Vec<EntityRow> {
        let mut v: Vec<_> = self.map.iter().collect();
        let order = |a: &(&EntityId, &EntityStats), b: &(&EntityId, &EntityStats)| {
            b.1.packets().cmp(&a.1.packets()).then(a.0.cmp(b.0))
        };
        // Ids are unique: selecting the first n, then sorting them, equals a full sort.
        if n < v.len() {
            v.select_nth_unstable_by(n, order);
            v.truncate(n);
        }
        v.sort_unstable_by(order);
        v.into_iter()
            .take(n)
            .map(|(id, s)| EntityRow::new(id, s))
            .collect()
    }
}

/// One entity as reported.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EntityRow {
    /// Address (IP, or MAC when there is no IP).
    pub entity: String,
    /// Packets both ways.
    pub packets: u64,
    /// Bytes both ways.
    pub bytes: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// Packets received.
    pub packets_in: u64,
    /// First seen (UTC epoch seconds).
    pub first_ts: f64,
    /// Last seen (UTC epoch seconds).
    pub last_ts: f64,
    /// Distinct peers (lower bound when capped).
    pub peers: usize,
    /// Distinct destination ports it sent to.
    pub ports_out: usize,
    /// Distinct destination ports it was contacted on.
    pub ports_in: usize,
    /// A few top peers (busiest first is not tracked; sorted for stable output).
    pub sample_peers: Vec<String>,
}

impl EntityRow {
    pub(crate) fn new(id: &EntityId, s: &EntityStats) -> Self {
        let mut sample: Vec<EntityId> = s.peers.items.iter().copied().collect();
        sample.sort_unstable();
        sample.truncate(5);
        Self {
            entity: id.to_string(),
            packets: s.packets(),
            bytes: s.bytes_in + s.bytes_out,
            packets_out: s.packets_out,
            packets_in: s.packets_in,
            first_ts: s.first.as_secs_f64(),
            last_ts: s.last.as_secs_f64(),
            peers: s.peers.len(),
            ports_out: s.ports_out.len(),
            ports_in: s.ports_in.len(),
            sample_peers: sample.iter().map(ToString::to_string).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_both_ends_and_caps_peer_sets() {
        let mut t = EntityTable::default();
        for i in 0..5000u32 {
            let src = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            t.add(&Packet {
                src_ip: Some(src.into()),
                dst_ip: Some("10.10.10.10".parse().unwrap()),
                dst_port: Some(80),
                frame_len: 60,
                ..Packet::default()
            });
        }
        let victim = t
            .get(&EntityId::Ip("10.10.10.10".parse().unwrap()))
            .unwrap();
        assert_eq!(victim.packets_in, 5000);
        assert_eq!(victim.peers.len(), SET_CAP);
        assert_eq!(victim.peers.overflow, 5000 - SET_CAP as u64);
        assert_eq!(t.len(), 5001);
        assert_eq!(t.top(1)[0].entity, "10.10.10.10");
    }

    #[test]
    fn repeats_count_like_fresh_inserts_in_full_sets() {
        let mut s = CappedSet::<u16>::default();
        for v in 0..SET_CAP as u16 {
            s.insert(v);
            s.insert(v);
        }
        assert_eq!((s.len(), s.overflow), (SET_CAP, 0));
        // A refused value counts on every repeat; a held one never does.
        for _ in 0..3 {
            s.insert(60_000);
            s.insert(60_000);
            s.insert(7);
        }
        assert_eq!((s.len(), s.overflow), (SET_CAP, 6));
        assert!(!s.items.contains(&60_000));
    }

    #[test]
    fn mac_entities_without_ip() {
        let mut t = EntityTable::default();
        t.add(&Packet {
            src_mac: Some([2, 0, 0, 0, 0, 1]),
            dst_mac: Some([0xff; 6]),
            ..Packet::default()
        });
        assert_eq!(t.top(5)[0].entity.len(), 17);
    }
}
