//! `report --follow --follow-json`: alerts stream out while the capture is still being written.
//! The writer stops after the sample's first wave and waits for holoscope to announce it before
//! writing the rest; at the end every wave of the final report has a `start` and an `end` line,
//! sequence numbers run 1, 2, 3... and every line is one JSON object.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "follow")]

mod common;

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Record slices of a little-endian legacy pcap, with their timestamp in seconds.
fn records(bytes: &[u8]) -> (&[u8], Vec<(u32, &[u8])>) {
    let (head, mut rest) = bytes.split_at(24);
    let mut out = Vec::new();
    while rest.len() >= 16 {
        let ts = u32::from_le_bytes(rest[0..4].try_into().unwrap());
        let incl = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
        let (r, tail) = rest.split_at(16 + incl);
        out.push((ts, r));
        rest = tail;
    }
    (head, out)
}

#[test]
fn alerts_stream_out_while_the_capture_grows() {
    let bytes = std::fs::read("samples/demo.pcap").unwrap();
    let (head, recs) = records(&bytes);
    // Where the sample's first wave ends, from its ground truth (second line, sixth column: `end`).
    let truth = std::fs::read_to_string("samples/demo.truth.csv").unwrap();
    let first_end: f64 = truth
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(5)
        .unwrap()
        .parse()
        .unwrap();
    let cut = recs
        .iter()
        .position(|(ts, _)| f64::from(*ts) > first_end + 40.0)
        .unwrap();
    assert!(
        cut < recs.len() * 3 / 4,
        "the first wave ends early in the sample"
    );

    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("growing.pcap");
    let report = dir.path().join("report.json");
    let mut f = std::fs::File::create(&cap).unwrap();
    f.write_all(head).unwrap();
    for (_, r) in &recs[..cut] {
        f.write_all(r).unwrap();
    }
    f.flush().unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_holoscope"))
        .args(["report", "--follow"])
        .arg(&cap)
        // The idle timeout runs from the last packet read, so it must outlast the detection
        // of the first wave plus the alert's trip to this test: on a loaded 2-core machine
        // that took over 3 s and the follow ended before the rest was written. It is also
        // how long the test waits at the end.
        .args(["--idle", "15s", "--follow-json", "--format", "json", "-o"])
        .arg(&report)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    // Nothing more is written until the first alert arrives: it must come from the partial file.
    let first = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("an alert line while the capture is incomplete");
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["event"], "start", "{first}");
    assert_eq!(first["seq"], 1);
    assert!(first["packets_seen"].as_u64().unwrap() <= cut as u64);
    for (_, r) in &recs[cut..] {
        f.write_all(r).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success());
    let mut lines = vec![first];
    lines.extend(
        rx.try_iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(&l).unwrap()),
    );
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["seq"].as_u64().unwrap(), i as u64 + 1, "consecutive seq");
    }
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(
        rep["capture"]["packets"].as_u64().unwrap(),
        recs.len() as u64
    );
    assert!(
        lines
            .iter()
            .any(|l| l["packets_seen"].as_u64().unwrap() > cut as u64),
        "alerts also came from the part written later"
    );
    let waves = rep["waves"].as_array().unwrap();
    assert!(waves.len() >= 2);
    for w in waves {
        let start = w["start"].as_f64().unwrap();
        // The alert whose latest detail has this start: it started, and it ended last.
        let mine: Vec<&serde_json::Value> = lines
            .iter()
            .filter(|l| {
                let alert = &l["wave"];
                lines.iter().rev().find(|m| &m["wave"] == alert).unwrap()["detail"]["start"]
                    .as_f64()
                    .unwrap()
                    == start
            })
            .collect();
        assert!(!mine.is_empty(), "wave at {start} was announced");
        assert_eq!(mine.first().unwrap()["event"], "start");
        assert_eq!(mine.last().unwrap()["event"], "end");
    }
}
