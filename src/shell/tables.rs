//! Plain-text tables the shell prints for listing commands (`shifts`, `entities`, `waves`,
//! `rules`, `violations`, `explain ENTITY`, `help`). Every packet-derived text is escaped
//! before it is formatted (shift values through `Value::display`, entity text through
//! `escape_terminal_str`), so a script's output can be piped or diffed safely.

use crate::command::Command;
use crate::investigation::Investigation;
use crate::text::escape_terminal_str as esc;
use std::fmt::Write as _;

/// Rows printed by listings at most (entities, shifts).
pub const MAX_ROWS: usize = 25;

/// Renders the listing a `Show` effect asks for.
#[must_use]
pub fn render(inv: &Investigation, cmd: &Command) -> String {
    match cmd {
        Command::Shifts => shifts(inv),
        Command::Entities => entities(inv),
        Command::Waves => waves(inv),
        Command::Rules => rules(inv),
        Command::Violations => violations(inv),
        Command::Explain(e) => explain(inv, e),
        _ => String::new(),
    }
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// The shifts at the cursor, most significant first.
#[must_use]
pub fn shifts(inv: &Investigation) -> String {
    let (label, list) = inv.shifts_at_cursor();
    let mut out = format!(
        "shifts at {} ({label})\n",
        crate::time::format_utc(inv.cursor_time())
    );
    if list.is_empty() {
        out.push_str("  none\n");
        return out;
    }
    let _ = writeln!(
        out,
        "  {:<14} {:<28} {:<13} {:>9} {:>9} {:>8}",
        "field", "value", "kind", "baseline", "recent", "signif"
    );
    for s in list.iter().take(MAX_ROWS) {
        let value = s.value.as_ref().map_or_else(
            || format!("({} values)", s.distinct),
            |v| v.display(s.field),
        );
        let _ = writeln!(
            out,
            "  {:<14} {:<28} {:<13} {:>9} {:>9} {:>8.1}",
            s.field.name(),
            clip(&value, 28),
            s.kind.name(),
            pct(s.baseline_share),
            pct(s.recent_share),
            s.significance
        );
    }
    out
}

/// Attention-ranked entities (suppressed addresses left out).
#[must_use]
pub fn entities(inv: &Investigation) -> String {
    let list = inv.entities();
    let mut out = format!("entities ({} ranked)\n", list.len());
    let _ = writeln!(
        out,
        "  {:<40} {:<5} {:>6} {:>5} {:>5} {:>5} {:>5} {:>5}  waves",
        "entity", "tier", "score", "conf", "evid", "rec", "anom", "proto"
    );
    for e in list.iter().take(MAX_ROWS) {
        let c = &e.components;
        let waves: Vec<String> = e.waves.iter().map(|w| format!("W{w}")).collect();
        let _ = writeln!(
            out,
            "  {:<40} {:<5} {:>6.2} {:>5.2} {:>5.2} {:>5.2} {:>5.2} {:>5.2}  {}",
            clip(&esc(&e.entity), 40),
            e.tier,
            e.score,
            c.confidence,
            c.evidence,
            c.recency,
            c.anomaly,
            c.protocol,
            waves.join(",")
        );
    }
    out
}

/// The attack waves with their summary line.
#[must_use]
pub fn waves(inv: &Investigation) -> String {
    let f = inv.findings();
    let mut out = format!("waves ({})\n", f.waves.len());
    for w in &f.waves {
        let secs = (w.end.0 - w.start.0) as f64 / 1e9;
        let _ = writeln!(
            out,
            "  W{} {} +{secs:.1}s {} packets score {:.1}{}: {}",
            w.id,
            crate::time::format_utc(w.start),
            w.packets,
            w.score,
            w.like.map_or_else(String::new, |n| format!(" like W{n}")),
            esc(&w.summary)
        );
    }
    out
}

/// Drafted and edited rules with status and replay figures.
#[must_use]
pub fn rules(inv: &Investigation) -> String {
    let mut out = format!("rules ({})\n", inv.rules.len());
    for (i, r) in inv.rules.iter().enumerate() {
        let mut figures = match (&r.counts, &r.error, r.pending) {
            (_, _, true) => "replaying".to_string(),
            (_, Some(e), _) => format!("replay failed: {}", esc(e)),
            (Some(c), None, _) => c.summary(),
            (None, None, _) => "not replayed".to_string(),
        };
        // An attack's later wave brings the same rule again; exports write it once.
        if let Some(id) = inv.repeat_of(i) {
            let _ = write!(figures, " · the same rule as {id}");
        }
        // The rule's own Display escapes every text value (see rules::syntax).
        let _ = writeln!(
            out,
            "  [{}] {}\n      {figures}",
            r.rule.status().name(),
            r.rule
        );
    }
    out
}

/// Everything known about one entity, and a few of its packets.
#[must_use]
pub fn explain(inv: &Investigation, entity: &str) -> String {
    let mut out = format!("{}\n", esc(entity));
    let lines = crate::explain::detail_lines(&inv.analysis, entity);
    if lines.is_empty() {
        out.push_str("  no such entity\n");
        return out;
    }
    for l in lines {
        let _ = writeln!(out, "  {l}");
    }
    let (pkts, _) = crate::explain::packets_of(entity, &inv.path, None, &inv.analysis.agg.index);
    match pkts {
        Ok(p) if !p.is_empty() => {
            out.push_str("  packets:\n");
            for l in p {
                let _ = writeln!(out, "    {l}");
            }
        }
        Ok(_) => out.push_str("  packets: none found\n"),
        Err(e) => {
            let _ = writeln!(out, "  packets unavailable: {}", esc(&e));
        }
    }
    out
}

/// The violations grouped by kind and the address their sessions share, as in the report
/// (groups on suppressed addresses left out). Kinds are the detector's names and addresses are
/// printed from parsed addresses: nothing here comes from packet bytes.
#[must_use]
pub fn violations(inv: &Investigation) -> String {
    let g = inv.violation_groups();
    let mut out = format!(
        "violations by kind and shared address ({})\n",
        crate::report::groups::counts_text(g.rows.len().min(MAX_ROWS), g.total, g.violations)
    );
    if g.rows.is_empty() {
        out.push_str("  none\n");
        return out;
    }
    let rows = &g.rows[..g.rows.len().min(MAX_ROWS)];
    for line in crate::report::groups::groups_table(rows).text().lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// The command list.
#[must_use]
pub fn help() -> String {
    const USAGE: &[(&str, &str)] = &[
        ("goto TIME", "move the cursor (1:30, +10s, @EPOCH, wave 2)"),
        ("window DUR", "recent-window length (30s)"),
        ("baseline A..B | baseline auto", "baseline interval"),
        ("shifts", "concentration shifts at the cursor"),
        ("entities", "attention-ranked hosts"),
        ("waves", "attack waves"),
        (
            "violations",
            "protocol violations by kind and shared address",
        ),
        ("explain ENTITY", "one host in detail, with packets"),
        ("rules", "drafted rules with coverage and collateral"),
        ("accept ID|all, reject ID|all", "decide on rules"),
        ("edit ID RULE", "replace a rule (replayed at once)"),
        (
            "add [wave N] RULE",
            "a rule of your own, judged on wave N or the cursor's",
        ),
        ("suppress FIELD=VALUE", "hide a value from the findings"),
        ("unsuppress FIELD=VALUE", "lift a suppression"),
        (
            "export FORMAT FILE",
            "write accepted rules (nft, iptables, ...)",
        ),
        ("save [FILE]", "save the session"),
        ("note TEXT", "attach a note"),
        ("quit", "leave"),
    ];
    let mut out = String::from("commands:\n");
    for (u, d) in USAGE {
        let _ = writeln!(out, "  {u:<32} {d}");
    }
    out
}

/// Cuts `s` to `n` characters, marking the cut.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
