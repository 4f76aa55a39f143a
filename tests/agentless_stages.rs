//! The agentless pipeline's stages on mini tasks in WASI workspaces: with a scripted model
//! (canned replies, so the outcome is known: a correct SEARCH/REPLACE must resolve the task and
//! broken candidates must be dropped or outvoted), and with the built-in SmolLM2 at
//! temperature 0 (every stage runs, falls back where the model's output is unusable, and the
//! same inputs give the same trajectory).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use protege_datasets::{Task, mini};
use protege_harness::grading::rules::Rules;
use protege_harness::grading::{verdict, wasi};
use protege_harness::specs;
use protege_harness::workspace::WasiWorkspace;
use protege_policies::agentless::{AgentlessConfig, AgentlessPolicy};
use protege_policies::lm::{Completion, FinishReason, GenParams, LanguageModel, LmError, Message};
use protege_policies::trajectory::Trajectory;
use protege_results::verdict::Outcome;
use protege_sandboxes::Sandbox;

/// Every agentless trajectory lists these stages, in this order, whether they ran or not.
const STAGES: [&str; 6] = [
    "localize_files",
    "localize_elements",
    "repair",
    "reproduction",
    "validate",
    "select",
];

/// A test double: answers each stage's prompt (told apart by its system message) with the next
/// canned reply for that stage, and an empty reply when they run out.
struct Scripted {
    files: String,
    elements: String,
    repairs: Mutex<Vec<String>>,
    reproduction: String,
}

#[async_trait]
impl LanguageModel for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    async fn chat(&self, messages: &[Message], _: &GenParams) -> Result<Completion, LmError> {
        let system = &messages[0].content;
        let text = if system.contains("find the files") {
            self.files.clone()
        } else if system.contains("exact classes") {
            self.elements.clone()
        } else if system.contains("SEARCH/REPLACE") {
            let mut r = self.repairs.lock().unwrap();
            if r.is_empty() {
                String::new()
            } else {
                r.remove(0)
            }
        } else if system.contains("reproduce") {
            self.reproduction.clone()
        } else {
            return Err(LmError::Request(format!("unexpected prompt: {system}")));
        };
        Ok(Completion {
            tokens_in: messages.iter().map(|m| m.content.len() as u64 / 4).sum(),
            tokens_out: text.len() as u64 / 4,
            text,
            tokens_cached: 0,
            finish: FinishReason::Stop,
            ms: 1,
            cost: 0.001,
            model: "scripted".into(),
            note: None,
            ..Default::default()
        })
    }
}

fn task(id: &str) -> Task {
    mini::load()
        .unwrap()
        .tasks
        .into_iter()
        .find(|t| t.instance_id == id)
        .unwrap()
}

async fn run(policy: &AgentlessPolicy, task: &Task) -> Trajectory {
    let ws = WasiWorkspace::open(task).await.expect("WASI workspace");
    let traj = policy.run(task, &ws).await;
    // Validation restores every file it touched and removes its reproduction test.
    assert_eq!(
        ws.diff(&task.base_commit).await.unwrap(),
        "",
        "the workspace is left clean"
    );
    ws.close().await.unwrap();
    traj
}

async fn grade(task: &Task, patch: &str) -> Outcome {
    let spec = specs::for_task(task).unwrap();
    let rules = Rules::Swebench4; // the rules these tests were written for
    let out = wasi::evaluate(task, &spec, patch, Duration::from_secs(600), rules).await;
    verdict::from_outcome(task, &spec, &out, rules).outcome
}

const ROMANUM: &str = "protege-mini__romanum-1";

const FIX: &str = "The upper bound is exclusive but must be inclusive.\n\n```python\n### romanum/convert.py\n<<<<<<< SEARCH\n    if not MIN_VALUE <= number < MAX_VALUE:\n=======\n    if not MIN_VALUE <= number <= MAX_VALUE:\n>>>>>>> REPLACE\n```\n";
/// The same fix with other spacing and a comment: it votes with `FIX`.
const FIX_RESPACED: &str = "```python\n### romanum/convert.py\n<<<<<<< SEARCH\n    if not MIN_VALUE <= number < MAX_VALUE:\n=======\n    if not MIN_VALUE <=  number <= MAX_VALUE:  # inclusive\n>>>>>>> REPLACE\n```\n";
/// Parses and applies, but rejects every valid number: the existing tests catch it.
const BREAKS_TESTS: &str = "### romanum/convert.py\n<<<<<<< SEARCH\n    if not MIN_VALUE <= number < MAX_VALUE:\n=======\n    if True:\n>>>>>>> REPLACE\n";
const NO_SUCH_TEXT: &str = "### romanum/convert.py\n<<<<<<< SEARCH\n    if number > 3999:\n=======\n    if number > 4000:\n>>>>>>> REPLACE\n";
const OUTSIDE: &str =
    "### romanum/arith.py\n<<<<<<< SEARCH\nimport\n=======\nimport\n>>>>>>> REPLACE\n";
