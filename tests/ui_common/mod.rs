//! Shared helpers of the UI tests (not a test binary of its own: included with `mod`).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use holoscope::decode::Field;
use holoscope::engine::{self, Analysis};
use holoscope::investigation::Hooks;
use holoscope::rules::{self, Action, Condition, Label, Op, ReplayCounts, Rule, RuleDef, RuleId};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Analyses a capture once per test binary.
pub fn demo() -> Arc<Analysis> {
    static A: OnceLock<Arc<Analysis>> = OnceLock::new();
    Arc::clone(A.get_or_init(|| Arc::new(analyze(Path::new("samples/demo.pcap")))))
}

pub fn analyze(p: &Path) -> Analysis {
    let src = holoscope::capture::open(p).unwrap();
    engine::analyze(src, &engine::Options::default(), |_| {})
}

/// Test drafter: one rule per wave, from the wave's most telling shift that has a value.
pub fn draft(a: &Analysis, _p: &Path) -> Vec<(Rule, Option<ReplayCounts>)> {
    let mut out = Vec::new();
    for w in &a.findings.waves {
        let Some((field, value)) = w
            .shifts
            .iter()
            .filter(|s| s.field != Field::Timestamp)
            .find_map(|s| s.value.clone().map(|v| (s.field, v)))
        else {
            continue;
        };
        let Ok(c) = Condition::new(field, Op::Eq(value)) else {
            continue;
        };
        let mut r = Rule::new(
            RuleId(u32::try_from(out.len()).unwrap() + 1),
            RuleDef {
                action: Action::Drop,
                conditions: vec![c],
                priority: rules::model::DEFAULT_PRIORITY,
            },
        );
        r.provenance.wave = Some(format!("W{}", w.id));
        out.push((r, None));
    }
    out
}

/// Test replayer: every packet of the capture, labelled by the wave whose time span holds it.
pub fn replay(p: &Path, rule: &Rule, a: &Analysis) -> Result<ReplayCounts, String> {
    let mut src = holoscope::capture::open(p).map_err(|e| e.to_string())?;
    let ids: Vec<(String, i64, i64)> = a
        .findings
        .waves
        .iter()
        .map(|w| (format!("W{}", w.id), w.start.0, w.end.0))
        .collect();
    let mut pkts = Vec::new();
    while let Ok(Some(raw)) = src.next_packet() {
        pkts.push(holoscope::decode::decode(&raw));
    }
    let labelled = pkts.iter().map(|p| {
        let l = ids
            .iter()
            .find(|(_, s, e)| p.ts.0 >= *s && p.ts.0 <= *e)
            .map_or(Label::Baseline, |(id, _, _)| Label::Wave(id.as_str()));
        (p, l)
    });
    let out = rules::replay(std::slice::from_ref(rule), labelled, &Default::default());
    out.into_iter().next().ok_or_else(|| "no result".into())
}

pub fn hooks() -> Hooks {
    Hooks {
        drafter: Some(draft),
        replayer: Some(replay),
    }
}
