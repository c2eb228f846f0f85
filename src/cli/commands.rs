//! The commands that are not a plain report: the TUI (file or live), `rules`, `sample` and
//! `shell`.

// Which helpers a command uses depends on the features it is built with (without the TUI a
// capture ends in a text report; without the shell the subcommand only explains itself).
#[cfg(feature = "tui")]
use super::Cli;
#[cfg(any(not(feature = "tui"), feature = "shell"))]
use super::analysis::analyze_live;
#[cfg(feature = "shell")]
use super::analysis::analyze_to;
#[cfg(not(feature = "tui"))]
use super::analysis::render;
use super::analysis::{analyze, write_out};
#[cfg(feature = "tui")]
use super::analysis::{drop_root, tee, wrote};
#[cfg(feature = "shell")]
use super::args::{filter_note, parse_filter};
use super::{DEFAULT_CAPTURE, Failure, ShellArgs, io_fail};
#[cfg(feature = "tui")]
use holoscope::capture;
#[cfg(not(feature = "tui"))]
use holoscope::report::{Format, Limits, Report};
use holoscope::{engine, sample};
use std::path::{Path, PathBuf};

/// `holoscope [CAPTURE] [--theme NAME] [--session FILE]`: the TUI. Without any argument it
/// opens the shipped sample when present, else prints the usage.
#[cfg(feature = "tui")]
pub(super) fn open_tui(
    capture: Option<PathBuf>,
    theme: Option<String>,
    session: Option<PathBuf>,
) -> Result<(), Failure> {
    let capture = match (capture, &session) {
        (Some(c), _) => Some(c),
        (None, Some(_)) => None,
        (None, None) if Path::new(DEFAULT_CAPTURE).is_file() => {
            Some(PathBuf::from(DEFAULT_CAPTURE))
        }
        (None, None) => {
            use clap::CommandFactory as _;
            let _ = Cli::command().print_help();
            return Ok(());
        }
    };
    let opts = holoscope::ui::runtime::RunOptions {
        capture,
        theme,
        session,
        hooks: hooks(),
    };
    match holoscope::ui::runtime::run(opts) {
        Ok(m) => {
            eprintln!("holoscope: {m}");
            Ok(())
        }
        Err(message) => Err(Failure { code: 2, message }),
    }
}

/// `holoscope --interface IFACE [...]`.
pub(super) struct LiveTui {
    pub(super) iface: String,
    pub(super) duration: Option<i64>,
    // Only the TUI has themes; without it the live capture ends in a text report.
    #[cfg_attr(not(feature = "tui"), allow(dead_code))]
    pub(super) theme: Option<String>,
    pub(super) retention: Option<holoscope::engine::retention::Retention>,
    pub(super) write: Option<PathBuf>,
}

impl LiveTui {
    fn engine(&self) -> engine::Options {
        engine::Options {
            retention: self
                .retention
                .or(Some(holoscope::engine::retention::LIVE_DEFAULT)),
            ..engine::Options::default()
        }
    }
}

/// `holoscope --interface IFACE`: the TUI over a live capture. The socket is opened and root
/// dropped before the terminal is taken over, so those messages print plainly.
#[cfg(feature = "tui")]
pub(super) fn open_live_tui(args: LiveTui) -> Result<(), Failure> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = args
        .duration
        .map(|ns| std::time::Duration::from_nanos(u64::try_from(ns).unwrap_or(0)));
    let src = capture::live::LiveSource::open(&args.iface, d, std::sync::Arc::clone(&stop))?;
    drop_root()?;
    // Created after the privilege drop, so the copy belongs to the invoking user.
    let (src, written) = tee(Box::new(src), args.write.as_deref(), None, false)?;
    let live = holoscope::ui::runtime::LiveRun {
        interface: args.iface.clone(),
        source: src,
        stop,
        engine: args.engine(),
        drafts: args.write.clone().map(|f| (f, hooks())),
        copy: written.clone(),
    };
    let result = holoscope::ui::runtime::run_live(live, args.theme);
    // Quitting raised the stop flag; the capture thread ends the copy within a poll interval.
    if let Some(h) = &written {
        let _ = h.outcome_within(std::time::Duration::from_secs(3));
    }
    wrote(written)?;
    match result {
        Ok(m) => {
            eprintln!("holoscope: {m}");
            Ok(())
        }
        Err(message) => Err(Failure { code: 2, message }),
    }
}

/// Without the TUI feature, `holoscope --interface IFACE` prints a report when the capture ends.
#[cfg(not(feature = "tui"))]
pub(super) fn open_live_tui(args: LiveTui) -> Result<(), Failure> {
    let opts = args.engine();
    let a = analyze_live(
        &args.iface,
        args.duration,
        &opts,
        args.write.as_deref(),
        None,
    )?;
    write_out(
        None,
        &render(&Report::build(&a, Limits::default()), Format::Text)?,
    )
}

