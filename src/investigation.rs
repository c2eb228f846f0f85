//! An investigation: one analysed capture plus everything the analyst decided about it (cursor,
//! window, baseline, rule decisions and edits, suppressions, notes, theme, layout).
//!
//! This is the model behind the TUI and the future shell; it has no UI dependency. Every change
//! goes through [`Investigation::apply`] with a [`Command`] of the one command language, and the
//! commands that change decisions are journalled, so a session restores by replaying them
//! ([`Investigation::from_session`]). Rule drafting and replay are injected as [`Hooks`], so
//! this module does not depend on which drafting stage is built in. Applying a command is
//! `investigation/apply.rs`; saving and restoring sessions is `investigation/session.rs`.

mod apply;
pub mod groups;
mod session;

use crate::command::Command;
use crate::detect::{Findings, Wave, shift::Shift};
use crate::engine::Analysis;
use crate::rules::{ReplayCounts, Rule, RuleDef};
use crate::session::Layout;
use crate::time::Timestamp;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Drafts rules for an analysis (rule, and its replay figures when already known).
pub type Drafter = fn(&Analysis, &Path) -> Vec<(Rule, Option<ReplayCounts>)>;
/// Replays one rule over the capture (coverage and collateral).
pub type Replayer = fn(&Path, &Rule, &Analysis) -> Result<ReplayCounts, String>;

/// Injected stages (wired by the binary; tests inject simple ones).
#[derive(Clone, Copy, Debug, Default)]
pub struct Hooks {
    /// Rule drafting; `None` leaves the rule list empty.
    pub drafter: Option<Drafter>,
    /// Rule replay; `None` leaves edited rules without figures.
    pub replayer: Option<Replayer>,
}

/// One rule of the investigation with its latest replay figures.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleEntry {
    /// The rule (its provenance carries the status).
    pub rule: Rule,
    /// Coverage and collateral, when replayed.
    pub counts: Option<ReplayCounts>,
    /// A replay is running for the current definition.
    pub pending: bool,
    /// Why the last replay failed.
    pub error: Option<String>,
}

/// What the caller (TUI or shell) must do after a command.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Show this message.
    Message(String),
    /// Show a listing or pane (`shifts`, `entities`, `waves`, `rules`, `violations`,
    /// `explain ENTITY`).
    Show(Command),
    /// Show the help.
    Help,
    /// Open this rule (index into `rules`) in an editor.
    OpenEditor(usize),
    /// The rule at this index changed: replay it (off the UI thread), then call
    /// [`Investigation::set_counts`].
    Replay(usize, String),
    /// The theme name changed.
    Theme(String),
    /// Leave.
    Quit,
}

/// The investigation state.
#[derive(Clone, Debug)]
pub struct Investigation {
    /// The capture file.
    pub path: PathBuf,
    /// The analysis (findings replaced when the baseline changes).
    pub analysis: Arc<Analysis>,
    /// Cursor: a timeline bucket position.
    pub cursor: usize,
    /// Recent-window length in seconds.
    pub window_s: f64,
    /// Analyst-chosen baseline (epoch seconds), `None` for the automatic one.
    pub baseline: Option<(f64, f64)>,
    /// Drafted and edited rules.
    pub rules: Vec<RuleEntry>,
    /// Suppressed `(field, value)` pairs.
    pub suppressions: Vec<(String, String)>,
    /// Notes.
    pub notes: Vec<String>,
    /// Theme name.
    pub theme: String,
    /// Pane layout (kept for the session).
    pub layout: Layout,
    /// Journal of decision commands, in order.
    pub journal: Vec<String>,
    /// Session file, once saved or restored.
    pub session_path: Option<PathBuf>,
    /// Injected stages.
    pub hooks: Hooks,
    capture_sha: Option<String>,
    groups: groups::GroupsCache,
}

/// Default recent window in seconds.
pub const DEFAULT_WINDOW_S: f64 = 10.0;

fn wave_id(s: &str) -> Option<u32> {
    s.trim_start_matches(['W', 'w']).parse().ok()
}

