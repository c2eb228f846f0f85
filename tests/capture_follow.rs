//! `--follow`: a writer thread appends the shipped sample to a file in chunks that cut records
//! in half, then rotates to a second file (`tcpdump -C` naming); following it gives exactly the
//! findings of the whole file, with no truncation warning.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "follow")]

mod common;

use holoscope::capture::follow::{self, FollowOptions};
use holoscope::capture::{self, WarningKind};
use holoscope::engine;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn demo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/demo.pcap"))
}

/// Header and record slices of a little-endian legacy pcap.
fn split_records(bytes: &[u8]) -> (&[u8], Vec<&[u8]>) {
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let (head, mut rest) = bytes.split_at(24);
    let mut recs = Vec::new();
    while rest.len() >= 16 {
        let incl = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
        let (r, tail) = rest.split_at(16 + incl);
        recs.push(r);
        rest = tail;
    }
    assert!(rest.is_empty());
    (head, recs)
}

/// Appends `data` to `path` in uneven chunks (prime sizes, so records are split anywhere).
fn trickle(path: &Path, data: &[u8]) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    let sizes = [4099usize, 65_537, 13, 131_071, 24, 8191];
    let mut off = 0;
    let mut i = 0;
    while off < data.len() {
        let n = sizes[i % sizes.len()].min(data.len() - off);
        f.write_all(&data[off..off + n]).unwrap();
        f.flush().unwrap();
        off += n;
        i += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn following_a_growing_rotating_capture_equals_the_whole_file() {
    let bytes = std::fs::read(demo()).unwrap();
    let (head, recs) = split_records(&bytes);
    let half = recs.len() / 2;
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("cap.pcap");
    let second = dir.path().join("cap.pcap1");
    // An unrelated file of another family must be ignored.
    std::fs::write(dir.path().join("other.pcap7"), &bytes[..24]).unwrap();
    std::fs::File::create(&first).unwrap();

    let part1: Vec<u8> = [head]
        .into_iter()
        .chain(recs[..half].iter().copied())
        .flatten()
        .copied()
        .collect();
    let part2: Vec<u8> = [head]
        .into_iter()
        .chain(recs[half..].iter().copied())
        .flatten()
        .copied()
        .collect();
    let (f1, f2) = (first.clone(), second.clone());
    let writer = std::thread::spawn(move || {
        trickle(&f1, &part1);
        std::thread::sleep(Duration::from_millis(100));
        std::fs::File::create(&f2).unwrap();
        trickle(&f2, &part2);
    });

    let opts = FollowOptions {
        idle: Some(Duration::from_secs(2)),
        ..FollowOptions::default()
    };
    let src = follow::open(&first, opts).unwrap();
    let followed = engine::analyze(src, &engine::Options::default(), |_| {});
    writer.join().unwrap();
    let whole = engine::analyze(
        capture::open(&demo()).unwrap(),
        &engine::Options::default(),
        |_| {},
    );
    assert_eq!(followed.agg.stats.packets, recs.len() as u64);
    assert_eq!(followed.agg.stats.packets, whole.agg.stats.packets);
    assert!(
        followed
            .warnings
            .iter()
            .all(|w| w.kind != WarningKind::Truncated && w.kind != WarningKind::Corrupt),
        "{:?}",
        followed.warnings
    );
    assert!(!whole.findings.waves.is_empty());
    assert_eq!(*followed.findings, *whole.findings);
}

#[test]
fn the_stop_flag_ends_a_follow_without_idle_timeout() {
    let bytes = std::fs::read(demo()).unwrap();
    let (head, recs) = split_records(&bytes);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.pcap");
    // Ten whole records and half of the eleventh: the half record is waited for, and when
    // the follow is stopped it is the reader's usual truncation, never a hang.
    let mut data: Vec<u8> = [head]
        .into_iter()
        .chain(recs[..10].iter().copied())
        .flatten()
        .copied()
        .collect();
    data.extend_from_slice(&recs[10][..recs[10].len() / 2]);
    std::fs::write(&path, &data).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let t = Instant::now();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        flag.store(true, Ordering::Relaxed);
    });
    let opts = FollowOptions {
        idle: None,
        stop,
        ..FollowOptions::default()
    };
    let a = engine::analyze(
        follow::open(&path, opts).unwrap(),
        &engine::Options::default(),
        |_| {},
    );
    stopper.join().unwrap();
    assert!(t.elapsed() >= Duration::from_millis(500));
    assert_eq!(a.agg.stats.packets, 10);
}

#[test]
fn pcapng_rotation_continues_as_a_new_section() {
    let Some(dir) = common::shared("captures") else {
        return;
    };
    let bytes = std::fs::read(dir.join("benign_lan_background_28min.pcapng")).unwrap();
    assert_eq!(&bytes[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("ring-0001.pcapng");
    let second = tmp.path().join("ring-0002.pcapng");
    std::fs::File::create(&first).unwrap();
    let (f1, f2, data) = (first.clone(), second.clone(), bytes.clone());
    let writer = std::thread::spawn(move || {
        trickle(&f1, &data);
        std::fs::File::create(&f2).unwrap();
        trickle(&f2, &data);
    });
    let opts = FollowOptions {
        idle: Some(Duration::from_secs(2)),
        ..FollowOptions::default()
    };
    let followed = engine::analyze(
        follow::open(&first, opts).unwrap(),
        &engine::Options::default(),
        |_| {},
    );
    writer.join().unwrap();
    // The same two sections read from one stream.
    let twice: Vec<u8> = bytes.iter().chain(bytes.iter()).copied().collect();
    let whole = engine::analyze(
        capture::from_reader("twice".into(), Box::new(std::io::Cursor::new(twice))).unwrap(),
        &engine::Options::default(),
        |_| {},
    );
    assert_eq!(followed.agg.stats.packets, whole.agg.stats.packets);
    assert_eq!(*followed.findings, *whole.findings);
}
