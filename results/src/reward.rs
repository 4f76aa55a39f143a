//! The reward a trainer gets for an attempt: `R = R_task − λ_loop·C_loop − λ_collab·C_collab`.
//!
//! Configuration, not code: every coefficient is a field, and every record stores the
//! components so a trainer can recombine them. The defaults come from a secondary summary of the
//! SWE-Protégé paper (+1 resolved / −0.1 not, λ_loop = 0.1 over a 5-step window, λ_collab = 0.05
//! counted on failed tasks only); the paper itself describes GRPO with a loop penalty and an
//! expert-judged collaboration term.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RewardConfig {
    pub r_resolved: f64,
    pub r_unresolved: f64,
    pub lambda_loop: f64,
    /// An action counts as a loop when it repeats one of the previous `loop_window` actions.
    pub loop_window: usize,
    pub lambda_collab: f64,
    /// Charge expert calls only on tasks that were not resolved.
    pub collab_on_failure_only: bool,
}

impl Default for RewardConfig {
    fn default() -> Self {
        RewardConfig {
            r_resolved: 1.0,
            r_unresolved: -0.1,
            lambda_loop: 0.1,
            loop_window: 5,
            lambda_collab: 0.05,
            collab_on_failure_only: true,
        }
    }
}

/// A reward and its components.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reward {
    pub total: f64,
    pub r_task: f64,
    /// Loop count C_loop.
    pub c_loop: f64,
    /// Collaboration cost C_collab (expert calls, zero where not charged).
    pub c_collab: f64,
    pub lambda_loop: f64,
    pub lambda_collab: f64,
}

impl RewardConfig {
    pub fn reward(&self, resolved: bool, loops: usize, expert_calls: usize) -> Reward {
        let r_task = if resolved {
            self.r_resolved
        } else {
            self.r_unresolved
        };
        let c_loop = loops as f64;
        let c_collab = if resolved && self.collab_on_failure_only {
            0.0
        } else {
            expert_calls as f64
        };
        Reward {
            total: r_task - self.lambda_loop * c_loop - self.lambda_collab * c_collab,
            r_task,
            c_loop,
            c_collab,
            lambda_loop: self.lambda_loop,
            lambda_collab: self.lambda_collab,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_formula() {
        let c = RewardConfig::default();
        let r = c.reward(true, 2, 3);
        assert!(
            (r.total - (1.0 - 0.2)).abs() < 1e-12,
            "expert calls are free on success: {r:?}"
        );
        assert_eq!(r.c_collab, 0.0);
        let r = c.reward(false, 2, 3);
        assert!((r.total - (-0.1 - 0.2 - 0.15)).abs() < 1e-12, "{r:?}");
        assert_eq!(c.reward(false, 0, 0).total, -0.1);
        let always = RewardConfig {
            collab_on_failure_only: false,
            ..c
        };
        assert!((always.reward(true, 0, 4).total - 0.8).abs() < 1e-12);
    }
}
