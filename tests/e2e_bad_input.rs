//! End-to-end: bad input gets a clear error naming it, the run goes on, nothing is lost.

mod common;

use common::*;
use serde_json::json;

const NOOP: &str = "diff --git a/NOTES.txt b/NOTES.txt\nnew file mode 100644\n--- /dev/null\n+++ b/NOTES.txt\n@@ -0,0 +1 @@\n+notes\n";

#[test]
fn replay_mixing_good_failing_and_malformed_predictions() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let gold = |id: &str| std::fs::read_to_string(mini_dir(id).join("gold.patch")).unwrap();
    let pred = |id: &str, patch: serde_json::Value| {
        json!({"instance_id": id, "model_name_or_path": "mix", "model_patch": patch}).to_string()
    };
    let lines = [
        pred("protege-mini__calcexpr-1", gold("protege-mini__calcexpr-1").into()),
        pred("protege-mini__clargs-1", NOOP.into()),
        pred("protege-mini__confini-1", "".into()),
        pred("protege-mini__dateparse-1", serde_json::Value::Null),
        pred(
            "protege-mini__globmatch-1",
            "--- a/conftest.py\n+++ b/conftest.py\n@@ -1,2 +1,2 @@\n-this line is not in the file\n-nor is this one\n+x\n+y\n".into(),
        ),
        pred("protege-mini__memokit-1", "this is not a diff at all".into()),
        "{\"instance_id\": \"protege-mini__x\", oops".to_string(),
        pred("protege-mini__moneta-1", "--- a/../../etc/passwd\n+++ b/../../etc/passwd\n@@ -1 +1 @@\n-root\n+toor\n".into()),
        pred("protege-mini__romanum-1", "diff --git a/logo.png b/logo.png\nindex 1..2 100644\nGIT binary patch\nliteral 4\nLcmZ?wbhEa~\n".into()),
        pred("protege-mini__semvertools-1", NOOP.into()),
        pred("protege-mini__semvertools-1", gold("protege-mini__semvertools-1").into()),
        pred("nobody__nothing-1", NOOP.into()),
        pred("protege-mini__spanset-1", "--- /etc/hostname\n+++ /etc/hostname\n@@ -1 +1 @@\n-a\n+b\n".into()),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("preds.jsonl");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    let o = protege(
        &[
            "eval",
            "--predictions",
            p.to_str().unwrap(),
            "--dataset",
            "mini",
            "--out",
            tmp.path().to_str().unwrap(),
            "--run-id",
            "mix",
            // the apply cascade checked below is swebench 4.x's
            "--grader",
            "swebench-4",
        ],
        tmp.path(),
    );
    let (_, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("preds.jsonl:7: malformed JSON"), "{stderr}");
    assert!(
        stderr.contains("preds.jsonl:11: duplicate prediction for `protege-mini__semvertools-1` (line 10); the last one, line 11, wins"),
        "{stderr}"
    );
    assert!(
        stderr.contains("prediction for `nobody__nothing-1` names no instance of dataset mini"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let recs = records(&tmp.path().join("mix"));
    assert_eq!(recs.len(), 10, "one record per predicted known instance");
    let expect = [
        ("protege-mini__calcexpr-1", "resolved"),
        ("protege-mini__clargs-1", "unresolved"),
        ("protege-mini__confini-1", "empty_patch"),
        ("protege-mini__dateparse-1", "empty_patch"),
        ("protege-mini__globmatch-1", "patch_not_applied"),
        ("protege-mini__memokit-1", "patch_not_applied"),
        ("protege-mini__moneta-1", "patch_not_applied"),
        ("protege-mini__romanum-1", "patch_not_applied"),
        ("protege-mini__semvertools-1", "resolved"),
        ("protege-mini__spanset-1", "patch_not_applied"),
    ];
    for (id, outcome) in expect {
        assert_eq!(outcome_of(&recs, id), outcome, "{id}");
    }
    let problem = |id: &str| -> String {
        recs.iter().find(|r| r["instance_id"] == id).unwrap()["verdict"]["patch_problem"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(
        problem("protege-mini__moneta-1").starts_with("path_escape"),
        "{}",
        problem("protege-mini__moneta-1")
    );
    assert!(problem("protege-mini__spanset-1").starts_with("path_escape"));
    assert!(problem("protege-mini__romanum-1").starts_with("binary_patch"));
    assert!(problem("protege-mini__memokit-1").starts_with("malformed_patch"));
    assert!(problem("protege-mini__globmatch-1").contains("did not apply"));
    let dateparse = recs
        .iter()
        .find(|r| r["instance_id"] == "protege-mini__dateparse-1")
        .unwrap();
    assert_eq!(dateparse["verdict"]["report"]["patch_is_None"], true);
    // The refused patches never reached a sandbox: no test output was written for them.
    assert!(
        !tmp.path()
            .join("mix/logs/protege-mini__moneta-1/test_output.txt")
            .exists()
    );
    // The one that did not apply shows each method of the cascade failing.
    let log = std::fs::read_to_string(
        tmp.path()
            .join("mix/logs/protege-mini__globmatch-1/run_instance.log"),
    )
    .unwrap();
    for m in [
        "git apply --verbose ",
        "git apply --verbose --reject",
        "patch --batch --fuzz=5 -p1 -i",
    ] {
        assert!(
            log.contains(&format!("Failed to apply patch to container: {m}")),
            "{log}"
        );
    }
    assert!(
        protege_containers("mix").is_empty(),
        "containers left behind"
    );
}

#[test]
fn dataset_row_missing_a_field_is_named_and_the_rest_runs() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let tmp = tempfile::tempdir().unwrap();
    let mut broken = mini_row("protege-mini__tabread-1");
    broken.as_object_mut().unwrap().remove("base_commit");
    let rows = [
        mini_row("protege-mini__textlay-1").to_string(),
        broken.to_string(),
        mini_row("protege-mini__unitconv-1").to_string(),
    ];
    let d = tmp.path().join("tasks.jsonl");
    std::fs::write(&d, rows.join("\n")).unwrap();
    let o = protege(
        &[
            "run",
            "--dataset",
            d.to_str().unwrap(),
            "--out",
            tmp.path().to_str().unwrap(),
            "--run-id",
            "rows",
        ],
        tmp.path(),
    );
    let (_, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("tasks.jsonl:2: missing field `base_commit`"),
        "{stderr}"
    );
    let recs = records(&tmp.path().join("rows"));
    assert_eq!(recs.len(), 2);
    assert_eq!(outcome_of(&recs, "protege-mini__textlay-1"), "resolved");
    assert_eq!(outcome_of(&recs, "protege-mini__unitconv-1"), "resolved");
}

#[test]
fn docker_not_running_gives_one_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let no_docker = format!("unix://{}/no-docker.sock", tmp.path().display());
    let o = std::process::Command::new(bin())
        .args([
            "run",
            "--sandbox",
            "docker",
            "--out",
            tmp.path().to_str().unwrap(),
        ])
        .env("DOCKER_HOST", &no_docker)
        .output()
        .unwrap();
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("Docker is not running or not reachable"),
        "{stderr}"
    );
    assert!(stderr.contains("dockerd"), "says how to start it: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{stderr}"
    );
}

/// Without `--sandbox`, a machine with no Docker engine grades under WASI and says so.
#[test]
fn without_docker_the_default_run_falls_back_to_wasi() {
    let tmp = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(bin())
        .args([
            "run",
            "--instances",
            "protege-mini__romanum-1",
            "--out",
            tmp.path().to_str().unwrap(),
            "--run-id",
            "nodocker",
        ])
        .env(
            "DOCKER_HOST",
            format!("unix://{}/no-docker.sock", tmp.path().display()),
        )
        .output()
        .unwrap();
    let (_, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("no Docker engine answers; grading under WASI"),
        "{stderr}"
    );
    let recs = records(&tmp.path().join("nodocker"));
    assert_eq!(recs[0]["sandbox"], "wasi");
    assert_eq!(recs[0]["verdict"]["outcome"], "resolved");
}

#[test]
fn unknown_dataset_and_policy_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let o = protege(
        &["run", "--dataset", "/nonexistent/tasks.jsonl"],
        tmp.path(),
    );
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr.contains("/nonexistent/tasks.jsonl"), "{stderr}");
    let o = protege(&["run", "--policy", "genius"], tmp.path());
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr.contains("unknown policy `genius`"), "{stderr}");
    let o = protege(&["run", "--instances", "protege-mini__nope-1"], tmp.path());
    assert!(
        text(&o)
            .1
            .contains("--instances `protege-mini__nope-1`: no such instance"),
        "{}",
        text(&o).1
    );
}
