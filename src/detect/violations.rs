//! Protocol-expectation violations per session, scored with SCYTHE's weights (domain notes)
//! but measured on transport payloads or IP lengths, never on Ethernet frames.
//!
//! This is the one place with port knowledge: a small table of what a well-known port expects
//! (transport, TLS, DNS, fixed sizes, risk prior). Session score = min(1, sum of weights).

use super::beacon;
use super::session::{SessionStats, flag};
use crate::time::Timestamp;
use serde::Serialize;
use std::net::IpAddr;

/// What a port expects.
#[derive(Clone, Copy, Debug)]
struct Profile {
    port: u16,
    tcp: bool,
    udp: bool,
    tls: bool,
    dns: bool,
    /// Messages have a fixed size by design (constant sizes are normal).
    fixed_size: bool,
    /// Prior risk weight of the port itself.
    risk: f64,
}

const fn p(port: u16, tcp: bool, udp: bool) -> Profile {
    Profile {
        port,
        tcp,
        udp,
        tls: false,
        dns: false,
        fixed_size: false,
        risk: 0.0,
    }
}

/// The port table (IANA assignments and common practice).
const PROFILES: &[Profile] = &[
    p(20, true, false),
    p(21, true, false),
    p(22, true, false),
    p(23, true, false),
    p(25, true, false),
    Profile {
        dns: true,
        ..p(53, true, true)
    },
    Profile {
        fixed_size: true,
        ..p(67, false, true)
    },
    Profile {
        fixed_size: true,
        ..p(68, false, true)
    },
    p(69, false, true),
    p(80, true, false),
    p(110, true, false),
    Profile {
        fixed_size: true,
        ..p(123, false, true)
    },
    Profile {
        fixed_size: true,
        ..p(137, false, true)
    },
    Profile {
        fixed_size: true,
        ..p(138, false, true)
    },
    p(139, true, false),
    p(143, true, false),
    Profile {
        fixed_size: true,
        ..p(161, false, true)
    },
    Profile {
        fixed_size: true,
        ..p(162, false, true)
    },
    p(389, true, true),
    Profile {
        tls: true,
        ..p(443, true, true)
    },
    p(445, true, false),
    p(514, false, true),
    Profile {
        fixed_size: true,
        ..p(520, false, true)
    },
    Profile {
        tls: true,
        ..p(993, true, false)
    },
    Profile {
        tls: true,
        ..p(995, true, false)
    },
    Profile {
        fixed_size: true,
        ..p(1900, false, true)
    },
    p(3389, true, true),
    Profile {
        risk: 0.75,
        ..p(4444, true, true)
    },
    Profile {
        risk: 0.5,
        ..p(5555, true, true)
    },
    Profile {
        dns: true,
        fixed_size: true,
        ..p(5353, false, true)
    },
    Profile {
        dns: true,
        ..p(5355, true, true)
    },
    Profile {
        risk: 0.5,
        ..p(6667, true, false)
    },
    Profile {
        risk: 0.5,
        ..p(9001, true, false)
    },
    Profile {
        risk: 0.8,
        ..p(31337, true, true)
    },
];

fn profile(port: u16) -> Option<&'static Profile> {
    PROFILES.iter().find(|x| x.port == port)
}

/// SCYTHE's weights (documented defaults).
pub mod weight {
    /// TLS port, client sent data, no SNI after first-flight reassembly.
    pub const MISSING_TLS: f64 = 0.35;
    /// DNS messages on a port that does not carry DNS.
    pub const UNEXPECTED_DNS: f64 = 0.40;
    /// Port 53 with DNS messages over 300 bytes on average.
    pub const DNS_TUNNEL: f64 = 0.55;
    /// TCP on a UDP-only port or the reverse.
    pub const WRONG_TRANSPORT: f64 = 0.45;
    /// NTP messages larger than header plus the largest authenticator.
    pub const OVERSIZED_NTP: f64 = 0.50;
    /// Near-constant payload sizes on a port whose sizes should vary.
    pub const CONSTANT_SIZE: f64 = 0.40;
    /// Only SYNs from the client.
    pub const TCP_SYN_ONLY: f64 = 0.30;
    /// A SYN-ACK nobody asked for: the server answered and the client sent nothing (the
    /// mirror image of a SYN-only probe, and weighted as one).
    pub const TCP_SYNACK_ONLY: f64 = 0.30;
    /// UDP replies nobody asked for (the same, for a UDP service).
    pub const UDP_REPLY_ONLY: f64 = 0.30;
    /// Mostly resets.
    pub const RST_FLOOD: f64 = 0.35;
    /// Beaconing, multiplied by the beacon score.
    pub const BEACON: f64 = 0.50;
}

