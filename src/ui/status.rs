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

/// Draws the bar on the first row of `area`.
pub fn render(ctx: &PaneCtx<'_>, info: &StatusInfo<'_>, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let base = Style::new().fg(t.bg).bg(t.accent);
    buf.set_style(area, base);
    let mut parts = vec![
        format!(" {}", info.capture),
        format!("{} pkts", info.packets),
    ];
    match info.live {
        Some(true) => parts.push("LIVE".into()),
        Some(false) => parts.push("PINNED (End: live)".into()),
        None => {}
    }
    if info.sample_ratio > 1 {
        parts.push(format!("SAMPLING 1/{}", info.sample_ratio));
    }
    if let (Some(p), None) = (info.progress, info.live) {
        parts.push(format!("loading {:.0}%", p * 100.0));
    }
    match ctx.inv {
        Some(inv) => {
            parts.push(super::slider::cursor_label(inv));
            parts.push(format!("window {}s", inv.window_s));
            parts.push(match inv.baseline {
                Some(_) => "baseline fixed".into(),
                None => "baseline auto".into(),
            });
        }
        None if info.progress.is_some() => {}
        None => parts.push("no analysis".into()),
    }
    parts.push(format!("theme {}", t.name));
    let left = parts.join(" │ ");
    let w = area.width as usize;
    buf.set_stringn(area.x, area.y, &left, w, base);
    let used = left.chars().count() + 3;
    if let Some((m, err)) = info.message {
        if used < w {
            let style = if err {
                Style::new().fg(t.bg).bg(t.error)
            } else {
                Style::new().fg(t.bg).bg(t.ok)
            };
            let text = format!(" {} ", fit(m, w - used));
            buf.set_string(area.x + used as u16, area.y, text, style);
        }
    }
}
