//! A finished attempt as one value: the verdict of a fresh grading, the agent's statistics, the
//! reward and the record that holds them all, built in one place for the runner (`run`, `eval`)
//! and for `serve` (submissions, `/grade`, rollout samples).

use std::time::Instant;

use protege_datasets::{Task, sha256_hex};
use protege_policies::trajectory::Trajectory;
use protege_results::reward::RewardConfig;
use protege_results::{Record, Stats};

use crate::grader::{Environment, Grader};
use crate::grading::EvalOutcome;

/// What is known of an attempt before it is graded.
pub struct Attempt<'a> {
    pub task: &'a Task,
    pub patch: Option<&'a str>,
    /// The agent's steps; `None` for policies that take none (no loops, no expert calls).
    pub trajectory: Option<&'a Trajectory>,
    /// The name the record carries.
    pub policy: String,
    pub cache_key: String,
    /// When work on the attempt began (the record's `wall_ms` runs from here).
    pub started: Instant,
    pub policy_ms: u64,
}

/// A graded attempt: its record (verdict, stats, agent statistics, reward) and what grading saw.
pub struct Graded {
    pub record: Record,
    pub eval: EvalOutcome,
}

/// Grades `attempt` in a fresh sandbox of `env` and scores it under `reward`.
pub async fn grade(
    grader: &Grader,
    env: &Environment,
    attempt: Attempt<'_>,
    reward: &RewardConfig,
) -> Graded {
    let task = attempt.task;
    let (verdict, eval) = grader.grade(task, env, attempt.patch).await;
    let agent = attempt.trajectory.map(|t| t.stats(reward.loop_window));
    let r = reward.score(&protege_policies::trajectory::attempt(
        attempt.trajectory,
        verdict.resolved(),
        attempt.patch,
        &task.patch,
        reward.loop_window,
    ));
    let record = Record {
        instance_id: task.instance_id.clone(),
        repo: task.repo.clone(),
        policy: attempt.policy,
        patch_sha256: attempt
            .patch
            .map(|p| sha256_hex(p.as_bytes()))
            .unwrap_or_default(),
        cache_key: attempt.cache_key,
        sandbox: env.sandbox.name().into(),
        verdict,
        stats: Stats {
            wall_ms: attempt.started.elapsed().as_millis() as u64,
            test_ms: eval.test_duration.as_millis() as u64,
            policy_ms: attempt.policy_ms,
            warm_start: eval.warm_start,
        },
        agent,
        reward: Some(r),
        network: crate::grading::network::network_use(
            grader.egress.mode,
            &eval.egress,
            &eval.test_output,
        ),
    };
    Graded { record, eval }
}