impl Investigation {
    /// A fresh investigation; rules are drafted with the injected drafter and the cursor sits at
    /// the start (the TUI and the shell then move it with [`Investigation::to_first_wave`]).
    #[must_use]
    pub fn new(path: &Path, analysis: Arc<Analysis>, hooks: Hooks) -> Self {
        let rules = hooks
            .drafter
            .map(|d| d(&analysis, path))
            .unwrap_or_default()
            .into_iter()
            .map(|(rule, counts)| RuleEntry {
                rule,
                counts,
                pending: false,
                error: None,
            })
            .collect();
        Self {
            path: path.to_path_buf(),
            analysis,
            cursor: 0,
            window_s: DEFAULT_WINDOW_S,
            baseline: None,
            rules,
            suppressions: Vec::new(),
            notes: Vec::new(),
            theme: "dark".into(),
            layout: Layout::default(),
            journal: Vec::new(),
            session_path: None,
            hooks,
            capture_sha: None,
            groups: groups::GroupsCache::default(),
        }
    }

    /// Replaces the analysis with a newer snapshot of the same (growing) capture and keeps the
    /// analyst's view: the cursor stays at the same time (bucket widths may have changed since),
    /// or moves to the newest bucket when `follow` is set (live mode).
    pub fn refresh(&mut self, analysis: Arc<Analysis>, follow: bool) {
        let (t, was_empty) = (self.cursor_time(), self.is_empty());
        self.analysis = analysis;
        self.cursor = if follow {
            self.len().saturating_sub(1)
        } else if was_empty {
            0
        } else {
            self.pos_at(t)
        };
    }

    /// The id of the earlier rule that rule `i` repeats (same action, priority and conditions:
    /// an attack's later wave brings the same draft again; exports write it once).
    #[must_use]
    pub fn repeat_of(&self, i: usize) -> Option<crate::rules::RuleId> {
        let def = &self.rules.get(i)?.rule.def;
        self.rules
            .get(..i)?
            .iter()
            .find(|o| o.rule.def.same_as(def))
            .map(|o| o.rule.id)
    }

    /// The current findings.
    #[must_use]
    pub fn findings(&self) -> &Findings {
        &self.analysis.findings
    }

    /// Number of timeline buckets.
    #[must_use]
    pub fn len(&self) -> usize {
        self.findings().buckets.len()
    }

    /// No buckets at all (empty capture).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Start of the bucket at `pos` (the capture start when out of range).
    #[must_use]
    pub fn bucket_time(&self, pos: usize) -> Timestamp {
        self.findings()
            .buckets
            .get(pos)
            .map_or_else(|| self.first_ts(), |b| b.start)
    }

    /// First packet time.
    #[must_use]
    pub fn first_ts(&self) -> Timestamp {
        self.analysis.agg.stats.first_ts.unwrap_or_default()
    }

    /// The bucket containing `t` (the last one starting at or before it).
    #[must_use]
    pub fn pos_at(&self, t: Timestamp) -> usize {
        self.findings()
            .buckets
            .partition_point(|b| b.start <= t)
            .saturating_sub(1)
    }

    /// Cursor time.
    #[must_use]
    pub fn cursor_time(&self) -> Timestamp {
        self.bucket_time(self.cursor)
    }

    /// Buckets of the recent window ending at the cursor (inclusive).
    #[must_use]
    pub fn window_range(&self) -> Range<usize> {
        #[allow(clippy::cast_possible_truncation)]
        let w = (self.window_s * 1e9) as i64;
        let from = Timestamp(self.cursor_time().0.saturating_sub(w));
        let b = &self.findings().buckets;
        let start = b.partition_point(|x| x.start <= from).min(self.cursor);
        start..(self.cursor + 1).min(b.len())
    }

    /// The wave containing the bucket at `pos`.
    #[must_use]
    pub fn wave_at(&self, pos: usize) -> Option<&Wave> {
        self.findings()
            .waves
            .iter()
            .find(|w| w.buckets.contains(&pos))
    }

    /// Moves the cursor by `delta` buckets (clamped).
    pub fn scrub(&mut self, delta: isize) {
        let max = self.len().saturating_sub(1);
        self.cursor = self.cursor.saturating_add_signed(delta).min(max);
    }

