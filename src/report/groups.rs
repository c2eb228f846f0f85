//! Violations grouped by kind and the address they share: what a flood, a scan or a
//! reflection did, in one row.
//!
//! The report's `violations` list is one row per session, worst first, cut at the entity limit.
//! A SYN flood from forged sources is tens of thousands of identical sessions, so that list is
//! a hundred near-identical rows that never say how many there were. Grouped over every
//! session, the flood is one row (37,669 sessions from 37,623 clients to one port of the
//! victim), a scan another (one client, a thousand ports), and a beacon stays a row of its
//! own. Each kind is grouped by the end its sessions share most: by server for a flood or a
//! scan, by client for a reflection's backscatter (SYN-ACKs from thousands of reflectors to one
//! victim, which is those sessions' client). The rows count; they do not judge: the ranking
//! and the waves do that.

use super::table::Table;
use crate::detect::violations::SessionFinding;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use std::net::IpAddr;

/// Groups the report lists: a summary, so fewer than the sessions' limit (the total is given).
pub const MAX_GROUPS: usize = 25;

/// The violations of one kind whose sessions share one address.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ViolationGroup {
    /// Violation kind (`tcp_syn_only`, `beacon`...).
    pub kind: &'static str,
    /// Which end of the sessions `address` is: `server` or `client`.
    pub side: &'static str,
    /// The address the sessions share.
    pub address: String,
    /// Sessions with this violation.
    pub sessions: u64,
    /// Distinct addresses at the other end.
    pub peers: u64,
    /// Distinct server ports.
    pub ports: u64,
    /// Packets of those sessions.
    pub packets: u64,
    /// Highest score among them.
    pub score: f64,
    /// First packet of the first session (UTC epoch seconds).
    pub first_ts: f64,
    /// Last packet of the last session.
    pub last_ts: f64,
    /// The address at the other end, when there is one only.
    pub peer: Option<String>,
    /// The server port, when there is one only.
    pub port: Option<u16>,
    /// The IP protocol, when there is one only (a port of 0 under ICMP means no port).
    pub proto: Option<u8>,
}

/// Per-group running figures (addresses kept raw until the row is made).
#[derive(Default)]
struct Acc {
    sessions: u64,
    peers: FxHashSet<IpAddr>,
    ports: FxHashSet<u16>,
    protos: FxHashSet<u8>,
    packets: u64,
    score: f64,
    first: Option<f64>,
    last: Option<f64>,
}

