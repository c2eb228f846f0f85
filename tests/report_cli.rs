//! The headless `report` command end to end: JSON contract, bad input, streams.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{holoscope, holoscope_stdin, report_json, shared};

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn json_report_has_the_contract_fields() {
    let Some(p) = shared("captures/benign_mixed_services.pcap") else {
        return;
    };
    let j = report_json(&["report", s(&p), "--format", "json"]);
    let c = &j["capture"];
    for k in [
        "source",
        "format",
        "packets",
        "bytes",
        "first_ts",
        "last_ts",
        "link_types",
        "decoded",
        "warnings",
    ] {
        assert!(!c[k].is_null(), "capture.{k} missing in {c}");
    }
    assert_eq!(c["packets"], 263);
    assert_eq!(c["format"], "pcap");
    assert!(c["first_ts"].as_f64().unwrap() > 1e9, "epoch seconds");
    assert!(c["last_ts"].as_f64() >= c["first_ts"].as_f64());
    assert!(c["decoded"]["ipv4"].as_u64().unwrap() > 0);
    assert!(
        j["flows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["community_id"].as_str().unwrap().starts_with("1:"))
    );
    assert!(!j["entities"].as_array().unwrap().is_empty());
    let total: u64 = j["timeline"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 263);
}

#[test]
fn markdown_and_text_formats_render() {
    let Some(p) = shared("captures/benign_mixed_services.pcap") else {
        return;
    };
    let md = holoscope(&["report", s(&p), "--format", "markdown"]);
    assert!(md.status.success());
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(md.contains("## Flows") && md.contains("| --- |"), "{md}");
    let txt = String::from_utf8(holoscope(&["report", s(&p)]).stdout).unwrap();
    assert!(txt.contains("packets   263"), "{txt}");
}

#[test]
fn not_a_capture_exits_2_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 3] = [
        ("empty.pcap", b"", "empty"),
        ("notes.txt", b"hello, this is text\n", "signature"),
        ("zeros.pcap", &[0u8; 4096], "signature"),
    ];
    for (name, bytes, needle) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        // The TUI (`holoscope FILE`) refuses it the same way before taking the terminal;
        // before, it opened and only its status bar said so.
        for args in [&["report", s(&p)][..], &[s(&p)][..]] {
            let out = holoscope(args);
            assert_eq!(out.status.code(), Some(2), "{name} {args:?}");
            let err = String::from_utf8(out.stderr).unwrap();
            assert_eq!(err.trim_end().lines().count(), 1, "{name}: {err}");
            assert!(err.contains(name) && err.contains(needle), "{name}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    for args in [
        &["report", "/nonexistent/capture.pcap"][..],
        &["/nonexistent/capture.pcap"][..],
    ] {
        let out = holoscope(args);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("No such file"), "{args:?}: {err}");
    }
    let out = holoscope(&[s(dir.path())]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Is a directory"), "{err}");
}

/// A named pipe (`holoscope report <(tcpdump -w - ...)`) is a stream like standard input:
/// within the keep budget its rules are drafted from the kept packets, past it the report
/// says why there are none. Before, drafting read the drained pipe again and said "not a
/// pcap or pcapng capture (empty file)".
#[cfg(target_os = "linux")]
#[test]
fn pipe_report_drafts_from_kept_packets_or_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fifo) = common::fifo(dir.path(), "cap.fifo") else {
        return;
    };
    let through_pipe = |args: &[&str]| {
        let feeder = common::feed(&fifo, "samples/demo.pcap");
        let mut all = vec!["report", s(&fifo), "--format", "json"];
        all.extend_from_slice(args);
        let out = holoscope(&all);
        feeder.join().unwrap();
        out
    };
    let kept = through_pipe(&[]);
    assert_eq!(kept.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_slice(&kept.stdout).unwrap();
    assert_eq!(j["rules"].as_array().map(Vec::len), Some(6));
    let over = through_pipe(&["--keep-packets", "1000"]);
    assert_eq!(over.status.code(), Some(0));
    let err = String::from_utf8_lossy(&over.stderr);
    assert!(
        err.contains("rules not drafted: a pipe cannot be read again") && err.contains("--write"),
        "{err}"
    );
}

/// The TUI reads its capture again, which a named pipe cannot be: refused at once (opening
/// it would wait for a writer), with the way out.
#[cfg(all(unix, feature = "tui"))]
#[test]
fn tui_on_a_pipe_says_to_save_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fifo) = common::fifo(dir.path(), "cap.fifo") else {
        return;
    };
    let out = holoscope(&[s(&fifo)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a regular file") && err.contains("holoscope report"),
        "{err}"
    );
}

#[test]
fn corrupt_record_keeps_packets_before_the_damage() {
    let Some(p) = shared("captures/fmt_corrupt_record_header.pcap") else {
        return;
    };
    let j = report_json(&["report", s(&p), "--format", "json"]);
    assert_eq!(j["capture"]["packets"], 1);
    let w = j["capture"]["warnings"].as_array().unwrap();
    assert!(
        w.iter()
            .any(|w| w["kind"] == "corrupt" && w["offset"].as_u64().is_some()),
        "{w:?}"
    );
}

