//! The shifts pane: concentration shifts at the cursor (field, value, baseline share -> recent
//! share, kind, significance), most significant first; or, after the `violations` command, the
//! protocol violations grouped by kind and the address their sessions share. A capture with no
//! wave (one that is all attack) shows why, and its violation groups, where the shifts would be.

use super::{PaneCtx, fit, pane_block};
use crate::investigation::groups::Groups;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table, Widget};

/// Violation groups shown under the no-wave note.
const NOTE_GROUPS: usize = 5;

/// `5 of 52 groups, 8434 violations`.
fn counts(g: &Groups, shown: usize) -> String {
    crate::report::groups::counts_text(shown.min(g.rows.len()), g.total, g.violations)
}

/// The pane with one dimmed message.
fn dimmed(ctx: &PaneCtx<'_>, title: &str, text: &str, area: Rect, buf: &mut Buffer) {
    Paragraph::new(text)
        .style(ctx.theme.dimmed())
        .block(pane_block(ctx.theme, title, ctx.focused))
        .render(area, buf);
}

/// Draws the violation groups (the `violations` view of the pane), one line each, the
/// selected one highlighted; the selection scrolls the list.
pub fn render_violations(ctx: &PaneCtx<'_>, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let Some(inv) = ctx.inv else {
        return dimmed(ctx, " Violations ", "waiting for the analysis…", area, buf);
    };
    let g = inv.violation_groups();
    let groups = if g.total == 1 { "group" } else { "groups" };
    let title = format!(" Violations · {} of {} {groups} ", g.rows.len(), g.total);
    if g.rows.is_empty() {
        let text = "no protocol violation (`shifts` goes back)";
        return dimmed(ctx, &title, text, area, buf);
    }
    let block = pane_block(t, &title, ctx.focused);
    let inner_w = area.width.saturating_sub(2) as usize;
    let height = area.height.saturating_sub(3) as usize;
    let skip = (ctx.selected + 1).saturating_sub(height);
    let mut lines = vec![Line::styled(
        fit(
            &format!(
                "{} · Enter opens the host · `shifts` goes back",
                counts(&g, g.rows.len())
            ),
            inner_w,
        ),
        t.header(),
    )];
    lines.extend(g.rows.iter().enumerate().skip(skip).map(|(i, r)| {
        let style = if ctx.focused && i == ctx.selected {
            Style::new().bg(t.selected).fg(t.fg)
        } else {
            t.text()
        };
        Line::styled(fit(&crate::explain::group_line(r), inner_w), style)
    }));
    Paragraph::new(lines).block(block).render(area, buf);
}

/// Draws the pane.
pub fn render(ctx: &PaneCtx<'_>, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let Some(inv) = ctx.inv else {
        return dimmed(ctx, " Shifts ", "waiting for the analysis…", area, buf);
    };
    let (label, shifts) = inv.shifts_at_cursor();
    let title = format!(" Shifts · {label} ({}) ", shifts.len());
    let block = pane_block(t, &title, ctx.focused);
    if shifts.is_empty() {
        // A capture with no wave at all says why (it may be all attack) and who leads, then
        // what its violations were: there is nothing else to explain it.
        let mut text = "no significant shift at the cursor".to_string();
        if let Some(note) = crate::explain::no_wave_note(&inv.analysis) {
            text.push_str("\n\n");
            text.push_str(&note);
            let g = inv.violation_groups();
            if !g.rows.is_empty() {
                text.push_str(&format!(
                    "\n\nviolations by kind and shared address ({}; `violations` lists them):",
                    counts(&g, NOTE_GROUPS)
                ));
                for r in g.rows.iter().take(NOTE_GROUPS) {
                    text.push_str("\n- ");
                    text.push_str(&crate::explain::group_line(r));
                }
            }
        }
        Paragraph::new(text)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .style(t.dimmed())
            .block(block)
            .render(area, buf);
        return;
    }
    let inner_w = area.width.saturating_sub(2) as usize;
    // Narrow panes drop the kind and show the recent share only.
    let wide = inner_w >= 60;
    let fixed = if wide {
        12 + 17 + 13 + 6 + 4
    } else {
        11 + 7 + 6 + 3
    };
    let value_w = inner_w.saturating_sub(fixed).clamp(6, 40);
    let rows = shifts.iter().enumerate().map(|(i, s)| {
        let value = s.value.as_ref().map_or_else(
            || format!("({} values)", s.distinct),
            |v| v.display(s.field),
        );
        let shares = if wide {
            format!(
                "{:>5.1}%→{:>5.1}%",
                s.baseline_share * 100.0,
                s.recent_share * 100.0
            )
        } else {
            format!("→{:>3.0}%", s.recent_share * 100.0)
        };
        let novel = if s.novel { "new " } else { "" };
        let style = if ctx.focused && i == ctx.selected {
            Style::new().bg(t.selected).fg(t.fg)
        } else {
            t.text()
        };
        let mut cells = vec![
            Cell::from(fit(s.field.name(), if wide { 12 } else { 11 })),
            Cell::from(fit(&value, value_w)),
            Cell::from(shares),
        ];
        if wide {
            cells.push(Cell::from(format!("{novel}{}", s.kind.name())));
        }
        cells.push(Cell::from(format!("{:>5.1}", s.significance)).style(Style::new().fg(t.warn)));
        Row::new(cells).style(style)
    });
    let vw = Constraint::Length(u16::try_from(value_w).unwrap_or(8));
    let (header, widths) = if wide {
        (
            Row::new(["field", "value", "base → recent", "kind", "sig"]),
            vec![
                Constraint::Length(12),
                vw,
                Constraint::Length(13),
                Constraint::Length(17),
                Constraint::Length(6),
            ],
        )
    } else {
        (
            Row::new(["field", "value", "recent", "sig"]),
            vec![
                Constraint::Length(11),
                vw,
                Constraint::Length(6),
                Constraint::Length(6),
            ],
        )
    };
    let header = header.style(t.header());
    let skip = ctx
        .selected
        .saturating_sub(area.height.saturating_sub(4) as usize);
    Table::new(rows.skip(skip), widths)
        .header(header)
        .block(block)
        .style(t.text())
        .render(area, buf);
}
