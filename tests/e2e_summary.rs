//! End-to-end: the official run summary `<model>.<run_id>.json` that `regrade` writes for a
//! public submission's logs equals the one the official harness wrote for the same run
//! (`../shared/parity/swe-fixer-20241128/harness_report.json`): same keys in the same order,
//! same counts, same id lists. Skips, loudly, when `../shared` is absent.

mod common;

use std::path::Path;

use common::*;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared");

#[test]
fn regrade_summary_equals_the_official_run_report() {
    let root = Path::new(SHARED);
    let run = root.join("parity/swe-fixer-20241128");
    let dataset = root.join("datasets/swe-bench-verified.jsonl");
    if !run.join("logs").is_dir() || !dataset.is_file() {
        eprintln!(
            "SKIPPED: {} not found (parity logs and the Verified dataset)",
            root.display()
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("regrade");
    let o = protege(
        &[
            "regrade",
            "--logs",
            run.join("logs").to_str().unwrap(),
            "--dataset",
            dataset.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--model",
            "SWE-Fixer",
            "--run-id",
            "swe-fixer-20241128",
        ],
        tmp.path(),
    );
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    let path = out.join("SWE-Fixer.swe-fixer-20241128.json");
    assert!(stdout.contains(path.to_str().unwrap()), "{stdout}");
    let mine: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let official: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("harness_report.json")).unwrap())
            .unwrap();
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        key_order(&path),
        key_order(&run.join("harness_report.json"))
    );
    assert_eq!(keys(&mine).len(), keys(&official).len());
    for k in keys(&official) {
        if k == "unremoved_images" {
            // The official harness lists the instance images its run left on its host; a
            // regrade runs no image.
            assert_eq!(mine[&k], serde_json::json!([]));
            continue;
        }
        assert_eq!(mine[&k], official[&k], "{k}");
    }
    assert_eq!(mine["total_instances"], 500);
    assert_eq!(mine["resolved_instances"], 151);
}

/// Top-level keys in the order the file lists them.
fn key_order(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.strip_prefix("    \"")?
                .split('"')
                .next()
                .map(str::to_owned)
        })
        .collect()
}
