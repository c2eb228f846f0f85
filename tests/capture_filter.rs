//! `--filter EXPR`: rule conditions applied after decode and before every aggregate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{holoscope, holoscope_stdin, report_json};
use serde_json::Value;

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/demo.pcap");
const TOTAL: u64 = 32181;

/// Truth intervals of the sample's waves (samples/demo.truth.csv): D1 scan, D2 SYN flood
/// on 10.0.0.11, D3 DNS tunnel, D4 NTP amplification.
fn truth() -> Vec<(String, f64, f64)> {
    let csv = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/demo.truth.csv"
    ))
    .unwrap();
    csv.lines()
        .skip(1)
        .map(|l| {
            let f = common::split_csv(l);
            (f[0].clone(), f[4].parse().unwrap(), f[5].parse().unwrap())
        })
        .collect()
}

fn overlapping(waves: &Value, lo: f64, hi: f64) -> usize {
    waves
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["start"].as_f64().unwrap() <= hi && w["end"].as_f64().unwrap() >= lo)
        .count()
}

#[test]
fn filtering_to_one_waves_target_keeps_that_wave_only() {
    let all = report_json(&["report", DEMO, "--format", "json"]);
    assert!(all.get("filter").is_none(), "absent without --filter");
    let j = report_json(&[
        "report",
        DEMO,
        "--format",
        "json",
        "--filter",
        "dst_ip=10.0.0.11",
    ]);
    let f = &j["filter"];
    assert_eq!(f["expr"], "dst_ip=10.0.0.11");
    let matched = f["packets_matched"].as_u64().unwrap();
    let filtered = f["packets_filtered"].as_u64().unwrap();
    assert_eq!(
        matched + filtered,
        TOTAL,
        "every packet read is counted once"
    );
    assert!(matched > 6000 && filtered > 20_000, "{f}");
    // Filtered packets are counted nowhere else.
    assert_eq!(j["capture"]["packets"].as_u64(), Some(matched));
    let in_buckets: u64 = j["timeline"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(in_buckets, matched);
    assert!(
        j["flows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|fl| fl["dst_ip"] == "10.0.0.11" || fl["src_ip"] == "10.0.0.11"),
        "only the target's flows"
    );
    for (id, lo, hi) in truth() {
        let want = usize::from(id == "D2");
        assert_eq!(
            overlapping(&j["waves"], lo, hi),
            want,
            "{id} with the filter"
        );
        assert_eq!(overlapping(&all["waves"], lo, hi), 1, "{id} without it");
    }
    // Drafting re-reads the capture through the same filter: the target's replies, which the
    // filter dropped, get no rule, and the flood's rule covers the wave the analysis saw.
    let rules = j["rules"].as_array().unwrap();
    assert!(!rules.is_empty(), "{j}");
    for r in rules {
        for c in r["conditions"].as_array().unwrap() {
            assert!(
                !(c["field"] == "src_ip" && c["value"] == "10.0.0.11"),
                "a rule on filtered-out traffic: {r}"
            );
        }
    }
    let cover = rules[0]["coverage"].as_f64().unwrap();
    assert!(cover >= 0.95, "{}", rules[0]);
}

#[test]
fn conditions_join_with_and_and_stdin_filters_the_same() {
    let a = report_json(&[
        "report",
        DEMO,
        "--format",
        "json",
        "--filter",
        "proto=17 dst_port=53",
    ]);
    let out = holoscope_stdin(
        &[
            "report",
            "-",
            "--format",
            "json",
            "--filter",
            "proto=17 and dst_port=53",
        ],
        std::path::Path::new(DEMO),
    );
    assert!(out.status.success());
    let b: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        a["filter"]["packets_matched"],
        b["filter"]["packets_matched"]
    );
    assert_eq!(a["timeline"], b["timeline"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("kept"));
    // Every kept flow is UDP to or from port 53.
    for fl in a["flows"].as_array().unwrap() {
        assert_eq!(fl["proto"], 17, "{fl}");
    }
}

#[test]
fn bad_expression_is_one_line_and_exit_2() {
    for bad in ["nosuch=1", "dst_port=99999", "proto", "", "dst_port=80 and"] {
        let out = holoscope(&["report", DEMO, "--filter", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{bad:?}: {err}");
        assert!(err.contains("--filter"), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[cfg(feature = "shell")]
#[test]
fn shell_filters_before_its_commands_run() {
    let d = tempfile::tempdir().unwrap();
    let script = d.path().join("cmds");
    std::fs::write(&script, "waves\n").unwrap();
    let run = |filter: &str| {
        let out = holoscope(&[
            "shell",
            DEMO,
            "--filter",
            filter,
            "--commands",
            script.to_str().unwrap(),
        ]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run("dst_ip=10.0.0.11");
    assert_eq!(code, Some(0));
    assert!(out.contains("waves (1)"), "{out}");
    assert!(out.contains("8080"), "the SYN flood's port: {out}");
    assert_eq!(run("nosuch=1").0, Some(2));
}
