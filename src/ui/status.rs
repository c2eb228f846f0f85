//! The status bar: capture, packets, progress, cursor, window, baseline, theme and the latest
//! message (errors in the error colour).

use super::{PaneCtx, fit};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

/// What the status bar shows besides the investigation.
pub struct StatusInfo<'a> {
    /// Capture file name (escaped).
    pub capture: &'a str,
    /// Packets read so far.
    pub packets: u64,
    /// Load progress 0..=1, `None` once loaded.
    pub progress: Option<f64>,
    /// Live source: following the present (`Some(true)`) or pinned by the analyst.
    pub live: Option<bool>,
    /// Live ingest keeps 1 packet in this many because it fell behind the link (1: all kept).
    pub sample_ratio: u64,
    /// Latest message and whether it is an error.
    pub message: Option<(&'a str, bool)>,
}

/// Draws the bar on the first row of `area`. When the row cannot hold every part and the
/// message, the message wins: the theme's name goes first, then the baseline mode, the window
/// and the cursor's offset from the start, so a confirmation or an error stays readable at
/// 80 columns. A message that still does not fit is cut.
pub fn render(ctx: &PaneCtx<'_>, info: &StatusInfo<'_>, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let base = Style::new().fg(t.bg).bg(t.accent);
    buf.set_style(area, base);
    let w = area.width as usize;
    let (head, cursor, tail) = parts(ctx, info);
    // Columns the message takes: a separator before it and a space either side.
    let wanted = info.message.map_or(0, |(m, _)| m.chars().count() + 5);
    let line = |keep: usize, short: bool| {
        let mut p = head.clone();
        if let Some((full, lean)) = &cursor {
            p.push(if short { lean.clone() } else { full.clone() });
        }
        p.extend(tail.iter().take(keep).cloned());
        p.join(" │ ")
    };
    let fits = |l: &String| l.chars().count() + wanted <= w;
    let left = (0..=tail.len())
        .rev()
        .map(|keep| line(keep, false))
        .chain(std::iter::once(line(0, true)))
        .find(fits)
        .unwrap_or_else(|| line(0, true));
    buf.set_stringn(area.x, area.y, &left, w, base);
    let used = left.chars().count() + 3;
    if let Some((m, err)) = info.message
        && used < w
    {
        let style = if err {
            Style::new().fg(t.bg).bg(t.error)
        } else {
            Style::new().fg(t.bg).bg(t.ok)
        };
        // The padding spaces count too: the message must end inside the row, or its
        // ellipsis is cut off with the rest.
        let text = format!(" {} ", fit(m, (w - used).saturating_sub(2).max(1)));
        buf.set_string(area.x + used as u16, area.y, text, style);
    }
}

/// The bar's parts: those always shown, the cursor (full and short forms), and those a
/// message may push out, in the order they are dropped from the end.
fn parts(
    ctx: &PaneCtx<'_>,
    info: &StatusInfo<'_>,
) -> (Vec<String>, Option<(String, String)>, Vec<String>) {
    let mut head = vec![
        format!(" {}", info.capture),
        format!("{} pkts", info.packets),
    ];
    match info.live {
        Some(true) => head.push("LIVE".into()),
        Some(false) => head.push("PINNED (End: live)".into()),
        None => {}
    }
    if info.sample_ratio > 1 {
        head.push(format!("SAMPLING 1/{}", info.sample_ratio));
    }
    if let (Some(p), None) = (info.progress, info.live) {
        head.push(format!("loading {:.0}%", p * 100.0));
    }
    let mut tail = Vec::new();
    let cursor = match ctx.inv {
        Some(inv) => {
            tail.push(format!("window {}s", inv.window_s));
            tail.push(match inv.baseline {
                Some(_) => "baseline fixed".into(),
                None => "baseline auto".into(),
            });
            Some((
                super::slider::cursor_label(inv, false),
                super::slider::cursor_label(inv, true),
            ))
        }
        None if info.progress.is_some() => None,
        None => {
            head.push("no analysis".into());
            None
        }
    };
    tail.push(format!("theme {}", ctx.theme.name));
    (head, cursor, tail)
}