const BAD_SYNTAX: &str = "### romanum/convert.py\n<<<<<<< SEARCH\n    if not MIN_VALUE <= number < MAX_VALUE:\n=======\n    if not (MIN_VALUE <= number <= MAX_VALUE:\n>>>>>>> REPLACE\n";
const REPRODUCTION: &str = "```python\nfrom romanum import to_roman\n\n\ndef test_largest_value():\n    assert to_roman(3999) == \"MMMCMXCIX\"\n```\n";

fn scripted(repairs: &[&str]) -> AgentlessPolicy {
    let model = Scripted {
        files: "```\nromanum/convert.py\n```".into(),
        elements: "```\nromanum/convert.py: function to_roman\n```".into(),
        repairs: Mutex::new(repairs.iter().map(|s| s.to_string()).collect()),
        reproduction: REPRODUCTION.into(),
    };
    AgentlessPolicy {
        model: Arc::new(model),
        config: AgentlessConfig {
            candidates: repairs.len(),
            ..AgentlessConfig::default()
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_edit_resolves_and_broken_ones_are_dropped_or_outvoted() {
    let t = task(ROMANUM);
    let policy = scripted(&[
        BREAKS_TESTS,
        FIX,
        NO_SUCH_TEXT,
        OUTSIDE,
        BAD_SYNTAX,
        "",
        FIX_RESPACED,
    ]);
    let traj = run(&policy, &t).await;
    let stages: Vec<&str> = traj.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(stages, STAGES);
    assert!(
        traj.stages[0].note.contains("chosen: romanum/convert.py"),
        "{}",
        traj.stages[0].note
    );
    assert_eq!(traj.stages[2].model_calls, 7);
    assert_eq!(traj.stages[3].model_calls, 1);
    assert!(
        traj.stages[3].note.contains("fails before any edit"),
        "{}",
        traj.stages[3].note
    );
    assert!(
        traj.stages[4].note.contains("tests/test_convert.py"),
        "{}",
        traj.stages[4].note
    );
    let fates: Vec<&str> = traj.candidates.iter().map(|c| c.fate.as_str()).collect();
    assert_eq!(fates[0], "survived");
    assert_eq!(fates[1], "selected");
    assert_eq!(
        fates[2],
        "dropped: edit 1: the SEARCH text is not in romanum/convert.py"
    );
    assert!(
        fates[3].starts_with("dropped: edit 1 is outside the localized files: romanum/arith.py")
    );
    assert!(
        fates[4].starts_with(
            "dropped: romanum/convert.py does not parse as Python after the edit: line "
        ),
        "{}",
        fates[4]
    );
    assert_eq!(fates[5], "dropped: no SEARCH/REPLACE block in the reply");
    assert_eq!(fates[6], "survived");
    let c = &traj.candidates;
    assert_eq!(
        (c[0].votes, c[1].votes, c[6].votes),
        (Some(1), Some(2), Some(2))
    );
    assert!(c[0].regressions.unwrap() > 0, "the existing tests catch it");
    assert_eq!(c[1].regressions, Some(0));
    assert_eq!(c[0].reproduction_passes, Some(false));
    assert_eq!(c[1].reproduction_passes, Some(true));
    assert_eq!((c[0].temperature, c[1].temperature), (0.0, 0.8));
    assert_eq!((c[0].seed, c[1].seed), (0, 1));
    assert_eq!(traj.patch, c[1].patch);
    assert!(
        traj.patch
            .starts_with("diff --git a/romanum/convert.py b/romanum/convert.py\n")
    );
    assert_eq!(
        traj.exit_reason,
        "selected candidate 1 (2 of 3 surviving candidates vote for it)"
    );
    // Accounting: one step per model call, stage counters add up to the steps'.
    assert_eq!(traj.steps.len(), 10);
    let stage_tokens: u64 = traj.stages.iter().map(|s| s.tokens_in + s.tokens_out).sum();
    let step_tokens: u64 = traj.steps.iter().map(|s| s.tokens_in + s.tokens_out).sum();
    assert_eq!(stage_tokens, step_tokens);
    let stats = traj.stats(5);
    assert_eq!(stats.steps, 10);
    assert_eq!(stats.loops, 0, "identical repair replies are not loops");
    assert!((stats.cost - 0.01).abs() < 1e-9);
    assert_eq!(grade(&t, &traj.patch).await, Outcome::Resolved);
    assert_eq!(grade(&t, &c[0].patch).await, Outcome::Unresolved);
}

/// One vote each: validation decides, whatever the order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_breaks_a_tie() {
    let t = task(ROMANUM);
    let traj = run(&scripted(&[BREAKS_TESTS, FIX]), &t).await;
    assert_eq!(traj.candidates[1].fate, "selected", "{:?}", traj.candidates);
    assert_eq!(traj.candidates[0].fate, "survived");
    assert_eq!(grade(&t, &traj.patch).await, Outcome::Resolved);
}

/// The same pipeline in a Docker workspace (validation runs pytest in the container; the
/// workspace's own `git diff` shows it was restored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_in_a_docker_workspace() {
    use protege_sandboxes::docker::{ContainerLimits, DockerEngine, DockerSandbox};
    if !common::docker_available() {
        return;
    }
    common::ensure_mini_images();
    let t = task(ROMANUM);
    let engine = DockerEngine::connect().await.unwrap();
    let image = protege_harness::images::resolve(&engine, &t, &Default::default())
        .await
        .unwrap();
    let ws = DockerSandbox::start(
        &engine,
        &image.name,
        "agentless-stages",
        &ContainerLimits::default(),
    )
    .await
    .unwrap();
    let traj = scripted(&[BREAKS_TESTS, FIX]).run(&t, &ws).await;
    let diff = ws.diff(&t.base_commit).await;
    ws.close().await.unwrap();
    assert_eq!(
        diff.unwrap(),
        "",
        "the container's working copy is restored"
    );
    let c = &traj.candidates;
    assert!(c[0].regressions.unwrap() > 0, "{c:?}");
    assert_eq!(c[1].regressions, Some(0), "{c:?}");
    assert_eq!(c[1].reproduction_passes, Some(true), "{c:?}");
    assert_eq!(c[1].fate, "selected");
    assert_eq!(grade(&t, &traj.patch).await, Outcome::Resolved);
}

/// A model that says nothing useful: localization falls back to retrieval, no candidate
/// survives, and the attempt has no patch — without a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_replies_fall_back_and_end_without_a_patch() {
    let t = task(ROMANUM);
    let model = Scripted {
        files: "\u{0}<<<<<<< ======= >>>>>>> ``` ### nothing/here.py".into(),
        elements: "lines 9999-1 line x ```".into(),
        repairs: Mutex::new(vec!["<<<<<<< SEARCH\n=======\n".into()]),
        reproduction: "def broken(:".into(),
    };
    let policy = AgentlessPolicy {
        model: Arc::new(model),
        config: AgentlessConfig {
            candidates: 2,
            ..AgentlessConfig::default()
        },
    };
    let traj = run(&policy, &t).await;
    assert!(
        traj.stages[0].note.contains("retrieval ranking decides"),
        "{}",
        traj.stages[0].note
    );
    assert!(
        traj.stages[1].note.starts_with("the model named no class"),
        "{}",
        traj.stages[1].note
    );
    assert_eq!(traj.exit_reason, "no candidate survived");
    assert!(traj.patch.is_empty());
    assert_eq!(traj.stages.len(), 6);
    assert_eq!(traj.stages[3].note, "skipped: no candidate survived repair");
    let attempt = protege_policies::Policy::solve(&policy, &t, None).await;
    assert!(attempt.is_err(), "a workspace is required");
}

