//! Helpers shared by the integration tests: locating `../shared` and running the binary.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// `../shared/<rel>` beside the crate, or `None` (with a message) when it is absent outside CI.
/// In CI (env `CI` set) a missing corpus is a failure, not a skip.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")).join(rel);
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI run without ../shared: {} missing",
        p.display()
    );
    eprintln!(
        "skipping: {} not found (the shared corpus sits beside the repo in CI)",
        p.display()
    );
    None
}

/// Runs the release/debug binary under test with arguments.
pub fn holoscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_holoscope"))
        .args(args)
        .output()
        .expect("binary runs")
}

/// Runs the binary with stdin from a file.
pub fn holoscope_stdin(args: &[&str], stdin: &std::path::Path) -> Output {
    let f = std::fs::File::open(stdin).expect("stdin file");
    Command::new(env!("CARGO_BIN_EXE_holoscope"))
        .args(args)
        .stdin(f)
        .output()
        .expect("binary runs")
}

/// Parses the JSON report printed by `holoscope report --format json`.
pub fn report_json(args: &[&str]) -> serde_json::Value {
    let out = holoscope(args);
    assert!(
        out.status.success(),
        "holoscope {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

/// Splits one RFC 4180 line (quotes may contain commas and doubled quotes), as in the eval
/// set's `*.truth.csv`.
pub fn split_csv(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            _ => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// Whether an external tool is on PATH; outside CI a missing tool is a skip (with a message),
/// in CI a failure, since `.ci/run` installs every tool the tests use.
pub fn have(tool: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "CI: {tool} missing");
        eprintln!("SKIP: {tool} not installed");
    }
    ok
}

/// A classic pcap copy of `capture` in `dir` (nanosecond timestamps, the same records in the
/// same order): libpcap, and so tcpdump and Suricata, refuses a pcapng whose interfaces differ
/// in snapshot length, as the eval splices' do. Needs `editcap` (check with [`have`]).
pub fn classic_pcap(capture: &std::path::Path, dir: &std::path::Path) -> PathBuf {
    let out = dir.join("capture.pcap");
    let o = Command::new("editcap")
        .args(["-F", "nsecpcap"])
        .arg(capture)
        .arg(&out)
        .output()
        .expect("run editcap");
    assert!(
        o.status.success(),
        "editcap: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// A private tmux server for end-to-end tests.
pub mod tmux;

/// Frames of `capture` that tshark shows, through a display filter if given (check for
/// tshark with [`have`]).
pub fn tshark_count(capture: &std::path::Path, filter: Option<&str>) -> usize {
    let mut c = Command::new("tshark");
    c.arg("-n").arg("-r").arg(capture);
    if let Some(f) = filter {
        c.args(["-Y", f]);
    }
    let out = c
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// A named pipe `name` in `dir`, or `None` (with a message) where `mkfifo` is unavailable.
pub fn fifo(dir: &std::path::Path, name: &str) -> Option<PathBuf> {
    let p = dir.join(name);
    let made = Command::new("mkfifo")
        .arg(&p)
        .status()
        .is_ok_and(|st| st.success());
    if !made {
        eprintln!("skipping: mkfifo unavailable");
        return None;
    }
    Some(p)
}

/// Writes `file` into the pipe `fifo` on a thread, once a reader has opened it. Waits for
/// the reader at most 60 s and then panics (the join fails), so a binary that never opens the
/// pipe fails the test instead of hanging it: the open is tried without blocking
/// (`O_NONBLOCK`, 0o4000 on Linux: fails with ENXIO while nobody reads).
#[cfg(target_os = "linux")]
pub fn feed(fifo: &std::path::Path, file: &str) -> std::thread::JoinHandle<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let (fifo, file) = (fifo.to_path_buf(), file.to_string());
    std::thread::spawn(move || {
        let bytes = std::fs::read(file).unwrap();
        let start = std::time::Instant::now();
        let probe = loop {
            let probe = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(0o4000)
                .open(&fifo);
            if let Ok(p) = probe {
                break p;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "nobody opened {} for reading",
                fifo.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        // A reader is there: a blocking open returns at once, and writes wait for it. The
        // probe stays open until then: the reader would see the end of the stream if the
        // pipe had no writer for a moment.
        let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        drop(probe);
        std::io::Write::write_all(&mut w, &bytes).unwrap();
    })
}

/// The analysis of a capture with its decoded packets kept for drafting, as `report` runs it.
pub fn analyze_keeping(path: &std::path::Path) -> holoscope::engine::Analysis {
    let opts = holoscope::engine::Options {
        keep_packets: Some(holoscope::engine::kept::DEFAULT_KEEP),
        ..holoscope::engine::Options::default()
    };
    holoscope::engine::analyze(holoscope::capture::open(path).unwrap(), &opts, |_| {})
}
