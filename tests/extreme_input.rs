//! Absurd values, end to end through the release binary: a 1.4 GB record length, an EPB on
//! interface 2^32-1, floods of interface and section descriptions, timestamps in 2106, at 0
//! and going backwards, zero-length packets, all 256 TCP flag bytes, a block length past the
//! end of the file, and deep VLAN/MPLS stacks.
//!
//! Each case checks the exit status, that a warning (never a panic) names the problem, that the
//! packets before the damage are reported, and the child's peak memory (ru_maxrss, measured
//! by `measure_helper`). The bound, `PEAK_LIMIT_KB` (200 MB), is far above the 7-50 MB these
//! runs take, and far below what an allocation sized by one of the absurd length fields would
//! need (1.4 GB, 4 GiB, 2^32 interfaces).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

/// Documented peak-memory bound for every case (200 MB).
const PEAK_LIMIT_KB: u64 = 200 * 1024;
const BASE: u32 = 1_700_000_000;

struct Run {
    code: Option<i32>,
    report: Value,
    stderr: String,
    peak_kb: u64,
}

/// Set in the helper process: the capture to measure, and where to put the results.
const MEASURE_ENV: &str = "HOLOSCOPE_EXTREME_MEASURE";

/// Not a test of its own: the measuring middleman. getrusage(RUSAGE_CHILDREN) reports the
/// largest child a process has waited for, so each case runs `holoscope` from a fresh copy of
/// this test binary whose only child it is: its ru_maxrss is that run's exact peak (polling
/// VmHWM misses the last milliseconds, where these runs peak). Without the variable it
/// returns at once.
#[test]
fn measure_helper() {
    let Some(file) = std::env::var_os(MEASURE_ENV) else {
        return;
    };
    let dir = std::path::PathBuf::from(std::env::var_os("HOLOSCOPE_EXTREME_OUT").unwrap());
    let status = Command::new(env!("CARGO_BIN_EXE_holoscope"))
        .arg("report")
        .arg(&file)
        .args(["--format", "json"])
        .stdout(Stdio::from(
            std::fs::File::create(dir.join("out.json")).unwrap(),
        ))
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("err.txt")).unwrap(),
        ))
        .status()
        .unwrap();
    use nix::sys::resource::{UsageWho, getrusage};
    let kb = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap().max_rss();
    let code = status
        .code()
        .map_or_else(|| "signal".into(), |c| c.to_string());
    std::fs::write(dir.join("status.txt"), format!("{code} {kb}")).unwrap();
}

/// Runs `holoscope report FILE --format json` through [`measure_helper`] and asserts the peak.
fn report(file: &Path) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let helper = Command::new(std::env::current_exe().unwrap())
        .args(["measure_helper", "--exact", "--test-threads", "1"])
        .env(MEASURE_ENV, file)
        .env("HOLOSCOPE_EXTREME_OUT", dir.path())
        .output()
        .unwrap();
    assert!(helper.status.success(), "{helper:?}");
    let status = std::fs::read_to_string(dir.path().join("status.txt")).unwrap();
    let (code, kb) = status.split_once(' ').unwrap();
    let peak_kb: u64 = kb.parse().unwrap();
    let stderr = std::fs::read_to_string(dir.path().join("err.txt")).unwrap();
    let text = std::fs::read_to_string(dir.path().join("out.json")).unwrap();
    let report = serde_json::from_str(&text).unwrap_or(Value::Null);
    eprintln!(
        "{}: exit {code}, peak {peak_kb} kB",
        file.file_name().unwrap().to_string_lossy()
    );
    assert!(peak_kb < PEAK_LIMIT_KB, "peak {peak_kb} kB");
    Run {
        code: code.parse().ok(),
        report,
        stderr,
        peak_kb,
    }
}