/// SmolLM2 at temperature 0 on two mini tasks: every stage runs and is accounted for, every
/// candidate has a fate, and a second run gives the same trajectory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smollm2_runs_every_stage_deterministically() {
    let model = protege_policies::agent::models::from_spec("smollm2").expect("smollm2");
    let policy = AgentlessPolicy {
        model,
        config: AgentlessConfig {
            candidates: 2,
            localize_params: GenParams::greedy(16),
            repair_params: GenParams {
                max_new_tokens: 24,
                ..AgentlessConfig::default().repair_params
            },
            reproduction_params: GenParams::greedy(24),
            ..AgentlessConfig::default()
        },
    };
    for id in [ROMANUM, "protege-mini__tabread-1"] {
        let t = task(id);
        let a = run(&policy, &t).await;
        let names: Vec<&str> = a.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, STAGES, "{id}");
        assert_eq!(a.stages[0].model_calls, 1);
        assert_eq!(a.stages[1].model_calls, 1);
        assert_eq!(a.stages[2].model_calls, 2);
        assert!(a.stages[0].tokens_in > 0 && a.stages[2].tokens_out > 0);
        let chosen = a.stages[0].note.split("chosen: ").nth(1).unwrap_or("");
        let chosen = chosen.split(';').next().unwrap_or("");
        assert!(!chosen.is_empty(), "{id}: {}", a.stages[0].note);
        let repo = mini::repo_files(id);
        for f in chosen.split(", ").filter(|f| !f.is_empty()) {
            assert!(
                repo.iter().any(|r| r.path == f),
                "{id}: {f} is not a repository file"
            );
        }
        assert_eq!(a.candidates.len(), 2);
        for c in &a.candidates {
            assert!(
                ["selected", "survived"].contains(&c.fate.as_str())
                    || c.fate.starts_with("dropped: "),
                "{id}: {c:?}"
            );
        }
        assert_eq!(a.stats(5).loops, 0);
        assert_eq!(a.stats(5).steps, a.steps.len());
        let b = run(&policy, &t).await;
        let replies = |t: &Trajectory| {
            t.steps
                .iter()
                .map(|s| s.response.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            replies(&a),
            replies(&b),
            "{id}: temperature 0 and fixed seeds repeat"
        );
        assert_eq!(a.candidates, b.candidates, "{id}");
        assert_eq!(a.patch, b.patch, "{id}");
    }
}
