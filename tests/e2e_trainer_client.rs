//! End-to-end: the trainer-side Python package (`clients/python`, with the real `skyrl-gym`
//! from PyPI in the venv `scripts/setup.sh` makes) against a real `protege serve`: a scripted
//! SkyRL-gym episode resolves a mini task, and its reward and components equal `protege
//! eval`'s for the same patch; the Gymnasium-style environment, GRPO group advantages and
//! error answers; and the client-overhead figures (printed).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::{Value, json};

const TASK: &str = "protege-mini__romanum-1";

struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn venv_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-trainers/bin/python")
}

/// The venv's Python when it has the package and skyrl-gym (setup.sh installs both).
fn python_with_the_client() -> Option<PathBuf> {
    let py = venv_python();
    let ok = Command::new(&py)
        .args(["-c", "import skyrl_gym, protege_client.skyrl"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!(
            "SKIPPED: {} cannot import skyrl_gym and protege_client (run scripts/setup.sh)",
            py.display()
        );
        return None;
    }
    Some(py)
}

/// `protege serve` on a free loopback port, WASI sandboxes; returns it and its base URL.
fn serve(config: &Path) -> (Served, String) {
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--sandbox", "wasi"])
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let mut base = None;
    while err.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.split("listening on ").nth(1) {
            base = Some(rest.split_whitespace().next().unwrap().to_string());
            break;
        }
        line.clear();
    }
    std::thread::spawn(move || {
        let mut sink = String::new();
        while err.read_line(&mut sink).unwrap_or(0) > 0 {
            eprint!("[serve] {sink}");
            sink.clear();
        }
    });
    let base = base.unwrap_or_else(|| panic!("serve did not start: {line}"));
    (Served(child), base)
}

#[test]
fn skyrl_episode_rewards_equal_protege_eval() {
    let Some(py) = python_with_the_client() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The paper reward in its collaboration stage: resolved (R_correct 1), no expert call (−10).
    let reward = json!({"preset": "paper", "stage": "collaborate"});
    let config = dir.path().join("config.json");
    std::fs::write(&config, json!({"reward": reward}).to_string()).unwrap();
    // The server's default stays `blog` for the Gymnasium and group checks: the scenario's
    // SkyRL episode asks for the paper reward per request.
    let defaults = dir.path().join("defaults.json");
    std::fs::write(&defaults, "{}").unwrap();
    let (_served, base) = serve(&defaults);
    let scenario = dir.path().join("scenario.json");
    std::fs::write(
        &scenario,
        json!({
            "instance_id": TASK,
            "fix": gold_edit_actions(TASK),
            "submit": "Done.\n```\nsubmit\n```",
            "reward": reward,
            "bench_episodes": 3,
        })
        .to_string(),
    )
    .unwrap();
    let out = dir.path().join("out.json");
    let run = Command::new(&py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/python/tests/check_serve.py"))
        .arg(&base)
        .arg(&scenario)
        .arg(&out)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&run);
    eprintln!("{stdout}{stderr}");
    assert!(
        run.status.success(),
        "the Python checks failed:\n{stdout}\n{stderr}"
    );
    let got: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let sub = &got["skyrl"];
    assert_eq!(sub["resolved"], true);
    assert_eq!(sub["reward"]["preset"], "paper");
    assert_eq!(sub["reward"]["total"], -9.0, "{sub}");

    // The same patch through `protege eval` with the same reward settings.
    let preds = dir.path().join("preds.jsonl");
    std::fs::write(
        &preds,
        json!({"instance_id": TASK, "model_name_or_path": "skyrl", "model_patch": sub["patch"]})
            .to_string()
            + "\n",
    )
    .unwrap();
    let o = protege(
        &[
            "eval",
            "--predictions",
            preds.to_str().unwrap(),
            "--sandbox",
            "wasi",
            "--config",
            config.to_str().unwrap(),
            "--run-id",
            "same",
            "--quiet",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let recs = records(&dir.path().join("results/same"));
    let rec = &recs[0]["reward"];
    // Everything but the loop runs themselves (eval grades a patch with no trajectory; the
    // episode's few distinct actions make no run long enough to count).
    let mut a = sub["reward"].clone();
    let mut b = rec.clone();
    for r in [&mut a, &mut b] {
        let p = r["paper"].as_object_mut().unwrap();
        p.remove("loop_runs");
        p.remove("loop_first");
    }
    assert_eq!(a, b, "episode {} vs eval {}", sub["reward"], rec);
    assert_eq!(sub["reward"]["paper"]["r_loop"], 0.0);
    let bench = &got["bench"];
    eprintln!(
        "client overhead: {} scripted episodes: SkyRL-gym env {:.1}/min, direct HTTP {:.1}/min",
        bench["episodes"],
        bench["skyrl_per_min"].as_f64().unwrap(),
        bench["http_per_min"].as_f64().unwrap()
    );
}