type Groups = FxHashMap<(&'static str, IpAddr), Acc>;

/// Every session's violations (the findings' `sessions`) grouped by kind and shared address,
/// most sessions first (then highest score, kind, side and address, so the order is stable),
/// at most `limit` groups; and how many groups there were.
#[must_use]
pub fn violation_groups(sessions: &[SessionFinding], limit: usize) -> (Vec<ViolationGroup>, usize) {
    let (mut by_server, mut by_client) = (Groups::default(), Groups::default());
    for s in sessions {
        for v in &s.violations {
            for (groups, at, peer) in [
                (&mut by_server, s.server, s.client),
                (&mut by_client, s.client, s.server),
            ] {
                let a = groups.entry((v.kind, at)).or_default();
                a.sessions += 1;
                a.peers.insert(peer);
                a.ports.insert(v.port);
                a.protos.insert(v.proto);
                a.packets += v.packets;
                a.score = a.score.max(v.score);
                a.first = Some(a.first.map_or(v.first_ts, |t| t.min(v.first_ts)));
                a.last = Some(a.last.map_or(v.last_ts, |t| t.max(v.last_ts)));
            }
        }
    }
    // Per kind, the side with fewer groups (the server on a tie).
    let count = |g: &Groups| {
        let mut n: FxHashMap<&'static str, usize> = FxHashMap::default();
        for (kind, _) in g.keys() {
            *n.entry(kind).or_default() += 1;
        }
        n
    };
    let (n_server, n_client) = (count(&by_server), count(&by_client));
    let by_client_wins = |kind: &str| n_client.get(kind) < n_server.get(kind);
    let mut rows: Vec<ViolationGroup> = by_server
        .into_iter()
        .filter(|((kind, _), _)| !by_client_wins(kind))
        .map(|(key, a)| row(key, "server", a))
        .chain(
            by_client
                .into_iter()
                .filter(|((kind, _), _)| by_client_wins(kind))
                .map(|(key, a)| row(key, "client", a)),
        )
        .collect();
    let total = rows.len();
    rows.sort_by(|a, b| {
        b.sessions
            .cmp(&a.sessions)
            .then(b.score.total_cmp(&a.score))
            .then(a.kind.cmp(b.kind))
            .then(a.side.cmp(b.side))
            .then(a.address.cmp(&b.address))
    });
    rows.truncate(limit);
    (rows, total)
}

fn row((kind, at): (&'static str, IpAddr), side: &'static str, a: Acc) -> ViolationGroup {
    ViolationGroup {
        kind,
        side,
        address: at.to_string(),
        sessions: a.sessions,
        peers: a.peers.len() as u64,
        ports: a.ports.len() as u64,
        packets: a.packets,
        score: a.score,
        first_ts: a.first.unwrap_or_default(),
        last_ts: a.last.unwrap_or_default(),
        peer: (a.peers.len() == 1)
            .then(|| a.peers.iter().next().map(ToString::to_string))
            .flatten(),
        port: (a.ports.len() == 1)
            .then(|| a.ports.iter().next().copied())
            .flatten(),
        proto: (a.protos.len() == 1)
            .then(|| a.protos.iter().next().copied())
            .flatten(),
    }
}

/// `25 of 52 groups, 8434 violations` (`1 of 1 group, 1 violation`): the counts every
/// heading over a list of groups gives (reports, shell, TUI).
#[must_use]
pub fn counts_text(shown: usize, total: usize, violations: usize) -> String {
    let s = |n: usize| crate::text::plural(n as u64, "", "s");
    format!(
        "{shown} of {total} group{}, {violations} violation{}",
        s(total),
        s(violations)
    )
}

/// The protocol of a group whose sessions are all of one protocol without ports (ICMP, or
/// `proto 47`): their port is 0, which is no port. `None` for TCP, UDP, DCCP and SCTP (port 0
/// included) and for several protocols.
#[must_use]
pub fn portless(g: &ViolationGroup) -> Option<String> {
    match (g.port, g.proto) {
        (Some(port), Some(proto)) => portless_proto(proto, port),
        _ => None,
    }
}

/// The protocol of a session or flow without ports (ICMP, `proto 47`), whose port reads 0:
/// `icmp`, `icmpv6`, `proto 47`. `None` for TCP, UDP, DCCP and SCTP (port 0 included) and
/// for any nonzero port.
#[must_use]
pub fn portless_proto(proto: u8, port: u16) -> Option<String> {
    (port == 0 && !matches!(proto, 6 | 17 | 33 | 132)).then(|| match proto {
        1 => "icmp".into(),
        58 => "icmpv6".into(),
        p => format!("proto {p}"),
    })
}

/// `port` as a table shows it: the number, or the protocol of a portless session.
#[must_use]
pub fn port_or_proto(proto: u8, port: u16) -> String {
    portless_proto(proto, port).unwrap_or_else(|| port.to_string())
}

/// An endpoint as text: `host:port` ([`crate::text::host_port`]), or the bare address for a
/// protocol without ports (ICMP: no `:0`).
#[must_use]
pub fn endpoint(proto: u8, host: &str, port: u16) -> String {
    if portless_proto(proto, port).is_some() {
        host.to_string()
    } else {
        crate::text::host_port(host, port)
    }
}

/// The one port of a group's sessions (`None` for several): `443`, or the protocol of
/// sessions without ports ([`portless`]).
#[must_use]
pub fn port_text(g: &ViolationGroup) -> Option<String> {
    portless(g).or_else(|| g.port.map(|p| p.to_string()))
}

/// The other end of a group's sessions: the one address there is, or how many clients (the
/// shared end is a server) or servers (it is a client).
#[must_use]
pub fn other_end(g: &ViolationGroup) -> String {
    g.peer.clone().unwrap_or_else(|| {
        let other = if g.side == "server" {
            "clients"
        } else {
            "servers"
        };
        format!("{} {other}", g.peers)
    })
}

/// The groups as a table: the other end and the port when there is one of each, else how
/// many.
#[must_use]
pub fn groups_table(groups: &[ViolationGroup]) -> Table {
    let mut t = Table::new(&[
        "kind",
        "shared",
        "address",
        "port",
        "other end",
        "sessions",
        "packets",
        "score",
    ]);
    for g in groups {
        t.row(vec![
            g.kind.to_string(),
            g.side.to_string(),
            g.address.clone(),
            port_text(g).unwrap_or_else(|| format!("{} ports", g.ports)),
            other_end(g),
            g.sessions.to_string(),
            g.packets.to_string(),
            format!("{:.2}", g.score),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::violations::Violation;
    use crate::time::Timestamp;

    fn finding(client: &str, server: &str, port: u16, kind: &'static str) -> SessionFinding {
        let (c, s): (IpAddr, IpAddr) = (client.parse().unwrap(), server.parse().unwrap());
        SessionFinding {
            client: c,
            server: s,
            first: Timestamp(0),
            last: Timestamp(0),
            score: 0.3,
            violations: vec![Violation {
                kind,
                score: 0.3,
                client: c,
                server: s,
                port,
                proto: 6,
                detail: String::new(),
                first_ts: 1.0,
                last_ts: 2.0,
                packets: 2,
            }],
            beacon: None,
        }
    }

    /// A reflection's victim is the client of every backscatter session (the reflectors
    /// answer it): grouped by client, the thousands of reflectors are one row.
    #[test]
    fn backscatter_is_grouped_by_its_victim() {
        let sessions: Vec<SessionFinding> = (0..400)
            .map(|i| {
                finding(
                    "10.10.10.10",
                    &format!("203.0.{}.{}", i / 200, i % 200),
                    80,
                    "tcp_synack_only",
                )
            })
            .collect();
        let (rows, total) = violation_groups(&sessions, 10);
        assert_eq!(total, 1);
        assert_eq!(
            (rows[0].side, rows[0].address.as_str()),
            ("client", "10.10.10.10")
        );
        assert_eq!((rows[0].sessions, rows[0].peers), (400, 400));
        assert!(groups_table(&rows).text().contains("400 servers"));
    }

    #[test]
    fn a_flood_and_a_scan_are_one_row_each_and_a_lone_session_stays_apart() {
        let mut sessions: Vec<SessionFinding> = (0..500)
            .map(|i| {
                finding(
                    &format!("198.51.{}.{}", i / 200, i % 200),
                    "10.0.0.10",
                    80,
                    "tcp_syn_only",
                )
            })
            .collect();
        sessions.extend((0..300).map(|p| finding("10.0.0.66", "10.0.0.20", 1 + p, "tcp_syn_only")));
        sessions.push(finding("10.0.0.5", "10.0.0.20", 443, "missing_tls"));
        let (rows, total) = violation_groups(&sessions, 10);
        assert_eq!(total, 3);
        let flood = &rows[0];
        assert_eq!((flood.kind, flood.side), ("tcp_syn_only", "server"));
        assert_eq!(flood.address, "10.0.0.10");
        assert_eq!((flood.sessions, flood.peers, flood.ports), (500, 500, 1));
        assert_eq!((flood.port, flood.peer.as_deref()), (Some(80), None));
        assert_eq!(flood.packets, 1000);
        let scan = &rows[1];
        assert_eq!((scan.side, scan.address.as_str()), ("server", "10.0.0.20"));
        assert_eq!((scan.sessions, scan.peers, scan.ports), (300, 1, 300));
        assert_eq!((scan.port, scan.peer.as_deref()), (None, Some("10.0.0.66")));
        assert_eq!(rows[2].kind, "missing_tls");
        let text = groups_table(&rows).text();
        assert!(
            text.contains("500 clients") && text.contains("300 ports"),
            "{text}"
        );
        assert_eq!(counts_text(2, 3, 4), "2 of 3 groups, 4 violations");
        assert_eq!(counts_text(1, 1, 1), "1 of 1 group, 1 violation");
        // ICMP sessions carry port 0: the table names the protocol instead.
        let mut echo = finding("10.0.0.7", "10.0.0.20", 0, "constant_size");
        echo.violations[0].proto = 1;
        let (icmp, _) = violation_groups(&[echo], 10);
        assert_eq!((icmp[0].port, icmp[0].proto), (Some(0), Some(1)));
        assert_eq!(port_text(&icmp[0]).as_deref(), Some("icmp"));
        assert_eq!(port_text(flood).as_deref(), Some("80"));
        assert_eq!(port_text(scan), None);
        // The limit cuts rows, not the count of groups.
        let (rows, total) = violation_groups(&sessions, 1);
        assert_eq!((rows.len(), total), (1, 3));
    }

    #[test]
    fn portless_sessions_show_their_protocol_not_port_0() {
        assert_eq!(port_or_proto(1, 0), "icmp");
        assert_eq!(port_or_proto(58, 0), "icmpv6");
        assert_eq!(port_or_proto(47, 0), "proto 47");
        // TCP and UDP keep their port, 0 included.
        assert_eq!(port_or_proto(6, 0), "0");
        assert_eq!(port_or_proto(17, 53), "53");
        assert_eq!(endpoint(58, "ff02::1", 0), "ff02::1");
        assert_eq!(endpoint(6, "2001:db8::1", 443), "[2001:db8::1]:443");
        assert_eq!(endpoint(17, "10.0.0.1", 0), "10.0.0.1:0");
    }
}
