//! The rules pane (drafts and accepted rules with status, action, conditions, coverage and
//! collateral; a rule that repeats an earlier one is marked `=R1`) and the one-line rule
//! editor overlay.

use super::input::LineInput;
use super::{PaneCtx, fit, pane_block};
use crate::rules::Status;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Clear, Paragraph, Row, Table, Widget};

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{:.1}%", v * 100.0))
}

/// Draws the pane.
pub fn render(ctx: &PaneCtx<'_>, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let Some(inv) = ctx.inv else {
        Paragraph::new("waiting for the analysis…")
            .style(t.dimmed())
            .block(pane_block(t, " Rules ", ctx.focused))
            .render(area, buf);
        return;
    };
    let accepted = inv
        .rules
        .iter()
        .filter(|r| r.rule.status() == Status::Accepted)
        .count();
    let title = format!(" Rules ({} · {accepted} accepted) ", inv.rules.len());
    let block = pane_block(t, &title, ctx.focused);
    if inv.rules.is_empty() {
        let why = if inv.hooks.drafter.is_some() {
            "no rule drafts: no wave to draft for"
        } else {
            // Snapshots (loading, live) carry no drafter: drafting re-reads the capture file.
            "no rule drafts yet: they come with the final analysis, which re-reads the capture \
             file (a live capture has none)"
        };
        Paragraph::new(why)
            .style(t.dimmed())
            .block(block)
            .render(area, buf);
        return;
    }
    let body_w = (area.width.saturating_sub(2) as usize)
        .saturating_sub(5 + 9 + 7 + 7 + 4)
        .max(10);
    let skip = ctx
        .selected
        .saturating_sub(area.height.saturating_sub(4) as usize);
    // Only the rows that fit are built: each looks back for a rule it repeats.
    let visible = area.height as usize;
    let rows = inv
        .rules
        .iter()
        .enumerate()
        .skip(skip)
        .take(visible)
        .map(|(i, e)| {
            let st = e.rule.status();
            let st_style = Style::new().fg(match st {
                Status::Accepted => t.ok,
                Status::Rejected => t.error,
                Status::Edited => t.accent,
                Status::Draft => t.warn,
            });
            let (cov, col) = if e.pending {
                ("…".to_string(), "…".to_string())
            } else if e.error.is_some() {
                ("err".to_string(), "err".to_string())
            } else {
                let c = e.counts.as_ref();
                (
                    pct(c.and_then(crate::rules::ReplayCounts::anomalous_coverage)),
                    pct(c.and_then(crate::rules::ReplayCounts::baseline_collateral)),
                )
            };
            // The rule's one-line form escapes every packet-derived value. A rule an earlier one
            // repeats (an attack's later wave) is marked with that one's id: exports write it once.
            let mark = inv
                .repeat_of(i)
                .map_or_else(String::new, |id| format!("={id} "));
            let body = fit(
                &e.rule.def.to_string(),
                body_w.saturating_sub(mark.chars().count()).max(1),
            );
            let style = if ctx.focused && i == ctx.selected {
                Style::new().bg(t.selected).fg(t.fg)
            } else {
                t.text()
            };
            Row::new(vec![
                Cell::from(e.rule.id.to_string()),
                Cell::from(st.name()).style(st_style),
                Cell::from(Line::from(vec![
                    Span::styled(mark, t.dimmed()),
                    Span::raw(body),
                ])),
                Cell::from(cov),
                Cell::from(col),
            ])
            .style(style)
        });
    let widths = [
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Length(u16::try_from(body_w).unwrap_or(10)),
        Constraint::Length(6),
        Constraint::Length(6),
    ];
    Table::new(rows, widths)
        .header(Row::new(["id", "status", "rule", "cover", "coll."]).style(t.header()))
        .block(block)
        .style(t.text())
        .render(area, buf);
}

/// Draws the rule editor overlay (the rule's one-line form, editable).
pub fn render_editor(
    ctx: &PaneCtx<'_>,
    id: &str,
    input: &LineInput,
    error: Option<&str>,
    area: Rect,
    buf: &mut Buffer,
) {
    let t = ctx.theme;
    Clear.render(area, buf);
    let title = format!(" Edit {id} · Enter applies and replays · Esc cancels ");
    let block = pane_block(t, &title, true);
    let inner = block.inner(area);
    let w = inner.width as usize;
    // Scroll so the cursor stays visible.
    let col = input.column();
    let start = col.saturating_sub(w.saturating_sub(1));
    let shown: String = input.text.chars().skip(start).take(w).collect();
    let mut lines = vec![Line::from(shown)];
    lines.push(match error {
        Some(e) => Line::styled(fit(e, w), Style::new().fg(t.error)),
        None => Line::styled(
            "drop|alert|rate-limit N/s when FIELD=VALUE … priority=N",
            t.dimmed(),
        ),
    });
    Paragraph::new(lines)
        .style(t.text())
        .block(block)
        .render(area, buf);
    let cx = inner.x + u16::try_from(col - start).unwrap_or(0);
    if let Some(cell) = buf.cell_mut((cx, inner.y)) {
        cell.set_style(Style::new().bg(t.cursor).fg(t.bg));
    }
}
