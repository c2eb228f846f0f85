//! Parsing command lines into [`Command`]s. Hand-written: the grammar is a dozen verbs with one
//! or two arguments, and precise one-line errors matter more than a parser generator.

use super::{Command, EXPORT_FORMATS, RuleSel, TimeSpec};

/// Why a line is not a command. The message never echoes control characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(crate::text::escape_terminal_str(&msg.into())))
}

/// Parses a duration: `500ms`, `10s`, `1.5s`, `2m`, `1h`, or bare seconds.
///
/// # Errors
/// On anything else or a non-positive value.
pub fn duration(s: &str) -> Result<f64, ParseError> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = match num.parse() {
        Ok(v) => v,
        Err(_) => return err(format!("bad duration {s:?} (try 500ms, 10s, 2m)")),
    };
    let mult = match unit {
        "ms" => 1e-3,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return err(format!("bad duration unit in {s:?} (ms, s, m, h)")),
    };
    if v * mult > 0.0 && (v * mult).is_finite() {
        Ok(v * mult)
    } else {
        err("duration must be positive")
    }
}

/// Parses `90`, `90s`, `1:30`, `1:02:03`, `+10s`, `-5s`, `@EPOCH`.
///
/// # Errors
/// On anything else.
pub fn time(s: &str) -> Result<TimeSpec, ParseError> {
    if let Some(rest) = s.strip_prefix('@') {
        return match rest.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(TimeSpec::Epoch(v)),
            _ => err(format!("bad epoch time {s:?}")),
        };
    }
    if let Some(rest) = s.strip_prefix('+') {
        return duration(rest).map(TimeSpec::Relative);
    }
    if let Some(rest) = s.strip_prefix('-') {
        return duration(rest).map(|d| TimeSpec::Relative(-d));
    }
    if s.contains(':') {
        let mut total = 0.0;
        for part in s.split(':') {
            match part.parse::<f64>() {
                Ok(v) if v >= 0.0 && v.is_finite() => total = total * 60.0 + v,
                _ => return err(format!("bad time {s:?} (try 1:30 or 90s)")),
            }
        }
        // Each part finite is not enough: a long enough h:m:s overflows the sum (found by
        // fuzzing; `inf` would print as a time that does not parse back).
        if !total.is_finite() {
            return err(format!("time {s:?} is out of range"));
        }
        return Ok(TimeSpec::Offset(total));
    }
    if s == "0" || s == "0s" {
        return Ok(TimeSpec::Offset(0.0));
    }
    duration(s).map(TimeSpec::Offset)
}

fn rule_sel(s: Option<&str>, verb: &str) -> Result<RuleSel, ParseError> {
    match s {
        Some("all") => Ok(RuleSel::All),
        Some(id) => Ok(RuleSel::Id(id.to_string())),
        None => err(format!("{verb} needs a rule id or 'all'")),
    }
}

fn field_value(s: Option<&str>, verb: &str) -> Result<(String, String), ParseError> {
    match s.and_then(|s| s.split_once('=')) {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => {
            if crate::decode::Field::from_name(k).is_none() {
                return err(format!("unknown field {k:?}"));
            }
            Ok((k.to_string(), v.to_string()))
        }
        _ => err(format!(
            "{verb} needs FIELD=VALUE, e.g. {verb} src_ip=10.0.0.5"
        )),
    }
}

