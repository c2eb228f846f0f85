//! Per-session statistics gathered in the one streaming pass, for the protocol-expectation
//! checks and beaconing.
//!
//! A session is a direction-normalised 5-tuple (the flows' [`FlowKey`]). The work per packet
//! is one hash lookup and a few additions: sizes are accumulated with Welford's method, bursts
//! (runs of packets separated by less than [`BURST_GAP_NS`]) are recorded as (start, bytes)
//! pairs in a bounded list for the beacon scorer. The table itself is bounded: a spoofed flood
//! of random sources must not grow it without limit, so past [`MAX_SESSIONS`] new sessions are
//! only counted.

use crate::decode::Packet;
use crate::engine::flows::FlowKey;
use crate::time::Timestamp;
use rustc_hash::FxHashMap;
use std::net::IpAddr;

/// Largest number of sessions kept; later ones are counted in [`SessionTable::dropped`].
pub const MAX_SESSIONS: usize = 1 << 20;
/// Bursts recorded per session (beacon scoring needs tens, not thousands).
pub const MAX_BURSTS: usize = 256;
/// Idle time that closes a burst: one second, longer than any round trip on a LAN or the
/// Internet and shorter than any beacon period worth reporting.
pub const BURST_GAP_NS: i64 = 1_000_000_000;

/// Running mean and variance (Welford), mergeable.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Welford {
    /// Observations.
    pub n: u64,
    /// Mean.
    pub mean: f64,
    /// Sum of squared deviations.
    pub m2: f64,
}

impl Welford {
    /// Adds one observation.
    #[inline]
    pub fn add(&mut self, x: f64) {
        self.n += 1;
        #[allow(clippy::cast_precision_loss)]
        let n = self.n as f64;
        let d = x - self.mean;
        self.mean += d / n;
        self.m2 += d * (x - self.mean);
    }

    /// Merges another accumulator (Chan et al.).
    pub fn merge(&mut self, o: &Welford) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *o;
            return;
        }
        #[allow(clippy::cast_precision_loss)]
        let (na, nb) = (self.n as f64, o.n as f64);
        let d = o.mean - self.mean;
        let n = na + nb;
        self.mean += d * nb / n;
        self.m2 += o.m2 + d * d * na * nb / n;
        self.n += o.n;
    }

    /// Population standard deviation (0 with fewer than two observations).
    #[must_use]
    pub fn std(&self) -> f64 {
        if self.n < 2 {
            return 0.0;
        }
        #[allow(clippy::cast_precision_loss)]
        let n = self.n as f64;
        (self.m2 / n).max(0.0).sqrt()
    }

    /// Coefficient of variation (std / mean; infinite for a zero mean).
    #[must_use]
    pub fn cv(&self) -> f64 {
        if self.mean <= 0.0 {
            f64::INFINITY
        } else {
            self.std() / self.mean
        }
    }
}

/// Counters of one session. "Client" is the side that sent the first packet, unless that
/// packet was evidently a reply (a SYN-ACK, or a well-known source port to an ephemeral one
/// on anything but a bare SYN).
#[derive(Clone, Debug)]
pub struct SessionStats {
    /// Initiator address.
    pub client: IpAddr,
    /// Responder address.
    pub server: IpAddr,
    /// Responder port (0 without ports).
    pub server_port: u16,
    /// IP protocol.
    pub proto: u8,
    /// First packet.
    pub first: Timestamp,
    /// Last packet.
    pub last: Timestamp,
    /// Packets client -> server.
    pub packets_fwd: u64,
    /// Packets server -> client.
    pub packets_rev: u64,
    /// IP bytes both ways (IP total length, not the frame).
    pub ip_bytes: u64,
    /// Transport payload sizes of client packets that carried payload.
    pub payload_fwd: Welford,
    /// Transport payload sizes of server packets that carried payload.
    pub payload_rev: Welford,
    /// Inter-arrival times (seconds) between consecutive packets of the session.
    pub iat: Welford,
    /// TCP packets from the client with SYN and without ACK.
    pub syn_only: u64,
    /// TCP packets from the client carrying ACK.
    pub client_acks: u64,
    /// TCP packets with SYN, ACK, RST, FIN, PSH set (either direction).
    pub flags: [u64; 5],
    /// DNS message sizes (either direction).
    pub dns_size: Welford,
    /// NTP message sizes (either direction).
    pub ntp_size: Welford,
    /// A TLS ClientHello was decoded.
    pub tls_hello: bool,
    /// A TLS SNI was decoded.
    pub tls_sni: bool,
    /// A ClientHello was seen but never complete (snaplen, missing segments): absence of an
    /// SNI then proves nothing.
    pub tls_incomplete: bool,
    /// Bursts as (start, IP bytes), at most [`MAX_BURSTS`].
    pub bursts: Vec<(Timestamp, u64)>,
    cur_burst_bytes: u64,
}

