//! Every export format checked by its real tool (nft, iptables-restore, ip6tables-restore,
//! suricata, tcpdump, tshark), for ordinary rules and for rules whose text values carry
//! injection payloads. A missing tool is a skip with a message, except under CI (env `CI`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::have;

use holoscope::decode::Field;
use holoscope::rules::{ExportFormat, Op, Rule, Who, export};
use holoscope::text::Untrusted;
use std::path::Path;
use std::process::Command;

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn run(cmd: &mut Command) -> (bool, String) {
    let o = cmd.output().expect("spawn validator");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

/// Runs a privileged validator directly as root, else inside a user+network namespace.
fn privileged(args: &[&str]) -> Command {
    if is_root() {
        let mut c = Command::new(args[0]);
        c.args(&args[1..]);
        c
    } else {
        let mut c = Command::new("unshare");
        c.arg("-rn").args(args);
        c
    }
}

fn rules(lines: &[&str]) -> Vec<Rule> {
    lines
        .iter()
        .map(|l| {
            let mut r: Rule = l.parse().unwrap_or_else(|e| panic!("{l}: {e}"));
            r.accept(Who::Analyst);
            r
        })
        .collect()
}

fn ordinary() -> Vec<Rule> {
    rules(&[
        "R1 drop when proto=6 dst_ip=10.10.10.10 dst_port=25565 tcp_flags&SA=S priority=200",
        "R2 rate-limit 2000/s when proto=17 src_port=53 dns_size>300 priority=150",
        "R3 alert when src_ip=2001:db8::/32 proto=17 dst_port=123 ntp_size>400",
        "R4 drop when src_ip=10.0.0.1,10.0.0.2 ttl=64 df=1 ip_len=40..1500",
        "R5 drop when ttl>200 proto=1 icmp_type=8",
        "R6 rate-limit 100/s when proto=6 tcp_flags=S dst_port=80,443 payload_len<10",
        "R7 drop when proto=17 payload_len>1000 src_port=1024..65535",
        "R8 alert when dns_qname=\"evil.example\" src_port=53 proto=17",
        "R9 drop when src_mac=aa:bb:cc:dd:ee:ff dst_port>1023 proto=6",
        "R10 alert when ip_version=6 dst_ip=fe80::/10 tcp_window=0 proto=6",
        "R11 drop when tls_sni=\"x.example\" proto=6 dst_port=443",
        "R12 drop when http_host=\"www.example.com\" http_path=\"/index.html\" proto=6",
        "R13 drop when ttl<5 ip_len>1000",
        "R14 drop when src_ip=192.0.2.1,2001:db8::1 dst_port=53 proto=17 payload_len=0..512",
        "R15 drop when proto=6 tcp_flags=S,SA dst_port<1024",
        "R16 rate-limit 500/s when proto=17 src_port=53 src_ip=198.51.100.7 priority=210",
        "R17 alert when dns_qname=*.t.cdn-stats.example proto=17",
        "R18 drop when tls_sni=*.c2_x-1.example proto=6 dst_port=443",
    ])
}

/// Hostile bytes that must never reach a rule file raw.
const EVIL: &[u8] = b"a\"; drop }{ \\ x\n\r'`$(id)|;\x1b]0;x\x07\xc2\x9b\x9b\xff\x00z";

fn hostile() -> Vec<Rule> {
    let text_fields = [
        Field::DnsQname,
        Field::TlsSni,
        Field::TlsAlpn,
        Field::HttpMethod,
        Field::HttpHost,
        Field::HttpPath,
        Field::HttpUserAgent,
    ];
    let mut out = Vec::new();
    for (i, f) in text_fields.iter().enumerate() {
        let mut r: Rule = format!("R{} drop when proto=6 dst_port=80", 100 + i)
            .parse()
            .unwrap();
        r.def.conditions.push(
            holoscope::rules::Condition::new(
                *f,
                Op::Eq(holoscope::decode::Value::Text(Untrusted::new(EVIL))),
            )
            .unwrap(),
        );
        r.accept(Who::Analyst);
        out.push(r);
    }
    out
}

/// No control byte other than newline/tab, nothing outside ASCII, and no injection fragment.
fn assert_clean(format: ExportFormat, s: &str) {
    for (i, b) in s.bytes().enumerate() {
        assert!(
            b == b'\n' || b == b'\t' || (0x20..0x7f).contains(&b),
            "{format:?}: raw byte {b:#04x} at {i}"
        );
    }
    for frag in ["drop }{", "$(id)", "\"; drop", "]0;x"] {
        assert!(
            !s.contains(frag),
            "{format:?}: injection fragment {frag:?} survived:\n{s}"
        );
    }
}

fn write(dir: &Path, name: &str, s: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, s).unwrap();
    p.to_str().unwrap().to_string()
}

