//! Crash safety end to end: the release binary inside tmux (private `-L` server, fixed
//! 160x48, polling `capture-pane` with a deadline, never fixed sleeps) panics on purpose
//! (`HOLOSCOPE_TEST_PANIC=1` arms F12, see src/ui/runtime.rs), and the terminal must be
//! restored, the message must say where the session went, and that file must load.
//! Skipped (with a message) only when tmux is not installed; CI installs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::tmux::Tmux;
use holoscope::session::SessionFile;
use std::path::{Path, PathBuf};

const BIN: &str = env!("CARGO_BIN_EXE_holoscope");
const PROMPT: &str = "holo-prompt$ ";

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/demo.pcap")
}

#[test]
fn a_panic_restores_the_terminal_and_saves_the_session() {
    crash("1", "deliberate panic for the crash-safety test");
}

#[test]
fn a_worker_panic_ends_the_ui_the_same_way() {
    crash("worker", "deliberate worker panic");
}

/// Runs the TUI with `HOLOSCOPE_TEST_PANIC=mode`, moves to wave 2, presses F12 and checks the
/// aftermath; `message` is the panic message expected on the screen.
fn crash(mode: &str, message: &str) {
    let Some(t) = Tmux::new(&format!("panic-{mode}")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // An interactive shell, so "the prompt is back" can be checked after the crash.
    t.run(&[
        "new-session",
        "-d",
        "-s",
        "p",
        "-x",
        "160",
        "-y",
        "48",
        "-c",
        dir.path().to_str().unwrap(),
        "env",
        &format!("PS1={PROMPT}"),
        "sh",
        "-i",
    ]);
    t.run(&["set-option", "-t", "p", "-s", "escape-time", "0"]);
    t.wait_history("p", "the shell prompt", |s| s.contains(PROMPT.trim_end()));
    t.type_line(
        "p",
        &format!(
            "RUST_BACKTRACE=0 HOLOSCOPE_TEST_PANIC={mode} {BIN} {}; echo HOLO-EXIT=$?",
            demo().display()
        ),
    );
    t.wait_history("p", "the TUI", |s| s.contains("loaded · ? for help"));
    assert_eq!(
        t.run(&["display", "-p", "-t", "p", "#{alternate_on}"])
            .trim(),
        "1"
    );
    // Something worth saving: the cursor on the second wave (the capture opens on the
    // first).
    t.wait_history("p", "wave 1", |s| s.contains("· wave 1"));
    t.keys("p", &["]"]);
    t.wait_history("p", "wave 2", |s| s.contains("· wave 2"));
    t.keys("p", &["F12"]);
    // The typed line holds `HOLO-EXIT=$?` too; the answer starts a line.
    let s = t.wait_history("p", "the exit code", |s| {
        s.lines().any(|l| l.starts_with("HOLO-EXIT="))
    });
    assert!(s.contains("HOLO-EXIT=101"), "a panic exits with 101:\n{s}");
    assert!(s.contains(message), "the panic message is shown:\n{s}");
    assert!(
        s.contains("crashed") && s.contains("session saved to sessions/demo.ron"),
        "{s}"
    );
    // The terminal is back: main screen, a prompt after the exit line, and typed text echoes
    // (raw mode is off).
    assert_eq!(
        t.run(&["display", "-p", "-t", "p", "#{alternate_on}"])
            .trim(),
        "0"
    );
    let after = s.split("HOLO-EXIT=101").nth(1).unwrap();
    assert!(
        after.contains(PROMPT.trim_end()),
        "no prompt after the crash:\n{s}"
    );
    t.type_line("p", "echo still-$((20+22))");
    t.wait_history("p", "the shell to answer", |s| s.contains("still-42"));

    let saved = dir.path().join("sessions/demo.ron");
    let session = SessionFile::load(&saved).unwrap();
    assert_eq!(session.capture.path, demo().display().to_string());
    // Cursor on wave 2 of the sample (02:08 into the capture, 1772442068 s).
    let cursor = session.cursor.unwrap();
    assert!(
        (1_772_442_060.0..1_772_442_090.0).contains(&cursor),
        "{cursor}"
    );
    assert!(
        !dir.path().join("sessions/demo.ron.lock").exists(),
        "the lock is released as the panic unwinds"
    );
}
