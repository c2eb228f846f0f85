//! Suricata, run on a capture, alerts on exactly the traffic holoscope's own matcher says each
//! exported rule matches. The rules are the drafts of the sample and of three eval captures,
//! exported as alerts (so a rate limit reports every match), among them rules Suricata writes
//! as several: one-of TCP flag sets, and `ip_len` read from each family's header buffer.
//!
//! Suricata inspects a rule made of addresses and ports alone once per flow direction (its
//! "IP-only" treatment, `ip_proto` included; a `drop` then drops the rest of the flow too),
//! and a rule with a packet keyword (`flags`, `byte_test`, `dsize`...) on every packet. So the test compares, per rule,
//! the set of directed (protocol, source, port, destination, port) tuples that alerted with the
//! set holoscope matches, and for packet-keyword rules also the number of packets. Rules on
//! packet text are left out: Suricata matches them per transaction. Skipped when suricata or
//! editcap is missing outside CI (in CI, where `.ci/run` installs them, that fails).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{analyze_keeping as analyze, have};
use holoscope::rules::export::{ExportFormat, export};
use holoscope::rules::model::{Action, Kind, Rule, kind};
use holoscope::rules::{draft_for, export::suricata::SID_BASE};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Writes fast.log alerts; no other output, no rule files of the distribution.
const YAML: &str = "%YAML 1.1\n---\nvars:\n  address-groups:\n    HOME_NET: \"any\"\n    EXTERNAL_NET: \"any\"\n  port-groups:\n    HTTP_PORTS: \"80\"\ndefault-rule-path: .\nrule-files: []\noutputs:\n  - fast:\n      enabled: yes\n      filename: fast.log\nlogging:\n  outputs:\n    - console:\n        enabled: yes\n";

/// A directed flow as fast.log prints it: `UDP 10.0.0.2:53 -> 10.0.0.77:39454` (ports only
/// for TCP and UDP).
type Tuple = String;

fn tuple(proto: &str, src: &str, sport: &str, dst: &str, dport: &str) -> Tuple {
    // Suricata writes IPv6 addresses uncompressed: compare addresses, not spellings.
    let canon = |a: &str| {
        a.parse::<std::net::IpAddr>()
            .map_or(a.to_string(), |a| a.to_string())
    };
    let (src, dst) = (canon(src), canon(dst));
    if matches!(proto, "TCP" | "UDP") {
        format!("{proto} {src}:{sport} -> {dst}:{dport}")
    } else {
        format!("{proto} {src} -> {dst}")
    }
}

/// The tuple of a decoded packet, in fast.log's terms.
fn packet_tuple(p: &holoscope::decode::Packet) -> Tuple {
    let proto = match p.proto {
        Some(6) => "TCP".to_string(),
        Some(17) => "UDP".to_string(),
        Some(1) => "ICMP".to_string(),
        Some(58) => "IPv6-ICMP".to_string(),
        Some(n) => format!("PROTO:{n:03}"),
        None => "?".to_string(),
    };
    let s = |v: Option<std::net::IpAddr>| v.map(|a| a.to_string()).unwrap_or_default();
    let n = |v: Option<u16>| v.map(|a| a.to_string()).unwrap_or_default();
    tuple(
        &proto,
        &s(p.src_ip),
        &n(p.src_port),
        &s(p.dst_ip),
        &n(p.dst_port),
    )
}

