//! One line of `records.jsonl`: everything known about one finished instance.

use serde::{Deserialize, Serialize};

use crate::Verdict;

/// Time and accounting of one instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Wall time from picking the instance up to its record being written.
    pub wall_ms: u64,
    /// Time inside the test command itself (the floor no harness can remove).
    pub test_ms: u64,
    /// Time the policy spent producing the patch.
    pub policy_ms: u64,
}

impl Stats {
    /// Harness overhead: everything but the policy and the tests.
    pub fn overhead_ms(&self) -> u64 {
        self.wall_ms.saturating_sub(self.test_ms + self.policy_ms)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub instance_id: String,
    pub repo: String,
    /// The policy's name (`gold`, `empty`, `replay:<file>`, a model name).
    pub policy: String,
    /// sha256 of the model patch (empty string when there was none).
    pub patch_sha256: String,
    /// sha256 over task, patch, spec and environment: a rerun skips the instance only when
    /// this is unchanged.
    pub cache_key: String,
    /// `docker` or `wasi`.
    pub sandbox: String,
    pub verdict: Verdict,
    pub stats: Stats,
}
