//! Grading a parsed test log against a task: the official SWE-bench rules and `report.json` shape.

use std::collections::BTreeMap;

use protege_datasets::Task;
use protege_testlog::StatusMap;

pub use super::rules::Rules;

pub use protege_results::verdict::{Report, SuccessFailure, TestsStatus};

/// The official grading of one parsed log under `rules`: FAIL_TO_PASS and PASS_TO_PASS split
/// into success and failure ([`Rules::tests_status`]).
pub fn tests_status(task: &Task, status: &StatusMap, rules: Rules) -> TestsStatus {
    rules.tests_status(task, status)
}

/// Resolved when neither list has a failure (an empty list counts as fully passing).
pub fn is_resolved(ts: &TestsStatus) -> bool {
    ts.fail_to_pass.failure.is_empty() && ts.pass_to_pass.failure.is_empty()
}

/// Wraps one instance's report as the official file does: `{ "<instance_id>": { … } }`.
pub fn report_json(instance_id: &str, report: &Report) -> String {
    let mut m = BTreeMap::new();
    m.insert(instance_id, report);
    serde_json::to_string_pretty(&m).expect("report serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use protege_testlog::TestStatus;

    fn task(f2p: &[&str], p2p: &[&str]) -> Task {
        Task {
            instance_id: "a__b-1".into(),
            repo: "a/b".into(),
            base_commit: "c".into(),
            version: "1".into(),
            problem_statement: String::new(),
            hints_text: String::new(),
            patch: String::new(),
            test_patch: String::new(),
            fail_to_pass: f2p.iter().map(|s| s.to_string()).collect(),
            pass_to_pass: p2p.iter().map(|s| s.to_string()).collect(),
            environment_setup_commit: String::new(),
            created_at: String::new(),
            ..Default::default()
        }
    }

    fn status(pairs: &[(&str, TestStatus)]) -> StatusMap {
        pairs.iter().map(|(n, s)| (n.to_string(), *s)).collect()
    }

    #[test]
    fn passed_and_xfail_pass_others_fail() {
        use TestStatus::*;
        let t = task(&["f1", "f2", "f3"], &["p1", "p2", "p3", "missing"]);
        let s = status(&[
            ("f1", Passed),
            ("f2", Xfail),
            ("f3", Skipped),
            ("p1", Failed),
            ("p2", Error),
            ("p3", Passed),
        ]);
        // swebench 4.x rules, which these tests were written for
        let ts = tests_status(&t, &s, Rules::Swebench4);
        assert_eq!(ts.fail_to_pass.success, ["f1", "f2"]);
        assert!(
            ts.fail_to_pass.failure.is_empty(),
            "SKIPPED is neither: {ts:?}"
        );
        assert_eq!(ts.pass_to_pass.success, ["p3"]);
        assert_eq!(ts.pass_to_pass.failure, ["p1", "p2", "missing"]);
        assert!(!is_resolved(&ts));
    }

    #[test]
    fn empty_lists_count_as_passed() {
        let t = task(&["f"], &[]);
        let ts = tests_status(&t, &status(&[("f", TestStatus::Passed)]), Rules::Swebench4);
        assert!(is_resolved(&ts));
        let t = task(&[], &[]);
        assert!(is_resolved(&tests_status(
            &t,
            &StatusMap::new(),
            Rules::Swebench4
        )));
    }

    #[test]
    fn report_has_official_shape() {
        let r = Report {
            patch_is_none: false,
            patch_exists: true,
            patch_successfully_applied: true,
            resolved: true,
            tests_status: Some(TestsStatus::default()),
            ..Default::default()
        };
        let v: serde_json::Value = serde_json::from_str(&report_json("x", &r)).unwrap();
        assert_eq!(v["x"]["patch_is_None"], false);
        assert!(v["x"]["tests_status"]["FAIL_TO_PASS"]["success"].is_array());
        assert!(v["x"]["tests_status"]["PASS_TO_FAIL"]["failure"].is_array());
    }
}
