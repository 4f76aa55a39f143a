//! The episode API for trainers: `reset` opens a workspace on a task, `step` carries out one
//! action of the trainer's model (the agent policy's action set, `ask_expert` answered by the
//! configured expert), `submit` grades a patch in a fresh sandbox and returns the verdict and the
//! reward with its components, `close` removes the workspace. The observations and the
//! trajectory are the agent policy's own ([`Session`]), so an episode driven by a trainer and a
//! `protege run --policy agent` step alike.

use std::sync::Arc;
use std::time::{Duration, Instant};

use protege_datasets::Task;
use protege_policies::agent::session::Session;
use protege_policies::agent::{AgentConfig, AgentPolicy, judge};
use protege_policies::lm::{
    Completion, FinishReason, LanguageModel, Message, ToolCall, tool_calls,
};
use protege_policies::progress::ProgressSink;
use protege_policies::trajectory::{Step, Trajectory};
use protege_results::reward::{Reward, RewardConfig};
use protege_results::{AgentStats, Record, Stats, Verdict};
use protege_sandboxes::Sandbox;
use serde::Serialize;

use crate::attempt::{self, Attempt};
use crate::grader::{Environment, Grader, SandboxKind};

#[derive(Debug, thiserror::Error)]
pub enum EpisodeError {
    /// The request cannot be carried out as asked (the episode is over, a bad argument).
    #[error("{0}")]
    Invalid(String),
    /// The sandbox could not be opened or used.
    #[error("{0}")]
    Infra(String),
}

/// What the trainer's model spent on one action (optional; it goes into the trajectory).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct Usage {
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub model_ms: u64,
    pub cost: f64,
}

/// The result of `step`.
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    pub observation: String,
    pub done: bool,
    /// Actions taken so far.
    pub step: usize,
    pub exit_reason: Option<String>,
    /// What the step added to the conversation: the reply (its calls with their ids, under the
    /// `tools` protocol) and the answer (`tool` results, or a user message), as OpenAI messages.
    pub messages: serde_json::Value,
}

/// The result of `submit`.
#[derive(Debug, Clone, Serialize)]
pub struct Submission {
    pub instance_id: String,
    pub sandbox: String,
    pub patch: Option<String>,
    pub patch_sha256: String,
    pub outcome: String,
    pub resolved: bool,
    pub verdict: Verdict,
    pub reward: Reward,
    pub stats: AgentStats,
    pub test_ms: u64,
    pub trajectory: Trajectory,
    /// The graded attempt's record, built once ([`attempt::grade`]).
    #[serde(skip)]
    record: Record,
}

pub struct Episode {
    task: Task,
    env: Environment,
    grader: Arc<Grader>,
    /// `None` once submitted or closed.
    ws: Option<Box<dyn Sandbox>>,
    session: Option<Session>,
    started: Instant,
}

impl Episode {
    /// Opens a workspace on `task` and returns the episode and its first messages (the system
    /// prompt with the action set, then the issue).
    pub async fn reset(
        grader: Arc<Grader>,
        task: Task,
        sandbox: SandboxKind,
        agent: AgentConfig,
        expert: Option<Arc<dyn LanguageModel>>,
        actor: &str,
    ) -> Result<(Episode, Vec<Message>), EpisodeError> {
        let env = grader.environment(&task, sandbox).await;
        let ws = grader
            .open_workspace(&task, &env)
            .await
            .map_err(|e| EpisodeError::Infra(format!("{}: no workspace: {e}", task.instance_id)))?;
        let session = Session::new(
            &task,
            agent,
            format!("episode:{actor}"),
            actor.to_string(),
            expert,
        );
        let messages = session.messages().to_vec();
        Ok((
            Episode {
                task,
                env,
                grader,
                ws: Some(ws),
                session: Some(session),
                started: Instant::now(),
            },
            messages,
        ))
    }

    pub fn task(&self) -> &Task {
        &self.task
    }

