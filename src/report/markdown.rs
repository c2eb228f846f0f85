//! The Markdown report (`--format markdown`): the same content as text, as GFM tables.

use super::Report;
use super::text::{entities_table, flows_table, summary_lines};

/// Renders the Markdown report.
#[must_use]
pub fn render(r: &Report) -> String {
    let mut out = String::from("# holoscope report\n\n");
    for l in summary_lines(r) {
        out += &format!("    {l}\n");
    }
    if !r.capture.warnings.is_empty() {
        out += "\n## Warnings\n\n";
        for w in &r.capture.warnings {
            out += &format!("- `{}`: {}\n", w.kind, w.message.replace('`', "'"));
        }
    }
    out += &format!("\n## Flows ({} of {})\n\n", r.flows.len(), r.flows_total);
    out += &flows_table(r).markdown();
    out += &format!("\n## Waves ({})\n\n", r.waves.len());
    if let Some(note) = &r.waves_note {
        out += &format!("{note}\n");
    }
    for l in super::findings::wave_lines(&r.waves) {
        if let Some(rest) = l.strip_prefix("  ") {
            out += &format!("    - {rest}\n");
        } else {
            out += &format!("- {l}\n");
        }
    }
    out += &format!(
        "\n## Entities by attention ({} of {})\n\n",
        r.entities.len(),
        r.entities_total
    );
    out += &super::findings::ranked_table(&r.entities).markdown();
    if !r.violations.is_empty() {
        out += &format!(
            "\n## Violations by kind and shared address ({})\n\n",
            super::groups::counts_text(
                r.violation_groups.len(),
                r.violation_groups_total,
                r.violations_total
            )
        );
        out += &super::groups::groups_table(&r.violation_groups).markdown();
        out += &format!(
            "\n## Violations ({} of {})\n\n",
            r.violations.len(),
            r.violations_total
        );
        out += &super::findings::violations_table(&r.violations).markdown();
    }
    if !r.rules.is_empty() {
        out += &format!("\n## Rules ({})\n\n", r.rules.len());
        out += &super::rules::table(&r.rules).markdown();
        out += "\n";
        for rule in &r.rules {
            out += &format!("- {}: {}\n", rule.id, rule.explanation.replace('`', "'"));
        }
    }
    out += &format!(
        "\n## Entities by traffic ({} of {})\n\n",
        r.entities.len(),
        r.entities_total
    );
    out += &entities_table(r).markdown();
    out
}