/// Parses one command line (leading `:` allowed, as typed in the command bar).
///
/// # Errors
/// A one-line message saying what was expected.
pub fn parse(line: &str) -> Result<Command, ParseError> {
    let line = line.trim().trim_start_matches(':').trim();
    let (verb, rest) = line
        .split_once(char::is_whitespace)
        .map_or((line, ""), |(v, r)| (v, r.trim()));
    let mut words = rest.split_whitespace();
    let one = |w: Option<&str>, what: &str| -> Result<String, ParseError> {
        w.map(str::to_string)
            .ok_or_else(|| ParseError(format!("{verb} needs {what}")))
    };
    let cmd = match verb {
        "goto" | "g" => match words.next() {
            Some("wave") => Command::Goto(TimeSpec::Wave(one(words.next(), "a wave id")?)),
            Some(t) => Command::Goto(time(t)?),
            None => return err("goto needs a time (90s, 1:30, +10s, @EPOCH, wave ID)"),
        },
        "window" => Command::Window(duration(&one(words.next(), "a duration")?)?),
        "baseline" => match words.next() {
            Some("auto") => Command::Baseline(None),
            Some(r) => match r.split_once("..") {
                Some((a, b)) => Command::Baseline(Some((time(a)?, time(b)?))),
                None => return err("baseline needs A..B (e.g. 0:00..1:30) or 'auto'"),
            },
            None => return err("baseline needs A..B or 'auto'"),
        },
        "accept" => Command::Accept(rule_sel(words.next(), "accept")?),
        "reject" => Command::Reject(rule_sel(words.next(), "reject")?),
        "edit" => {
            let id = one(words.next(), "a rule id")?;
            let body = rest
                .split_once(char::is_whitespace)
                .map(|(_, b)| b.trim().to_string())
                .filter(|b| !b.is_empty());
            Command::Edit(id, body)
        }
        "suppress" => {
            let (k, v) = field_value(words.next(), "suppress")?;
            Command::Suppress(k, v)
        }
        "unsuppress" => {
            let (k, v) = field_value(words.next(), "unsuppress")?;
            Command::Unsuppress(k, v)
        }
        "export" => {
            let f = one(words.next(), "a format")?;
            if !EXPORT_FORMATS.contains(&f.as_str()) {
                return err(format!(
                    "unknown export format {f:?} ({})",
                    EXPORT_FORMATS.join(", ")
                ));
            }
            Command::Export(f, one(words.next(), "a file")?)
        }
        "save" | "w" => Command::Save(words.next().map(str::to_string)),
        "theme" => Command::Theme(one(words.next(), "a theme name")?),
        "add" => {
            let (wave, rule) = match rest.strip_prefix("wave ") {
                Some(r) => {
                    let r = r.trim_start();
                    let (w, rule) = r.split_once(' ').unwrap_or((r, ""));
                    (Some(w.to_string()), rule.trim())
                }
                None => (None, rest),
            };
            if rule.is_empty() {
                return err("add needs a rule (add [wave N] drop when dst_port=53)");
            }
            Command::Add(wave, rule.to_string())
        }
        "note" if !rest.is_empty() => Command::Note(rest.to_string()),
        "note" => return err("note needs text"),
        "shifts" => Command::Shifts,
        "entities" => Command::Entities,
        "waves" => Command::Waves,
        "rules" => Command::Rules,
        "violations" => Command::Violations,
        "explain" => Command::Explain(one(words.next(), "an entity address")?),
        "help" | "?" => Command::Help,
        "quit" | "q" | "exit" => Command::Quit,
        "" => return err("empty command"),
        other => return err(format!("unknown command {other:?} (try help)")),
    };
    // Commands whose arguments are all consumed must not carry extra words silently.
    let takes_rest = matches!(cmd, Command::Edit(..) | Command::Add(..) | Command::Note(_));
    if !takes_rest && words.next().is_some() {
        return err(format!("too many arguments for {verb}"));
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_that_overflow_are_refused() {
        // 1e307 hours is a finite number; times 60 it is not.
        let huge = format!("1{}:00", "0".repeat(307));
        assert!(time(&huge).is_err(), "hours * 60 overflow to inf");
        assert!(parse(&format!("baseline {huge}..90s")).is_err());
        assert!(time("1:30").is_ok());
    }

    #[test]
    fn display_round_trips_through_parse() {
        let lines = [
            "goto 90s",
            "goto 1:30",
            "goto +10s",
            "goto -2.5s",
            "goto @1506884196.5",
            "goto wave W2",
            "window 10s",
            "baseline 0:00..1:30",
            "baseline auto",
            "accept all",
            "accept R3",
            "reject R1",
            "edit R2",
            "edit R2 drop when dst_port=53",
            "add rate-limit 100/s when dst_ip=10.0.0.5 tcp_flags=S",
            "add wave 2 drop when dst_port=8080",
            "suppress src_ip=10.0.0.5",
            "unsuppress dst_port=53",
            "export nft /tmp/rules.nft",
            "save",
            "save sessions/a.ron",
            "theme light",
            "note looks like nmap",
            "shifts",
            "entities",
            "waves",
            "rules",
            "violations",
            "explain 10.0.0.5",
            "help",
            "quit",
        ];
        for l in lines {
            let c = parse(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            assert_eq!(parse(&c.to_string()).unwrap(), c, "{l} -> {c}");
        }
        assert_eq!(
            parse("goto 1:30").unwrap(),
            Command::Goto(TimeSpec::Offset(90.0))
        );
        assert_eq!(parse(":q").unwrap(), Command::Quit);
        assert_eq!(parse(":w").unwrap(), Command::Save(None));
    }

    #[test]
    fn errors_say_what_was_expected() {
        for (l, needle) in [
            ("goto", "needs a time"),
            ("window fast", "bad duration"),
            ("export pdf x", "unknown export format"),
            ("suppress nonsense=1", "unknown field"),
            ("frobnicate", "unknown command"),
            ("quit now", "too many"),
            ("window -1s", "bad duration"),
            ("add", "add needs a rule"),
            ("add wave 2", "add needs a rule"),
        ] {
            let e = parse(l).unwrap_err().0;
            assert!(e.contains(needle), "{l}: {e}");
        }
        let e = parse("\u{1b}]0;x\u{7}").unwrap_err().0;
        assert!(!e.contains('\u{1b}'), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_line(s in ".{0,64}") {
            let _ = parse(&s);
        }
    }
}
