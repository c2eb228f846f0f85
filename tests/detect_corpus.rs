//! The detector over every capture of `../shared/captures` (attacks, benign traffic and format
//! oddities): it never panics, its findings are internally consistent, and benign captures
//! produce few or no waves. Run with `--nocapture` to see the per-capture table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use holoscope::{capture, engine};
use std::path::PathBuf;

/// Most waves a benign capture may produce (a busy LAN does change its mix now and then).
const MAX_BENIGN_WAVES: usize = 2;

fn captures() -> Vec<PathBuf> {
    let Some(dir) = common::shared("captures") else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let n = p.to_string_lossy();
            [".pcap", ".pcapng", ".pcapng.zst", ".pcap.gz"]
                .iter()
                .any(|e| n.ends_with(e))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn detector_runs_on_the_whole_corpus() {
    let files = captures();
    if files.is_empty() {
        return;
    }
    println!("| Capture | Packets | Buckets | Waves | Residual buckets | Lead of wave 1 |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut benign = 0;
    for p in &files {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        // Unreadable captures (empty file, bad header) are the reader's business, not ours.
        let Ok(src) = capture::open(p) else {
            println!("| {name} | - | - | - | - | not a capture |");
            continue;
        };
        let a = engine::analyze(src, &engine::Options::default(), |_| {});
        let f = &a.findings;
        let n = f.buckets.len();
        assert_eq!(n, a.agg.timeline.buckets().len(), "{name}");
        let map = f.residual.as_ref().expect("residual stage ran");
        assert_eq!(map.profiles.len(), n, "{name}");
        assert_eq!(map.thresholds.len(), map.stripes, "{name}");
        for w in &f.waves {
            assert!(w.start < w.end, "{name}: wave {}", w.id);
            assert!(w.buckets.end <= n, "{name}");
            assert!(w.score.is_finite(), "{name}");
            assert!(w.entities.len() <= 5, "{name}");
            assert!(
                w.residual_profile.is_empty() || w.residual_profile.len() == map.stripes,
                "{name}"
            );
        }
        assert!(
            f.waves.windows(2).all(|p| p[0].end <= p[1].start),
            "{name}: waves overlap"
        );
        assert!(f.buckets.iter().all(|b| b.score.is_finite()), "{name}");
        if name.starts_with("benign_") {
            benign += 1;
            assert!(
                f.waves.len() <= MAX_BENIGN_WAVES,
                "{name}: {} waves on benign traffic",
                f.waves.len()
            );
            // Replies nobody asked for are backscatter of forged requests, not something
            // ordinary traffic shows.
            let unasked = f
                .sessions
                .iter()
                .flat_map(|s| &s.violations)
                .find(|v| matches!(v.kind, "tcp_synack_only" | "udp_reply_only"));
            assert!(unasked.is_none(), "{name}: {unasked:?}");
        }
        println!(
            "| {name} | {} | {n} | {} | {} | {} |",
            a.agg.stats.packets,
            f.waves.len(),
            map.profiles.iter().flatten().count(),
            f.waves
                .first()
                .map_or("-".into(), |w| holoscope::text::escape_terminal_str(
                    &w.summary
                ))
        );
    }
    assert!(benign > 0, "the corpus holds benign captures");
}

/// Every scored bucket over the enter level has its top shifts (the TUI's shifts pane shows
/// them, the report does not, so nothing else checks them), and no other bucket has any.
#[test]
fn every_hot_bucket_has_its_shifts() {
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples/demo.pcap");
    let mut files = vec![demo];
    files.extend(captures().into_iter().take(12));
    let enter = holoscope::detect::DetectOptions::default().hysteresis.enter;
    let mut hot_total = 0;
    for path in files {
        let src = capture::open(&path).unwrap();
        let a = engine::analyze(src, &engine::Options::default(), |_| {});
        let f = &a.findings;
        let hot: Vec<usize> = f
            .buckets
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.warmup && b.score >= enter)
            .map(|(i, _)| i)
            .collect();
        let with: Vec<usize> = f.bucket_shifts.keys().copied().collect();
        assert_eq!(hot, with, "{}", path.display());
        hot_total += hot.len();
    }
    assert!(
        hot_total > 100,
        "the captures have hot buckets ({hot_total})"
    );
}

/// Captures that are all attack leave the causal baseline nothing quiet to learn, so no wave
/// opens: the ranked entities must still lead with who the attack is about. The victim of a
/// spoofed flood or a reflection opens no session, yet answers (or is sent the replies of)
/// every forged one; a scanner opens them all. Ground truth from `captures/SOURCES.md`.
#[test]
fn attack_only_captures_lead_with_their_victim_or_scanner() {
    let Some(dir) = common::shared("captures") else {
        return;
    };
    let cases = [
        (
            "dos_tcp_synflood_spoofed.pcap",
            "10.10.10.10",
            "tcp_syn_only",
        ),
        ("dos_tcp_syn_ecn_cwr.pcapng", "10.10.10.10", "tcp_syn_only"),
        (
            "ddos_tcp_synack_reflection.pcap",
            "10.10.10.10",
            "tcp_synack_only",
        ),
        ("scan_nmap_syn_synscan.pcapng", "172.16.0.8", "tcp_syn_only"),
    ];
    for (file, lead, kind) in cases {
        let src = capture::open(&dir.join(file)).unwrap();
        let a = engine::analyze(src, &engine::Options::default(), |_| {});
        let top = a.findings.entities.first().expect("entities");
        assert_eq!(top.entity, lead, "{file}");
        assert_ne!(top.tier, "cold", "{file}: {top:?}");
        let named = top
            .violations
            .iter()
            .chain(&top.violations_received)
            .find(|v| v.kind == kind)
            .unwrap_or_else(|| panic!("{file}: {kind} on {lead}: {top:?}"));
        assert!(named.sessions >= 100, "{file}: {named:?}");
        // The grouped violations lead with the same address and kind, all sessions in one row.
        let report = holoscope::report::Report::build(&a, holoscope::report::Limits::default());
        let group = report.violation_groups.first().expect("violation groups");
        let names = group.address == lead || group.peer.as_deref() == Some(lead);
        assert!(names && group.kind == kind, "{file}: {group:?}");
        assert!(group.sessions >= named.sessions, "{file}: {group:?}");
        // Without a wave the report says why, and who leads; with one it says nothing.
        let note = report.waves_note;
        if a.findings.waves.is_empty() {
            let note = note.unwrap_or_else(|| panic!("{file}: no note"));
            assert!(note.starts_with("no wave: "), "{file}: {note}");
            assert!(
                note.contains(&format!("most attention: {lead} (")),
                "{file}: {note}"
            );
        } else {
            assert_eq!(note, None, "{file}");
        }
    }
}

/// The RAT of `c2_rat_periodic_4433` keeps its control connection alive every 10 s while it
/// uploads screenshots to the same port on new connections (ground truth from
/// `captures/SOURCES.md`): the control connection alone is the beacon, infected host to
/// controller.
#[test]
fn a_rat_keepalive_inside_one_connection_is_a_beacon() {
    let Some(dir) = common::shared("captures") else {
        return;
    };
    let src = capture::open(&dir.join("c2_rat_periodic_4433.pcapng")).unwrap();
    let a = engine::analyze(src, &engine::Options::default(), |_| {});
    let beacon = a
        .findings
        .sessions
        .iter()
        .filter_map(|s| s.beacon.as_ref())
        .find(|b| b.port == 4433)
        .unwrap_or_else(|| panic!("no beacon: {:?}", a.findings.sessions));
    assert_eq!(beacon.client.to_string(), "172.16.0.114");
    assert_eq!(beacon.server.to_string(), "172.16.0.111");
    assert_eq!(beacon.sessions, 1, "{beacon:?}");
    assert!(beacon.detail.contains("in one connection"), "{beacon:?}");
    let infected = a
        .findings
        .entities
        .iter()
        .find(|e| e.entity == "172.16.0.114")
        .expect("the infected host is ranked");
    assert!(infected.violations.iter().any(|v| v.kind == "beacon"));
}
