//! Golden test: regrading SWE-smith's own harness logs (`../shared/parity/swe-smith/
//! run_evaluation/<id>/test_output.txt`) with protege's SWE-smith rules gives SWE-smith's own
//! `report.json` for every instance. The real instance row there is used as published; the
//! other instances' test lists are read from their reports (only those lists matter to grading).

use std::fs;
use std::path::{Path, PathBuf};

use protege_datasets::TaskSet;
use protege_harness::grading::rules::{GraderChoice, Rules};
use protege_harness::regrade::{Outcome, grade_log, regrade_dir};
use protege_harness::sets::{TaskSetRules, swe_smith::SweSmith};
use serde_json::{Value, json};

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/parity/swe-smith");
    p.is_dir().then_some(p)
}

fn lists(report: &Value, key: &str) -> Vec<Value> {
    let ts = &report["tests_status"][key];
    ts["success"]
        .as_array()
        .unwrap()
        .iter()
        .chain(ts["failure"].as_array().unwrap())
        .cloned()
        .collect()
}

/// The dataset: the published row where there is one, else a row rebuilt from the report.
fn taskset(root: &Path) -> TaskSet {
    let logs = root.join("run_evaluation");
    let mut tasks = Vec::new();
    let mut dirs: Vec<_> = fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let id = dir.file_name().unwrap().to_str().unwrap().to_string();
        let example = root.join(format!("example_instance.{id}.json"));
        let row: Value = if example.exists() {
            serde_json::from_slice(&fs::read(&example).unwrap()).unwrap()
        } else {
            let report: Value =
                serde_json::from_slice(&fs::read(dir.join("report.json")).unwrap()).unwrap();
            let (repo_commit, _) = id.rsplit_once('.').unwrap();
            json!({
                "instance_id": id,
                "repo": format!("swesmith/{repo_commit}"),
                "patch": "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n",
                "FAIL_TO_PASS": lists(&report, "FAIL_TO_PASS"),
                "PASS_TO_PASS": lists(&report, "PASS_TO_PASS"),
                "image_name": format!("swesmith.x86_64.{repo_commit}"),
                "problem_statement": "",
            })
        };
        tasks.push(SweSmith.task_from_row(&row).unwrap());
    }
    TaskSet {
        name: "swe-smith".into(),
        sha256: String::new(),
        tasks,
        rejected: Vec::new(),
    }
}

#[test]
fn regrade_gives_swe_smiths_own_reports() {
    let Some(root) = shared() else {
        eprintln!("SKIPPED: ../shared/parity/swe-smith is absent");
        return;
    };
    let set = taskset(&root);
    assert_eq!(set.tasks.len(), 4);
    let out = tempfile::tempdir().unwrap();
    let summary = regrade_dir(
        &root.join("run_evaluation"),
        &set,
        out.path(),
        GraderChoice::Auto,
    )
    .unwrap();
    assert_eq!(summary.instances, 4);
    assert_eq!(summary.compared, 4);
    assert!(summary.mismatches.is_empty(), "{:#?}", summary.mismatches);
    assert_eq!(summary.matches, 4);
    // as the run's own summary has it: three of these four resolved, pr_53856 not
    let run: Value =
        serde_json::from_slice(&fs::read(root.join("run_evaluation/report.json")).unwrap())
            .unwrap();
    let resolved: Vec<&str> = run["ids_resolved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for t in &set.tasks {
        assert_eq!(
            summary.resolved_ids.contains(&t.instance_id),
            resolved.contains(&t.instance_id.as_str()),
            "{}",
            t.instance_id
        );
    }
    assert_eq!(
        summary.unresolved_ids,
        ["pandas-dev__pandas.95280573.pr_53856"]
    );
}

/// The same logs with their markers cut away give SWE-smith's "no test output" verdict: no
/// tests_status, not resolved (SWE-bench's grader would parse the whole log instead).
#[test]
fn a_log_without_markers_grades_nothing() {
    let Some(root) = shared() else {
        eprintln!("SKIPPED: ../shared/parity/swe-smith is absent");
        return;
    };
    let set = taskset(&root);
    let t = &set.tasks[1];
    let log = fs::read_to_string(
        root.join("run_evaluation")
            .join(&t.instance_id)
            .join("test_output.txt"),
    )
    .unwrap()
    .replace(">>>>> End Test Output", "");
    // SWE-smith's own rules apply whatever SWE-bench version is named.
    match grade_log(t, &log, Rules::CURRENT) {
        Outcome::Report(r) => {
            assert!(!r.resolved);
            assert!(r.tests_status.is_none());
        }
        other => panic!("{other:?}"),
    }
}
