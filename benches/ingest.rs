//! Ingest benchmark: read + decode + timeline, the full analysis and the whole `holoscope
//! report` command (analysis, detection, rule drafting and replay, JSON out) on a generated
//! capture of at least 1.5 million packets, beside the bare pcap-parser streaming rate (and
//! tshark's `-q -z io,stat,0` when installed) measured in the same run on the same file. Also measures the marginal resident
//! memory per packet by running the release binary on captures of N and 2N packets.
//!
//! Run: `cargo bench --bench ingest` (env `HOLOSCOPE_BENCH_PACKETS` to change N;
//! `HOLOSCOPE_BENCH_BIN=target/dist/holoscope` also times the distribution build of
//! `scripts/dist.sh`, its runs alternating with the release build's).
//! Prints medians of several runs; the machine is shared and noisy, so compare ratios. The
//! report's and tshark's CPU time per packet (from `getrusage` of the children) is printed too:
//! waiting for a core on a busy host stretches wall time more than CPU time.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use holoscope::{capture, engine, sample};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapError};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bare_pcap_parser(path: &Path) -> u64 {
    let file = std::fs::File::open(path).expect("open");
    let mut reader = LegacyPcapReader::new(1 << 20, file).expect("pcap");
    let mut n = 0u64;
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                if matches!(block, pcap_parser::PcapBlockOwned::Legacy(_)) {
                    n += 1;
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => reader.refill().expect("refill"),
            Err(e) => panic!("{e:?}"),
        }
    }
    n
}

fn holoscope_read(path: &Path) -> u64 {
    let mut src = capture::open(path).expect("open");
    let mut n = 0;
    while let Ok(Some(_)) = src.next_packet() {
        n += 1;
    }
    n
}

/// Exactly read + decode + timeline: the streaming pass without the flow/entity/session tables,
/// the residual stage or detection.
fn timeline_only(path: &Path) -> u64 {
    let opts = engine::Options {
        timeline_only: true,
        residual: false,
        ..engine::Options::default()
    };
    // Stats belong to the tables thread; the per-packet index counts every record.
    engine::ingest(capture::open(path).expect("open"), &opts, |_| {})
        .2
        .index
        .len() as u64
}

/// The whole analysis `holoscope report` runs (tables, residual stage, detection).
fn full(path: &Path) -> u64 {
    engine::analyze(
        capture::open(path).expect("open"),
        &engine::Options::default(),
        |_| {},
    )
    .agg
    .stats
    .packets
}

/// A binary's `report` command end to end (JSON to /dev/null), as a user runs it.
fn report_command(binary: &Path, path: &Path) -> u64 {
    let out = Command::new(binary)
        .args(["report", path.to_str().expect("path"), "--format", "json"])
        .args(["--output", "/dev/null"])
        .output()
        .expect("holoscope report");
    assert!(
        out.status.success(),
        "{}: {}",
        binary.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    1
}

/// The binaries whose `report` is timed: the one Cargo built for this bench (the release
/// profile), and the one `HOLOSCOPE_BENCH_BIN` names, if any (the distribution build of
/// `scripts/dist.sh`, fat LTO + PGO: `HOLOSCOPE_BENCH_BIN=target/dist/holoscope`).
fn report_binaries() -> Vec<(String, std::path::PathBuf)> {
    let mut out = vec![(
        "release build".to_string(),
        std::path::PathBuf::from(env!("CARGO_BIN_EXE_holoscope")),
    )];
    if let Some(p) = std::env::var_os("HOLOSCOPE_BENCH_BIN") {
        let p = std::path::PathBuf::from(p);
        assert!(p.is_file(), "HOLOSCOPE_BENCH_BIN: no file {}", p.display());
        out.push((format!("{}", p.display()), p));
    }
    out
}

/// [`time_runs`] for several binaries' `report`, their runs alternating (a change in the
/// host's load then touches all of them alike): each binary's median wall and CPU seconds.
fn time_reports(
    runs: usize,
    binaries: &[(String, std::path::PathBuf)],
    path: &Path,
) -> Vec<(f64, f64)> {
    let mut each = vec![(Vec::new(), Vec::new()); binaries.len()];
    for _ in 0..runs {
        for ((_, bin), (secs, cpu)) in binaries.iter().zip(each.iter_mut()) {
            let before = children_cpu();
            let t = Instant::now();
            report_command(bin, path);
            secs.push(t.elapsed().as_secs_f64());
            cpu.push(children_cpu() - before);
        }
    }
    each.into_iter()
        .map(|(s, c)| (median(s), median(c)))
        .collect()
}

/// tshark's cheapest whole-file statistics pass; `None` when it failed.
fn tshark(path: &Path) -> Option<()> {
    let out = Command::new("tshark")
        .args(["-r", path.to_str()?, "-q", "-z", "io,stat,0"])
        .output()
        .ok()?;
    out.status.success().then_some(())
}

/// User + system CPU seconds of every child this process has waited for so far.
fn children_cpu() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    let Ok(u) = getrusage(UsageWho::RUSAGE_CHILDREN) else {
        return f64::NAN;
    };
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    secs(u.user_time()) + secs(u.system_time())
}

/// The last run's result with the median wall seconds of `runs` runs of `f`, and the median
/// CPU seconds (user + system) of the child processes each run waited for (0 for work done
/// in this process): waiting for a core on a shared host stretches it less than wall time.
fn time_runs(runs: usize, f: impl Fn() -> u64) -> (u64, f64, f64) {
    let (mut secs, mut cpu) = (Vec::new(), Vec::new());
    let mut n = 0;
    for _ in 0..runs {
        let before = children_cpu();
        let t = Instant::now();
        n = f();
        secs.push(t.elapsed().as_secs_f64());
        cpu.push(children_cpu() - before);
    }
    (n, median(secs), median(cpu))
}

