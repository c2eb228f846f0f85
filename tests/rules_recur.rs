//! A recurring wave keeps its family's rule when that rule still fits it, and is drafted
//! afresh when it does not: on the evaluation captures, a file transfer that comes back gets
//! the first transfer's conditions; a UDP flood that comes back to another port gets its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::analyze_keeping as analyze;
use holoscope::rules::{Draft, draft_for, draft_for_taking};
use std::path::Path;

/// The first draft of wave `id` (its rule; companions follow it).
fn rule_of(drafts: &[Draft], id: u32) -> &Draft {
    let wave = format!("W{id}");
    drafts
        .iter()
        .find(|d| d.rule.provenance.wave.as_deref() == Some(wave.as_str()))
        .unwrap_or_else(|| panic!("no draft for {wave}"))
}

/// The drafts of an eval capture, with each recurring wave's rule and its first wave's
/// (`None` without the shared corpus).
fn recurring(name: &str) -> Option<Vec<(u32, u32, Draft, Draft)>> {
    let path = common::shared(&format!("eval/{name}"))?;
    let a = analyze(&path);
    let drafts = draft_for(&a, &path).unwrap();
    // Drafting from the packets taken from the analysis decides the same.
    let mut b = analyze(&path);
    assert_eq!(draft_for_taking(&mut b, &path).unwrap(), drafts);
    let pairs: Vec<_> = a
        .findings
        .waves
        .iter()
        .filter_map(|w| Some((w.id, w.like?)))
        .map(|(id, like)| {
            let (again, first) = (rule_of(&drafts, id), rule_of(&drafts, like));
            (id, like, again.clone(), first.clone())
        })
        .collect();
    assert!(!pairs.is_empty(), "{name} has a recurring wave");
    Some(pairs)
}

#[test]
fn a_recurrence_the_family_rule_fits_keeps_it() {
    let Some(pairs) = recurring("splice_lan_amp_c2.pcapng") else {
        return;
    };
    for (id, like, again, first) in pairs {
        assert_eq!(
            again.rule.def.conditions, first.rule.def.conditions,
            "W{id} keeps W{like}'s conditions"
        );
        let lead = format!("the conditions of W{like}'s rule, which this wave recurs: ");
        assert!(
            again.explanation.starts_with(&lead),
            "{}",
            again.explanation
        );
        // Its figures are its own: the replay counts this wave's packets, not the first's.
        assert_ne!(again.counts.wave_total, first.counts.wave_total);
        assert!(again.counts.anomalous_coverage().unwrap() > 0.9);
        assert_eq!(
            again.rule.provenance.evidence,
            first.rule.provenance.evidence
        );
    }
}

#[test]
fn a_recurrence_on_another_port_is_drafted_afresh() {
    let Some(pairs) = recurring("lab_F.pcap") else {
        return;
    };
    for (_, _, again, first) in pairs {
        // The flood came back to another port: the first rule's port would cut it off.
        assert_ne!(again.rule.def.conditions, first.rule.def.conditions);
        assert!(!again.explanation.contains("which this wave recurs"));
        assert!(again.counts.anomalous_coverage().unwrap() > 0.9);
    }
}

#[test]
fn the_report_is_built_beside_drafting() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/demo.pcap");
    let mut a = analyze(&path);
    let alone = draft_for(&a, &path).unwrap();
    let waves = a.findings.waves.len();
    let (drafts, seen) = holoscope::rules::draft::draft_taking_beside(&mut a, &path, |a| {
        // The closure sees the analysis, its packets already taken for drafting.
        (a.findings.waves.len(), a.packets.is_none())
    });
    assert_eq!(drafts.unwrap(), alone);
    assert_eq!(seen, (waves, true));
}
