//! The TUI runtime: terminal setup and restore (also on panic), the loader, input and theme
//! watcher threads, worker threads for jobs, and the event loop that drains every pending
//! event before drawing once (so a burst of scrub keys renders only the newest cursor).

use super::app::{App, AppEvent, Job};
use super::theme::Theme;
use crate::fsutil::FileLock;
use crate::investigation::Hooks;
use crate::session::SessionFile;
use crossbeam_channel::{Receiver, Sender};
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use notify::Watcher;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What `holoscope CAPTURE` was asked to open.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Capture (taken from the session when `None`).
    pub capture: Option<PathBuf>,
    /// Theme name or file.
    pub theme: Option<String>,
    /// Session to restore (and save to).
    pub session: Option<PathBuf>,
    /// Injected stages.
    pub hooks: Hooks,
}

/// Whether the terminal is in the TUI's modes. Restoring twice is not harmless: leaving the
/// alternate screen again moves the cursor back to where it was saved on entry, so a panic
/// message printed after the first restore would be overwritten.
static IN_TUI: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn restore_terminal() {
    if IN_TUI.swap(false, std::sync::atomic::Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(std::io::stdout(), DisableMouseCapture, LeaveAlternateScreen);
    }
}

/// Runs the TUI until quit; returns the message to print afterwards (where the session went).
///
/// # Errors
/// A one-line message: corrupt or locked session, unknown theme, terminal failure. A corrupt
/// session file is never overwritten.
pub fn run(opts: RunOptions) -> Result<String, String> {
    let session = match &opts.session {
        Some(p) if p.exists() => {
            Some((SessionFile::load(p).map_err(|e| e.to_string())?, p.clone()))
        }
        _ => None,
    };
    let capture = opts
        .capture
        .clone()
        .or_else(|| {
            session
                .as_ref()
                .map(|(s, _)| PathBuf::from(&s.capture.path))
        })
        .ok_or("give a capture or a session")?;
    if capture.as_os_str() == "-" {
        // The investigation reads its capture again (drafting, replay of edited rules,
        // sessions that name it), which a stream cannot be.
        return Err(
            "the TUI investigates a capture file, not standard input: save the stream \
             first (`holoscope report - --write FILE` analyses it while saving it), or use \
             `holoscope report -`"
                .into(),
        );
    }
    check_capture(&capture)?;
    // A second instance on the same session would overwrite the first one's decisions.
    let lock_target = opts.session.clone().unwrap_or_else(|| {
        let stem = capture
            .file_stem()
            .map_or_else(|| "capture".into(), |s| s.to_string_lossy().into_owned());
        PathBuf::from("sessions").join(format!("{stem}.ron"))
    });
    if let Some(d) = lock_target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
    }
    let _lock = FileLock::acquire(&lock_target).map_err(|e| e.to_string())?;
    let theme_name = opts
        .theme
        .clone()
        .or_else(|| session.as_ref().and_then(|(s, _)| s.theme.clone()))
        .unwrap_or_else(|| "dark".into());
    let (theme, theme_path) = Theme::load(&theme_name)?;
    let mut app = App::new(capture.clone(), theme, theme_path.clone(), opts.hooks);
    app.restoring = session.is_some();
    // Restore the session given, or start a new one in the file named by --session.
    let pending = match session {
        Some((s, p)) => Some((Some(s), p)),
        None => opts.session.clone().map(|p| (None, p)),
    };

    let (tx, rx) = crossbeam_channel::unbounded();
    spawn_loader(&capture, opts.hooks, pending, tx.clone());
    let mut watcher = ThemeWatch::new(tx.clone());
    watcher.watch(theme_path.as_deref());

    in_terminal(&mut app, &rx, &tx, &mut watcher, Some(&lock_target))?;
    Ok(match app.autosave() {
        Some(Ok(m)) => m,
        Some(Err(e)) => format!("session not saved: {e}"),
        None => "quit before the analysis finished; nothing saved".into(),
    })
}

