//! Tasks (SWE-bench rows), predictions, and the ways of loading them.
//!
//! Data flow: a `TaskSet` comes from `load::load_tasks` (JSONL, JSON list, Parquet), from
//! `remote::fetch` (the public SWE-bench parquet, cached and sha256-pinned), or from `mini`
//! (the built-in task set embedded in the binary). Predictions come from `prediction::load`.

pub mod error;
pub mod hub;
pub mod load;
pub mod mini;
pub mod prediction;
pub mod remote;
pub mod select;
pub mod task;

pub use error::DatasetError;
pub use prediction::Prediction;
pub use task::{Task, TaskSet};

/// sha256 of a byte string, lowercase hex (the one in `protege_fetch`).
pub use protege_fetch::sha256_hex;
