use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One SWE-bench row. Test lists are decoded once, at load, whatever their published encoding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub instance_id: String,
    pub repo: String,
    pub base_commit: String,
    pub version: String,
    pub problem_statement: String,
    #[serde(default)]
    pub hints_text: String,
    pub patch: String,
    pub test_patch: String,
    #[serde(rename = "FAIL_TO_PASS")]
    pub fail_to_pass: Vec<String>,
    #[serde(rename = "PASS_TO_PASS")]
    pub pass_to_pass: Vec<String>,
    #[serde(default)]
    pub environment_setup_commit: String,
    #[serde(default)]
    pub created_at: String,
    /// Columns of datasets made for `swebench` 5.x, which takes these from the row instead of
    /// its spec tables; absent from the published Verified and Lite rows.
    /// The whole eval script (`#!/bin/bash` … ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_script: Option<String>,
    /// The instance image to run in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The official parser's name (`parse_log_pytest`, `parse_log_django`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_parser: Option<String>,
    /// `pass_and_fail` or `fail_only`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_type: Option<String>,
    /// The task set whose rules grade this task (`swe-smith`, `r2e-gym`, …); empty for SWE-bench
    /// (Verified, Lite, the mini set and any file in SWE-bench's schema). The harness's
    /// `sets` module maps the name to the set's rules.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub set: String,
    /// Fields of the set's own schema that SWE-bench's lacks (`image_name`, `install_config`,
    /// `expected_output_json`, …), as published; only the set's module reads them. Both new
    /// fields are left out of the serialised form when empty, so SWE-bench tasks (and the pinned
    /// content digests of Verified and Lite) are unchanged.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl Task {
    /// Builds a task from one JSON object, naming the first field that is missing or malformed.
    pub fn from_json(value: &Value) -> Result<Task, String> {
        let obj = value
            .as_object()
            .ok_or_else(|| format!("expected a JSON object, found {}", kind(value)))?;
        Ok(Task {
            instance_id: required_str(obj, "instance_id")?,
            repo: required_str(obj, "repo")?,
            base_commit: required_str(obj, "base_commit")?,
            version: version(obj)?,
            problem_statement: required_str(obj, "problem_statement")?,
            hints_text: optional_str(obj, "hints_text")?,
            patch: required_str(obj, "patch")?,
            test_patch: required_str(obj, "test_patch")?,
            fail_to_pass: test_list(obj, "FAIL_TO_PASS")?,
            pass_to_pass: test_list(obj, "PASS_TO_PASS")?,
            environment_setup_commit: optional_str(obj, "environment_setup_commit")?,
            created_at: optional_str(obj, "created_at")?,
            eval_script: optional_column(obj, "eval_script")?,
            image: optional_column(obj, "image")?,
            log_parser: optional_column(obj, "log_parser")?,
            eval_type: optional_column(obj, "eval_type")?,
            set: String::new(),
            extra: Map::new(),
        })
    }

    /// A string field of the set's own schema (`extra`), when present.
    pub fn extra_str(&self, field: &str) -> Option<&str> {
        self.extra.get(field).and_then(Value::as_str)
    }

    /// The repository's short name, `django` for `django/django`.
    pub fn repo_name(&self) -> &str {
        self.repo.rsplit('/').next().unwrap_or(&self.repo)
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A string field that must be there.
pub fn required_str(obj: &Map<String, Value>, field: &str) -> Result<String, String> {
    match obj.get(field) {
        None => Err(format!("missing field `{field}`")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Err(format!(
            "field `{field}`: expected a string, found {}",
            kind(v)
        )),
    }
}

/// A string field that may be absent or null (then empty).
pub fn optional_str(obj: &Map<String, Value>, field: &str) -> Result<String, String> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Err(format!(
            "field `{field}`: expected a string, found {}",
            kind(v)
        )),
    }
}

/// An optional column: `None` when absent, null or empty.
fn optional_column(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    optional_str(obj, field).map(|s| (!s.is_empty()).then_some(s))
}

