//! What one run of the Python module is given and what it gives back: the types the runtime,
//! the start-up snapshot and the sandbox share, kept apart so none of them depends on another
//! for them.

use std::path::PathBuf;
use std::time::Duration;

/// A host directory the guest sees at `guest`.
#[derive(Debug, Clone)]
pub struct Mount {
    pub host: PathBuf,
    pub guest: String,
    pub writable: bool,
}

/// One run of the Python module.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// `argv`, the program name first.
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub mounts: Vec<Mount>,
    pub timeout: Duration,
    pub output_limit: usize,
    pub memory_limit: usize,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// `None` when the run was stopped at its deadline.
    pub exit_code: Option<i32>,
    pub output: Vec<u8>,
    pub truncated: bool,
    pub timed_out: bool,
    pub duration: Duration,
    /// The guest asked for more memory than its cap allowed at least once (Python then
    /// usually raises `MemoryError`).
    pub memory_cap_hit: bool,
}
