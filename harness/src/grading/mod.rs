//! Grading: a patch is checked, applied in a fresh sandbox, the tests run, the log parsed and
//! graded by the official rules. Each backend (`docker`, `k8s`, `wasi`) produces an `EvalOutcome`; the
//! verdict is computed from it the same way for both (`verdict::from_outcome`).

#[cfg(feature = "docker")]
pub mod docker;
#[cfg(feature = "k8s")]
pub mod k8s;
pub mod network;
pub mod report;
pub mod rules;
#[cfg(any(feature = "docker", feature = "k8s"))]
mod sandboxed;
pub mod verdict;
#[cfg(feature = "docker")]
pub mod warm;
#[cfg(feature = "wasi")]
pub mod wasi;

use std::time::Duration;

use protege_results::{InfraError, InfraKind};
use protege_sandboxes::SandboxError;

/// The record's infrastructure error for a sandbox failure: its kind and message.
pub fn infra_error(e: &SandboxError) -> InfraError {
    let kind = match e {
        SandboxError::EngineUnavailable(_) => InfraKind::EngineUnavailable,
        SandboxError::ImageMissing(_) => InfraKind::ImageMissing,
        SandboxError::ImagePull(_) => InfraKind::ImagePull,
        SandboxError::Died(_) => InfraKind::SandboxDied,
        SandboxError::OutOfMemory(_) => InfraKind::Oom,
        SandboxError::Crash(_) => InfraKind::SandboxCrash,
        SandboxError::PathEscape(_) => InfraKind::PathEscape,
        SandboxError::Unsupported(_) => InfraKind::Unsupported,
        SandboxError::Io(_) => InfraKind::Io,
    };
    InfraError::new(kind, e.to_string())
}

/// What running the evaluation of one patch produced, before grading.
#[derive(Debug, Clone, Default)]
pub struct EvalOutcome {
    /// Whether the model patch applied (`None` when evaluation stopped before trying).
    pub applied: Option<bool>,
    /// The log of the apply attempts (which method worked, or each one's error).
    pub apply_log: String,
    /// The eval script as run (Docker) or the command line (WASI).
    pub eval_script: String,
    /// The full test output (`test_output.txt`).
    pub test_output: String,
    /// Time spent in the test command itself.
    pub test_duration: Duration,
    /// The test command hit its deadline.
    pub timed_out: bool,
    /// An infrastructure failure: image missing, sandbox died, OOM, trap.
    pub infra_error: Option<InfraError>,
    /// Identifies the environment the tests ran in (image id, module sha256), for cache keys.
    pub environment_id: String,
    /// What the evaluation tried to reach through the grading egress proxy (`index`).
    pub egress: Vec<protege_sandboxes::egress::Access>,
    /// The tests ran in a container started ahead, while an earlier instance was graded.
    pub warm_start: bool,
}
