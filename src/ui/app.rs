//! The application state and its update function: events in, state changes and background
//! [`Job`]s out. Rendering reads the state only ([`App::render`], in `app/draw.rs`), so tests
//! drive the whole app with scripted events on a `TestBackend`.

mod draw;
mod mouse;

pub use super::event::{AppEvent, Job, Overlay};

use super::input::LineInput;
use super::keymap::{self, Action};
use super::theme::Theme;
use super::{Areas, Pane};
use crate::capture::IndexContext;
use crate::command::{self, Command, RuleSel, TimeSpec};
use crate::engine::{Analysis, Progress};
use crate::investigation::{Effect, Hooks, Investigation};
use crate::session::SessionFile;
use crossterm::event::{KeyCode, KeyEvent};
use std::path::PathBuf;
use std::sync::Arc;

/// Smallest terminal the panes are drawn in.
pub const MIN_SIZE: (u16, u16) = (30, 12);

/// Packets scanned from the cursor for an entity's packet list.
const PACKET_SCAN: usize = 4000;

/// The application.
pub struct App {
    /// The investigation, once loaded.
    pub inv: Option<Investigation>,
    /// Capture path.
    pub path: PathBuf,
    /// Capture size (for progress).
    pub file_len: u64,
    /// Latest progress.
    pub progress: Progress,
    /// The analysis is still running: `inv` (if any) is a snapshot without rule drafts, and
    /// only commands that change the view are accepted.
    pub loading: bool,
    /// Live source: `Some(true)` while the cursor follows the present (Live), `Some(false)`
    /// once the analyst moved it (Pinned); `None` for a file.
    pub live: Option<bool>,
    /// A saved session is being restored: its cursor and window win over the ones the analyst
    /// used while the capture loaded.
    pub restoring: bool,
    /// Injected stages.
    pub hooks: Hooks,
    /// Focused pane.
    pub focus: Pane,
    /// Selected row per pane.
    pub sel: [usize; 5],
    /// Overlay.
    pub overlay: Overlay,
    /// Command bar text.
    pub cmd: LineInput,
    /// Command history, oldest first.
    pub history: Vec<String>,
    hist_pos: Option<usize>,
    candidates: Vec<String>,
    /// Colours.
    pub theme: Theme,
    /// File the theme came from (watched).
    pub theme_path: Option<PathBuf>,
    /// Latest message and whether it is an error.
    pub message: Option<(String, bool)>,
    /// Quit requested.
    pub quit: bool,
    /// Areas of the last frame.
    pub areas: Areas,
    index_ctx: Option<IndexContext>,
    jobs: Vec<Job>,
    dragging: bool,
}

impl App {
    /// A new app for a capture that is about to load.
    #[must_use]
    pub fn new(path: PathBuf, theme: Theme, theme_path: Option<PathBuf>, hooks: Hooks) -> Self {
        let file_len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Self {
            inv: None,
            path,
            file_len,
            progress: Progress::default(),
            loading: true,
            live: None,
            restoring: false,
            hooks,
            focus: Pane::Shifts,
            sel: [0; 5],
            overlay: Overlay::None,
            cmd: LineInput::default(),
            history: Vec::new(),
            hist_pos: None,
            candidates: Vec::new(),
            theme,
            theme_path,
            message: None,
            quit: false,
            areas: Areas::default(),
            index_ctx: None,
            jobs: Vec::new(),
            dragging: false,
        }
    }

    /// Background work requested since the last call.
    pub fn take_jobs(&mut self) -> Vec<Job> {
        std::mem::take(&mut self.jobs)
    }

    fn say(&mut self, m: impl Into<String>) {
        self.message = Some((m.into(), false));
    }

    fn fail(&mut self, m: impl Into<String>) {
        self.message = Some((m.into(), true));
    }

    /// Handles one event; true when the screen must be redrawn.
    pub fn handle(&mut self, ev: AppEvent) -> bool {
        let before = self.inv.as_ref().map(|i| i.cursor);
        let by_analyst =
            self.live == Some(true) && matches!(ev, AppEvent::Key(_) | AppEvent::Mouse(_));
        let redraw = self.handle_event(ev);
        // Live mode: any cursor move by the analyst pins the view; End returns to Live.
        if by_analyst && self.live == Some(true) && self.inv.as_ref().map(|i| i.cursor) != before {
            self.live = Some(false);
        }
        redraw
    }

