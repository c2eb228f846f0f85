//! The `rules` section: drafted mitigation rules with their replay figures.

use super::table::Table;
use crate::rules::{Draft, Op, Rule};
use serde::Serialize;

/// One condition as reported.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ConditionRow {
    /// Schema field name.
    pub field: String,
    /// `eq`, `in`, `range`, `cidr`, `mask`, `gt` or `lt`.
    pub op: String,
    /// The value in the rule syntax (text quoted and escaped; sets comma-joined).
    pub value: String,
}

/// One drafted rule as reported.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RuleRow {
    /// Rule id (`R1`).
    pub id: String,
    /// The wave it was drafted for (`W2`), null if none.
    pub wave: Option<String>,
    /// `draft`, `accepted`, `rejected` or `edited`.
    pub status: String,
    /// `drop`, `rate_limit` or `alert`.
    pub action: String,
    /// Packets per second of a rate limit, null otherwise.
    pub rate_pps: Option<u32>,
    /// All must hold.
    pub conditions: Vec<ConditionRow>,
    /// Share of the wave's anomalous packets matched (wave packets beyond the baseline rate).
    pub coverage: Option<f64>,
    /// Share of baseline packets matched.
    pub collateral: Option<f64>,
    /// Share of all packets in the wave's buckets matched (background included).
    pub wave_share: Option<f64>,
    /// Share of the traffic of hosts that took part in no wave that is matched.
    pub uninvolved_collateral: Option<f64>,
    /// The rule in its one-line form.
    pub line: String,
    /// Why these conditions and this action.
    pub explanation: String,
    /// The id of the first earlier rule with the same action, priority and conditions (in any
    /// order), null if none: an attack that comes back keeps its rule, and exports write
    /// such a rule once.
    pub same_as: Option<String>,
}

fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Eq(_) => "eq",
        Op::In(_) => "in",
        Op::Range(..) => "range",
        Op::Cidr(..) => "cidr",
        Op::Mask { .. } => "mask",
        Op::Gt(_) => "gt",
        Op::Lt(_) => "lt",
        Op::Subdomain(_) => "subdomain",
    }
}

fn conditions(r: &Rule) -> Vec<ConditionRow> {
    r.def
        .conditions
        .iter()
        .map(|c| {
            let text = c.to_string();
            let rest = text.strip_prefix(c.field.name()).unwrap_or(&text);
            // `=V`, `>N`, `<N` lose their operator; a mask keeps `MASK=BITS`.
            let value = rest
                .strip_prefix(['=', '>', '<', '&'])
                .unwrap_or(rest)
                .to_string();
            ConditionRow {
                field: c.field.name().into(),
                op: op_name(&c.op).into(),
                value,
            }
        })
        .collect()
}

/// The rows of a list of drafts, in order.
#[must_use]
pub fn rows(drafts: &[Draft]) -> Vec<RuleRow> {
    drafts
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let r = &d.rule;
            let same_as = drafts
                .get(..i)
                .and_then(|earlier| earlier.iter().find(|e| e.rule.def.same_as(&r.def)))
                .map(|e| e.rule.id.to_string());
            let (action, rate_pps) = match r.def.action {
                crate::rules::Action::Drop => ("drop", None),
                crate::rules::Action::Alert => ("alert", None),
                crate::rules::Action::RateLimit(n) => ("rate_limit", Some(n)),
            };
            RuleRow {
                id: r.id.to_string(),
                wave: r.provenance.wave.clone(),
                status: r.status().name().into(),
                action: action.into(),
                rate_pps,
                conditions: conditions(r),
                coverage: d.counts.anomalous_coverage(),
                collateral: d.counts.baseline_collateral(),
                wave_share: d.counts.coverage(),
                uninvolved_collateral: d.counts.uninvolved_collateral(),
                line: r.to_string(),
                explanation: d.explanation.clone(),
                same_as,
            }
        })
        .collect()
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{:.1}%", v * 100.0))
}

/// The rules table of the text and Markdown reports.
#[must_use]
pub fn table(rows: &[RuleRow]) -> Table {
    let mut t = Table::new(&[
        "id",
        "wave",
        "status",
        "coverage",
        "baseline",
        "uninvolved",
        "rule",
    ]);
    for r in rows {
        t.row(vec![
            r.id.clone(),
            r.wave.clone().unwrap_or_else(|| "-".into()),
            r.status.clone(),
            pct(r.coverage),
            pct(r.collateral),
            pct(r.uninvolved_collateral),
            r.line.clone(),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_rule_repeating_an_earlier_one_names_it() {
        let draft = |text: &str| Draft {
            rule: text.parse().unwrap(),
            counts: crate::rules::replay::ReplayCounts::default(),
            explanation: String::new(),
        };
        let drafts = [
            draft("R1 drop when dst_port=53 src_ip=10.0.0.9 priority=100"),
            draft("R2 drop when src_ip=10.0.0.9 dst_port=53 priority=100"),
            draft("R3 alert when src_ip=10.0.0.9 dst_port=53 priority=100"),
            draft("R4 drop when src_ip=10.0.0.9 priority=100"),
            draft("R5 alert when dst_port=53 src_ip=10.0.0.9 priority=100"),
        ];
        let same: Vec<Option<String>> = rows(&drafts).into_iter().map(|r| r.same_as).collect();
        let r = |id: &str| Some(id.to_string());
        assert_eq!(same, vec![None, r("R1"), None, None, r("R3")]);
    }
}
