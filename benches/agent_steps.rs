//! The agent loop on this CPU with the built-in SmolLM2: steps per minute, and the loop's own
//! overhead per step (step wall time minus the model's), median and p90, in Docker and WASI
//! workspaces. Needs Docker and the mini images.
//!
//! Run: `cargo bench --profile dev --bench agent_steps` (prints figures; nothing is asserted).

use std::process::Command;

use protege_results::metrics::percentile;

fn main() {
    let bin = env!("CARGO_BIN_EXE_protege");
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("agent.json");
    std::fs::write(
        &cfg,
        r#"{"agent": {"max_steps": 8, "slm_params": {"max_new_tokens": 48, "temperature": 0.0}}}"#,
    )
    .unwrap();
    let ids = ["protege-mini__romanum-1", "protege-mini__tabread-1"];
    for sandbox in ["docker", "wasi"] {
        let st = Command::new(bin)
            .args([
                "run",
                "--policy",
                "agent",
                "--quiet",
                "--workers",
                "1",
                "--sandbox",
                sandbox,
            ])
            .args([
                "--instances",
                &ids.join(","),
                "--config",
                cfg.to_str().unwrap(),
            ])
            .args(["--out", tmp.path().to_str().unwrap(), "--run-id", sandbox])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(
            st.success(),
            "protege run failed (Docker up, mini images built?)"
        );
        let (mut overhead, mut total_ms, mut steps) = (Vec::new(), 0.0, 0);
        for id in ids {
            let path = tmp.path().join(format!("{sandbox}/trajectories/{id}.json"));
            let t: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            for s in t["steps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["actor"] == "slm")
            {
                let (ms, model) = (s["ms"].as_f64().unwrap(), s["model_ms"].as_f64().unwrap());
                overhead.push(ms - model);
                total_ms += ms;
                steps += 1;
            }
        }
        println!(
            "{sandbox}: {steps} steps, {:.1} steps/minute; loop overhead per step (excluding the model): median {:.1} ms, p90 {:.1} ms",
            steps as f64 / (total_ms / 60_000.0),
            percentile(&overhead, 50.0).unwrap(),
            percentile(&overhead, 90.0).unwrap()
        );
    }
}
