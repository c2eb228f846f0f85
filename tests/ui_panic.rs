//! Crash safety end to end: the release binary inside tmux (private `-L` server, fixed
//! 160x48, polling `capture-pane` with a deadline, never fixed sleeps) panics on purpose
//! (`HOLOSCOPE_TEST_PANIC=1` arms F12, see src/ui/runtime.rs), and the terminal must be
//! restored, the message must say where the session went, and that file must load.
//! Skipped (with a message) only when tmux is not installed; CI installs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use holoscope::session::SessionFile;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_holoscope");
const DEADLINE: Duration = Duration::from_secs(60);
const PROMPT: &str = "holo-prompt$ ";

struct Tmux {
    sock: String,
}

impl Tmux {
    fn new(test: &str) -> Option<Self> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("SKIPPED: tmux is not installed (CI installs it)");
            return None;
        }
        Some(Self {
            sock: format!("holo-panic-{test}-{}", std::process::id()),
        })
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.sock, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        // With the scrollback: the panic message may have scrolled off the 48 lines.
        self.run(&["capture-pane", "-p", "-S", "-200", "-t", "p"])
    }

    fn wait(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "p"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn type_line(&self, text: &str) {
        self.run(&["send-keys", "-t", "p", "-l", text]);
        self.keys(&["Enter"]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

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
    let Some(t) = Tmux::new(mode) else { return };
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
    t.wait("the shell prompt", |s| s.contains(PROMPT.trim_end()));
    t.type_line(&format!(
        "RUST_BACKTRACE=0 HOLOSCOPE_TEST_PANIC={mode} {BIN} {}; echo HOLO-EXIT=$?",
        demo().display()
    ));
    t.wait("the TUI", |s| s.contains("loaded · ? for help"));
    assert_eq!(
        t.run(&["display", "-p", "-t", "p", "#{alternate_on}"])
            .trim(),
        "1"
    );
    // Something worth saving: the cursor on the second wave.
    t.keys(&["]"]);
    t.wait("wave 1", |s| s.contains("· wave 1"));
    t.keys(&["]"]);
    t.wait("wave 2", |s| s.contains("· wave 2"));
    t.keys(&["F12"]);
    // The typed line holds `HOLO-EXIT=$?` too; the answer starts a line.
    let s = t.wait("the exit code", |s| {
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
    t.type_line("echo still-$((20+22))");
    t.wait("the shell to answer", |s| s.contains("still-42"));

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
