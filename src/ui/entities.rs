//! The entities pane (attention-ranked hosts with tier, score and the five components) and the
//! entity detail overlay (flows, ports, peers, violations, waves, packets re-read by index).

use super::{PaneCtx, fit, pane_block};
use crate::engine::Analysis;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Cell, Clear, Paragraph, Row, Table, Widget, Wrap};

/// Draws the pane.
pub fn render(ctx: &PaneCtx<'_>, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let Some(inv) = ctx.inv else {
        Paragraph::new("waiting for the analysis…")
            .style(t.dimmed())
            .block(pane_block(t, " Entities ", ctx.focused))
            .render(area, buf);
        return;
    };
    let ents = inv.entities();
    let title = format!(" Entities ({}) ", ents.len());
    let block = pane_block(t, &title, ctx.focused);
    if ents.is_empty() {
        Paragraph::new("no ranked entities")
            .style(t.dimmed())
            .block(block)
            .render(area, buf);
        return;
    }
    let wide = area.width >= 70;
    let skip = ctx
        .selected
        .saturating_sub(area.height.saturating_sub(4) as usize);
    let rows = ents.iter().enumerate().skip(skip).map(|(i, e)| {
        let tier_style = match e.tier {
            "hot" => Style::new().fg(t.error),
            "warm" => Style::new().fg(t.warn),
            _ => Style::new().fg(t.dim),
        };
        let mut cells = vec![
            Cell::from(format!("{:>3}", i + 1)),
            Cell::from(fit(&crate::text::escape_terminal_str(&e.entity), 22)),
            Cell::from(e.tier).style(tier_style),
            Cell::from(format!("{:.2}", e.score)),
        ];
        if wide {
            let c = &e.components;
            for v in [c.confidence, c.evidence, c.recency, c.anomaly, c.protocol] {
                cells.push(Cell::from(format!("{v:.2}")));
            }
        }
        let style = if ctx.focused && i == ctx.selected {
            Style::new().bg(t.selected).fg(t.fg)
        } else {
            t.text()
        };
        Row::new(cells).style(style)
    });
    let mut head = vec!["#", "entity", "tier", "score"];
    let mut widths = vec![
        Constraint::Length(3),
        Constraint::Length(22),
        Constraint::Length(6),
        Constraint::Length(5),
    ];
    if wide {
        head.extend(["conf", "evid", "rec", "anom", "prot"]);
        widths.extend([Constraint::Length(5); 5]);
    }
    Table::new(rows, widths)
        .header(Row::new(head).style(t.header()))
        .block(block)
        .style(t.text())
        .render(area, buf);
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
        for v in &r.violations {
            out.push(format!(
                "violation {} · {} sessions · score {:.2}",
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
            super::clock(s.first),
            super::clock(s.last)
        ));
        let ports = |set: &crate::engine::entities::CappedSet<u16>| {
            let mut p: Vec<u16> = set.items.iter().copied().collect();
            p.sort_unstable();
            let n = p.len();
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
    let mut flows: Vec<_> = a
        .agg
        .flows
        .iter()
        .filter(|(k, _)| k.a_ip.to_string() == entity || k.b_ip.to_string() == entity)
        .collect();
    flows.sort_by_key(|(_, s)| std::cmp::Reverse(s.packets_ab + s.packets_ba));
    out.push(format!("flows ({}), busiest:", flows.len()));
    for (k, s) in flows.iter().take(6) {
        out.push(format!(
            "  proto {} {}:{} ↔ {}:{} · {} pkts",
            k.proto,
            k.a_ip,
            k.a_port,
            k.b_ip,
            k.b_port,
            s.packets_ab + s.packets_ba
        ));
    }
    out
}

/// Draws the entity detail overlay over `area`.
pub fn render_detail(
    ctx: &PaneCtx<'_>,
    entity: &str,
    packets: Option<&[String]>,
    area: Rect,
    buf: &mut Buffer,
) {
    let t = ctx.theme;
    Clear.render(area, buf);
    let mut lines: Vec<Line> = Vec::new();
    if let Some(inv) = ctx.inv {
        lines.extend(
            detail_lines(&inv.analysis, entity)
                .into_iter()
                .map(Line::from),
        );
    }
    lines.push(Line::styled(
        "its first packets (re-read from the capture by index):",
        t.header(),
    ));
    match packets {
        None => lines.push(Line::styled("  reading…", t.dimmed())),
        Some([]) => lines.push(Line::styled("  none found", t.dimmed())),
        Some(p) => lines.extend(p.iter().map(|l| Line::from(format!("  {l}")))),
    }
    let title = format!(
        " Entity {} · Esc closes ",
        crate::text::escape_terminal_str(entity)
    );
    Paragraph::new(lines)
        .style(t.text())
        .wrap(Wrap { trim: false })
        .block(pane_block(t, &title, true))
        .render(area, buf);
}

/// One decoded packet on one line (every packet-derived text escaped).
#[must_use]
pub fn packet_line(p: &crate::decode::Packet) -> String {
    let ep = |ip: Option<std::net::IpAddr>, port: Option<u16>| match (ip, port) {
        (Some(i), Some(p)) => format!("{i}:{p}"),
        (Some(i), None) => i.to_string(),
        _ => "?".into(),
    };
    let proto = match p.proto {
        Some(6) => "TCP".to_string(),
        Some(17) => "UDP".to_string(),
        Some(1) => "ICMP".to_string(),
        Some(58) => "ICMPv6".to_string(),
        Some(n) => format!("proto {n}"),
        None => "non-IP".to_string(),
    };
    let mut s = format!(
        "{} {proto} {} → {} len {}",
        super::clock(p.ts),
        ep(p.src_ip, p.src_port),
        ep(p.dst_ip, p.dst_port),
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
        let hit = [p.src_ip, p.dst_ip]
            .iter()
            .flatten()
            .any(|ip| ip.to_string() == entity);
        if hit {
            out.push(packet_line(&p));
            if out.len() >= 12 {
                break;
            }
        }
    }
    (Ok(out), Some(ctx))
}

/// The index context of a capture: at once for formats that know it from the header, else
/// after reading its records (no decoding).
fn index_context(path: &std::path::Path) -> Result<crate::capture::IndexContext, String> {
    let mut src = crate::capture::open(path).map_err(|e| e.to_string())?;
    if let Some(c) = src.index_context() {
        return Ok(c);
    }
    while let Ok(Some(_)) = src.next_packet() {}
    src.index_context()
        .ok_or_else(|| "this capture cannot be re-read by offset".to_string())
}
