//! The time slider: the whole capture as a sparkline of packet rate and one of anomaly score,
//! waves marked, the baseline interval, the window brackets and the cursor.

use super::{PaneCtx, clock, pane_block};
use crate::detect::BaselineInfo;
use crate::investigation::Investigation;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Paragraph, Widget};

const BARS: [&str; 9] = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];

/// Bucket range of column `c` of `cols` over `n` buckets.
#[must_use]
pub fn column_range(c: usize, cols: usize, n: usize) -> std::ops::Range<usize> {
    let a = c * n / cols.max(1);
    let b = ((c + 1) * n / cols.max(1)).max(a + 1).min(n.max(a + 1));
    a..b
}

/// Column of bucket `pos`.
#[must_use]
pub fn column_of(pos: usize, cols: usize, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    (pos * cols / n).min(cols.saturating_sub(1))
}

/// Bucket under column `c` (for mouse clicks and drags).
#[must_use]
pub fn bucket_at(c: usize, cols: usize, n: usize) -> usize {
    column_range(c.min(cols.saturating_sub(1)), cols, n)
        .start
        .min(n.saturating_sub(1))
}

fn bar(v: f64, max: f64) -> &'static str {
    if max <= 0.0 || v <= 0.0 {
        return BARS[0];
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let i = ((v / max) * 8.0).ceil().clamp(1.0, 8.0) as usize;
    BARS[i]
}

/// Draws the slider.
pub fn render(ctx: &PaneCtx<'_>, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let Some(inv) = ctx.inv.filter(|i| !i.is_empty()) else {
        Paragraph::new("time slider: waiting for the analysis…")
            .style(t.dimmed())
            .block(pane_block(t, " Time ", ctx.focused))
            .render(area, buf);
        return;
    };
    let n = inv.len();
    let title = format!(
        " Time {} ─ {} · rate / score / waves ",
        clock(inv.bucket_time(0)),
        clock(inv.bucket_time(n - 1))
    );
    let block = pane_block(t, &title, ctx.focused);
    let inner = block.inner(area);
    block.render(area, buf);
    buf.set_style(inner, t.text());
    if inner.width < 4 || inner.height == 0 {
        return;
    }
    let cols = inner.width as usize;
    let tl = inv.analysis.agg.timeline.buckets();
    let f = inv.findings();
    let colmax = |c: usize, val: &dyn Fn(usize) -> f64| {
        column_range(c, cols, n).map(val).fold(0.0f64, f64::max)
    };
    #[allow(clippy::cast_precision_loss)]
    let rate = |i: usize| tl.get(i).map_or(0.0, |b| b.packets as f64);
    let score = |i: usize| f.buckets.get(i).map_or(0.0, |b| b.score.max(0.0));
    let rates: Vec<f64> = (0..cols).map(|c| colmax(c, &rate)).collect();
    let scores: Vec<f64> = (0..cols).map(|c| colmax(c, &score)).collect();
    let rmax = rates.iter().copied().fold(0.0, f64::max);
    let smax = scores.iter().copied().fold(0.0, f64::max);
    let win = inv.window_range();
    let (cur, w0, w1) = (
        column_of(inv.cursor, cols, n),
        column_of(win.start, cols, n),
        column_of(win.end.saturating_sub(1), cols, n),
    );
    let rows = inner.height.min(3);
    for c in 0..cols {
        let x = inner.x + c as u16;
        let mut rs = Style::new().fg(t.rate).bg(t.bg);
        let mut ss = Style::new().fg(t.score).bg(t.bg);
        if c == cur {
            rs = rs.bg(t.selected).add_modifier(Modifier::BOLD);
            ss = ss.bg(t.selected).add_modifier(Modifier::BOLD);
        }
        buf.set_string(x, inner.y, bar(rates[c], rmax), rs);
        if rows >= 2 {
            buf.set_string(x, inner.y + 1, bar(scores[c], smax), ss);
        }
    }
    let my = inner.y + rows - 1;
    if rows < 3 {
        return;
    }
    // Marker row: baseline, waves, window brackets, cursor (later ones draw over earlier).
    let base = match &f.baseline {
        BaselineInfo::Fixed { from, to, .. } => Some((inv.pos_at(*from), inv.pos_at(*to))),
        BaselineInfo::Decaying { warmup_end, .. } => warmup_end.map(|e| (0, inv.pos_at(e))),
    };
    if let Some((a, b)) = base {
        for c in column_of(a, cols, n)..=column_of(b, cols, n) {
            buf.set_string(
                inner.x + c as u16,
                my,
                "b",
                Style::new().fg(t.baseline).bg(t.bg),
            );
        }
    }
    for w in &f.waves {
        let (a, b) = (
            column_of(w.buckets.start, cols, n),
            column_of(w.buckets.end.saturating_sub(1), cols, n),
        );
        let st = Style::new().fg(t.wave).bg(t.bg);
        for c in a..=b {
            buf.set_string(inner.x + c as u16, my, "━", st);
        }
        let label = format!("W{}", w.id);
        if (a + label.len()) <= cols {
            buf.set_string(
                inner.x + a as u16,
                my,
                label,
                st.add_modifier(Modifier::BOLD),
            );
        }
    }
    let ws = Style::new()
        .fg(t.accent)
        .bg(t.bg)
        .add_modifier(Modifier::BOLD);
    buf.set_string(inner.x + w0 as u16, my, "[", ws);
    buf.set_string(inner.x + w1 as u16, my, "]", ws);
    buf.set_string(
        inner.x + cur as u16,
        my,
        "▲",
        Style::new()
            .fg(t.cursor)
            .bg(t.bg)
            .add_modifier(Modifier::BOLD),
    );
}

/// One-line description of the cursor for the status bar: its time, its offset from the
/// start of the capture unless `short`, and the wave it is in.
#[must_use]
pub fn cursor_label(inv: &Investigation, short: bool) -> String {
    let t = inv.cursor_time();
    #[allow(clippy::cast_precision_loss)]
    let off = (t.0 - inv.first_ts().0) as f64 / 1e9;
    let wave = inv
        .wave_at(inv.cursor)
        .map_or_else(String::new, |w| format!(" · wave {}", w.id));
    if short {
        format!("cursor {}{wave}", clock(t))
    } else {
        format!("cursor {} (+{:.1}s){wave}", clock(t), off.max(0.0))
    }
}
