//! First-flight reassembly: ClientHellos with post-quantum key shares (ML-KEM, ~1.2 KB) no
//! longer fit one TCP segment, so "443 without SNI" would be a false alarm on every modern
//! browser. [`FirstFlight`] buffers a client's segments per flow until the hello is complete.
//!
//! It is stateful and must see packets in capture order (after the parallel `decode`). Memory is
//! bounded: at most [`MAX_HELLO`] bytes per flow and a fixed number of pending flows.

use super::{Hello, MAX_HELLO, client_hello, partial, starts_handshake};
use crate::decode::field::{Packet, Tls};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::net::IpAddr;

/// Pending flows kept at most (the oldest is dropped first).
const MAX_PENDING: usize = 4096;
/// Client segments (payload or not) a flow may take before reassembly gives up.
const MAX_SEGMENTS: u16 = 16;
/// Out-of-order segments held per flow while waiting for the gap to fill.
const MAX_STASHED: usize = 8;

/// Directional TCP flow: (source, destination, source port, destination port).
type FlowKey = (IpAddr, IpAddr, u16, u16);

struct Pending {
    buf: Vec<u8>,
    next_seq: u32,
    segments: u16,
    /// Insertion number, to find the oldest flow and to recognise stale queue entries.
    born: u64,
    /// Segments that arrived ahead of `next_seq`.
    stash: Vec<(u32, Vec<u8>)>,
    /// The server sent payload: the client's hello was complete on the wire, so a gap in
    /// what we captured will never be filled.
    server_spoke: bool,
}

/// Counters for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlightStats {
    /// ClientHellos completed by reassembly.
    pub completed: u64,
    /// Reassemblies given up (the giving-up packet carries `Tls { incomplete: true }`).
    pub given_up: u64,
    /// Pending flows dropped to respect the flow limit (no packet marked).
    pub evicted: u64,
}

/// Reassembles ClientHellos spanning several TCP segments. See the module documentation.
#[derive(Default)]
pub struct FirstFlight {
    pending: FxHashMap<FlowKey, Pending>,
    /// Flows in insertion order (entries of removed flows are skipped lazily).
    order: VecDeque<(FlowKey, u64)>,
    born: u64,
    stats: FlightStats,
}

