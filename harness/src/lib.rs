//! The harness: specs, eval scripts, log parsers, grading, and the runner that ties a policy's
//! attempts to verdicts and records.

pub mod attempt;
pub mod episode;
pub mod eval_script;
pub mod events;
pub mod grader;
pub mod grading;
#[cfg(feature = "docker")]
pub mod images;
/// Unified diffs (the leaf crate `protege-patch`), under the path the harness always used.
pub use protege_patch as patch;
pub mod progress;
pub mod regrade;
pub mod rollout;
pub mod runner;
pub mod serve;
pub mod sets;
pub mod specs;
pub mod stop;
#[cfg(feature = "wasi")]
pub mod workspace;
