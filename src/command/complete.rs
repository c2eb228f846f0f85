//! Completion for the command language, shared by the TUI command bar and the shell.
//!
//! The caller supplies what exists right now (entity addresses, rule ids, wave ids, themes);
//! this module decides which of them fit the word under the cursor.

use super::{EXPORT_FORMATS, NAMES};
use crate::decode::Field;

/// Names that exist in the current investigation.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Entity addresses, busiest first.
    pub entities: Vec<String>,
    /// Rule ids.
    pub rules: Vec<String>,
    /// Wave ids.
    pub waves: Vec<String>,
    /// Theme names.
    pub themes: Vec<String>,
}

/// Candidates for the last word of `line` (a full replacement of that word each), and the byte
/// position where that word starts.
#[must_use]
pub fn complete(line: &str, ctx: &Context) -> (usize, Vec<String>) {
    let body_start = line.len() - line.trim_start_matches([':', ' ']).len();
    let body = &line[body_start..];
    let word_start = body.rfind(' ').map_or(0, |i| i + 1);
    let word = &body[word_start..];
    let before: Vec<&str> = body[..word_start].split_whitespace().collect();
    let pool: Vec<String> = match before.as_slice() {
        [] => NAMES.iter().map(|s| (*s).to_string()).collect(),
        ["accept" | "reject"] => std::iter::once("all".to_string())
            .chain(ctx.rules.iter().cloned())
            .collect(),
        ["edit"] => ctx.rules.clone(),
        ["add"] => ["wave", "drop", "alert", "rate-limit"]
            .iter()
            .map(|s| (*s).to_string())
            .collect(),
        ["explain"] => ctx.entities.clone(),
        ["theme"] => ctx.themes.clone(),
        ["export"] => EXPORT_FORMATS.iter().map(|s| (*s).to_string()).collect(),
        ["goto"] => vec!["wave".into()],
        ["goto" | "add", "wave"] => ctx.waves.clone(),
        ["add", "wave", _] => ["drop", "alert", "rate-limit"]
            .iter()
            .map(|s| (*s).to_string())
            .collect(),
        ["baseline"] => vec!["auto".into()],
        ["suppress" | "unsuppress"] => {
            if let Some((f, _)) = word.split_once('=') {
                if matches!(f, "src_ip" | "dst_ip") {
                    ctx.entities.iter().map(|e| format!("{f}={e}")).collect()
                } else {
                    Vec::new()
                }
            } else {
                Field::ALL
                    .iter()
                    .filter(|f| f.counted())
                    .map(|f| format!("{}=", f.name()))
                    .collect()
            }
        }
        _ => Vec::new(),
    };
    let mut out: Vec<String> = pool.into_iter().filter(|c| c.starts_with(word)).collect();
    out.dedup();
    (body_start + word_start, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_verbs_ids_fields_and_entities() {
        let ctx = Context {
            entities: vec!["10.0.0.5".into(), "10.0.0.7".into()],
            rules: vec!["R1".into(), "R2".into()],
            waves: vec!["W1".into()],
            themes: vec!["dark".into(), "light".into()],
        };
        assert_eq!(complete("acc", &ctx), (0, vec!["accept".to_string()]));
        assert_eq!(complete(":acc", &ctx).0, 1);
        assert_eq!(complete("accept R", &ctx).1, vec!["R1", "R2"]);
        assert_eq!(complete("accept ", &ctx).1, vec!["all", "R1", "R2"]);
        assert_eq!(
            complete("explain 10.0.0.", &ctx).1,
            vec!["10.0.0.5", "10.0.0.7"]
        );
        assert!(
            complete("suppress dst_p", &ctx)
                .1
                .contains(&"dst_port=".to_string())
        );
        assert_eq!(
            complete("suppress src_ip=10.0.0.7", &ctx).1,
            vec!["src_ip=10.0.0.7"]
        );
        assert_eq!(complete("export n", &ctx).1, vec!["nft"]);
        assert_eq!(complete("goto wave ", &ctx).1, vec!["W1"]);
        assert_eq!(complete("theme l", &ctx), (6, vec!["light".to_string()]));
    }
}