/// Indices into [`SessionStats::flags`].
pub mod flag {
    /// SYN.
    pub const SYN: usize = 0;
    /// ACK.
    pub const ACK: usize = 1;
    /// RST.
    pub const RST: usize = 2;
    /// FIN.
    pub const FIN: usize = 3;
    /// PSH.
    pub const PSH: usize = 4;
}

impl SessionStats {
    fn new(pkt: &Packet, src: IpAddr, dst: IpAddr) -> Self {
        let (sp, dp) = (pkt.src_port.unwrap_or(0), pkt.dst_port.unwrap_or(0));
        let synack = pkt.tcp_flags.is_some_and(|f| f & 0x12 == 0x12);
        // A bare SYN opens a connection whatever its ports: a flood's forged source ports
        // below 1024 (123, 161, 514...) made the victim the "client" of TCP on UDP ports.
        let syn = pkt.tcp_flags.is_some_and(|f| f & 0x12 == 0x02);
        let reply = !syn && (synack || (sp < 1024 && dp >= 1024));
        let (client, server, server_port) = if reply {
            (dst, src, sp)
        } else {
            (src, dst, dp)
        };
        Self {
            client,
            server,
            server_port,
            proto: pkt.proto.unwrap_or(0),
            first: pkt.ts,
            last: pkt.ts,
            packets_fwd: 0,
            packets_rev: 0,
            ip_bytes: 0,
            payload_fwd: Welford::default(),
            payload_rev: Welford::default(),
            iat: Welford::default(),
            syn_only: 0,
            client_acks: 0,
            flags: [0; 5],
            dns_size: Welford::default(),
            ntp_size: Welford::default(),
            tls_hello: false,
            tls_sni: false,
            tls_incomplete: false,
            bursts: Vec::new(),
            cur_burst_bytes: 0,
        }
    }

    /// Packets both ways.
    #[must_use]
    pub fn packets(&self) -> u64 {
        self.packets_fwd + self.packets_rev
    }

