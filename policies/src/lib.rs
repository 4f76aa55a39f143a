//! Policies: what produces a patch for a task. `gold`, `empty` and `replay` need no workspace;
//! model-driven policies get a sandbox holding the repository.

pub mod agent;
pub mod agentless;
pub mod builtin;
pub mod lm;
pub mod progress;
pub mod trajectory;

use std::time::Duration;

use async_trait::async_trait;
use protege_datasets::Task;
use protege_sandboxes::Sandbox;

/// What a policy produced for one task.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    /// The patch; `None` when the policy produced none (the official `patch_is_None`).
    pub patch: Option<String>,
    /// Why the attempt ended without a patch, or anything else the record should say.
    pub note: Option<String>,
    pub duration: Duration,
    /// Every step, for policies that act in a workspace.
    pub trajectory: Option<trajectory::Trajectory>,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Failed(String),
}

#[async_trait]
pub trait Policy: Send + Sync {
    /// The name written into records and the manifest.
    fn name(&self) -> String;
    /// Whether `solve` needs a sandbox with the repository (model-driven policies do).
    fn needs_workspace(&self) -> bool {
        false
    }
    /// The instances this policy has something to say about (`None`: every task). Replay uses
    /// this to evaluate only the predicted instances, as the official harness does.
    fn instances(&self) -> Option<Vec<String>> {
        None
    }
    async fn solve(
        &self,
        task: &Task,
        workspace: Option<&dyn Sandbox>,
    ) -> Result<Attempt, PolicyError>;
    /// [`Policy::solve`], reporting steps or stages to `progress` as they happen. Policies
    /// that take steps override it; the others have nothing to report.
    async fn solve_reporting(
        &self,
        task: &Task,
        workspace: Option<&dyn Sandbox>,
        progress: &dyn progress::ProgressSink,
    ) -> Result<Attempt, PolicyError> {
        let _ = progress;
        self.solve(task, workspace).await
    }
}
