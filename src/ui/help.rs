//! The `?` help overlay, generated from the keymap and the command list, and the `:` command
//! bar with its completion candidates.

use super::input::LineInput;
use super::keymap::KEYMAP;
use super::{PaneCtx, fit, pane_block};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Widget};

/// The help text lines (keys, then commands).
#[must_use]
pub fn lines() -> Vec<String> {
    let mut out: Vec<String> = KEYMAP
        .iter()
        .map(|b| format!("{:<16} {}", b.keys, b.help))
        .collect();
    out.push(String::new());
    out.push("commands (after :)".into());
    out.push(
        "goto TIME|wave N · window DUR · baseline A..B|auto · accept ID|all · reject ID|all".into(),
    );
    out.push("edit ID [RULE] · add [wave N] RULE · suppress F=V · unsuppress F=V".into());
    out.push(
        "export FORMAT FILE · save [FILE] · theme NAME · note TEXT · shifts · entities".into(),
    );
    out.push("rules · violations · explain ENTITY · help · quit".into());
    out.push(format!(
        "export formats: {}",
        crate::command::EXPORT_FORMATS.join(" ")
    ));
    out
}

/// Draws the help overlay.
pub fn render(ctx: &PaneCtx<'_>, area: Rect, buf: &mut Buffer) {
    Clear.render(area, buf);
    let t = ctx.theme;
    let w = area.width.saturating_sub(2) as usize;
    let text: Vec<Line> = lines().iter().map(|l| Line::from(fit(l, w))).collect();
    Paragraph::new(text)
        .style(t.text())
        .block(pane_block(t, " Help · ? or Esc closes ", true))
        .render(area, buf);
}

/// Draws the command bar on the last row of `area` (candidates on the row above).
pub fn render_command(
    ctx: &PaneCtx<'_>,
    input: &LineInput,
    candidates: &[String],
    area: Rect,
    buf: &mut Buffer,
) {
    let t = ctx.theme;
    let y = area.y + area.height.saturating_sub(1);
    let row = Rect::new(area.x, y, area.width, 1);
    buf.set_style(row, t.text());
    let w = area.width as usize;
    let col = input.column() + 1;
    let start = col.saturating_sub(w.saturating_sub(1));
    let line: String = format!(":{}", input.text)
        .chars()
        .skip(start)
        .take(w)
        .collect();
    buf.set_string(area.x, y, line, t.text());
    if let Some(cell) = buf.cell_mut((area.x + u16::try_from(col - start).unwrap_or(0), y)) {
        cell.set_style(Style::new().bg(t.cursor).fg(t.bg));
    }
    if candidates.len() > 1 && area.height > 1 {
        let r = Rect::new(area.x, y - 1, area.width, 1);
        buf.set_style(r, t.dimmed());
        buf.set_stringn(area.x, y - 1, fit(&candidates.join("  "), w), w, t.dimmed());
    }
}
