//! Review and edit operations on a rule. Each records who changed what in the rule's history;
//! a change to the definition moves the rule to [`Status::Edited`] (it must be accepted again
//! before export). Re-running the replay after an edit is the caller's job.

use super::model::{Action, Change, Condition, Rule, RuleDef, Status, Who};
use crate::decode::Field;

/// Why an edit was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// No condition at that position.
    #[error("rule has no condition number {0}")]
    NoSuchCondition(usize),
    /// No condition on that field.
    #[error("rule has no condition on {0}")]
    NoConditionOn(&'static str),
    /// The condition or action is not well formed.
    #[error("invalid: {0}")]
    Invalid(String),
}

impl Rule {
    fn record(&mut self, who: Who, what: String) {
        self.provenance.history.push(Change { who, what });
    }

    fn edited(&mut self, who: Who, what: String) {
        self.provenance.status = Status::Edited;
        self.record(who, what);
    }

    /// Marks the rule accepted.
    pub fn accept(&mut self, who: Who) {
        self.provenance.status = Status::Accepted;
        self.record(who, "accepted".into());
    }

    /// Marks the rule rejected.
    pub fn reject(&mut self, who: Who) {
        self.provenance.status = Status::Rejected;
        self.record(who, "rejected".into());
    }

    /// Appends a condition.
    pub fn add_condition(&mut self, who: Who, c: Condition) -> Result<(), EditError> {
        c.check().map_err(|e| EditError::Invalid(e.to_string()))?;
        let what = format!("added {c}");
        self.def.conditions.push(c);
        self.edited(who, what);
        Ok(())
    }

    /// Removes the condition at `index` (0-based, in display order).
    pub fn remove_condition(&mut self, who: Who, index: usize) -> Result<Condition, EditError> {
        if index >= self.def.conditions.len() {
            return Err(EditError::NoSuchCondition(index));
        }
        let c = self.def.conditions.remove(index);
        self.edited(who, format!("removed {c}"));
        Ok(c)
    }

    /// Removes every condition on `field`; returns how many.
    pub fn remove_field(&mut self, who: Who, field: Field) -> Result<usize, EditError> {
        let before = self.def.conditions.len();
        self.def.conditions.retain(|c| c.field != field);
        let n = before - self.def.conditions.len();
        if n == 0 {
            return Err(EditError::NoConditionOn(field.name()));
        }
        self.edited(who, format!("removed conditions on {}", field.name()));
        Ok(n)
    }

    /// Replaces the condition at `index`.
    pub fn change_condition(
        &mut self,
        who: Who,
        index: usize,
        c: Condition,
    ) -> Result<(), EditError> {
        c.check().map_err(|e| EditError::Invalid(e.to_string()))?;
        let Some(slot) = self.def.conditions.get_mut(index) else {
            return Err(EditError::NoSuchCondition(index));
        };
        let what = format!("changed {slot} to {c}");
        *slot = c;
        self.edited(who, what);
        Ok(())
    }

    /// Changes the action.
    pub fn set_action(&mut self, who: Who, action: Action) -> Result<(), EditError> {
        if action == Action::RateLimit(0) {
            return Err(EditError::Invalid("rate limit must be at least 1/s".into()));
        }
        let what = format!("action {} -> {action}", self.def.action);
        self.def.action = action;
        self.edited(who, what);
        Ok(())
    }

    /// Changes the priority.
    pub fn set_priority(&mut self, who: Who, priority: u8) {
        let what = format!("priority {} -> {priority}", self.def.priority);
        self.def.priority = priority;
        self.edited(who, what);
    }

    /// Replaces the whole definition (the command `edit R3 BODY`).
    pub fn replace_def(&mut self, who: Who, def: RuleDef) -> Result<(), EditError> {
        def.conditions
            .iter()
            .try_for_each(Condition::check)
            .map_err(|e| EditError::Invalid(e.to_string()))?;
        if def.action == Action::RateLimit(0) {
            return Err(EditError::Invalid("rate limit must be at least 1/s".into()));
        }
        let what = format!("replaced by: {def}");
        self.def = def;
        self.edited(who, what);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::model::RuleId;

    #[test]
    fn edits_record_provenance() {
        let mut r: Rule = "R1 drop when dst_port=53 src_port=1 priority=100"
            .parse()
            .unwrap();
        r.accept(Who::Holoscope);
        assert_eq!(r.status(), Status::Accepted);
        r.add_condition(Who::Analyst, "proto=17".parse().unwrap())
            .unwrap();
        assert_eq!(r.status(), Status::Edited);
        r.remove_condition(Who::Analyst, 1).unwrap();
        assert_eq!(
            r.remove_condition(Who::Analyst, 9),
            Err(EditError::NoSuchCondition(9))
        );
        r.change_condition(Who::Analyst, 0, "dst_port=54".parse().unwrap())
            .unwrap();
        r.set_action(Who::Analyst, Action::RateLimit(10)).unwrap();
        assert!(r.set_action(Who::Analyst, Action::RateLimit(0)).is_err());
        assert_eq!(r.remove_field(Who::Analyst, Field::Proto), Ok(1));
        assert!(r.remove_field(Who::Analyst, Field::Proto).is_err());
        r.reject(Who::Analyst);
        assert_eq!(
            r.to_string(),
            "R1 rate-limit 10/s when dst_port=54 priority=100"
        );
        assert_eq!(r.id, RuleId(1));
        let log: Vec<_> = r
            .provenance
            .history
            .iter()
            .map(|c| c.what.as_str())
            .collect();
        assert_eq!(
            log,
            [
                "accepted",
                "added proto=17",
                "removed src_port=1",
                "changed dst_port=53 to dst_port=54",
                "action drop -> rate-limit 10/s",
                "removed conditions on proto",
                "rejected"
            ]
        );
        assert_eq!(r.provenance.history[1].who, Who::Analyst);
        r.replace_def(Who::Analyst, "alert when ttl>3".parse().unwrap())
            .unwrap();
        assert_eq!(r.to_string(), "R1 alert when ttl>3 priority=100");
    }
}