#[test]
fn truncated_capture_keeps_packets_before_damage() {
    let Some(p) = shared("captures/benign_mixed_services.pcap") else {
        return;
    };
    let bytes = std::fs::read(&p).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let j = report_json(&["report", s(&cut), "--format", "json"]);
    assert_eq!(j["capture"]["packets"], 262);
    let w = j["capture"]["warnings"].as_array().unwrap();
    assert!(
        w.iter()
            .any(|w| w["kind"] == "truncated" && w["offset"].as_u64().is_some()),
        "{w:?}"
    );
}

#[test]
fn unsupported_link_type_is_counted_not_fatal() {
    let Some(p) = shared("captures/fmt_linktype_unsupported_160.pcap") else {
        return;
    };
    let j = report_json(&["report", s(&p), "--format", "json"]);
    assert_eq!(j["capture"]["packets"], 1);
    assert_eq!(j["capture"]["link_types"]["linktype_160"], 1);
    let w = j["capture"]["warnings"].as_array().unwrap();
    assert!(
        w.iter().any(|w| w["kind"] == "unsupported_link_type"),
        "{w:?}"
    );
}

#[test]
fn stdin_stream_gives_the_same_report_as_the_file() {
    let Some(p) = shared("captures/benign_lan_background_28min.pcapng") else {
        return;
    };
    let from_file = report_json(&["report", s(&p), "--format", "json"]);
    let out = holoscope_stdin(&["report", "-", "--format", "json"], &p);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_stdin: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_stdin["capture"]["packets"], 5898);
    assert_eq!(from_stdin["flows"], from_file["flows"]);
    assert_eq!(from_stdin["entities"], from_file["entities"]);
    assert_eq!(from_stdin["capture"]["source"], "-");
}

#[test]
fn compressed_capture_is_read_as_a_stream() {
    let Some(p) = shared("captures/fmt_pcapng_zstd_compressed.pcapng.zst") else {
        return;
    };
    let j = report_json(&["report", s(&p), "--format", "json"]);
    assert_eq!(j["capture"]["packets"], 159);
    assert_eq!(j["capture"]["compression"], "zstd");
    assert_eq!(j["capture"]["format"], "pcapng");
}

#[test]
fn sample_command_regenerates_the_shipped_sample_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo.pcap");
    let o = holoscope(&["sample", "-o", s(&out)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    for name in ["demo.pcap", "demo.truth.ron", "demo.truth.csv"] {
        let made = std::fs::read(dir.path().join(name)).unwrap();
        let shipped = std::fs::read(root.join(name)).unwrap();
        assert!(made == shipped, "{name} differs from samples/{name}");
    }
}

#[test]
fn report_finds_the_four_waves_of_the_shipped_sample() {
    // Run from the crate root, as the README does.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_holoscope"))
        .args(["report", "samples/demo.pcap", "--format", "json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["capture"]["packets"], 32181);
    assert_eq!(j["waves"].as_array().unwrap().len(), 4, "{}", j["waves"]);
}

/// `holoscope bench` on the shipped sample: every stage with its wall and CPU figures, and the
/// text names the CPU a packet may cost at 1 M packets/s on this machine.
#[test]
fn bench_reports_cpu_per_stage() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/demo.pcap");
    let j = report_json(&["bench", demo, "--format", "json"]);
    let stages: Vec<&str> = j["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "read",
            "decode",
            "timeline",
            "tables",
            "detect",
            "report",
            "snapshots"
        ]
    );
    let cores = j["cores"].as_u64().unwrap();
    assert!(cores >= 1);
    let packets = j["packets"].as_f64().unwrap();
    for s in j["stages"].as_array().unwrap() {
        let cpu = s["cpu_seconds"].as_f64().unwrap();
        let per = s["cpu_us_per_packet"].as_f64().unwrap();
        assert!(cpu >= 0.0, "{s}");
        assert!(
            (per - cpu * 1e6 / packets).abs() < 1e-6 * per.max(1.0),
            "{s}"
        );
    }
    // The whole report decodes every packet and then does far more with it.
    let cpu = |i: usize| j["stages"][i]["cpu_seconds"].as_f64().unwrap();
    assert!(cpu(5) > cpu(1), "report {} vs decode {}", cpu(5), cpu(1));

    let out = holoscope(&["bench", demo]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("CPU us/packet"), "{text}");
    let budget = format!("1 M packets/s on {cores} cores allows {cores}.00 us of CPU per packet");
    assert!(text.contains(&budget), "{text}");
}

/// Standard input cannot be read twice, so `report -` drafts its rules from the packets the
/// analysis kept (the same rules as the file), from the `--write` copy when it kept none, and
/// otherwise says why there are none instead of failing on an empty second read.
#[test]
fn stdin_report_drafts_rules_from_kept_packets_or_the_write_copy() {
    let demo = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/demo.pcap"));
    let from_file = report_json(&["report", s(demo), "--format", "json"]);
    let file_rules = from_file["rules"].as_array().unwrap();
    assert!(!file_rules.is_empty(), "the sample's waves draft rules");

    let rules_of = |out: &std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        j["rules"].clone()
    };
    let kept = holoscope_stdin(&["report", "-", "--format", "json"], demo);
    assert_eq!(&rules_of(&kept), &from_file["rules"]);

    // Over the budget: nothing kept, nothing to read again.
    let over = holoscope_stdin(
        &["report", "-", "--format", "json", "--keep-packets", "1000"],
        demo,
    );
    assert_eq!(rules_of(&over), serde_json::json!([]));
    let err = String::from_utf8_lossy(&over.stderr);
    assert!(
        err.contains("rules not drafted") && err.contains("--write"),
        "{err}"
    );

    // Over the budget with a copy: drafted from the copy, the same rules again.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.pcapng");
    let written = holoscope_stdin(
        &[
            "report",
            "-",
            "--format",
            "json",
            "--keep-packets",
            "1000",
            "--write",
            s(&copy),
        ],
        demo,
    );
    assert_eq!(&rules_of(&written), &from_file["rules"]);
}

