//! The agent loop on this CPU with the built-in SmolLM2: steps per minute, and the loop's own
//! overhead per step (step wall time minus the model's), median and p90, in Docker and WASI
//! workspaces. Then the two action protocols (`text`, `tools`) driven by one scripted model
//! behind `protege`'s OpenAI-compatible server (the same actions, stated as fenced text or as
//! tool calls): steps per minute in Docker, which is the protocols' overhead and nothing else.
//! Needs Docker and the mini images.
//!
//! Last, the `paper` reward's judge: a scripted small model that asks the expert every fourth
//! step, the built-in SmolLM2 as the expert, and the expert's hidden judge calls' share of all
//! expert tokens (advice plus judging), from the records.
//!
//! Run: `cargo bench --profile dev --bench agent_steps [-- smollm2|protocols|judge]` (prints
//! figures; nothing is asserted).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use async_trait::async_trait;
use protege_policies::lm::{
    Completion, GenParams, LanguageModel, LmError, Message, Role, ToolCall, server,
};
use protege_results::metrics::percentile;

const IDS: [&str; 2] = ["protege-mini__romanum-1", "protege-mini__tabread-1"];

fn main() {
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let runs = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if runs("smollm2") {
        smollm2();
    }
    if runs("protocols") {
        protocols();
    }
    if runs("judge") {
        judge_share();
    }
}

/// Serves `model` on loopback through protege's OpenAI-compatible router; returns its `--slm`
/// URL and the runtime that keeps it up.
fn serve_scripted(model: Arc<dyn LanguageModel>, name: &str) -> (tokio::runtime::Runtime, String) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = server::router(model, name, GenParams::default());
        tokio::spawn(server::serve(listener, router, std::future::pending()));
        format!("http://{addr}/v1#{name}")
    });
    (rt, url)
}

/// Looks around and asks the expert every fourth step (text protocol).
struct Asker;

#[async_trait]
impl LanguageModel for Asker {
    fn name(&self) -> &str {
        "asker"
    }
    async fn chat(&self, messages: &[Message], _: &GenParams) -> Result<Completion, LmError> {
        let n = messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .count();
        let action = match n % 4 {
            0 => "ls /testbed",
            1 => "grep -rn def /testbed --include=*.py",
            2 => {
                "ask_expert The failing test expects a different result; which function should I change?"
            }
            _ => "cat /testbed/README.md",
        };
        Ok(Completion {
            text: format!("Next.\n```\n{action}\n```"),
            tokens_in: 10,
            tokens_out: 10,
            model: "asker".into(),
            ..Completion::default()
        })
    }
}

