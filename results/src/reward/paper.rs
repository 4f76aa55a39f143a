//! The `paper` reward preset, as reviews of SWE-Protégé describe its GRPO reward:
//!
//! ```text
//! R_total = R_loop + w_follow·R_follow + g_loop·g_follow·R_other  (+ R_no_expert)
//! R_other = R_correct + w_sim·R_sim + w_expert·R_expert
//! ```
//!
//! - **R_loop**: [`crate::loops`] over the small model's base commands (cap −10).
//! - **R_correct**: `r_correct` when the tests pass in a fresh sandbox, else `r_incorrect`.
//! - **R_sim**: `sim_penalty` (−1) for an unresolved patch whose [`crate::similarity::ratio`]
//!   to the gold patch (whole unified-diff texts) is below `sim_threshold` (0.5), else 0.
//! - **R_expert**: the mean over answered expert calls of `2·warrant − 1` (warrant ∈ [0, 1],
//!   judged by the expert in a hidden call: 1 clearly warranted, 0 not), plus
//!   `back_to_back_penalty` per call asked right after another one (no other action between),
//!   plus `over_quota_penalty` per call beyond `quota` (0: no quota term).
//! - **R_follow**: the mean follow-through score f ∈ [0, 1] over the calls (judged by the
//!   expert from the small model's actions after the advice), replaced by `follow_fail` (−2)
//!   when f < `follow_threshold` (0.5); 0 when no call was answered or none was scored.
//! - **Gates** ∈ {0, 0.5, 1}: g_loop is 1 without a loop penalty, 0 at the cap, 0.5 between;
//!   g_follow (when `gate_follow`) is 1 for f ≥ `follow_gate_full`, 0.5 for f ≥
//!   `follow_threshold`, 0 below, and 1 when there is nothing to follow.
//! - **R_no_expert**: `no_expert_call` (−10 in the `collaborate` stage, else 0) when no expert
//!   call was answered; kept out of the gates and its own component, so a trainer can drop it.
//!
//! Curriculum [`Stage`]s set `w_expert`, `w_follow`, `gate_follow` and `no_expert_call`; the
//! defaults are the reported ones: steps 1–80 loop shaping only (`loop`), steps 81–160
//! (w_expert, w_follow) = (0.3, 2.0) with the follow gate on and −10 without an expert call
//! (`collaborate`). A call whose judge reply carried no score is left out of the means.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Attempt;
use crate::loops::LoopConfig;
use crate::similarity;

/// One answered expert call and the judge's scores (`None`: not judged, or no score read).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExpertCall {
    /// Index, among the small model's actions, of the action that asked.
    pub action: usize,
    pub warrant: Option<f64>,
    pub follow: Option<f64>,
}

/// The coefficients a curriculum stage sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// The trainer steps (first, last; inclusive) the stage is meant for: `reward.step`
    /// selects it.
    pub steps: [u64; 2],
    pub w_expert: f64,
    pub w_follow: f64,
    pub gate_follow: bool,
    pub no_expert_call: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaperConfig {
    pub loops: LoopConfig,
    pub r_correct: f64,
    pub r_incorrect: f64,
    pub w_sim: f64,
    pub sim_threshold: f64,
    pub sim_penalty: f64,
    pub w_expert: f64,
    pub back_to_back_penalty: f64,
    /// Calls beyond this many are charged `over_quota_penalty` each (0: no quota term).
    pub quota: usize,
    pub over_quota_penalty: f64,
    pub w_follow: f64,
    pub follow_threshold: f64,
    pub follow_fail: f64,
    pub gate_loop: bool,
    pub gate_follow: bool,
    /// Follow-through at or above this opens the follow gate fully (below: half, down to
    /// `follow_threshold`).
    pub follow_gate_full: f64,
    pub no_expert_call: f64,
    pub stages: BTreeMap<String, Stage>,
}

