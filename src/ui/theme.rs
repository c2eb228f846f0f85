//! Themes: colours for every pane, loaded from RON files that may name only some colours (a
//! partial theme patches the default). Built-in themes are embedded, and a file of the same
//! name under `themes/` in the working directory wins, so users can edit them.

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Built-in theme files, embedded.
pub const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.ron")),
    ("light", include_str!("../../themes/light.ron")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.ron"),
    ),
];

/// Resolved colours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Theme {
    /// Theme name (shown in the status bar).
    pub name: String,
    /// Background.
    pub bg: Color,
    /// Text.
    pub fg: Color,
    /// Secondary text.
    pub dim: Color,
    /// Titles and highlights.
    pub accent: Color,
    /// Pane borders.
    pub border: Color,
    /// Border of the focused pane.
    pub focus: Color,
    /// Background of the selected row.
    pub selected: Color,
    /// Good news (accepted rules).
    pub ok: Color,
    /// Warnings (draft rules, waves).
    pub warn: Color,
    /// Errors and rejected rules.
    pub error: Color,
    /// Packet-rate sparkline.
    pub rate: Color,
    /// Anomaly-score sparkline.
    pub score: Color,
    /// Wave markers.
    pub wave: Color,
    /// Cursor marker.
    pub cursor: Color,
    /// Baseline marker.
    pub baseline: Color,
    /// Heatmap scale, low to high (the last steps are above the threshold).
    pub heat: Vec<Color>,
}

/// A theme file: every colour optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ThemeFile {
    bg: Option<String>,
    fg: Option<String>,
    dim: Option<String>,
    accent: Option<String>,
    border: Option<String>,
    focus: Option<String>,
    selected: Option<String>,
    ok: Option<String>,
    warn: Option<String>,
    error: Option<String>,
    rate: Option<String>,
    score: Option<String>,
    wave: Option<String>,
    cursor: Option<String>,
    baseline: Option<String>,
    heat: Option<Vec<String>>,
}

fn rgb(r: u8, g: u8, b: u8) -> Color {
    Color::Rgb(r, g, b)
}

impl Default for Theme {
    /// The dark theme (mirrored by `themes/dark.ron`, tested).
    fn default() -> Self {
        Self {
            name: "dark".into(),
            bg: rgb(0x1c, 0x1c, 0x24),
            fg: rgb(0xd8, 0xd8, 0xd8),
            dim: rgb(0x80, 0x80, 0x8c),
            accent: rgb(0x6c, 0xb6, 0xff),
            border: rgb(0x4a, 0x4a, 0x58),
            focus: rgb(0xff, 0xc8, 0x57),
            selected: rgb(0x33, 0x3a, 0x52),
            ok: rgb(0x5f, 0xd7, 0x87),
            warn: rgb(0xff, 0xc8, 0x57),
            error: rgb(0xff, 0x5f, 0x5f),
            rate: rgb(0x6c, 0xb6, 0xff),
            score: rgb(0xff, 0x87, 0x5f),
            wave: rgb(0xff, 0x5f, 0x87),
            cursor: rgb(0xff, 0xff, 0xff),
            baseline: rgb(0x5f, 0xd7, 0x87),
            heat: vec![
                rgb(0x1c, 0x1c, 0x24),
                rgb(0x26, 0x3b, 0x5e),
                rgb(0x3a, 0x6e, 0xa5),
                rgb(0xe0, 0x9f, 0x3e),
                rgb(0xff, 0x3b, 0x3b),
            ],
        }
    }
}

fn color(field: &str, s: &str) -> Result<Color, String> {
    Color::from_str(s).map_err(|_| {
        format!(
            "{field}: bad colour {} (use a name or #rrggbb)",
            crate::text::escape_terminal_str(s)
        )
    })
}

impl Theme {
    /// Parses a (possibly partial) theme over `base`.
    ///
    /// # Errors
    /// A one-line message for RON errors, unknown keys and bad colours.
    pub fn patch(base: &Theme, name: &str, text: &str) -> Result<Theme, String> {
        // Implicit `Some`, so theme files write `accent: "#6cb6ff"`, not `Some("#6cb6ff")`.
        let f: ThemeFile = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str(text)
            .map_err(|e| e.to_string())?;
        let mut t = base.clone();
        t.name = name.to_string();
        let slots: [(&str, &Option<String>, &mut Color); 15] = [
            ("bg", &f.bg, &mut t.bg),
            ("fg", &f.fg, &mut t.fg),
            ("dim", &f.dim, &mut t.dim),
            ("accent", &f.accent, &mut t.accent),
            ("border", &f.border, &mut t.border),
            ("focus", &f.focus, &mut t.focus),
            ("selected", &f.selected, &mut t.selected),
            ("ok", &f.ok, &mut t.ok),
            ("warn", &f.warn, &mut t.warn),
            ("error", &f.error, &mut t.error),
            ("rate", &f.rate, &mut t.rate),
            ("score", &f.score, &mut t.score),
            ("wave", &f.wave, &mut t.wave),
            ("cursor", &f.cursor, &mut t.cursor),
            ("baseline", &f.baseline, &mut t.baseline),
        ];
        for (k, v, slot) in slots {
            if let Some(s) = v {
                *slot = color(k, s)?;
            }
        }
        if let Some(h) = &f.heat {
            if h.len() < 2 {
                return Err("heat: give at least two colours".into());
            }
            t.heat = h
                .iter()
                .map(|s| color("heat", s))
                .collect::<Result<_, _>>()?;
        }
        Ok(t)
    }

