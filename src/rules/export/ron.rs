//! RON: holoscope's own lossless rule file (definition, status, evidence and history), read back
//! by [`import_ron`] into a session. Text values are byte sequences, so nothing a packet
//! contained can break the syntax; strings written by holoscope are escaped by the serializer.

use super::ExportError;
use crate::rules::model::Rule;
use serde::{Deserialize, Serialize};

/// Version of the RON rule file layout.
pub const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    version: u32,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
struct RuleFileRef<'a> {
    version: u32,
    rules: &'a [Rule],
}

pub(super) fn export(rules: &[Rule]) -> Result<String, ExportError> {
    let file = RuleFileRef {
        version: VERSION,
        rules,
    };
    let mut s = ron::ser::to_string_pretty(&file, ron::ser::PrettyConfig::default())
        .map_err(|e| ExportError::Ron(e.to_string()))?;
    s.push('\n');
    Ok(s)
}

/// Reads a RON rule file written by [`super::export`]; every rule is checked as if built
/// through [`crate::rules::Condition::new`], and ids must be unique.
pub fn import_ron(text: &str) -> Result<Vec<Rule>, ExportError> {
    let file: RuleFile = ron::from_str(text).map_err(|e| ExportError::Ron(e.to_string()))?;
    if file.version != VERSION {
        return Err(ExportError::Ron(format!(
            "unsupported rule file version {}",
            file.version
        )));
    }
    let mut seen = rustc_hash::FxHashSet::default();
    for r in &file.rules {
        r.check()
            .map_err(|e| ExportError::Invalid(r.id.to_string(), e.to_string()))?;
        if !seen.insert(r.id) {
            return Err(ExportError::DuplicateId(r.id.to_string()));
        }
    }
    Ok(file.rules)
}