impl Default for PaperConfig {
    fn default() -> Self {
        let stages = BTreeMap::from([
            (
                "loop".to_string(),
                Stage {
                    steps: [1, 80],
                    w_expert: 0.0,
                    w_follow: 0.0,
                    gate_follow: false,
                    no_expert_call: 0.0,
                },
            ),
            (
                "collaborate".to_string(),
                Stage {
                    steps: [81, 160],
                    w_expert: 0.3,
                    w_follow: 2.0,
                    gate_follow: true,
                    no_expert_call: -10.0,
                },
            ),
        ]);
        PaperConfig {
            loops: LoopConfig::default(),
            r_correct: 1.0,
            r_incorrect: 0.0,
            w_sim: 1.0,
            sim_threshold: 0.5,
            sim_penalty: -1.0,
            w_expert: 0.3,
            back_to_back_penalty: -0.5,
            quota: 0,
            over_quota_penalty: -1.0,
            w_follow: 2.0,
            follow_threshold: 0.5,
            follow_fail: -2.0,
            gate_loop: true,
            gate_follow: true,
            follow_gate_full: 0.8,
            no_expert_call: 0.0,
            stages,
        }
    }
}

/// Every term of the paper reward, with the weights and gates that combined them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaperReward {
    pub total: f64,
    /// The curriculum stage whose coefficients applied (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Lengths of the runs of identical base commands, in order.
    pub loop_runs: Vec<usize>,
    /// Which run got the first-run allowance.
    pub loop_first: Option<usize>,
    /// Steps beyond the allowances.
    pub loop_excess: usize,
    pub r_loop: f64,
    pub r_correct: f64,
    /// Similarity of the patch to the gold patch (absent when resolved or the gold is unknown).
    pub similarity: Option<f64>,
    pub r_sim: f64,
    pub expert_calls: usize,
    pub warrant: Vec<Option<f64>>,
    pub back_to_back: usize,
    pub over_quota: usize,
    pub r_expert: f64,
    /// Mean follow-through over the scored calls.
    pub follow: Option<f64>,
    pub r_follow: f64,
    pub g_loop: f64,
    pub g_follow: f64,
    pub r_other: f64,
    pub r_no_expert: f64,
    pub w_sim: f64,
    pub w_expert: f64,
    pub w_follow: f64,
    /// Every answered call has both scores.
    pub judged: bool,
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let (n, s) = xs.fold((0usize, 0.0), |(n, s), x| (n + 1, s + x));
    (n > 0).then(|| s / n as f64)
}

