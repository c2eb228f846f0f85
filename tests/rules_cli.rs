//! `holoscope rules`: every format, `--accept` subsets, `-o`, a bad id; the report's `rules`
//! JSON; and drafted rules from a capture full of hostile text, checked by the real validators
//! (a missing validator is a skip with a message, except under CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::have;

use holoscope::rules::{ExportFormat, Op, Status, import_ron};
use std::path::Path;
use std::process::Command;

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/demo.pcap");

fn rules(args: &[&str]) -> std::process::Output {
    let mut all = vec!["rules"];
    all.extend_from_slice(args);
    common::holoscope(&all)
}

fn stdout(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn every_format_accept_subsets_output_file_and_bad_id() {
    for f in ExportFormat::ALL {
        let text = stdout(&rules(&[DEMO, "--format", f.name()]));
        if *f == ExportFormat::Ron {
            assert!(!import_ron(&text).unwrap().is_empty());
        } else {
            assert!(text.contains("R1"), "{}: {text}", f.name());
        }
    }
    // No --accept: every draft, as drafts.
    let all = import_ron(&stdout(&rules(&[DEMO, "--format", "ron"]))).unwrap();
    assert!(all.len() >= 3, "demo has four waves: {all:?}");
    assert!(all.iter().all(|r| r.status() == Status::Draft));
    let acc = import_ron(&stdout(&rules(&[
        DEMO, "--format", "ron", "--accept", "all",
    ])))
    .unwrap();
    assert_eq!(acc.len(), all.len());
    assert!(acc.iter().all(|r| r.status() == Status::Accepted));
    let some = import_ron(&stdout(&rules(&[
        DEMO, "--format", "ron", "--accept", "R1,R3",
    ])))
    .unwrap();
    let ids: Vec<String> = some.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(ids, ["R1", "R3"]);
    assert!(some.iter().all(|r| r.status() == Status::Accepted));
    // -o writes the file and nothing to stdout.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rules.bpf");
    let o = rules(&[
        DEMO,
        "--format",
        "bpf",
        "--accept",
        "R2",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(stdout(&o).is_empty());
    let file = std::fs::read_to_string(&out).unwrap();
    assert!(file.contains("# R2 ") && !file.contains("# R1 "), "{file}");
    // An unknown id is bad input (exit 2) naming the id and the drafted ones.
    let o = rules(&[DEMO, "--format", "nft", "--accept", "R1,R99"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("R99") && err.contains("R1"), "{err}");
    let o = rules(&[DEMO, "--format", "pf"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn report_json_has_rules() {
    let o = common::holoscope(&["report", DEMO, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows = v["rules"].as_array().unwrap();
    assert!(rows.len() >= 3, "{rows:?}");
    for r in rows {
        for k in [
            "id",
            "wave",
            "status",
            "action",
            "rate_pps",
            "conditions",
            "coverage",
            "collateral",
            "explanation",
        ] {
            assert!(r.get(k).is_some(), "missing {k}: {r}");
        }
        assert_eq!(r["status"], "draft");
        let conds = r["conditions"].as_array().unwrap();
        assert!(!conds.is_empty());
        for c in conds {
            assert!(c["field"].is_string() && c["op"].is_string() && c["value"].is_string());
        }
        let cov = r["coverage"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&cov));
        match r["action"].as_str().unwrap() {
            "rate_limit" => assert!(r["rate_pps"].as_u64().unwrap() >= 1),
            _ => assert!(r["rate_pps"].is_null()),
        }
    }
    // The demo's spoofed SYN flood (D2) is rate limited, not listed by address.
    assert!(
        rows.iter().any(|r| r["action"] == "rate_limit"
            && r["explanation"].as_str().unwrap().contains("spoofed")),
        "{rows:?}"
    );
    // Text and Markdown show the rules too.
    let t = stdout(&common::holoscope(&["report", DEMO, "--format", "text"]));
    assert!(t.contains("\nrules (") && t.contains("R1 "), "{t}");
    let m = stdout(&common::holoscope(&[
        "report", DEMO, "--format", "markdown",
    ]));
    assert!(m.contains("## Rules ("), "{m}");
}

fn check(cmd: &mut Command, what: &str, text: &str) {
    let o = cmd.output().unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{what} rejected:\n{out}\n{text}");
    assert!(!out.contains("error parsing signature"), "{what}: {out}");
}

fn privileged(args: &[&str]) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let mut c = Command::new(if root { args[0] } else { "unshare" });
    if root {
        c.args(&args[1..]);
    } else {
        c.arg("-rn").args(args);
    }
    c
}

const SURICATA_YAML: &str = "%YAML 1.1\n---\nvars:\n  address-groups:\n    HOME_NET: \"any\"\n    EXTERNAL_NET: \"any\"\n  port-groups:\n    HTTP_PORTS: \"80\"\napp-layer:\n  protocols:\n    dns:\n      enabled: yes\n    tls:\n      enabled: yes\n    http:\n      enabled: yes\ndefault-rule-path: .\nrule-files: []\nlogging:\n  outputs:\n    - console:\n        enabled: yes\n";

/// Exports the drafts of `pcap` in every format and runs each through its validator; no
/// exported byte may be a control character other than newline and tab.
fn validate_drafts(pcap: &Path, dir: &Path) {
    for f in ExportFormat::ALL {
        let p = pcap.to_str().unwrap();
        let text = stdout(&rules(&[p, "--format", f.name(), "--accept", "all"]));
        assert!(
            !text
                .bytes()
                .any(|b| (b < 0x20 && b != b'\n' && b != b'\t') || b >= 0x7f),
            "{}: raw control or non-ASCII byte:\n{text:?}",
            f.name()
        );
        let file = dir.join(format!("rules.{}", f.name()));
        std::fs::write(&file, &text).unwrap();
        let fp = file.to_str().unwrap();
        let exprs = || {
            text.lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        match f {
            ExportFormat::Nft if have("nft") => {
                check(&mut privileged(&["nft", "-c", "-f", fp]), "nft", &text);
            }
            ExportFormat::Iptables if have("iptables-restore") => check(
                &mut privileged(&["iptables-restore", "--test", fp]),
                "iptables-restore",
                &text,
            ),
            ExportFormat::Ip6tables if have("ip6tables-restore") => check(
                &mut privileged(&["ip6tables-restore", "--test", fp]),
                "ip6tables-restore",
                &text,
            ),
            ExportFormat::Suricata if have("suricata") => {
                let yaml = dir.join("suricata.yaml");
                std::fs::write(&yaml, SURICATA_YAML).unwrap();
                let log = dir.join("log");
                std::fs::create_dir_all(&log).unwrap();
                check(
                    Command::new("suricata").args([
                        "-T",
                        "-c",
                        yaml.to_str().unwrap(),
                        "-S",
                        fp,
                        "-l",
                        log.to_str().unwrap(),
                    ]),
                    "suricata",
                    &text,
                );
            }
            ExportFormat::Bpf if have("tcpdump") => {
                for e in exprs() {
                    check(
                        Command::new("tcpdump").args(["-d", "-y", "EN10MB", &e]),
                        "tcpdump",
                        &e,
                    );
                }
            }
            ExportFormat::Wireshark if have("tshark") => {
                for e in exprs() {
                    check(
                        Command::new("tshark").args(["-n", "-r", p, "-c", "1", "-Y", &e]),
                        "tshark",
                        &e,
                    );
                }
            }
            ExportFormat::Ron => {
                assert!(!import_ron(&text).unwrap().is_empty() || text.contains("rules: []"));
            }
            _ => {}
        }
    }
}

#[test]
fn hostile_text_captures_give_clean_valid_rule_files() {
    let dir = tempfile::tempdir().unwrap();
    // The shipped hostile sample (`sample --hostile`: hostile text, no waves)...
    let hostile = dir.path().join("hostile.pcap");
    let o = common::holoscope(&["sample", "--hostile", "-o", hostile.to_str().unwrap()]);
    assert!(o.status.success());
    validate_drafts(&hostile, dir.path());
    // ...and the demo's four waves with every DNS name, SNI, Host, path and user agent made
    // hostile (quotes, semicolons, braces, newlines, terminal escapes), so drafts exist.
    // A fifth wave, an HTTP flood whose tool user agent is itself hostile, gets a drafted
    // text rule: the injection check then covers packet text chosen by the drafter.
    let waves = dir.path().join("hostile_waves.pcap");
    let mut cfg = holoscope::sample::SampleConfig {
        hostile_text: true,
        ..holoscope::sample::SampleConfig::demo()
    };
    cfg.waves.push(holoscope::sample::WaveSpec {
        kind: holoscope::sample::WaveKind::HttpFlood,
        start_secs: 215.0,
        duration_secs: 10.0,
        rate: 60.0,
    });
    let mut w = std::io::BufWriter::new(std::fs::File::create(&waves).unwrap());
    holoscope::sample::write_sample(&cfg, &mut w).unwrap();
    drop(w);
    let ron = stdout(&rules(&[waves.to_str().unwrap(), "--format", "ron"]));
    let drafted = import_ron(&ron).unwrap();
    assert!(drafted.len() >= 3, "{ron}");
    let agent = drafted
        .iter()
        .flat_map(|r| &r.def.conditions)
        .find(|c| c.field == holoscope::decode::Field::HttpUserAgent)
        .expect("a text rule on the flood's user agent");
    assert!(
        matches!(&agent.op, Op::Eq(holoscope::decode::Value::Text(t)) if t.as_bytes().contains(&0x1b)),
        "{agent:?}"
    );
    let suricata = stdout(&rules(&[waves.to_str().unwrap(), "--format", "suricata"]));
    assert!(suricata.contains("http.user_agent; content:"), "{suricata}");
    let bpf = stdout(&rules(&[waves.to_str().unwrap(), "--format", "bpf"]));
    assert!(bpf.contains("BPF cannot match packet text"), "{bpf}");
    validate_drafts(&waves, dir.path());
}
