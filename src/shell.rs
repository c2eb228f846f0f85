//! `holoscope shell`: a line-editing console over the one command language (the same commands
//! as the TUI's command bar, parsed by [`crate::command::parse()`] and applied by
//! [`Investigation::apply`]), printing plain tables.
//!
//! Interactive mode uses rustyline: history in the user's data directory, Tab completion of
//! commands, fields, entity addresses, wave and rule ids (by [`crate::command::complete()`]), and
//! a grey hint with the usage of the command being typed. `--commands FILE` runs a script
//! without a terminal and stops at the first failing line with an error naming it, so an
//! investigation can be replayed in CI.

pub mod helper;
pub mod tables;

use crate::command;
use crate::investigation::{Effect, Investigation};
use crate::text::escape_terminal_str as esc;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What happened to one line.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Printed this; go on.
    Continue(String),
    /// The line asked to leave.
    Quit,
}

/// Runs one command line against the investigation and returns what to print. Blank lines and
/// `#` comments do nothing. Rule edits are replayed synchronously (a shell has no UI to keep
/// responsive).
///
/// # Errors
/// A one-line message (escaped) when the line does not parse or cannot apply.
pub fn run_line(inv: &mut Investigation, line: &str) -> Result<Outcome, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(Outcome::Continue(String::new()));
    }
    let cmd = command::parse(line).map_err(|e| e.to_string())?;
    let out = match inv.apply(cmd)? {
        Effect::Message(m) => m + "\n",
        Effect::Show(c) => tables::render(inv, &c),
        Effect::Help => tables::help(),
        Effect::OpenEditor(i) => match inv.rules.get(i) {
            Some(r) => format!(
                "{}\n(edit it with: edit {} ACTION when FIELD=VALUE ...)\n",
                r.rule, r.rule.id
            ),
            None => "no such rule\n".into(),
        },
        Effect::Replay(i, msg) => {
            let Some(rule) = inv.rules.get(i).map(|e| e.rule.clone()) else {
                return Err("no such rule".into());
            };
            let res = Investigation::replay(&inv.path, &rule, &inv.analysis, inv.hooks);
            inv.set_counts(i, &rule.def, res.clone());
            match res {
                Ok(c) => format!("{msg}\n{}: {}\n", rule.id, c.summary()),
                Err(e) => format!("{msg}\n{}: replay failed: {}\n", rule.id, esc(&e)),
            }
        }
        Effect::Theme(t) => format!("theme {} (used by the TUI)\n", esc(&t)),
        Effect::Quit => return Ok(Outcome::Quit),
    };
    Ok(Outcome::Continue(out))
}

/// Runs a script: every line in order, echoing it (`> line`) before its output. Stops at the
/// first failing line.
///
/// # Errors
/// `line N: message` for the first line that failed.
pub fn run_script(
    inv: &mut Investigation,
    script: &str,
    out: &mut dyn Write,
) -> Result<(), String> {
    for (n, line) in script.lines().enumerate() {
        let shown = line.trim();
        if !shown.is_empty() && !shown.starts_with('#') {
            let _ = writeln!(out, "> {}", esc(shown));
        }
        match run_line(inv, line).map_err(|e| format!("line {}: {e}", n + 1))? {
            Outcome::Continue(text) => {
                let _ = out.write_all(text.as_bytes());
            }
            Outcome::Quit => break,
        }
    }
    Ok(())
}

/// The history file: `$XDG_DATA_HOME/holoscope/shell_history`, else
/// `~/.local/share/holoscope/shell_history`; `HOLOSCOPE_HISTORY` overrides both (tests).
#[must_use]
pub fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HOLOSCOPE_HISTORY") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")))?;
    Some(base.join("holoscope").join("shell_history"))
}

/// The interactive loop. Ctrl-D or `quit` leaves; Ctrl-C clears the line.
///
/// `stdin_taken`: standard input carried the capture (`shell - --write FILE`), so commands
/// are read from the controlling terminal (`/dev/tty`) instead of the drained stream. Only
/// then: otherwise commands piped into the shell are read as they come, even from a terminal.
///
/// # Errors
/// When the terminal cannot be set up.
pub fn interactive(inv: &mut Investigation, stdin_taken: bool) -> Result<(), String> {
    use rustyline::error::ReadlineError;
    let behavior = if stdin_taken {
        rustyline::config::Behavior::PreferTerm
    } else {
        rustyline::config::Behavior::Stdio
    };
    let config = rustyline::Config::builder().behavior(behavior).build();
    let mut rl =
        rustyline::Editor::<helper::ShellHelper, rustyline::history::DefaultHistory>::with_config(
            config,
        )
        .map_err(|e| format!("terminal: {e}"))?;
    rl.set_helper(Some(helper::ShellHelper::new(inv)));
    let history = history_path();
    if let Some(h) = &history {
        // A missing history file is normal on first use.
        let _ = rl.load_history(h);
    }
    println!(
        "holoscope shell on {} ({} waves, {} rules). `help` lists commands, Tab completes.",
        esc(&inv.path.display().to_string()),
        inv.findings().waves.len(),
        inv.rules.len()
    );
    loop {
        match rl.readline("holoscope> ") {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = rl.add_history_entry(line.as_str());
                }
                match run_line(inv, &line) {
                    Ok(Outcome::Continue(t)) => print!("{t}"),
                    Ok(Outcome::Quit) => break,
                    Err(e) => println!("error: {e}"),
                }
                // Completion candidates follow the investigation (rules edited, suppressions).
                if let Some(h) = rl.helper_mut() {
                    h.refresh(inv);
                }
            }
            Err(ReadlineError::Interrupted) => {}
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(format!("terminal: {e}")),
        }
    }
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = rl.save_history(h) {
            eprintln!(
                "holoscope: history not saved to {}: {e}",
                esc(&h.display().to_string())
            );
        }
    }
    Ok(())
}