impl PaperConfig {
    pub fn validate(&self) -> Result<(), String> {
        let unit = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("reward.paper.{name} must be in [0, 1] (got {v})"))
            }
        };
        unit("sim_threshold", self.sim_threshold)?;
        unit("follow_threshold", self.follow_threshold)?;
        unit("follow_gate_full", self.follow_gate_full)?;
        if self.loops.cap > 0.0 {
            return Err(format!(
                "reward.paper.loops.cap must be ≤ 0 (got {})",
                self.loops.cap
            ));
        }
        for (name, s) in &self.stages {
            if s.steps[0] > s.steps[1] {
                return Err(format!(
                    "reward.paper.stages.{name}.steps: first {} is after last {}",
                    s.steps[0], s.steps[1]
                ));
            }
        }
        Ok(())
    }

    /// The paper reward of `a`, with `stage`'s coefficients where one applies.
    pub fn score(&self, a: &Attempt, stage: Option<(&str, &Stage)>) -> PaperReward {
        let (w_expert, w_follow, gate_follow, no_expert_call) = match stage {
            Some((_, s)) => (s.w_expert, s.w_follow, s.gate_follow, s.no_expert_call),
            None => (
                self.w_expert,
                self.w_follow,
                self.gate_follow,
                self.no_expert_call,
            ),
        };
        let m = self.loops.measure(a.actions.iter().copied());
        let r_correct = if a.resolved {
            self.r_correct
        } else {
            self.r_incorrect
        };
        let similarity = (!a.resolved && !a.gold_patch.is_empty())
            .then(|| similarity::ratio(a.patch.unwrap_or(""), a.gold_patch));
        let r_sim = match similarity {
            Some(s) if s < self.sim_threshold => self.sim_penalty,
            _ => 0.0,
        };
        let calls = &a.expert_calls;
        let back_to_back = calls
            .windows(2)
            .filter(|w| w[1].action == w[0].action + 1)
            .count();
        let over_quota = if self.quota == 0 {
            0
        } else {
            calls.len().saturating_sub(self.quota)
        };
        let r_warrant = mean(
            calls
                .iter()
                .filter_map(|c| c.warrant)
                .map(|w| 2.0 * w - 1.0),
        );
        let r_expert = r_warrant.unwrap_or(0.0)
            + self.back_to_back_penalty * back_to_back as f64
            + self.over_quota_penalty * over_quota as f64;
        let follow = mean(calls.iter().filter_map(|c| c.follow));
        let r_follow = match follow {
            None => 0.0,
            Some(f) if f < self.follow_threshold => self.follow_fail,
            Some(f) => f,
        };
        let g_loop = if !self.gate_loop || m.r_loop == 0.0 {
            1.0
        } else if m.r_loop <= self.loops.cap {
            0.0
        } else {
            0.5
        };
        let g_follow = match follow {
            Some(f) if gate_follow => {
                if f >= self.follow_gate_full {
                    1.0
                } else if f >= self.follow_threshold {
                    0.5
                } else {
                    0.0
                }
            }
            _ => 1.0,
        };
        let r_other = r_correct + self.w_sim * r_sim + w_expert * r_expert;
        let r_no_expert = if calls.is_empty() {
            no_expert_call
        } else {
            0.0
        };
        PaperReward {
            total: m.r_loop + w_follow * r_follow + g_loop * g_follow * r_other + r_no_expert,
            stage: stage.map(|(k, _)| k.to_string()),
            loop_first: m.first,
            loop_excess: m.excess,
            r_loop: m.r_loop,
            loop_runs: m.runs,
            r_correct,
            similarity,
            r_sim,
            expert_calls: calls.len(),
            warrant: calls.iter().map(|c| c.warrant).collect(),
            back_to_back,
            over_quota,
            r_expert,
            follow,
            r_follow,
            g_loop,
            g_follow,
            r_other,
            r_no_expert,
            w_sim: self.w_sim,
            w_expert,
            w_follow,
            judged: calls
                .iter()
                .all(|c| c.warrant.is_some() && c.follow.is_some()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Preset, RewardConfig};
    use super::*;

    const GOLD: &str = "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-return a - b\n+return a + b\n";

    fn call(action: usize, warrant: f64, follow: f64) -> ExpertCall {
        ExpertCall {
            action,
            warrant: Some(warrant),
            follow: Some(follow),
        }
    }

    fn near(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// A plain configuration with the gates and weights easy to follow by hand.
    fn plain() -> PaperConfig {
        PaperConfig::default()
    }

    #[test]
    fn correctness_and_the_similarity_threshold() {
        let c = plain();
        let resolved = Attempt {
            resolved: true,
            patch: Some("anything"),
            gold_patch: GOLD,
            ..Default::default()
        };
        let r = c.score(&resolved, None);
        assert_eq!((r.r_correct, r.similarity, r.r_sim), (1.0, None, 0.0));
        assert_eq!(
            r.total, 1.0,
            "no loops, no calls: R_other alone, gates open"
        );

        // Unresolved: one character off the gold is similar (no penalty) …
        let close = GOLD.replace("a + b", "a * b");
        let r = c.score(
            &Attempt {
                patch: Some(&close),
                gold_patch: GOLD,
                ..Default::default()
            },
            None,
        );
        assert!(r.similarity.unwrap() > 0.9);
        assert_eq!((r.r_correct, r.r_sim, r.total), (0.0, 0.0, 0.0));
        // … an empty patch or an unrelated one is not.
        for p in [None, Some("")] {
            let r = c.score(
                &Attempt {
                    patch: p,
                    gold_patch: GOLD,
                    ..Default::default()
                },
                None,
            );
            assert_eq!((r.similarity, r.r_sim, r.total), (Some(0.0), -1.0, -1.0));
        }
        // The threshold is strict: exactly 0.5 is not below it.
        let half_gold = "abcd";
        let half = "ab";
        assert!(near(similarity::ratio(half, half_gold), 2.0 * 2.0 / 6.0));
        let at = |t: f64, patch: &str| {
            PaperConfig {
                sim_threshold: t,
                ..plain()
            }
            .score(
                &Attempt {
                    patch: Some(patch),
                    gold_patch: "abcd",
                    ..Default::default()
                },
                None,
            )
            .r_sim
        };
        assert_eq!(at(0.5, "abxy"), 0.0, "ratio 0.5 exactly");
        assert_eq!(at(0.5, "axyz"), -1.0, "ratio 0.25");
        assert_eq!(at(0.2, "axyz"), 0.0);
        // No gold known: no similarity term.
        let r = c.score(&Attempt::default(), None);
        assert_eq!((r.similarity, r.r_sim), (None, 0.0));
    }

    #[test]
    fn loop_term_and_loop_gate() {
        let c = plain();
        let mut actions = vec!["ls"];
        actions.extend(std::iter::repeat_n("cat a.py", 9)); // a later run of 9: 2 over.
        let a = Attempt {
            resolved: true,
            actions: actions.clone(),
            ..Default::default()
        };
        let r = c.score(&a, None);
        assert_eq!(r.loop_runs, vec![1, 9]);
        assert_eq!(r.r_loop, -1.0);
        assert_eq!(r.g_loop, 0.5, "penalised, not capped");
        assert!(near(r.total, -1.0 + 0.5 * 1.0));
        // At the cap the gate closes: correctness no longer counts.
        actions.extend(std::iter::repeat_n("ls", 40));
        let r = c.score(
            &Attempt {
                resolved: true,
                actions,
                ..Default::default()
            },
            None,
        );
        assert_eq!((r.r_loop, r.g_loop, r.total), (-10.0, 0.0, -10.0));
        let open = PaperConfig {
            gate_loop: false,
            ..plain()
        };
        let r = open.score(&a, None);
        assert_eq!((r.g_loop, r.total), (1.0, 0.0));
    }

    #[test]
    fn expert_terms_warrant_back_to_back_and_quota() {
        let c = plain();
        // Actions 0..6; calls asked at 1, 2 (right after 1) and 5.
        let actions = vec![
            "ls",
            "ask_expert a",
            "ask_expert b",
            "open x",
            "edit",
            "ask_expert c",
        ];
        let a = Attempt {
            resolved: true,
            actions,
            expert_calls: vec![call(1, 1.0, 1.0), call(2, 0.0, 1.0), call(5, 0.5, 1.0)],
            ..Default::default()
        };
        let r = c.score(&a, None);
        assert_eq!(r.back_to_back, 1);
        assert_eq!(r.warrant, vec![Some(1.0), Some(0.0), Some(0.5)]);
        // mean(2w−1) = (1 − 1 + 0)/3 = 0; one back-to-back call: −0.5.
        assert!(near(r.r_expert, -0.5), "{r:?}");
        assert_eq!((r.follow, r.r_follow, r.g_follow), (Some(1.0), 1.0, 1.0));
        assert!(near(r.r_other, 1.0 + 0.3 * -0.5));
        assert!(near(r.total, 2.0 * 1.0 + r.r_other));
        assert!(r.judged);
        let quota = PaperConfig {
            quota: 2,
            ..plain()
        };
        let r = quota.score(&a, None);
        assert_eq!(r.over_quota, 1);
        assert!(near(r.r_expert, -1.5));
        // Unscored calls are left out of the means.
        let mut unscored = a.clone();
        unscored.expert_calls[1].warrant = None;
        let r = c.score(&unscored, None);
        assert!(near(r.r_expert, (1.0 + 0.0) / 2.0 - 0.5));
        assert!(!r.judged);
    }

    #[test]
    fn follow_through_replacement_and_gate() {
        let c = plain();
        let with = |f: f64| Attempt {
            resolved: true,
            actions: vec!["ls", "ask_expert q", "edit"],
            expert_calls: vec![call(1, 1.0, f)],
            ..Default::default()
        };
        // f = 0.9: R_follow = f, gate open.
        let r = c.score(&with(0.9), None);
        assert_eq!((r.r_follow, r.g_follow), (0.9, 1.0));
        assert!(near(r.total, 2.0 * 0.9 + (1.0 + 0.3 * 1.0)));
        // f = 0.6: half gate.
        let r = c.score(&with(0.6), None);
        assert_eq!((r.r_follow, r.g_follow), (0.6, 0.5));
        assert!(near(r.total, 1.2 + 0.5 * 1.3));
        // f = 0.4 < 0.5: replaced by −2, gate shut.
        let r = c.score(&with(0.4), None);
        assert_eq!((r.r_follow, r.g_follow), (-2.0, 0.0));
        assert!(near(r.total, -4.0));
        // Exactly at the threshold is not below it.
        assert_eq!(c.score(&with(0.5), None).r_follow, 0.5);
        // No call: nothing to follow.
        let r = c.score(&Attempt::default(), None);
        assert_eq!(
            (r.follow, r.r_follow, r.g_follow, r.r_no_expert),
            (None, 0.0, 1.0, 0.0)
        );
    }

    #[test]
    fn a_stage_switch_changes_the_reward_of_the_same_trajectory_as_specified() {
        let mut cfg = RewardConfig {
            preset: Preset::Paper,
            ..Default::default()
        };
        let actions: Vec<&str> = std::iter::once("ls")
            .chain(std::iter::repeat_n("python t.py", 8)) // 1 over: R_loop −0.5, g_loop 0.5
            .chain(["ask_expert help", "edit"])
            .collect();
        let followed = Attempt {
            resolved: true,
            patch: Some(GOLD),
            gold_patch: GOLD,
            actions: actions.clone(),
            expert_calls: vec![call(9, 0.75, 0.3)],
            ..Default::default()
        };
        cfg.stage = "loop".into();
        let r1 = cfg.score(&followed);
        let p1 = r1.paper.as_ref().unwrap();
        assert_eq!(p1.stage.as_deref(), Some("loop"));
        // Loop shaping only: R_loop + g_loop·(R_correct): the expert terms weigh nothing.
        assert_eq!((p1.w_expert, p1.w_follow, p1.g_follow), (0.0, 0.0, 1.0));
        assert!(near(r1.total, -0.5 + 0.5 * 1.0), "{r1:?}");
        cfg.stage = "collaborate".into();
        let r2 = cfg.score(&followed);
        let p2 = r2.paper.as_ref().unwrap();
        // (w_expert, w_follow) = (0.3, 2.0); f = 0.3 < 0.5: R_follow −2 and the follow gate shut.
        assert_eq!(
            (p2.w_expert, p2.w_follow, p2.r_follow, p2.g_follow),
            (0.3, 2.0, -2.0, 0.0)
        );
        assert!(near(p2.r_expert, 0.5));
        assert!(near(r2.total, -0.5 + 2.0 * -2.0), "{r2:?}");
        // Without any expert call the collaborate stage charges −10; the loop stage does not.
        let alone = Attempt {
            expert_calls: vec![],
            ..followed.clone()
        };
        let r3 = cfg.score(&alone);
        assert_eq!(r3.paper.as_ref().unwrap().r_no_expert, -10.0);
        assert!(near(r3.total, -0.5 + 0.5 * 1.0 - 10.0));
        cfg.step = 12;
        cfg.stage.clear();
        assert!(
            near(cfg.score(&alone).total, -0.5 + 0.5 * 1.0),
            "step 12: loop stage"
        );
        // The same trajectory under the blog preset: its own formula, no paper components.
        cfg.preset = Preset::Blog;
        let b = cfg.score(&followed);
        assert!(b.paper.is_none());
        assert!(near(b.total, 1.0));
    }

    #[test]
    fn validation_names_the_setting() {
        let bad = PaperConfig {
            sim_threshold: 1.5,
            ..plain()
        };
        assert!(bad.validate().unwrap_err().contains("sim_threshold"));
        let mut c = plain();
        c.stages.get_mut("loop").unwrap().steps = [9, 3];
        assert!(c.validate().unwrap_err().contains("stages.loop.steps"));
        assert!(plain().validate().is_ok());
    }
}
