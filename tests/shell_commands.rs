//! `holoscope shell --commands FILE` over the shipped sample: the listings print what the
//! findings hold, decisions take effect, the session saved by a script restores, and the first
//! failing line stops the run with exit code 1 naming the line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn shell(script: &str, extra: &[&str]) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("script.txt");
    std::fs::write(&file, script).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_holoscope"))
        .args(["shell"])
        .args(extra)
        .arg("--commands")
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, text)
}

#[test]
fn script_lists_waves_shifts_and_entities() {
    let (out, text) = shell(
        "# comment lines and blanks are skipped\n\nwaves\ngoto wave 2\nshifts\nentities\nexplain 10.0.0.66\n",
        &["samples/demo.pcap"],
    );
    assert_ok(&out);
    assert!(text.contains("waves (4)"), "{text}");
    assert!(
        text.contains("> goto wave 2\ncursor 2026-03-02 09:01:08"),
        "{text}"
    );
    // The second wave is the spoofed SYN flood on port 8080: its shifts name the port.
    let shifts = text.split("> shifts").nth(1).unwrap();
    let shifts = shifts.split("> entities").next().unwrap();
    assert!(
        shifts.contains("dst_port") && shifts.contains("8080"),
        "{shifts}"
    );
    assert!(text.contains("10.0.0.66") && text.contains("hot"), "{text}");
    // explain re-reads packets of the scanner from the capture by index.
    let explain = text.split("> explain 10.0.0.66").nth(1).unwrap();
    assert!(
        explain.contains("packets:") && explain.contains("[S]"),
        "{explain}"
    );
}

#[test]
fn suppression_removes_an_entity_and_the_session_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let sess = dir.path().join("s.ron");
    let (out, text) = shell(
        &format!(
            "goto wave 3\nsuppress src_ip=10.0.0.66\nentities\nsave {}\n",
            sess.display()
        ),
        &["samples/demo.pcap"],
    );
    assert_ok(&out);
    let listing = text.split("> entities").nth(1).unwrap();
    assert!(!listing.contains("10.0.0.66 "), "{listing}");
    let cursor = text
        .lines()
        .find_map(|l| l.strip_prefix("cursor "))
        .unwrap()
        .get(..19)
        .unwrap()
        .to_string();
    // Restoring the session brings back the cursor and the suppression.
    let (out, text) = shell("shifts\nentities\n", &["--session", sess.to_str().unwrap()]);
    assert_ok(&out);
    assert!(
        text.contains(&format!("shifts at {cursor}")),
        "{cursor}: {text}"
    );
    assert!(!text.contains("10.0.0.66 "), "{text}");
}