    fn add(&mut self, pkt: &Packet, from_client: bool) {
        let ip_len = u64::from(pkt.ip_len.unwrap_or(pkt.frame_len));
        if self.packets() > 0 {
            let gap = pkt.ts.0 - self.last.0;
            if gap >= 0 {
                #[allow(clippy::cast_precision_loss)]
                self.iat.add(gap as f64 / 1e9);
            }
            if gap >= BURST_GAP_NS {
                self.close_burst();
                self.open_burst(pkt.ts);
            }
        } else {
            self.open_burst(pkt.ts);
        }
        self.cur_burst_bytes += ip_len;
        self.first = self.first.min(pkt.ts);
        self.last = self.last.max(pkt.ts);
        self.ip_bytes += ip_len;
        let payload = pkt.payload_len.unwrap_or(0);
        if from_client {
            self.packets_fwd += 1;
            if payload > 0 {
                self.payload_fwd.add(f64::from(payload));
            }
        } else {
            self.packets_rev += 1;
            if payload > 0 {
                self.payload_rev.add(f64::from(payload));
            }
        }
        if let Some(f) = pkt.tcp_flags {
            let bits = [0x02, 0x10, 0x04, 0x01, 0x08];
            for (i, b) in bits.iter().enumerate() {
                if f & b != 0 {
                    self.flags[i] += 1;
                }
            }
            if from_client {
                if f & 0x12 == 0x02 {
                    self.syn_only += 1;
                }
                if f & 0x10 != 0 {
                    self.client_acks += 1;
                }
            }
        }
        if let Some(d) = &pkt.dns {
            self.dns_size.add(f64::from(d.size));
        }
        if let Some(n) = &pkt.ntp {
            self.ntp_size.add(f64::from(n.size));
        }
        if let Some(t) = &pkt.tls {
            self.tls_hello = true;
            self.tls_sni |= t.sni.is_some();
            self.tls_incomplete |= t.incomplete;
        }
    }

    fn open_burst(&mut self, ts: Timestamp) {
        if self.bursts.len() < MAX_BURSTS {
            self.bursts.push((ts, 0));
        }
        self.cur_burst_bytes = 0;
    }

    fn close_burst(&mut self) {
        if let Some(last) = self.bursts.last_mut() {
            last.1 = self.cur_burst_bytes;
        }
    }

    /// The bursts with the open one's byte count filled in: what [`SessionStats::finish`]
    /// would leave, read without mutating (detection reads a table the pass still owns, and
    /// copying a table of millions of sessions just to close their bursts cost more than the
    /// checks themselves).
    pub fn closed_bursts(&self) -> impl Iterator<Item = (Timestamp, u64)> + '_ {
        let last = self.bursts.len().wrapping_sub(1);
        self.bursts.iter().enumerate().map(move |(i, b)| {
            if i == last {
                (b.0, self.cur_burst_bytes)
            } else {
                *b
            }
        })
    }

    /// Finishes the open burst (call before reading [`SessionStats::bursts`]).
    pub fn finish(&mut self) {
        if self.bursts.len() <= MAX_BURSTS {
            self.close_burst();
        }
    }
}

/// All sessions of a capture.
///
/// Stored as a small key -> slot map plus a vector of slots: session records are a few hundred
/// bytes, and rehashing a map of them on growth (millions of one-packet sessions in a spoofed
/// flood) cost more than the rest of the per-packet work together.
///
/// The key -> slot map is built only when something looks a key up ([`SessionTable::add`],
/// [`SessionTable::merge`]): the engine's pass finds slots through the flow table, so the map
/// would duplicate the flow table's for nothing.
#[derive(Clone, Debug, Default)]
pub struct SessionTable {
    /// Slots of `keys[..slots.len()]` (complete after [`SessionTable::sync_slots`]).
    slots: FxHashMap<FlowKey, u32>,
    keys: Vec<FlowKey>,
    stats: Vec<SessionStats>,
    /// Packets of sessions that could not be created because the table was full.
    pub dropped: u64,
    evicted: u64,
}

impl SessionTable {
    /// Adds another table (another part of a capture); for a session present in both, this
    /// table's record is kept.
    pub fn merge(&mut self, other: SessionTable) {
        self.sync_slots();
        for (k, v) in other.keys.into_iter().zip(other.stats) {
            if !self.slots.contains_key(&k) && self.stats.len() < MAX_SESSIONS {
                self.slots
                    .insert(k, u32::try_from(self.stats.len()).unwrap_or(u32::MAX));
                self.keys.push(k);
                self.stats.push(v);
            }
        }
        self.dropped += other.dropped;
        self.evicted += other.evicted;
    }