/// Checks the common expectations and returns the warnings as (kind, message, offset).
fn expect(run: &Run, packets: u64) -> Vec<(String, String, Option<u64>)> {
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(run.peak_kb > 0, "peak measured");
    let c = &run.report["capture"];
    assert_eq!(c["packets"].as_u64(), Some(packets), "{c}");
    c["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["kind"].as_str().unwrap().to_string(),
                w["message"].as_str().unwrap().to_string(),
                w["offset"].as_u64(),
            )
        })
        .collect()
}

fn has(warnings: &[(String, String, Option<u64>)], kind: &str, text: &str) -> bool {
    warnings
        .iter()
        .any(|(k, m, _)| k == kind && m.contains(text))
}

// ---- builders -------------------------------------------------------------------------------

fn tcp_frame(flags: u8, sport: u16) -> Vec<u8> {
    let mut f = vec![
        0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
    ];
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip_tcp(flags, sport));
    f
}

fn ip_tcp(flags: u8, sport: u16) -> Vec<u8> {
    let mut ip = vec![
        0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    ip.extend_from_slice(&sport.to_be_bytes());
    ip.extend_from_slice(&80u16.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 4, 0, 0, 0, 0, 0]);
    ip
}

fn pcap_header() -> Vec<u8> {
    let mut b = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

fn pcap_rec(b: &mut Vec<u8>, secs: u32, usecs: u32, data: &[u8], orig: u32) {
    for v in [secs, usecs, u32::try_from(data.len()).unwrap(), orig] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(data);
}

/// `n` ordinary SYNs, one a second from `start`.
fn good_pcap(b: &mut Vec<u8>, start: u32, n: u16) {
    for i in 0..n {
        let f = tcp_frame(0x02, 1000 + i);
        pcap_rec(b, start + u32::from(i), 0, &f, 54);
    }
}

fn ng_block(t: u32, body: &[u8]) -> Vec<u8> {
    let pad = (4 - body.len() % 4) % 4;
    let len = u32::try_from(12 + body.len() + pad).unwrap();
    let mut b = t.to_le_bytes().to_vec();
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(body);
    b.resize(b.len() + pad, 0);
    b.extend_from_slice(&len.to_le_bytes());
    b
}

fn shb() -> Vec<u8> {
    let mut body = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    body.extend_from_slice(&[1, 0, 0, 0]);
    body.extend_from_slice(&(-1i64).to_le_bytes());
    ng_block(0x0A0D_0D0A, &body)
}

fn idb() -> Vec<u8> {
    ng_block(1, &[1, 0, 0, 0, 0xff, 0xff, 0, 0])
}

fn epb(iface: u32, ts_us: u64, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    let len = u32::try_from(data.len()).unwrap();
    #[allow(clippy::cast_possible_truncation)]
    for v in [iface, (ts_us >> 32) as u32, ts_us as u32, len, len] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    body.extend_from_slice(data);
    ng_block(6, &body)
}

/// `n` ordinary EPBs on interface 0.
fn good_ng(start: u32, n: u16) -> Vec<u8> {
    (0..n)
        .flat_map(|i| {
            epb(
                0,
                u64::from(start + u32::from(i)) * 1_000_000,
                &tcp_frame(2, 3000 + i),
            )
        })
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

// ---- cases ----------------------------------------------------------------------------------

#[test]
fn record_length_of_1_4_gb() {
    let d = tempfile::tempdir().unwrap();
    let mut b = pcap_header();
    good_pcap(&mut b, BASE, 100);
    let damage = b.len() as u64;
    for v in [BASE + 200, 0, 1_400_000_000, 1_400_000_000] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&[0; 100]);
    let w = expect(&report(&write(d.path(), "huge_len.pcap", &b)), 100);
    assert!(has(&w, "corrupt", "1400000016 bytes"), "{w:?}");
    assert!(w.iter().any(|(_, _, o)| *o == Some(damage)), "{w:?}");

    // The same length inside a pcapng EPB whose block is small: inconsistent, not allocated.
    let mut ng = shb();
    ng.extend(idb());
    ng.extend(good_ng(BASE, 50));
    let at = ng.len() as u64;
    let mut body = Vec::new();
    for v in [0u32, 0, 0, 1_400_000_000, 1_400_000_000] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    body.extend_from_slice(&[0; 64]);
    ng.extend(ng_block(6, &body));
    ng.extend(good_ng(BASE + 100, 10));
    let w = expect(&report(&write(d.path(), "huge_caplen.pcapng", &ng)), 50);
    assert!(
        w.iter().any(|(k, _, o)| k == "corrupt" && *o == Some(at)),
        "{w:?}"
    );
}

#[test]
fn interface_2_pow_32_minus_1_and_description_floods() {
    let d = tempfile::tempdir().unwrap();
    let mut b = shb();
    b.extend(idb());
    b.extend(good_ng(BASE, 100));
    for _ in 0..10 {
        b.extend(epb(u32::MAX, u64::from(BASE) * 1_000_000, &tcp_frame(2, 9)));
    }
    // A timestamp of 2^64-1 microseconds (year 586524) on a real interface.
    b.extend(epb(0, u64::MAX, &tcp_frame(2, 10)));
    b.extend(good_ng(BASE + 200, 100));
    let w = expect(&report(&write(d.path(), "iface_max.pcapng", &b)), 201);
    assert!(has(&w, "unknown_interface", "10 packets"), "{w:?}");
    assert!(has(&w, "absurd_timestamp", "1 record with"), "{w:?}");

    // One million IDBs (20 MB), then a packet on the last one.
    let mut b = shb();
    b.extend(idb());
    b.extend(good_ng(BASE, 100));
    let one = idb();
    for _ in 0..1_000_000 {
        b.extend_from_slice(&one);
    }
    b.extend(epb(
        999_999,
        u64::from(BASE + 150) * 1_000_000,
        &tcp_frame(2, 9),
    ));
    b.extend(good_ng(BASE + 200, 100));
    let w = expect(&report(&write(d.path(), "idb_flood.pcapng", &b)), 200);
    assert!(has(&w, "corrupt", "beyond the limit of 65536"), "{w:?}");
    assert!(has(&w, "unknown_interface", "1 packet referring"), "{w:?}");

    // Half a million sections (regression: 24 MB of SHB+IDB pairs used to take 139 MB).
    let mut b = shb();
    b.extend(idb());
    b.extend(good_ng(BASE, 100));
    let pair: Vec<u8> = shb().into_iter().chain(idb()).collect();
    for _ in 0..500_000 {
        b.extend_from_slice(&pair);
    }
    b.extend(good_ng(BASE + 200, 100));
    let run = report(&write(d.path(), "shb_flood.pcapng", &b));
    let w = expect(&run, 100);
    assert!(has(&w, "corrupt", "beyond the limit of 65536"), "{w:?}");
    assert!(run.peak_kb < 64 * 1024, "SHB flood peak {} kB", run.peak_kb);
}

#[test]
fn timestamps_in_2106_at_zero_and_backwards() {
    let d = tempfile::tempdir().unwrap();
    let mut b = pcap_header();
    good_pcap(&mut b, BASE, 10);
    let f = tcp_frame(2, 7);
    pcap_rec(&mut b, u32::MAX, 999_999, &f, 54); // 2106-02-07
    pcap_rec(&mut b, 0, 0, &f, 54); // 1970
    pcap_rec(&mut b, BASE + 5, 0, &f, 54);
    pcap_rec(&mut b, BASE - 86_400 * 365, 0, &f, 54);
    pcap_rec(&mut b, BASE, 2_000_000_000, &f, 54); // fraction out of range
    good_pcap(&mut b, BASE + 20, 10);
    let run = report(&write(d.path(), "times.pcap", &b));
    let w = expect(&run, 25);
    assert!(has(&w, "absurd_timestamp", ""), "{w:?}");
    assert!(has(&w, "out_of_order", ""), "{w:?}");
    let c = &run.report["capture"];
    assert_eq!(c["first_ts"].as_f64(), Some(0.0));
    assert!(c["last_ts"].as_f64().unwrap() > 4_294_967_295.0);
    // 136 years of buckets are sparse: the timeline holds only the occupied ones.
    assert!(run.report["timeline"]["buckets"].as_array().unwrap().len() <= 25);
}

#[test]
fn zero_length_packets() {
    let d = tempfile::tempdir().unwrap();
    let mut b = pcap_header();
    good_pcap(&mut b, BASE, 10);
    for i in 0..50 {
        pcap_rec(&mut b, BASE + 50 + i, 0, &[], 0);
        pcap_rec(&mut b, BASE + 50 + i, 1, &[], 1500);
    }
    good_pcap(&mut b, BASE + 200, 10);
    let w = expect(&report(&write(d.path(), "zero.pcap", &b)), 120);
    assert!(has(&w, "decode_error", "100 packets"), "{w:?}");
}

#[test]
fn every_tcp_flag_byte() {
    let d = tempfile::tempdir().unwrap();
    let mut b = pcap_header();
    for i in 0..=255u8 {
        let f = tcp_frame(i, 2000 + u16::from(i));
        pcap_rec(
            &mut b,
            BASE + u32::from(i) / 16,
            u32::from(i) * 1000,
            &f,
            54,
        );
    }
    let run = report(&write(d.path(), "flags.pcap", &b));
    let w = expect(&run, 256);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(run.report["capture"]["decoded"]["tcp"].as_u64(), Some(256));
}

#[test]
fn block_length_past_the_end_of_the_file() {
    let d = tempfile::tempdir().unwrap();
    let mut head = shb();
    head.extend(idb());
    head.extend(good_ng(BASE, 100));
    let at = head.len() as u64;
    for (name, claimed, kind) in [
        ("past_eof.pcapng", 1_000_000u32, "truncated"),
        ("past_eof_4g.pcapng", 0xFFFF_FFF0, "corrupt"),
    ] {
        let mut b = head.clone();
        b.extend_from_slice(&6u32.to_le_bytes());
        b.extend_from_slice(&claimed.to_le_bytes());
        for v in [0u32, 0, 0, 60, 60] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&[0; 60]);
        let w = expect(&report(&write(d.path(), name, &b)), 100);
        assert!(
            w.iter().any(|(k, _, o)| k == kind && *o == Some(at)),
            "{name}: {w:?}"
        );
    }
}

