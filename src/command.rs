//! The one command language of holoscope: the TUI command bar, the shell, keymaps and session
//! journals all speak it. `parse` turns a line into a [`Command`]; `Display` writes it back so
//! that `parse(cmd.to_string()) == cmd` (tested).
//!
//! Grammar (one command per line, words separated by spaces):
//!
//! ```text
//! goto TIME            TIME = 90 | 90s | 1:30 | 1:02:03 | +10s | -5s | @1506884196.5 | wave ID
//! window DUR           DUR  = 500ms | 10s | 2m | 1h
//! baseline A..B | baseline auto
//! accept ID|all   reject ID|all   edit ID [RULE]   add [wave N] RULE
//! suppress FIELD=VALUE   unsuppress FIELD=VALUE
//! export FORMAT FILE   save [FILE]   theme NAME   note TEXT
//! shifts   entities   waves   rules   violations   explain ENTITY   help   quit
//! ```

pub mod complete;
pub mod parse;

pub use complete::{Context, complete};
pub use parse::{ParseError, parse};

use std::fmt;

/// A point in time as the analyst writes it.
#[derive(Clone, Debug, PartialEq)]
pub enum TimeSpec {
    /// Seconds from the start of the capture.
    Offset(f64),
    /// Seconds relative to the cursor (`+10s`, `-5s`).
    Relative(f64),
    /// Absolute UTC epoch seconds (`@1506884196.5`).
    Epoch(f64),
    /// The start of a wave (`wave 2`).
    Wave(String),
}

/// Which rules an accept/reject applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleSel {
    /// Every drafted rule.
    All,
    /// One rule id.
    Id(String),
}

/// A parsed command.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Move the cursor.
    Goto(TimeSpec),
    /// Set the recent-window length in seconds.
    Window(f64),
    /// Set the baseline interval (offsets in seconds), or back to the automatic causal one.
    Baseline(Option<(TimeSpec, TimeSpec)>),
    /// Accept rules.
    Accept(RuleSel),
    /// Reject rules.
    Reject(RuleSel),
    /// Open a rule in the editor, or replace it with the given rule text.
    Edit(String, Option<String>),
    /// Add a rule the analyst wrote (one-line form without the id: `drop when dst_port=53`),
    /// judged against the named wave (`add wave 2 ...`; else the wave at the cursor).
    Add(Option<String>, String),
    /// Suppress findings for a field value.
    Suppress(String, String),
    /// Lift a suppression.
    Unsuppress(String, String),
    /// Export accepted rules.
    Export(String, String),
    /// Save the session (to its file, or the given one).
    Save(Option<String>),
    /// Switch theme.
    Theme(String),
    /// Attach a note to the session.
    Note(String),
    /// List shifts at the cursor.
    Shifts,
    /// List ranked entities.
    Entities,
    /// List waves.
    Waves,
    /// List rules.
    Rules,
    /// List the violations grouped by kind and the address their sessions share.
    Violations,
    /// Explain one entity.
    Explain(String),
    /// Show help.
    Help,
    /// Leave.
    Quit,
}

/// Command names, for completion and help.
pub const NAMES: &[&str] = &[
    "goto",
    "window",
    "baseline",
    "accept",
    "reject",
    "edit",
    "add",
    "suppress",
    "unsuppress",
    "export",
    "save",
    "theme",
    "note",
    "shifts",
    "entities",
    "waves",
    "rules",
    "violations",
    "explain",
    "help",
    "quit",
];

/// Rule export formats.
pub const EXPORT_FORMATS: &[&str] = &[
    "nft",
    "iptables",
    "ip6tables",
    "suricata",
    "bpf",
    "wireshark",
    "edn",
    "ron",
];