/// Mean DNS message size above which port-53 traffic looks like a tunnel (SCYTHE).
pub const DNS_TUNNEL_BYTES: f64 = 300.0;
/// NTP header (48) plus the largest standard authenticator (key id 4 + SHA-1 20).
pub const NTP_MAX_BYTES: f64 = 72.0;
/// Coefficient of variation under which sizes count as constant.
pub const CONSTANT_CV: f64 = 0.05;
/// Least unanswered UDP replies for `udp_reply_only`.
pub const UDP_REPLY_ONLY_MIN: u64 = 2;
/// Least payload packets for the constant-size check.
pub const CONSTANT_MIN_PACKETS: u64 = 5;

/// One violation of one session.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Violation {
    /// `missing_tls`, `dns_tunnel`, `beacon`...
    pub kind: &'static str,
    /// Weight contributed.
    pub score: f64,
    /// Client address (serialized as text, as the report always gave it).
    pub client: IpAddr,
    /// Server address.
    pub server: IpAddr,
    /// Server port.
    pub port: u16,
    /// IP protocol.
    pub proto: u8,
    /// The measurement behind it, in words.
    pub detail: String,
    /// First packet of the session (UTC epoch seconds).
    pub first_ts: f64,
    /// Last packet of the session.
    pub last_ts: f64,
    /// Packets of the session.
    pub packets: u64,
}

/// Violations of a session with the raw addresses kept for joins.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionFinding {
    /// Client.
    pub client: IpAddr,
    /// Server.
    pub server: IpAddr,
    /// First packet.
    pub first: Timestamp,
    /// Last packet.
    pub last: Timestamp,
    /// min(1, sum of weights).
    pub score: f64,
    /// Each violation.
    pub violations: Vec<Violation>,
    /// The beaconing measurements, for a beacon finding.
    pub beacon: Option<beacon::Beacon>,
}

pub(crate) fn is_group(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast() || a.octets()[3] == 255,
        IpAddr::V6(a) => a.is_multicast(),
    }
}