/// Some dumps store `version` as a number (`3.0`); keep the published text form.
pub fn version(obj: &Map<String, Value>) -> Result<String, String> {
    match obj.get("version") {
        None => Err("missing field `version`".into()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => {
            let s = n.to_string();
            Ok(if s.contains('.') { s } else { format!("{s}.0") })
        }
        Some(v) => Err(format!(
            "field `version`: expected a string, found {}",
            kind(v)
        )),
    }
}

/// `FAIL_TO_PASS` / `PASS_TO_PASS` are JSON-encoded strings in the published dataset and real
/// lists elsewhere; both decode to a list here.
pub fn test_list(obj: &Map<String, Value>, field: &str) -> Result<Vec<String>, String> {
    let value = obj
        .get(field)
        .ok_or_else(|| format!("missing field `{field}`"))?;
    let decoded;
    let list = match value {
        Value::Array(_) => value,
        Value::String(s) => {
            decoded = serde_json::from_str::<Value>(s).map_err(|e| {
                format!("field `{field}`: not a JSON-encoded list of test names: {e}")
            })?;
            &decoded
        }
        v => {
            return Err(format!(
                "field `{field}`: expected a list of test names, found {}",
                kind(v)
            ));
        }
    };
    let items = list
        .as_array()
        .ok_or_else(|| format!("field `{field}`: expected a list, found {}", kind(list)))?;
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str().map(str::to_owned).ok_or_else(|| {
                format!("field `{field}`[{i}]: expected a string, found {}", kind(v))
            })
        })
        .collect()
}

/// An ordered set of tasks with the identity of where it came from.
#[derive(Debug, Clone)]
pub struct TaskSet {
    /// `mini`, `verified`, `lite` or the path given.
    pub name: String,
    /// sha256 of the bytes the set was loaded from (for the mini set: of its canonical JSONL form).
    pub sha256: String,
    pub tasks: Vec<Task>,
    /// Rows that could not be loaded, each with a message naming file, line and field. The rest of
    /// the set still loads; callers report these.
    pub rejected: Vec<String>,
}

impl TaskSet {
    pub fn get(&self, instance_id: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.instance_id == instance_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row() -> Value {
        json!({
            "instance_id": "a__b-1", "repo": "a/b", "base_commit": "abc", "version": "1.0",
            "problem_statement": "p", "hints_text": "", "patch": "x", "test_patch": "y",
            "FAIL_TO_PASS": "[\"t1\"]", "PASS_TO_PASS": ["t2", "t3"],
            "environment_setup_commit": "e", "created_at": "2024-01-01"
        })
    }

    #[test]
    fn decodes_encoded_and_plain_lists() {
        let t = Task::from_json(&row()).unwrap();
        assert_eq!(t.fail_to_pass, vec!["t1"]);
        assert_eq!(t.pass_to_pass, vec!["t2", "t3"]);
        assert_eq!(t.repo_name(), "b");
    }

    #[test]
    fn missing_field_is_named() {
        let mut r = row();
        r.as_object_mut().unwrap().remove("test_patch");
        assert_eq!(
            Task::from_json(&r).unwrap_err(),
            "missing field `test_patch`"
        );
    }

    #[test]
    fn malformed_list_is_named() {
        let mut r = row();
        r["FAIL_TO_PASS"] = json!("[not json");
        let e = Task::from_json(&r).unwrap_err();
        assert!(
            e.starts_with("field `FAIL_TO_PASS`: not a JSON-encoded list"),
            "{e}"
        );
        r["FAIL_TO_PASS"] = json!([1]);
        assert_eq!(
            Task::from_json(&r).unwrap_err(),
            "field `FAIL_TO_PASS`[0]: expected a string, found a number"
        );
    }

    #[test]
    fn numeric_version_keeps_text_form() {
        let mut r = row();
        r["version"] = json!(3.1);
        assert_eq!(Task::from_json(&r).unwrap().version, "3.1");
        r["version"] = json!(3);
        assert_eq!(Task::from_json(&r).unwrap().version, "3.0");
    }
}
