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
    if !capture.is_file() {
        return Err(format!(
            "{}: no such capture file",
            crate::text::escape_terminal_str(&capture.display().to_string())
        ));
    }
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
    // Restore the session given, or start a new one in the file named by --session.
    let pending = match session {
        Some((s, p)) => Some((Some(s), p)),
        None => opts.session.clone().map(|p| (None, p)),
    };

    let (tx, rx) = crossbeam_channel::unbounded();
    spawn_loader(&capture, opts.hooks, pending, tx.clone());
    let mut watcher = ThemeWatch::new(tx.clone());
    watcher.watch(theme_path.as_deref());

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
        event_loop(&mut app, &rx, &tx, &mut watcher)
    }));
    restore_terminal();
    let result = match result {
        Ok(r) => r,
        Err(payload) => {
            // The hook restored the terminal and printed the panic; save what the analyst did
            // (to the session file this run locked, nowhere else), say where, and let the
            // panic end the process as it would have (exit code 101, lock file removed).
            let saved = match app.save_after_crash(&lock_target) {
                Some(Ok(m)) => m,
                Some(Err(e)) => format!("session not saved: {e}"),
                None => "the analysis had not finished; nothing to save".into(),
            };
            eprintln!("holoscope: crashed (this is a bug; please report it); {saved}");
            std::panic::resume_unwind(payload);
        }
    };
    result?;
    Ok(match app.autosave() {
        Some(Ok(m)) => m,
        Some(Err(e)) => format!("session not saved: {e}"),
        None => "quit before the analysis finished; nothing saved".into(),
    })
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
        let Ok(ev) = rx.recv() else { return Ok(()) };
        check_panics(armed.as_deref(), &ev);
        dirty = app.handle(ev);
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
                let a = crate::engine::analyze(src, &crate::engine::Options::default(), |p| {
                    // At most ten progress events a second.
                    if last.elapsed() >= Duration::from_millis(100) {
                        last = Instant::now();
                        let _ = ptx.send(AppEvent::Progress(p));
                    }
                });
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
        if let Ok(mut w) = w {
            if w.watch(&dir, notify::RecursiveMode::NonRecursive).is_ok() {
                self.watcher = Some(w);
            }
        }
    }
}
