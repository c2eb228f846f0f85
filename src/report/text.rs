//! The plain-text report (`--format text`), for a terminal or a pager.

use super::Report;
use super::table::Table;
use crate::time::{Timestamp, format_utc};

/// Formats optional epoch seconds as UTC.
pub(crate) fn when(ts: Option<f64>) -> String {
    ts.map_or_else(|| "-".into(), |t| format_utc(Timestamp::from_secs_f64(t)))
}

/// Capture summary lines shared by text and Markdown.
pub(crate) fn summary_lines(r: &Report) -> Vec<String> {
    let c = &r.capture;
    let dur = match (c.first_ts, c.last_ts) {
        (Some(a), Some(b)) => format!("{:.3} s", b - a),
        _ => "-".into(),
    };
    let join = |m: &std::collections::BTreeMap<String, u64>| {
        if m.is_empty() {
            return "none".to_string();
        }
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = vec![
        format!(
            "capture   {} ({}, compression {})",
            c.source, c.format, c.compression
        ),
        format!("packets   {} ({} bytes)", c.packets, c.bytes),
        format!(
            "time      {} .. {} ({dur})",
            when(c.first_ts),
            when(c.last_ts)
        ),
        format!("links     {}", join(&c.link_types)),
        format!("decoded   {}", join(&c.decoded)),
        format!(
            "timeline  {} {} of {} s",
            r.timeline.buckets.len(),
            crate::text::plural(r.timeline.buckets.len() as u64, "bucket", "buckets"),
            r.timeline.bucket_seconds
        ),
    ];
    if let Some(k) = &c.retention {
        let mut kept = Vec::new();
        if let Some(s) = k.span_s {
            kept.push(format!("{s} s"));
        }
        if let Some(b) = k.bytes {
            kept.push(format!("{b} bytes"));
        }
        lines.push(if k.buckets_folded == 0 {
            format!("retention last {} in detail; nothing older yet", kept.join(" and "))
        } else {
            format!(
            "retention last {} in detail; {} packets before {} folded into history ({} buckets), {} flows and {} entities evicted",
            kept.join(" and "),
            k.packets_in_history,
            when(k.cutoff_ts),
            k.buckets_folded,
            k.flows_evicted,
            k.entities_evicted
        )
        });
    }
    if let Some(s) = &c.sampling {
        lines.push(format!(
            "sampling  {} of {} packets sampled out (effective 1 in {:.2}, at most 1 in {})",
            s.packets_dropped, s.packets_seen, s.ratio, s.max_ratio
        ));
    }
    lines
}

pub(crate) fn flows_table(r: &Report) -> Table {
    let mut t = Table::new(&[
        "proto",
        "originator",
        "responder",
        "packets",
        "bytes",
        "flags",
        "community_id",
    ]);
    for f in &r.flows {
        t.row(vec![
            f.proto.to_string(),
            super::groups::endpoint(f.proto, &f.src_ip, f.src_port),
            super::groups::endpoint(f.proto, &f.dst_ip, f.dst_port),
            f.packets.to_string(),
            f.bytes.to_string(),
            f.tcp_flags.clone(),
            f.community_id.clone(),
        ]);
    }
    t
}

pub(crate) fn entities_table(r: &Report) -> Table {
    let mut t = Table::new(&[
        "entity",
        "packets",
        "out",
        "in",
        "bytes",
        "peers",
        "ports out",
        "ports in",
    ]);
    for e in r.entities.iter().map(|e| &e.row) {
        t.row(vec![
            e.entity.clone(),
            e.packets.to_string(),
            e.packets_out.to_string(),
            e.packets_in.to_string(),
            e.bytes.to_string(),
            e.peers.to_string(),
            e.ports_out.to_string(),
            e.ports_in.to_string(),
        ]);
    }
    t
}

/// Renders the text report.
#[must_use]
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    for l in summary_lines(r) {
        out += &l;
        out.push('\n');
    }
    if !r.capture.warnings.is_empty() {
        out += "\nwarnings\n";
        for w in &r.capture.warnings {
            out += &format!("  [{}] {}\n", w.kind, w.message);
        }
    }
    out += &format!("\nflows ({} of {})\n", r.flows.len(), r.flows_total);
    out += &flows_table(r).text();
    out += &format!("\nwaves ({})\n", r.waves.len());
    if let Some(note) = &r.waves_note {
        out += &format!("  {note}\n");
    }
    for l in super::findings::wave_lines(&r.waves) {
        out += &format!("  {l}\n");
    }
    out += &format!(
        "\nentities by attention ({} of {})\n",
        r.entities.len(),
        r.entities_total
    );
    out += &super::findings::ranked_table(&r.entities).text();
    if !r.violations.is_empty() {
        out += &format!(
            "\nviolations by kind and shared address ({})\n",
            super::groups::counts_text(
                r.violation_groups.len(),
                r.violation_groups_total,
                r.violations_total
            )
        );
        out += &super::groups::groups_table(&r.violation_groups).text();
        out += &format!(
            "\nviolations ({} of {})\n",
            r.violations.len(),
            r.violations_total
        );
        out += &super::findings::violations_table(&r.violations).text();
    }
    if !r.rules.is_empty() {
        out += &format!("\nrules ({})\n", r.rules.len());
        out += &super::rules::table(&r.rules).text();
        for rule in &r.rules {
            out += &format!("  {}: {}\n", rule.id, rule.explanation);
        }
    }
    out += &format!(
        "\nentities by traffic ({} of {})\n",
        r.entities.len(),
        r.entities_total
    );
    out += &entities_table(r).text();
    out
}
