//! Argument values parsed by hand: durations, the capture filter and export format names.

use super::Failure;

/// Parses `250ms`, `1s`, `1.5s`, `2m`, `1h` into nanoseconds.
pub(super) fn parse_duration_ns(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?} (try 500ms, 1s, 2m)"))?;
    let mult = match unit {
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        "" | "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return Err(format!("bad duration unit {unit:?} (ns, us, ms, s, m, h)")),
    };
    #[allow(clippy::cast_possible_truncation)]
    let ns = (v * mult).round() as i64;
    if ns <= 0 {
        Err("duration must be positive".into())
    } else {
        Ok(ns)
    }
}

pub(super) type Filter = std::sync::Arc<holoscope::rules::filter::PacketFilter>;

/// Parses `--filter` here rather than in clap, so a bad expression is one line (exit 2).
pub(super) fn parse_filter(s: Option<&str>) -> Result<Option<Filter>, Failure> {
    s.map(|s| {
        holoscope::rules::filter::PacketFilter::parse(s)
            .map(std::sync::Arc::new)
            .map_err(|e| Failure {
                code: 2,
                message: format!("--filter: {e}"),
            })
    })
    .transpose()
}

/// Prints what the filter kept (the text report does not mention it).
pub(super) fn filter_note(f: Option<&holoscope::rules::filter::PacketFilter>) {
    if let Some(f) = f {
        let c = f.counts();
        eprintln!(
            "holoscope: filter {:?} kept {} of {} packets",
            c.expr,
            c.packets_matched,
            c.packets_matched + c.packets_filtered
        );
    }
}

pub(super) fn parse_export_format(s: &str) -> Result<holoscope::rules::ExportFormat, String> {
    holoscope::rules::ExportFormat::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = holoscope::rules::ExportFormat::ALL
            .iter()
            .map(|f| f.name())
            .collect();
        format!("unknown format (one of {})", names.join(", "))
    })
}
