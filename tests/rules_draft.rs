//! Independent replay of drafted rules on the labelled evaluation set: every capture in
//! `../shared/eval/` is analysed, its waves get drafts, the drafts are exported as BPF and each
//! expression is applied by `tcpdump -r`. The truth file's `filter` (a Wireshark display
//! filter, applied by `tshark -Y`) says which packets belong to each true wave.
//!
//! A true wave is served by the drafts of detected waves that overlap it in time. Its
//! coverage is the share of its packets that any of those expressions match; "other" is the
//! share of packets outside every true wave that they match. Frames are identified by their
//! bytes (tcpdump rewrites the file; identical frames match identically).
//!
//! Run `cargo test --release --test rules_draft -- --nocapture` for the table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::have;
use common::split_csv;

use holoscope::rules::{Action, Draft, ExportFormat, draft_for, export};
use holoscope::{capture, engine};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::process::Command;

struct Truth {
    wave: String,
    start: f64,
    end: f64,
    filter: String,
}

fn read_truth(p: &Path) -> Vec<Truth> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f = split_csv(l);
            Truth {
                wave: f[0].clone(),
                start: f[4].parse().unwrap(),
                end: f[5].parse().unwrap(),
                filter: f[6].clone(),
            }
        })
        .collect()
}

/// Frame keys (hash of length and bytes) of every record, in file order.
fn frame_keys(path: &Path) -> Vec<u64> {
    let mut src = capture::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(p) = src.next_packet().unwrap() {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        p.orig_len.hash(&mut h);
        p.data.hash(&mut h);
        out.push(h.finish());
    }
    out
}

/// Indices (0-based frame numbers) of the true wave's packets.
fn truth_frames(path: &Path, filter: &str) -> HashSet<usize> {
    let o = Command::new("tshark")
        .args(["-n", "-r", path.to_str().unwrap(), "-Y", filter])
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.trim().parse::<usize>().unwrap() - 1)
        .collect()
}

