//! Applying one command of the command language to an investigation: moving the cursor and
//! the window, setting the baseline, deciding, editing and exporting rules, suppressing,
//! noting; decisions are journalled.

use super::{Effect, Investigation, RuleEntry, wave_id};
use crate::command::{Command, RuleSel, TimeSpec};
use crate::detect::{BaselineTime, DetectOptions};
use crate::rules::{self, Change, ExportFormat, Rule, RuleDef, RuleId, Who};
use crate::time::Timestamp;
use std::path::Path;
use std::sync::Arc;
impl Investigation {
    pub(super) fn resolve(&self, t: &TimeSpec) -> Result<Timestamp, String> {
        let secs = |s: f64| {
            #[allow(clippy::cast_possible_truncation)]
            let ns = (s * 1e9).round() as i64;
            ns
        };
        Ok(match t {
            TimeSpec::Offset(s) => Timestamp(self.first_ts().0.saturating_add(secs(*s))),
            TimeSpec::Relative(s) => Timestamp(self.cursor_time().0.saturating_add(secs(*s))),
            TimeSpec::Epoch(s) => Timestamp(secs(*s)),
            TimeSpec::Wave(id) => {
                let n = wave_id(id).ok_or_else(|| format!("no wave {id}"))?;
                self.findings()
                    .waves
                    .iter()
                    .find(|w| w.id == n)
                    .map(|w| w.start)
                    .ok_or_else(|| format!("no wave {id}"))?
            }
        })
    }

    pub(super) fn rule_indices(&self, sel: &RuleSel) -> Result<Vec<usize>, String> {
        match sel {
            RuleSel::All => Ok((0..self.rules.len()).collect()),
            RuleSel::Id(s) => {
                let id: RuleId = s.parse().map_err(|e: rules::RuleParseError| e.0)?;
                self.rules
                    .iter()
                    .position(|r| r.rule.id == id)
                    .map(|i| vec![i])
                    .ok_or_else(|| format!("no rule {id}"))
            }
        }
    }

