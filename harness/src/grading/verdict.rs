//! From an evaluation's outcome to a verdict, the same way for every sandbox.

use protege_datasets::Task;
use protege_results::{InfraError, InfraKind, Outcome, Report, Verdict};

use super::EvalOutcome;
use super::rules::{LogRead, Rules};
use crate::patch::check;
use crate::specs::Spec;
use protege_testlog::StatusMap;

fn verdict(outcome: Outcome, report: Report) -> Verdict {
    Verdict {
        outcome,
        report,
        infra_error: None,
        patch_problem: None,
        flaky: Vec::new(),
    }
}

/// The verdict for patches that never reach a sandbox: none, empty, or refused by the check.
/// `None` means the patch may be evaluated.
pub fn precheck(patch: Option<&str>) -> Option<Verdict> {
    let Some(patch) = patch else {
        return Some(verdict(
            Outcome::EmptyPatch,
            Report {
                patch_is_none: true,
                ..Default::default()
            },
        ));
    };
    if patch.trim().is_empty() {
        return Some(verdict(Outcome::EmptyPatch, Report::default()));
    }
    match check(patch) {
        Ok(_) => None,
        Err(problem) => {
            let mut v = verdict(
                Outcome::PatchNotApplied,
                Report {
                    patch_exists: true,
                    ..Default::default()
                },
            );
            v.patch_problem = Some(format!("{}: {problem}", problem.kind()));
            Some(v)
        }
    }
}

/// The test results of an evaluation's output: under `rules` for sets graded by SWE-bench's
/// official rules, else as the task's set parses them (empty when the log is unusable or the set
/// finds no test output).
pub fn parse_statuses(task: &Task, spec: &Spec, out: &EvalOutcome, rules: Rules) -> StatusMap {
    let set = crate::sets::for_task(task);
    if !set.official_grading() {
        return set.parse(task, spec, &out.test_output).unwrap_or_default();
    }
    match rules.read_log(spec.parser, &out.test_output) {
        LogRead::Results(m) => m,
        LogRead::Unusable(_) | LogRead::NoReport(_) => StatusMap::new(),
    }
}

/// Grades an evaluation that ran, under `rules`.
pub fn from_outcome(task: &Task, spec: &Spec, out: &EvalOutcome, rules: Rules) -> Verdict {
    let report = Report {
        patch_exists: true,
        patch_successfully_applied: out.applied == Some(true),
        ..Default::default()
    };
    if let Some(e) = &out.infra_error {
        let mut v = verdict(Outcome::InfraError, report);
        v.infra_error = Some(e.clone());
        return v;
    }
    if out.applied != Some(true) {
        let mut v = verdict(Outcome::PatchNotApplied, report);
        v.patch_problem = Some(format!(
            "patch did not apply ({})",
            rules.apply_commands().join(", ")
        ));
        return v;
    }
    if out.timed_out {
        return verdict(Outcome::Timeout, report);
    }
    let set = crate::sets::for_task(task);
    if set.official_grading() {
        return match rules.grade(task, spec.parser, &out.test_output) {
            Ok(report) => {
                let outcome = if report.resolved {
                    Outcome::Resolved
                } else {
                    Outcome::Unresolved
                };
                verdict(outcome, report)
            }
            // The official run writes no report: protege's nearest class is a harness failure.
            Err(why) => infra_verdict_from(report, InfraKind::OfficialGraderRaises, why),
        };
    }
    let mut report = report;
    // a set with its own grading rule (SWE-smith, R2E-Gym)
    let graded = match set.parse(task, spec, &out.test_output) {
        Some(status) => set.grade(task, &status),
        None => crate::sets::Graded {
            tests_status: None,
            resolved: false,
        },
    };
    report.resolved = graded.resolved;
    report.tests_status = graded.tests_status;
    let outcome = if report.resolved {
        Outcome::Resolved
    } else {
        Outcome::Unresolved
    };
    verdict(outcome, report)
}

fn infra_verdict_from(report: Report, kind: InfraKind, message: &str) -> Verdict {
    let mut v = verdict(Outcome::InfraError, report);
    v.infra_error = Some(InfraError::new(kind, message));
    v
}

/// Tests required by the task that failed in `first` but passed in some rerun: flaky, reported
/// apart and never counted as passes.
pub fn flaky_tests(task: &Task, first: &StatusMap, reruns: &[StatusMap]) -> Vec<String> {
    let mut out: Vec<String> = task
        .fail_to_pass
        .iter()
        .chain(&task.pass_to_pass)
        .filter(|t| {
            let before = first.get(*t).is_some_and(|s| s.is_pass());
            reruns
                .iter()
                .any(|r| r.get(*t).is_some_and(|s| s.is_pass()) != before)
        })
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flaky_tests_are_those_that_change_outcome() {
        use protege_testlog::TestStatus::*;
        let mut task: Task = serde_json::from_value(serde_json::json!({
            "instance_id": "a__b-1", "repo": "a/b", "base_commit": "c", "version": "1",
            "problem_statement": "", "patch": "", "test_patch": "",
            "FAIL_TO_PASS": ["f1", "f2"], "PASS_TO_PASS": ["p1", "p2"]
        }))
        .unwrap();
        let map = |pairs: &[(&str, protege_testlog::TestStatus)]| -> StatusMap {
            pairs.iter().map(|(n, s)| (n.to_string(), *s)).collect()
        };
        let first = map(&[
            ("f1", Failed),
            ("f2", Passed),
            ("p1", Passed),
            ("p2", Error),
        ]);
        let again = [
            map(&[
                ("f1", Failed),
                ("f2", Passed),
                ("p1", Passed),
                ("p2", Error),
            ]),
            map(&[
                ("f1", Passed),
                ("f2", Passed),
                ("p1", Failed),
                ("p2", Error),
            ]),
        ];
        assert_eq!(flaky_tests(&task, &first, &again), ["f1", "p1"]);
        assert!(flaky_tests(&task, &first, &again[..1]).is_empty());
        task.pass_to_pass.clear();
        assert_eq!(flaky_tests(&task, &first, &again), ["f1"]);
    }

    #[test]
    fn prechecks() {
        let none = precheck(None).unwrap();
        assert_eq!(none.outcome, Outcome::EmptyPatch);
        assert!(none.report.patch_is_none);
        let empty = precheck(Some("\n")).unwrap();
        assert_eq!(empty.outcome, Outcome::EmptyPatch);
        assert!(!empty.report.patch_exists);
        let escape = precheck(Some("--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n")).unwrap();
        assert_eq!(escape.outcome, Outcome::PatchNotApplied);
        assert!(escape.patch_problem.unwrap().starts_with("path_escape"));
        assert!(precheck(Some("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n")).is_none());
    }
}
