//! SWE-bench predictions: `{instance_id, model_name_or_path, model_patch}`, JSONL or a JSON list.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::load::json_rows;
use crate::{DatasetError, sha256_hex};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prediction {
    pub instance_id: String,
    #[serde(default)]
    pub model_name_or_path: String,
    /// `None` when the file says `null` (the official report's `patch_is_None`).
    pub model_patch: Option<String>,
}

/// Predictions keyed by instance id, with the problems found while loading them.
#[derive(Debug, Clone, Default)]
pub struct Predictions {
    pub by_id: HashMap<String, Prediction>,
    pub sha256: String,
    /// Malformed rows and overridden duplicates, each naming file and line.
    pub warnings: Vec<String>,
}

impl Prediction {
    pub fn from_json(v: &Value) -> Result<Prediction, String> {
        let obj = v.as_object().ok_or("expected a JSON object")?;
        let instance_id = match obj.get("instance_id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(_) => return Err("field `instance_id`: expected a non-empty string".into()),
            None => return Err("missing field `instance_id`".into()),
        };
        let model_patch = match obj.get("model_patch") {
            None => return Err("missing field `model_patch`".into()),
            Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err("field `model_patch`: expected a string or null".into()),
        };
        let model_name_or_path = match obj.get("model_name_or_path") {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        Ok(Prediction {
            instance_id,
            model_name_or_path,
            model_patch,
        })
    }
}

/// Loads a predictions file. When one instance has several predictions the **last** one in the
/// file wins (as appending a corrected prediction is the common way to fix one), and a warning
/// names both lines.
pub fn load(path: &Path) -> Result<Predictions, DatasetError> {
    let bytes = fs::read(path).map_err(|source| DatasetError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut out = Predictions {
        sha256: sha256_hex(&bytes),
        ..Default::default()
    };
    let mut lines: HashMap<String, usize> = HashMap::new();
    for (line, row) in json_rows(path, &bytes)? {
        let parsed = row.and_then(|v| Prediction::from_json(&v));
        match parsed {
            Err(message) => out
                .warnings
                .push(format!("{}:{line}: {message}", path.display())),
            Ok(p) => {
                if let Some(prev) = lines.insert(p.instance_id.clone(), line) {
                    out.warnings.push(format!(
                        "{}:{line}: duplicate prediction for `{}` (line {prev}); the last one, line {line}, wins",
                        path.display(),
                        p.instance_id
                    ));
                }
                out.by_id.insert(p.instance_id.clone(), p);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_duplicate_wins_and_bad_rows_warn() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.jsonl");
        fs::write(
            &p,
            concat!(
                r#"{"instance_id":"a","model_name_or_path":"m","model_patch":"one"}"#,
                "\n",
                "not json\n",
                r#"{"instance_id":"a","model_name_or_path":"m","model_patch":"two"}"#,
                "\n",
                r#"{"instance_id":"b","model_patch":null}"#,
                "\n",
                r#"{"model_patch":"x"}"#,
                "\n"
            ),
        )
        .unwrap();
        let preds = load(&p).unwrap();
        assert_eq!(preds.by_id["a"].model_patch.as_deref(), Some("two"));
        assert_eq!(preds.by_id["b"].model_patch, None);
        assert_eq!(preds.warnings.len(), 3, "{:?}", preds.warnings);
        assert!(preds.warnings[0].contains(":2: malformed JSON"));
        assert!(preds.warnings[1].contains(":3: duplicate prediction for `a` (line 1)"));
        assert!(preds.warnings[2].ends_with(":5: missing field `instance_id`"));
    }
}
