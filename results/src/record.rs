//! One line of `records.jsonl`: everything known about one finished instance.

use serde::{Deserialize, Serialize};

use crate::Verdict;
use crate::reward::Reward;

/// What an agent's trajectory shows, computed from its steps (never estimated).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentStats {
    pub steps: usize,
    /// Actions repeating one of the previous `loop_window` actions (whitespace-normalised).
    pub loops: usize,
    pub loop_window: usize,
    pub expert_calls: usize,
    pub slm_tokens: u64,
    pub expert_tokens: u64,
    /// expert_tokens / (slm_tokens + expert_tokens); 0 when no tokens.
    pub expert_token_share: f64,
    /// US dollars, from the backends' price tables (the judge's hidden calls included).
    pub cost: f64,
    /// The longest run of consecutive identical base commands ([`crate::loops`], default
    /// normalisation): the paper's loop metric counts trajectories where it exceeds 10.
    #[serde(default)]
    pub longest_run: usize,
    /// The expert's hidden judge calls (warrant and follow-through, for the `paper` reward):
    /// charged in `cost`, kept out of `expert_calls`, `expert_tokens` and the token share.
    #[serde(default)]
    pub judge_calls: usize,
    #[serde(default)]
    pub judge_tokens: u64,
    #[serde(default)]
    pub judge_cost: f64,
    /// US dollars of the expert's advice alone (its answered calls; the judge's are in
    /// `judge_cost`), part of `cost`.
    #[serde(default)]
    pub expert_cost: f64,
    /// Why the loop ended: `submitted`, `max_steps`, `wall_time`, `max_cost`, `model_error: …`.
    pub exit_reason: String,
}

/// Time and accounting of one instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Wall time from picking the instance up to its record being written.
    pub wall_ms: u64,
    /// Time inside the test command itself (the floor no harness can remove).
    pub test_ms: u64,
    /// Time the policy spent producing the patch.
    pub policy_ms: u64,
    /// The tests ran in a container started while an earlier instance was graded, so its
    /// start is not in `wall_ms`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warm_start: bool,
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
    /// Present for agent policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<Reward>,
    /// Present when grading reached for the network (`--grading-network`): what its eval
    /// reached, what the allow-list refused, whether an install could not get out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkUse>,
}

/// What one evaluation did with grading's network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkUse {
    /// `none`, `index` or `open`.
    pub mode: String,
    /// `host:port` destinations the egress proxy let through.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reached: Vec<String>,
    /// `host:port` destinations it refused (not on the allow-list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
    /// The test output shows a package install that could not reach the index.
    #[serde(default)]
    pub index_unreachable: bool,
}