impl FirstFlight {
    /// An empty reassembler.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one decoded packet in capture order. `payload` is the captured transport payload
    /// (see [`crate::decode::transport_payload`]). Sets `pkt.tls` on the packet that completes
    /// a hello, or on the packet at which reassembly gives up (`incomplete: true`). Packets that
    /// `decode` already gave a `tls` value are left alone.
    pub fn observe(&mut self, pkt: &mut Packet, payload: &[u8]) {
        if pkt.proto != Some(6) {
            return;
        }
        let (Some(src), Some(dst), Some(sp), Some(dp), Some(seq)) = (
            pkt.src_ip,
            pkt.dst_ip,
            pkt.src_port,
            pkt.dst_port,
            pkt.tcp_seq,
        ) else {
            return;
        };
        if self.pending.is_empty() && (pkt.tls.is_some() || !starts_handshake(payload)) {
            return;
        }
        let key = (src, dst, sp, dp);
        let wire_len = pkt.payload_len.unwrap_or(0);
        let cut = (payload.len() as u64) < u64::from(wire_len);
        if let Some(mut flow) = self.pending.remove(&key) {
            match self.advance(&mut flow, seq, payload, cut) {
                Some(tls) => {
                    if pkt.tls.is_none() {
                        pkt.tls = Some(Box::new(tls));
                    }
                }
                None => {
                    self.pending.insert(key, flow);
                }
            }
            return;
        }
        if !payload.is_empty()
            && let Some(flow) = self.pending.get_mut(&(dst, src, dp, sp))
        {
            flow.server_spoke = true;
        }
        if pkt.tls.is_some() || cut || !starts_handshake(payload) {
            return;
        }
        match client_hello(payload) {
            Hello::NeedMore { .. } => self.start(key, seq, payload, wire_len),
            // `decode` normally sets these; kept for callers that built the packet elsewhere.
            Hello::Complete(tls) => pkt.tls = Some(Box::new(tls)),
            Hello::Broken => pkt.tls = Some(Box::new(partial(payload))),
            Hello::Other => {}
        }
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> FlightStats {
        self.stats
    }

    /// Flows still waiting for segments.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Ends the capture: drops every pending flow and returns how many there were (hellos that
    /// never completed and had no later packet to mark).
    pub fn finish(&mut self) -> usize {
        let n = self.pending.len();
        self.pending.clear();
        self.order.clear();
        n
    }

    fn start(&mut self, key: FlowKey, seq: u32, payload: &[u8], wire_len: u32) {
        while self.pending.len() >= MAX_PENDING {
            let Some((old, born)) = self.order.pop_front() else {
                break;
            };
            if self.pending.get(&old).is_some_and(|f| f.born == born) {
                self.pending.remove(&old);
                self.stats.evicted += 1;
            }
        }
        self.born += 1;
        let flow = Pending {
            buf: payload.to_vec(),
            next_seq: seq.wrapping_add(wire_len),
            segments: 1,
            born: self.born,
            stash: Vec::new(),
            server_spoke: false,
        };
        self.pending.insert(key, flow);
        self.order.push_back((key, self.born));
        // Stale entries (flows already finished) accumulate; compact now and then.
        if self.order.len() > 2 * MAX_PENDING {
            let pending = &self.pending;
            self.order
                .retain(|(k, b)| pending.get(k).is_some_and(|f| f.born == *b));
        }
    }

    /// Adds a segment to a pending flow. `Some` ends the flow: the complete hello, or the
    /// partial one when giving up. `None` keeps it pending.
    fn advance(&mut self, flow: &mut Pending, seq: u32, payload: &[u8], cut: bool) -> Option<Tls> {
        flow.segments = flow.segments.saturating_add(1);
        // Signed distance to the expected sequence number (wrap-around safe).
        let ahead = seq_diff(seq, flow.next_seq);
        if ahead > 0 && !payload.is_empty() {
            if flow.server_spoke || cut || flow.stash.len() >= MAX_STASHED {
                return Some(self.give_up(flow));
            }
            flow.stash.push((seq, payload.to_vec()));
        } else if !payload.is_empty() {
            append(flow, seq, payload);
            // Earlier out-of-order segments may now fit.
            while let Some(i) = flow.stash.iter().position(|(s, p)| {
                let end = s.wrapping_add(p.len() as u32);
                seq_diff(*s, flow.next_seq) <= 0 && seq_diff(end, flow.next_seq) > 0
            }) {
                let (s, p) = flow.stash.swap_remove(i);
                append(flow, s, &p);
            }
            if cut {
                // The snaplen cut this segment: the bytes after it can never line up.
                return Some(self.give_up(flow));
            }
            match client_hello(&flow.buf) {
                Hello::Complete(tls) => {
                    self.stats.completed += 1;
                    return Some(tls);
                }
                Hello::NeedMore { .. } if flow.buf.len() < MAX_HELLO => {}
                _ => return Some(self.give_up(flow)),
            }
        }
        (flow.segments >= MAX_SEGMENTS).then(|| self.give_up(flow))
    }

    fn give_up(&mut self, flow: &Pending) -> Tls {
        self.stats.given_up += 1;
        partial(&flow.buf)
    }
}

/// Signed distance from sequence number `b` to `a`, correct across wrap-around.
#[allow(clippy::cast_possible_wrap)]
fn seq_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// Appends the part of a segment beyond `next_seq` (retransmitted bytes are skipped).
fn append(flow: &mut Pending, seq: u32, payload: &[u8]) {
    let skip = flow.next_seq.wrapping_sub(seq) as usize;
    let Some(new) = payload.get(skip..) else {
        return;
    };
    let room = (MAX_HELLO + 64).saturating_sub(flow.buf.len());
    let new = &new[..new.len().min(room)];
    flow.buf.extend_from_slice(new);
    flow.next_seq = flow.next_seq.wrapping_add(new.len() as u32);
}

#[cfg(test)]
mod tests {
    use super::super::test_hello;
    use super::*;
    use crate::text::Untrusted;

