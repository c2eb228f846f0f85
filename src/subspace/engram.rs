//! Engrams: a learned baseline (encoding schema, striped subspace, profile judge, accumulator,
//! residual buffer) saved to and loaded from JSON, so that a baseline learned on one capture
//! can be applied to another.
//!
//! Float vectors are stored as base64 of their little-endian bits and scalars through
//! serde_json's `float_roundtrip` parser, so a save/load round trip is exact. The schema (seed,
//! alphabet, layout, encoder table) travels with the engram: scoring with another schema would
//! compare unrelated vectors, so [`Engram::check_schema`] refuses it.

use super::buffer::ResidualBuffer;
use super::profile::ProfileJudge;
use super::striped::StripedSubspace;
use crate::algebra::accumulator::Accumulator;
use crate::algebra::schema::Schema;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Current engram format version.
pub const ENGRAM_VERSION: u32 = 1;

/// Errors of saving and loading engrams.
#[derive(Debug, thiserror::Error)]
pub enum EngramError {
    /// File system error.
    #[error("engram file: {0}")]
    Io(#[from] std::io::Error),
    /// Malformed JSON.
    #[error("engram format: {0}")]
    Json(#[from] serde_json::Error),
    /// Written by a newer or unknown format version.
    #[error("engram version {found} is not supported (this build reads version {ENGRAM_VERSION})")]
    Version {
        /// The version found in the file.
        found: u32,
    },
    /// Learned with another encoding schema.
    #[error("engram was learned with a different encoding schema (seed, layout or encoders)")]
    Schema,
}

/// A saved baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Engram {
    /// Format version ([`ENGRAM_VERSION`]).
    pub version: u32,
    /// The encoding the baseline was learned with.
    pub schema: Schema,
    /// The striped subspace of normal traffic.
    pub subspace: StripedSubspace,
    /// The residual-profile judge.
    pub profile: Option<ProfileJudge>,
    /// An accumulator of the baseline traffic.
    pub accumulator: Option<Accumulator>,
    /// Residuals of accepted traffic.
    pub residuals: Option<ResidualBuffer>,
}

#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

impl Engram {
    /// An engram of the current version with only a subspace.
    #[must_use]
    pub fn new(schema: Schema, subspace: StripedSubspace) -> Self {
        Self {
            version: ENGRAM_VERSION,
            schema,
            subspace,
            profile: None,
            accumulator: None,
            residuals: None,
        }
    }

    /// JSON text.
    ///
    /// # Errors
    /// Serialisation errors (none expected for finite data).
    pub fn to_json(&self) -> Result<String, EngramError> {
        Ok(serde_json::to_string(self)?)
    }

    /// Parses JSON, checking the version first.
    ///
    /// # Errors
    /// Malformed JSON or an unsupported version.
    pub fn from_json(s: &str) -> Result<Self, EngramError> {
        let v: VersionOnly = serde_json::from_str(s)?;
        if v.version != ENGRAM_VERSION {
            return Err(EngramError::Version { found: v.version });
        }
        Ok(serde_json::from_str(s)?)
    }

    /// Writes to a file (via a temporary file and a rename, so a crash never leaves half a file).
    ///
    /// # Errors
    /// I/O errors.
    pub fn save(&self, path: &Path) -> Result<(), EngramError> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, self.to_json()?)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    /// Reads from a file.
    ///
    /// # Errors
    /// I/O errors, malformed JSON, unsupported versions.
    pub fn load(path: &Path) -> Result<Self, EngramError> {
        Self::from_json(&std::fs::read_to_string(path)?)
    }

    /// Refuses to apply this engram with another schema.
    ///
    /// # Errors
    /// [`EngramError::Schema`] when they differ.
    pub fn check_schema(&self, schema: &Schema) -> Result<(), EngramError> {
        if &self.schema == schema {
            Ok(())
        } else {
            Err(EngramError::Schema)
        }
    }
}