/// Runs the event loop in raw mode on the alternate screen, and leaves both whatever happens.
/// On a panic the session is saved to `crash_save` (the file this run locked) when given.
fn in_terminal(
    app: &mut App,
    rx: &Receiver<AppEvent>,
    tx: &Sender<AppEvent>,
    watcher: &mut ThemeWatch,
    crash_save: Option<&Path>,
) -> Result<(), String> {
    enable_raw_mode().map_err(|e| format!("terminal: {e}"))?;
    IN_TUI.store(true, std::sync::atomic::Ordering::SeqCst);
    let prev = std::panic::take_hook();
    let ui_thread = std::thread::current().id();
    let panic_tx = tx.clone();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        prev(info);
        // A worker's panic ends the UI too (see `AppEvent::WorkerPanicked`).
        if std::thread::current().id() != ui_thread {
            let _ = panic_tx.send(AppEvent::WorkerPanicked);
        }
    }));
    let _ = execute!(std::io::stdout(), EnterAlternateScreen, EnableMouseCapture);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        event_loop(app, rx, tx, watcher)
    }));
    restore_terminal();
    match result {
        Ok(r) => r,
        Err(payload) => {
            // The hook restored the terminal and printed the panic; save what the analyst did
            // (to the session file this run locked, nowhere else), say where, and let the
            // panic end the process as it would have (exit code 101, lock file removed).
            let saved = match crash_save.map(|p| app.save_after_crash(p)) {
                Some(Some(Ok(m))) => m,
                Some(Some(Err(e))) => format!("session not saved: {e}"),
                Some(None) => "the analysis had not finished; nothing to save".into(),
                None => "live captures are not saved as sessions".into(),
            };
            eprintln!("holoscope: crashed (this is a bug; please report it); {saved}");
            std::panic::resume_unwind(payload);
        }
    }
}

/// A live capture to watch (`holoscope --interface IFACE`): the source is opened (and root
/// dropped) by the caller, before the terminal is taken over, so privilege errors print plainly.
pub struct LiveRun {
    /// Interface name (shown as the capture).
    pub interface: String,
    /// The open capture.
    pub source: Box<dyn crate::capture::PacketSource + Send>,
    /// Raised on quit so the capture ends.
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Engine options (retention, bucket width).
    pub engine: crate::engine::Options,
    /// With `--write FILE`: the file the capture is being copied to (its `.part` while it
    /// grows) and the stages that draft rules from it. Without, a live capture has no drafts.
    pub drafts: Option<(PathBuf, Hooks)>,
    /// The `--write` copy's handle: flushed before its `.part` file is read back (listing
    /// a host's packets, live drafting), so the packets of the last half second are there.
    pub copy: Option<crate::capture::write::WriteHandle>,
}

/// Least time between two live drafting passes (each re-reads the growing copy).
const LIVE_DRAFT_EVERY: Duration = Duration::from_secs(5);

/// Start-to-start time between live drafting passes, in multiples of the last pass's length.
/// A pass re-reads the whole growing copy, so it lengthens as the capture grows (seconds per
/// gigabyte); spacing passes by four times their length keeps drafting to a quarter of one
/// core, leaving the rest to the live ingest, which would otherwise fall behind the link.
const LIVE_DRAFT_SPACING: u32 = 4;

/// Least start-to-start time before the next live drafting pass, after one that took
/// `last_pass`.
fn live_draft_gap(last_pass: Duration) -> Duration {
    LIVE_DRAFT_EVERY.max(last_pass.saturating_mul(LIVE_DRAFT_SPACING))
}

/// Drafts rules from the growing copy of a live capture off the snapshot thread, one pass at a
/// time, only when the waves changed, at most every [`LIVE_DRAFT_EVERY`] and at most a quarter
/// of the time ([`live_draft_gap`]).
struct LiveDrafter {
    part: PathBuf,
    copy: Option<crate::capture::write::WriteHandle>,
    hooks: Hooks,
    busy: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// How long the last pass took, in nanoseconds (written by the pass's thread).
    took_ns: std::sync::Arc<std::sync::atomic::AtomicU64>,
    last: Option<Instant>,
    waves: Vec<(i64, i64)>,
}

