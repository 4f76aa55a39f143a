//! End-to-end: on the mini set, every verdict under WASI equals the Docker verdict.

mod common;

use common::*;
use serde_json::{Value, json};

fn verdicts(run_dir: &std::path::Path) -> Vec<(String, Value, Value)> {
    let mut v: Vec<(String, Value, Value)> = records(run_dir)
        .into_iter()
        .map(|r| {
            let id = r["instance_id"].as_str().unwrap().to_string();
            let mut ts = r["verdict"]["report"]["tests_status"].clone();
            // Compare as sets: the order of names inside a list carries no meaning.
            for group in ["FAIL_TO_PASS", "PASS_TO_PASS"] {
                for k in ["success", "failure"] {
                    if let Some(a) = ts[group][k].as_array_mut() {
                        a.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
                    }
                }
            }
            (id, r["verdict"]["outcome"].clone(), ts)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn wasi_verdicts_equal_docker_verdicts_on_mini() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let tmp = tempfile::tempdir().unwrap();
    // Gold for some tasks, a no-op patch (the buggy code) for others, nothing for the rest.
    let noop = "diff --git a/NOTES.txt b/NOTES.txt\nnew file mode 100644\n--- /dev/null\n+++ b/NOTES.txt\n@@ -0,0 +1 @@\n+notes\n";
    let lines: Vec<String> = mini_ids()
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let patch: Value = match i % 3 {
                0 => std::fs::read_to_string(mini_dir(id).join("gold.patch"))
                    .unwrap()
                    .into(),
                1 => noop.into(),
                _ => "".into(),
            };
            json!({"instance_id": id, "model_name_or_path": "mix", "model_patch": patch})
                .to_string()
        })
        .collect();
    let preds = tmp.path().join("p.jsonl");
    std::fs::write(&preds, lines.join("\n")).unwrap();
    let out = tmp.path().to_str().unwrap();
    for sandbox in ["docker", "wasi"] {
        let o = protege(
            &[
                "eval",
                "--predictions",
                preds.to_str().unwrap(),
                "--sandbox",
                sandbox,
                "--out",
                out,
                "--run-id",
                sandbox,
            ],
            tmp.path(),
        );
        assert!(o.status.success(), "{sandbox}: {}", text(&o).1);
    }
    let (d, w) = (
        verdicts(&tmp.path().join("docker")),
        verdicts(&tmp.path().join("wasi")),
    );
    assert_eq!(d.len(), mini_ids().len());
    assert_eq!(d, w);
    assert!(d.iter().any(|v| v.1 == "resolved") && d.iter().any(|v| v.1 == "unresolved"));
    for r in records(&tmp.path().join("wasi")) {
        assert_eq!(r["sandbox"], "wasi");
    }
}

#[test]
fn auto_picks_wasi_for_pure_python_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    let o = protege(
        &[
            "run",
            "--sandbox",
            "auto",
            "--instances",
            "protege-mini__tabread-1",
            "--out",
            tmp.path().to_str().unwrap(),
            "--run-id",
            "auto",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", text(&o).1);
    let recs = records(&tmp.path().join("auto"));
    assert_eq!(recs[0]["sandbox"], "wasi");
    assert_eq!(recs[0]["verdict"]["outcome"], "resolved");
}