fn judge_share() {
    let bin = env!("CARGO_BIN_EXE_protege");
    let (_rt, url) = serve_scripted(Arc::new(Asker), "asker");
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("judge.json");
    std::fs::write(
        &cfg,
        r#"{"agent": {"max_steps": 12, "expert_params": {"max_new_tokens": 96, "temperature": 0.0}},
            "reward": {"preset": "paper"}}"#,
    )
    .unwrap();
    let st = Command::new(bin)
        .args([
            "run", "--policy", "agent", "--slm", &url, "--expert", "smollm2",
        ])
        .args(["--quiet", "--workers", "1", "--sandbox", "docker"])
        .args([
            "--instances",
            &IDS.join(","),
            "--config",
            cfg.to_str().unwrap(),
        ])
        .args([
            "--out",
            tmp.path().to_str().unwrap(),
            "--run-id",
            "bench-judge",
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(
        st.success(),
        "protege run failed (Docker up, mini images built?)"
    );
    let (mut calls, mut advice, mut judged, mut judge_calls) = (0, 0, 0, 0);
    for line in std::fs::read_to_string(tmp.path().join("bench-judge/records.jsonl"))
        .unwrap()
        .lines()
    {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let a = &r["agent"];
        calls += a["expert_calls"].as_u64().unwrap();
        advice += a["expert_tokens"].as_u64().unwrap();
        judge_calls += a["judge_calls"].as_u64().unwrap();
        judged += a["judge_tokens"].as_u64().unwrap();
    }
    println!(
        "judge (SmolLM2 expert, scripted small model, {} tasks): {calls} expert calls with {advice} tokens, {judge_calls} judge calls with {judged} tokens: the judge is {:.1}% of expert tokens",
        IDS.len(),
        100.0 * judged as f64 / (advice + judged).max(1) as f64
    );
}

/// Per run: slm steps, steps per minute of step wall time, and the loop's overhead per step.
fn figures(dir: &Path) -> (usize, f64, Vec<f64>) {
    let (mut overhead, mut total_ms, mut steps) = (Vec::new(), 0.0, 0);
    for id in IDS {
        let path = dir.join(format!("trajectories/{id}.json"));
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
    (steps, steps as f64 / (total_ms / 60_000.0), overhead)
}

fn smollm2() {
    let bin = env!("CARGO_BIN_EXE_protege");
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("agent.json");
    std::fs::write(
        &cfg,
        r#"{"agent": {"max_steps": 8, "slm_params": {"max_new_tokens": 48, "temperature": 0.0}}}"#,
    )
    .unwrap();
    let ids = IDS;
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
        let (steps, per_minute, overhead) = figures(&tmp.path().join(sandbox));
        println!(
            "{sandbox}: {steps} steps, {:.1} steps/minute; loop overhead per step (excluding the model): median {:.1} ms, p90 {:.1} ms",
            per_minute,
            percentile(&overhead, 50.0).unwrap(),
            percentile(&overhead, 90.0).unwrap()
        );
    }
}

/// One action cycle (look, create a file, view it), stated in the protocol the request implies:
/// tool calls when tools are offered, a fenced action otherwise.
struct Cycle;

#[async_trait]
impl LanguageModel for Cycle {
    fn name(&self) -> &str {
        "cycle"
    }
    async fn chat(&self, messages: &[Message], params: &GenParams) -> Result<Completion, LmError> {
        let n = messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .count();
        let file = format!("/testbed/scratch_{}.txt", n / 3);
        let (text, call) = match n % 3 {
            0 => (
                "```\nls -la /testbed\n```".to_string(),
                ("bash", serde_json::json!({"command": "ls -la /testbed"})),
            ),
            1 => (
                format!("```\ncreate {file}\nline {n}\n```"),
                (
                    "str_replace_editor",
                    serde_json::json!({"command": "create", "path": file, "file_text": format!("line {n}")}),
                ),
            ),
            _ => (
                format!("```\nopen {file}\n```"),
                (
                    "str_replace_editor",
                    serde_json::json!({"command": "view", "path": file}),
                ),
            ),
        };
        let mut c = Completion {
            tokens_in: 10,
            tokens_out: 10,
            model: "cycle".into(),
            ..Completion::default()
        };
        if params.tools.is_empty() {
            c.text = format!("Next.\n{text}");
        } else {
            c.text = "Next.".into();
            c.tool_calls = vec![ToolCall {
                id: format!("call_{n}"),
                name: call.0.into(),
                arguments: call.1.to_string(),
            }];
        }
        Ok(c)
    }
}

fn protocols() {
    let bin = env!("CARGO_BIN_EXE_protege");
    let (_rt, url) = serve_scripted(Arc::new(Cycle), "cycle");
    let tmp = tempfile::tempdir().unwrap();
    for protocol in ["text", "tools"] {
        let cfg = tmp.path().join(format!("{protocol}.json"));
        std::fs::write(
            &cfg,
            format!(r#"{{"agent": {{"protocol": "{protocol}", "max_steps": 30}}}}"#),
        )
        .unwrap();
        let run_id = format!("bench-protocol-{protocol}");
        let st = Command::new(bin)
            .args(["run", "--policy", "agent", "--slm", &url, "--quiet"])
            .args(["--workers", "1", "--sandbox", "docker"])
            .args([
                "--instances",
                &IDS.join(","),
                "--config",
                cfg.to_str().unwrap(),
            ])
            .args(["--out", tmp.path().to_str().unwrap(), "--run-id", &run_id])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(
            st.success(),
            "protege run failed (Docker up, mini images built?)"
        );
        let dir = tmp.path().join(&run_id);
        let (steps, _, overhead) = figures(&dir);
        // The whole loop per step: model calls over HTTP (tools in every request), parsing,
        // the action, the conversation — from the policy's time in the records.
        let policy_ms: f64 = std::fs::read_to_string(dir.join("records.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["stats"]["policy_ms"]
                    .as_f64()
                    .unwrap()
            })
            .sum();
        println!(
            "protocol {protocol} (scripted model over loopback HTTP, docker): {steps} steps, {:.1} steps/minute of policy time; action step (parse, execute, record) median {:.1} ms, p90 {:.1} ms",
            steps as f64 / (policy_ms / 60_000.0),
            percentile(&overhead, 50.0).unwrap(),
            percentile(&overhead, 90.0).unwrap()
        );
    }
}
