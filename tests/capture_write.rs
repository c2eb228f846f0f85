//! `--write FILE`: what holoscope read from a stream is saved as pcapng that holoscope and
//! tshark read back unchanged, also when the input is damaged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{have, holoscope, holoscope_stdin, tshark_count};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn demo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/demo.pcap"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The parts of a report that depend only on the packets, not on the container.
fn findings(j: &Value) -> Vec<(&'static str, Value)> {
    let c = &j["capture"];
    let mut v = vec![
        ("packets", c["packets"].clone()),
        ("bytes", c["bytes"].clone()),
        ("first_ts", c["first_ts"].clone()),
        ("last_ts", c["last_ts"].clone()),
        ("link_types", c["link_types"].clone()),
        ("decoded", c["decoded"].clone()),
    ];
    for k in [
        "waves",
        "flows",
        "entities",
        "timeline",
        "violations",
        "residual",
    ] {
        v.push((k, j[k].clone()));
    }
    v
}

#[test]
fn stdin_copy_reads_back_to_the_same_findings() {
    let d = tempfile::tempdir().unwrap();
    let copy = d.path().join("copy.pcapng");
    let out = holoscope_stdin(
        &["report", "-", "--format", "json", "--write", s(&copy)],
        &demo(),
    );
    let from_stdin = json(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wrote 32181 packets"), "{stderr}");
    assert!(
        !d.path().join("copy.pcapng.part").exists(),
        "renamed at the end"
    );
    let back = json(&holoscope(&["report", s(&copy), "--format", "json"]));
    assert_eq!(back["capture"]["format"], "pcapng");
    assert_eq!(back["capture"]["warnings"], Value::Array(vec![]));
    assert!(!from_stdin["waves"].as_array().unwrap().is_empty());
    for ((k, a), (_, b)) in findings(&from_stdin).into_iter().zip(findings(&back)) {
        assert_eq!(a, b, "{k} differs between the stream and its copy");
    }
    if have("tshark") {
        assert_eq!(tshark_count(&copy, None), 32181);
    }
}

#[test]
fn truncated_input_still_saves_the_packets_before_the_damage() {
    let d = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(demo()).unwrap();
    // Cut in the middle of a record, well into the file.
    let cut = d.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 7]).unwrap();
    let copy = d.path().join("cut-copy.pcapng");
    let orig = json(&holoscope_stdin(
        &["report", "-", "--format", "json", "--write", s(&copy)],
        &cut,
    ));
    let kinds: Vec<&str> = orig["capture"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"truncated"), "{kinds:?}");
    let n = orig["capture"]["packets"].as_u64().unwrap();
    assert!(n > 10_000 && n < 32181, "{n}");
    let back = json(&holoscope(&["report", s(&copy), "--format", "json"]));
    assert_eq!(back["capture"]["packets"].as_u64(), Some(n));
    assert_eq!(
        back["capture"]["warnings"],
        Value::Array(vec![]),
        "the copy is whole"
    );
    if have("tshark") {
        assert_eq!(tshark_count(&copy, None) as u64, n);
    }
}

#[test]
fn writing_over_the_input_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.pcap");
    std::fs::copy(demo(), &input).unwrap();
    let out = holoscope(&["report", s(&input), "--write", s(&input)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("capture being read"), "{err}");
    assert_eq!(
        std::fs::read(&input).unwrap(),
        std::fs::read(demo()).unwrap()
    );
    #[cfg(feature = "follow")]
    {
        let out = holoscope(&[
            "report",
            "--follow",
            s(&input),
            "--idle",
            "1s",
            "--write",
            s(&d.path().join("in.pcap1")),
        ]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("rotated file"));
    }
}

#[cfg(feature = "follow")]
#[test]
fn follow_writes_a_copy_of_what_it_read() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("live.pcap");
    std::fs::copy(demo(), &input).unwrap();
    let copy = d.path().join("saved.pcapng");
    let out = holoscope(&[
        "report",
        "--follow",
        s(&input),
        "--idle",
        "1s",
        "--format",
        "json",
        "--write",
        s(&copy),
    ]);
    let followed = json(&out);
    let back = json(&holoscope(&["report", s(&copy), "--format", "json"]));
    assert_eq!(back["capture"]["packets"], followed["capture"]["packets"]);
    assert_eq!(back["waves"], followed["waves"]);
}

/// A killed follow keeps what it wrote: the `.part` file is flushed every half second, so
/// once the packets were read they reach the file without a clean end.
#[cfg(feature = "follow")]
#[test]
fn killed_follow_leaves_a_readable_part_file() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("growing.pcap");
    std::fs::copy(demo(), &input).unwrap();
    let copy = d.path().join("kept.pcapng");
    let part = d.path().join("kept.pcapng.part");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_holoscope"))
        .args(["report", "--follow", s(&input), "--write", s(&copy)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let count = |p: &Path| -> usize {
        let Ok(mut src) = holoscope::capture::open(p) else {
            return 0;
        };
        let mut n = 0;
        while let Ok(Some(_)) = src.next_packet() {
            n += 1;
        }
        n
    };
    // Polled with a deadline: the follow never ends by itself (no --idle).
    let start = std::time::Instant::now();
    while count(&part) < 32181 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "only {} packets reached {} in 30 s",
            count(&part),
            part.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!copy.exists(), "no clean end, no rename");
    assert_eq!(count(&part), 32181);
}

#[cfg(unix)]
#[test]
fn a_device_or_fifo_target_is_written_in_place_never_replaced() {
    use std::io::Read;
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("copy.pcapng");
    if !std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|st| st.success())
    {
        return;
    }
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut v = Vec::new();
            std::fs::File::open(&fifo)
                .unwrap()
                .read_to_end(&mut v)
                .unwrap();
            v
        })
    };
    // The pcapng copy goes through the FIFO (a `.part` file renamed over it would replace the
    // node, and the reader above would wait forever); the report goes to a plain file.
    let report = dir.path().join("r.json");
    let out = holoscope(&[
        "report",
        s(&demo()),
        "--write",
        s(&fifo),
        "--format",
        "json",
        "-o",
        s(&report),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copy = reader.join().unwrap();
    assert!(copy.len() > 1000 && copy.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]));
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "--write replaced the FIFO with {kind:?}");
    assert!(!dir.path().join("copy.pcapng.part").exists());
}
