//! The shifts pane: concentration shifts at the cursor (field, value, baseline share -> recent
//! share, kind, significance), most significant first.

use super::{PaneCtx, fit, pane_block};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Cell, Paragraph, Row, Table, Widget};

/// Draws the pane.
pub fn render(ctx: &PaneCtx<'_>, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let Some(inv) = ctx.inv else {
        let b = pane_block(t, " Shifts ", ctx.focused);
        Paragraph::new("waiting for the analysis…")
            .style(t.dimmed())
            .block(b)
            .render(area, buf);
        return;
    };
    let (label, shifts) = inv.shifts_at_cursor();
    let title = format!(" Shifts · {label} ({}) ", shifts.len());
    let block = pane_block(t, &title, ctx.focused);
    if shifts.is_empty() {
        // A capture with no wave at all says why (it may be all attack) and who leads.
        let text = match crate::explain::no_wave_note(&inv.analysis) {
            Some(note) => format!("no significant shift at the cursor\n\n{note}"),
            None => "no significant shift at the cursor".into(),
        };
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
