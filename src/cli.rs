//! Command-line interface: argument parsing and dispatch to the headless commands.
//!
//! Exit codes: 0 success, 2 bad input (not a capture, unreadable file, bad argument), 1 any other
//! failure. Errors are one line naming the file and what was wrong.

use clap::{Parser, Subcommand};
use holoscope::capture::{self, CaptureError};
use holoscope::report::{Format, Limits, Report};
use holoscope::{bench, engine, sample};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::{Path, PathBuf};

/// The capture opened when none is given.
pub const DEFAULT_CAPTURE: &str = "samples/demo.pcap";

#[derive(Parser, Debug)]
#[command(
    name = "holoscope",
    version,
    about = "Investigate network captures: what changed, who did it, what rule would stop it"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Capture to open in the TUI (pcap, pcapng, .gz, .zst). Default: the shipped sample.
    capture: Option<PathBuf>,
    /// TUI theme: dark, light, high-contrast, or a .ron file (watched for edits).
    #[arg(long)]
    theme: Option<String>,
    /// Session file to restore and save to (sessions/NAME.ron).
    #[arg(long)]
    session: Option<PathBuf>,
    /// Watch a live interface in the TUI (needs CAP_NET_RAW): panes follow the present until
    /// you move the cursor (End returns to live).
    #[arg(long, short = 'i', conflicts_with_all = ["capture", "session"])]
    interface: Option<String>,
    /// With --interface: stop capturing after this long (e.g. 5m); default: until quit.
    #[arg(long, value_parser = parse_duration_ns, requires = "interface")]
    duration: Option<i64>,
    /// With --interface: keep this much in detail (`10m`, `512MB`, `10m,512MB`); default 10m.
    #[arg(long, value_parser = holoscope::engine::retention::Retention::parse, requires = "interface")]
    retention: Option<holoscope::engine::retention::Retention>,
    /// With --interface: also save the capture as pcapng to FILE; rule drafts then follow the
    /// waves as traffic arrives (drafted from the growing copy).
    #[arg(long, value_name = "FILE", requires = "interface")]
    write: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Analyse a capture headless and print a report.
    Report {
        /// Capture file, or - for standard input.
        #[arg(required_unless_present_any = ["interface", "follow"])]
        capture: Option<PathBuf>,
        /// Capture live from this interface instead of reading a file (needs CAP_NET_RAW).
        #[arg(long, short = 'i', conflicts_with = "capture")]
        interface: Option<String>,
        /// Follow a capture that is still being written (and its rotated successors) until
        /// Ctrl-C or the idle timeout.
        #[cfg(feature = "follow")]
        #[arg(long, conflicts_with_all = ["capture", "interface"])]
        follow: Option<PathBuf>,
        /// With --follow: stop after no new packet bytes for this long (e.g. 5s).
        #[cfg(feature = "follow")]
        #[arg(long, value_parser = parse_duration_ns, requires = "follow")]
        idle: Option<i64>,
        /// Stop a live capture after this long (e.g. 30s); default: until Ctrl-C.
        #[arg(long, value_parser = parse_duration_ns, requires = "interface")]
        duration: Option<i64>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Fixed bucket width (e.g. 500ms, 1s, 2m); default: chosen from the capture.
        #[arg(long, value_parser = parse_duration_ns)]
        bucket: Option<i64>,
        /// Rows per table (flows, entities).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Baseline interval instead of the decaying one: offsets from the capture start
        /// (`00:00..01:30`, `0..90`) or absolute epoch seconds.
        #[arg(long, value_parser = holoscope::detect::BaselineTime::parse_range)]
        baseline: Option<(
            holoscope::detect::BaselineTime,
            holoscope::detect::BaselineTime,
        )>,
        /// Write to a file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Skip the residual-profile stage (faster; no residual heatmap or wave profiles).
        #[arg(long)]
        no_residual: bool,
        /// Stream alerts as JSON lines on standard output while analysing (one line per wave
        /// start, update and end, numbered by `seq`); the report then goes only to --output.
        #[arg(long)]
        follow_json: bool,
        /// Keep only the recent part of the stream in detail, by time (`10m`), wire bytes
        /// (`512MB`, `1GiB`) or both (`10m,512MB`; the stricter wins): older buckets fold into
        /// a history summary that seeds the baseline, older flows and hosts are evicted, so
        /// memory stays bounded on endless input. Default: none for files and stdin, 10m for
        /// --interface.
        #[arg(long, value_parser = holoscope::engine::retention::Retention::parse)]
        retention: Option<holoscope::engine::retention::Retention>,
        /// Also save every packet read as pcapng to this file (written as FILE.part, renamed
        /// when the capture ends).
        #[arg(long, value_name = "FILE")]
        write: Option<PathBuf>,
        /// Analyse only packets matching these rule conditions (`proto=6 dst_port=80,443`,
        /// optionally joined by `and`); the others are counted as filtered.
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
        /// Keep up to this many decoded packets in memory for rule drafting, which then need
        /// not read and decode the capture again (faster, at about 200 bytes per packet);
        /// a larger capture keeps none. 0 never keeps any.
        #[arg(long, value_name = "N", default_value_t = holoscope::engine::kept::DEFAULT_KEEP)]
        keep_packets: u64,
    },
    /// Draft mitigation rules for the waves of a capture and export them.
    Rules {
        /// Capture file.
        capture: PathBuf,
        /// Export format.
        #[arg(long, value_parser = parse_export_format)]
        format: holoscope::rules::ExportFormat,
        /// Accept these drafts (`all` or ids like `R1,R3`) and export only them.
        #[arg(long)]
        accept: Option<String>,
        /// Write to a file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Keep up to this many decoded packets in memory for rule drafting, which then need
        /// not read and decode the capture again (faster, at about 200 bytes per packet);
        /// a larger capture keeps none. 0 never keeps any.
        #[arg(long, value_name = "N", default_value_t = holoscope::engine::kept::DEFAULT_KEEP)]
        keep_packets: u64,
    },
    /// Measure per-stage throughput and peak memory on a capture.
    Bench {
        /// Capture file.
        capture: PathBuf,
        /// Output format (json or text).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Measure the full-report stage without the residual-profile stage.
        #[arg(long)]
        no_residual: bool,
    },
    /// Investigate in a line-editing shell (the TUI's commands, printed as tables).
    Shell(ShellArgs),
    /// Write the deterministic sample capture and its ground truth.
    Sample {
        /// Output pcap path (the truth goes beside it as .truth.ron and .truth.csv); `-`
        /// streams the pcap to standard output (no truth files).
        #[arg(short, long, default_value = DEFAULT_CAPTURE)]
        output: PathBuf,
        /// PRNG seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Write the hostile-text capture instead.
        #[arg(long)]
        hostile: bool,
        /// Write a benchmark capture of this many packets instead (no truth file).
        #[arg(long)]
        packets: Option<u64>,
    },
}