#[test]
fn first_failing_line_stops_the_script_with_exit_code_1() {
    let (out, text) = shell("waves\nfrobnicate 3\nentities\n", &["samples/demo.pcap"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2"), "{err}");
    assert!(text.contains("waves (4)"));
    assert!(!text.contains("> entities"), "ran past the failure: {text}");
}

#[test]
fn hostile_text_is_escaped_in_listings() {
    let (out, text) = shell("waves\nentities\nshifts\n", &["samples/hostile.pcap"]);
    assert_ok(&out);
    assert!(
        !out.stdout
            .iter()
            .any(|&b| b == 0x1b || b == 0x07 || (0x80..0xa0).contains(&b)),
        "raw control bytes reached the output"
    );
    assert!(!text.is_empty());
}

/// lab_E's ICMP flood comes back: its second wave's rule (R5) repeats the first's (R1), and
/// the listing says so; R1 itself is not marked.
#[test]
fn rules_listing_names_a_repeated_rule() {
    let cap = "../shared/eval/lab_E.pcap";
    if !std::path::Path::new(cap).is_file() {
        eprintln!("skipped: {cap} missing");
        return;
    }
    let (out, text) = shell("rules\n", &[cap]);
    assert_ok(&out);
    let block = |id: &str| -> String {
        let start = text
            .find(&format!("] {id} "))
            .unwrap_or_else(|| panic!("no {id}: {text}"));
        text[start..].lines().take(2).collect::<Vec<_>>().join("\n")
    };
    assert!(
        block("R5").contains("the same rule as R1"),
        "{}",
        block("R5")
    );
    assert!(!block("R1").contains("the same rule as"), "{}", block("R1"));
}

/// The shell starts on the first wave, as the TUI does: `shifts` before any `goto` lists the
/// same bucket as after `goto wave 1`.
#[test]
fn the_shell_starts_on_the_first_wave() {
    let (out, text) = shell("shifts\ngoto wave 1\nshifts\n", &["samples/demo.pcap"]);
    assert!(out.status.success(), "{text}");
    let at: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("shifts at "))
        .collect();
    assert_eq!(at.len(), 2, "{text}");
    assert_eq!(at[0], at[1], "{text}");
    assert!(!at[0].contains("09:00:00.000000"), "{text}");
}

/// `violations` prints the groups as the report does; a suppressed address leaves the list.
#[test]
fn violations_lists_groups_and_honours_suppressions() {
    let (out, text) = shell(
        "violations\nsuppress src_ip=10.0.0.11\nviolations\n",
        &["samples/demo.pcap"],
    );
    assert_ok(&out);
    let mut parts = text.split("> violations").skip(1);
    let (before, after) = (parts.next().unwrap(), parts.next().unwrap());
    assert!(
        before.contains("(25 of 52 groups, 8434 violations)"),
        "{before}"
    );
    let flood = before
        .lines()
        .find(|l| l.contains("10.0.0.11") && l.contains("tcp_syn_only"))
        .unwrap_or_else(|| panic!("{before}"));
    assert!(
        flood.contains("8080") && flood.contains("6000 clients"),
        "{flood}"
    );
    // The address column: the suppressed host's groups are gone, the others stay.
    let addresses: Vec<&str> = after
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert!(!addresses.contains(&"10.0.0.11"), "{after}");
    assert!(addresses.contains(&"10.0.0.10"), "{after}");
}

/// `add` files the analyst's own rule after the drafts, judged against the wave at the cursor
/// (or the one named), replayed at once; the session journal names the wave, so a restored
/// session has the same rule with the same figures. A wave that does not exist is refused.
#[test]
fn an_added_rule_is_replayed_on_its_wave_and_restored_with_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let sess = dir.path().join("s.ron");
    let rule = "drop when dst_ip=10.0.0.11 dst_port=8080 tcp_flags=S";
    let (out, text) = shell(
        &format!(
            "goto wave 2\nadd {rule}\naccept R7\nrules\nsave {}\n",
            sess.display()
        ),
        &["samples/demo.pcap"],
    );
    assert_ok(&out);
    assert!(text.contains("R7 added for wave 2; replaying"), "{text}");
    let figures = |t: &str| -> String {
        let at = t.rfind(&format!("[accepted] R7 {rule}")).unwrap();
        t[at..].lines().nth(1).unwrap().trim().to_string()
    };
    let before = figures(&text);
    // Most of the flood's SYNs to 10.0.0.11:8080, none of the baseline.
    assert!(before.starts_with("coverage "), "{before}");
    assert!(before.contains("baseline 0.0%"), "{before}");
    let (out, text) = shell("rules\n", &["--session", sess.to_str().unwrap()]);
    assert_ok(&out);
    assert_eq!(figures(&text), before, "{text}");
    let (out, text) = shell(&format!("add wave 9 {rule}\n"), &["samples/demo.pcap"]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no wave 9"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The shell reads its capture again (drafting, replay, `explain`'s packets): on standard input
/// it needs a `--write` copy, investigates that copy, and without one says so before reading.
#[test]
fn the_shell_on_stdin_investigates_its_write_copy() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.txt");
    std::fs::write(&script, "rules\nexplain 10.0.0.66\n").unwrap();
    let copy = dir.path().join("copy.pcapng");
    let demo = std::fs::File::open("samples/demo.pcap").unwrap();
    let run = |extra: &[&std::ffi::OsStr], input: std::fs::File| {
        Command::new(env!("CARGO_BIN_EXE_holoscope"))
            .args(["shell", "-", "--commands"])
            .arg(&script)
            .args(extra)
            .stdin(input)
            .output()
            .unwrap()
    };
    let without = run(&[], demo.try_clone().unwrap());
    assert_eq!(without.status.code(), Some(2));
    let err = String::from_utf8_lossy(&without.stderr);
    assert!(err.contains("--write"), "{err}");

    let with = run(&["--write".as_ref(), copy.as_os_str()], demo);
    assert_ok(&with);
    let text = String::from_utf8_lossy(&with.stdout);
    let (file, file_text) = shell("rules\nexplain 10.0.0.66\n", &["samples/demo.pcap"]);
    assert_ok(&file);
    assert_eq!(text, file_text, "the copy's investigation is the file's");
    assert!(text.contains("[draft] R1"), "{text}");
    assert!(
        text.contains("  packets:\n    09:00:30.003 TCP 10.0.0.66"),
        "{text}"
    );
}

/// A named pipe (`holoscope shell <(tcpdump -w - ...)` reads `/dev/fd/63`) cannot be read
/// again either: the shell treats it as standard input. Before, it drafted no rules and
/// `explain` said the drained pipe was "not a pcap (empty file)".
#[cfg(target_os = "linux")]
#[test]
fn the_shell_on_a_pipe_investigates_its_write_copy() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fifo) = common::fifo(dir.path(), "cap.fifo") else {
        return;
    };
    let script = dir.path().join("script.txt");
    std::fs::write(&script, "rules\nexplain 10.0.0.66\n").unwrap();
    let run = |extra: &[&std::ffi::OsStr]| {
        Command::new(env!("CARGO_BIN_EXE_holoscope"))
            .arg("shell")
            .arg(&fifo)
            .arg("--commands")
            .arg(&script)
            .args(extra)
            .output()
            .unwrap()
    };
    // Refused before the pipe is opened: no writer is waiting, so a shell that opened it
    // would wait for ever (killed after 30 s).
    let mut child = Command::new(env!("CARGO_BIN_EXE_holoscope"))
        .arg("shell")
        .arg(&fifo)
        .arg("--commands")
        .arg(&script)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the shell opened the pipe instead of refusing it");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let without = child.wait_with_output().unwrap();
    assert_eq!(without.status.code(), Some(2));
    let err = String::from_utf8_lossy(&without.stderr);
    assert!(err.contains("a pipe") && err.contains("--write"), "{err}");

    let feeder = common::feed(&fifo, "samples/demo.pcap");
    let copy = dir.path().join("copy.pcapng");
    let with = run(&["--write".as_ref(), copy.as_os_str()]);
    feeder.join().unwrap();
    assert_ok(&with);
    let text = String::from_utf8_lossy(&with.stdout);
    let (file, file_text) = shell("rules\nexplain 10.0.0.66\n", &["samples/demo.pcap"]);
    assert_ok(&file);
    assert_eq!(text, file_text, "the copy's investigation is the file's");
    assert!(
        text.contains("  packets:\n    09:00:30.003 TCP 10.0.0.66"),
        "{text}"
    );
}

