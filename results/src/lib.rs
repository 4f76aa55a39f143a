//! Results of a run: verdicts and records (`records.jsonl`, appended atomically), metrics
//! (Pass@1 with a Wilson interval), tables, and the run manifest.

pub mod compare;
pub mod html;
pub mod loops;
pub mod manifest;
pub mod metrics;
pub mod record;
pub mod reward;
pub mod similarity;
pub mod store;
pub mod summary;
pub mod tables;
pub mod verdict;

pub use manifest::GradingNetworkInfo;
pub use record::{AgentStats, NetworkUse, Record, Stats};
pub use verdict::{InfraError, InfraKind, Outcome, Report, SuccessFailure, TestsStatus, Verdict};
