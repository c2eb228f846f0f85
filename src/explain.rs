//! Explaining in plain lines: one entity (its rank and components, waves, violations, traffic,
//! ports, peers and busiest flows, and a few of its packets re-read from the capture by index
//! and decoded one per line), and why an analysis found no wave. Shared by the TUI's entity
//! view and shifts pane, the shell's `explain` and the report, so it lives in the library (no
//! UI dependency). Every packet-derived text is escaped here.

use crate::engine::Analysis;
use crate::time::Timestamp;

/// `HH:MM:SS.mmm` (UTC) of a timestamp.
#[must_use]
pub fn clock(t: Timestamp) -> String {
    let full = crate::time::format_utc(t);
    // "YYYY-MM-DD HH:MM:SS.micros" -> "HH:MM:SS.mmm"
    full.get(11..23).map_or(full.clone(), str::to_string)
}

/// Why the analysis found no wave, in one line (`None` when it found some). The causal
/// baseline learns from the capture's first seconds: a capture recorded during an attack (a
/// flood seen at its victim, a scan) is alike from start to end, so nothing in it changes
/// and no wave opens, exactly as in quiet traffic. The line says so and names the entity
/// with the most attention when protocol violations put it there, which is then the
/// explanation.
#[must_use]
pub fn no_wave_note(a: &Analysis) -> Option<String> {
    use crate::detect::BaselineInfo;
    let f = &a.findings;
    if !f.waves.is_empty() {
        return None;
    }
    let first = a.agg.stats.first_ts?;
    let why = match &f.baseline {
        BaselineInfo::Fixed { .. } => {
            "nothing outside the chosen baseline differed from it".to_string()
        }
        BaselineInfo::Decaying {
            warmup_end: Some(end),
            ..
        } => {
            #[allow(clippy::cast_precision_loss)]
            let secs = (end.0 - first.0) as f64 / 1e9;
            format!(
                "nothing changed after the baseline learnt the first {secs:.1} s (quiet \
                 traffic, or one attack from start to end)"
            )
        }
        BaselineInfo::Decaying {
            warmup_end: None, ..
        } => "every packet lies within the baseline's warm-up, so nothing was judged against it"
            .to_string(),
    };
    let lead = f
        .entities
        .first()
        .filter(|e| !e.violations.is_empty() || !e.violations_received.is_empty())
        .map(|e| {
            format!(
                "; most attention: {} ({})",
                crate::text::escape_terminal_str(&e.entity),
                crate::report::findings::violation_counts(&e.violations, &e.violations_received)
            )
        })
        .unwrap_or_default();
    Some(format!("no wave: {why}{lead}"))
}

/// One group of violations in a line: `tcp_syn_only: server 10.10.10.10 port 25565, 37669
/// sessions from 37623 clients, 75338 packets`. Kinds are the detector's names and addresses
/// are printed from parsed addresses, so nothing in it comes from packet bytes.
#[must_use]
pub fn group_line(g: &crate::report::groups::ViolationGroup) -> String {
    use crate::report::groups::{other_end, portless};
    let port = portless(g)
        .or_else(|| g.port.map(|p| format!("port {p}")))
        .unwrap_or_else(|| format!("on {} ports", g.ports));
    // The shared end is the server of a flood or a scan (the others come from its clients) or
    // the client of a reflection's backscatter (the others are the servers that answered it).
    let with = if g.side == "server" { "from" } else { "with" };
    let other = other_end(g);
    let sessions = crate::text::plural(g.sessions, "session", "sessions");
    format!(
        "{}: {} {} {port}, {} {sessions} {with} {other}, {} packets",
        g.kind, g.side, g.address, g.sessions, g.packets
    )
}

