//! The agentless pipeline on this CPU with the built-in SmolLM2, under WASI: wall time per task
//! and stage, model calls and tokens per stage, and how many candidates survive each stage
//! (repair: apply and parse; validate: no regression; select: the chosen one).
//!
//! Run: `cargo bench --profile dev --bench agentless_stages` (prints figures; nothing is asserted
//! but that the run completes).

use std::process::Command;
use std::sync::Arc;

use async_trait::async_trait;
use protege_harness::workspace::WasiWorkspace;
use protege_policies::agentless::{AgentlessConfig, AgentlessPolicy};
use protege_policies::lm::{Completion, FinishReason, GenParams, LanguageModel, LmError, Message};
use protege_sandboxes::Sandbox;

const IDS: [&str; 3] = [
    "protege-mini__romanum-1",
    "protege-mini__tabread-1",
    "protege-mini__clargs-1",
];
const STAGES: [&str; 6] = [
    "localize_files",
    "localize_elements",
    "repair",
    "reproduction",
    "validate",
    "select",
];

fn main() {
    let bin = env!("CARGO_BIN_EXE_protege");
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("agentless.json");
    // Generation lengths are cut from the defaults (128/512/384) so that the bench takes minutes
    // on two cores; the pipeline is otherwise the default one.
    let config = r#"{"agentless": {"candidates": 3,
        "localize_params": {"max_new_tokens": 48, "temperature": 0.0},
        "repair_params": {"max_new_tokens": 96, "temperature": 0.8, "top_p": 0.95},
        "reproduction_params": {"max_new_tokens": 64, "temperature": 0.0}}}"#;
    std::fs::write(&cfg, config).unwrap();
    let started = std::time::Instant::now();
    let st = Command::new(bin)
        .args(["run", "--policy", "agentless", "--quiet", "--workers", "1"])
        .args(["--sandbox", "wasi", "--instances", &IDS.join(",")])
        .args(["--config", cfg.to_str().unwrap()])
        .args(["--out", tmp.path().to_str().unwrap(), "--run-id", "bench"])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "protege run --policy agentless failed");
    println!(
        "agentless, SmolLM2-135M (GGUF, CPU), WASI workspaces, 1 worker; config {}",
        config.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    println!(
        "whole run (model load, pipeline and grading): {:.1} s\n",
        started.elapsed().as_secs_f64()
    );
    let records = std::fs::read_to_string(tmp.path().join("bench/records.jsonl")).unwrap();
    let mut totals = vec![0u64; STAGES.len()];
    println!(
        "{:<28} {:<18} {:>9} {:>6} {:>8} {:>8}",
        "task", "stage", "wall ms", "calls", "tok in", "tok out"
    );
    for id in IDS {
        let path = tmp.path().join(format!("bench/trajectories/{id}.json"));
        let t: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let stages = t["stages"].as_array().unwrap();
        let mut task_ms = 0;
        for (i, name) in STAGES.iter().enumerate() {
            let Some(s) = stages.iter().find(|s| s["name"] == *name) else {
                continue;
            };
            let ms = s["ms"].as_u64().unwrap();
            totals[i] += ms;
            task_ms += ms;
            let n = |k: &str| s[k].as_u64().unwrap_or(0);
            println!(
                "{id:<28} {name:<18} {ms:>9} {:>6} {:>8} {:>8}",
                n("model_calls"),
                n("tokens_in"),
                n("tokens_out")
            );
        }
        let cands = t["candidates"].as_array().unwrap();
        let applied = cands
            .iter()
            .filter(|c| !c["fate"].as_str().unwrap().starts_with("dropped"))
            .count();
        let validated = cands
            .iter()
            .filter(|c| !c["fate"].as_str().unwrap().starts_with("dropped"))
            .filter(|c| c["regressions"].as_u64().unwrap_or(0) == 0)
            .count();
        let selected = cands.iter().filter(|c| c["fate"] == "selected").count();
        let outcome = records
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|r| r["instance_id"] == id)
            .map(|r| r["verdict"]["outcome"].as_str().unwrap_or("?").to_string())
            .unwrap_or_default();
        println!(
            "{id:<28} {:<18} {task_ms:>9}   candidates: {} generated, {applied} apply and parse, {validated} without regressions, {selected} selected; outcome {outcome}",
            "all stages",
            cands.len()
        );
        for c in cands {
            println!(
                "{:<28}   candidate {}: {}",
                "",
                c["index"],
                c["fate"].as_str().unwrap()
            );
        }
        println!();
    }
    println!("mean wall time per task by stage:");
    for (i, name) in STAGES.iter().enumerate() {
        println!(
            "  {name:<18} {:>9.0} ms",
            totals[i] as f64 / IDS.len() as f64
        );
    }
    oracle();
}