/// Checks one session (beaconing is checked per pair, see [`beacon`]).
#[must_use]
pub fn check(s: &SessionStats) -> Vec<(&'static str, f64, String)> {
    let mut v = Vec::new();
    let prof = profile(s.server_port);
    let tcp = s.proto == 6;
    let udp = s.proto == 17;
    if let Some(pr) = prof {
        if pr.tls && tcp && s.payload_fwd.n > 0 && !s.tls_sni && !s.tls_incomplete {
            let why = if s.tls_hello {
                "ClientHello without server name"
            } else {
                "client data but no ClientHello"
            };
            v.push(("missing_tls", weight::MISSING_TLS, why.to_string()));
        }
        if (tcp && !pr.tcp) || (udp && !pr.udp) {
            v.push((
                "wrong_transport",
                weight::WRONG_TRANSPORT,
                format!(
                    "{} on a {}-only port",
                    if tcp { "TCP" } else { "UDP" },
                    if tcp { "UDP" } else { "TCP" }
                ),
            ));
        }
        if pr.dns && s.dns_size.n >= 3 && s.dns_size.mean > DNS_TUNNEL_BYTES {
            v.push((
                "dns_tunnel",
                weight::DNS_TUNNEL,
                format!(
                    "{} DNS messages of {:.0} bytes on average",
                    s.dns_size.n, s.dns_size.mean
                ),
            ));
        }
        if pr.risk > 0.0 {
            v.push((
                "risky_port",
                pr.risk,
                format!("port {} is a known-risky port", pr.port),
            ));
        }
    }
    if s.dns_size.n > 0 && !prof.is_some_and(|p| p.dns) && s.server_port != 53 {
        v.push((
            "unexpected_dns",
            weight::UNEXPECTED_DNS,
            format!("{} DNS messages on port {}", s.dns_size.n, s.server_port),
        ));
    }
    if s.ntp_size.n > 0 && s.ntp_size.mean > NTP_MAX_BYTES {
        v.push((
            "oversized_ntp",
            weight::OVERSIZED_NTP,
            format!(
                "NTP messages of {:.0} bytes on average (header 48)",
                s.ntp_size.mean
            ),
        ));
    }
    let fixed = prof.is_some_and(|p| p.fixed_size) || is_group(s.server);
    if !fixed && s.payload_fwd.n >= CONSTANT_MIN_PACKETS && s.payload_fwd.cv() < CONSTANT_CV {
        v.push((
            "constant_size",
            weight::CONSTANT_SIZE,
            format!(
                "{} client payloads of {:.0} bytes (cv {:.3})",
                s.payload_fwd.n,
                s.payload_fwd.mean,
                s.payload_fwd.cv()
            ),
        ));
    }
    if tcp && s.syn_only > 0 && s.client_acks == 0 && s.payload_fwd.n == 0 {
        v.push((
            "tcp_syn_only",
            weight::TCP_SYN_ONLY,
            format!("{} SYN without a completed handshake", s.syn_only),
        ));
    }
    // Replies with no request: the backscatter of SYNs forged in the client's name (a
    // reflection's victim receives SYN-ACKs from thousands of servers it never called). A
    // capture that starts after a SYN still shows the client's ACK, so is not flagged.
    if tcp && s.packets_fwd == 0 && s.flags[flag::SYN] > 0 {
        v.push((
            "tcp_synack_only",
            weight::TCP_SYNACK_ONLY,
            format!(
                "{} SYN-ACK with nothing from the client",
                s.flags[flag::SYN]
            ),
        ));
    }
    // The same for UDP: replies from a service port to a client port, and nothing from the
    // client, the view from an amplification's victim (DNS, NTP, SNMP...). One reply alone
    // may answer a request sent before the capture began.
    if udp && s.packets_fwd == 0 && s.packets_rev >= UDP_REPLY_ONLY_MIN {
        v.push((
            "udp_reply_only",
            weight::UDP_REPLY_ONLY,
            format!(
                "{} replies from port {} with nothing from the client",
                s.packets_rev, s.server_port
            ),
        ));
    }
    let rst = s.flags[flag::RST];
    if tcp && rst >= 5 && rst * 2 >= s.packets() {
        v.push((
            "rst_flood",
            weight::RST_FLOOD,
            format!("{rst} of {} packets are resets", s.packets()),
        ));
    }
    v
}

/// Builds the session findings: per-session checks plus beaconing per (client, server, port).
#[must_use]
pub fn findings(sessions: &[&SessionStats], span: (Timestamp, Timestamp)) -> Vec<SessionFinding> {
    // Room for every session up front (address space, touched only as findings come): grown
    // by doubling, the 74,620 findings of the bench capture, 232 bytes each, were copied into
    // fresh pages at every step (7 k page faults).
    let mut out = Vec::with_capacity(sessions.len());
    for s in sessions {
        let checks = check(s);
        if checks.is_empty() {
            continue;
        }
        out.push(finding(s, checks));
    }
    for b in beacon::pairs(sessions.iter().copied(), span) {
        let score = weight::BEACON * b.score;
        let viol = Violation {
            kind: "beacon",
            score,
            client: b.client,
            server: b.server,
            port: b.port,
            proto: b.proto,
            detail: b.detail.clone(),
            first_ts: b.first.as_secs_f64(),
            last_ts: b.last.as_secs_f64(),
            packets: b.packets,
        };
        out.push(SessionFinding {
            client: b.client,
            server: b.server,
            first: b.first,
            last: b.last,
            score: score.min(1.0),
            violations: vec![viol],
            beacon: Some(b),
        });
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.first.cmp(&b.first)));
    out
}

