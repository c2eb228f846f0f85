//! The residual heatmap: stripes (rows) x buckets around the cursor (columns), coloured by the
//! residual as a multiple of the stripe's `ResidualBuffer` threshold. Cells above the
//! threshold also carry a mark (so the threshold reads without colour), the legend shows the
//! scale, and the selected cell (cursor column, selected stripe) is explained with its stripe's
//! fields.

use super::{PaneCtx, pane_block};
use crate::detect::ResidualMap;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Paragraph, Widget, Wrap};

/// Mark drawn in cells above their stripe's threshold.
pub const OVER_MARK: &str = "▲";
/// Width of the stripe label column.
const LABEL: u16 = 4;

/// Residual of one cell as a multiple of its stripe threshold (`None`: no profile).
#[must_use]
pub fn ratio(map: &ResidualMap, pos: usize, stripe: usize) -> Option<f32> {
    let v = *map.profiles.get(pos)?.as_ref()?.get(stripe)?;
    let thr = map.thresholds.get(stripe).copied().unwrap_or(0.0);
    Some(if thr > 0.0 { v / thr } else { 0.0 })
}

/// Why a bucket has no residual profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoProfile {
    /// The subspace was still learning normal traffic (the warm-up, or a baseline interval
    /// not yet over); profiles start at this bucket (`None`: not yet, in a live capture, or
    /// not before the capture ended, as in short or sparse captures).
    Learning(Option<usize>),
    /// After the warm-up, none of the bucket's packets was in the scored sample.
    NotSampled,
}

/// Why the bucket at `pos` has no profile: before the first profiled bucket the subspace was
/// still learning (profiles start when its warm-up ends); after it, the bucket's packets were
/// not sampled. Without this an analyst saw a pane of dots and "no profile" with no reason.
#[must_use]
pub fn no_profile(map: &ResidualMap, pos: usize) -> NoProfile {
    match map.profiles.iter().position(Option::is_some) {
        None => NoProfile::Learning(None),
        Some(first) if pos < first => NoProfile::Learning(Some(first)),
        Some(_) => NoProfile::NotSampled,
    }
}

/// Stripe names for the legend: the first fields of the stripe.
#[must_use]
pub fn stripe_fields(map: &ResidualMap, stripe: usize, max: usize) -> String {
    let f = map.stripe_fields.get(stripe).map_or(&[][..], Vec::as_slice);
    if f.is_empty() {
        // No field hashes to this stripe: its residual is the constant one of the mean.
        return "(none)".into();
    }
    let mut s: Vec<&str> = f.iter().take(max).map(|f| f.name()).collect();
    if f.len() > max {
        s.push("…");
    }
    s.join(",")
}

/// The stripes worth a row: those some field hashes to. A stripe without fields only ever
/// shows the constant residual of the mean, and at 80x24 such rows would crowd out the ones
/// that explain anything. (All stripes when the legend is unknown.)
#[must_use]
pub fn visible_stripes(map: &ResidualMap) -> Vec<usize> {
    let v: Vec<usize> = (0..map.stripes)
        .filter(|s| map.stripe_fields.get(*s).is_some_and(|f| !f.is_empty()))
        .collect();
    if v.is_empty() {
        (0..map.stripes).collect()
    } else {
        v
    }
}

/// First bucket shown when `cols` columns are centred on the cursor.
#[must_use]
pub fn first_column(cursor: usize, cols: usize, len: usize) -> usize {
    cursor
        .saturating_sub(cols / 2)
        .min(len.saturating_sub(cols))
}

