//! The application state and its update function: events in, state changes and background
//! [`Job`]s out. Rendering reads the state only ([`App::render`], in `app/draw.rs`), so tests
//! drive the whole app with scripted events on a `TestBackend`. Keymap actions live in
//! `app/actions.rs`, the command bar in `app/command_bar.rs`, the mouse in `app/mouse.rs`.

mod actions;
mod command_bar;
mod draw;
mod mouse;

pub use super::event::{AppEvent, Job, Overlay};

use super::input::LineInput;
use super::keymap;
use super::theme::Theme;
use super::{Areas, Pane};
use crate::capture::IndexContext;
use crate::command::Command;
use crate::engine::{Analysis, Progress};
use crate::investigation::{Hooks, Investigation};
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
    /// Where a live capture's packets are read back while it runs: its `--write` copy, still
    /// `FILE.part` (the tee indexes live packets by their place in the copy). `None` for a
    /// capture file, and for a live capture without a copy.
    pub packets_from: Option<PathBuf>,
    /// A live capture without `--write`: its packets cannot be read back to be listed.
    pub live_without_copy: bool,
    /// The live capture's `--write` copy, flushed before a host's packets are read back
    /// from [`App::packets_from`].
    pub copy: Option<crate::capture::write::WriteHandle>,
    /// A saved session is being restored: its cursor and window win over the ones the analyst
    /// used while the capture loaded.
    pub restoring: bool,
    /// The analyst has moved the cursor (key or mouse). Until then a file capture keeps its
    /// cursor on the first wave found, while it loads and when it has loaded.
    pub cursor_moved: bool,
    /// Injected stages.
    pub hooks: Hooks,
    /// Focused pane.
    pub focus: Pane,
    /// The shifts pane lists the violation groups instead (the `violations` command; `shifts`
    /// turns it back).
    pub violations_view: bool,
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
            packets_from: None,
            live_without_copy: false,
            copy: None,
            restoring: false,
            cursor_moved: false,
            hooks,
            focus: Pane::Shifts,
            violations_view: false,
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
        let by_analyst = matches!(ev, AppEvent::Key(_) | AppEvent::Mouse(_));
        let was_following = self.live == Some(true);
        let redraw = self.handle_event(ev);
        if by_analyst && before.is_some() && self.inv.as_ref().map(|i| i.cursor) != before {
            self.cursor_moved = true;
            // Live mode: any cursor move by the analyst pins the view; End returns to Live
            // (a move that starts pinned, like End's, leaves the mode to the key).
            if was_following && self.live == Some(true) {
                self.live = Some(false);
            }
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
            AppEvent::Drafts(rules) => {
                // Until the capture ends no decision is possible, so the newest drafts simply
                // replace the previous ones.
                if let Some(inv) = self.inv.as_mut().filter(|_| self.loading) {
                    inv.rules = rules
                        .into_iter()
                        .map(|(rule, counts)| crate::investigation::RuleEntry {
                            rule,
                            counts,
                            pending: false,
                            error: None,
                        })
                        .collect();
                }
            }
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
                if let Overlay::Entity { entity: e, packets } = &mut self.overlay
                    && *e == entity
                {
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
        let first_wave = self.opens_at_first_wave();
        match &mut self.inv {
            Some(inv) => inv.refresh(s.analysis, follow),
            None => {
                let path = self.packets_from.as_deref().unwrap_or(&self.path);
                let mut inv = Investigation::new(path, s.analysis, Hooks::default());
                inv.theme.clone_from(&self.theme.name);
                if follow {
                    inv.cursor = inv.len().saturating_sub(1);
                }
                self.inv = Some(inv);
            }
        }
        if first_wave && let Some(inv) = &mut self.inv {
            to_first_wave_or_start(inv);
        }
    }

    /// Whether the cursor belongs on the first wave: a capture file (not live), no session
    /// being restored (it brings its own cursor), and the analyst has not moved the cursor.
    fn opens_at_first_wave(&self) -> bool {
        self.live.is_none() && !self.restoring && !self.cursor_moved
    }

    fn loaded(&mut self, mut inv: Investigation, notes: Vec<String>) {
        self.loading = false;
        let first_wave = self.opens_at_first_wave();
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
        if first_wave {
            to_first_wave_or_start(&mut inv);
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
            Pane::Shifts if self.violations_view => inv.violation_groups().rows.len(),
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

/// Puts the cursor on the first wave, or on the first bucket when there is none (a wave an
/// earlier snapshot showed may not survive into the final analysis).
fn to_first_wave_or_start(inv: &mut Investigation) {
    if !inv.to_first_wave() {
        inv.cursor = 0;
    }
}
