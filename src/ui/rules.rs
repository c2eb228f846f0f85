//! The rules pane (drafts and accepted rules with status, action, conditions, coverage and
//! collateral; a rule that repeats an earlier one is marked `=R1`; narrow panes abbreviate the
//! status and leave out "when") and the one-line rule editor overlay.

use super::input::LineInput;
use super::{PaneCtx, fit, pane_block};
use crate::rules::Status;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Clear, Paragraph, Row, Table, Widget};

/// Panes narrower than this show the compact rule list (status initial, no "when").
const COMPACT_BELOW: u16 = 60;

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
            "no rule drafts: no wave to draft for (`add drop when FIELD=VALUE ...` writes one \
             of your own; `violations` suggests what)"
        } else {
            // Snapshots (loading, live) carry no drafter: drafting re-reads the capture file.
            "no rule drafts yet: they come with the final analysis, which re-reads the capture \
             file (a live capture has none)"
        };
        Paragraph::new(why)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .style(t.dimmed())
            .block(block)
            .render(area, buf);
        return;
    }
    // In a narrow pane (half of an 80-column screen) the rule text is what matters: the
    // status shrinks to its initial and the action's "when" is left out, which gave the text
    // 17 columns instead of 10 ("drop when…" said nothing at 80x24).
    let compact = area.width < COMPACT_BELOW;
    let inner = area.width.saturating_sub(2) as usize;
    let body_w = if compact {
        // id 4, status 1, cover 6, coll. 6, and the 4 gaps between the 5 columns.
        inner.saturating_sub(4 + 1 + 6 + 6 + 4).max(10)
    } else {
        inner.saturating_sub(5 + 9 + 7 + 7 + 4).max(10)
    };
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
            let text = e.rule.def.to_string();
            // The first " when " is the action's: conditions and their values come after it.
            let text = if compact {
                text.replacen(" when ", " ", 1)
            } else {
                text
            };
            let body = fit(&text, body_w.saturating_sub(mark.chars().count()).max(1));
            let status = if compact {
                st.name().get(..1).unwrap_or("?").to_uppercase()
            } else {
                st.name().to_string()
            };
            let style = if ctx.focused && i == ctx.selected {
                Style::new().bg(t.selected).fg(t.fg)
            } else {
                t.text()
            };
            Row::new(vec![
                Cell::from(e.rule.id.to_string()),
                Cell::from(status).style(st_style),
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
        Constraint::Length(if compact { 1 } else { 8 }),
        Constraint::Length(u16::try_from(body_w).unwrap_or(10)),
        Constraint::Length(6),
        Constraint::Length(6),
    ];
    let status_head = if compact { "s" } else { "status" };
    Table::new(rows, widths)
        .header(Row::new(["id", status_head, "rule", "cover", "coll."]).style(t.header()))
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