/// Keys of the frames a BPF expression matches, applied by tcpdump.
fn bpf_keys(path: &Path, expr: &str, dir: &Path) -> HashSet<u64> {
    let out = dir.join("match.pcap");
    let o = Command::new("tcpdump")
        .args([
            "-r",
            path.to_str().unwrap(),
            "-w",
            out.to_str().unwrap(),
            expr,
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "tcpdump rejected {expr}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    frame_keys(&out).into_iter().collect()
}

/// `(rule id, expression)` of each exported BPF line.
fn expressions(bpf: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut id = String::new();
    for l in bpf.lines() {
        if let Some(c) = l.strip_prefix("# R") {
            id = format!("R{}", c.split_whitespace().next().unwrap_or(""));
        } else if !l.starts_with('#') && !l.trim().is_empty() {
            out.push((id.clone(), l.to_string()));
        }
    }
    out
}

struct Row {
    wave: String,
    rules: Vec<String>,
    coverage: f64,
    other: f64,
}

fn evaluate(name: &str) -> Option<(Vec<Row>, Vec<Draft>)> {
    let orig = common::shared(&format!("eval/{name}"))?;
    if !have("tcpdump") || !have("tshark") || !have("editcap") {
        return None;
    }
    let stem = name.split('.').next().unwrap();
    let truth = read_truth(&orig.with_file_name(format!("{stem}.truth.csv")));
    // Every tool reads the same records, converted to pcap (libpcap refuses the splices).
    let dir = tempfile::tempdir().unwrap();
    let pcap = common::classic_pcap(&orig, dir.path());
    let a = engine::analyze(
        capture::open(&pcap).unwrap(),
        &engine::Options::default(),
        |_| {},
    );
    let drafts = draft_for(&a, &pcap).unwrap();
    let bpf = export(
        ExportFormat::Bpf,
        &drafts.iter().map(|d| d.rule.clone()).collect::<Vec<_>>(),
    )
    .unwrap();
    let exprs = expressions(&bpf);
    let matched_by: Vec<HashSet<u64>> = exprs
        .iter()
        .map(|(_, e)| bpf_keys(&pcap, e, dir.path()))
        .collect();
    let keys = frame_keys(&pcap);
    let sets: Vec<HashSet<usize>> = truth
        .iter()
        .map(|t| truth_frames(&pcap, &t.filter))
        .collect();
    let any_truth: HashSet<usize> = sets.iter().flatten().copied().collect();
    let others = keys.len() - any_truth.len();
    let mut rows = Vec::new();
    for (t, set) in truth.iter().zip(&sets) {
        // Drafts of detected waves overlapping the true wave (1 s slack for bucket edges).
        let ids: Vec<String> = a
            .findings
            .waves
            .iter()
            .filter(|w| {
                w.start.as_secs_f64() <= t.end + 1.0 && w.end.as_secs_f64() >= t.start - 1.0
            })
            .flat_map(|w| {
                let wid = format!("W{}", w.id);
                drafts
                    .iter()
                    .filter(move |d| d.rule.provenance.wave.as_deref() == Some(wid.as_str()))
                    .map(|d| d.rule.id.to_string())
            })
            .collect();
        let mut matched: HashSet<u64> = HashSet::new();
        for ((id, _), m) in exprs.iter().zip(&matched_by) {
            if ids.contains(id) {
                matched.extend(m);
            }
        }
        let hit = |i: &usize| matched.contains(&keys[*i]);
        #[allow(clippy::cast_precision_loss)]
        let coverage = set.iter().filter(|i| hit(i)).count() as f64 / set.len().max(1) as f64;
        #[allow(clippy::cast_precision_loss)]
        let other = (0..keys.len())
            .filter(|i| !any_truth.contains(i) && hit(i))
            .count() as f64
            / others.max(1) as f64;
        rows.push(Row {
            wave: t.wave.clone(),
            rules: ids,
            coverage,
            other,
        });
    }
    for r in &rows {
        println!(
            "| {name} | {} | {} | {:.1}% | {:.2}% |",
            r.wave,
            if r.rules.is_empty() {
                "-".to_string()
            } else {
                r.rules.join(",")
            },
            r.coverage * 100.0,
            r.other * 100.0
        );
    }
    for d in &drafts {
        println!("  {name} {} ({})", d.rule, d.counts.summary());
    }
    Some((rows, drafts))
}

/// Asserts each true wave's floors: `(wave, min coverage, max other)`. The issue's target is
/// 95% / 1%; waves the detector misses or merges have documented lower floors.
fn check(rows: &[Row], floors: &[(&str, f64, f64)]) {
    for (wave, cov, other) in floors {
        let r = rows.iter().find(|r| r.wave == *wave).unwrap();
        assert!(
            r.coverage >= *cov && r.other <= *other,
            "{wave}: coverage {:.3} (floor {cov}), other {:.4} (ceiling {other})",
            r.coverage,
            r.other
        );
    }
}

#[test]
fn lab_e() {
    let Some((rows, _)) = evaluate("lab_E.pcap") else {
        return;
    };
    // E5 (97 beacon packets over 49 s) is a wave found in sessions: a new beacon, scoped to
    // its conversation.
    check(
        &rows,
        &[
            ("E1", 0.95, 0.01),
            ("E2", 0.95, 0.01),
            ("E3", 0.95, 0.01),
            ("E4", 0.95, 0.01),
            ("E5", 0.95, 0.01),
        ],
    );
}

#[test]
fn lab_f() {
    let Some((rows, _)) = evaluate("lab_F.pcap") else {
        return;
    };
    check(
        &rows,
        &[
            ("F1", 0.95, 0.01),
            ("F2", 0.95, 0.01),
            ("F3", 0.95, 0.01),
            ("F4", 0.95, 0.01),
            ("F5", 0.95, 0.01),
        ],
    );
}

#[test]
fn splice_synflood_gets_a_rate_limit() {
    let Some((rows, drafts)) = evaluate("splice_lan_synflood_scan.pcapng") else {
        return;
    };
    check(&rows, &[("S1", 0.95, 0.01), ("S2", 0.95, 0.01)]);
    // S1: 37,623 spoofed sources. Its draft limits the rate and lists no addresses.
    let s1 = drafts
        .iter()
        .find(|d| {
            d.rule
                .def
                .conditions
                .iter()
                .any(|c| c.to_string() == "dst_port=25565")
        })
        .expect("a draft for the SYN flood");
    assert!(
        matches!(s1.rule.def.action, Action::RateLimit(n) if n >= 1),
        "{}",
        s1.rule
    );
    assert!(
        !s1.rule
            .def
            .conditions
            .iter()
            .any(|c| c.field == holoscope::decode::Field::SrcIp),
        "{}",
        s1.rule
    );
    assert!(s1.explanation.contains("spoofed"), "{}", s1.explanation);
}

#[test]
fn splice_amp_c2() {
    let Some((rows, _)) = evaluate("splice_lan_amp_c2.pcapng") else {
        return;
    };
    check(
        &rows,
        &[("A1", 0.95, 0.01), ("A2", 0.95, 0.01), ("A3", 0.95, 0.01)],
    );
}

#[test]
fn splice_bruteforce_smurf() {
    let Some((rows, _)) = evaluate("splice_lan_bruteforce_smurf.pcapng") else {
        return;
    };
    check(
        &rows,
        &[("B1", 0.95, 0.01), ("B2", 0.95, 0.01), ("B3", 0.95, 0.01)],
    );
}

#[test]
fn apply_replays_an_edit_and_keeps_a_failed_one_out() {
    use holoscope::rules::{EditError, Who, apply, replay_capture};
    let pcap = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/demo.pcap"));
    let a = engine::analyze(
        capture::open(pcap).unwrap(),
        &engine::Options::default(),
        |_| {},
    );
    let drafts = draft_for(&a, pcap).unwrap();
    assert!(drafts.len() >= 3);
    // Deterministic: a second drafting gives the same rules and figures.
    assert_eq!(draft_for(&a, pcap).unwrap(), drafts);
    let d = &drafts[0];
    assert_eq!(replay_capture(pcap, &d.rule, &a).unwrap(), d.counts);
    // Dropping every condition but the first widens the rule: coverage cannot fall and
    // baseline matches cannot shrink.
    let mut rule = d.rule.clone();
    let n = rule.def.conditions.len();
    let counts = apply(
        &mut rule,
        |r| {
            for _ in 1..n {
                r.remove_condition(Who::Analyst, 1)?;
            }
            Ok::<(), EditError>(())
        },
        pcap,
        &a,
    )
    .unwrap()
    .unwrap();
    assert_eq!(rule.def.conditions.len(), 1);
    assert_eq!(rule.status(), holoscope::rules::Status::Edited);
    assert!(counts.wave_matched >= d.counts.wave_matched);
    assert!(counts.baseline_matched >= d.counts.baseline_matched);
    // A failing edit leaves the rule as it was.
    let before = rule.clone();
    let r = apply(
        &mut rule,
        |r| r.remove_condition(Who::Analyst, 9).map(|_| ()),
        pcap,
        &a,
    )
    .unwrap();
    assert!(r.is_err());
    assert_eq!(rule, before);
}

/// The drafts' replay figures come from the records the drafting pass kept, text rules
/// included (their DNS, TLS and HTTP parts are kept beside the records): they must equal a
/// replay that reads the capture again, whether the packets came from the file or were kept
/// by the analysis.
#[test]
fn text_rules_replay_from_memory_as_from_the_capture() {
    use holoscope::rules::model::{Kind, kind};
    use holoscope::rules::{Op, draft_for_taking, replay_all};
    let demo = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/demo.pcap")).to_path_buf();
    let mut files = vec![demo];
    files.extend(
        ["lab_E.pcap", "lab_F.pcap", "splice_lan_amp_c2.pcapng"]
            .iter()
            .filter_map(|f| common::shared(&format!("eval/{f}"))),
    );
    let mut text_rules = 0;
    let mut subdomains = 0;
    for path in &files {
        for keep in [None, Some(4_000_000)] {
            let opts = engine::Options {
                keep_packets: keep,
                ..engine::Options::default()
            };
            let mut a = engine::analyze(capture::open(path).unwrap(), &opts, |_| {});
            let drafts = draft_for_taking(&mut a, path).unwrap();
            let rules: Vec<_> = drafts.iter().map(|d| d.rule.clone()).collect();
            let again = replay_all(path, &rules, &a).unwrap();
            for (d, c) in drafts.iter().zip(&again) {
                assert_eq!(&d.counts, c, "{}: {}", path.display(), d.rule);
            }
            if keep.is_none() {
                for r in &rules {
                    let conds = &r.def.conditions;
                    text_rules += usize::from(conds.iter().any(|c| kind(c.field) == Kind::Text));
                    subdomains +=
                        usize::from(conds.iter().any(|c| matches!(c.op, Op::Subdomain(_))));
                }
            }
        }
    }
    assert!(text_rules >= 4, "only {text_rules} text rules drafted");
    assert!(subdomains >= 1, "no *.domain rule drafted");
}

/// The RAT capture's exfiltration waves each ran over a new connection beside the implant's
/// long keep-alive to the same C2 port. Every upload was once drafted on its own client port
/// (`src_port=4433,6643 dst_port=4433,6643`), a rule that stops only the upload already seen.
/// The drafts must name no client's own port, and say which they left out.
#[test]
fn rat_uploads_are_not_drafted_on_their_own_client_ports() {
    use holoscope::decode::Value;
    use holoscope::rules::Op;
    let Some(path) = common::shared("captures/c2_rat_periodic_4433.pcapng") else {
        return;
    };
    let a = engine::analyze(
        capture::open(&path).unwrap(),
        &engine::Options::default(),
        |_| {},
    );
    let drafts = draft_for(&a, &path).unwrap();
    assert!(drafts.len() >= 5, "{} drafts", drafts.len());
    let own: Vec<u64> = (6643..=6648).collect();
    for d in &drafts {
        for c in &d.rule.def.conditions {
            let named: &[Value] = match &c.op {
                Op::Eq(v) => std::slice::from_ref(v),
                Op::In(vs) => vs,
                _ => &[],
            };
            assert!(
                !named
                    .iter()
                    .any(|v| matches!(v, Value::U(p) if own.contains(p))),
                "{}",
                d.rule
            );
        }
    }
    assert!(
        drafts[0].explanation.contains("not keyed on port 6643"),
        "{}",
        drafts[0].explanation
    );
    // What is left names the service the uploads went to, once one IP length has replaced
    // the two size conditions (room for the port, and a rule every firewall can export).
    let r1 = drafts[0].rule.to_string();
    assert!(
        r1.contains("dst_port=4433") && r1.contains("ip_len=1500"),
        "{r1}"
    );
    assert!(!r1.contains("payload_len="), "{r1}");
    let nft = export(ExportFormat::Nft, &[drafts[0].rule.clone()]).unwrap();
    assert!(
        nft.contains("tcp dport 4433") && !nft.contains("not exported"),
        "{nft}"
    );
}