impl LiveDrafter {
    fn offer(&mut self, a: &std::sync::Arc<crate::engine::Analysis>, tx: &Sender<AppEvent>) {
        use std::sync::atomic::Ordering;
        let waves: Vec<(i64, i64)> = a
            .findings
            .waves
            .iter()
            .map(|w| (w.start.0, w.end.0))
            .collect();
        let gap = live_draft_gap(Duration::from_nanos(self.took_ns.load(Ordering::Acquire)));
        let due = self.last.is_none_or(|t| t.elapsed() >= gap);
        let Some(drafter) = self.hooks.drafter.filter(|_| due && waves != self.waves) else {
            return;
        };
        if self.busy.swap(true, Ordering::AcqRel) {
            return;
        }
        self.last = Some(Instant::now());
        self.waves = waves;
        let (a, part, copy, busy, took_ns, tx) = (
            std::sync::Arc::clone(a),
            self.part.clone(),
            self.copy.clone(),
            std::sync::Arc::clone(&self.busy),
            std::sync::Arc::clone(&self.took_ns),
            tx.clone(),
        );
        let _ = std::thread::Builder::new()
            .name("holo-live-draft".into())
            .spawn(move || {
                let started = Instant::now();
                // The snapshot's packets are all written; make them readable.
                if let Some(c) = &copy {
                    c.flush();
                }
                let rules = drafter(&a, &part);
                let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                took_ns.store(ns, Ordering::Release);
                let _ = tx.send(AppEvent::Drafts(rules));
                busy.store(false, Ordering::Release);
            });
    }
}

/// Refuses, before the terminal is taken over, a capture the investigation could not use,
/// with the same messages as `holoscope report`: a missing file, a directory, a file that is
/// no capture (its header is read now; before, the TUI opened and only its status bar said
/// so), or a pipe or device, which the investigation cannot read again (drafting, replay,
/// explain) and which opening here would block on.
fn check_capture(capture: &std::path::Path) -> Result<(), String> {
    if crate::fsutil::is_special(capture) {
        return Err(format!(
            "{}: not a regular file: the TUI reads its capture again (drafting, replay, \
             explain), which a pipe or device cannot be; save it to a file first, or use \
             `holoscope report`",
            crate::text::escape_terminal_str(&capture.display().to_string())
        ));
    }
    crate::capture::open(capture)
        .map(drop)
        .map_err(|e| crate::text::escape_terminal_str(&e.to_string()))
}

/// Watches a live capture: panes follow the present (Live) until the analyst moves the cursor
/// (Pinned; End returns to Live). With `--write`, rule drafts follow the waves as traffic
/// arrives (drafted from the growing copy). When the capture ends (its duration) the final
/// analysis replaces the snapshots and decisions become available. No session is saved: a
/// session names a capture file to reopen.
///
/// # Errors
/// Unknown theme, terminal failure.
pub fn run_live(live: LiveRun, theme: Option<String>) -> Result<String, String> {
    let (theme, theme_path) = Theme::load(theme.as_deref().unwrap_or("dark"))?;
    let path = PathBuf::from(&live.interface);
    let mut app = App::new(path.clone(), theme, theme_path.clone(), Hooks::default());
    app.live = Some(true);
    app.packets_from = live
        .drafts
        .as_ref()
        .map(|(file, _)| crate::capture::write::part_path(file));
    app.live_without_copy = live.drafts.is_none();
    app.copy.clone_from(&live.copy);
    let copy = live.copy.clone();
    let (tx, rx) = crossbeam_channel::unbounded();
    let (ltx, stop) = (tx.clone(), std::sync::Arc::clone(&live.stop));
    let drafts = live.drafts;
    let _ = std::thread::Builder::new()
        .name("holo-live".into())
        .spawn(move || {
            let stx = ltx.clone();
            let policy = crate::engine::SnapshotPolicy {
                interval: Duration::from_secs(1),
                ..crate::engine::SnapshotPolicy::default()
            };
            let mut drafter = drafts.as_ref().map(|(file, hooks)| LiveDrafter {
                part: crate::capture::write::part_path(file),
                copy: copy.clone(),
                hooks: *hooks,
                busy: std::sync::Arc::default(),
                took_ns: std::sync::Arc::default(),
                last: None,
                waves: Vec::new(),
            });
            let publish = move |s: crate::engine::Snapshot| {
                if let Some(d) = &mut drafter {
                    d.offer(&s.analysis, &stx);
                }
                let _ = stx.send(AppEvent::Snapshot(Box::new(s)));
            };
            let a = crate::engine::analyze_with(
                live.source,
                &live.engine,
                |_| {},
                Some((policy, publish)),
            );
            // The copy is complete (renamed from .part) once the source has ended.
            let (file, hooks) = match &drafts {
                Some((file, hooks)) if file.is_file() => (file.clone(), *hooks),
                _ => (path.clone(), Hooks::default()),
            };
            let built = App::investigate(&file, a, hooks, None);
            let _ = ltx.send(AppEvent::Loaded(Box::new(built)));
        });
    let mut watcher = ThemeWatch::new(tx.clone());
    watcher.watch(theme_path.as_deref());
    let result = in_terminal(&mut app, &rx, &tx, &mut watcher, None);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    result?;
    let packets = app.progress.packets;
    Ok(format!(
        "live capture on {} ended after {packets} packets (live captures are not saved as sessions)",
        crate::text::escape_terminal_str(&live.interface)
    ))
}