    pub fn sandbox(&self) -> &'static str {
        self.env.sandbox.name()
    }

    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }

    /// The tools to offer the trainer's model (empty under the `text` protocol).
    pub fn tools(&self) -> &[serde_json::Value] {
        self.session.as_ref().map(|s| s.tools()).unwrap_or(&[])
    }

    /// The steps taken so far (none once submitted or closed).
    pub fn steps(&self) -> &[Step] {
        self.session.as_ref().map(|s| s.steps()).unwrap_or(&[])
    }

    /// Carries out `action` (the model's whole reply: a thought and one fenced action; under
    /// the `tools` protocol, its content with `tool_calls`, or with the calls written in as
    /// `<tool_call>` blocks).
    pub async fn step(
        &mut self,
        action: &str,
        tool_calls: Vec<ToolCall>,
        usage: &Usage,
    ) -> Result<Observation, EpisodeError> {
        let (Some(session), Some(ws)) = (self.session.as_mut(), self.ws.as_ref()) else {
            return Err(EpisodeError::Invalid(
                "the episode was submitted or closed".into(),
            ));
        };
        if let Some(reason) = session.exit_reason() {
            return Err(EpisodeError::Invalid(format!(
                "the episode is over ({reason}); submit or close it"
            )));
        }
        let reply = Completion {
            text: action.to_string(),
            tool_calls,
            tokens_in: usage.tokens_in,
            tokens_out: usage.tokens_out,
            tokens_cached: 0,
            finish: FinishReason::Stop,
            ms: usage.model_ms,
            cost: usage.cost,
            model: String::new(),
            note: None,
            ..Default::default()
        };
        let before = session.messages().len();
        let turn = session.act(ws.as_ref(), reply).await;
        Ok(Observation {
            observation: turn.observation,
            done: turn.done,
            step: session.steps().len(),
            exit_reason: session.exit_reason().map(str::to_string),
            messages: tool_calls::openai_messages(&session.messages()[before..]),
        })
    }

    /// Grades `patch` (or, when `None`, the workspace's diff against the base commit) in a fresh
    /// sandbox, closes the workspace, and returns the verdict and the reward under `reward`.
    pub async fn submit(
        &mut self,
        patch: Option<String>,
        reward: &RewardConfig,
    ) -> Result<Submission, EpisodeError> {
        let (Some(mut session), Some(ws)) = (self.session.take(), self.ws.take()) else {
            return Err(EpisodeError::Invalid(
                "the episode was submitted or closed".into(),
            ));
        };
        session.stop("submitted");
        if reward.needs_judge() {
            session.judge().await;
        }
        let mut trajectory = session.finish(ws.as_ref(), &self.task.base_commit).await;
        let _ = ws.close().await;
        let patch = patch.or_else(|| workspace_patch(&trajectory));
        trajectory.patch = patch.clone().unwrap_or_default();
        Ok(grade_attempt(
            &self.grader,
            &self.task,
            &self.env,
            patch,
            Some(trajectory),
            reward,
        )
        .await)
    }

    /// Removes the workspace; the episode can do nothing more.
    pub async fn close(&mut self) {
        self.session = None;
        if let Some(ws) = self.ws.take() {
            let _ = ws.close().await;
        }
    }
}

/// One rollout sample: `policy` acts on a fresh workspace until it submits or hits a limit,
/// then its patch is graded like a submission.
pub async fn sample(
    grader: &Grader,
    task: &Task,
    sandbox: SandboxKind,
    policy: &AgentPolicy,
    reward: &RewardConfig,
    progress: &dyn ProgressSink,
) -> Result<Submission, EpisodeError> {
    let env = grader.environment(task, sandbox).await;
    let ws = grader
        .open_workspace(task, &env)
        .await
        .map_err(|e| EpisodeError::Infra(format!("{}: no workspace: {e}", task.instance_id)))?;
    let mut trajectory = policy.run_loop_reporting(task, ws.as_ref(), progress).await;
    let _ = ws.close().await;
    // A reward that needs the expert's judgement gets it even when the policy's own
    // configuration does not ask for it.
    if reward.needs_judge()
        && trajectory.judge.is_empty()
        && let Some(expert) = &policy.expert
    {
        trajectory.judge = judge::judge(
            &trajectory,
            task.problem_statement.trim(),
            expert.as_ref(),
            &policy.config.judge,
        )
        .await;
    }
    let patch = workspace_patch(&trajectory);
    Ok(grade_attempt(grader, task, &env, patch, Some(trajectory), reward).await)
}