/// Shortest decimal form of seconds that parses back to the same `f64` (`90`, `1.5`,
/// `1000000.7000005`): Rust's float `Display` is shortest-round-trip and never uses an exponent.
/// Fuzzing found that a fixed six decimals lost precision in session journals.
fn secs(s: f64) -> String {
    if s == 0.0 {
        // Also turns -0 into 0, so `+0s` never prints as `+-0s`.
        "0".into()
    } else {
        format!("{s}")
    }
}

impl fmt::Display for TimeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeSpec::Offset(s) => write!(f, "{}s", secs(*s)),
            TimeSpec::Relative(s) if *s >= 0.0 => write!(f, "+{}s", secs(*s)),
            TimeSpec::Relative(s) => write!(f, "-{}s", secs(-*s)),
            TimeSpec::Epoch(s) => write!(f, "@{}", secs(*s)),
            TimeSpec::Wave(id) => write!(f, "wave {id}"),
        }
    }
}

impl fmt::Display for RuleSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleSel::All => f.write_str("all"),
            RuleSel::Id(id) => f.write_str(id),
        }
    }
}

impl Command {
    /// The command's name, as typed.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Command::Goto(_) => "goto",
            Command::Window(_) => "window",
            Command::Baseline(_) => "baseline",
            Command::Accept(_) => "accept",
            Command::Reject(_) => "reject",
            Command::Edit(..) => "edit",
            Command::Add(..) => "add",
            Command::Suppress(..) => "suppress",
            Command::Unsuppress(..) => "unsuppress",
            Command::Export(..) => "export",
            Command::Save(_) => "save",
            Command::Theme(_) => "theme",
            Command::Note(_) => "note",
            Command::Shifts => "shifts",
            Command::Entities => "entities",
            Command::Waves => "waves",
            Command::Rules => "rules",
            Command::Violations => "violations",
            Command::Explain(_) => "explain",
            Command::Help => "help",
            Command::Quit => "quit",
        }
    }

    /// True for commands that only change what is shown (cursor, window, theme, listings),
    /// never a decision: these work on a snapshot of an analysis that is still running.
    #[must_use]
    pub fn is_view(&self) -> bool {
        matches!(
            self,
            Command::Goto(_)
                | Command::Window(_)
                | Command::Theme(_)
                | Command::Shifts
                | Command::Entities
                | Command::Waves
                | Command::Rules
                | Command::Violations
                | Command::Explain(_)
                | Command::Help
                | Command::Quit
        )
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Goto(t) => write!(f, "goto {t}"),
            Command::Window(s) => write!(f, "window {}s", secs(*s)),
            Command::Baseline(None) => f.write_str("baseline auto"),
            Command::Baseline(Some((a, b))) => write!(f, "baseline {a}..{b}"),
            Command::Accept(s) => write!(f, "accept {s}"),
            Command::Reject(s) => write!(f, "reject {s}"),
            Command::Edit(id, None) => write!(f, "edit {id}"),
            Command::Edit(id, Some(rule)) => write!(f, "edit {id} {rule}"),
            Command::Add(None, rule) => write!(f, "add {rule}"),
            Command::Add(Some(w), rule) => write!(f, "add wave {w} {rule}"),
            Command::Suppress(k, v) => write!(f, "suppress {k}={v}"),
            Command::Unsuppress(k, v) => write!(f, "unsuppress {k}={v}"),
            Command::Export(fmt_, file) => write!(f, "export {fmt_} {file}"),
            Command::Save(None) => f.write_str("save"),
            Command::Save(Some(p)) => write!(f, "save {p}"),
            Command::Theme(n) => write!(f, "theme {n}"),
            Command::Note(t) => write!(f, "note {t}"),
            Command::Shifts => f.write_str("shifts"),
            Command::Entities => f.write_str("entities"),
            Command::Waves => f.write_str("waves"),
            Command::Rules => f.write_str("rules"),
            Command::Violations => f.write_str("violations"),
            Command::Explain(e) => write!(f, "explain {e}"),
            Command::Help => f.write_str("help"),
            Command::Quit => f.write_str("quit"),
        }
    }
}