fn expr_lines(s: &str) -> Vec<&str> {
    s.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with(";;") && !l.trim().is_empty())
        .collect()
}

fn validate_all(set: &[Rule], label: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for &format in ExportFormat::ALL {
        let s = export(format, set).unwrap();
        assert_clean(format, &s);
        match format {
            ExportFormat::Nft if have("nft") => {
                let f = write(d, "rules.nft", &s);
                let (ok, out) = run(&mut privileged(&["nft", "-c", "-f", &f]));
                assert!(ok, "{label}: nft rejected:\n{out}\n{s}");
            }
            ExportFormat::Iptables if have("iptables-restore") => {
                let f = write(d, "rules.ipt", &s);
                let (ok, out) = run(&mut privileged(&["iptables-restore", "--test", &f]));
                assert!(ok, "{label}: iptables-restore rejected:\n{out}\n{s}");
            }
            ExportFormat::Ip6tables if have("ip6tables-restore") => {
                let f = write(d, "rules.ip6t", &s);
                let (ok, out) = run(&mut privileged(&["ip6tables-restore", "--test", &f]));
                assert!(ok, "{label}: ip6tables-restore rejected:\n{out}\n{s}");
            }
            ExportFormat::Suricata if have("suricata") => {
                let f = write(d, "rules.rules", &s);
                let yaml = write(d, "suricata.yaml", SURICATA_YAML);
                let log = d.join("log");
                std::fs::create_dir_all(&log).unwrap();
                let (ok, out) = run(Command::new("suricata").args([
                    "-T",
                    "-c",
                    &yaml,
                    "-S",
                    &f,
                    "-l",
                    log.to_str().unwrap(),
                ]));
                assert!(ok, "{label}: suricata rejected:\n{out}\n{s}");
                // Suricata skips bad rules with only a warning unless told otherwise: be strict.
                assert!(
                    !out.contains("error parsing signature"),
                    "{label}: {out}\n{s}"
                );
            }
            ExportFormat::Bpf if have("tcpdump") => {
                for e in expr_lines(&s) {
                    let (ok, out) = run(Command::new("tcpdump").args(["-d", "-y", "EN10MB", e]));
                    assert!(ok, "{label}: tcpdump rejected {e}:\n{out}");
                }
            }
            ExportFormat::Wireshark if have("tshark") => {
                let pcap = d.join("empty.pcap");
                std::fs::write(&pcap, EMPTY_PCAP).unwrap();
                for e in expr_lines(&s) {
                    let (ok, out) =
                        run(Command::new("tshark").args(["-r", pcap.to_str().unwrap(), "-Y", e]));
                    assert!(ok, "{label}: tshark rejected {e}:\n{out}");
                }
            }
            _ => {}
        }
    }
}

/// Minimal configuration: the default one may load rule files of the distribution.
const SURICATA_YAML: &str = "%YAML 1.1\n---\nvars:\n  address-groups:\n    HOME_NET: \"any\"\n    EXTERNAL_NET: \"any\"\n  port-groups:\n    HTTP_PORTS: \"80\"\napp-layer:\n  protocols:\n    dns:\n      enabled: yes\n    tls:\n      enabled: yes\n    http:\n      enabled: yes\ndefault-rule-path: .\nrule-files: []\nlogging:\n  outputs:\n    - console:\n        enabled: yes\n";

/// A pcap global header (little endian, v2.4, snaplen 65535, Ethernet) and no packets.
const EMPTY_PCAP: &[u8] = &[
    0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
];

#[test]
fn ordinary_rules_pass_every_validator() {
    validate_all(&ordinary(), "ordinary");
}

#[test]
fn hostile_text_is_escaped_or_refused_and_validators_accept() {
    let set = hostile();
    validate_all(&set, "hostile");
    // Suricata and Wireshark can express exact text: they must, escaped.
    let sur = export(ExportFormat::Suricata, &set).unwrap();
    assert!(
        sur.contains("dns.query; content:\"a|22 3B 20|drop|20 7D 7B 20 5C 20|x|0A 0D"),
        "{sur}"
    );
    let ws = export(ExportFormat::Wireshark, &set).unwrap();
    assert!(
        ws.contains("dns.qry.name == \"a\\x22\\x3b\\x20drop"),
        "{ws}"
    );
    // The others refuse with a comment that names the field, not the bytes.
    let nft = export(ExportFormat::Nft, &set).unwrap();
    assert!(
        nft.contains("# R100 not exported: dns_qname: nftables cannot match packet text"),
        "{nft}"
    );
    for f in [ExportFormat::Iptables, ExportFormat::Bpf, ExportFormat::Edn] {
        let s = export(f, &set).unwrap();
        assert!(s.contains("R100 not exported: dns_qname"), "{f:?}: {s}");
        assert!(expr_lines(&s).iter().all(|l| !l.contains("dns")), "{f:?}");
    }
}