fn finding(s: &SessionStats, checks: Vec<(&'static str, f64, String)>) -> SessionFinding {
    let total: f64 = checks.iter().map(|c| c.1).sum();
    SessionFinding {
        client: s.client,
        server: s.server,
        first: s.first,
        last: s.last,
        score: total.min(1.0),
        beacon: None,
        violations: checks
            .into_iter()
            .map(|(kind, score, detail)| Violation {
                kind,
                score,
                client: s.client,
                server: s.server,
                port: s.server_port,
                proto: s.proto,
                detail,
                first_ts: s.first.as_secs_f64(),
                last_ts: s.last.as_secs_f64(),
                packets: s.packets(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Packet;
    use crate::decode::field::{Dns, Ntp, Tls};
    use crate::detect::session::SessionTable;
    use crate::text::Untrusted;

    /// The report's JSON contract gives addresses as text, IPv6 included.
    #[test]
    fn violation_addresses_serialize_as_text() {
        let v = Violation {
            kind: "risky_port",
            score: 0.1,
            client: "10.0.0.1".parse().unwrap(),
            server: "2001:db8::1".parse().unwrap(),
            port: 4444,
            proto: 6,
            detail: String::new(),
            first_ts: 0.0,
            last_ts: 0.0,
            packets: 1,
        };
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(j["client"], "10.0.0.1");
        assert_eq!(j["server"], "2001:db8::1");
    }

    fn udp(ts_ms: i64, sp: u16, dp: u16, payload: u32) -> Packet {
        Packet {
            ts: Timestamp(ts_ms * 1_000_000),
            src_ip: Some("10.0.0.1".parse().unwrap()),
            dst_ip: Some("10.0.0.2".parse().unwrap()),
            src_port: Some(sp),
            dst_port: Some(dp),
            proto: Some(17),
            ip_len: Some(28 + payload),
            payload_len: Some(payload),
            frame_len: 42 + payload,
            ..Packet::default()
        }
    }

    fn kinds(t: &SessionTable) -> Vec<&'static str> {
        let mut k: Vec<_> = t.iter().flat_map(|(_, s)| check(s)).map(|c| c.0).collect();
        k.sort_unstable();
        k
    }

    #[test]
    fn ntp_of_normal_size_is_not_oversized_but_monlist_is() {
        let mut t = SessionTable::default();
        for i in 0..3 {
            let mut p = udp(i, 40000, 123, 48);
            p.ntp = Some(Ntp { mode: 3, size: 48 });
            t.add(&p);
        }
        assert!(!kinds(&t).contains(&"oversized_ntp"));
        let mut t = SessionTable::default();
        let mut p = udp(0, 40000, 123, 468);
        p.ntp = Some(Ntp { mode: 7, size: 468 });
        t.add(&p);
        assert!(kinds(&t).contains(&"oversized_ntp"));
    }

    #[test]
    fn big_dns_on_53_is_a_tunnel_and_dns_elsewhere_is_unexpected() {
        let mut t = SessionTable::default();
        for i in 0..4 {
            let mut p = udp(i, 40000, 53, 420);
            p.dns = Some(Box::new(Dns {
                size: 420,
                ..Dns::default()
            }));
            t.add(&p);
        }
        assert_eq!(kinds(&t), vec!["dns_tunnel"]);
        let mut t = SessionTable::default();
        let mut p = udp(0, 40000, 8053, 60);
        p.dns = Some(Box::new(Dns {
            size: 60,
            ..Dns::default()
        }));
        t.add(&p);
        assert_eq!(kinds(&t), vec!["unexpected_dns"]);
        let mut t = SessionTable::default();
        let mut p = udp(0, 40000, 53, 60);
        p.dns = Some(Box::new(Dns {
            size: 60,
            ..Dns::default()
        }));
        t.add(&p);
        assert!(kinds(&t).is_empty());
    }

    #[test]
    fn tls_port_needs_an_sni_and_wrong_transport_is_flagged() {
        let tcp = |ts, payload, tls: Option<Tls>| {
            let mut p = udp(ts, 50000, 443, payload);
            p.proto = Some(6);
            p.tcp_flags = Some(0x18);
            p.tls = tls.map(Box::new);
            p
        };
        let mut t = SessionTable::default();
        t.add(&tcp(0, 300, None));
        assert_eq!(kinds(&t), vec!["missing_tls"]);
        // A ClientHello whose SNI was recovered by first-flight reassembly (the decoder marks
        // the packet completing the flight) satisfies the check.
        let mut t = SessionTable::default();
        t.add(&tcp(0, 1400, None));
        let sni = Tls {
            sni: Some(Untrusted::new(b"example.com")),
            ..Tls::default()
        };
        t.add(&tcp(1, 600, Some(sni)));
        assert!(kinds(&t).is_empty());
        // A hello cut by the snaplen proves nothing either way.
        let mut t = SessionTable::default();
        let cut = Tls {
            incomplete: true,
            ..Tls::default()
        };
        t.add(&tcp(0, 1400, Some(cut)));
        assert!(kinds(&t).is_empty());
        let mut t = SessionTable::default();
        t.add(&udp(0, 50000, 22, 100));
        assert_eq!(kinds(&t), vec!["wrong_transport"]);
    }

    #[test]
    fn constant_sizes_syn_probes_resets_and_risky_ports() {
        let mut t = SessionTable::default();
        for i in 0..6 {
            t.add(&udp(i * 1000, 50000, 7777, 64));
        }
        assert_eq!(kinds(&t), vec!["constant_size"]);
        let mut t = SessionTable::default();
        for i in 0..6 {
            t.add(&udp(
                i * 1000,
                50000,
                7777,
                64 + 40 * u32::try_from(i).unwrap(),
            ));
        }
        assert!(kinds(&t).is_empty());
        let mut t = SessionTable::default();
        let mut syn = udp(0, 50000, 4444, 0);
        syn.proto = Some(6);
        syn.tcp_flags = Some(0x02);
        t.add(&syn);
        assert_eq!(kinds(&t), vec!["risky_port", "tcp_syn_only"]);
        let mut t = SessionTable::default();
        for i in 0..6 {
            let mut r = udp(i, 50000, 8080, 0);
            r.proto = Some(6);
            r.tcp_flags = Some(0x04);
            t.add(&r);
        }
        assert_eq!(kinds(&t), vec!["rst_flood"]);
    }

    #[test]
    fn unrequested_udp_replies_are_flagged_but_one_or_an_exchange_is_not() {
        // Replies from the NTP port to a client port: (src 10.0.0.1:123 -> 10.0.0.2:50000).
        let reply = |ts_ms: i64| udp(ts_ms, 123, 50000, 468);
        let mut t = SessionTable::default();
        t.add(&reply(0));
        assert!(
            kinds(&t).is_empty(),
            "one reply may answer a request before the capture"
        );
        t.add(&reply(10));
        assert_eq!(kinds(&t), vec!["udp_reply_only"]);
        // A request and its replies.
        let answer = |ts_ms: i64| {
            let mut p = udp(ts_ms, 123, 50000, 48);
            std::mem::swap(&mut p.src_ip, &mut p.dst_ip);
            p
        };
        let mut t = SessionTable::default();
        t.add(&udp(0, 50000, 123, 48));
        t.add(&answer(1));
        t.add(&answer(2));
        assert!(kinds(&t).is_empty());
    }

    #[test]
    fn an_unanswered_synack_is_flagged_but_a_handshake_seen_from_its_second_packet_is_not() {
        let tcp = |ts_ms: i64, from_server: bool, flags: u8| {
            let mut p = udp(ts_ms, 50000, 443, 0);
            p.proto = Some(6);
            p.tcp_flags = Some(flags);
            if from_server {
                std::mem::swap(&mut p.src_ip, &mut p.dst_ip);
                std::mem::swap(&mut p.src_port, &mut p.dst_port);
            }
            p
        };
        let mut t = SessionTable::default();
        t.add(&tcp(0, true, 0x12));
        t.add(&tcp(1000, true, 0x12));
        assert_eq!(kinds(&t), vec!["tcp_synack_only"]);
        // The capture began after the client's SYN: its ACK follows the SYN-ACK.
        let mut t = SessionTable::default();
        t.add(&tcp(0, true, 0x12));
        t.add(&tcp(1, false, 0x10));
        assert!(kinds(&t).is_empty());
    }
}
