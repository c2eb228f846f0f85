//! The interactive shell driven in tmux (private `-L` server, fixed size), polling
//! `capture-pane` against a deadline: Tab completes a command name, Enter runs it, Up recalls it
//! from the history, and the history is written to the file named by `HOLOSCOPE_HISTORY`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::tmux::Tmux;
use std::time::{Duration, Instant};

#[test]
fn tab_completes_and_up_recalls_history() {
    let Some(t) = Tmux::new("shell") else {
        assert!(std::env::var_os("CI").is_none(), "tmux missing in CI");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let hist = dir.path().join("history");
    let cmd = format!(
        "HOLOSCOPE_HISTORY={} {} shell samples/demo.pcap",
        hist.display(),
        env!("CARGO_BIN_EXE_holoscope")
    );
    t.start("sh", std::path::Path::new(env!("CARGO_MANIFEST_DIR")), &cmd);
    t.wait_text("sh", "holoscope>");
    // "wav" + Tab completes to the only matching command.
    t.keys("sh", &["wav", "Tab"]);
    t.wait_text("sh", "holoscope> waves");
    t.keys("sh", &["Enter"]);
    t.wait_text("sh", "waves (4)");
    // Up recalls the line from history.
    t.keys("sh", &["C-l"]);
    t.keys("sh", &["Up"]);
    t.wait("sh", "history recall", |s| {
        s.lines().any(|l| l.trim_end() == "holoscope> waves")
    });
    t.keys("sh", &["C-u", "quit", "Enter"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&hist).is_ok_and(|h| h.contains("waves")) {
        assert!(Instant::now() < deadline, "history file not written");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A capture piped in (`... | holoscope shell - --write FILE`): standard input is the drained
/// stream, so the shell reads its commands from the terminal and investigates the copy.
#[test]
fn piped_capture_reads_commands_from_the_terminal() {
    let Some(t) = Tmux::new("shellpipe") else {
        assert!(std::env::var_os("CI").is_none(), "tmux missing in CI");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.pcapng");
    let cmd = format!(
        "cat samples/demo.pcap | HOLOSCOPE_HISTORY={} {} shell - --write {}",
        dir.path().join("history").display(),
        env!("CARGO_BIN_EXE_holoscope"),
        copy.display()
    );
    t.start("sh", std::path::Path::new(env!("CARGO_MANIFEST_DIR")), &cmd);
    t.wait_text("sh", "holoscope>");
    t.type_line("sh", "waves");
    t.wait_text("sh", "waves (4)");
    t.type_line("sh", "quit");
    let s = t.wait_text("sh", "HOLO-EXIT=");
    assert!(s.contains("HOLO-EXIT=0"), "{s}");
    assert!(copy.is_file());
}
