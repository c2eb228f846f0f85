//! Port numbers that name a connection, not a service: a client's own (ephemeral) ports.
//!
//! A rule keyed on the port a client happened to pick stops the connections already seen and
//! nothing after them: the next connection gets another port. On the RAT capture every
//! exfiltration wave was drafted as `src_port=4433,6643 dst_port=4433,6643` (the C2 port and
//! that upload's own port): 100% of the wave, 0% of the baseline, and useless as a rule. The
//! search therefore never names such a port in an equality or a one-of set; ranges and bounds
//! (`src_port>1023`) still may, since they say something about every connection.
//!
//! Which side is the client comes from the session table (the initiator; see
//! [`crate::detect::session::SessionStats`]), not from port numbers: holoscope knows no
//! port's meaning. An endpoint (address and port) is a client's own when, in the whole
//! capture, it never was a server's endpoint and was the client's side of at most
//! [`MAX_OWN_CONNECTIONS`] connections; a port is a wave's own when every packet of the
//! wave's sample that carries it carries it at such an endpoint. Endpoints, not bare port
//! numbers: in a busy capture every port number is some client's and, after a port scan,
//! some server's too (on the 1.5 M-packet bench capture a per-number test marked none of the
//! DNS tunnel's ports). A port a client reuses for many connections (a scanner's fixed source
//! port) is a signature and stays available.

use crate::decode::Packet;
use crate::detect::session::SessionStats;
use crate::engine::flows::FlowKey;
use rustc_hash::FxHashMap;
use std::net::IpAddr;

/// Most connections a client port may have served and still count as one connection's own
/// (a tunnel's one socket may talk to a couple of resolvers; a scanner's fixed source port
/// serves thousands).
pub const MAX_OWN_CONNECTIONS: u8 = 3;

/// Port numbers a wave's packets carry only at clients' own endpoints ([`OwnEndpoints::ports_of`]).
#[derive(Clone, Debug)]
pub struct OwnPorts {
    /// One bit per port number.
    bits: Vec<u64>,
}

impl Default for OwnPorts {
    /// No port is a connection's own.
    fn default() -> Self {
        Self {
            bits: vec![0; 1 << 10],
        }
    }
}

/// Connections per endpoint (address, port) on the client's side, or `SERVER` for a
/// server's endpoint: which endpoints only ever were a client's side of a few connections.
#[derive(Clone, Debug, Default)]
pub struct OwnEndpoints {
    /// Kept as counted (not filtered into a set): a spoofed flood's million sessions would
    /// hold the endpoints twice at once while the set was built.
    seen: FxHashMap<(IpAddr, u16), u8>,
}

/// An endpoint some session served on.
const SERVER: u8 = u8::MAX;

impl OwnEndpoints {
    /// The endpoints of `sessions` (every session of the capture).
    pub fn from_sessions<'a>(
        sessions: impl Iterator<Item = (&'a FlowKey, &'a SessionStats)>,
    ) -> Self {
        // Sized for one endpoint a session (most clients' ports are their own): grown by
        // doubling, the bench capture's table was rehashed eight times on the way, on the
        // critical path of drafting (15-20 ms less wall time for `report`).
        let mut seen: FxHashMap<(IpAddr, u16), u8> =
            FxHashMap::with_capacity_and_hasher(sessions.size_hint().0, Default::default());
        for (k, s) in sessions {
            if k.proto != 6 && k.proto != 17 {
                continue;
            }
            let Some(client_port) = client_port(k, s) else {
                continue;
            };
            seen.insert((s.server, s.server_port), SERVER);
            let c = seen.entry((s.client, client_port)).or_default();
            if *c < SERVER - 1 {
                *c += 1;
            }
        }
        Self { seen }
    }

    /// True when the endpoint is a client's own: never a server's, the client's side of at
    /// most [`MAX_OWN_CONNECTIONS`] connections.
    #[must_use]
    pub fn contains(&self, ip: IpAddr, port: u16) -> bool {
        self.seen
            .get(&(ip, port))
            .is_some_and(|c| (1..=MAX_OWN_CONNECTIONS).contains(c))
    }

    /// The ports every packet of `wave` carries at a client's own endpoint only.
    #[must_use]
    pub fn ports_of(&self, wave: &[&Packet]) -> OwnPorts {
        // Per port number: unseen, own at every occurrence so far, or seen at an endpoint
        // that is not own, which is final: no endpoint needs looking up for that port again
        // (a map of ports and a lookup per occurrence were 1.2% of a report's CPU).
        const UNSEEN: u8 = 0;
        const OWN: u8 = 1;
        const NOT_OWN: u8 = 2;
        let mut state = vec![UNSEEN; 1 << 16];
        for p in wave {
            for (ip, port) in [(p.src_ip, p.src_port), (p.dst_ip, p.dst_port)] {
                let (Some(ip), Some(port)) = (ip, port) else {
                    continue;
                };
                let Some(s) = state.get_mut(usize::from(port)) else {
                    continue;
                };
                if *s == NOT_OWN {
                    continue;
                }
                let own = self.contains(ip, port);
                *s = if own { OWN } else { NOT_OWN };
            }
        }
        (0..=u16::MAX)
            .filter(|p| state.get(usize::from(*p)) == Some(&OWN))
            .collect()
    }
}

