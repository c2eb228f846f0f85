//! Command-line interface: argument parsing and dispatch to the headless commands.
//!
//! Exit codes: 0 success, 2 bad input (not a capture, unreadable file, bad argument), 1 any other
//! failure. Errors are one line naming the file and what was wrong.
//!
//! This file holds the arguments and the dispatch; `args` parses the values clap does not,
//! `analysis` runs the engine on a file, a followed file or an interface (progress bar,
//! `--write` tee, alerts, output files), and `commands` holds the TUI, `rules`, `sample` and
//! `shell` commands.

use clap::{Parser, Subcommand};
use holoscope::capture::CaptureError;
use holoscope::report::{Format, Limits, Report};
use holoscope::{bench, engine};
use std::path::{Path, PathBuf};

mod analysis;
mod args;
mod commands;

#[cfg(feature = "follow")]
use analysis::analyze_follow;
use analysis::{Alerts, analyze_live, analyze_to, draft_source, drafts_rules, render, write_out};
use args::{filter_note, parse_duration_ns, parse_export_format, parse_filter};
use commands::{LiveTui, open_live_tui, open_tui, rules_cmd, sample_cmd, shell_cmd};

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
    /// Watch a live interface in the TUI (`any`: all of them; needs CAP_NET_RAW): panes follow
    /// the present until you move the cursor (End returns to live).
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
        /// Capture live from this interface instead of reading a file (`any`: all of them;
        /// needs CAP_NET_RAW).
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
        /// a larger capture keeps none. 0 never keeps any. Standard input cannot be read
        /// again: past this, its rules are drafted from the --write copy, or not at all.
        #[arg(long, value_name = "N", default_value_t = holoscope::engine::kept::DEFAULT_KEEP)]
        keep_packets: u64,
    },
    /// Draft mitigation rules for the waves of a capture and export them.
    Rules {
        /// Capture file, or - for standard input.
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
        /// a larger capture keeps none. 0 never keeps any. Standard input cannot be read
        /// again: past this, no rule is drafted from it.
        #[arg(long, value_name = "N", default_value_t = holoscope::engine::kept::DEFAULT_KEEP)]
        keep_packets: u64,
    },
    /// Measure per-stage throughput, CPU time per packet and peak memory on a capture.
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
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        packets: Option<u64>,
    },
}

/// `holoscope shell` arguments.
#[derive(clap::Args, Debug)]
struct ShellArgs {
    /// Capture file, or - for standard input with --write.
    #[arg(required_unless_present_any = ["interface", "session"])]
    capture: Option<PathBuf>,
    /// Capture live from this interface for `--duration` first (`any`: all of them; needs
    /// CAP_NET_RAW).
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
                // Drafting (below, for a file or standard input) takes the decoded packets
                // from the analysis instead of reading and decoding the input again, which
                // standard input cannot be.
                keep_packets: drafts_rules(capture.as_deref(), interface.as_deref())
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
            if let Some(w) = a.findings.baseline.warning() {
                eprintln!("holoscope: {w}");
            }
            if let Some(f) = &filter {
                filter_note(Some(f));
            }
            let build = |a: &engine::Analysis| {
                let r = Report::build(
                    a,
                    Limits {
                        flows: limit,
                        entities: limit,
                    },
                );
                match &filter {
                    Some(f) => r.with_filter(f),
                    None => r,
                }
            };
            let not_drafted = |e: &str| {
                eprintln!(
                    "holoscope: rules not drafted: {}",
                    holoscope::text::escape_terminal_str(e)
                );
            };
            // Drafting takes the packets the analysis kept, and reads the input again when it
            // kept none (past the budget, or under retention): a file, or the `--write` copy
            // of standard input. The report is built beside it.
            let drafting = capture
                .as_deref()
                .filter(|path| drafts_rules(Some(path), interface.as_deref()));
            let from = drafting.map(|path| {
                draft_source(
                    path,
                    write.as_deref(),
                    a.packets.is_some(),
                    keep_packets,
                    true,
                )
            });
            let r = match from {
                Some(Ok(from)) => {
                    match holoscope::rules::draft::draft_taking_beside(&mut a, from, build) {
                        (Ok(d), r) => r.with_rules(&d),
                        (Err(e), r) => {
                            not_drafted(&e.to_string());
                            r
                        }
                    }
                }
                Some(Err(e)) => {
                    not_drafted(&e);
                    build(&a)
                }
                None => build(&a),
            };
            // With --follow-json standard output carries the alert stream only.
            if follow_json && output.is_none() {
                return Ok(());
            }
            let written = write_out(output.as_deref(), &render(&r, format)?);
            // The process ends next: freeing the analysis and report (hundreds of megabytes
            // of tables and samples, block by block) only delays the exit the caller waits
            // for, by 0.04 s on the bench capture. The operating system reclaims it at once.
            std::mem::forget(a);
            std::mem::forget(r);
            written
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
