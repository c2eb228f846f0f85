//! The violations grouped by kind and shared address ([`crate::report::groups`]) for the TUI
//! and the shell: what a capture that is all attack did, where the shifts pane has no wave to
//! explain. Grouping walks every session (tens of thousands in a flood) and a pane is drawn
//! many times a second, so the groups are computed once per findings and kept.

use crate::detect::Findings;
use crate::report::groups::{ViolationGroup, violation_groups};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// Groups kept for listing (the report lists 25; a listing scrolls).
pub const LISTED: usize = 200;

/// The grouped violations of one analysis.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Groups {
    /// Most sessions first, at most [`LISTED`].
    pub rows: Vec<ViolationGroup>,
    /// Groups in all.
    pub total: usize,
    /// Violations in all (one per session and kind).
    pub violations: usize,
}

impl Groups {
    /// Groups the findings' session violations.
    #[must_use]
    pub fn of(f: &Findings) -> Self {
        let (rows, total) = violation_groups(&f.sessions, LISTED);
        Groups {
            rows,
            total,
            violations: f.sessions.iter().map(|s| s.violations.len()).sum(),
        }
    }
}

/// The groups of the last findings asked about. Keyed by the findings' allocation, held weakly
/// so the address cannot be reused by other findings while the key stands. A copy of an
/// investigation starts empty (it recomputes on first use).
#[derive(Default)]
pub struct GroupsCache(Mutex<Option<(Weak<Findings>, Arc<Groups>)>>);

impl Clone for GroupsCache {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl fmt::Debug for GroupsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GroupsCache")
    }
}

impl GroupsCache {
    /// The groups of `f`, computed on the first call for these findings.
    pub fn get(&self, f: &Arc<Findings>) -> Arc<Groups> {
        // A panic while grouping leaves no half-written entry (the slot is set after), so a
        // poisoned lock still holds a consistent value.
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((key, groups)) = slot.as_ref()
            && std::ptr::eq(key.as_ptr(), Arc::as_ptr(f))
        {
            return Arc::clone(groups);
        }
        let groups = Arc::new(Groups::of(f));
        *slot = Some((Arc::downgrade(f), Arc::clone(&groups)));
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> Arc<Findings> {
        let agg = crate::engine::Aggregates::default();
        Arc::new(crate::detect::detect(
            &agg,
            &crate::detect::DetectOptions::default(),
            None,
        ))
    }

    #[test]
    fn the_cache_follows_the_findings_it_is_asked_about() {
        let cache = GroupsCache::default();
        let a = empty();
        let first = cache.get(&a);
        assert!(Arc::ptr_eq(&first, &cache.get(&a)), "same findings: kept");
        let b = empty();
        assert!(
            !Arc::ptr_eq(&first, &cache.get(&b)),
            "new findings: regrouped"
        );
        assert_eq!(*cache.get(&b), Groups::default());
    }
}