    /// Moves the cursor to the start of the first wave; false (cursor unchanged) when there is
    /// none. A freshly opened capture starts here, so the first screen already shows what
    /// changed instead of the quiet start of the capture; `]` then steps to the second wave.
    /// (It also reaches a wave that starts in the first bucket, which `]` from the start
    /// cannot, as it looks strictly after the cursor.)
    pub fn to_first_wave(&mut self) -> bool {
        match self.findings().waves.first().map(|w| w.buckets.start) {
            Some(p) => {
                self.cursor = p;
                true
            }
            None => false,
        }
    }

    /// Moves the cursor to the next (`forward`) or previous wave start; false when none.
    pub fn jump_wave(&mut self, forward: bool) -> bool {
        let waves = &self.findings().waves;
        let target = if forward {
            waves.iter().find(|w| w.buckets.start > self.cursor)
        } else {
            waves.iter().rev().find(|w| w.buckets.start < self.cursor)
        };
        match target.map(|w| w.buckets.start) {
            Some(p) => {
                self.cursor = p;
                true
            }
            None => false,
        }
    }

    /// Whether a field value is suppressed (`value` in its display form).
    #[must_use]
    pub fn is_suppressed(&self, field: &str, value: &str) -> bool {
        self.suppressions
            .iter()
            .any(|(f, v)| f == field && v == value)
    }

    /// The shifts to show at the cursor, most significant first, suppressions removed: the
    /// cursor bucket's own shifts, or its wave's when the bucket has none; the label says which.
    #[must_use]
    pub fn shifts_at_cursor(&self) -> (String, Vec<Shift>) {
        let own = self.findings().shifts_at(self.cursor);
        let (label, list) = match (own.is_empty(), self.wave_at(self.cursor)) {
            (true, Some(w)) => (
                match w.like {
                    Some(n) => format!("wave {} · like W{n}", w.id),
                    None => format!("wave {}", w.id),
                },
                w.shifts.as_slice(),
            ),
            (true, None) => ("quiet bucket".to_string(), own),
            (false, _) => ("this bucket".to_string(), own),
        };
        let mut v: Vec<Shift> = list
            .iter()
            .filter(|s| {
                let val = s.value.as_ref().map(|v| v.display(s.field));
                !val.is_some_and(|v| self.is_suppressed(s.field.name(), &v))
            })
            .cloned()
            .collect();
        v.sort_by(|a, b| b.significance.abs().total_cmp(&a.significance.abs()));
        (label, v)
    }

    /// Ranked entities minus suppressed addresses.
    #[must_use]
    pub fn entities(&self) -> Vec<&crate::detect::rank::RankedEntity> {
        self.findings()
            .entities
            .iter()
            .filter(|e| {
                !self
                    .suppressions
                    .iter()
                    .any(|(f, v)| (f == "src_ip" || f == "dst_ip") && *v == e.entity)
            })
            .collect()
    }

    /// The violations grouped by kind and the address their sessions share, most sessions
    /// first, minus groups on suppressed addresses (as [`Investigation::entities`]); `total`
    /// and `violations` count them all.
    #[must_use]
    pub fn violation_groups(&self) -> groups::Groups {
        let all = self.groups.get(&self.analysis.findings);
        let mut g = (*all).clone();
        g.rows.retain(|r| {
            !self
                .suppressions
                .iter()
                .any(|(f, v)| (f == "src_ip" || f == "dst_ip") && *v == r.address)
        });
        g
    }

    /// Replays the rule at `i` with the injected replayer (blocking; the TUI runs it on a worker
    /// thread and then calls [`Investigation::set_counts`]).
    ///
    /// # Errors
    /// The replayer's message, or that no replayer is built in.
    pub fn replay(
        path: &Path,
        rule: &Rule,
        analysis: &Analysis,
        hooks: Hooks,
    ) -> Result<ReplayCounts, String> {
        match hooks.replayer {
            Some(r) => r(path, rule, analysis),
            None => Err("replay stage not built in".into()),
        }
    }

    /// Stores a replay result for the rule at `i`, if its definition is still `def`.
    pub fn set_counts(&mut self, i: usize, def: &RuleDef, result: Result<ReplayCounts, String>) {
        if let Some(e) = self.rules.get_mut(i).filter(|e| e.rule.def == *def) {
            e.pending = false;
            match result {
                Ok(c) => {
                    e.counts = Some(c);
                    e.error = None;
                }
                Err(m) => e.error = Some(m),
            }
        }
    }
}