    fn seg(seq: u32, payload: &[u8], client: bool) -> Packet {
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        Packet {
            proto: Some(6),
            src_ip: Some(if client { a } else { b }),
            dst_ip: Some(if client { b } else { a }),
            src_port: Some(if client { 50000 } else { 443 }),
            dst_port: Some(if client { 443 } else { 50000 }),
            tcp_seq: Some(seq),
            payload_len: Some(payload.len() as u32),
            ..Packet::default()
        }
    }

    fn feed(ff: &mut FirstFlight, seq: u32, payload: &[u8]) -> Option<Box<Tls>> {
        let mut p = seg(seq, payload, true);
        ff.observe(&mut p, payload);
        p.tls
    }

    #[test]
    fn two_segments_in_order() {
        let h = test_hello("pq.example.com", &["h2"], 1500);
        let mut ff = FirstFlight::new();
        assert_eq!(feed(&mut ff, 1000, &h[..1400]), None);
        assert_eq!(ff.pending(), 1);
        let t = feed(&mut ff, 2400, &h[1400..]).unwrap_or_default();
        assert_eq!(t.sni, Some(Untrusted::new(b"pq.example.com")));
        assert!(!t.incomplete);
        assert_eq!((ff.pending(), ff.stats().completed), (0, 1));
    }

    #[test]
    fn retransmission_and_out_of_order() {
        let h = test_hello("ooo.example", &[], 3000);
        let mut ff = FirstFlight::new();
        let base = u32::MAX - 500; // sequence numbers wrap around mid-hello
        assert_eq!(feed(&mut ff, base, &h[..1000]), None);
        assert_eq!(feed(&mut ff, base, &h[..1000]), None); // retransmission
        assert_eq!(feed(&mut ff, base.wrapping_add(2000), &h[2000..]), None); // ahead: stashed
        let t = feed(&mut ff, base.wrapping_add(500), &h[500..2000]); // overlap fills the gap
        assert_eq!(t.and_then(|t| t.sni), Some(Untrusted::new(b"ooo.example")));
    }

    #[test]
    fn missing_segment_gives_up_cleanly() {
        let h = test_hello("lost.example", &[], 3000);
        let mut ff = FirstFlight::new();
        assert_eq!(feed(&mut ff, 1, &h[..1000]), None);
        let mut server = seg(9000, b"\x16\x03\x03 server hello", false);
        ff.observe(&mut server, b"\x16\x03\x03 server hello");
        assert!(server.tls.is_none());
        // The client's next data lies beyond the hole, after the server answered: give up.
        let t = feed(&mut ff, 2001, &h[2000..2100]).unwrap_or_default();
        assert!(t.incomplete);
        assert_eq!(t.sni, Some(Untrusted::new(b"lost.example")));
        assert_eq!((ff.pending(), ff.stats().given_up), (0, 1));
    }

    #[test]
    fn snaplen_cut_continuation_gives_up() {
        let h = test_hello("snap.example", &[], 3000);
        let mut ff = FirstFlight::new();
        assert_eq!(feed(&mut ff, 1, &h[..1000]), None);
        // 1000 bytes on the wire, 200 captured.
        let mut p = seg(1001, &h[1000..2000], true);
        ff.observe(&mut p, &h[1000..1200]);
        assert!(
            p.tls
                .is_some_and(|t| t.incomplete && t.sni == Some(Untrusted::new(b"snap.example")))
        );
        assert_eq!(ff.pending(), 0);
    }

    #[test]
    fn too_many_segments_without_progress() {
        let h = test_hello("slow.example", &[], 3000);
        let mut ff = FirstFlight::new();
        feed(&mut ff, 1, &h[..1000]);
        let mut last = None;
        for _ in 0..MAX_SEGMENTS {
            last = feed(&mut ff, 1001, &[]);
            if last.is_some() {
                break;
            }
        }
        assert!(last.is_some_and(|t| t.incomplete));
    }

    #[test]
    fn pending_flows_are_bounded() {
        let h = test_hello("many.example", &[], 3000);
        let mut ff = FirstFlight::new();
        for port in 0..(MAX_PENDING as u16 + 10) {
            let mut p = seg(1, &h[..1000], true);
            p.src_port = Some(port);
            ff.observe(&mut p, &h[..1000]);
        }
        assert_eq!(ff.pending(), MAX_PENDING);
        assert_eq!(ff.stats().evicted, 10);
        assert_eq!(ff.finish(), MAX_PENDING);
    }
}