fn peak_rss_of_binary(path: &Path) -> Option<u64> {
    let out = Command::new(env!("CARGO_BIN_EXE_holoscope"))
        .args(["bench", path.to_str()?, "--format", "json"])
        .output()
        .ok()?;
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    j["peak_rss_bytes"].as_u64()
}

#[allow(clippy::cast_precision_loss)]
/// Peak resident memory (VmHWM) of this process, in bytes.
fn own_peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Peak RSS of read + decode + timeline alone, measured in a fresh child process (this bench
/// binary re-run with `HOLOSCOPE_BENCH_CHILD`), so nothing else this process did counts.
fn peak_rss_of_timeline_stage(path: &Path) -> Option<u64> {
    let out = Command::new(std::env::current_exe().ok()?)
        .env("HOLOSCOPE_BENCH_CHILD", path)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn main() {
    if let Some(p) = std::env::var_os("HOLOSCOPE_BENCH_CHILD") {
        let n = timeline_only(Path::new(&p));
        assert!(n > 0);
        println!("{}", own_peak_rss().unwrap_or(0));
        return;
    }
    let n: u64 = std::env::var("HOLOSCOPE_BENCH_PACKETS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_500_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.pcap");
    let path2 = dir.path().join("bench2.pcap");
    for (p, count) in [(&path, n), (&path2, 2 * n)] {
        let mut w = std::io::BufWriter::new(std::fs::File::create(p).expect("create"));
        sample::write_bench_capture(count, 7, &mut w).expect("generate");
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "capture: {n} packets, {:.1} MB, {} rayon threads",
        size as f64 / 1e6,
        rayon::current_num_threads()
    );

    let (np, bare, _) = time_runs(5, || bare_pcap_parser(&path));
    let (nr, read, _) = time_runs(5, || holoscope_read(&path));
    let (nt, ingest, _) = time_runs(3, || timeline_only(&path));
    let (nf, whole, _) = time_runs(3, || full(&path));
    let binaries = report_binaries();
    let reports = time_reports(3, &binaries, &path);
    let (report, report_cpu) = reports[0];
    assert_eq!(np, nr);
    assert_eq!(np, nt);
    assert_eq!(np, nf);
    let pps = |s: f64| np as f64 / s;
    let line = |name: &str, secs: f64| {
        println!(
            "{name:<48} {:>12.0} {:>10.3} {:>10.2}",
            pps(secs),
            bare / secs,
            report / secs
        );
    };
    println!(
        "{:<48} {:>12} {:>10} {:>10}",
        "stage (median of runs)", "packets/s", "vs bare", "vs report"
    );
    line("pcap-parser bare streaming (5 runs)", bare);
    line("holoscope read (5 runs)", read);
    line("holoscope read + decode + timeline (3 runs)", ingest);
    line("holoscope full analysis, no rules (3 runs)", whole);
    // Every timed binary is named: which build a figure is from matters.
    line(
        &format!(
            "holoscope report command, end to end, {} (3 runs)",
            binaries[0].0
        ),
        report,
    );
    for ((name, _), (secs, _)) in binaries.iter().zip(&reports).skip(1) {
        line(&format!("  the same, {name} (3 runs)"), *secs);
    }
    let have_tshark = Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut tshark_cpu = None;
    if have_tshark && tshark(&path).is_some() {
        let (_, t, cpu) = time_runs(3, || u64::from(tshark(&path).is_some()));
        line("tshark -q -z io,stat,0 (3 runs)", t);
        tshark_cpu = Some(cpu);
    } else {
        println!("tshark not installed or failed: peer figure skipped");
    }
    // CPU time per packet, from the same runs: 1 M packets/s on 2 cores allows 2 µs of CPU
    // per packet, however busy the host.
    println!(
        "holoscope report command, {}, CPU (user + system, same 3 runs): {report_cpu:.2} s = {:.2} µs/packet (1 M packets/s on 2 cores allows 2.00)",
        binaries[0].0,
        report_cpu * 1e6 / np as f64
    );
    for ((name, _), (_, cpu)) in binaries.iter().zip(&reports).skip(1) {
        println!(
            "  the same, {name}: {cpu:.2} s = {:.2} µs/packet",
            cpu * 1e6 / np as f64
        );
    }
    if let Some(t) = tshark_cpu {
        println!(
            "tshark -q -z io,stat,0, CPU (user + system, same 3 runs): {t:.2} s = {:.2} µs/packet",
            t * 1e6 / np as f64
        );
    }
    match (peak_rss_of_binary(&path), peak_rss_of_binary(&path2)) {
        (Some(a), Some(b)) => {
            let per = (b.saturating_sub(a)) as f64 / n as f64;
            println!(
                "peak RSS, holoscope bench (all stages): {:.1} MiB at {n} packets, {:.1} MiB at {} packets: {per:.1} bytes/packet marginal",
                a as f64 / 1048576.0,
                b as f64 / 1048576.0,
                2 * n
            );
        }
        _ => println!("peak RSS: binary not available"),
    }
    match (
        peak_rss_of_timeline_stage(&path),
        peak_rss_of_timeline_stage(&path2),
    ) {
        (Some(a), Some(b)) if a > 0 => {
            let per = (b.saturating_sub(a)) as f64 / n as f64;
            println!(
                "peak RSS, read + decode + timeline only: {:.1} MiB at {n} packets, {:.1} MiB at {} packets: {per:.1} bytes/packet marginal",
                a as f64 / 1048576.0,
                b as f64 / 1048576.0,
                2 * n
            );
        }
        _ => println!("peak RSS of the timeline stage: not measured"),
    }
}
