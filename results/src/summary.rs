//! The official run summary, `<model>.<run_id>.json`: the file the official SWE-bench harness
//! writes at the end of a run, in its shape (keys, their order, sorted id lists, 4-space
//! indent, schema version 2), so that scripts and submission tooling written for it read
//! protege's runs unchanged. protege's own tables say more; this says the same as the official.
//!
//! How an instance is counted, as the official harness counts it:
//!
//! | instance | official | here |
//! | --- | --- | --- |
//! | in the task set, no prediction | `incomplete_ids` | same; also an instance a stopped run never reached |
//! | prediction empty or `null` | `empty_patch_ids` | [`Outcome::EmptyPatch`] |
//! | tests ran, `report.json` written | `completed_ids` + `resolved_ids` or `unresolved_ids` | [`Outcome::Resolved`], [`Outcome::Unresolved`] |
//! | patch did not apply, tests timed out, harness failed: no `report.json` | `error_ids` | [`Outcome::PatchNotApplied`], [`Outcome::Timeout`], [`Outcome::InfraError`] |

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Outcome, Record};

/// The official summary's schema version that this shape is.
pub const SCHEMA_VERSION: u32 = 2;

/// An evaluated instance, as the official summary counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Resolved,
    Unresolved,
    EmptyPatch,
    /// Evaluated, but no report: the patch did not apply, the tests timed out, the harness failed.
    Error,
}

impl Category {
    pub fn of(outcome: Outcome) -> Category {
        match outcome {
            Outcome::Resolved => Category::Resolved,
            Outcome::Unresolved => Category::Unresolved,
            Outcome::EmptyPatch => Category::EmptyPatch,
            Outcome::PatchNotApplied | Outcome::Timeout | Outcome::InfraError => Category::Error,
        }
    }
}

/// The official run summary. Field order is the file's key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub total_instances: usize,
    pub submitted_instances: usize,
    pub completed_instances: usize,
    pub resolved_instances: usize,
    pub unresolved_instances: usize,
    pub empty_patch_instances: usize,
    pub error_instances: usize,
    pub unstopped_instances: usize,
    pub completed_ids: Vec<String>,
    pub incomplete_ids: Vec<String>,
    pub empty_patch_ids: Vec<String>,
    pub submitted_ids: Vec<String>,
    pub resolved_ids: Vec<String>,
    pub unresolved_ids: Vec<String>,
    pub error_ids: Vec<String>,
    /// Containers of the run still present. protege removes its containers before it writes
    /// the summary (even when stopped by a signal), so callers pass what is left, if anything.
    pub unstopped_containers: Vec<String>,
    /// Instance images still present. protege keeps images for the next run (the `images`
    /// commands manage them) and does not list them.
    pub unremoved_images: Vec<String>,
    pub schema_version: u32,
}

impl RunSummary {
    /// * `instances`: the task set the run was for (its denominator, `total_instances`);
    /// * `submitted`: the instances given an attempt (a prediction, or every task for a policy);
    /// * `evaluated`: each evaluated instance's category.
    ///
    /// An instance of `instances` that was not submitted or not evaluated is incomplete.
    pub fn build<'a>(
        instances: impl IntoIterator<Item = &'a str>,
        submitted: impl IntoIterator<Item = &'a str>,
        evaluated: &BTreeMap<String, Category>,
    ) -> RunSummary {
        let total: BTreeSet<&str> = instances.into_iter().collect();
        let submitted: BTreeSet<&str> = submitted.into_iter().collect();
        let mut s = RunSummary {
            total_instances: total.len(),
            submitted_instances: submitted.len(),
            submitted_ids: submitted.iter().map(|id| id.to_string()).collect(),
            schema_version: SCHEMA_VERSION,
            ..RunSummary::default()
        };
        // BTreeSet order: every list comes out sorted, as the official lists are.
        for id in total {
            let category = submitted.contains(id).then(|| evaluated.get(id)).flatten();
            let list = match category {
                None => &mut s.incomplete_ids,
                Some(Category::EmptyPatch) => &mut s.empty_patch_ids,
                Some(Category::Error) => &mut s.error_ids,
                Some(Category::Resolved) => {
                    s.completed_ids.push(id.to_string());
                    &mut s.resolved_ids
                }
                Some(Category::Unresolved) => {
                    s.completed_ids.push(id.to_string());
                    &mut s.unresolved_ids
                }
            };
            list.push(id.to_string());
        }
        s.completed_instances = s.completed_ids.len();
        s.resolved_instances = s.resolved_ids.len();
        s.unresolved_instances = s.unresolved_ids.len();
        s.empty_patch_instances = s.empty_patch_ids.len();
        s.error_instances = s.error_ids.len();
        s
    }

    /// From a run's latest records (one per instance).
    pub fn from_records<'a>(
        instances: impl IntoIterator<Item = &'a str>,
        submitted: impl IntoIterator<Item = &'a str>,
        records: &[&Record],
    ) -> RunSummary {
        let evaluated = records
            .iter()
            .map(|r| (r.instance_id.clone(), Category::of(r.verdict.outcome)))
            .collect();
        RunSummary::build(instances, submitted, &evaluated)
    }

    /// The file's text: JSON with a 4-space indent and a final newline, as the official one.
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        self.serialize(&mut ser).expect("summary serialises");
        String::from_utf8(out).expect("JSON is UTF-8") + "\n"
    }

    /// Writes `<dir>/<model>.<run_id>.json` (see [`file_name`]) and returns its path.
    pub fn write(&self, dir: &Path, model: &str, run_id: &str) -> io::Result<PathBuf> {
        let path = dir.join(file_name(model, run_id));
        std::fs::write(&path, self.to_json())?;
        Ok(path)
    }
}

