//! The command bar: keys while it is open, completion, and running a line of the command
//! language against the investigation.

use super::{App, Job, Overlay};
use crate::command::{self, Command};
use crate::investigation::Effect;
use crate::ui::Pane;
use crate::ui::input::LineInput;
use crossterm::event::{KeyCode, KeyEvent};
use std::sync::Arc;

impl App {
    pub(super) fn command_key(&mut self, k: KeyEvent) {
        match k.code {
            KeyCode::Esc => {
                self.overlay = Overlay::None;
                self.candidates.clear();
            }
            KeyCode::Enter => {
                let line = self.cmd.text.trim().to_string();
                self.overlay = Overlay::None;
                self.candidates.clear();
                self.cmd.set("");
                self.hist_pos = None;
                if !line.is_empty() {
                    if self.history.last() != Some(&line) {
                        self.history.push(line.clone());
                    }
                    self.run_line(&line);
                }
            }
            KeyCode::Tab => self.complete(),
            KeyCode::Up | KeyCode::Down => {
                if self.history.is_empty() {
                    return;
                }
                let last = self.history.len() - 1;
                let pos = match (k.code, self.hist_pos) {
                    (KeyCode::Up, None) => Some(last),
                    (KeyCode::Up, Some(p)) => Some(p.saturating_sub(1)),
                    (_, Some(p)) if p < last => Some(p + 1),
                    _ => None,
                };
                self.hist_pos = pos;
                let text = pos
                    .and_then(|p| self.history.get(p))
                    .cloned()
                    .unwrap_or_default();
                self.cmd.set(&text);
            }
            _ => {
                self.cmd.key(k);
                self.candidates.clear();
            }
        }
    }

    pub(super) fn complete(&mut self) {
        let mut ctx = command::complete::Context {
            themes: crate::ui::theme::BUILTIN
                .iter()
                .map(|(n, _)| (*n).to_string())
                .collect(),
            ..Default::default()
        };
        if let Some(inv) = &self.inv {
            ctx.entities = inv.entities().iter().map(|e| e.entity.clone()).collect();
            ctx.rules = inv.rules.iter().map(|r| r.rule.id.to_string()).collect();
            ctx.waves = inv
                .findings()
                .waves
                .iter()
                .map(|w| w.id.to_string())
                .collect();
        }
        let (start, cands) = command::complete::complete(&self.cmd.text, &ctx);
        match cands.as_slice() {
            [] => {}
            [one] => {
                let text = format!("{}{one} ", &self.cmd.text[..start]);
                self.cmd.set(&text);
            }
            many => {
                // Extend to the longest common prefix.
                let first = &many[0];
                let n = (0..first.len())
                    .take_while(|&i| {
                        many.iter()
                            .all(|c| c.as_bytes().get(i) == first.as_bytes().get(i))
                    })
                    .count();
                if let Some(prefix) = first.get(..n)
                    && start + n > self.cmd.text.len()
                {
                    let text = format!("{}{prefix}", &self.cmd.text[..start]);
                    self.cmd.set(&text);
                }
                self.candidates = many.to_vec();
            }
        }
    }

    /// Parses and runs one command line (the `:` bar), reporting in the status bar.
    pub fn run_line(&mut self, line: &str) {
        match command::parse(line) {
            Ok(c) => {
                if let Err(e) = self.apply(c) {
                    self.fail(e);
                }
            }
            Err(e) => self.fail(crate::text::escape_terminal_str(&e.to_string())),
        }
    }

    /// Applies a command and performs its effect.
    ///
    /// # Errors
    /// The command's error message.
    pub fn apply(&mut self, c: Command) -> Result<(), String> {
        match &c {
            Command::Quit => {
                self.quit = true;
                return Ok(());
            }
            Command::Help => {
                self.overlay = Overlay::Help;
                return Ok(());
            }
            Command::Theme(n) if self.inv.is_none() => {
                let n = n.clone();
                self.set_theme(&n);
                return Ok(());
            }
            _ => {}
        }
        self.sync_layout();
        let inv = self.inv.as_mut().ok_or("still loading")?;
        if self.loading && !c.is_view() {
            return Err(format!(
                "`{}` waits for the analysis to finish (still loading; view commands work)",
                c.name()
            ));
        }
        // An added rule is shown where it lands: the rules pane, selected.
        let adding = matches!(c, Command::Add(..));
        match inv.apply(c)? {
            Effect::Message(m) => self.say(m),
            Effect::Show(c) => match c {
                Command::Shifts => {
                    self.violations_view = false;
                    self.focus = Pane::Shifts;
                }
                Command::Violations => {
                    self.violations_view = true;
                    self.focus = Pane::Shifts;
                    self.sel[Pane::Shifts.index()] = 0;
                }
                Command::Entities => self.focus = Pane::Entities,
                Command::Rules => self.focus = Pane::Rules,
                Command::Explain(e) => self.open_entity(e),
                _ => self.focus = Pane::Slider,
            },
            Effect::Help => self.overlay = Overlay::Help,
            Effect::OpenEditor(i) => {
                let text = inv
                    .rules
                    .get(i)
                    .map(|r| r.rule.def.to_string())
                    .unwrap_or_default();
                self.overlay = Overlay::Editor {
                    index: i,
                    input: LineInput::new(&text),
                    error: None,
                };
            }
            Effect::Replay(i, m) => {
                if adding {
                    self.focus = Pane::Rules;
                    self.sel[Pane::Rules.index()] = i;
                }
                if let Some(e) = inv.rules.get(i) {
                    self.jobs.push(Job::Replay {
                        index: i,
                        rule: e.rule.clone(),
                        path: inv.path.clone(),
                        analysis: Arc::clone(&inv.analysis),
                        hooks: inv.hooks,
                    });
                }
                self.say(m);
            }
            Effect::Theme(n) => self.set_theme(&n),
            Effect::Quit => self.quit = true,
        }
        Ok(())
    }
}
