//! Saving and restoring an investigation as a session file: the view state directly, the
//! decisions by replaying the journal through [`Investigation::apply`].

use super::{Effect, Hooks, Investigation};
use crate::engine::Analysis;
use crate::session::SessionFile;
use crate::time::Timestamp;
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl Investigation {
    /// Where `save` writes without a file: the session file, else `sessions/STEM.ron`.
    #[must_use]
    pub fn default_session_path(&self) -> PathBuf {
        self.session_path.clone().unwrap_or_else(|| {
            let stem = self
                .path
                .file_stem()
                .map_or_else(|| "capture".into(), |s| s.to_string_lossy().into_owned());
            PathBuf::from("sessions").join(format!("{stem}.ron"))
        })
    }

    /// Saves the session (atomic); returns the file written.
    ///
    /// # Errors
    /// A message when the capture cannot be hashed or the file cannot be written.
    pub fn save(&mut self, file: Option<&Path>) -> Result<PathBuf, String> {
        let p = file.map_or_else(|| self.default_session_path(), Path::to_path_buf);
        let s = self.to_session()?;
        s.save(&p).map_err(|e| e.to_string())?;
        if self.session_path.is_none() {
            self.session_path = Some(p.clone());
        }
        Ok(p)
    }

    /// The session file for the current state.
    ///
    /// # Errors
    /// When the capture cannot be hashed.
    pub fn to_session(&mut self) -> Result<SessionFile, String> {
        let sha256 = match &self.capture_sha {
            Some(h) => h.clone(),
            None => {
                let h = crate::session::sha256_file(&self.path).map_err(|e| e.to_string())?;
                self.capture_sha = Some(h.clone());
                h
            }
        };
        Ok(SessionFile {
            version: crate::session::VERSION,
            capture: crate::session::CaptureRef {
                path: self.path.display().to_string(),
                sha256,
            },
            cursor: Some(self.cursor_time().as_secs_f64()),
            window: Some(self.window_s),
            baseline: self.baseline,
            journal: self.journal.clone(),
            notes: self.notes.clone(),
            theme: Some(self.theme.clone()),
            layout: self.layout.clone(),
        })
    }

    /// Restores a session over a fresh investigation of its capture; returns it and the
    /// messages to show (a changed capture, journal lines that no longer apply).
    #[must_use]
    pub fn from_session(
        path: &Path,
        analysis: Arc<Analysis>,
        hooks: Hooks,
        s: &SessionFile,
        session_path: Option<&Path>,
    ) -> (Self, Vec<String>) {
        let mut inv = Self::new(path, analysis, hooks);
        let mut notes = Vec::new();
        match s.capture_changed() {
            Some(m) => notes.push(m),
            None => inv.capture_sha = Some(s.capture.sha256.clone()),
        }
        if s.baseline.is_some() {
            inv.set_baseline(s.baseline);
        }
        if let Some(w) = s.window.filter(|w| *w > 0.0) {
            inv.window_s = w;
        }
        if let Some(c) = s.cursor {
            // Half a bucket later, so float rounding cannot land in the previous bucket.
            let half = inv.findings().bucket_ns / 2;
            inv.cursor = inv.pos_at(Timestamp(Timestamp::from_secs_f64(c).0 + half));
        }
        for line in &s.journal {
            let r = crate::command::parse(line)
                .map_err(|e| e.to_string())
                .and_then(|c| inv.apply(c));
            match r {
                Ok(Effect::Replay(i, _)) => {
                    let (rule, a) = match inv.rules.get(i) {
                        Some(e) => (e.rule.clone(), Arc::clone(&inv.analysis)),
                        None => continue,
                    };
                    let res = Self::replay(&inv.path, &rule, &a, inv.hooks);
                    inv.set_counts(i, &rule.def, res);
                }
                Ok(_) => {}
                Err(e) => notes.push(format!(
                    "session line {:?} skipped: {e}",
                    crate::text::escape_terminal_str(line)
                )),
            }
        }
        inv.notes.clone_from(&s.notes);
        if let Some(t) = &s.theme {
            inv.theme.clone_from(t);
        }
        inv.layout = s.layout.clone();
        inv.session_path = session_path.map(Path::to_path_buf);
        (inv, notes)
    }
}
