//! End-to-end: `protege run --policy agentless` with the built-in SmolLM2 on two mini tasks
//! under WASI, writing records with the agent's statistics columns and staged trajectories.

mod common;

use common::*;
use serde_json::json;

const IDS: [&str; 2] = ["protege-mini__romanum-1", "protege-mini__tabread-1"];

#[test]
fn agentless_with_smollm2_writes_staged_trajectories() {
    let tmp = tempfile::tempdir().unwrap();
    // Short generations keep this quick on two cores; every stage still runs.
    let config = json!({
        "agentless": {
            "candidates": 2,
            "localize_params": {"max_new_tokens": 16, "temperature": 0.0},
            "repair_params": {"max_new_tokens": 24, "temperature": 0.8, "seed": 7},
            "reproduction_params": {"max_new_tokens": 24, "temperature": 0.0}
        }
    });
    let cfg = tmp.path().join("agentless.json");
    std::fs::write(&cfg, config.to_string()).unwrap();
    let out = tmp.path().to_str().unwrap();
    let o = protege(
        &[
            "run",
            "--policy",
            "agentless",
            "--sandbox",
            "wasi",
            "--instances",
            &IDS.join(","),
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out,
            "--run-id",
            "al",
        ],
        tmp.path(),
    );
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    let run = tmp.path().join("al");
    let recs = records(&run);
    assert_eq!(recs.len(), 2);
    for r in &recs {
        let id = r["instance_id"].as_str().unwrap();
        assert_eq!(r["policy"], "agentless:smollm2");
        let a = &r["agent"];
        assert_eq!(a["loops"], 0, "{id}: {a}");
        assert_eq!(a["expert_calls"], 0);
        assert!(a["steps"].as_u64().unwrap() >= 4, "{id}: {a}");
        assert!(a["slm_tokens"].as_u64().unwrap() > 0);
        assert!(r["reward"]["total"].is_number());
        let traj: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(run.join(format!("trajectories/{id}.json"))).unwrap(),
        )
        .unwrap();
        let stages: Vec<&str> = traj["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            stages,
            [
                "localize_files",
                "localize_elements",
                "repair",
                "reproduction",
                "validate",
                "select"
            ],
            "{id}"
        );
        assert_eq!(traj["stages"][2]["model_calls"], 2, "{id}");
        let cands = traj["candidates"].as_array().unwrap();
        assert_eq!(cands.len(), 2, "{id}");
        assert_eq!(cands[1]["seed"], 8, "{id}: seeds follow the configured one");
        for c in cands {
            let fate = c["fate"].as_str().unwrap();
            assert!(
                fate == "selected" || fate == "survived" || fate.starts_with("dropped: "),
                "{id}: {c}"
            );
        }
        assert_eq!(
            traj["steps"].as_array().unwrap().len() as u64,
            a["steps"].as_u64().unwrap()
        );
        // A staged trajectory has no actions to replay, and says so.
        let o = protege(
            &[
                "replay-trajectory",
                run.join(format!("trajectories/{id}.json"))
                    .to_str()
                    .unwrap(),
                "--sandbox",
                "wasi",
            ],
            tmp.path(),
        );
        assert!(!o.status.success());
        assert!(
            text(&o).1.contains("no actions to replay"),
            "{}",
            text(&o).1
        );
    }
    assert!(stdout.contains("| 2 | all |"), "the agent table: {stdout}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["policy"], "agentless:smollm2");
    assert_eq!(manifest["config"]["agentless"]["candidates"], 2);
    assert!(manifest["config"].get("agent").is_none());
}

#[test]
fn agentless_takes_no_expert() {
    let tmp = tempfile::tempdir().unwrap();
    let o = protege(
        &["run", "--policy", "agentless", "--expert", "smollm2"],
        tmp.path(),
    );
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("--expert is for --policy agent"),
        "{}",
        text(&o).1
    );
}
