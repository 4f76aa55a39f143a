//! End-to-end: the agent policy with the built-in SmolLM2 as the small model and an expert
//! served by `protege lm serve` over loopback; and trajectory replay.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_expert_server() -> (Server, u16) {
    let port = free_port();
    let child = Command::new(bin())
        .args([
            "lm",
            "serve",
            "--model",
            "smollm2",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "lm serve did not start listening"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (server, port)
}

#[test]
fn agent_with_smollm2_and_an_expert_over_loopback() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let (_server, port) = start_expert_server();
    let tmp = tempfile::tempdir().unwrap();
    // The collaborate token is set to a letter every English reply contains, so that the small
    // model's first reply is an expert call whatever it says; the budget then allows no more.
    let config = json!({
        "agent": {
            "max_steps": 3,
            "collaborate_token": "e",
            "max_expert_calls": 1,
            "slm_params": {"max_new_tokens": 24, "temperature": 0.0},
            "expert_params": {"max_new_tokens": 24, "temperature": 0.0}
        }
    });
    let cfg = tmp.path().join("agent.json");
    std::fs::write(&cfg, config.to_string()).unwrap();
    let out = tmp.path().to_str().unwrap();
    let o = protege(
        &[
            "run",
            "--policy",
            "agent",
            "--slm",
            "smollm2",
            "--expert",
            &format!("http://127.0.0.1:{port}/v1#smollm2"),
            "--instances",
            "protege-mini__romanum-1,protege-mini__tabread-1",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out,
            "--run-id",
            "agent",
            "--events",
            tmp.path().join("events.jsonl").to_str().unwrap(),
        ],
        tmp.path(),
    );
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    let run = tmp.path().join("agent");
    let recs = records(&run);
    assert_eq!(recs.len(), 2);
    // Every step is told as it happens: in the events file and, stderr being no terminal here,
    // as a line each.
    let events: Vec<serde_json::Value> = std::fs::read_to_string(tmp.path().join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for id in ["protege-mini__romanum-1", "protege-mini__tabread-1"] {
        let steps: Vec<&serde_json::Value> = events
            .iter()
            .filter(|e| e["event"] == "policy_step" && e["instance_id"] == id)
            .collect();
        let numbers: Vec<u64> = steps.iter().map(|e| e["step"].as_u64().unwrap()).collect();
        assert_eq!(
            numbers,
            [1, 2, 3, 4],
            "{id}: three slm steps and one expert step"
        );
        assert_eq!(steps.iter().filter(|e| e["actor"] == "expert").count(), 1);
        assert!(steps.iter().all(|e| e["tokens_in"].as_u64().unwrap() > 0));
        assert!(stderr.contains(&format!("  {id}: step 4 (")), "{stderr}");
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["config"]["agent"]["collaborate_token"], "e",
        "the manifest records the agent's settings"
    );
    for r in &recs {
        let id = r["instance_id"].as_str().unwrap();
        let a = &r["agent"];
        assert_eq!(a["steps"], 3, "{id}: the loop ran to its step limit: {a}");
        assert_eq!(a["exit_reason"], "max_steps");
        assert_eq!(a["expert_calls"], 1, "{id}: {a}");
        assert!(a["expert_tokens"].as_u64().unwrap() > 0);
        assert!(a["slm_tokens"].as_u64().unwrap() > 0);
        let share = a["expert_token_share"].as_f64().unwrap();
        assert!(share > 0.0 && share < 1.0);
        assert!(r["reward"]["total"].is_number());
        let traj: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(run.join(format!("trajectories/{id}.json"))).unwrap(),
        )
        .unwrap();
        let steps = traj["steps"].as_array().unwrap();
        assert_eq!(steps.iter().filter(|s| s["actor"] == "expert").count(), 1);
        assert_eq!(steps.iter().filter(|s| s["actor"] == "slm").count(), 3);
        assert!(
            steps[0]["observation"]
                .as_str()
                .unwrap()
                .starts_with("EXPERT ADVICE:")
        );
        assert!(
            steps[2]["observation"]
                .as_str()
                .unwrap()
                .contains("expert budget"),
            "{}",
            steps[2]["observation"]
        );
        // The trajectory replays to the same patch.
        let o = protege(
            &[
                "replay-trajectory",
                run.join(format!("trajectories/{id}.json"))
                    .to_str()
                    .unwrap(),
                "--config",
                cfg.to_str().unwrap(),
            ],
            tmp.path(),
        );
        assert!(o.status.success(), "{id}: {}", text(&o).1);
    }
    // One rollout line per episode, with the conversation and the reward's components.
    let rollouts: Vec<serde_json::Value> = std::fs::read_to_string(run.join("rollouts.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rollouts.len(), 2);
    for r in &rollouts {
        let msgs = r["messages"].as_array().unwrap();
        assert_eq!(msgs[0]["role"], "system");
        assert_eq!(msgs[1]["role"], "user");
        assert_eq!(
            msgs.len(),
            2 + 2 * 3,
            "three replies and three observations"
        );
        assert!(
            msgs[3]["content"]
                .as_str()
                .unwrap()
                .starts_with("EXPERT ADVICE:")
        );
        assert!(r["tokens"]["expert_in"].as_u64().unwrap() > 0);
        let rw = &r["reward"];
        let total = rw["r_task"].as_f64().unwrap()
            - rw["lambda_loop"].as_f64().unwrap() * rw["c_loop"].as_f64().unwrap()
            - rw["lambda_collab"].as_f64().unwrap() * rw["c_collab"].as_f64().unwrap();
        assert!((total - rw["total"].as_f64().unwrap()).abs() < 1e-9);
    }
    assert!(
        stdout.contains("| 2 | all | 3.0 |"),
        "the agent table shows the steps: {stdout}"
    );
    assert!(
        stdout.contains("| 1.00 |"),
        "one expert call per task: {stdout}"
    );
    assert!(protege_containers("agent").is_empty());
}

/// A hand-written trajectory that fixes a task: replaying it reproduces its patch, and that
/// patch resolves the task.
#[test]
fn replayed_trajectory_reproduces_a_fixing_patch() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let tmp = tempfile::tempdir().unwrap();
    let id = "protege-mini__romanum-1";
    let mut traj = romanum_fix_trajectory();
    let path = tmp.path().join("t.json");
    std::fs::write(&path, traj.to_string()).unwrap();
    // In a WASI workspace (no git: the diff is made on the host) the same actions give a patch
    // that resolves the task too.
    let o = protege(
        &[
            "replay-trajectory",
            path.to_str().unwrap(),
            "--print",
            "--sandbox",
            "wasi",
        ],
        tmp.path(),
    );
    let (wasi_patch, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        wasi_patch.contains("+    if not MIN_VALUE <= number <= MAX_VALUE:"),
        "{wasi_patch}"
    );
    assert!(!wasi_patch.contains("scratch/note.txt"), "{wasi_patch}");
    let o = protege(
        &["replay-trajectory", path.to_str().unwrap(), "--print"],
        tmp.path(),
    );
    let (patch, stderr) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "an empty recorded patch differs: {stderr}"
    );
    assert!(
        patch.contains("+    if not MIN_VALUE <= number <= MAX_VALUE:"),
        "{patch}"
    );
    assert!(
        !patch.contains("scratch/note.txt"),
        "the undone file is gone: {patch}"
    );
    traj["patch"] = patch.clone().into();
    std::fs::write(&path, traj.to_string()).unwrap();
    let o = protege(&["replay-trajectory", path.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "{}", text(&o).1);
    for (run, p) in [("p", &patch), ("w", &wasi_patch)] {
        let preds = tmp.path().join(format!("{run}.jsonl"));
        let line = json!({"instance_id": id, "model_name_or_path": "scripted", "model_patch": p});
        std::fs::write(&preds, line.to_string()).unwrap();
        let o = protege(
            &[
                "eval",
                "--predictions",
                preds.to_str().unwrap(),
                "--out",
                tmp.path().to_str().unwrap(),
                "--run-id",
                run,
            ],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", text(&o).1);
        assert_eq!(
            outcome_of(&records(&tmp.path().join(run)), id),
            "resolved",
            "{run}"
        );
    }
}
