//! Sessions: an investigation saved to `sessions/NAME.ron` and restored exactly.
//!
//! A session is a versioned DTO kept apart from live state. What the analyst did is stored as a
//! journal of command-language lines (`accept R1`, `edit R2 ...`, `suppress src_ip=...`), so
//! restoring replays the same commands the analyst typed, through the same parser. The capture is
//! referenced by path and SHA-256 so a changed capture is detected. Files are written atomically
//! and a file that fails to parse is reported, never overwritten.

use crate::fsutil::write_atomic;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Current session format version.
pub const VERSION: u32 = 1;

/// The capture a session belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureRef {
    /// Path as given when the session was created.
    pub path: String,
    /// Hex SHA-256 of the capture file's bytes.
    pub sha256: String,
}

/// UI layout worth restoring.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Layout {
    /// Focused pane name.
    pub focus: String,
    /// Selected row per pane name.
    pub selected: Vec<(String, usize)>,
}

/// A saved investigation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionFile {
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// The capture.
    pub capture: CaptureRef,
    /// Cursor (UTC epoch seconds), if placed.
    #[serde(default)]
    pub cursor: Option<f64>,
    /// Recent-window length in seconds.
    #[serde(default)]
    pub window: Option<f64>,
    /// Analyst-chosen baseline interval (epoch seconds), `None` for the automatic baseline.
    #[serde(default)]
    pub baseline: Option<(f64, f64)>,
    /// Commands that rebuild rule decisions, edits and suppressions, in order.
    #[serde(default)]
    pub journal: Vec<String>,
    /// Free-form notes.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Theme name.
    #[serde(default)]
    pub theme: Option<String>,
    /// Pane layout.
    #[serde(default)]
    pub layout: Layout,
}

/// Why a session could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// File unreadable.
    #[error("{path}: {source}")]
    Io {
        /// The session file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// File is not a valid session; it is left untouched.
    #[error("{path}: corrupt session file, left untouched ({reason})")]
    Corrupt {
        /// The session file.
        path: String,
        /// Parser message.
        reason: String,
    },
    /// Written by a newer holoscope.
    #[error("{path}: session version {found} is newer than this holoscope understands ({VERSION})")]
    Version {
        /// The session file.
        path: String,
        /// Version in the file.
        found: u32,
    },
}

fn shown(p: &Path) -> String {
    crate::text::escape_terminal_str(&p.display().to_string())
}

/// Hex SHA-256 of a file, streamed.
///
/// # Errors
/// When the file cannot be read.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

impl SessionFile {
    /// A fresh session for a capture.
    ///
    /// # Errors
    /// When the capture cannot be hashed.
    pub fn new(capture: &Path) -> std::io::Result<Self> {
        Ok(Self {
            version: VERSION,
            capture: CaptureRef {
                path: capture.display().to_string(),
                sha256: sha256_file(capture)?,
            },
            cursor: None,
            window: None,
            baseline: None,
            journal: Vec::new(),
            notes: Vec::new(),
            theme: None,
            layout: Layout::default(),
        })
    }

    /// Loads and validates a session file (every journal line must parse).
    ///
    /// # Errors
    /// [`SessionError::Corrupt`] for anything that does not parse; the file is not modified.
    pub fn load(path: &Path) -> Result<Self, SessionError> {
        let text = std::fs::read_to_string(path).map_err(|e| SessionError::Io {
            path: shown(path),
            source: e,
        })?;
        Self::parse_named(&text, shown(path))
    }

    /// Parses and validates the text of a session file (as [`SessionFile::load`] does).
    ///
    /// # Errors
    /// [`SessionError::Corrupt`] or [`SessionError::Version`].
    pub fn parse(text: &str) -> Result<Self, SessionError> {
        Self::parse_named(text, "<text>".into())
    }

    fn parse_named(text: &str, path: String) -> Result<Self, SessionError> {
        let s: SessionFile = ron::from_str(text).map_err(|e| SessionError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if s.version > VERSION {
            return Err(SessionError::Version {
                path,
                found: s.version,
            });
        }
        for line in &s.journal {
            crate::command::parse(line).map_err(|e| SessionError::Corrupt {
                path: path.clone(),
                reason: format!(
                    "journal line {:?}: {e}",
                    crate::text::escape_terminal_str(line)
                ),
            })?;
        }
        Ok(s)
    }

    /// The text [`SessionFile::save`] writes.
    ///
    /// # Errors
    /// Only if a value cannot be represented in RON.
    pub fn to_text(&self) -> Result<String, ron::Error> {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default()).map(|t| t + "\n")
    }

    /// Saves atomically (temp file + fsync + rename).
    ///
    /// # Errors
    /// I/O errors; the previous file is then intact.
    pub fn save(&self, path: &Path) -> Result<(), SessionError> {
        let text = self.to_text().map_err(|e| SessionError::Corrupt {
            path: shown(path),
            reason: e.to_string(),
        })?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| SessionError::Io {
                path: shown(path),
                source: e,
            })?;
        }
        write_atomic(path, text.as_bytes()).map_err(|e| SessionError::Io {
            path: shown(path),
            source: e,
        })
    }

    /// Checks the capture still has the recorded hash; returns a message when it changed.
    #[must_use]
    pub fn capture_changed(&self) -> Option<String> {
        let p = PathBuf::from(&self.capture.path);
        match sha256_file(&p) {
            Ok(h) if h == self.capture.sha256 => None,
            Ok(_) => Some(format!(
                "capture {} has changed since the session was saved (SHA-256 differs)",
                shown(&p)
            )),
            Err(e) => Some(format!("capture {} cannot be read: {e}", shown(&p))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_changed_capture_detection() {
        let d = tempfile::tempdir().unwrap();
        let cap = d.path().join("c.pcap");
        std::fs::write(&cap, b"abc").unwrap();
        let mut s = SessionFile::new(&cap).unwrap();
        assert_eq!(
            s.capture.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        s.cursor = Some(1_506_884_196.5);
        s.journal = vec!["accept R1".into(), "suppress src_ip=10.0.0.5".into()];
        s.notes.push("quoted \"note\" with ) paren".into());
        let p = d.path().join("sessions/a.ron");
        s.save(&p).unwrap();
        assert_eq!(SessionFile::load(&p).unwrap(), s);
        assert!(s.capture_changed().is_none());
        std::fs::write(&cap, b"abd").unwrap();
        assert!(s.capture_changed().unwrap().contains("has changed"));
    }

    #[test]
    fn corrupt_file_is_reported_and_left_untouched() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("bad.ron");
        let junk = b"(version: 1, capture: oops";
        std::fs::write(&p, junk).unwrap();
        let e = SessionFile::load(&p).unwrap_err();
        assert!(matches!(e, SessionError::Corrupt { .. }), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), junk);
        // A journal line that is not a command is corruption too.
        let cap = d.path().join("c.pcap");
        std::fs::write(&cap, b"x").unwrap();
        let mut s = SessionFile::new(&cap).unwrap();
        s.journal.push("frobnicate everything".into());
        s.save(&p).unwrap();
        assert!(
            SessionFile::load(&p)
                .unwrap_err()
                .to_string()
                .contains("journal line")
        );
    }
}