/// `holoscope shell` arguments.
#[derive(clap::Args, Debug)]
struct ShellArgs {
    /// Capture file (default: the shipped sample).
    #[arg(required_unless_present_any = ["interface", "session"])]
    capture: Option<PathBuf>,
    /// Capture live from this interface for `--duration` first (needs CAP_NET_RAW).
    #[arg(long, short = 'i', conflicts_with = "capture", requires = "duration")]
    interface: Option<String>,
    /// How long to capture live before the shell opens (e.g. 30s).
    #[arg(long, value_parser = parse_duration_ns)]
    duration: Option<i64>,
    /// Restore this session (its capture is opened).
    #[arg(long)]
    session: Option<PathBuf>,
    /// Run the commands of this file (one per line, `#` comments) and exit; the first
    /// failing line ends the run with exit code 1.
    #[arg(long)]
    commands: Option<PathBuf>,
    /// Keep only the recent part in detail (`10m`, `512MB`, `10m,512MB`; see `report
    /// --help`). Default: none for files, 10m for --interface.
    #[arg(long, value_parser = holoscope::engine::retention::Retention::parse)]
    retention: Option<holoscope::engine::retention::Retention>,
    /// Also save every packet read as pcapng to this file (see `report --write`).
    #[arg(long, value_name = "FILE", conflicts_with = "session")]
    write: Option<PathBuf>,
    /// Analyse only packets matching these rule conditions (see `report --filter`).
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
}

/// Parses `250ms`, `1s`, `1.5s`, `2m`, `1h` into nanoseconds.
fn parse_duration_ns(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?} (try 500ms, 1s, 2m)"))?;
    let mult = match unit {
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        "" | "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return Err(format!("bad duration unit {unit:?} (ns, us, ms, s, m, h)")),
    };
    #[allow(clippy::cast_possible_truncation)]
    let ns = (v * mult).round() as i64;
    if ns <= 0 {
        Err("duration must be positive".into())
    } else {
        Ok(ns)
    }
}

type Filter = std::sync::Arc<holoscope::rules::filter::PacketFilter>;

/// Parses `--filter` here rather than in clap, so a bad expression is one line (exit 2).
fn parse_filter(s: Option<&str>) -> Result<Option<Filter>, Failure> {
    s.map(|s| {
        holoscope::rules::filter::PacketFilter::parse(s)
            .map(std::sync::Arc::new)
            .map_err(|e| Failure {
                code: 2,
                message: format!("--filter: {e}"),
            })
    })
    .transpose()
}

