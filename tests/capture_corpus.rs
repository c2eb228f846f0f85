//! The capture readers against the shared corpus: every file's packet count (from SOURCES.md
//! and the conformance suite's own descriptions), timestamps, damage handling, compression,
//! short reads and random access.

// Test helpers outside #[test] functions: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use holoscope::capture::{
    self, CaptureError, OwnedPacket, PacketIndex, PacketSource, Warning, WarningKind,
    read_packet_at,
};
use holoscope::time::{Timestamp, format_utc};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/captures"));
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but the corpus {} is missing",
        dir.display()
    );
    eprintln!("SKIP: capture corpus {} not found", dir.display());
    None
}

fn drain(mut src: Box<dyn PacketSource + Send>) -> (Vec<OwnedPacket>, Vec<Warning>) {
    let mut packets = Vec::new();
    loop {
        match src.next_packet() {
            Ok(Some(p)) => packets.push(p.to_owned()),
            Ok(None) => break,
            Err(e) => panic!("read error: {e}"),
        }
    }
    assert!(matches!(src.next_packet(), Ok(None)), "stays at the end");
    (packets, src.take_warnings())
}

fn read(path: &Path) -> (Vec<OwnedPacket>, Vec<Warning>) {
    drain(capture::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn kinds(w: &[Warning]) -> Vec<WarningKind> {
    w.iter().map(|w| w.kind).collect()
}

/// (packets, corrupt) per file from SOURCES.md's "Quick index".
fn quick_index(dir: &Path) -> HashMap<String, (usize, bool)> {
    let text = std::fs::read_to_string(dir.join("SOURCES.md")).expect("SOURCES.md");
    let start = text.find("## Quick index").expect("quick index");
    let mut out = HashMap::new();
    for line in text[start..].lines().skip(1) {
        if line.starts_with("## ") {
            break;
        }
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() < 5 || !cols[1].starts_with('`') {
            continue;
        }
        let name = cols[1].trim_matches('`').to_string();
        let n: usize = cols[3]
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .expect("count");
        out.insert(name, (n, cols[3].contains("corrupt")));
    }
    assert!(out.len() >= 60, "quick index parsed {} rows", out.len());
    out
}

/// EPB + SPB counts from a conformance .txt.
fn conformance_count(txt: &Path) -> usize {
    let text = std::fs::read_to_string(txt).expect("txt");
    text.lines()
        .filter_map(|l| l.trim().split_once(": "))
        .filter(|(k, _)| matches!(*k, "EPB" | "SPB"))
        .map(|(_, v)| v.trim().parse::<usize>().expect("count"))
        .sum()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            walk(&p, out)
        } else {
            out.push(p)
        }
    }
}

#[test]
fn every_file_in_the_corpus() {
    let Some(dir) = corpus() else { return };
    let index = quick_index(&dir);
    let mut files = Vec::new();
    walk(&dir, &mut files);
    files.sort();
    let mut checked = 0;
    for path in &files {
        let rel = path
            .strip_prefix(&dir)
            .expect("rel")
            .to_string_lossy()
            .replace('\\', "/");
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let expected = if let Some(&(n, corrupt)) = index.get(&rel) {
            Some((n, corrupt))
        } else if rel.starts_with("pcapng-conformance/") && ext == "pcapng" {
            Some((conformance_count(&path.with_extension("txt")), false))
        } else {
            None
        };
        match expected {
            Some((n, corrupt)) => {
                let (packets, warnings) = read(path);
                assert_eq!(packets.len(), n, "{rel}: packets");
                let damage: Vec<_> = kinds(&warnings)
                    .into_iter()
                    .filter(|k| matches!(k, WarningKind::Corrupt | WarningKind::Truncated))
                    .collect();
                let want: Vec<_> = if corrupt {
                    vec![WarningKind::Corrupt]
                } else {
                    vec![]
                };
                assert_eq!(damage, want, "{rel}: {warnings:?}");
                for w in &warnings {
                    assert!(
                        w.message.is_ascii() && !w.message.is_empty(),
                        "{rel}: {w:?}"
                    );
                }
                checked += 1;
            }
            None => {
                // Documentation, licences, descriptions: every one must be refused cleanly.
                assert!(
                    matches!(capture::open(path), Err(CaptureError::NotACapture { .. })),
                    "{rel} is not a capture"
                );
            }
        }
    }
    assert_eq!(
        checked,
        index.len() + 48,
        "every listed capture and conformance file was read"
    );
}

/// "1340954905.298858000" -> ns.
fn parse_epoch(s: &str) -> i64 {
    let (secs, frac) = s.split_once('.').expect("epoch");
    let frac = format!("{frac:0<9}");
    secs.parse::<i64>().expect("secs") * 1_000_000_000 + frac[..9].parse::<i64>().expect("frac")
}

