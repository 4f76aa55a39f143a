//! `rollouts.jsonl`: one line per agent episode, in the shape RL trainers consume (the fields
//! are documented in docs/rollouts.md).

use protege_datasets::{Task, sha256_hex};
use protege_policies::lm::Message;
use protege_policies::trajectory::{Actor, JudgeCall, Step, Trajectory};
use protege_results::Record;
use protege_results::reward::Reward;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Tokens {
    pub slm_in: u64,
    pub slm_out: u64,
    pub expert_in: u64,
    pub expert_out: u64,
}

#[derive(Debug, Serialize)]
pub struct Rollout<'a> {
    pub run_id: &'a str,
    pub instance_id: &'a str,
    /// sha256 of the task row as protege loaded it.
    pub task_sha256: String,
    pub policy: &'a str,
    pub slm: &'a str,
    pub expert: Option<&'a str>,
    pub messages: &'a [Message],
    pub steps: &'a [Step],
    /// The expert's hidden judge calls (the `paper` reward), apart from the steps.
    #[serde(skip_serializing_if = "<[JudgeCall]>::is_empty")]
    pub judge: &'a [JudgeCall],
    pub tokens: Tokens,
    pub exit_reason: &'a str,
    pub patch_sha256: &'a str,
    pub cache_key: &'a str,
    pub outcome: &'a str,
    pub resolved: bool,
    pub reward: Option<&'a Reward>,
}

pub fn rollout<'a>(
    run_id: &'a str,
    task: &Task,
    t: &'a Trajectory,
    record: &'a Record,
) -> Rollout<'a> {
    let sum = |actor: Actor, f: fn(&Step) -> u64| -> u64 {
        t.steps.iter().filter(|s| s.actor == actor).map(f).sum()
    };
    Rollout {
        run_id,
        instance_id: &record.instance_id,
        task_sha256: sha256_hex(
            serde_json::to_string(task)
                .expect("task serialises")
                .as_bytes(),
        ),
        policy: &record.policy,
        slm: &t.slm,
        expert: t.expert.as_deref(),
        messages: &t.messages,
        steps: &t.steps,
        judge: &t.judge,
        tokens: Tokens {
            slm_in: sum(Actor::Slm, |s| s.tokens_in),
            slm_out: sum(Actor::Slm, |s| s.tokens_out),
            expert_in: sum(Actor::Expert, |s| s.tokens_in),
            expert_out: sum(Actor::Expert, |s| s.tokens_out),
        },
        exit_reason: &t.exit_reason,
        patch_sha256: &record.patch_sha256,
        cache_key: &record.cache_key,
        outcome: record.verdict.outcome.as_str(),
        resolved: record.verdict.resolved(),
        reward: record.reward.as_ref(),
    }
}
