//! What a policy reports while it works, as it happens: each agent step when it is taken, each
//! staged-pipeline stage when it ends. The runner turns these into run events, so a long
//! attempt is visible step by step instead of only when it is over.

use crate::trajectory::{Stage, Step};

/// One piece of progress.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A step was added to the trajectory; `number` is its 1-based position among all steps.
    Step { number: usize, step: &'a Step },
    /// A stage of a staged policy (agentless) ended.
    Stage(&'a Stage),
}

/// Receives a policy's progress. Called from the policy's task: keep it quick.
pub trait ProgressSink: Send + Sync {
    fn report(&self, progress: Progress<'_>);
}

/// Discards progress: what [`crate::Policy::solve`] reports to.
pub struct Silent;

impl ProgressSink for Silent {
    fn report(&self, _: Progress<'_>) {}
}