/// Per rule id (`R3`): alerts, and the tuples that alerted, from Suricata's fast.log after
/// reading `capture`.
fn suricata_alerts(
    capture: &Path,
    rules: &str,
    dir: &Path,
) -> BTreeMap<String, (usize, BTreeSet<Tuple>)> {
    // libpcap (Suricata's reader) refuses the splices' pcapng: hand it a classic pcap copy.
    let converted;
    let capture = if capture.extension().is_some_and(|e| e == "pcapng") {
        converted = common::classic_pcap(capture, dir);
        converted.as_path()
    } else {
        capture
    };
    let rules_file = dir.join("holoscope.rules");
    std::fs::write(&rules_file, rules).unwrap();
    let yaml = dir.join("suricata.yaml");
    std::fs::write(&yaml, YAML).unwrap();
    let log = dir.join("log");
    std::fs::create_dir_all(&log).unwrap();
    let out = Command::new("timeout")
        .arg("120")
        .arg("suricata")
        .args([
            "-c",
            yaml.to_str().unwrap(),
            "-S",
            rules_file.to_str().unwrap(),
        ])
        .args(["-r", capture.to_str().unwrap(), "-l", log.to_str().unwrap()])
        .args(["-k", "none", "--runmode", "single"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "suricata failed:\n{text}");
    assert!(!text.contains("error parsing signature"), "{text}\n{rules}");
    let mut got = BTreeMap::new();
    for l in std::fs::read_to_string(log.join("fast.log"))
        .unwrap_or_default()
        .lines()
    {
        // `... [**] [1:9200001:1] holoscope R1 [**] ... {TCP} 10.0.0.66:4001 -> 10.0.0.10:22`
        let id = l
            .split("] holoscope ")
            .nth(1)
            .and_then(|t| t.split_whitespace().next())
            .unwrap();
        let flow = l.rsplit_once(" {").unwrap().1;
        let (proto, rest) = flow.split_once("} ").unwrap();
        let (src, dst) = rest.split_once(" -> ").unwrap();
        let (src, sport) = src.rsplit_once(':').unwrap();
        let (dst, dport) = dst.rsplit_once(':').unwrap();
        let e = got.entry(id.to_string()).or_insert((0, BTreeSet::new()));
        e.0 += 1;
        e.1.insert(tuple(proto, src, sport, dst, dport));
    }
    got
}

#[test]
fn suricata_alerts_on_exactly_the_packets_the_rules_match() {
    if !have("suricata") || !have("timeout") || !have("editcap") {
        return;
    }
    let mut captures = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/demo.pcap")];
    for name in [
        "lab_E.pcap",
        "splice_lan_synflood_scan.pcapng",
        "splice_lan_bruteforce_smurf.pcapng",
    ] {
        captures.extend(common::shared(&format!("eval/{name}")));
    }
    let (mut compared, mut counted, mut split) = (0, 0, 0);
    for path in &captures {
        let a = analyze(path);
        let rules: Vec<Rule> = draft_for(&a, path)
            .unwrap()
            .into_iter()
            .map(|d| d.rule)
            .filter(|r| r.def.conditions.iter().all(|c| kind(c.field) != Kind::Text))
            .map(|mut r| {
                r.def.action = Action::Alert;
                r
            })
            .collect();
        let file = export(ExportFormat::Suricata, &rules).unwrap();
        split += file.matches(" is written as ").count();
        let dir = tempfile::tempdir().unwrap();
        let got = suricata_alerts(path, &file, dir.path());
        let kept = a.packets.as_ref().unwrap();
        for r in &rules {
            let sid = format!("sid:{};", SID_BASE + r.id.0);
            let Some(line) = file
                .lines()
                .find(|l| !l.starts_with('#') && l.contains(&sid))
            else {
                continue; // refused (src_mac has no Suricata keyword)
            };
            let matched: Vec<_> = kept.iter().filter(|p| r.matches(p)).collect();
            assert!(
                !matched.is_empty(),
                "{}: {} matches nothing",
                path.display(),
                r.id
            );
            let want: BTreeSet<Tuple> = matched.iter().map(|p| packet_tuple(p)).collect();
            let empty = (0, BTreeSet::new());
            let (n, tuples) = got.get(&r.id.to_string()).unwrap_or(&empty);
            let ctx = || format!("{}: {r}\n{file}", path.display());
            let only_suricata: Vec<_> = tuples.difference(&want).collect();
            let only_holoscope: Vec<_> = want.difference(tuples).collect();
            assert!(
                only_suricata.is_empty() && only_holoscope.is_empty(),
                "{}\nonly Suricata alerted: {only_suricata:?}\nonly holoscope matched: \
                 {only_holoscope:?}",
                ctx()
            );
            // A packet keyword makes it a packet rule, inspected every packet (`ip_proto`
            // does not: an ICMP flood's rule alerts once per direction).
            let packet_keywords = [
                "flags:",
                "byte_test:",
                "dsize:",
                "ttl:",
                "itype:",
                "window:",
            ];
            if packet_keywords.iter().any(|k| line.contains(k)) {
                assert_eq!(*n, matched.len(), "{}", ctx());
                counted += 1;
            }
            compared += 1;
        }
    }
    eprintln!(
        "{compared} rules compared, {counted} of them packet by packet, {split} written as several"
    );
    assert!(compared >= 8, "only {compared} rules compared");
    assert!(
        counted >= 3,
        "only {counted} rules compared packet by packet"
    );
    assert!(split >= 2, "no rule was written as several");
}