#[test]
fn nested_vlan_and_mpls_stacks() {
    let d = tempfile::tempdir().unwrap();
    let mac = [
        0u8, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
    ];
    let mut vlan = mac.to_vec();
    for i in 0..2000u16 {
        let tpid: u16 = if i % 2 == 0 { 0x88a8 } else { 0x8100 };
        vlan.extend_from_slice(&tpid.to_be_bytes());
        vlan.extend_from_slice(&(i % 4096).to_be_bytes());
    }
    vlan.extend_from_slice(&[0x08, 0x00]);
    vlan.extend(ip_tcp(2, 5));
    let mpls = |bottom: bool| {
        let mut f = mac.to_vec();
        f.extend_from_slice(&[0x88, 0x47]);
        for i in 0..3000u32 {
            let bos = u32::from(bottom && i == 2999) << 8;
            f.extend_from_slice(&((i << 12) | bos | 64).to_be_bytes());
        }
        if bottom {
            f.extend(ip_tcp(2, 6));
        }
        f
    };
    let mut b = pcap_header();
    good_pcap(&mut b, BASE, 10);
    for i in 0..20 {
        for f in [&vlan, &mpls(true), &mpls(false)] {
            pcap_rec(&mut b, BASE + 60 + i, 0, f, u32::try_from(f.len()).unwrap());
        }
    }
    good_pcap(&mut b, BASE + 100, 10);
    let w = expect(&report(&write(d.path(), "stacks.pcap", &b)), 80);
    assert!(has(&w, "decode_error", "too many vlan tags"), "{w:?}");
    assert!(
        has(&w, "decode_error", "mpls label stack too deep"),
        "{w:?}"
    );
}