    fn handle_event(&mut self, ev: AppEvent) -> bool {
        match ev {
            AppEvent::Key(k) => self.key(k),
            AppEvent::Mouse(m) => return self.mouse(m),
            // The runtime panics on it before it gets here.
            AppEvent::Resize | AppEvent::WorkerPanicked => {}
            AppEvent::Progress(p) => self.progress = p,
            AppEvent::Snapshot(s) => self.snapshot(*s),
            AppEvent::Loaded(b) => {
                let (inv, notes) = *b;
                self.loaded(inv, notes);
            }
            AppEvent::LoadFailed(m) => {
                self.loading = false;
                self.fail(m);
            }
            AppEvent::ThemeFileChanged => self.reload_theme(),
            AppEvent::Replayed { index, def, result } => {
                if let Some(inv) = &mut self.inv {
                    inv.set_counts(index, &def, result);
                }
            }
            AppEvent::EntityPackets { entity, lines, ctx } => {
                if ctx.is_some() {
                    self.index_ctx = ctx;
                }
                if let Overlay::Entity { entity: e, packets } = &mut self.overlay {
                    if *e == entity {
                        match lines {
                            Ok(l) => *packets = Some(l),
                            Err(m) => {
                                *packets = Some(Vec::new());
                                self.message = Some((m, true));
                            }
                        }
                    }
                }
            }
        }
        true
    }

    /// A newer view of the running analysis: panes fill while a large capture loads, and follow
    /// the present in live mode. Rule drafts come with the final analysis.
    fn snapshot(&mut self, s: crate::engine::Snapshot) {
        self.progress = s.progress;
        if !self.loading {
            return;
        }
        let follow = self.live == Some(true);
        match &mut self.inv {
            Some(inv) => inv.refresh(s.analysis, follow),
            None => {
                let mut inv = Investigation::new(&self.path, s.analysis, Hooks::default());
                inv.theme.clone_from(&self.theme.name);
                if follow {
                    inv.cursor = inv.len().saturating_sub(1);
                }
                self.inv = Some(inv);
            }
        }
    }

    fn loaded(&mut self, mut inv: Investigation, notes: Vec<String>) {
        self.loading = false;
        let was_live = self.live.take().is_some();
        // Keep where the analyst looked while it loaded (a restored session decides instead).
        match self.inv.as_ref().filter(|_| !self.restoring) {
            Some(prev) => {
                inv.window_s = prev.window_s;
                inv.cursor = if was_live && prev.cursor + 1 >= prev.len() {
                    inv.len().saturating_sub(1)
                } else {
                    inv.pos_at(prev.cursor_time())
                };
            }
            None => {
                if let Some(f) = Pane::ALL.iter().find(|p| p.name() == inv.layout.focus) {
                    self.focus = *f;
                }
                for (name, row) in &inv.layout.selected {
                    if let Some(p) = Pane::ALL.iter().find(|p| p.name() == name) {
                        self.sel[p.index()] = *row;
                    }
                }
            }
        }
        let restored = inv.session_path.is_some();
        self.inv = Some(inv);
        match notes.first() {
            Some(n) => self.fail(n.clone()),
            None if was_live => self.say("live capture ended · decisions available"),
            None if restored => self.say("session restored"),
            None => self.say("loaded · ? for help"),
        }
    }

    /// Builds the investigation of a finished analysis: drafts its rules (the drafter re-reads
    /// the capture) and restores `session` (which hashes the capture). Both take seconds on a
    /// large capture, so the runtime calls this on the loader thread, never the UI thread.
    #[must_use]
    pub fn investigate(
        path: &std::path::Path,
        a: Analysis,
        hooks: Hooks,
        session: Option<(Option<SessionFile>, PathBuf)>,
    ) -> (Investigation, Vec<String>) {
        let a = Arc::new(a);
        match session {
            Some((Some(s), p)) => Investigation::from_session(path, a, hooks, &s, Some(&p)),
            Some((None, p)) => {
                // A new session file: nothing to restore, only where to save.
                let mut inv = Investigation::new(path, a, hooks);
                inv.session_path = Some(p);
                (inv, Vec::new())
            }
            None => (Investigation::new(path, a, hooks), Vec::new()),
        }
    }

    fn reload_theme(&mut self) {
        let Some(p) = self.theme_path.clone() else {
            return;
        };
        match Theme::load(&p.display().to_string()) {
            Ok((t, _)) => {
                self.theme = t;
                self.say("theme reloaded");
            }
            Err(e) => self.fail(format!("kept the previous theme: {e}")),
        }
    }

    /// Switches theme by name or path; on failure keeps the current one.
    pub fn set_theme(&mut self, name: &str) {
        match Theme::load(name) {
            Ok((t, p)) => {
                self.theme = t;
                self.jobs.push(Job::Watch(p.clone()));
                self.theme_path = p;
                if let Some(inv) = &mut self.inv {
                    inv.theme = name.to_string();
                }
                self.say(format!("theme {}", crate::text::escape_terminal_str(name)));
            }
            Err(e) => {
                if let Some(inv) = &mut self.inv {
                    inv.theme.clone_from(&self.theme.name);
                }
                self.fail(e);
            }
        }
    }