    /// Counts one packet (packets without IP addresses are ignored).
    pub fn add(&mut self, pkt: &Packet) {
        let Some((key, _)) = FlowKey::of(pkt) else {
            return;
        };
        let (Some(src), Some(dst)) = (pkt.src_ip, pkt.dst_ip) else {
            return;
        };
        self.sync_slots();
        let slot = match self.slots.get(&key) {
            Some(i) => *i as usize,
            None if self.stats.len() >= MAX_SESSIONS => {
                self.dropped += 1;
                return;
            }
            None => {
                let i = self.stats.len();
                self.slots.insert(key, u32::try_from(i).unwrap_or(u32::MAX));
                self.keys.push(key);
                self.stats.push(SessionStats::new(pkt, src, dst));
                i
            }
        };
        let Some(s) = self.stats.get_mut(slot) else {
            return;
        };
        let from_client = if s.client == s.server {
            pkt.dst_port.unwrap_or(0) == s.server_port
        } else {
            src == s.client
        };
        s.add(pkt, from_client);
    }

    /// Counts one packet whose flow slot the flow table already found (see
    /// [`crate::engine::flows::FlowTable::add`]): the same packets in the same order give the
    /// same numbering, so no second lookup is needed.
    pub fn add_at(&mut self, slot: usize, key: FlowKey, pkt: &Packet) {
        let (Some(src), Some(dst)) = (pkt.src_ip, pkt.dst_ip) else {
            return;
        };
        if slot == self.stats.len() && slot < MAX_SESSIONS {
            crate::engine::flows::reserve_big(&mut self.keys, 1, MAX_SESSIONS);
            crate::engine::flows::reserve_big(&mut self.stats, 1, MAX_SESSIONS);
            self.keys.push(key);
            self.stats.push(SessionStats::new(pkt, src, dst));
        }
        let Some(s) = self.stats.get_mut(slot) else {
            self.dropped += 1;
            return;
        };
        let from_client = if s.client == s.server {
            pkt.dst_port.unwrap_or(0) == s.server_port
        } else {
            src == s.client
        };
        s.add(pkt, from_client);
    }

    /// Keeps the sessions whose slot is marked in `keep` (the flow table's mask from
    /// [`crate::engine::flows::FlowTable::evict_before`]) and renumbers them the same way, so
    /// flow and session slots still agree.
    pub fn retain_slots(&mut self, keep: &[bool]) {
        let n = self.stats.len();
        let kept = |i: usize| keep.get(i).copied().unwrap_or(true);
        let mut renum = Vec::with_capacity(n);
        let mut next = 0u32;
        for i in 0..n {
            renum.push(next);
            next += u32::from(kept(i));
        }
        let mut i = 0;
        self.keys.retain(|_| {
            i += 1;
            kept(i - 1)
        });
        let mut i = 0;
        self.stats.retain(|_| {
            i += 1;
            kept(i - 1)
        });
        let complete = self.slots.len() == n;
        self.slots.retain(|_, v| {
            let i = *v as usize;
            if i < n && kept(i) {
                *v = renum[i];
                true
            } else {
                false
            }
        });
        if !complete {
            // A partial map would not cover a prefix of the renumbered keys: rebuild on demand.
            self.slots.clear();
        }
        self.evicted += (n - self.stats.len()) as u64;
    }

    /// Completes the key -> slot map (keys are only appended between calls).
    fn sync_slots(&mut self) {
        let have = self.slots.len();
        if have == self.keys.len() {
            return;
        }
        self.slots.reserve(self.keys.len() - have);
        for (i, k) in self.keys.iter().enumerate().skip(have) {
            self.slots.insert(*k, u32::try_from(i).unwrap_or(u32::MAX));
        }
    }

    /// Sessions evicted by retention so far.
    #[must_use]
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Number of sessions.
    #[must_use]
    pub fn len(&self) -> usize {
        self.stats.len()
    }

