//! A private tmux server for end-to-end tests of the release binary: fixed-size sessions,
//! `send-keys` in, `capture-pane` out, polling against a deadline instead of sleeping.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long any awaited screen may take.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A private tmux server (`-L`), killed when dropped.
pub struct Tmux {
    sock: String,
}

impl Tmux {
    pub fn new(test: &str) -> Option<Self> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("SKIPPED: tmux is not installed (CI installs it)");
            return None;
        }
        Some(Self {
            sock: format!("holo-{test}-{}", std::process::id()),
        })
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.sock, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `cmd` (a shell line) in a new detached session of 160x48 in `cwd`; the shell
    /// prints the exit code and stays, so the last screen can still be read.
    pub fn start(&self, name: &str, cwd: &Path, cmd: &str) {
        let line = format!("{cmd}; echo HOLO-EXIT=$?; sleep 600");
        self.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "160",
            "-y",
            "48",
            "-c",
            cwd.to_str().unwrap(),
            "sh",
            "-c",
            &line,
        ]);
        self.run(&["set-option", "-t", name, "-s", "escape-time", "0"]);
    }

    pub fn screen(&self, name: &str) -> String {
        self.run(&["capture-pane", "-p", "-t", name])
    }

    pub fn screen_colours(&self, name: &str) -> String {
        self.run(&["capture-pane", "-p", "-e", "-t", name])
    }

    /// The screen with up to 200 lines of scrollback (a message printed after the TUI left
    /// may have scrolled off).
    pub fn screen_history(&self, name: &str) -> String {
        self.run(&["capture-pane", "-p", "-S", "-200", "-t", name])
    }

    pub fn wait(&self, name: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        self.wait_on(|| self.screen(name), what, ok)
    }

    /// [`Tmux::wait`] over the screen and its scrollback.
    pub fn wait_history(&self, name: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        self.wait_on(|| self.screen_history(name), what, ok)
    }

    fn wait_on(
        &self,
        capture: impl Fn() -> String,
        what: &str,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let start = Instant::now();
        loop {
            let s = capture();
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

    pub fn wait_text(&self, name: &str, text: &str) -> String {
        self.wait(name, text, |s| s.contains(text))
    }

    pub fn keys(&self, name: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", name];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    pub fn type_line(&self, name: &str, text: &str) {
        self.run(&["send-keys", "-t", name, "-l", text]);
        self.keys(name, &["Enter"]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}