/// `<model>.<run_id>.json`, the model's `/` written `__` as the official harness does
/// (`org/model` → `org__model.<run_id>.json`).
pub fn file_name(model: &str, run_id: &str) -> String {
    format!("{}.{run_id}.json", model.replace('/', "__"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn counts_each_instance_once_in_sorted_lists() {
        let evaluated = BTreeMap::from([
            ("d".to_string(), Category::Resolved),
            ("a".to_string(), Category::Unresolved),
            ("b".to_string(), Category::Error),
            ("e".to_string(), Category::EmptyPatch),
            ("c".to_string(), Category::Resolved),
        ]);
        // f: no prediction; g: submitted but never evaluated (the run was stopped first).
        let s = RunSummary::build(
            ["g", "f", "e", "d", "c", "b", "a"],
            ["a", "b", "c", "d", "e", "g"],
            &evaluated,
        );
        assert_eq!(
            (
                s.total_instances,
                s.submitted_instances,
                s.completed_instances
            ),
            (7, 6, 3)
        );
        assert_eq!(s.completed_ids, ids(&["a", "c", "d"]));
        assert_eq!(s.resolved_ids, ids(&["c", "d"]));
        assert_eq!(s.unresolved_ids, ids(&["a"]));
        assert_eq!(s.error_ids, ids(&["b"]));
        assert_eq!(s.empty_patch_ids, ids(&["e"]));
        assert_eq!(s.incomplete_ids, ids(&["f", "g"]));
        assert_eq!(s.submitted_ids, ids(&["a", "b", "c", "d", "e", "g"]));
        assert_eq!(
            (
                s.resolved_instances,
                s.unresolved_instances,
                s.error_instances,
                s.empty_patch_instances
            ),
            (2, 1, 1, 1)
        );
        assert_eq!(s.schema_version, 2);
    }

    #[test]
    fn outcomes_without_a_report_are_errors() {
        for o in [
            Outcome::PatchNotApplied,
            Outcome::Timeout,
            Outcome::InfraError,
        ] {
            assert_eq!(Category::of(o), Category::Error, "{o:?}");
        }
        assert_eq!(Category::of(Outcome::EmptyPatch), Category::EmptyPatch);
    }

    #[test]
    fn file_has_the_official_keys_in_order_and_indent() {
        let text = RunSummary::build(["a"], ["a"], &BTreeMap::new()).to_json();
        assert!(
            text.starts_with("{\n    \"total_instances\": 1,\n"),
            "{text}"
        );
        assert!(text.ends_with("\"schema_version\": 2\n}\n"), "{text}");
        let keys: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("    \"")?.split('"').next())
            .collect();
        assert_eq!(
            keys,
            [
                "total_instances",
                "submitted_instances",
                "completed_instances",
                "resolved_instances",
                "unresolved_instances",
                "empty_patch_instances",
                "error_instances",
                "unstopped_instances",
                "completed_ids",
                "incomplete_ids",
                "empty_patch_ids",
                "submitted_ids",
                "resolved_ids",
                "unresolved_ids",
                "error_ids",
                "unstopped_containers",
                "unremoved_images",
                "schema_version",
            ]
        );
        assert_eq!(file_name("org/model", "r1"), "org__model.r1.json");
    }
}
