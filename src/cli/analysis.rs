//! Running the engine for the headless commands: from a file (with a progress bar), a
//! followed file or a live interface, with the `--write` tee, alerts and output files.

use super::{Failure, io_fail};
use holoscope::capture;
use holoscope::engine;
use holoscope::report::{Format, Report};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::Path;

pub(super) fn progress_bar(path: &Path) -> ProgressBar {
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    // indicatif hides itself when stderr is not a terminal.
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(10));
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} reading {bytes}/{total_bytes} {wide_bar} {pos}")
    {
        pb.set_style(style);
    }
    pb
}

pub(super) fn analyze(path: &Path, opts: &engine::Options) -> Result<engine::Analysis, Failure> {
    analyze_to(path, opts, None, None)
}

/// Whether `report` drafts rules: for a capture file or standard input, not for a live
/// interface (whose analysis keeps no packets; the TUI drafts from its `--write` copy).
pub(super) fn drafts_rules(capture: Option<&Path>, interface: Option<&str>) -> bool {
    capture.is_some() && interface.is_none()
}

/// Whether `capture` is a stream that cannot be read a second time: standard input (`-`),
/// or a named pipe or device (`holoscope report <(tcpdump -w - ...)` reads `/dev/fd/63`).
pub(super) fn is_stream(capture: &Path) -> bool {
    capture.as_os_str() == "-" || holoscope::fsutil::is_special(capture)
}

/// How a message names a stream [`is_stream`] found.
pub(super) fn stream_name(capture: &Path) -> &'static str {
    if capture.as_os_str() == "-" {
        "standard input"
    } else {
        "a pipe"
    }
}

/// What drafting reads for `capture`: the file itself, or for a stream ([`is_stream`]), which
/// cannot be read again, the packets the analysis kept (`kept`; the path is then not read) or
/// else the `--write` copy. `Err` says why no rule can be drafted; `report` (`offers_write`)
/// can keep a copy with `--write`, and its `--retention` keeps no packets, which the message
/// names.
pub(super) fn draft_source<'a>(
    capture: &'a Path,
    write: Option<&'a Path>,
    kept: bool,
    keep_budget: u64,
    offers_write: bool,
) -> Result<&'a Path, String> {
    if !is_stream(capture) || kept {
        return Ok(capture);
    }
    write.ok_or_else(|| {
        let (why, fix) = if offers_write {
            (", or under --retention", ", or add --write FILE")
        } else {
            ("", "")
        };
        format!(
            "{} cannot be read again and the analysis kept none of its packets \
             (more than --keep-packets {keep_budget}{why}): save the stream to a file and \
             draft from it{fix}",
            stream_name(capture)
        )
    })
}

/// [`analyze`] with an optional `--write` copy and `--follow-json` alert stream.
pub(super) fn analyze_to(
    path: &Path,
    opts: &engine::Options,
    write: Option<&Path>,
    alerts: Option<&Alerts>,
) -> Result<engine::Analysis, Failure> {
    let (src, written) = tee(capture::open(path)?, write, Some(path), false)?;
    let pb = progress_bar(path);
    let a = run_engine(src, opts, |p| pb.set_position(p.offset), alerts);
    pb.finish_and_clear();
    wrote(written)?;
    Ok(a)
}

/// `--follow-json`: the alert stream shared by the snapshot thread and the final analysis.
pub(super) type Alerts = std::sync::Arc<std::sync::Mutex<holoscope::report::alerts::AlertStream>>;

/// Writes alert lines to standard output, flushed at once (a closed pipe is ignored: the
/// analysis and its report still finish).
pub(super) fn print_alerts(events: &[holoscope::report::alerts::AlertEvent]) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    for e in events {
        if let Ok(line) = serde_json::to_string(e) {
            let _ = writeln!(out, "{line}");
        }
    }
    let _ = out.flush();
}

pub(super) fn alert_events(
    stream: &Alerts,
    a: &engine::Analysis,
    last: bool,
) -> Vec<holoscope::report::alerts::AlertEvent> {
    let at = a.agg.stats.last_ts.map_or(0.0, |t| t.as_secs_f64());
    let n = a.agg.stats.packets;
    match stream.lock() {
        Ok(mut s) if last => s.finish(&a.findings, at, n),
        Ok(mut s) => s.observe(&a.findings, at, n),
        Err(_) => Vec::new(),
    }
}

/// Runs the engine, streaming alerts from its snapshots (once a second) when asked.
pub(super) fn run_engine(
    src: Box<dyn capture::PacketSource + Send>,
    opts: &engine::Options,
    progress: impl FnMut(engine::Progress),
    alerts: Option<&Alerts>,
) -> engine::Analysis {
    let Some(stream) = alerts else {
        return engine::analyze(src, opts, progress);
    };
    let s = std::sync::Arc::clone(stream);
    let policy = engine::SnapshotPolicy {
        interval: std::time::Duration::from_secs(1),
        ..engine::SnapshotPolicy::default()
    };
    let publish =
        move |snap: engine::Snapshot| print_alerts(&alert_events(&s, &snap.analysis, false));
    let a = engine::analyze_with(src, opts, progress, Some((policy, publish)));
    print_alerts(&alert_events(stream, &a, true));
    a
}

