//! Mouse: a click focuses a pane and selects the row under it; on the slider a click or a drag
//! moves the cursor; the wheel moves the selection.

use super::{App, Overlay};
use crate::ui::Pane;
use crate::ui::keymap::Action;
use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

impl App {
    pub(super) fn mouse(&mut self, m: MouseEvent) -> bool {
        let p = Position::new(m.column, m.row);
        let hit = Pane::ALL
            .iter()
            .zip(self.areas.panes)
            .find(|(_, r)| r.contains(p))
            .map(|(p, r)| (*p, r));
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                let Some((pane, r)) = hit else { return false };
                if self.overlay != Overlay::None {
                    return false;
                }
                self.focus = pane;
                if pane == Pane::Slider {
                    self.dragging = true;
                    self.slide_to(m.column, r);
                } else {
                    // Border and header rows come first.
                    let row = usize::from(m.row.saturating_sub(r.y + 2));
                    let n = self.rows(pane);
                    self.sel[pane.index()] = row.min(n.saturating_sub(1));
                }
                true
            }
            MouseEventKind::Drag(MouseButton::Left) if self.dragging => {
                let r = self.areas.panes[Pane::Slider.index()];
                self.slide_to(m.column, r);
                true
            }
            MouseEventKind::Up(_) => {
                self.dragging = false;
                false
            }
            MouseEventKind::ScrollUp => {
                self.act(Action::Up);
                true
            }
            MouseEventKind::ScrollDown => {
                self.act(Action::Down);
                true
            }
            _ => false,
        }
    }

    fn slide_to(&mut self, col: u16, r: Rect) {
        let Some(inv) = &mut self.inv else { return };
        let cols = usize::from(r.width.saturating_sub(2));
        let c = usize::from(col.saturating_sub(r.x + 1));
        inv.cursor = crate::ui::slider::bucket_at(c, cols, inv.len());
    }
}