/// Draws the pane.
pub fn render(ctx: &PaneCtx<'_>, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let block = pane_block(t, " Residual heatmap ", ctx.focused);
    let Some(inv) = ctx.inv else {
        Paragraph::new("waiting for the analysis…")
            .style(t.dimmed())
            .block(block)
            .render(area, buf);
        return;
    };
    let Some(map) = inv.findings().residual.as_ref().filter(|m| m.stripes > 0) else {
        Paragraph::new(
            "residual scoring not run: this analysis has no subspace stage, so there is no \
             per-stripe residual to show. Shifts and entities still come from the counts.",
        )
        .style(t.dimmed())
        .wrap(Wrap { trim: true })
        .block(block)
        .render(area, buf);
        return;
    };
    let inner = block.inner(area);
    block.render(area, buf);
    buf.set_style(inner, t.text());
    if inner.height < 4 || inner.width < LABEL + 4 {
        return;
    }
    // Side legend (stripe -> fields) when the pane is wide enough.
    let side = if inner.width >= 90 { 34 } else { 0 };
    let cols = (inner.width - LABEL - side) as usize;
    let rows = (inner.height - 3) as usize; // header, legend, explanation
    let visible = visible_stripes(map);
    let sel = ctx.selected.min(visible.len().saturating_sub(1));
    let stripe = visible.get(sel).copied().unwrap_or(0);
    let first_row = sel.saturating_sub(rows.saturating_sub(1));
    let first = first_column(inv.cursor, cols, inv.len());
    let (x0, y0) = (inner.x + LABEL, inner.y);
    // Header: cursor column marker.
    buf.set_string(inner.x, y0, "buck", t.dimmed());
    let cursor_col = inv.cursor.saturating_sub(first);
    if cursor_col < cols {
        buf.set_string(
            x0 + cursor_col as u16,
            y0,
            "▼",
            Style::new().fg(t.cursor).bg(t.bg),
        );
    }
    for (r, &s) in visible.iter().skip(first_row).take(rows).enumerate() {
        let y = y0 + 1 + r as u16;
        let label_style = if s == stripe { t.header() } else { t.dimmed() };
        buf.set_string(inner.x, y, format!("s{s:<2}"), label_style);
        for c in 0..cols {
            let pos = first + c;
            let x = x0 + c as u16;
            let Some(q) = (pos < inv.len()).then(|| ratio(map, pos, s)).flatten() else {
                buf.set_string(x, y, "·", t.dimmed());
                continue;
            };
            let mut style = Style::new().bg(t.heat_color(q)).fg(t.bg);
            if pos == inv.cursor && s == stripe {
                style = style.add_modifier(Modifier::REVERSED);
            }
            buf.set_string(x, y, if q >= 1.0 { OVER_MARK } else { " " }, style);
        }
        if side > 0 {
            let text = format!(" s{s:<2} {}", stripe_fields(map, s, 4));
            buf.set_stringn(x0 + cols as u16, y, text, side as usize, t.dimmed());
        }
    }
    // Legend: the scale, with the threshold marked.
    let ly = inner.y + inner.height - 2;
    let mut x = inner.x;
    buf.set_string(x, ly, "scale ", t.dimmed());
    x += 6;
    for (q, label) in [(0.0, "0"), (0.5, ""), (0.9, ""), (1.0, "thr▲"), (4.0, "4×")] {
        if x + 6 > inner.x + inner.width {
            break;
        }
        buf.set_string(x, ly, "  ", Style::new().bg(t.heat_color(q)));
        buf.set_string(x + 2, ly, format!("{label:<4}"), t.dimmed());
        x += 2 + label.len().max(1) as u16 + 1;
    }
    // Explanation of the selected cell.
    let explain = match ratio(map, inv.cursor, stripe) {
        Some(q) => format!(
            "s{stripe} @ {}: {q:.2}× threshold{} · fields {}",
            super::clock(inv.cursor_time()),
            if q >= 1.0 { " (above)" } else { "" },
            stripe_fields(map, stripe, 6)
        ),
        None => format!(
            "s{stripe}: {} · fields {}",
            match no_profile(map, inv.cursor) {
                NoProfile::Learning(Some(from)) => format!(
                    "still learning here (profiles from {})",
                    super::clock(inv.bucket_time(from))
                ),
                NoProfile::Learning(None) => {
                    "still learning, no profile yet".into()
                }
                NoProfile::NotSampled => "bucket not in the scored sample".into(),
            },
            stripe_fields(map, stripe, 6)
        ),
    };
    buf.set_stringn(inner.x, ly + 1, explain, inner.width as usize, t.text());
}
