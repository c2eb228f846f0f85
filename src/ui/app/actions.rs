//! Keymap actions on the focused pane and its selection: moving, opening an entity or a
//! rule, suppressing, accepting and rejecting.

use super::{App, Job, Overlay, PACKET_SCAN};
use crate::command::{Command, RuleSel, TimeSpec};
use crate::ui::Pane;
use crate::ui::keymap::Action;

impl App {
    pub(super) fn open_entity(&mut self, entity: String) {
        let Some(inv) = &self.inv else { return };
        if self.live_without_copy {
            // Nothing to read the packets back from: say how to get them, not "no such file".
            self.overlay = Overlay::Entity {
                entity,
                packets: Some(Vec::new()),
            };
            self.message = Some((
                "a live capture's packets are listed from its copy: start it with --write FILE"
                    .into(),
                true,
            ));
            return;
        }
        // Scan from the entity's first packet (or the cursor). Packets are in file order, so a
        // bucket's first packet is the sum of the packets of the buckets before it (captures
        // are written in time order).
        let first = inv
            .analysis
            .agg
            .entities
            .iter()
            .find(|(id, _)| id.to_string() == entity)
            .map_or(inv.cursor, |(_, s)| inv.pos_at(s.first));
        let before: u64 = inv.analysis.agg.timeline.buckets()[..first.min(inv.len())]
            .iter()
            .map(|b| b.packets)
            .sum();
        // Packets folded out by retention precede the kept buckets in the stream.
        let agg = &inv.analysis.agg;
        let idx = agg.index_from(agg.timeline.history().packets() + before);
        let offsets = idx[..PACKET_SCAN.min(idx.len())].to_vec();
        self.jobs.push(Job::EntityPackets {
            entity: entity.clone(),
            path: inv.path.clone(),
            ctx: self.index_ctx.clone(),
            offsets,
            flush: self.copy.clone(),
        });
        self.overlay = Overlay::Entity {
            entity,
            packets: None,
        };
    }

    pub(super) fn act(&mut self, a: Action) {
        let f = self.focus.index();
        let step = self
            .inv
            .as_ref()
            .map_or(1, |i| isize::try_from(i.len() / 20).unwrap_or(1).max(1));
        match a {
            Action::Quit => self.quit = true,
            Action::Help => self.overlay = Overlay::Help,
            Action::CommandBar => {
                self.cmd.set("");
                self.hist_pos = None;
                self.overlay = Overlay::Command;
            }
            Action::FocusNext => self.focus = Pane::ALL[(f + 1) % 5],
            Action::FocusPrev => self.focus = Pane::ALL[(f + 4) % 5],
            Action::ScrubBack
            | Action::ScrubForward
            | Action::ScrubBackFar
            | Action::ScrubForwardFar => {
                let d = match a {
                    Action::ScrubBack => -1,
                    Action::ScrubForward => 1,
                    Action::ScrubBackFar => -step,
                    _ => step,
                };
                if let Some(inv) = &mut self.inv {
                    inv.scrub(d);
                }
            }
            Action::PrevWave | Action::NextWave => {
                let moved = self
                    .inv
                    .as_mut()
                    .is_some_and(|i| i.jump_wave(a == Action::NextWave));
                if moved {
                    self.sel[Pane::Shifts.index()] = 0;
                } else {
                    self.say("no further wave");
                }
            }
            Action::Start | Action::End => {
                if a == Action::End && self.live.is_some() {
                    self.live = Some(true);
                }
                if let Some(inv) = &mut self.inv {
                    inv.cursor = if a == Action::Start {
                        0
                    } else {
                        inv.len().saturating_sub(1)
                    };
                }
            }
            Action::Up => self.sel[f] = self.sel[f].saturating_sub(1),
            Action::Down => {
                let n = self.rows(self.focus);
                self.sel[f] = (self.sel[f] + 1).min(n.saturating_sub(1));
            }
            Action::Open => self.open_selected(),
            Action::Accept | Action::Reject => {
                let id = self.selected_rule_id();
                match id {
                    Some(id) => {
                        let sel = RuleSel::Id(id);
                        let c = if a == Action::Accept {
                            Command::Accept(sel)
                        } else {
                            Command::Reject(sel)
                        };
                        if let Err(e) = self.apply(c) {
                            self.fail(e);
                        }
                    }
                    None => self.fail("no rule selected (focus the rules pane)"),
                }
            }
            Action::Suppress => self.suppress_selected(),
            Action::Baseline => {
                let Some(inv) = &self.inv else { return };
                let w = inv.window_range();
                let (a, b) = (inv.bucket_time(w.start), inv.bucket_time(w.end));
                let c = Command::Baseline(Some((
                    TimeSpec::Epoch(a.as_secs_f64()),
                    TimeSpec::Epoch(b.as_secs_f64()),
                )));
                if let Err(e) = self.apply(c) {
                    self.fail(e);
                }
            }
            Action::Save => {
                if let Err(e) = self.apply(Command::Save(None)) {
                    self.fail(e);
                }
            }
        }
    }

    pub(super) fn selected_rule_id(&self) -> Option<String> {
        let inv = self.inv.as_ref()?;
        let i = if self.focus == Pane::Rules {
            self.sel[Pane::Rules.index()]
        } else {
            0
        };
        inv.rules.get(i).map(|r| r.rule.id.to_string())
    }

    pub(super) fn open_selected(&mut self) {
        let Some(inv) = &self.inv else { return };
        match self.focus {
            // A violation group opens the host its sessions share.
            Pane::Shifts if self.violations_view => {
                if let Some(g) = inv.violation_groups().rows.get(self.sel[0]) {
                    let e = g.address.clone();
                    self.open_entity(e);
                }
            }
            Pane::Entities => {
                if let Some(e) = inv.entities().get(self.sel[Pane::Entities.index()]) {
                    let e = e.entity.clone();
                    self.open_entity(e);
                }
            }
            Pane::Rules => {
                if let Some(id) = self.selected_rule_id()
                    && let Err(e) = self.apply(Command::Edit(id, None))
                {
                    self.fail(e);
                }
            }
            _ => {}
        }
    }

    pub(super) fn suppress_selected(&mut self) {
        let Some(inv) = &self.inv else { return };
        let c = match self.focus {
            // A violation group is suppressed by its address, as an entity is.
            Pane::Shifts if self.violations_view => inv
                .violation_groups()
                .rows
                .get(self.sel[0])
                .map(|g| Command::Suppress("src_ip".into(), g.address.clone())),
            Pane::Shifts => {
                let (_, s) = inv.shifts_at_cursor();
                s.get(self.sel[0]).and_then(|s| {
                    s.value
                        .as_ref()
                        .map(|v| Command::Suppress(s.field.name().into(), v.display(s.field)))
                })
            }
            Pane::Entities => inv
                .entities()
                .get(self.sel[Pane::Entities.index()])
                .map(|e| Command::Suppress("src_ip".into(), e.entity.clone())),
            _ => None,
        };
        match c {
            Some(c) => {
                if let Err(e) = self.apply(c) {
                    self.fail(e);
                }
            }
            None => self.fail("nothing to suppress here (shifts or entities pane)"),
        }
    }
}