/// Prints what the filter kept (the text report does not mention it).
fn filter_note(f: Option<&holoscope::rules::filter::PacketFilter>) {
    if let Some(f) = f {
        let c = f.counts();
        eprintln!(
            "holoscope: filter {:?} kept {} of {} packets",
            c.expr,
            c.packets_matched,
            c.packets_matched + c.packets_filtered
        );
    }
}

fn parse_export_format(s: &str) -> Result<holoscope::rules::ExportFormat, String> {
    holoscope::rules::ExportFormat::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = holoscope::rules::ExportFormat::ALL
            .iter()
            .map(|f| f.name())
            .collect();
        format!("unknown format (one of {})", names.join(", "))
    })
}

/// A failure with its exit code.
pub struct Failure {
    /// Process exit code.
    pub code: i32,
    /// One line for stderr.
    pub message: String,
}

impl From<CaptureError> for Failure {
    fn from(e: CaptureError) -> Self {
        Failure {
            code: 2,
            message: holoscope::text::escape_terminal_str(&e.to_string()),
        }
    }
}

fn io_fail(path: &Path, e: &std::io::Error) -> Failure {
    Failure {
        code: 1,
        message: format!(
            "{}: {e}",
            holoscope::text::escape_terminal_str(&path.display().to_string())
        ),
    }
}