#[test]
fn conformance_suite_matches_tshark() {
    let Some(dir) = corpus() else { return };
    let base = dir.join("pcapng-conformance");
    let tsv = std::fs::read_to_string(base.join("EXPECTED-tshark-4.0.17.tsv")).expect("tsv");
    let mut rows: HashMap<String, Vec<Vec<String>>> = HashMap::new();
    for line in tsv.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<String> = line.split('\t').map(String::from).collect();
        if cols.len() >= 8 && !cols[2].is_empty() {
            rows.entry(cols[0].clone()).or_default().push(cols);
        }
    }
    let mut timed = 0;
    for (file, expected) in &rows {
        let (packets, _) = read(&base.join(file));
        assert_eq!(packets.len(), expected.len(), "{file}");
        for (p, row) in packets.iter().zip(expected) {
            let link = if row[4] == "15" {
                0
            } else {
                row[4].parse::<u16>().expect("encap")
            };
            assert_eq!(p.link.0, link, "{file} record {}", row[1]);
            assert_eq!(
                p.data.len().to_string(),
                row[5],
                "{file} record {}: caplen",
                row[1]
            );
            assert_eq!(
                p.orig_len.to_string(),
                row[6],
                "{file} record {}: orig",
                row[1]
            );
            if !row[7].is_empty() {
                assert_eq!(
                    p.ts.0,
                    parse_epoch(&row[7]),
                    "{file} record {}: time",
                    row[1]
                );
                timed += 1;
            }
        }
    }
    assert!(timed > 50, "{timed} timestamps compared");
    // basic/test008: non-default if_tsresol.
    let (p, _) = read(&base.join("output_be/basic/test008.pcapng"));
    assert_eq!(p[0].ts.0, 1_340_954_905_298_858);
    // difficult/test202: sections of different byte order; interface ids restart per section
    // but our global ids differ.
    let (p, _) = read(&base.join("output_le/difficult/test202.pcapng"));
    assert_eq!(p.len(), 8);
    let ifaces: Vec<u32> = p.iter().map(|p| p.interface).collect();
    assert_ne!(
        ifaces[0], ifaces[3],
        "section 1 and 2 interface 0 differ: {ifaces:?}"
    );
}

#[test]
fn timestamps_of_format_cases() {
    let Some(dir) = corpus() else { return };
    let (p, w) = read(&dir.join("fmt_pcapng_2if_ns_and_us.pcapng"));
    assert_eq!(p.len(), 6);
    assert_eq!(p[0].ts.0 % 1_000_000_000, 500_330_493);
    assert_eq!(format_utc(p[0].ts), "2026-01-06 01:31:29.500330");
    assert_eq!(format_utc(p[5].ts), "2026-01-06 01:37:17.140942");
    assert_eq!(p[5].ts.0 % 1000, 0);
    assert_ne!(p[0].interface, p[5].interface);
    assert!(w.is_empty(), "{w:?}");

    let (p, _) = read(&dir.join("fmt_pcap_nanosecond_sll.pcap"));
    assert_eq!(
        p[0].ts,
        Timestamp::from_secs_nanos(1_418_145_369, 924_505_488)
    );
    assert_eq!(format_utc(p[2].ts), "2014-12-09 17:16:10.052115");
    assert_eq!(p[2].ts.0 % 1_000_000_000, 52_115_157);
    assert_eq!(p[0].link.0, 113);

    let (p, w) = read(&dir.join("fmt_timestamp_2106_overflow.pcapng"));
    assert_eq!(format_utc(p[0].ts), "2106-02-07 06:28:16.000000");
    assert_eq!(kinds(&w), [WarningKind::AbsurdTimestamp]);

    let (p, w) = read(&dir.join("fmt_timestamp_invalid_nanos.pcap"));
    assert_eq!(p.len(), 3);
    let absurd = w
        .iter()
        .find(|w| w.kind == WarningKind::AbsurdTimestamp)
        .expect("absurd");
    assert!(absurd.message.starts_with("2 records"), "{absurd:?}");

    let (p, w) = read(&dir.join("fmt_pcapng_zstd_compressed.pcapng.zst"));
    assert_eq!(p.len(), 159);
    assert!(kinds(&w).contains(&WarningKind::AbsurdTimestamp), "{w:?}");
    assert!(kinds(&w).contains(&WarningKind::OutOfOrder), "{w:?}");
    assert_eq!(format_utc(p[0].ts).get(..10), Some("2015-01-29"));

    let (_, w) = read(&dir.join("fmt_snaplen_1_record_caplen_8.pcap"));
    assert_eq!(kinds(&w), [WarningKind::SnaplenViolation]);
    let (_, w) = read(&dir.join("fmt_snaplen_96.pcap"));
    let ooo = w
        .iter()
        .find(|w| w.kind == WarningKind::OutOfOrder)
        .expect("out of order");
    assert!(
        ooo.message
            .starts_with("2 records with timestamps going backwards (first at byte"),
        "{ooo:?}"
    );
}

