//! End-to-end: the real binary grading the built-in tasks in real Docker containers.

mod common;

use common::*;

#[test]
fn gold_resolves_every_mini_task_and_empty_none() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let o = protege(
        &[
            "run",
            "--dataset",
            "mini",
            "--policy",
            "gold",
            "--out",
            out,
            "--run-id",
            "gold",
        ],
        tmp.path(),
    );
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    let ids = mini_ids();
    assert!(ids.len() >= 12);
    let recs = records(&tmp.path().join("gold"));
    assert_eq!(recs.len(), ids.len());
    for id in &ids {
        assert_eq!(outcome_of(&recs, id), "resolved", "{id}: {stderr}");
        let logs = tmp.path().join("gold/logs").join(id);
        for f in [
            "eval.sh",
            "patch.diff",
            "run_instance.log",
            "test_output.txt",
            "report.json",
        ] {
            assert!(logs.join(f).exists(), "{id}: missing {f}");
        }
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(logs.join("report.json")).unwrap())
                .unwrap();
        assert_eq!(report[id]["resolved"], true);
        assert_eq!(report[id]["patch_successfully_applied"], true);
    }
    assert!(
        stdout.contains(&format!("| {} | {} | 100.0% |", ids.len(), ids.len())),
        "{stdout}"
    );
    for t in ["summary", "repos", "instances"] {
        for ext in ["csv", "md", "json"] {
            assert!(tmp.path().join(format!("gold/tables/{t}.{ext}")).exists());
        }
    }
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("gold/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["dataset"], "mini");
    assert_eq!(
        manifest["environments"].as_object().unwrap().len(),
        ids.len()
    );
    // The official run summary, `<model>.<run_id>.json`: every instance completed and resolved.
    let summary = official_summary(&tmp.path().join("gold/gold.gold.json"));
    assert_eq!(summary["total_instances"], ids.len());
    assert_eq!(summary["submitted_instances"], ids.len());
    assert_eq!(summary["resolved_ids"], serde_json::json!(ids));
    assert_eq!(summary["completed_ids"], serde_json::json!(ids));
    assert_eq!(summary["error_instances"], 0);

    let o = protege(
        &[
            "run", "--policy", "empty", "--out", out, "--run-id", "empty",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", text(&o).1);
    let recs = records(&tmp.path().join("empty"));
    assert_eq!(recs.len(), ids.len());
    for id in &ids {
        assert_eq!(outcome_of(&recs, id), "empty_patch");
    }
    let summary = official_summary(&tmp.path().join("empty/empty.empty.json"));
    assert_eq!(summary["empty_patch_ids"], serde_json::json!(ids));
    assert_eq!(summary["completed_instances"], 0);
    assert_eq!(summary["resolved_instances"], 0);
    assert!(
        protege_containers("gold").is_empty() && protege_containers("empty").is_empty(),
        "containers left behind"
    );
}

fn official_summary(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema_version"], 2, "{text}");
    v
}

/// The test patch alone (the buggy code) fails every FAIL_TO_PASS test: each task's bug is real.
#[test]
fn test_patch_alone_fails_every_fail_to_pass_test() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let tmp = tempfile::tempdir().unwrap();
    // A no-op patch (adds a file no test reads) makes the harness run the tests on the buggy code.
    let noop = "diff --git a/NOTES.txt b/NOTES.txt\nnew file mode 100644\n--- /dev/null\n+++ b/NOTES.txt\n@@ -0,0 +1 @@\n+notes\n";
    let preds: Vec<String> = mini_ids()
        .iter()
        .map(|id| serde_json::json!({"instance_id": id, "model_name_or_path": "noop", "model_patch": noop}).to_string())
        .collect();
    let p = tmp.path().join("noop.jsonl");
    std::fs::write(&p, preds.join("\n")).unwrap();
    let o = protege(
        &[
            "eval",
            "--predictions",
            p.to_str().unwrap(),
            "--out",
            tmp.path().to_str().unwrap(),
            "--run-id",
            "noop",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", text(&o).1);
    for r in records(&tmp.path().join("noop")) {
        let id = r["instance_id"].as_str().unwrap();
        assert_eq!(r["verdict"]["outcome"], "unresolved", "{id}");
        let ts = &r["verdict"]["report"]["tests_status"];
        assert!(
            ts["FAIL_TO_PASS"]["success"].as_array().unwrap().is_empty(),
            "{id}: a FAIL_TO_PASS test passes without the fix"
        );
        assert!(
            ts["PASS_TO_PASS"]["failure"].as_array().unwrap().is_empty(),
            "{id}: a PASS_TO_PASS test fails on the base commit"
        );
    }
}

/// With one worker, each instance's grading container starts while the instance before it is
/// tested, and grades as a fresh one does: every instance but the first is graded in a
/// container started ahead, with the same verdicts. `--image-lookahead 0` starts none ahead; a
/// resumed run (every record kept) and a run of refused patches leave no container behind.
#[test]
fn grading_containers_start_while_the_instance_before_is_tested() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let ids = mini_ids()[..4].join(",");
    let run = |policy: &str, run_id: &str, extra: &[&str]| {
        let mut args = vec![
            "run",
            "--policy",
            policy,
            "--workers",
            "1",
            "--instances",
            &ids,
            "--out",
            out,
            "--run-id",
            run_id,
        ];
        args.extend_from_slice(extra);
        let o = protege(&args, tmp.path());
        assert!(o.status.success(), "{}", text(&o).1);
        assert!(
            protege_containers(run_id).is_empty(),
            "{run_id}: containers left behind"
        );
        records(&tmp.path().join(run_id))
    };
    let warm_starts = |recs: &[serde_json::Value]| -> Vec<bool> {
        recs.iter()
            .map(|r| r["stats"]["warm_start"].as_bool().unwrap_or(false))
            .collect()
    };

    let warm = run("gold", "warm", &[]);
    assert_eq!(warm.len(), 4);
    assert!(warm.iter().all(|r| r["verdict"]["outcome"] == "resolved"));
    // records are appended in the order one worker grades them
    assert_eq!(warm_starts(&warm), [false, true, true, true]);

    let cold = run("gold", "cold", &["--image-lookahead", "0"]);
    assert_eq!(warm_starts(&cold), [false; 4]);
    for (w, c) in warm.iter().zip(&cold) {
        assert_eq!(w["instance_id"], c["instance_id"]);
        assert_eq!(w["verdict"], c["verdict"]);
    }

    // every record kept: nothing graded, nothing started ahead
    assert_eq!(run("gold", "warm", &[]).len(), 4);
    let empty = run("empty", "empty", &[]);
    assert!(
        empty
            .iter()
            .all(|r| r["verdict"]["outcome"] == "empty_patch")
    );
}