/// `rules -` past the keep budget fails with the reason, not "not a pcap (empty file)".
#[test]
fn stdin_rules_past_the_budget_say_why() {
    let demo = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/demo.pcap"));
    let out = holoscope_stdin(
        &["rules", "-", "--format", "nft", "--keep-packets", "1000"],
        demo,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("standard input cannot be read again"), "{err}");
    assert!(!err.contains("empty"), "{err}");
    let ok = holoscope_stdin(&["rules", "-", "--format", "nft"], demo);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(!ok.stdout.is_empty());
}

/// The TUI reads its capture again (drafting, replay, sessions): given `-` it says so and
/// points at `report -`, before touching the terminal.
#[test]
fn tui_on_stdin_says_to_save_the_stream_first() {
    let demo = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/demo.pcap"));
    let out = holoscope_stdin(&["-"], demo);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not standard input") && err.contains("report -"),
        "{err}"
    );
}

/// `--baseline`: a range that ends before it starts is refused while parsing; one past the
/// capture's end is analysed but said to hold nothing (`baseline.buckets` 0, a warning).
#[test]
fn baseline_outside_the_capture_is_refused_or_warned() {
    use holoscope::detect::BaselineTime;
    assert!(BaselineTime::parse_range("05:00..01:00").is_err());
    assert!(BaselineTime::parse_range("01:00..01:00").is_err());
    assert!(BaselineTime::parse_range("1772442000..1772441000").is_err());
    assert!(BaselineTime::parse_range("00:00..01:30").is_ok());

    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/demo.pcap");
    let reversed = holoscope(&["report", demo, "--baseline", "05:00..01:00"]);
    assert_eq!(reversed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&reversed.stderr).contains("ends where or before it starts"));

    let past = holoscope(&[
        "report",
        demo,
        "--baseline",
        "10:00..20:00",
        "--format",
        "json",
    ]);
    assert!(past.status.success());
    assert!(String::from_utf8_lossy(&past.stderr).contains("holds none of the capture's traffic"));
    let j: serde_json::Value = serde_json::from_slice(&past.stdout).unwrap();
    assert_eq!(j["baseline"]["kind"], "fixed");
    assert_eq!(j["baseline"]["buckets"], 0);

    // An absolute start after the capture with an offset end: reversed only once the
    // offset is counted from the first packet, which the warning says.
    let mixed = holoscope(&["report", demo, "--baseline", "4000000000..00:30"]);
    assert!(mixed.status.success());
    let err = String::from_utf8_lossy(&mixed.stderr);
    assert!(
        err.contains("ends where or before it starts once its offsets are counted"),
        "{err}"
    );

    let inside = holoscope(&[
        "report",
        demo,
        "--baseline",
        "00:00..00:25",
        "--format",
        "json",
    ]);
    assert!(!String::from_utf8_lossy(&inside.stderr).contains("holds none"));
    let j: serde_json::Value = serde_json::from_slice(&inside.stdout).unwrap();
    assert!(j["baseline"]["buckets"].as_u64().unwrap() > 0);
}

/// An empty capture's text report says `none` rather than leaving the lines blank.
#[test]
fn empty_capture_text_says_none() {
    let Some(p) = shared("captures/fmt_empty.pcap") else {
        return;
    };
    let out = holoscope(&["report", s(&p)]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\nlinks     none\ndecoded   none\ntimeline  0 buckets of"),
        "{text}"
    );
    // One bucket is not "1 buckets".
    let Some(p) = shared("captures/fmt_timestamp_2106_overflow.pcapng") else {
        return;
    };
    let text = String::from_utf8_lossy(&holoscope(&["report", s(&p)]).stdout).into_owned();
    assert!(text.contains("\ntimeline  1 bucket of 0.01 s\n"), "{text}");
}

/// `sample --packets 0` is refused (exit 2) and writes no empty capture.
#[test]
fn sample_of_zero_packets_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("zero.pcap");
    let o = holoscope(&["sample", "-o", s(&out), "--packets", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
}
