//! The interactive shell driven in tmux (private `-L` server, fixed size), polling
//! `capture-pane` against a deadline: Tab completes a command name, Enter runs it, Up recalls it
//! from the history, and the history is written to the file named by `HOLOSCOPE_HISTORY`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    sock: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.sock])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "sh"])
    }
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.sock, "kill-server"])
            .output();
    }
}

#[test]
fn tab_completes_and_up_recalls_history() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "tmux missing in CI");
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hist = dir.path().join("history");
    let t = Tmux {
        sock: format!("holoscope-shell-{}", std::process::id()),
    };
    let cmd = format!(
        "HOLOSCOPE_HISTORY={} {} shell samples/demo.pcap",
        hist.display(),
        env!("CARGO_BIN_EXE_holoscope")
    );
    t.run(&[
        "new-session",
        "-d",
        "-s",
        "sh",
        "-x",
        "120",
        "-y",
        "40",
        "sh",
        "-c",
        &cmd,
    ]);
    t.wait_for("the prompt", |s| s.contains("holoscope>"));
    // "wav" + Tab completes to the only matching command.
    t.run(&["send-keys", "-t", "sh", "wav", "Tab"]);
    t.wait_for("completion", |s| s.contains("holoscope> waves"));
    t.run(&["send-keys", "-t", "sh", "Enter"]);
    t.wait_for("the wave list", |s| s.contains("waves (4)"));
    // Up recalls the line from history.
    t.run(&["send-keys", "-t", "sh", "C-l"]);
    t.run(&["send-keys", "-t", "sh", "Up"]);
    t.wait_for("history recall", |s| {
        s.lines().any(|l| l.trim_end() == "holoscope> waves")
    });
    t.run(&["send-keys", "-t", "sh", "C-u", "quit", "Enter"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&hist).is_ok_and(|h| h.contains("waves")) {
        assert!(Instant::now() < deadline, "history file not written");
        std::thread::sleep(Duration::from_millis(50));
    }
}