/// The detail lines of one entity (everything but the packets).
#[must_use]
pub fn detail_lines(a: &Analysis, entity: &str) -> Vec<String> {
    let esc = crate::text::escape_terminal_str;
    let mut out = Vec::new();
    if let Some(r) = a.findings.entities.iter().find(|e| e.entity == entity) {
        let c = &r.components;
        out.push(format!(
            "tier {} · score {:.2} · confidence {:.2} evidence {:.2} recency {:.2} anomaly {:.2} protocol {:.2}",
            r.tier, r.score, c.confidence, c.evidence, c.recency, c.anomaly, c.protocol
        ));
        let waves: Vec<String> = r.waves.iter().map(|w| format!("W{w}")).collect();
        out.push(format!(
            "waves: {}",
            if waves.is_empty() {
                "none".into()
            } else {
                waves.join(", ")
            }
        ));
        // Those of the sessions it answered (a flood's victim, a scan's target) come after.
        let sent = r.violations.iter().map(|v| (v, "", "sessions"));
        let got = r
            .violations_received
            .iter()
            .map(|v| (v, " received", "sessions answered"));
        for (v, how, of) in sent.chain(got) {
            out.push(format!(
                "violation{how} {} · {} {of} · score {:.2}",
                esc(&v.kind),
                v.sessions,
                v.score
            ));
        }
    }
    if let Some((_, s)) = a
        .agg
        .entities
        .iter()
        .find(|(id, _)| id.to_string() == entity)
    {
        out.push(format!(
            "packets out {} in {} · bytes out {} in {} · {} .. {}",
            s.packets_out,
            s.packets_in,
            s.bytes_out,
            s.bytes_in,
            clock(s.first),
            clock(s.last)
        ));
        let ports = |set: &crate::engine::entities::CappedSet<u16>| {
            let mut p: Vec<u16> = set.items.iter().copied().collect();
            p.sort_unstable();
            let n = p.len();
            if n == 0 {
                return "none".to_string();
            }
            let shown: Vec<String> = p.iter().take(12).map(u16::to_string).collect();
            format!(
                "{}{}",
                shown.join(" "),
                if n > 12 {
                    format!(" … ({n})")
                } else {
                    String::new()
                }
            )
        };
        out.push(format!("ports out: {}", ports(&s.ports_out)));
        out.push(format!("ports in:  {}", ports(&s.ports_in)));
        let mut peers: Vec<String> = s.peers.items.iter().map(ToString::to_string).collect();
        peers.sort();
        let n = peers.len();
        peers.truncate(8);
        out.push(format!("peers ({n}): {}", peers.join(" ")));
    }
    if out.is_empty() {
        // Neither ranked nor in the entity table: no such entity (callers say so).
        return out;
    }
    let mut flows: Vec<_> = a
        .agg
        .flows
        .iter()
        .filter(|(k, _)| k.a_ip.to_string() == entity || k.b_ip.to_string() == entity)
        .collect();
    flows.sort_by_key(|(_, s)| std::cmp::Reverse(s.packets_ab + s.packets_ba));
    if flows.is_empty() {
        out.push("flows: none".into());
    } else {
        out.push(format!("flows ({}), busiest:", flows.len()));
    }
    for (k, s) in flows.iter().take(6) {
        out.push(format!(
            "  proto {} {} ↔ {} · {} pkts",
            k.proto,
            crate::report::groups::endpoint(k.proto, &k.a_ip.to_string(), k.a_port),
            crate::report::groups::endpoint(k.proto, &k.b_ip.to_string(), k.b_port),
            s.packets_ab + s.packets_ba
        ));
    }
    out
}