impl OwnPorts {
    /// True when the wave carries `port` only at clients' own endpoints.
    #[must_use]
    pub fn contains(&self, port: u64) -> bool {
        usize::try_from(port)
            .ok()
            .filter(|p| *p < 1 << 16)
            .and_then(|p| self.bits.get(p / 64).map(|w| w >> (p % 64) & 1 == 1))
            .unwrap_or(false)
    }

    /// Number of ports marked.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// True when no port is marked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl FromIterator<u16> for OwnPorts {
    /// Exactly these ports.
    fn from_iter<I: IntoIterator<Item = u16>>(ports: I) -> Self {
        let mut own = Self::default();
        for p in ports {
            let p = usize::from(p);
            own.bits[p / 64] |= 1 << (p % 64);
        }
        own
    }
}

/// The client's port of a session: the key's endpoint that is not the server's.
fn client_port(k: &FlowKey, s: &SessionStats) -> Option<u16> {
    if (k.a_ip, k.a_port) == (s.server, s.server_port) {
        Some(k.b_port)
    } else if (k.b_ip, k.b_port) == (s.server, s.server_port) {
        Some(k.a_port)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Packet;
    use crate::detect::session::SessionTable;
    use crate::time::Timestamp;

    fn tcp(src: &str, sport: u16, dst: &str, dport: u16, flags: u8, t: i64) -> Packet {
        Packet {
            ts: Timestamp(t * 1_000_000_000),
            src_ip: src.parse().ok(),
            dst_ip: dst.parse().ok(),
            proto: Some(6),
            src_port: Some(sport),
            dst_port: Some(dport),
            tcp_flags: Some(flags),
            payload_len: Some(0),
            ip_len: Some(40),
            ..Packet::default()
        }
    }

    /// A connection: SYN from the client, SYN-ACK back.
    fn connect(t: &mut SessionTable, client: (&str, u16), server: (&str, u16), at: i64) {
        t.add(&tcp(client.0, client.1, server.0, server.1, 0x02, at));
        t.add(&tcp(server.0, server.1, client.0, client.1, 0x12, at));
    }

    #[test]
    fn a_clients_one_off_endpoint_is_its_own_and_a_reused_or_served_one_is_not() {
        let mut t = SessionTable::default();
        // An upload from its own port to the C2's service port.
        connect(&mut t, ("10.0.0.5", 6643), ("10.0.0.9", 4433), 1);
        // A scanner's fixed source port, to many ports.
        for p in 1..=20 {
            connect(&mut t, ("10.0.0.66", 40000), ("10.0.0.9", p), 2);
        }
        // 10.0.0.5:50000 is a client's once, and also a server's.
        connect(&mut t, ("10.0.0.5", 50000), ("10.0.0.9", 80), 3);
        connect(&mut t, ("10.0.0.6", 1234), ("10.0.0.5", 50000), 3);
        let own = OwnEndpoints::from_sessions(t.iter());
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(own.contains(ip("10.0.0.5"), 6643));
        assert!(!own.contains(ip("10.0.0.9"), 4433), "the server's endpoint");
        assert!(
            !own.contains(ip("10.0.0.66"), 40000),
            "reused for 20 connections"
        );
        assert!(
            !own.contains(ip("10.0.0.5"), 50000),
            "also a server's endpoint"
        );
        assert!(own.contains(ip("10.0.0.6"), 1234));
        // A port is a wave's own only where every packet carries it at an own endpoint: the
        // upload's both directions; not 1234 once another host serves on it.
        let up = tcp("10.0.0.5", 6643, "10.0.0.9", 4433, 0x18, 4);
        let ack = tcp("10.0.0.9", 4433, "10.0.0.5", 6643, 0x10, 4);
        let a = tcp("10.0.0.6", 1234, "10.0.0.5", 50000, 0x18, 4);
        let b = tcp("10.0.0.7", 5555, "10.0.0.8", 1234, 0x02, 4);
        let ports = own.ports_of(&[&up, &ack, &a]);
        assert!(ports.contains(6643) && ports.contains(1234), "{ports:?}");
        assert!(!ports.contains(4433) && !ports.contains(50000));
        assert_eq!(ports.len(), 2);
        let ports = own.ports_of(&[&up, &a, &b]);
        assert!(ports.contains(6643) && !ports.contains(1234));
        assert!(!ports.contains(70000));
        assert!(OwnPorts::default().is_empty());
    }
}
