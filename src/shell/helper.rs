//! The rustyline helper: completion from the shared completer in [`crate::command`] (commands,
//! fields, entity addresses, rule and wave ids, themes, export formats) and a hint with the
//! usage of the command being typed.

use crate::command::complete::{Context as Names, complete};
use crate::investigation::Investigation;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

/// Usage shown as a hint once a command's name is typed.
const USAGE: &[(&str, &str)] = &[
    ("goto", " TIME (1:30, +10s, @EPOCH, wave 2)"),
    ("window", " DUR (30s)"),
    ("baseline", " A..B | auto"),
    ("accept", " ID|all"),
    ("reject", " ID|all"),
    ("edit", " ID [RULE]"),
    ("suppress", " FIELD=VALUE"),
    ("unsuppress", " FIELD=VALUE"),
    ("export", " FORMAT FILE"),
    ("save", " [FILE]"),
    ("theme", " NAME"),
    ("note", " TEXT"),
    ("explain", " ENTITY"),
];

/// Completion names taken from the investigation.
pub struct ShellHelper {
    names: Names,
}

impl ShellHelper {
    /// A helper completing the names that exist in `inv`.
    #[must_use]
    pub fn new(inv: &Investigation) -> Self {
        let mut h = Self {
            names: Names::default(),
        };
        h.refresh(inv);
        h
    }

    /// Re-reads entity addresses, rule ids and wave ids.
    pub fn refresh(&mut self, inv: &Investigation) {
        self.names = Names {
            entities: inv
                .entities()
                .iter()
                .take(200)
                .map(|e| crate::text::escape_terminal_str(&e.entity))
                .collect(),
            rules: inv.rules.iter().map(|r| r.rule.id.to_string()).collect(),
            waves: inv
                .findings()
                .waves
                .iter()
                .map(|w| w.id.to_string())
                .collect(),
            themes: vec!["dark".into(), "light".into(), "high-contrast".into()],
        };
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let head = line.get(..pos).unwrap_or(line);
        let (start, cands) = complete(head, &self.names);
        Ok((
            start,
            cands
                .into_iter()
                .map(|c| Pair {
                    display: c.clone(),
                    replacement: c,
                })
                .collect(),
        ))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<String> {
        if pos != line.len() {
            return None;
        }
        let word = line.trim_start();
        USAGE
            .iter()
            .find(|(name, _)| word == *name)
            .map(|(_, usage)| (*usage).to_string())
    }
}

impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}