/// One decoded packet on one line (every packet-derived text escaped).
#[must_use]
pub fn packet_line(p: &crate::decode::Packet) -> String {
    // A frame without IP (ARP, LLDP...) is a host known by its MAC (as in the entity table):
    // its ends are the MACs.
    let ep = |ip: Option<std::net::IpAddr>, port: Option<u16>, mac: Option<[u8; 6]>| match (
        ip, port, mac,
    ) {
        (Some(i), Some(p), _) => crate::text::host_port(&i.to_string(), p),
        (Some(i), None, _) => i.to_string(),
        (None, _, Some(m)) => crate::decode::field::format_mac(m),
        _ => "?".into(),
    };
    let proto = match (p.proto, p.ether_type) {
        (Some(6), _) => "TCP".to_string(),
        (Some(17), _) => "UDP".to_string(),
        (Some(1), _) => "ICMP".to_string(),
        (Some(58), _) => "ICMPv6".to_string(),
        (Some(n), _) => format!("proto {n}"),
        // The IP decoder sets the protocol whenever it sets the addresses: no IP here.
        (None, Some(0x0806)) => "ARP".to_string(),
        (None, Some(t)) => format!("ethertype 0x{t:04x}"),
        (None, None) => "non-IP".to_string(),
    };
    let mut s = format!(
        "{} {proto} {} → {} len {}",
        clock(p.ts),
        ep(p.src_ip, p.src_port, p.src_mac),
        ep(p.dst_ip, p.dst_port, p.dst_mac),
        p.frame_len
    );
    if let Some(f) = p.tcp_flags {
        s.push_str(&format!(
            " [{}]",
            crate::decode::field::tcp_flags_letters(u64::from(f))
        ));
    }
    if let Some(q) = p.dns.as_ref().and_then(|d| d.qname.as_ref()) {
        s.push_str(&format!(" dns {}", q.escape_terminal()));
    }
    if let Some(h) = &p.http {
        let f = |v: &Option<crate::text::Untrusted>| {
            v.as_ref()
                .map_or_else(String::new, crate::text::Untrusted::escape_terminal)
        };
        s.push_str(&format!(
            " http {} {}{}",
            f(&h.method),
            f(&h.host),
            f(&h.path)
        ));
    }
    if let Some(n) = p.tls.as_ref().and_then(|t| t.sni.as_ref()) {
        s.push_str(&format!(" sni {}", n.escape_terminal()));
    }
    s
}

/// Re-reads packets at `offsets` and keeps (up to 12) those to or from `entity`, one line each.
/// Returns the lines and the index context used (found by reading the capture's records when
/// not known yet).
pub fn packets_of(
    entity: &str,
    path: &std::path::Path,
    ctx: Option<crate::capture::IndexContext>,
    offsets: &[u64],
) -> (
    Result<Vec<String>, String>,
    Option<crate::capture::IndexContext>,
) {
    let ctx = match ctx {
        Some(c) => c,
        None => match index_context(path) {
            Ok(c) => c,
            Err(e) => return (Err(e), None),
        },
    };
    let mut out = Vec::new();
    for &off in offsets {
        let Ok(raw) = crate::capture::read_packet_at(path, &ctx, off) else {
            continue;
        };
        let p = crate::decode::decode(&raw.as_raw());
        // The packet's entities as the entity table counts them: its IP addresses, or its
        // MACs when it has none (an ARP spoofer is a host known by its MAC).
        let hit = crate::engine::entities::endpoints(&p)
            .is_some_and(|(a, b)| a.to_string() == entity || b.to_string() == entity);
        if hit {
            out.push(packet_line(&p));
            if out.len() >= 12 {
                break;
            }
        }
    }
    (Ok(out), Some(ctx))
}

/// The index context of a capture: at once for legacy pcap, whose one header says it all,
/// else after reading its records (no decoding): pcapng describes its interfaces in blocks
/// that may come anywhere, and a context taken before them reads no packet back.
fn index_context(path: &std::path::Path) -> Result<crate::capture::IndexContext, String> {
    let mut src = crate::capture::open(path).map_err(|e| e.to_string())?;
    if let Some(c) = src.index_context()
        && matches!(c.layout, crate::capture::index::Layout::Legacy(_))
    {
        return Ok(c);
    }
    while let Ok(Some(_)) = src.next_packet() {}
    src.index_context()
        .ok_or_else(|| "this capture cannot be re-read by offset".to_string())
}
