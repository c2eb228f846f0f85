//! The terminal UI (feature `tui`): one file per pane, an [`app::App`] owning the state, and a
//! runtime ([`runtime::run`]) that loads the capture in the background, reads input and theme
//! file changes on their own threads and redraws only when something changed.
//!
//! ```text
//! ┌ Shifts ─────────────┐┌ Residual heatmap ───┐
//! │ field value shares  ││ stripes x buckets   │
//! └─────────────────────┘└─────────────────────┘
//! ┌ Entities ───────────┐┌ Rules ──────────────┐
//! └─────────────────────┘└─────────────────────┘
//! ┌ Time (rate / score / waves, [window] ▲cursor) ┐
//! status bar (or the : command bar)
//! ```

pub mod app;
pub mod entities;
pub mod event;
pub mod heatmap;
pub mod help;
pub mod input;
pub mod keymap;
pub mod rules;
pub mod runtime;
pub mod shifts;
pub mod slider;
pub mod status;
pub mod theme;

use crate::investigation::Investigation;
use crate::time::Timestamp;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Block, BorderType};
use theme::Theme;

/// What every pane renderer gets.
#[derive(Clone, Copy)]
pub struct PaneCtx<'a> {
    /// The investigation, once the analysis arrived.
    pub inv: Option<&'a Investigation>,
    /// Colours.
    pub theme: &'a Theme,
    /// The pane has the focus.
    pub focused: bool,
    /// Selected row of the pane.
    pub selected: usize,
}

/// The panes that take focus, in Tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    /// Shifts.
    Shifts,
    /// Residual heatmap.
    Heatmap,
    /// Entities.
    Entities,
    /// Rules.
    Rules,
    /// Time slider.
    Slider,
}

impl Pane {
    /// All panes in Tab order.
    pub const ALL: [Pane; 5] = [
        Pane::Shifts,
        Pane::Heatmap,
        Pane::Entities,
        Pane::Rules,
        Pane::Slider,
    ];

    /// Name (for sessions).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Pane::Shifts => "shifts",
            Pane::Heatmap => "heatmap",
            Pane::Entities => "entities",
            Pane::Rules => "rules",
            Pane::Slider => "slider",
        }
    }

    /// Index into [`Pane::ALL`].
    #[must_use]
    pub fn index(self) -> usize {
        Pane::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }
}

/// Screen areas of one frame (kept for mouse hit tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Areas {
    /// Per pane, in [`Pane::ALL`] order.
    pub panes: [Rect; 5],
    /// Status / command bar row.
    pub status: Rect,
}

/// Splits the screen: two rows of two panes, the slider, the status bar.
#[must_use]
pub fn layout(area: Rect) -> Areas {
    let [top, mid, slider, status] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Fill(1),
        Constraint::Length(5),
        Constraint::Length(1),
    ])
    .areas(area);
    let halves = |r: Rect| -> [Rect; 2] {
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(r)
    };
    let [shifts, heat] = halves(top);
    let [ents, rules] = halves(mid);
    Areas {
        panes: [shifts, heat, ents, rules, slider],
        status,
    }
}

/// A pane's bordered block.
#[must_use]
pub fn pane_block<'a>(t: &Theme, title: &'a str, focused: bool) -> Block<'a> {
    Block::bordered()
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(t.border_style(focused))
        .title(title)
        .title_style(t.header())
        .style(t.text())
}

/// `s` cut to `w` characters (with `…` when cut).
#[must_use]
pub fn fit(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_string();
    }
    let mut out: String = s.chars().take(w.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `HH:MM:SS.mmm` (UTC) of a timestamp.
#[must_use]
pub fn clock(t: Timestamp) -> String {
    let full = crate::time::format_utc(t);
    // "YYYY-MM-DD HH:MM:SS.micros" -> "HH:MM:SS.mmm"
    full.get(11..23).map_or(full.clone(), str::to_string)
}

/// A rectangle of `w` x `h` percent centred in `r`.
#[must_use]
pub fn centered(r: Rect, w: u16, h: u16) -> Rect {
    let cw = r.width * w / 100;
    let ch = r.height * h / 100;
    Rect::new(r.x + (r.width - cw) / 2, r.y + (r.height - ch) / 2, cw, ch)
}