    fn rows(&self, p: Pane) -> usize {
        let Some(inv) = &self.inv else { return 0 };
        match p {
            Pane::Shifts => inv.shifts_at_cursor().1.len(),
            Pane::Heatmap => inv
                .findings()
                .residual
                .as_ref()
                .map_or(0, |m| super::heatmap::visible_stripes(m).len()),
            Pane::Entities => inv.entities().len(),
            Pane::Rules => inv.rules.len(),
            Pane::Slider => 0,
        }
    }

    fn key(&mut self, k: KeyEvent) {
        if k.kind == crossterm::event::KeyEventKind::Release {
            return;
        }
        match &mut self.overlay {
            Overlay::Help | Overlay::Entity { .. } => {
                if matches!(
                    k.code,
                    KeyCode::Esc | KeyCode::Char('q' | '?') | KeyCode::Enter
                ) {
                    self.overlay = Overlay::None;
                }
                return;
            }
            Overlay::Command => return self.command_key(k),
            Overlay::Editor { input, index, .. } => {
                match k.code {
                    KeyCode::Esc => self.overlay = Overlay::None,
                    KeyCode::Enter => {
                        let (i, text) = (*index, input.text.clone());
                        self.edit_rule(i, &text);
                    }
                    _ => {
                        input.key(k);
                    }
                }
                return;
            }
            Overlay::None => {}
        }
        if let Some(a) = keymap::action(k) {
            self.act(a);
        }
    }

    fn edit_rule(&mut self, i: usize, text: &str) {
        let Some(id) = self
            .inv
            .as_ref()
            .and_then(|v| v.rules.get(i))
            .map(|r| r.rule.id.to_string())
        else {
            self.overlay = Overlay::None;
            return;
        };
        match self.apply(Command::Edit(id, Some(text.to_string()))) {
            Ok(()) => self.overlay = Overlay::None,
            Err(e) => {
                if let Overlay::Editor { error, .. } = &mut self.overlay {
                    *error = Some(e);
                }
            }
        }
    }

    fn command_key(&mut self, k: KeyEvent) {
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

    fn complete(&mut self) {
        let mut ctx = command::complete::Context {
            themes: super::theme::BUILTIN
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
                if let Some(prefix) = first.get(..n) {
                    if start + n > self.cmd.text.len() {
                        let text = format!("{}{prefix}", &self.cmd.text[..start]);
                        self.cmd.set(&text);
                    }
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
        match inv.apply(c)? {
            Effect::Message(m) => self.say(m),
            Effect::Show(c) => match c {
                Command::Shifts => self.focus = Pane::Shifts,
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

    fn open_entity(&mut self, entity: String) {
        let Some(inv) = &self.inv else { return };
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
        });
        self.overlay = Overlay::Entity {
            entity,
            packets: None,
        };
    }

    fn act(&mut self, a: Action) {
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

    fn selected_rule_id(&self) -> Option<String> {
        let inv = self.inv.as_ref()?;
        let i = if self.focus == Pane::Rules {
            self.sel[Pane::Rules.index()]
        } else {
            0
        };
        inv.rules.get(i).map(|r| r.rule.id.to_string())
    }

    fn open_selected(&mut self) {
        let Some(inv) = &self.inv else { return };
        match self.focus {
            Pane::Entities => {
                if let Some(e) = inv.entities().get(self.sel[Pane::Entities.index()]) {
                    let e = e.entity.clone();
                    self.open_entity(e);
                }
            }
            Pane::Rules => {
                if let Some(id) = self.selected_rule_id() {
                    if let Err(e) = self.apply(Command::Edit(id, None)) {
                        self.fail(e);
                    }
                }
            }
            _ => {}
        }
    }

    fn suppress_selected(&mut self) {
        let Some(inv) = &self.inv else { return };
        let c = match self.focus {
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
    /// Copies focus and selections into the investigation (for saving).
    pub fn sync_layout(&mut self) {
        if let Some(inv) = &mut self.inv {
            inv.layout.focus = self.focus.name().to_string();
            inv.layout.selected = Pane::ALL
                .iter()
                .map(|p| (p.name().to_string(), self.sel[p.index()]))
                .collect();
        }
    }

    /// Saves the session on quit; returns what happened, for the terminal after exit.
    pub fn autosave(&mut self) -> Option<Result<String, String>> {
        self.sync_layout();
        let inv = self.inv.as_mut()?;
        Some(inv.save(None).map(|p| {
            format!(
                "session saved to {}",
                crate::text::escape_terminal_str(&p.display().to_string())
            )
        }))
    }

    /// [`App::autosave`] after a panic, but only to `owned`, the session file this run holds
    /// the lock of: a crash must never write over a file another holoscope (or nobody) owns.
    pub fn save_after_crash(&mut self, owned: &std::path::Path) -> Option<Result<String, String>> {
        let target = self.inv.as_ref()?.default_session_path();
        if target != owned {
            return Some(Err(format!(
                "its file {} is not the one this run locked",
                crate::text::escape_terminal_str(&target.display().to_string())
            )));
        }
        self.autosave()
    }
}
