//! Capture filters (`--filter EXPR`): the condition part of the rule syntax applied to every
//! decoded packet before any aggregate sees it.
//!
//! The expression is the `when` part of a rule line (`proto=6 dst_port=80,443
//! src_ip=10.0.0.0/8`): conditions separated by spaces (an optional `and` between them reads
//! better and is accepted), all of which must hold. Parsing is [`crate::rules::syntax`]'s and
//! matching is the rule matcher's ([`Condition::matches`]), so a filter means exactly what the same conditions mean in
//! a rule, including "a condition on a field the packet lacks is false".

use super::model::Condition;
use super::syntax::{RuleParseError, parse_conditions};
use crate::decode::Packet;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// A parsed filter and what it did during the pass it was used in.
#[derive(Debug)]
pub struct PacketFilter {
    expr: String,
    conditions: Vec<Condition>,
    matched: AtomicU64,
    filtered: AtomicU64,
}

/// The report's `filter` section.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FilterCounts {
    /// The expression as given (terminal-escaped).
    pub expr: String,
    /// Packets that matched and were analysed.
    pub packets_matched: u64,
    /// Packets read and decoded, then dropped by the filter (counted nowhere else).
    pub packets_filtered: u64,
}

impl PacketFilter {
    /// Parses a filter expression.
    ///
    /// # Errors
    /// An unknown field, a bad value or an empty expression, as one line.
    pub fn parse(expr: &str) -> Result<Self, RuleParseError> {
        Ok(Self {
            expr: expr.trim().to_string(),
            conditions: parse_conditions(expr)?,
            matched: AtomicU64::new(0),
            filtered: AtomicU64::new(0),
        })
    }

    /// Whether every condition holds for the packet (no allocation).
    #[must_use]
    pub fn matches(&self, p: &Packet) -> bool {
        self.conditions.iter().all(|c| c.matches(p))
    }

    /// The conditions, in the order given.
    #[must_use]
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// Adds one batch's outcome to the counters.
    pub fn count(&self, matched: u64, filtered: u64) {
        self.matched.fetch_add(matched, Ordering::Relaxed);
        self.filtered.fetch_add(filtered, Ordering::Relaxed);
    }

    /// The expression and the counters so far.
    #[must_use]
    pub fn counts(&self) -> FilterCounts {
        FilterCounts {
            expr: crate::text::escape_terminal_str(&self.expr),
            packets_matched: self.matched.load(Ordering::Relaxed),
            packets_filtered: self.filtered.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_meaning_as_rule_conditions() {
        let f = PacketFilter::parse("proto=6 and dst_port=80,443").unwrap();
        assert_eq!(f.conditions().len(), 2);
        let mut p = Packet {
            proto: Some(6),
            dst_port: Some(443),
            ..Packet::default()
        };
        assert!(f.matches(&p));
        p.dst_port = Some(22);
        assert!(!f.matches(&p));
        p.dst_port = None;
        assert!(!f.matches(&p), "absent field never matches");
        let cidr = PacketFilter::parse("src_ip=10.0.0.0/8").unwrap();
        p.src_ip = Some("10.9.8.7".parse().unwrap());
        assert!(cidr.matches(&p));
    }

    #[test]
    fn bad_expressions_are_one_line_errors() {
        for bad in [
            "",
            "  and ",
            "nosuch=1",
            "dst_port=99999",
            "proto",
            "dst_port=80 and",
        ] {
            let e = PacketFilter::parse(bad).unwrap_err().to_string();
            assert!(!e.is_empty() && !e.contains('\n'), "{bad:?}: {e}");
        }
    }
}