#[test]
fn damage_keeps_packets_before_it() {
    let Some(dir) = corpus() else { return };
    let (p, w) = read(&dir.join("fmt_corrupt_record_header.pcap"));
    assert_eq!(p.len(), 1);
    let c = w
        .iter()
        .find(|w| w.kind == WarningKind::Corrupt)
        .expect("corrupt");
    assert_eq!(c.offset, Some(24 + 16 + p[0].data.len() as u64));
    assert!(
        c.message.contains("1409179648") || c.message.contains("claims"),
        "{c:?}"
    );

    let bytes = std::fs::read(dir.join("benign_mixed_services.pcap")).expect("read");
    let mut tmp = tempfile::NamedTempFile::new().expect("tmp");
    tmp.write_all(&bytes[..bytes.len() - 10]).expect("write");
    let (p, w) = read(tmp.path());
    assert_eq!(p.len(), 262);
    let t: Vec<_> = w
        .iter()
        .filter(|w| w.kind == WarningKind::Truncated)
        .collect();
    assert_eq!(t.len(), 1, "{w:?}");
    assert!(t[0].offset.is_some_and(|o| o < bytes.len() as u64));
}

#[test]
fn not_a_capture() {
    let cases: [(&[u8], &str); 3] = [
        (b"", "empty file"),
        (b"this is plainly text\n", "unknown signature 74 68 69 73"),
        (&[0u8; 4096], "unknown signature 00 00 00 00"),
    ];
    for (bytes, reason) in cases {
        let mut tmp = tempfile::NamedTempFile::new().expect("tmp");
        tmp.write_all(bytes).expect("write");
        match capture::open(tmp.path()) {
            Err(CaptureError::NotACapture { reason: r, .. }) => assert_eq!(r, reason),
            other => panic!("expected NotACapture, got {:?}", other.err()),
        }
    }
}

/// A reader that returns one byte per read().
struct Trickle(io::Cursor<Vec<u8>>);
impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(1);
        self.0.read(&mut buf[..n])
    }
}

#[test]
fn compressed_and_trickled_streams_give_the_same_packets() {
    let Some(dir) = corpus() else { return };
    for name in [
        "benign_mixed_services.pcap",
        "fmt_pcapng_2if_ns_and_us.pcapng",
        "fmt_pcap_bigendian.pcap",
    ] {
        let bytes = std::fs::read(dir.join(name)).expect("read");
        let (plain, _) = read(&dir.join(name));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).expect("gz");
        let gz = gz.finish().expect("gz");
        let zst = zstd::encode_all(&bytes[..], 1).expect("zstd");
        for (label, data) in [
            ("gzip", gz.clone()),
            ("zstd", zst),
            ("trickle", bytes.clone()),
        ] {
            let src: Box<dyn Read + Send> = if label == "trickle" {
                Box::new(Trickle(io::Cursor::new(data)))
            } else {
                Box::new(io::Cursor::new(data))
            };
            let src = capture::from_reader(format!("{name}.{label}"), src).expect("open");
            let (p, _) = drain(src);
            assert_eq!(p, plain, "{name} via {label}");
        }
        // Gzip fed one byte at a time, too.
        let src = capture::from_reader("gz-trickle".into(), Box::new(Trickle(io::Cursor::new(gz))))
            .expect("open");
        assert_eq!(drain(src).0, plain, "{name} via trickled gzip");
    }
}

#[test]
fn random_access_matches_streaming() {
    let Some(dir) = corpus() else { return };
    let mut tmp_gz = tempfile::NamedTempFile::new().expect("tmp");
    let small = std::fs::read(dir.join("fmt_pcapng_2if_ns_and_us.pcapng")).expect("read");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&small).expect("gz");
    tmp_gz.write_all(&gz.finish().expect("gz")).expect("write");
    let paths = [
        dir.join("benign_mixed_services.pcap"),
        dir.join("benign_lan_background_28min.pcapng"),
        dir.join("fmt_pcap_modified_kuznetzov.pcap"),
        dir.join("fmt_pcap_nanosecond_bigendian.pcap"),
        dir.join("pcapng-conformance/output_be/difficult/test202.pcapng"),
        dir.join("pcapng-conformance/output_le/basic/test011.pcapng"),
        tmp_gz.path().to_path_buf(),
    ];
    for path in paths {
        let mut src = capture::open(&path).expect("open");
        let mut index = PacketIndex::new();
        let mut streamed = Vec::new();
        while let Some(p) = src.next_packet().expect("read") {
            index.push(p.offset);
            streamed.push(p.to_owned());
        }
        let ctx = src.index_context().expect("context");
        assert_eq!(index.len(), streamed.len());
        assert!(index.heap_bytes() <= 8 * index.len().next_power_of_two().max(4));
        for (i, want) in streamed.iter().enumerate() {
            let got =
                read_packet_at(&path, &ctx, index.get(i).expect("offset")).expect("random access");
            assert_eq!(&got, want, "{} packet {i}", path.display());
        }
        assert!(
            read_packet_at(&path, &ctx, 1 << 40).is_err(),
            "past the end"
        );
    }
}