/// Without the TUI feature, `holoscope CAPTURE` prints the text report.
#[cfg(not(feature = "tui"))]
pub(super) fn open_tui(
    capture: Option<PathBuf>,
    _theme: Option<String>,
    _session: Option<PathBuf>,
) -> Result<(), Failure> {
    let path = capture.unwrap_or_else(|| PathBuf::from(DEFAULT_CAPTURE));
    let a = analyze(&path, &engine::Options::default())?;
    write_out(
        None,
        &render(&Report::build(&a, Limits::default()), Format::Text)?,
    )
}

pub(super) fn rules_cmd(
    path: &Path,
    format: holoscope::rules::ExportFormat,
    accept: Option<&str>,
    output: Option<&Path>,
    keep_packets: u64,
) -> Result<(), Failure> {
    use holoscope::rules::{Rule, Who};
    let opts = engine::Options {
        keep_packets: Some(keep_packets).filter(|n| *n > 0),
        ..engine::Options::default()
    };
    let mut a = analyze(path, &opts)?;
    // Standard input cannot be read again: without kept packets there is nothing to draft
    // from (reading it again would find it empty and say it is no capture).
    super::analysis::draft_source(path, None, a.packets.is_some(), keep_packets, false).map_err(
        |why| Failure {
            code: 1,
            message: format!("rules not drafted: {why}"),
        },
    )?;
    let drafts = holoscope::rules::draft_for_taking(&mut a, path).map_err(|e| Failure {
        code: 1,
        message: holoscope::text::escape_terminal_str(&e.to_string()),
    })?;
    let mut rules: Vec<Rule> = drafts.into_iter().map(|d| d.rule).collect();
    if let Some(list) = accept {
        let all = list.trim() == "all";
        let wanted: Vec<&str> = list.split(',').map(str::trim).collect();
        if !all {
            for id in &wanted {
                if !rules.iter().any(|r| r.id.to_string() == *id) {
                    let ids: Vec<String> = rules.iter().map(|r| r.id.to_string()).collect();
                    return Err(Failure {
                        code: 2,
                        message: format!(
                            "no drafted rule {} (drafted: {})",
                            holoscope::text::escape_terminal_str(id),
                            if ids.is_empty() {
                                "none".into()
                            } else {
                                ids.join(", ")
                            }
                        ),
                    });
                }
            }
        }
        for r in &mut rules {
            if all || wanted.contains(&r.id.to_string().as_str()) {
                r.accept(Who::Analyst);
            }
        }
        rules = holoscope::rules::model::accepted(&rules);
    }
    let text = holoscope::rules::export(format, &rules).map_err(|e| Failure {
        code: 1,
        message: e.to_string(),
    })?;
    write_out(output, &text)
}

/// The demo or hostile sample's configuration, with the seed given.
pub(super) fn sample_config(hostile: bool, seed: Option<u64>) -> sample::SampleConfig {
    let mut cfg = if hostile {
        sample::SampleConfig::hostile()
    } else {
        sample::SampleConfig::demo()
    };
    if let Some(s) = seed {
        cfg.seed = s;
    }
    cfg
}

pub(super) fn sample_cmd(
    output: &Path,
    seed: Option<u64>,
    hostile: bool,
    packets: Option<u64>,
) -> Result<(), Failure> {
    if output.as_os_str() == "-" {
        // Streamed to standard output (`holoscope sample --packets N -o - | holoscope report -`);
        // the truth files need a path, so only the pcap is written.
        let stdout = std::io::stdout();
        let mut w = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
        let done = match packets {
            Some(n) => sample::write_bench_capture(n, seed.unwrap_or(1), &mut w),
            None => sample::write_sample(&sample_config(hostile, seed), &mut w)
                .and_then(|_| std::io::Write::flush(&mut w)),
        };
        // The reader closing the pipe early (`| head`) is not an error worth a message.
        return match done {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            r => r.map_err(|e| io_fail(output, &e)),
        };
    }
    let file = std::fs::File::create(output).map_err(|e| io_fail(output, &e))?;
    let mut w = std::io::BufWriter::new(file);
    if let Some(n) = packets {
        return sample::write_bench_capture(n, seed.unwrap_or(1), &mut w)
            .map_err(|e| io_fail(output, &e));
    }
    let cfg = sample_config(hostile, seed);
    let truth = sample::write_sample(&cfg, &mut w).map_err(|e| io_fail(output, &e))?;
    let ron_path = output.with_extension("truth.ron");
    let csv_path = output.with_extension("truth.csv");
    let ron =
        ron::ser::to_string_pretty(&truth, ron::ser::PrettyConfig::default()).map_err(|e| {
            Failure {
                code: 1,
                message: e.to_string(),
            }
        })?;
    std::fs::write(&ron_path, ron + "\n").map_err(|e| io_fail(&ron_path, &e))?;
    std::fs::write(&csv_path, truth.to_csv()).map_err(|e| io_fail(&csv_path, &e))?;
    Ok(())
}