    /// Applies one command. Decision commands are journalled.
    ///
    /// # Errors
    /// A one-line message (safe for a terminal) when the command cannot apply.
    pub fn apply(&mut self, cmd: Command) -> Result<Effect, String> {
        let journal = cmd.to_string();
        let effect = match &cmd {
            Command::Goto(t) => {
                let ts = self.resolve(t)?;
                self.cursor = self.pos_at(ts);
                // A time outside the capture lands on its first or last bucket: said so, or
                // the analyst reads the clamped cursor as the time asked for. The start is
                // the first bucket's (a wave's start is a bucket's, before its first packet).
                let stats = &self.analysis.agg.stats;
                let start = stats.first_ts.map(|a| a.min(self.bucket_time(0)));
                let outside = match (start, stats.last_ts) {
                    (Some(a), _) if ts < a => format!(
                        " ({} is before the capture starts, at {})",
                        crate::time::format_utc(ts),
                        crate::time::format_utc(a)
                    ),
                    (_, Some(z)) if ts > z => format!(
                        " ({} is past the capture's end, at {})",
                        crate::time::format_utc(ts),
                        crate::time::format_utc(z)
                    ),
                    _ => String::new(),
                };
                Effect::Message(format!(
                    "cursor {}{outside}",
                    crate::time::format_utc(self.cursor_time())
                ))
            }
            Command::Window(s) if *s > 0.0 && s.is_finite() => {
                self.window_s = *s;
                Effect::Message(format!("window {s}s"))
            }
            Command::Window(_) => return Err("window must be positive".into()),
            Command::Baseline(b) => {
                let range = match b {
                    Some((a, b)) => {
                        let (a, b) = (self.resolve(a)?, self.resolve(b)?);
                        if b <= a {
                            return Err("the baseline must end after it starts".into());
                        }
                        Some((a, b))
                    }
                    None => None,
                };
                self.set_baseline(range.map(|(a, b)| (a.as_secs_f64(), b.as_secs_f64())));
                Effect::Message(match (range, self.analysis.findings.baseline.warning()) {
                    (Some(_), Some(w)) => format!("baseline set, but {w}"),
                    (Some(_), None) => "baseline set; detection re-run".into(),
                    (None, _) => "automatic baseline; detection re-run".into(),
                })
            }
            Command::Accept(sel) | Command::Reject(sel) => {
                let accept = matches!(cmd, Command::Accept(_));
                let idx = self.rule_indices(sel)?;
                for &i in &idx {
                    if let Some(r) = self.rules.get_mut(i) {
                        if accept {
                            r.rule.accept(Who::Analyst);
                        } else {
                            r.rule.reject(Who::Analyst);
                        }
                    }
                }
                self.journal.push(journal);
                let verb = if accept { "accepted" } else { "rejected" };
                Effect::Message(format!("{verb} {} rule(s)", idx.len()))
            }
            Command::Edit(id, None) => {
                let i = self.rule_indices(&RuleSel::Id(id.clone()))?;
                Effect::OpenEditor(i.first().copied().unwrap_or(0))
            }
            Command::Edit(id, Some(body)) => {
                let i = *self
                    .rule_indices(&RuleSel::Id(id.clone()))?
                    .first()
                    .ok_or("no such rule")?;
                let def: RuleDef = body.parse().map_err(|e: rules::RuleParseError| e.0)?;
                let entry = self.rules.get_mut(i).ok_or("no such rule")?;
                entry
                    .rule
                    .replace_def(Who::Analyst, def)
                    .map_err(|e| e.to_string())?;
                entry.pending = true;
                entry.error = None;
                self.journal.push(journal);
                Effect::Replay(i, format!("{} edited; replaying", entry.rule.id))
            }
            Command::Add(wave, body) => {
                // The wave its figures are judged against: the one named, else the one at the
                // cursor (else every wave's packets). The journal names it, so a restored
                // session judges the rule the same way wherever its cursor was saved.
                let wave = match wave {
                    Some(w) => Some(
                        wave_id(w)
                            .filter(|id| self.findings().waves.iter().any(|x| x.id == *id))
                            .ok_or_else(|| {
                                format!("no wave {}", crate::text::escape_terminal_str(w))
                            })?,
                    ),
                    None => self.wave_at(self.cursor).map(|w| w.id),
                };
                let def: RuleDef = body.parse().map_err(|e: rules::RuleParseError| e.0)?;
                // After the highest id in use, so a draft's id is never taken (drafts are
                // numbered from R1 in wave order, the same on every run of the capture).
                let next = self.rules.iter().map(|r| r.rule.id.0).max().unwrap_or(0);
                let mut rule = Rule::new(RuleId(next.saturating_add(1)), def);
                rule.check().map_err(|e| e.to_string())?;
                rule.provenance.wave = wave.map(|w| format!("W{w}"));
                rule.provenance.history.push(Change {
                    who: Who::Analyst,
                    what: format!("written: {}", rule.def),
                });
                let id = rule.id;
                self.rules.push(RuleEntry {
                    rule,
                    counts: None,
                    pending: true,
                    error: None,
                });
                self.journal
                    .push(Command::Add(wave.map(|w| w.to_string()), body.clone()).to_string());
                let on = wave.map_or_else(String::new, |w| format!(" for wave {w}"));
                Effect::Replay(self.rules.len() - 1, format!("{id} added{on}; replaying"))
            }
            Command::Suppress(f, v) | Command::Unsuppress(f, v) => {
                if crate::decode::Field::from_name(f).is_none() {
                    return Err(format!(
                        "unknown field {}",
                        crate::text::escape_terminal_str(f)
                    ));
                }
                let pair = (f.clone(), v.clone());
                let known = self.suppressions.contains(&pair);
                let shown = crate::text::escape_terminal_str(&format!("{f}={v}"));
                // Neither a repeated suppression nor lifting one that is not there changes
                // anything: said so, and not journalled (a session would replay a no-op).
                match (matches!(cmd, Command::Suppress(..)), known) {
                    (true, true) => {
                        return Ok(Effect::Message(format!("{shown} is already suppressed")));
                    }
                    (false, false) => return Err(format!("{shown} is not suppressed")),
                    (true, false) => self.suppressions.push(pair),
                    (false, true) => self.suppressions.retain(|p| *p != pair),
                }
                self.journal.push(journal.clone());
                Effect::Message(crate::text::escape_terminal_str(&journal))
            }
            Command::Export(fmt, file) => {
                let format = ExportFormat::from_name(fmt).ok_or("unknown export format")?;
                let accepted: Vec<Rule> = self
                    .rules
                    .iter()
                    .map(|r| r.rule.clone())
                    .filter(|r| r.status() == rules::Status::Accepted)
                    .collect();
                let text = rules::export(format, &accepted).map_err(|e| e.to_string())?;
                let p = Path::new(file);
                crate::fsutil::write_atomic(p, text.as_bytes())
                    .map_err(|e| format!("{}: {e}", crate::text::escape_terminal_str(file)))?;
                Effect::Message(format!(
                    "exported {} accepted rule(s) as {fmt} to {}",
                    accepted.len(),
                    crate::text::escape_terminal_str(file)
                ))
            }
            Command::Save(file) => {
                let p = self.save(file.as_deref().map(Path::new))?;
                Effect::Message(format!(
                    "saved {}",
                    crate::text::escape_terminal_str(&p.display().to_string())
                ))
            }
            Command::Theme(name) => {
                self.theme.clone_from(name);
                Effect::Theme(name.clone())
            }
            Command::Note(t) => {
                self.notes.push(t.clone());
                Effect::Message("note added".into())
            }
            Command::Shifts
            | Command::Entities
            | Command::Waves
            | Command::Rules
            | Command::Violations
            | Command::Explain(_) => Effect::Show(cmd),
            Command::Help => Effect::Help,
            Command::Quit => Effect::Quit,
        };
        Ok(effect)
    }

    pub(super) fn set_baseline(&mut self, b: Option<(f64, f64)>) {
        self.baseline = b;
        let opts = DetectOptions {
            baseline: b.map(|(a, b)| {
                (
                    BaselineTime::At(Timestamp::from_secs_f64(a)),
                    BaselineTime::At(Timestamp::from_secs_f64(b)),
                )
            }),
            ..DetectOptions::default()
        };
        let f = crate::detect::detect(&self.analysis.agg, &opts, None);
        Arc::make_mut(&mut self.analysis).findings = Arc::new(f);
        self.cursor = self.cursor.min(self.len().saturating_sub(1));
    }
}
