//! The keymap: key -> [`Action`], as data, so the help overlay is generated from it.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key does in the main view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Leave (autosaves).
    Quit,
    /// Toggle the help overlay.
    Help,
    /// Open the command bar.
    CommandBar,
    /// Focus the next pane.
    FocusNext,
    /// Focus the previous pane.
    FocusPrev,
    /// Cursor one bucket back.
    ScrubBack,
    /// Cursor one bucket on.
    ScrubForward,
    /// Cursor a large step back.
    ScrubBackFar,
    /// Cursor a large step on.
    ScrubForwardFar,
    /// Previous wave.
    PrevWave,
    /// Next wave.
    NextWave,
    /// Selection up.
    Up,
    /// Selection down.
    Down,
    /// Open the selection (entity detail, rule editor).
    Open,
    /// Accept the selected rule.
    Accept,
    /// Reject the selected rule.
    Reject,
    /// Suppress the selected shift's or entity's value.
    Suppress,
    /// Save the session.
    Save,
    /// First bucket.
    Start,
    /// Last bucket.
    End,
    /// Make the recent window the baseline (re-runs detection).
    Baseline,
}

/// One binding: keys as shown in the help, matcher, action, description.
pub struct Binding {
    /// Keys, as the help shows them.
    pub keys: &'static str,
    /// The action.
    pub action: Action,
    /// What it does.
    pub help: &'static str,
}

/// Every binding, in help order.
pub const KEYMAP: &[Binding] = &[
    Binding {
        keys: "← h / → l",
        action: Action::ScrubBack,
        help: "move the cursor one bucket",
    },
    Binding {
        keys: "⇧← H / ⇧→ L",
        action: Action::ScrubBackFar,
        help: "move the cursor a large step",
    },
    Binding {
        keys: "[ / ]",
        action: Action::PrevWave,
        help: "previous / next wave",
    },
    Binding {
        keys: "Home g / End G",
        action: Action::Start,
        help: "start / end of the capture (live: End follows the present)",
    },
    Binding {
        keys: "↑ k / ↓ j",
        action: Action::Up,
        help: "select in the focused pane",
    },
    Binding {
        keys: "Tab / ⇧Tab",
        action: Action::FocusNext,
        help: "cycle focus",
    },
    Binding {
        keys: "Enter",
        action: Action::Open,
        help: "open entity / edit rule",
    },
    Binding {
        keys: "a / r",
        action: Action::Accept,
        help: "accept / reject the selected rule",
    },
    Binding {
        keys: "s",
        action: Action::Suppress,
        help: "suppress the selected shift or entity",
    },
    Binding {
        keys: "b",
        action: Action::Baseline,
        help: "use the window before the cursor as the baseline",
    },
    Binding {
        keys: "w",
        action: Action::Save,
        help: "save the session",
    },
    Binding {
        keys: ":",
        action: Action::CommandBar,
        help: "command bar (Tab completes, ↑↓ history)",
    },
    Binding {
        keys: "?",
        action: Action::Help,
        help: "this help",
    },
    Binding {
        keys: "q",
        action: Action::Quit,
        help: "quit (autosaves the session)",
    },
];

/// The action of a key in the main view.
#[must_use]
pub fn action(k: KeyEvent) -> Option<Action> {
    let shift = k.modifiers.contains(KeyModifiers::SHIFT);
    if k.modifiers.contains(KeyModifiers::CONTROL) {
        return (k.code == KeyCode::Char('c')).then_some(Action::Quit);
    }
    Some(match k.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Char(':') => Action::CommandBar,
        KeyCode::Tab => Action::FocusNext,
        KeyCode::BackTab => Action::FocusPrev,
        KeyCode::Left if shift => Action::ScrubBackFar,
        KeyCode::Right if shift => Action::ScrubForwardFar,
        KeyCode::Left | KeyCode::Char('h') => Action::ScrubBack,
        KeyCode::Right | KeyCode::Char('l') => Action::ScrubForward,
        KeyCode::Char('H') => Action::ScrubBackFar,
        KeyCode::Char('L') => Action::ScrubForwardFar,
        KeyCode::Char('[') => Action::PrevWave,
        KeyCode::Char(']') => Action::NextWave,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::Enter => Action::Open,
        KeyCode::Char('a') => Action::Accept,
        KeyCode::Char('r') => Action::Reject,
        KeyCode::Char('s') => Action::Suppress,
        KeyCode::Char('w') => Action::Save,
        KeyCode::Char('b') => Action::Baseline,
        KeyCode::Home | KeyCode::Char('g') => Action::Start,
        KeyCode::End | KeyCode::Char('G') => Action::End,
        _ => return None,
    })
}