#[test]
fn rate_limits_are_expressed_per_format() {
    let set = ordinary();
    let has = |f, needle: &str| {
        let s = export(f, &set).unwrap();
        assert!(s.contains(needle), "{f:?} lacks {needle:?}:\n{s}");
    };
    has(
        ExportFormat::Nft,
        "limit rate over 2000/second counter drop comment \"R2\"",
    );
    has(
        ExportFormat::Iptables,
        "-m hashlimit --hashlimit-above 2000/sec --hashlimit-name holo-R2 -j DROP",
    );
    has(
        ExportFormat::Suricata,
        "detection_filter:track by_dst, count 2000, seconds 1",
    );
    has(
        ExportFormat::Edn,
        ":actions [(rate-limit 500)] :priority 210",
    );
    has(
        ExportFormat::Bpf,
        "# R2 rate-limit 2000/s priority=150 (match-only)",
    );
    has(ExportFormat::Wireshark, "(match-only)");
}

#[test]
fn suricata_sids_are_unique_and_in_range() {
    let s = export(ExportFormat::Suricata, &ordinary()).unwrap();
    let sids: Vec<u32> = s
        .split("sid:")
        .skip(1)
        .map(|t| t.split(';').next().unwrap().parse().unwrap())
        .collect();
    let mut uniq = sids.clone();
    uniq.sort_unstable();
    uniq.dedup();
    assert_eq!(uniq.len(), sids.len());
    assert!(sids.iter().all(|s| (9_100_000..=9_999_999).contains(s)));
    assert!(sids.contains(&9_100_001));
}

/// A one-of set iptables or Suricata cannot hold in one rule (the scan's `tcp_flags=S,RA`) is
/// written as one rule per value, each accepted by the real tools; a rate limit's iptables
/// lines share one hashlimit bucket; Suricata numbers the further parts in their own sid
/// blocks and never writes a sid twice, and reads `ip_len` from each family's header.
#[test]
fn one_of_sets_without_a_native_form_become_one_rule_per_value() {
    let set = rules(&[
        "R1 drop when src_ip=10.0.0.10,10.0.0.66 tcp_flags=S,RA proto=6 dst_ip=10.0.0.10,10.0.0.66",
        "R2 rate-limit 10/s when tcp_flags=S,A,SA src_mac=00:1b:21:3a:9c:01,00:25:90:4e:01:0b proto=6",
        "R3 drop when proto=1 icmp_type=0,3,5,8,11 ttl=1,2",
        "R100001 drop when proto=6 dst_port=22",
        "R4 drop when ip_len=100..200 src_ip=10.0.0.1",
        "R5 alert when ip_len>1000 dst_ip=2001:db8::1",
        "R6 drop when ip_len<60 proto=17",
        "R7 drop when proto=6,17 tcp_flags=S dst_port=80",
    ]);
    validate_all(&set, "split");
    let ipt = export(ExportFormat::Iptables, &set).unwrap();
    let lines = |s: &str, id: &str| -> Vec<String> {
        let tag = format!("\"holoscope {id}\"");
        let cmt = format!("--comment \"{id}\"");
        s.lines()
            .filter(|l| !l.starts_with('#') && (l.contains(&tag) || l.contains(&cmt)))
            .map(str::to_owned)
            .collect()
    };
    let r1 = lines(&ipt, "R1");
    assert_eq!(r1.len(), 2, "{ipt}");
    assert!(r1[0].contains("--tcp-flags ALL SYN "), "{ipt}");
    assert!(r1[1].contains("--tcp-flags ALL RST,ACK "), "{ipt}");
    assert!(ipt.contains("# R1 is written as 2 rules"), "{ipt}");
    let r2 = lines(&ipt, "R2");
    assert_eq!(r2.len(), 6, "{ipt}");
    assert!(
        r2.iter().all(|l| l.contains("--hashlimit-name holo-R2 ")),
        "{ipt}"
    );
    // 10 parts: more than a format may write for one rule.
    assert!(
        ipt.contains("# R3 not exported: ttl: this format has no one-of set"),
        "{ipt}"
    );
    let sur = export(ExportFormat::Suricata, &set).unwrap();
    let r1 = lines(&sur, "R1");
    assert_eq!(r1.len(), 2, "{sur}");
    assert!(r1[0].contains("flags:S; sid:9100001;"), "{sur}");
    assert!(r1[1].contains("flags:RA; sid:9200001;"), "{sur}");
    // ip_len: read from the family's header (IPv6: payload length, 40 less), once per
    // family when the addresses leave it open.
    assert!(
        sur.contains("ipv4.hdr; byte_test:2,>=,100,2; byte_test:2,<=,200,2; sid:9100004;"),
        "{sur}"
    );
    assert!(
        sur.contains("ipv6.hdr; byte_test:2,>,960,4; sid:9100005;"),
        "{sur}"
    );
    let r6 = lines(&sur, "R6");
    assert_eq!(r6.len(), 2, "{sur}");
    assert!(
        r6[0].contains("ipv4.hdr; byte_test:2,<,60,2; sid:9100006;"),
        "{sur}"
    );
    assert!(
        r6[1].contains("ipv6.hdr; byte_test:2,<,20,4; sid:9200006;"),
        "{sur}"
    );
    // The part proto=17 of a rule on TCP flags matches nothing: only the TCP rule is written.
    let r7 = lines(&sur, "R7");
    assert_eq!(r7.len(), 1, "{sur}");
    assert!(r7[0].starts_with("drop tcp any any -> any 80 ("), "{sur}");
    assert!(!sur.contains("# R7 is written as"), "{sur}");
    // nft: the same narrowing (a protocol set beside `tcp flags` is a conflict to nft).
    let nft = export(ExportFormat::Nft, &set).unwrap();
    let r7 = nft.lines().find(|l| l.contains("comment \"R7\"")).unwrap();
    assert!(
        r7.contains("meta l4proto 6 tcp flags == 0x2") && !r7.contains("udp"),
        "{nft}"
    );
    // A field Suricata cannot match at all is refused for what it is, not split first.
    assert!(
        sur.contains("# R2 not exported: src_mac: no Suricata equivalent"),
        "{sur}"
    );
    // R100001's own sid is R1's second part's: refused, the file stays loadable.
    assert!(
        sur.contains("# R100001 not exported: its sid is already used"),
        "{sur}"
    );
}