    /// True when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.stats.is_empty()
    }

    /// Iterates over the sessions in order of first appearance.
    pub fn iter(&self) -> impl Iterator<Item = (&FlowKey, &SessionStats)> {
        self.keys.iter().zip(&self.stats)
    }

    /// Closes every open burst (once, after the pass).
    pub fn finish(&mut self) {
        for s in &mut self.stats {
            s.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn tcp(ts_ms: i64, src: &str, sp: u16, dst: &str, dp: u16, flags: u8) -> Packet {
        Packet {
            ts: Timestamp(ts_ms * 1_000_000),
            src_ip: Some(src.parse().unwrap()),
            dst_ip: Some(dst.parse().unwrap()),
            src_port: Some(sp),
            dst_port: Some(dp),
            proto: Some(6),
            tcp_flags: Some(flags),
            ip_len: Some(40),
            payload_len: Some(0),
            frame_len: 60,
            ..Packet::default()
        }
    }

    #[test]
    fn welford_matches_two_pass_and_merges() {
        let xs = [3.0, 5.0, 7.0, 11.0, 13.0];
        let mut a = Welford::default();
        let mut b = Welford::default();
        let mut all = Welford::default();
        for (i, x) in xs.iter().enumerate() {
            all.add(*x);
            if i < 2 { a.add(*x) } else { b.add(*x) }
        }
        a.merge(&b);
        assert!((a.mean - 7.8).abs() < 1e-12);
        assert!((a.m2 - all.m2).abs() < 1e-9);
        assert!((all.std() - 13.76f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn client_is_the_syn_sender_even_when_the_synack_comes_first() {
        let mut t = SessionTable::default();
        t.add(&tcp(0, "10.0.0.2", 443, "10.0.0.1", 50000, 0x12));
        t.add(&tcp(1, "10.0.0.1", 50000, "10.0.0.2", 443, 0x10));
        let (_, s) = t.iter().next().unwrap();
        assert_eq!(s.client, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(s.server_port, 443);
        assert_eq!((s.packets_fwd, s.packets_rev), (1, 1));
        assert_eq!(s.client_acks, 1);
    }

    #[test]
    fn a_bare_syn_from_a_low_port_still_opens_the_session() {
        // A flood's forged SYN from port 123 to a game server: the sender is the client, and
        // nothing here is TCP on a UDP-only port.
        let mut t = SessionTable::default();
        t.add(&tcp(0, "203.0.113.9", 123, "10.10.10.10", 25565, 0x02));
        let (_, s) = t.iter().next().unwrap();
        assert_eq!(s.client, "203.0.113.9".parse::<IpAddr>().unwrap());
        assert_eq!(s.server_port, 25565);
        assert_eq!(s.syn_only, 1);
        // A reply from a well-known port to an ephemeral one is still the server's.
        let mut t = SessionTable::default();
        t.add(&tcp(0, "10.0.0.2", 80, "10.0.0.1", 50000, 0x10));
        let (_, s) = t.iter().next().unwrap();
        assert_eq!(s.client, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(s.server_port, 80);
    }

    #[test]
    fn bursts_split_on_idle_gaps() {
        let mut t = SessionTable::default();
        for i in 0..4 {
            t.add(&tcp(i * 10_000, "10.0.0.1", 5000, "10.0.0.2", 80, 0x18));
            t.add(&tcp(i * 10_000 + 5, "10.0.0.1", 5000, "10.0.0.2", 80, 0x18));
        }
        let unfinished: Vec<_> = t.iter().next().unwrap().1.closed_bursts().collect();
        t.finish();
        let (_, s) = t.iter().next().unwrap();
        // Reading the closed bursts of an unfinished table gives what finishing leaves.
        assert_eq!(unfinished, s.bursts);
        assert_eq!(s.closed_bursts().collect::<Vec<_>>(), s.bursts);
        assert_eq!(s.bursts.len(), 4);
        assert!(s.bursts.iter().all(|b| b.1 == 80));
        assert_eq!(s.bursts[3].0, Timestamp(30_000_000_000));
    }
}