pub(super) type Source = Box<dyn capture::PacketSource + Send>;

/// Wraps a source in the `--write` tee when asked, after refusing a target that is the input.
pub(super) fn tee(
    src: Source,
    write: Option<&Path>,
    input: Option<&Path>,
    follow: bool,
) -> Result<(Source, Option<capture::write::WriteHandle>), Failure> {
    let Some(dest) = write else {
        return Ok((src, None));
    };
    if let Some(input) = input {
        capture::write::check_target(dest, input, follow)
            .map_err(|message| Failure { code: 2, message })?;
    }
    let part = capture::write::part_path(dest);
    // A file is read again by its own offsets; standard input, a pipe and a live interface
    // cannot be, so their packets are indexed by where the copy holds them (`explain` reads
    // those).
    let index = if input.is_some_and(|p| !is_stream(p)) || follow {
        capture::write::IndexBy::Input
    } else {
        capture::write::IndexBy::Copy
    };
    let (src, h) = capture::write::tee(src, dest, index).map_err(|e| io_fail(&part, &e))?;
    Ok((src, Some(h)))
}

/// Reports what `--write` saved; a failed write is an error (its `.part` file is kept).
pub(super) fn wrote(h: Option<capture::write::WriteHandle>) -> Result<(), Failure> {
    let Some(h) = h else { return Ok(()) };
    match h.outcome() {
        Ok((n, path)) => {
            eprintln!(
                "holoscope: wrote {n} packets to {} (pcapng)",
                holoscope::text::escape_terminal_str(&path.display().to_string())
            );
            Ok(())
        }
        Err(message) => Err(Failure { code: 1, message }),
    }
}

/// A stop flag raised by Ctrl-C, so a live capture or a follow ends cleanly and the report is
/// still written. Failing to install the handler only means Ctrl-C kills the process as usual.
pub(super) fn stop_on_ctrl_c() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::Relaxed));
    stop
}

/// Follows a growing capture until the idle timeout or Ctrl-C, then analyses what was read.
#[cfg(feature = "follow")]
pub(super) fn analyze_follow(
    path: &Path,
    idle: Option<i64>,
    opts: &engine::Options,
    write: Option<&Path>,
    alerts: Option<&Alerts>,
) -> Result<engine::Analysis, Failure> {
    let stop = stop_on_ctrl_c();
    let follow = capture::follow::FollowOptions {
        idle: idle.map(|ns| std::time::Duration::from_nanos(u64::try_from(ns).unwrap_or(0))),
        stop,
        ..capture::follow::FollowOptions::default()
    };
    eprintln!(
        "holoscope: following {} ...",
        holoscope::text::escape_terminal_str(&path.display().to_string())
    );
    if let Some(dest) = write {
        capture::write::check_target(dest, path, true)
            .map_err(|message| Failure { code: 2, message })?;
    }
    let (src, written) = tee(capture::follow::open(path, follow)?, write, None, true)?;
    let a = run_engine(src, opts, |_| {}, alerts);
    wrote(written)?;
    Ok(a)
}

/// Captures live until the duration elapses or Ctrl-C, then analyses what was captured.
pub(super) fn analyze_live(
    iface: &str,
    duration: Option<i64>,
    opts: &engine::Options,
    write: Option<&Path>,
    alerts: Option<&Alerts>,
) -> Result<engine::Analysis, Failure> {
    let stop = stop_on_ctrl_c();
    let d = duration.map(|ns| std::time::Duration::from_nanos(u64::try_from(ns).unwrap_or(0)));
    let src = capture::live::LiveSource::open(iface, d, stop)?;
    drop_root()?;
    eprintln!(
        "holoscope: capturing on {} ...",
        holoscope::text::escape_terminal_str(iface)
    );
    // Created after the privilege drop, so the copy belongs to the invoking user.
    let (src, written) = tee(Box::new(src), write, None, false)?;
    let a = run_engine(src, opts, |_| {}, alerts);
    wrote(written)?;
    Ok(a)
}

/// The capture socket is open: root is no longer needed (files are then written as the sudo
/// user).
pub(super) fn drop_root() -> Result<(), Failure> {
    match capture::privilege::drop_to_invoking_user() {
        Ok(Some(who)) => {
            eprintln!(
                "holoscope: capture socket open; running as uid {} gid {} (the sudo user) from now on",
                who.uid, who.gid
            );
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(message) => Err(Failure {
            code: 1,
            message: format!("could not drop root privileges: {message}"),
        }),
    }
}

pub(super) fn write_out(output: Option<&Path>, text: &str) -> Result<(), Failure> {
    match output {
        // Atomic (temp file, fsync, rename): a failed write leaves the previous file intact.
        Some(p) => holoscope::fsutil::write_atomic(p, text.as_bytes()).map_err(|e| io_fail(p, &e)),
        None => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = out.write_all(text.as_bytes());
            Ok(())
        }
    }
}

pub(super) fn render(r: &Report, f: Format) -> Result<String, Failure> {
    r.render(f).map_err(|e| Failure {
        code: 1,
        message: e.to_string(),
    })
}