fn progress_bar(path: &Path) -> ProgressBar {
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

fn analyze(path: &Path, opts: &engine::Options) -> Result<engine::Analysis, Failure> {
    analyze_to(path, opts, None, None)
}

/// Whether `report` drafts rules: only for a capture file, which drafting could read again
/// (not standard input, not a live interface).
fn drafts_from_file(capture: Option<&Path>, interface: Option<&str>) -> bool {
    capture.is_some_and(|p| p.as_os_str() != "-") && interface.is_none()
}

/// [`analyze`] with an optional `--write` copy and `--follow-json` alert stream.
fn analyze_to(
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
type Alerts = std::sync::Arc<std::sync::Mutex<holoscope::report::alerts::AlertStream>>;

/// Writes alert lines to standard output, flushed at once (a closed pipe is ignored: the
/// analysis and its report still finish).
fn print_alerts(events: &[holoscope::report::alerts::AlertEvent]) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    for e in events {
        if let Ok(line) = serde_json::to_string(e) {
            let _ = writeln!(out, "{line}");
        }
    }
    let _ = out.flush();
}

fn alert_events(
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
fn run_engine(
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

type Source = Box<dyn capture::PacketSource + Send>;

/// Wraps a source in the `--write` tee when asked, after refusing a target that is the input.
fn tee(
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
    let (src, h) = capture::write::tee(src, dest).map_err(|e| io_fail(&part, &e))?;
    Ok((src, Some(h)))
}

/// Reports what `--write` saved; a failed write is an error (its `.part` file is kept).
fn wrote(h: Option<capture::write::WriteHandle>) -> Result<(), Failure> {
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
fn stop_on_ctrl_c() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::Relaxed));
    stop
}

/// Follows a growing capture until the idle timeout or Ctrl-C, then analyses what was read.
#[cfg(feature = "follow")]
fn analyze_follow(
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
fn analyze_live(
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
fn drop_root() -> Result<(), Failure> {
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

fn write_out(output: Option<&Path>, text: &str) -> Result<(), Failure> {
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

fn render(r: &Report, f: Format) -> Result<String, Failure> {
    r.render(f).map_err(|e| Failure {
        code: 1,
        message: e.to_string(),
    })
}

/// Parses arguments and runs the command.
///
/// # Errors
/// A [`Failure`] carrying the exit code and message.
pub fn run() -> Result<(), Failure> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Report {
            capture,
            interface,
            duration,
            format,
            bucket,
            limit,
            baseline,
            output,
            no_residual,
            follow_json,
            retention,
            write,
            filter,
            keep_packets,
            #[cfg(feature = "follow")]
            follow,
            #[cfg(feature = "follow")]
            idle,
        }) => {
            let filter = parse_filter(filter.as_deref())?;
            let opts = engine::Options {
                bucket_ns: bucket,
                detect: holoscope::detect::DetectOptions {
                    baseline,
                    entity_limit: limit,
                    ..Default::default()
                },
                residual: !no_residual,
                retention: retention.or_else(|| {
                    interface
                        .as_ref()
                        .map(|_| holoscope::engine::retention::LIVE_DEFAULT)
                }),
                filter: filter.clone(),
                // Drafting (below, for a capture file) takes the decoded packets from the
                // analysis instead of reading and decoding the file again.
                keep_packets: drafts_from_file(capture.as_deref(), interface.as_deref())
                    .then_some(keep_packets)
                    .filter(|n| *n > 0),
                ..engine::Options::default()
            };
            let alerts: Option<Alerts> = follow_json.then(Alerts::default);
            let alerts = alerts.as_ref();
            #[cfg(feature = "follow")]
            let followed = match &follow {
                Some(path) => Some(analyze_follow(path, idle, &opts, write.as_deref(), alerts)?),
                None => None,
            };
            #[cfg(not(feature = "follow"))]
            let followed: Option<engine::Analysis> = None;
            let mut a = match (followed, &interface, &capture) {
                (Some(a), _, _) => a,
                (None, Some(iface), _) => {
                    analyze_live(iface, duration, &opts, write.as_deref(), alerts)?
                }
                (None, None, Some(path)) => analyze_to(path, &opts, write.as_deref(), alerts)?,
                (None, None, None) => {
                    return Err(Failure {
                        code: 2,
                        message: "give a capture or --interface".into(),
                    });
                }
            };
            let mut r = Report::build(
                &a,
                Limits {
                    flows: limit,
                    entities: limit,
                },
            );
            if let Some(f) = &filter {
                filter_note(Some(f));
                r = r.with_filter(f);
            }
            // Drafting takes the packets the analysis kept, and reads the file again when it
            // kept none (a capture past the budget): so only a file, not stdin or a live one.
            if let Some(path) = capture.as_deref()
                && drafts_from_file(Some(path), interface.as_deref())
            {
                match holoscope::rules::draft_for_taking(&mut a, path) {
                    Ok(d) => r = r.with_rules(&d),
                    Err(e) => eprintln!(
                        "holoscope: rules not drafted: {}",
                        holoscope::text::escape_terminal_str(&e.to_string())
                    ),
                }
            }
            // With --follow-json standard output carries the alert stream only.
            if follow_json && output.is_none() {
                return Ok(());
            }
            write_out(output.as_deref(), &render(&r, format)?)
        }
        Some(Command::Rules {
            capture,
            format,
            accept,
            output,
            keep_packets,
        }) => rules_cmd(
            &capture,
            format,
            accept.as_deref(),
            output.as_deref(),
            keep_packets,
        ),
        Some(Command::Bench {
            capture,
            format,
            no_residual,
        }) => {
            let b = bench::run_with(&capture, !no_residual)?;
            let text = if format == Format::Json {
                serde_json::to_string_pretty(&b).map_err(|e| Failure {
                    code: 1,
                    message: e.to_string(),
                })? + "\n"
            } else {
                b.text()
            };
            write_out(None, &text)
        }
        Some(Command::Sample {
            output,
            seed,
            hostile,
            packets,
        }) => sample_cmd(&output, seed, hostile, packets),
        Some(Command::Shell(args)) => shell_cmd(args),
        None => match cli.interface {
            Some(iface) => open_live_tui(LiveTui {
                iface,
                duration: cli.duration,
                theme: cli.theme,
                retention: cli.retention,
                write: cli.write,
            }),
            None => open_tui(cli.capture, cli.theme, cli.session),
        },
    }
}

/// `holoscope [CAPTURE] [--theme NAME] [--session FILE]`: the TUI. Without any argument it
/// opens the shipped sample when present, else prints the usage.
#[cfg(feature = "tui")]
fn open_tui(
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
struct LiveTui {
    iface: String,
    duration: Option<i64>,
    // Only the TUI has themes; without it the live capture ends in a text report.
    #[cfg_attr(not(feature = "tui"), allow(dead_code))]
    theme: Option<String>,
    retention: Option<holoscope::engine::retention::Retention>,
    write: Option<PathBuf>,
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
fn open_live_tui(args: LiveTui) -> Result<(), Failure> {
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
fn open_live_tui(args: LiveTui) -> Result<(), Failure> {
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
fn open_tui(
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

fn rules_cmd(
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
fn sample_config(hostile: bool, seed: Option<u64>) -> sample::SampleConfig {
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

fn sample_cmd(
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
fn hooks() -> holoscope::investigation::Hooks {
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
fn shell_cmd(args: ShellArgs) -> Result<(), Failure> {
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
        (Some(iface), _, _) => (
            PathBuf::from(format!("live:{iface}")),
            analyze_live(iface, duration, &opts, write.as_deref(), None)?,
        ),
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
        None => Investigation::new(&path, a, hooks()),
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
            holoscope::shell::interactive(&mut inv).map_err(|message| Failure { code: 1, message })
        }
    }
}

/// Without the shell feature the subcommand explains how to get it.
#[cfg(not(feature = "shell"))]
fn shell_cmd(_args: ShellArgs) -> Result<(), Failure> {
    Err(Failure {
        code: 2,
        message: "this holoscope was built without the shell feature".into(),
    })
}