#[test]
fn names_under_a_domain_are_matched_by_content_formats_and_refused_by_the_others() {
    let set = rules(&[
        "R17 alert when dns_qname=*.t.cdn-stats.example proto=17",
        "R18 drop when tls_sni=*.c2_x-1.example proto=6 dst_port=443",
    ]);
    validate_all(&set, "subdomain");
    let sur = export(ExportFormat::Suricata, &set).unwrap();
    assert!(
        sur.contains("dns.query; content:\".t.cdn-stats.example\"; endswith; nocase;"),
        "{sur}"
    );
    assert!(
        sur.contains("tls.sni; content:\".c2_x-1.example\"; endswith; nocase;"),
        "{sur}"
    );
    let ws = export(ExportFormat::Wireshark, &set).unwrap();
    assert!(
        ws.contains("dns.qry.name matches \"[.]t[.]cdn-stats[.]example$\""),
        "{ws}"
    );
    for f in [
        ExportFormat::Nft,
        ExportFormat::Iptables,
        ExportFormat::Bpf,
        ExportFormat::Edn,
    ] {
        let s = export(f, &set).unwrap();
        assert!(s.contains("R17 not exported: dns_qname"), "{f:?}: {s}");
        assert!(s.contains("R18 not exported: tls_sni"), "{f:?}: {s}");
    }
    // RON keeps the operator and reads it back.
    let ron = export(ExportFormat::Ron, &set).unwrap();
    let back = holoscope::rules::import_ron(&ron).unwrap();
    assert_eq!(back[0].def, set[0].def);
    assert_eq!(back[1].def, set[1].def);
    // Wireshark's `matches` is case-blind: on the sample, the filter keeps exactly the
    // packets holoscope's matcher does (the tunnel's queries and the resolver's replies).
    if have("tshark") {
        let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/demo.pcap");
        let e = expr_lines(&ws)
            .into_iter()
            .find(|l| l.contains("dns.qry.name"))
            .unwrap()
            .to_string();
        let tshark = common::tshark_count(Path::new(demo), Some(&e));
        let mut src = holoscope::capture::open(Path::new(demo)).unwrap();
        let mut ours = 0;
        while let Some(raw) = src.next_packet().unwrap() {
            let p = holoscope::decode::decode(&raw);
            ours += usize::from(set[0].matches(&p));
        }
        assert!(ours > 100, "{ours}");
        assert_eq!(tshark, ours);
    }
}
