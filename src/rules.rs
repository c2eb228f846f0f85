//! Mitigation rules: the model ([`Rule`]: a conjunction of [`Condition`]s, an [`Action`], a
//! priority and its [`Provenance`]), the one-line text form the command language parses back,
//! analyst edits, replay against a capture (coverage and collateral) and export to firewall,
//! IDS and filter languages.
//!
//! Every value that came from a packet (DNS names, SNI, HTTP fields) is a
//! [`crate::text::Untrusted`]; each exporter either escapes it correctly for its target or
//! refuses the rule with a comment that names the rule and the field, never the bytes.

mod collect;
pub mod draft;
pub mod edit;
pub mod export;
pub mod filter;
mod headers;
mod index;
pub mod matcher;
pub mod mirror;
pub mod model;
mod probe;
pub mod replay;
pub mod scan;
pub mod select;
pub mod syntax;
pub mod text;

pub use draft::{
    Draft, DraftError, apply, draft_for, draft_for_taking, replay_all, replay_capture,
};
pub use edit::EditError;
pub use export::{ExportError, ExportFormat, export, import_ron};
pub use model::{
    Action, Change, Condition, Evidence, Op, Provenance, Rule, RuleDef, RuleId, Status, Who,
};
pub use replay::{Label, ReplayCounts, replay};
pub use syntax::RuleParseError;

/// Tests only: `packets` as the slice of references a [`select::Sample`] holds. The small
/// vector is leaked so that a sample built from it lives as long as the test's packets.
#[cfg(test)]
pub(crate) fn refs(packets: &[crate::decode::Packet]) -> &[&crate::decode::Packet] {
    Box::leak(packets.iter().collect::<Vec<_>>().into_boxed_slice())
}