/// Test-only crash trigger, read once when the UI starts: with `HOLOSCOPE_TEST_PANIC=1` the
/// F12 key panics on the UI thread, with `HOLOSCOPE_TEST_PANIC=worker` it panics on a new
/// worker thread, so tests/ui_panic.rs can check the terminal is restored and the session
/// saved. It cannot fire by accident: it needs that exact variable *and* F12, a key no binding
/// uses.
const TEST_PANIC_ENV: &str = "HOLOSCOPE_TEST_PANIC";

/// Panics (or has a worker panic) as `HOLOSCOPE_TEST_PANIC` asks; ends the UI after a worker panic.
fn check_panics(armed: Option<&str>, ev: &AppEvent) {
    if matches!(ev, AppEvent::WorkerPanicked) {
        panic!("a worker thread panicked (see above); ending the UI");
    }
    let f12 = matches!(ev, AppEvent::Key(k)
        if k.code == crossterm::event::KeyCode::F(12)
            && k.kind == crossterm::event::KeyEventKind::Press);
    match armed {
        Some("1") if f12 => {
            panic!("{TEST_PANIC_ENV}=1 and F12: deliberate panic for the crash-safety test")
        }
        Some("worker") if f12 => {
            let _ = std::thread::Builder::new()
                .name("holo-test-panic".into())
                .spawn(|| panic!("{TEST_PANIC_ENV}=worker and F12: deliberate worker panic"));
        }
        _ => {}
    }
}

fn event_loop(
    app: &mut App,
    rx: &Receiver<AppEvent>,
    tx: &Sender<AppEvent>,
    watcher: &mut ThemeWatch,
) -> Result<(), String> {
    let armed = std::env::var(TEST_PANIC_ENV).ok();
    let mut term = Terminal::new(CrosstermBackend::new(std::io::stdout()))
        .map_err(|e| format!("terminal: {e}"))?;
    let _ = term.clear();
    // After the first clear, which asks the terminal for the cursor position through
    // crossterm's event reader (see `spawn_input`).
    spawn_input(tx.clone());
    let mut dirty = true;
    loop {
        if dirty {
            term.draw(|f| app.draw(f))
                .map_err(|e| format!("terminal: {e}"))?;
        }
        // Live: redraw at least once a second even when no traffic arrives (the first frame
        // may have been drawn before the terminal settled its size, and nothing else would
        // trigger another on a quiet interface).
        let ev = if app.live.is_some() {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(ev) => Some(ev),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Ok(()),
            }
        } else {
            let Ok(ev) = rx.recv() else { return Ok(()) };
            Some(ev)
        };
        if let Some(ev) = &ev {
            check_panics(armed.as_deref(), ev);
        }
        dirty = ev.is_none_or(|ev| app.handle(ev));
        // Drain what queued up meanwhile: only the newest state gets drawn.
        while let Ok(ev) = rx.try_recv() {
            check_panics(armed.as_deref(), &ev);
            dirty |= app.handle(ev);
        }
        for job in app.take_jobs() {
            match job {
                Job::Watch(p) => watcher.watch(p.as_deref()),
                job => {
                    let tx = tx.clone();
                    let _ = std::thread::Builder::new()
                        .name("holo-job".into())
                        .spawn(move || {
                            if let Some(ev) = job.run() {
                                let _ = tx.send(ev);
                            }
                        });
                }
            }
        }
        if app.quit {
            return Ok(());
        }
    }
}

