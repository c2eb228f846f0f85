//! Drafting from the packets the analysis kept (`engine::Options::keep_packets`) gives exactly
//! the drafts and replay figures that reading and decoding the capture again gives: with the
//! packets borrowed or taken, under a capture filter, and when the capture exceeds the budget
//! (then nothing is kept and drafting reads the file).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use holoscope::engine::{self, Analysis};
use holoscope::rules::filter::PacketFilter;
use holoscope::rules::{draft_for, draft_for_taking};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/demo.pcap")
}

fn analyze(path: &Path, keep: Option<u64>, filter: Option<&str>) -> Analysis {
    let opts = engine::Options {
        keep_packets: keep,
        filter: filter.map(|f| Arc::new(PacketFilter::parse(f).unwrap())),
        ..engine::Options::default()
    };
    engine::analyze(holoscope::capture::open(path).unwrap(), &opts, |_| {})
}

/// Drafts from the capture, from borrowed kept packets and from taken ones, all equal.
fn same_drafts(path: &Path, filter: Option<&str>) {
    let read = draft_for(&analyze(path, None, filter), path).unwrap();
    assert!(!read.is_empty(), "{}: no drafts to compare", path.display());
    let mut a = analyze(path, Some(engine::kept::DEFAULT_KEEP), filter);
    let kept = a.packets.as_ref().expect("packets kept").len();
    assert_eq!(kept, a.agg.stats.packets, "every analysed packet is kept");
    assert_eq!(draft_for(&a, path).unwrap(), read, "borrowed");
    assert_eq!(draft_for_taking(&mut a, path).unwrap(), read, "taken");
    assert!(a.packets.is_none(), "taking leaves none behind");
}

#[test]
fn kept_packets_draft_what_a_second_read_drafts() {
    same_drafts(&demo(), None);
}

#[test]
fn kept_packets_under_a_filter_are_the_filtered_ones() {
    // TCP only: the filter drops the sample's DNS tunnel and NTP amplification entirely.
    let mut a = analyze(&demo(), Some(engine::kept::DEFAULT_KEEP), Some("proto=6"));
    let kept = a.packets.take().unwrap();
    assert_eq!(kept.len(), a.agg.stats.packets);
    assert!(kept.iter().all(|p| p.proto == Some(6)));
    same_drafts(&demo(), Some("proto=6"));
}

#[test]
fn a_capture_over_the_budget_keeps_nothing_and_drafts_from_the_file() {
    let path = demo();
    let mut a = analyze(&path, Some(1000), None);
    assert!(a.agg.stats.packets > 1000);
    assert!(a.packets.is_none());
    let read = draft_for(&analyze(&path, None, None), &path).unwrap();
    assert_eq!(draft_for_taking(&mut a, &path).unwrap(), read);
}

#[test]
fn eval_captures_draft_the_same_from_kept_packets() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval");
    for name in ["lab_E.pcap", "splice_lan_amp_c2.pcapng"] {
        let path = dir.join(name);
        if path.exists() {
            same_drafts(&path, None);
        } else {
            eprintln!("skipped: {} not found", path.display());
        }
    }
}

#[test]
fn the_commands_print_the_same_whether_they_keep_packets_or_not() {
    let demo = demo();
    let demo = demo.to_str().unwrap();
    for args in [
        vec!["report", demo, "--format", "json"],
        vec!["rules", demo, "--format", "nft"],
    ] {
        let kept = common::holoscope(&args);
        let none = common::holoscope(&[args.as_slice(), &["--keep-packets", "0"]].concat());
        assert!(kept.status.success() && none.status.success(), "{args:?}");
        assert!(!kept.stdout.is_empty());
        assert_eq!(kept.stdout, none.stdout, "{args:?}");
    }
}