/// A host known only by its MAC (ARP, no IP) is explained with its frames: ARP, between
/// MACs. Before, `explain` matched packets by IP address only and listed none, and the empty
/// port and flow lines were left blank.
#[test]
fn explain_lists_the_frames_of_a_host_known_by_its_mac() {
    let Some(cap) = common::shared("captures/spoof_arp_poisoning.pcapng") else {
        return;
    };
    let (out, text) = shell("explain 00:25:b3:bf:91:ee\n", &[cap.to_str().unwrap()]);
    assert_ok(&out);
    assert!(text.contains("  ports out: none\n"), "{text}");
    assert!(text.contains("  flows: none\n"), "{text}");
    assert!(
        text.contains(
            "  packets:\n    03:39:37.376 ARP 00:25:b3:bf:91:ee → 00:21:70:c0:56:f0 len 60"
        ),
        "{text}"
    );
    // An address nobody used has no entity; one with traffic but none of it read back says
    // so rather than printing nothing.
    let (_, none) = shell("explain 10.9.9.9\n", &[cap.to_str().unwrap()]);
    assert!(none.contains("no such entity"), "{none}");
}

/// `baseline A..B` in the shell: a reversed range is an error; one past the capture is set
/// but the reply says it holds no traffic.
#[test]
fn shell_baseline_outside_the_capture() {
    let (out, text) = shell("baseline 10:00..20:00\n", &["samples/demo.pcap"]);
    assert_ok(&out);
    assert!(
        text.contains("holds none of the capture's traffic"),
        "{text}"
    );
    let (out, _) = shell("baseline 02:00..01:00\n", &["samples/demo.pcap"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must end after it starts"));
}