/// Analyses the capture, then builds the investigation (drafts, session restore) on this
/// thread too: the UI thread only receives the finished result.
fn spawn_loader(
    path: &Path,
    hooks: crate::investigation::Hooks,
    session: Option<(Option<SessionFile>, PathBuf)>,
    tx: Sender<AppEvent>,
) {
    let path = path.to_path_buf();
    let _ = std::thread::Builder::new()
        .name("holo-load".into())
        .spawn(move || match crate::capture::open(&path) {
            Ok(src) => {
                let mut last = Instant::now();
                let ptx = tx.clone();
                let stx = tx.clone();
                // Panes fill from snapshots while the pass runs; the first one comes within
                // half a second, later ones as often as their cost allows.
                let snapshots = (crate::engine::SnapshotPolicy::default(), move |s| {
                    let _ = stx.send(AppEvent::Snapshot(Box::new(s)));
                });
                let a = crate::engine::analyze_with(
                    src,
                    &crate::engine::Options::default(),
                    |p| {
                        // At most ten progress events a second.
                        if last.elapsed() >= Duration::from_millis(100) {
                            last = Instant::now();
                            let _ = ptx.send(AppEvent::Progress(p));
                        }
                    },
                    Some(snapshots),
                );
                let built = App::investigate(&path, a, hooks, session);
                let _ = tx.send(AppEvent::Loaded(Box::new(built)));
            }
            Err(e) => {
                let _ = tx.send(AppEvent::LoadFailed(crate::text::escape_terminal_str(
                    &e.to_string(),
                )));
            }
        });
}

/// Reads terminal events. Never blocks in `event::read` without a pending event: that holds
/// crossterm's one event-reader lock until the next key, and ratatui's `clear` (first frame,
/// every resize) needs the same lock to read the cursor position, so the UI froze blank until
/// a key came (seen about once in ten starts under load). `poll` holds it 100 ms at most.
fn spawn_input(tx: Sender<AppEvent>) {
    let _ = std::thread::Builder::new()
        .name("holo-input".into())
        .spawn(move || {
            loop {
                match crossterm::event::poll(Duration::from_millis(100)) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(_) => return,
                }
                let Ok(ev) = crossterm::event::read() else {
                    return;
                };
                let ev = match ev {
                    Event::Key(k) => AppEvent::Key(k),
                    Event::Mouse(m) => AppEvent::Mouse(m),
                    Event::Resize(..) => AppEvent::Resize,
                    _ => continue,
                };
                if tx.send(ev).is_err() {
                    return;
                }
            }
        });
}

/// Watches the theme file's directory (editors replace files by rename) and reports changes
/// to that file.
struct ThemeWatch {
    tx: Sender<AppEvent>,
    watcher: Option<notify::RecommendedWatcher>,
}

impl ThemeWatch {
    fn new(tx: Sender<AppEvent>) -> Self {
        Self { tx, watcher: None }
    }

    fn watch(&mut self, file: Option<&Path>) {
        self.watcher = None;
        let Some(file) = file.and_then(|f| std::fs::canonicalize(f).ok()) else {
            return;
        };
        let Some(dir) = file.parent().map(Path::to_path_buf) else {
            return;
        };
        let tx = self.tx.clone();
        let name = file.file_name().map(std::ffi::OsStr::to_os_string);
        let w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res {
                let ours = ev
                    .paths
                    .iter()
                    .any(|p| p.file_name().map(std::ffi::OsStr::to_os_string) == name);
                if ours && !matches!(ev.kind, notify::EventKind::Access(_)) {
                    let _ = tx.send(AppEvent::ThemeFileChanged);
                }
            }
        });
        if let Ok(mut w) = w
            && w.watch(&dir, notify::RecursiveMode::NonRecursive).is_ok()
        {
            self.watcher = Some(w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_drafting_takes_at_most_a_quarter_of_the_time() {
        // Quick passes keep the floor; a pass of 3 s (a large growing copy) spaces the next
        // 12 s after its start.
        assert_eq!(live_draft_gap(Duration::ZERO), LIVE_DRAFT_EVERY);
        assert_eq!(live_draft_gap(Duration::from_millis(900)), LIVE_DRAFT_EVERY);
        assert_eq!(
            live_draft_gap(Duration::from_secs(3)),
            Duration::from_secs(12)
        );
        assert_eq!(live_draft_gap(Duration::MAX), Duration::MAX);
    }
}
