//! The entities pane (attention-ranked hosts with tier, score and the five components) and the
//! entity detail overlay (flows, ports, peers, violations, waves, packets re-read by index).

use super::{PaneCtx, fit, pane_block};
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

pub use crate::explain::{detail_lines, packet_line, packets_of};

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
        let detail = detail_lines(&inv.analysis, entity);
        if detail.is_empty() {
            lines.push(Line::styled("no such entity in this capture", t.dimmed()));
        }
        lines.extend(detail.into_iter().map(Line::from));
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