/// Answers with the gold patch: the files it edits, their hunks' line ranges, and the hunks as
/// SEARCH/REPLACE blocks (no reproduction test). It shows what validation and selection cost
/// when candidates survive, which SmolLM2's replies rarely let them do.
struct Oracle {
    files: String,
    ranges: String,
    edits: String,
}

impl Oracle {
    fn new(gold: &str) -> Oracle {
        let (mut files, mut ranges, mut edits) = (String::new(), String::new(), String::new());
        let (mut path, mut search, mut replace) = (String::new(), String::new(), String::new());
        let flush = |path: &str, search: &mut String, replace: &mut String, edits: &mut String| {
            if !search.is_empty() {
                edits.push_str(&format!(
                    "### {path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"
                ));
            }
            search.clear();
            replace.clear();
        };
        for l in gold.lines() {
            if let Some(p) = l.strip_prefix("+++ b/") {
                flush(&path, &mut search, &mut replace, &mut edits);
                path = p.to_string();
                files.push_str(&format!("{p}\n"));
            } else if let Some(h) = l.strip_prefix("@@ -") {
                flush(&path, &mut search, &mut replace, &mut edits);
                let old = h.split(' ').next().unwrap_or("1");
                let (start, len) = old.split_once(',').unwrap_or((old, "1"));
                let start: usize = start.parse().unwrap_or(1);
                let len: usize = len.parse().unwrap_or(1);
                ranges.push_str(&format!("{path}: lines {start}-{}\n", start + len));
            } else if let Some(t) = l.strip_prefix(' ') {
                search.push_str(&format!("{t}\n"));
                replace.push_str(&format!("{t}\n"));
            } else if l.starts_with("---") {
                continue;
            } else if let Some(t) = l.strip_prefix('-') {
                search.push_str(&format!("{t}\n"));
            } else if let Some(t) = l.strip_prefix('+') {
                replace.push_str(&format!("{t}\n"));
            }
        }
        flush(&path, &mut search, &mut replace, &mut edits);
        Oracle {
            files,
            ranges,
            edits,
        }
    }
}

#[async_trait]
impl LanguageModel for Oracle {
    fn name(&self) -> &str {
        "gold-oracle"
    }
    async fn chat(&self, messages: &[Message], _: &GenParams) -> Result<Completion, LmError> {
        let system = &messages[0].content;
        let text = if system.contains("find the files") {
            self.files.clone()
        } else if system.contains("exact classes") {
            self.ranges.clone()
        } else if system.contains("SEARCH/REPLACE") {
            self.edits.clone()
        } else {
            String::new()
        };
        Ok(Completion {
            text,
            tokens_in: 0,
            tokens_out: 0,
            tokens_cached: 0,
            finish: FinishReason::Stop,
            ms: 0,
            cost: 0.0,
            model: "gold-oracle".into(),
            note: None,
            ..Default::default()
        })
    }
}

fn oracle() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tasks = protege_datasets::mini::load().unwrap().tasks;
    println!(
        "\nthe same pipeline, defaults but 3 candidates, with an oracle model replying with the gold patch:"
    );
    for id in IDS {
        let task = tasks.iter().find(|t| t.instance_id == id).unwrap();
        let policy = AgentlessPolicy {
            model: Arc::new(Oracle::new(&task.patch)),
            config: AgentlessConfig {
                candidates: 3,
                ..AgentlessConfig::default()
            },
        };
        let traj = rt.block_on(async {
            let ws = WasiWorkspace::open(task).await.unwrap();
            let t = policy.run(task, &ws).await;
            ws.close().await.unwrap();
            t
        });
        let stages: Vec<String> = traj
            .stages
            .iter()
            .map(|s| format!("{} {} ms", s.name, s.ms))
            .collect();
        let fates: Vec<String> = traj
            .candidates
            .iter()
            .map(|c| format!("{} (regressions {:?})", c.fate, c.regressions))
            .collect();
        println!("{id:<28} {}", stages.join(", "));
        println!("{:<28} candidates: {}", "", fates.join(", "));
        let validate = traj.stages.iter().find(|s| s.name == "validate");
        println!(
            "{:<28} validate: {}",
            "",
            validate.map_or("", |s| s.note.as_str())
        );
    }
}