    /// Loads a theme by name or path: an existing file path, else `themes/NAME.ron` in the
    /// working directory, else a built-in. Returns the file to watch, if any.
    ///
    /// # Errors
    /// Unknown name, unreadable or invalid file (message names the file).
    pub fn load(name: &str) -> Result<(Theme, Option<PathBuf>), String> {
        let as_path = Path::new(name);
        let local = PathBuf::from("themes").join(format!("{name}.ron"));
        let file = if as_path.extension().is_some_and(|e| e == "ron") && as_path.is_file() {
            Some(as_path.to_path_buf())
        } else if !name.contains('/') && local.is_file() {
            Some(local)
        } else {
            None
        };
        let shown = crate::text::escape_terminal_str(name);
        match file {
            Some(p) => {
                let text =
                    std::fs::read_to_string(&p).map_err(|e| format!("theme {shown}: {e}"))?;
                let stem = p
                    .file_stem()
                    .map_or_else(|| name.to_string(), |s| s.to_string_lossy().into_owned());
                let t = Self::patch(&Theme::default(), &stem, &text)
                    .map_err(|e| format!("theme {shown}: {e}"))?;
                Ok((t, Some(p)))
            }
            None => {
                let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name).ok_or_else(|| {
                    format!("unknown theme {shown} (dark, light, high-contrast or a .ron file)")
                })?;
                let t = Self::patch(&Theme::default(), name, text)
                    .map_err(|e| format!("theme {shown}: {e}"))?;
                Ok((t, None))
            }
        }
    }

    /// Plain text style.
    #[must_use]
    pub fn text(&self) -> Style {
        Style::new().fg(self.fg).bg(self.bg)
    }

    /// Secondary text.
    #[must_use]
    pub fn dimmed(&self) -> Style {
        Style::new().fg(self.dim).bg(self.bg)
    }

    /// Header rows.
    #[must_use]
    pub fn header(&self) -> Style {
        Style::new()
            .fg(self.accent)
            .bg(self.bg)
            .add_modifier(Modifier::BOLD)
    }

    /// Border style of a pane.
    #[must_use]
    pub fn border_style(&self, focused: bool) -> Style {
        Style::new()
            .fg(if focused { self.focus } else { self.border })
            .bg(self.bg)
    }

    /// Heat colour for a residual as a multiple of its threshold (1.0 = at the threshold):
    /// the lower half of the scale is below the threshold, the upper half above.
    #[must_use]
    pub fn heat_color(&self, ratio: f32) -> Color {
        let n = self.heat.len().max(1);
        let below = n / 2 + n % 2; // steps for [0, 1)
        let idx = if ratio < 1.0 {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let i = (ratio.max(0.0) * below as f32) as usize;
            i.min(below - 1)
        } else {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let over = ratio.log2().floor().max(0.0) as usize;
            (below + over).min(n - 1)
        };
        self.heat.get(idx).copied().unwrap_or(self.bg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_dark_is_the_default() {
        for (name, text) in BUILTIN {
            Theme::patch(&Theme::default(), name, text).unwrap();
        }
        let (dark, _) = Theme::load("dark").unwrap();
        assert_eq!(dark, Theme::default());
    }

    #[test]
    fn partial_theme_patches_and_bad_colour_is_an_error() {
        let t = Theme::patch(&Theme::default(), "x", "(accent: \"#010203\")").unwrap();
        assert_eq!(t.accent, Color::Rgb(1, 2, 3));
        assert_eq!(t.fg, Theme::default().fg);
        assert!(Theme::patch(&Theme::default(), "x", "(accent: \"nope\")").is_err());
        assert!(Theme::patch(&Theme::default(), "x", "(acent: \"red\")").is_err());
    }

    #[test]
    fn heat_scale_splits_at_the_threshold() {
        let t = Theme::default();
        assert_eq!(t.heat_color(0.0), t.heat[0]);
        assert_eq!(t.heat_color(0.99), t.heat[2]);
        assert_eq!(t.heat_color(1.0), t.heat[3]);
        assert_eq!(t.heat_color(9.0), t.heat[4]);
    }
}
