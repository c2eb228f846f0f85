//! The events the app reacts to, the background jobs it asks for, and its overlays.

use super::input::LineInput;
use crate::capture::IndexContext;
use crate::engine::{Analysis, Progress};
use crate::investigation::{Hooks, Investigation};
use crate::rules::{ReplayCounts, RuleDef};
use crossterm::event::{KeyEvent, MouseEvent};
use std::path::PathBuf;
use std::sync::Arc;

/// Everything the app reacts to (one channel for every producer).
#[derive(Debug)]
pub enum AppEvent {
    /// A key.
    Key(KeyEvent),
    /// A mouse event.
    Mouse(MouseEvent),
    /// The terminal was resized.
    Resize,
    /// Loading progress.
    Progress(Progress),
    /// The investigation is ready (analysis done, rules drafted, session restored), with the
    /// messages restoring produced.
    Loaded(Box<(crate::investigation::Investigation, Vec<String>)>),
    /// A snapshot of the analysis while it loads (or while live traffic arrives).
    Snapshot(Box<crate::engine::Snapshot>),
    /// Rule drafts of a live capture's newest waves (drafted from its `--write` copy).
    Drafts(Vec<(crate::rules::Rule, Option<crate::rules::ReplayCounts>)>),
    /// Loading failed.
    LoadFailed(String),
    /// The watched theme file changed.
    ThemeFileChanged,
    /// A rule replay finished.
    Replayed {
        /// Rule index.
        index: usize,
        /// The definition that was replayed.
        def: RuleDef,
        /// Figures or error.
        result: Result<ReplayCounts, String>,
    },
    /// Packets of an entity, decoded one per line.
    EntityPackets {
        /// The entity.
        entity: String,
        /// Lines (escaped), or the error.
        lines: Result<Vec<String>, String>,
        /// The index context found on the way, for later lookups.
        ctx: Option<IndexContext>,
    },
    /// Another thread panicked (the panic hook sends this): the UI thread then panics too, so
    /// the crash path saves the session and ends the process instead of drawing on a terminal
    /// the hook already restored.
    WorkerPanicked,
}

/// Work for the runtime, off the UI thread.
#[derive(Debug)]
pub enum Job {
    /// Replay one rule.
    Replay {
        /// Rule index.
        index: usize,
        /// The rule.
        rule: crate::rules::Rule,
        /// Capture.
        path: PathBuf,
        /// Analysis.
        analysis: Arc<Analysis>,
        /// Hooks.
        hooks: Hooks,
    },
    /// Re-read packets of an entity by index.
    EntityPackets {
        /// The entity.
        entity: String,
        /// Capture.
        path: PathBuf,
        /// Known index context.
        ctx: Option<IndexContext>,
        /// Offsets to scan, in order.
        offsets: Vec<u64>,
        /// A live capture's copy, flushed first so its latest packets can be read.
        flush: Option<crate::capture::write::WriteHandle>,
    },
    /// Watch this theme file (or stop watching).
    Watch(Option<PathBuf>),
}

impl Job {
    /// Runs a background job to completion (the runtime calls this on a worker thread; tests
    /// call it inline). `Watch` is the runtime's own business and yields nothing.
    #[must_use]
    pub fn run(self) -> Option<AppEvent> {
        match self {
            Job::Replay {
                index,
                rule,
                path,
                analysis,
                hooks,
            } => Some(AppEvent::Replayed {
                index,
                result: Investigation::replay(&path, &rule, &analysis, hooks),
                def: rule.def,
            }),
            Job::EntityPackets {
                entity,
                path,
                ctx,
                offsets,
                flush,
            } => {
                if let Some(c) = &flush {
                    c.flush();
                }
                let (lines, ctx) = crate::ui::entities::packets_of(&entity, &path, ctx, &offsets);
                Some(AppEvent::EntityPackets { entity, lines, ctx })
            }
            Job::Watch(_) => None,
        }
    }
}

/// An overlay over the panes.
#[derive(Clone, Debug, PartialEq)]
pub enum Overlay {
    /// None.
    None,
    /// Help.
    Help,
    /// Command bar.
    Command,
    /// Rule editor for the rule at this index.
    Editor {
        /// Rule index.
        index: usize,
        /// The text.
        input: LineInput,
        /// Parse error of the last attempt.
        error: Option<String>,
    },
    /// Entity detail.
    Entity {
        /// Address.
        entity: String,
        /// Packet lines once read.
        packets: Option<Vec<String>>,
    },
}
