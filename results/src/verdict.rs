//! The verdict on one attempt: the official `report.json` fields plus what the official report
//! lacks (the outcome class, infrastructure errors kept apart from model failures, flaky tests).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuccessFailure {
    pub success: Vec<String>,
    pub failure: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestsStatus {
    #[serde(rename = "FAIL_TO_PASS")]
    pub fail_to_pass: SuccessFailure,
    #[serde(rename = "PASS_TO_PASS")]
    pub pass_to_pass: SuccessFailure,
    #[serde(rename = "FAIL_TO_FAIL")]
    pub fail_to_fail: SuccessFailure,
    #[serde(rename = "PASS_TO_FAIL")]
    pub pass_to_fail: SuccessFailure,
}

/// One instance's entry of the official `report.json` (`{instance_id: Report}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    #[serde(rename = "patch_is_None")]
    pub patch_is_none: bool,
    pub patch_exists: bool,
    pub patch_successfully_applied: bool,
    pub resolved: bool,
    /// `swebench` 5.x only (absent under older rules): whether an unusable log is certainly the
    /// environment's fault. Advisory: `resolved` is false either way.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub infra_failure: Option<bool>,
    /// `swebench` 5.x: the signature that classified an unusable log (`missing_module`, …).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub infra_failure_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tests_status: Option<TestsStatus>,
}

/// How an attempt ended, one class per attempt, so tables can count each apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Resolved,
    /// The patch applied and the tests ran, but some required test failed.
    Unresolved,
    /// No patch, or an empty one.
    EmptyPatch,
    /// The patch was refused (malformed, binary, outside the repository) or did not apply.
    PatchNotApplied,
    /// The tests ran past their deadline.
    Timeout,
    /// The harness could not evaluate the attempt (image missing, sandbox died, OOM, trap).
    InfraError,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Resolved => "resolved",
            Outcome::Unresolved => "unresolved",
            Outcome::EmptyPatch => "empty_patch",
            Outcome::PatchNotApplied => "patch_not_applied",
            Outcome::Timeout => "timeout",
            Outcome::InfraError => "infra_error",
        }
    }

    /// Outcomes that say nothing about the model: an evaluation that should be retried.
    pub fn is_infrastructure(self) -> bool {
        matches!(self, Outcome::InfraError)
    }
}

/// The kinds of infrastructure failure, each named once; a record keeps the name
/// ([`InfraKind::as_str`]) in `infra_error.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfraKind {
    /// No engine to run the sandbox on (Docker down, no cluster).
    EngineUnavailable,
    ImageMissing,
    ImagePull,
    /// The sandbox went away under the evaluation (container removed, pod deleted or evicted).
    SandboxDied,
    /// A process was killed at the sandbox's memory limit.
    Oom,
    /// The sandbox itself failed (a WASI trap).
    SandboxCrash,
    PathEscape,
    /// The sandbox cannot run this task (WASI and native code).
    Unsupported,
    Io,
    /// No spec for the task's repository and version.
    NoSpec,
    /// The task set's own set-up (SWE-smith's bug) did not reach the start state.
    SetupFailed,
    /// The official grader raises on the log, so it would write no report.
    OfficialGraderRaises,
}

impl InfraKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InfraKind::EngineUnavailable => "engine_unavailable",
            InfraKind::ImageMissing => "image_missing",
            InfraKind::ImagePull => "image_pull",
            InfraKind::SandboxDied => "sandbox_died",
            InfraKind::Oom => "oom",
            InfraKind::SandboxCrash => "sandbox_crash",
            InfraKind::PathEscape => "path_escape",
            InfraKind::Unsupported => "unsupported",
            InfraKind::Io => "io",
            InfraKind::NoSpec => "no_spec",
            InfraKind::SetupFailed => "setup_failed",
            InfraKind::OfficialGraderRaises => "official_grader_raises",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfraError {
    /// An [`InfraKind`]'s name (records written by other versions may hold others).
    pub kind: String,
    pub message: String,
}

impl InfraError {
    pub fn new(kind: InfraKind, message: impl Into<String>) -> InfraError {
        InfraError {
            kind: kind.as_str().into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub report: Report,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub infra_error: Option<InfraError>,
    /// Why a patch was refused before any sandbox (`path_escape: …`), or how applying failed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub patch_problem: Option<String>,
    /// Tests whose outcome changed between reruns: reported apart, never counted as passes.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub flaky: Vec<String>,
}

impl Verdict {
    pub fn resolved(&self) -> bool {
        self.outcome == Outcome::Resolved
    }
}