/// The rule stages the TUI and the shell use (one place, so both behave the same).
#[cfg_attr(not(any(feature = "tui", feature = "shell")), allow(dead_code))]
pub(super) fn hooks() -> holoscope::investigation::Hooks {
    holoscope::investigation::Hooks {
        // Drafting re-reads the capture; a capture that cannot be re-read (stdin, or live
        // without --write) simply has no drafts, which the rules pane says.
        drafter: Some(|a, p| {
            holoscope::rules::draft_for(a, p)
                .map(|v| v.into_iter().map(|d| (d.rule, Some(d.counts))).collect())
                .unwrap_or_default()
        }),
        replayer: Some(|p, r, a| {
            holoscope::rules::replay_capture(p, r, a).map_err(|e| e.to_string())
        }),
    }
}

/// `holoscope shell`: builds the investigation (from a capture, a live capture or a session)
/// and runs the interactive shell or a `--commands` script.
#[cfg(feature = "shell")]
pub(super) fn shell_cmd(args: ShellArgs) -> Result<(), Failure> {
    use holoscope::investigation::Investigation;
    let ShellArgs {
        capture,
        interface,
        duration,
        session,
        commands,
        retention,
        write,
        filter,
    } = args;
    use std::sync::Arc;
    let bad = |message: String| Failure { code: 2, message };
    let saved = match &session {
        Some(s) => Some(holoscope::session::SessionFile::load(s).map_err(|e| bad(e.to_string()))?),
        None => None,
    };
    let opts = engine::Options {
        retention: retention.or_else(|| {
            interface
                .as_ref()
                .map(|_| holoscope::engine::retention::LIVE_DEFAULT)
        }),
        filter: parse_filter(filter.as_deref())?,
        ..engine::Options::default()
    };
    let (path, a) = match (&interface, &capture, &saved) {
        // With a `--write` copy, drafting, replay and `explain` read that copy.
        (Some(iface), _, _) => (
            write
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("live:{iface}"))),
            analyze_live(iface, duration, &opts, write.as_deref(), None)?,
        ),
        // Drafting, replay and `explain` read the capture again, which standard input or a
        // pipe cannot be: the shell investigates its `--write` copy instead.
        (None, Some(p), _) if super::analysis::is_stream(p) => {
            let Some(copy) = write.as_deref() else {
                return Err(bad(format!(
                    "the shell reads its capture again (drafting, replay, explain), \
                     which {} cannot be: add --write FILE to keep a copy of the \
                     stream, or save it first",
                    super::analysis::stream_name(p)
                )));
            };
            (copy.to_path_buf(), analyze_to(p, &opts, Some(copy), None)?)
        }
        (None, Some(p), _) => (p.clone(), analyze_to(p, &opts, write.as_deref(), None)?),
        (None, None, Some(s)) => {
            let p = PathBuf::from(&s.capture.path);
            let a = analyze(&p, &opts)?;
            (p, a)
        }
        (None, None, None) => return Err(bad("give a capture, --interface or --session".into())),
    };
    filter_note(opts.filter.as_deref());
    let a = Arc::new(a);
    let mut inv = match &saved {
        Some(s) => {
            let (inv, notes) =
                Investigation::from_session(&path, a, hooks(), s, session.as_deref());
            for n in notes {
                eprintln!("holoscope: {n}");
            }
            inv
        }
        None => {
            // As in the TUI: a fresh investigation starts on the first wave.
            let mut inv = Investigation::new(&path, a, hooks());
            inv.to_first_wave();
            inv
        }
    };
    match commands {
        Some(file) => {
            let script = std::fs::read_to_string(&file).map_err(|e| {
                bad(format!(
                    "{}: {e}",
                    holoscope::text::escape_terminal_str(&file.display().to_string())
                ))
            })?;
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            holoscope::shell::run_script(&mut inv, &script, &mut out).map_err(|e| Failure {
                code: 1,
                message: format!(
                    "{}: {e}",
                    holoscope::text::escape_terminal_str(&file.display().to_string())
                ),
            })
        }
        None => {
            let stdin_taken = capture.as_deref().is_some_and(|p| p.as_os_str() == "-");
            holoscope::shell::interactive(&mut inv, stdin_taken)
                .map_err(|message| Failure { code: 1, message })
        }
    }
}

/// Without the shell feature the subcommand explains how to get it.
#[cfg(not(feature = "shell"))]
pub(super) fn shell_cmd(_args: ShellArgs) -> Result<(), Failure> {
    Err(Failure {
        code: 2,
        message: "this holoscope was built without the shell feature".into(),
    })
}
