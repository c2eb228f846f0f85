//! Drawing the whole screen: panes, status or command bar, overlays.

use super::{App, MIN_SIZE, Overlay};
use crate::ui::{Areas, Pane, PaneCtx, centered, layout};
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

impl App {
    /// Draws the whole screen.
    pub fn draw(&mut self, f: &mut Frame<'_>) {
        let area = f.area();
        self.render(area, f.buffer_mut());
    }

    /// Renders the whole screen into a buffer.
    pub fn render(&mut self, area: Rect, buf: &mut Buffer) {
        buf.set_style(area, self.theme.text());
        if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
            // Too small for the panes: say so instead of drawing clipped garbage.
            self.areas = Areas::default();
            let msg = format!("holoscope: enlarge to {}x{}", MIN_SIZE.0, MIN_SIZE.1);
            if area.height > 0 {
                buf.set_stringn(
                    area.x,
                    area.y,
                    msg,
                    usize::from(area.width),
                    self.theme.text(),
                );
            }
            return;
        }
        self.areas = layout(area);
        let inv = self.inv.as_ref();
        for (i, pane) in Pane::ALL.iter().enumerate() {
            let ctx = PaneCtx {
                inv,
                theme: &self.theme,
                focused: self.focus == *pane,
                selected: self.sel[i],
            };
            let r = self.areas.panes[i];
            match pane {
                Pane::Shifts if self.violations_view => {
                    crate::ui::shifts::render_violations(&ctx, r, buf);
                }
                Pane::Shifts => crate::ui::shifts::render(&ctx, r, buf),
                Pane::Heatmap => crate::ui::heatmap::render(&ctx, r, buf),
                Pane::Entities => crate::ui::entities::render(&ctx, r, buf),
                Pane::Rules => crate::ui::rules::render(&ctx, r, buf),
                Pane::Slider => crate::ui::slider::render(&ctx, r, buf),
            }
        }
        let ctx = PaneCtx {
            inv,
            theme: &self.theme,
            focused: true,
            selected: 0,
        };
        let name = self.path.file_name().map_or_else(String::new, |n| {
            crate::text::escape_terminal_str(&n.to_string_lossy())
        });
        #[allow(clippy::cast_precision_loss)]
        let progress = self.loading.then(|| {
            if self.file_len == 0 {
                0.0
            } else {
                (self.progress.offset as f64 / self.file_len as f64).min(1.0)
            }
        });
        let packets = match inv {
            Some(i) if !self.loading => i.analysis.agg.stats.packets,
            _ => self.progress.packets,
        };
        let info = crate::ui::status::StatusInfo {
            capture: &name,
            packets,
            progress,
            live: self.live,
            sample_ratio: self.progress.sample_ratio,
            message: self.message.as_ref().map(|(m, e)| (m.as_str(), *e)),
        };
        match &self.overlay {
            Overlay::Command => {
                let r = Rect::new(
                    area.x,
                    self.areas.status.y.saturating_sub(1),
                    area.width,
                    2.min(area.height),
                );
                crate::ui::help::render_command(&ctx, &self.cmd, &self.candidates, r, buf);
            }
            _ => crate::ui::status::render(&ctx, &info, self.areas.status, buf),
        }
        match &self.overlay {
            Overlay::Help => crate::ui::help::render(&ctx, centered(area, 90, 80), buf),
            Overlay::Editor {
                index,
                input,
                error,
            } => {
                let id = inv
                    .and_then(|v| v.rules.get(*index))
                    .map_or_else(String::new, |r| r.rule.id.to_string());
                let w = centered(area, 90, 100);
                let r = Rect::new(w.x, (area.height / 2).saturating_sub(2), w.width, 4)
                    .intersection(area);
                crate::ui::rules::render_editor(&ctx, &id, input, error.as_deref(), r, buf);
            }
            Overlay::Entity { entity, packets } => {
                crate::ui::entities::render_detail(
                    &ctx,
                    entity,
                    packets.as_deref(),
                    centered(area, 94, 86),
                    buf,
                );
            }
            Overlay::None | Overlay::Command => {}
        }
    }
}