/// The workspace's diff a finished session recorded, or `None` when it could not be taken
/// ([`Session::finish`] records why).
fn workspace_patch(t: &Trajectory) -> Option<String> {
    t.diff_error.is_none().then(|| t.patch.clone())
}

/// Grades one attempt and computes its reward: what `submit`, `POST /grade` and each rollout
/// sample return. A missing trajectory counts no loops and no expert calls.
pub async fn grade_attempt(
    grader: &Grader,
    task: &Task,
    env: &Environment,
    patch: Option<String>,
    trajectory: Option<Trajectory>,
    reward: &RewardConfig,
) -> Submission {
    let trajectory = trajectory.unwrap_or_else(|| Trajectory {
        instance_id: task.instance_id.clone(),
        patch: patch.clone().unwrap_or_default(),
        ..Default::default()
    });
    let attempt = Attempt {
        task,
        patch: patch.as_deref(),
        trajectory: Some(&trajectory),
        // Named by the caller of `Submission::record`.
        policy: String::new(),
        cache_key: String::new(),
        started: Instant::now(),
        policy_ms: 0,
    };
    let record = attempt::grade(grader, env, attempt, reward).await.record;
    Submission {
        instance_id: task.instance_id.clone(),
        sandbox: record.sandbox.clone(),
        patch_sha256: record.patch_sha256.clone(),
        patch,
        outcome: record.verdict.outcome.as_str().to_string(),
        resolved: record.verdict.resolved(),
        verdict: record.verdict.clone(),
        reward: record
            .reward
            .clone()
            .expect("a graded attempt has a reward"),
        stats: record
            .agent
            .clone()
            .expect("an attempt with a trajectory has its statistics"),
        test_ms: record.stats.test_ms,
        trajectory,
        record,
    }
}

impl Submission {
    /// The record a run would have written for this attempt (for the rollout line shape).
    pub fn record(&self, policy: &str, wall_ms: u64) -> Record {
        Record {
            policy: policy.to_string(),
            stats: Stats {
                wall_ms,
                test_ms: self.test_ms,
                policy_ms: 0,
                warm_start: false,
            },
            ..self.record.clone()
        }
    }
}

/// Group-normalised advantages for GRPO: each reward minus its group's mean, divided by the
/// group's standard deviation when `normalize` (left unscaled when the group's rewards are all
/// equal, where the advantages are all zero anyway).
pub fn advantages(rewards: &[f64], normalize: bool) -> Vec<f64> {
    if rewards.is_empty() {
        return Vec::new();
    }
    let n = rewards.len() as f64;
    let mean = rewards.iter().sum::<f64>() / n;
    let var = rewards.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n;
    let std = var.sqrt();
    rewards
        .iter()
        .map(|r| {
            if normalize && std > 1e-12 {
                (r - mean) / std
            } else {
                r - mean
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advantages_are_centred_and_scaled_per_group() {
        let a = advantages(&[1.0, -0.1, -0.1, 1.0], true);
        assert!(a.iter().sum::<f64>().abs() < 1e-9);
        assert!((a[0] - 1.0).abs() < 1e-9 && (a[1] + 1.0).abs() < 1e-9);
        let b = advantages(&[1.0, -0.1], false);
        assert!((b[0] - 0.55).abs() < 1e-9 && (b[1] + 0.55).abs() < 1e-9);
        assert_eq!(advantages(&[0.3, 0.3, 0.3], true), vec![0.0, 0.0, 0.0]);
        assert!(advantages(&[], true).is_empty());
    }
}
