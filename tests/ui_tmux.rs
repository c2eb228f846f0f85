//! End-to-end: the release binary inside tmux (private `-L` server, fixed 160x48), driven with
//! `send-keys` and read with `capture-pane`, polling with a deadline instead of sleeping.
//! Skipped (with a message) only when tmux is not installed; CI installs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use holoscope::investigation::{Hooks, Investigation};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_holoscope");
mod common;
use common::tmux::{DEADLINE, Tmux};

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/demo.pcap")
}

/// The status-bar cursor text (`cursor HH:MM:SS.mmm`).
fn cursor_of(screen: &str) -> String {
    let i = screen.find("cursor ").expect("cursor in status bar");
    screen[i..i + 19].to_string()
}

#[test]
fn investigate_export_save_and_restore() {
    let Some(t) = Tmux::new("e2e") else { return };
    let dir = tempfile::tempdir().unwrap();
    // What the shifts pane must name at the second wave, from the library itself.
    let a = holoscope::engine::analyze(
        holoscope::capture::open(&demo()).unwrap(),
        &holoscope::engine::Options::default(),
        |_| {},
    );
    let mut inv = Investigation::new(&demo(), std::sync::Arc::new(a), Hooks::default());
    assert!(inv.jump_wave(true) && inv.jump_wave(true));
    let leading = inv.shifts_at_cursor().1[0].field.name();

    let cmd = format!("{BIN} {}", demo().display());
    t.start("a", dir.path(), &cmd);
    t.wait_text("a", "loaded · ? for help");
    // The capture opens on its first wave; `]` steps to the second.
    t.wait_text("a", "· wave 1");
    t.keys("a", &["]"]);
    let s = t.wait_text("a", "· wave 2");
    // The shifts pane is the top-left quarter.
    let shifts: String = s
        .lines()
        .take(22)
        .map(|l| l.chars().take(80).collect::<String>() + "\n")
        .collect();
    assert!(
        shifts.contains(leading),
        "{leading} not in shifts pane:\n{shifts}"
    );
    let cursor = cursor_of(&s);

    assert!(!s.contains("no rule drafts"), "{s}");
    let has_rules = true;
    if has_rules {
        t.keys("a", &["Tab", "Tab", "Tab", "a"]);
        t.wait_text("a", "accepted 1 rule(s)");
    }
    let nft = dir.path().join("rules.nft");
    t.keys("a", &[":"]);
    t.type_line("a", &format!("export nft {}", nft.display()));
    t.wait_text("a", "exported");
    let session = dir.path().join("inv.ron");
    t.keys("a", &[":"]);
    t.type_line("a", &format!("save {}", session.display()));
    t.wait_text("a", "saved");
    t.keys("a", &["q"]);
    t.wait_text("a", "HOLO-EXIT=0");

    let exported = std::fs::read_to_string(&nft).unwrap();
    assert!(
        exported.contains("table"),
        "not an nft ruleset:\n{exported}"
    );
    if has_rules {
        assert!(
            exported.contains("R1"),
            "accepted rule missing:\n{exported}"
        );
    }

    // Reopen from the session alone: same cursor, same accepted rule.
    t.start(
        "b",
        dir.path(),
        &format!("{BIN} --session {}", session.display()),
    );
    let s = t.wait_text("b", "session restored");
    assert_eq!(cursor_of(&s), cursor);
    assert!(s.contains("· wave 2"));
    if has_rules {
        assert!(s.contains("1 accepted"), "{s}");
    }
    // A second instance on the same session is refused.
    t.start(
        "c",
        dir.path(),
        &format!("{BIN} --session {}", session.display()),
    );
    let s = t.wait_text("c", "HOLO-EXIT=2");
    assert!(s.contains("in use by another holoscope"), "{s}");
    t.keys("b", &["q"]);
    t.wait_text("b", "HOLO-EXIT=0");

    // A corrupt session is reported and left untouched.
    let bad = dir.path().join("bad.ron");
    std::fs::write(&bad, "(version: 1, capture: oops").unwrap();
    t.start(
        "d",
        dir.path(),
        &format!("{BIN} --session {}", bad.display()),
    );
    let s = t.wait_text("d", "HOLO-EXIT=2");
    assert!(s.contains("corrupt session file"), "{s}");
    assert_eq!(
        std::fs::read_to_string(&bad).unwrap(),
        "(version: 1, capture: oops"
    );
}

#[test]
fn theme_file_edits_reload_and_broken_file_keeps_theme() {
    let Some(t) = Tmux::new("theme") else { return };
    let dir = tempfile::tempdir().unwrap();
    let theme = dir.path().join("mine.ron");
    let dark =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("themes/dark.ron"))
            .unwrap();
    std::fs::write(&theme, &dark).unwrap();
    let cmd = format!("{BIN} {} --theme {}", demo().display(), theme.display());
    t.start("a", dir.path(), &cmd);
    t.wait_text("a", "theme mine");
    // The status bar background is the accent colour.
    let new = "48;2;18;52;86";
    assert!(!t.screen_colours("a").contains(new));
    std::fs::write(
        &theme,
        dark.replace("accent: \"#6cb6ff\"", "accent: \"#123456\""),
    )
    .unwrap();
    let start = Instant::now();
    while !t.screen_colours("a").contains(new) {
        assert!(
            start.elapsed() < DEADLINE,
            "theme change not seen:\n{}",
            t.screen("a")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    t.wait_text("a", "theme reloaded");
    std::fs::write(&theme, "(accent: \"not a colour\"").unwrap();
    t.wait_text("a", "kept the previous theme");
    assert!(t.screen_colours("a").contains(new), "old theme lost");
    t.keys("a", &["q"]);
    t.wait_text("a", "HOLO-EXIT=0");
}

/// A capture that is all attack, as a person would work it: no wave, so the shifts pane says
/// why and shows the flood's violation group; `violations` lists the groups; `add` writes the
/// rule the group suggests, which is replayed, accepted and exported.
#[test]
fn attack_only_capture_from_violation_group_to_exported_rule() {
    let Some(t) = Tmux::new("attack") else { return };
    let capture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/captures/dos_tcp_synflood_spoofed.pcap");
    let dir = tempfile::tempdir().unwrap();
    t.start("a", dir.path(), &format!("{BIN} {}", capture.display()));
    t.wait_text("a", "loaded · ? for help");
    t.wait_text("a", "tcp_syn_only: server 10.10.10.10 port 25565");
    t.keys("a", &[":"]);
    t.type_line("a", "violations");
    let s = t.wait_text("a", "Violations · 1 of 1 group ");
    assert!(s.contains("37669 sessions from 37623"), "{s}");
    t.keys("a", &[":"]);
    t.type_line(
        "a",
        "add drop when dst_ip=10.10.10.10 dst_port=25565 tcp_flags=S",
    );
    // Added, replayed off the UI thread, selected in the rules pane: `a` accepts it.
    t.wait_text("a", "R1 added; replaying");
    // The capture's baseline is its first seconds, already the flood: the rule matches all
    // of it, and the pane says so once the replay is in (an ellipsis until then).
    t.wait("a", "the replay's figures", |s| {
        s.lines()
            .any(|l| l.contains("R1   draft") && l.contains("100.0%"))
    });
    t.keys("a", &["a"]);
    t.wait_text("a", "accepted 1 rule(s)");
    let nft = dir.path().join("flood.nft");
    t.keys("a", &[":"]);
    t.type_line("a", &format!("export nft {}", nft.display()));
    t.wait_text("a", "exported");
    t.keys("a", &["q"]);
    t.wait_text("a", "HOLO-EXIT=0");
    let exported = std::fs::read_to_string(&nft).unwrap();
    assert!(
        exported.contains("ip daddr 10.10.10.10") && exported.contains("dport 25565"),
        "{exported}"
    );
}
