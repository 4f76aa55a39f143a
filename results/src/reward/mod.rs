//! The reward a trainer gets for an attempt, under one of two presets.
//!
//! - `blog` (the default): `R = R_task − λ_loop·C_loop − λ_collab·C_collab`, from a secondary
//!   summary of the SWE-Protégé paper (+1 resolved / −0.1 not, λ_loop = 0.1 over a 5-step
//!   window, λ_collab = 0.05 counted on failed tasks only).
//! - `paper` ([`paper`]): as reviews of the paper describe its GRPO reward — a loop penalty over
//!   runs of identical base commands, correctness, similarity to the gold patch, the expert's
//!   judgement of each call's warrant and of the small model's follow-through, gates, and
//!   curriculum stages.
//!
//! Configuration, not code: every coefficient is a field (a `--config` file's `reward` section,
//! a serve request's `reward` object), and every record stores the components of its preset so
//! a trainer can recombine them.

pub mod paper;

use serde::{Deserialize, Serialize};

pub use paper::{ExpertCall, PaperConfig, PaperReward, Stage};

/// Which formula gives `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    #[default]
    Blog,
    Paper,
}

impl Preset {
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Blog => "blog",
            Preset::Paper => "paper",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RewardConfig {
    pub preset: Preset,
    /// `blog`: reward of a resolved task.
    pub r_resolved: f64,
    /// `blog`: reward of any other outcome.
    pub r_unresolved: f64,
    pub lambda_loop: f64,
    /// An action counts as a loop when it repeats one of the previous `loop_window` actions.
    pub loop_window: usize,
    pub lambda_collab: f64,
    /// Charge expert calls only on tasks that were not resolved.
    pub collab_on_failure_only: bool,
    /// `paper`: the curriculum stage whose coefficients apply (a key of `paper.stages`; empty:
    /// the stage `step` falls in, or none).
    pub stage: String,
    /// `paper`: the trainer's step, which selects the stage whose `steps` range holds it when
    /// `stage` is empty (0: no step given).
    pub step: u64,
    pub paper: PaperConfig,
}

impl Default for RewardConfig {
    fn default() -> Self {
        RewardConfig {
            preset: Preset::Blog,
            r_resolved: 1.0,
            r_unresolved: -0.1,
            lambda_loop: 0.1,
            loop_window: 5,
            lambda_collab: 0.05,
            collab_on_failure_only: true,
            stage: String::new(),
            step: 0,
            paper: PaperConfig::default(),
        }
    }
}

/// A reward and its components.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reward {
    pub total: f64,
    /// The formula `total` comes from (records written before presets existed are `blog`).
    #[serde(default)]
    pub preset: Preset,
    /// `blog`: R_task.
    pub r_task: f64,
    /// `blog`: loop count C_loop.
    pub c_loop: f64,
    /// `blog`: collaboration cost C_collab (expert calls, zero where not charged).
    pub c_collab: f64,
    pub lambda_loop: f64,
    pub lambda_collab: f64,
    /// `paper`: every term, weight and gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper: Option<PaperReward>,
}

/// What a reward is computed from: one attempt as plain data (the trajectory's actions and
/// expert calls, the verdict, the patches).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attempt<'a> {
    pub resolved: bool,
    /// The graded patch (`None`: there was none).
    pub patch: Option<&'a str>,
    /// The task's reference patch (empty: unknown, and R_sim is 0).
    pub gold_patch: &'a str,
    /// The small model's actions, in order (empty for staged pipelines, which cannot loop).
    pub actions: Vec<&'a str>,
    /// `blog`: C_loop, the actions repeating one of the `loop_window` before them.
    pub loops: usize,
    /// Every expert call that was answered, in order.
    pub expert_calls: Vec<ExpertCall>,
}

impl RewardConfig {
    /// The stage that applies: `stage` by name, else the one whose range holds `step`. An error
    /// names an unknown stage or a step no stage covers.
    pub fn active_stage(&self) -> Result<Option<(&str, &Stage)>, String> {
        if !self.stage.is_empty() {
            return match self.paper.stages.get_key_value(&self.stage) {
                Some((k, s)) => Ok(Some((k.as_str(), s))),
                None => Err(format!(
                    "reward.stage `{}` is not a stage (known: {})",
                    self.stage,
                    self.paper
                        .stages
                        .keys()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
        }
        if self.step == 0 {
            return Ok(None);
        }
        self.paper
            .stages
            .iter()
            .find(|(_, s)| s.steps[0] <= self.step && self.step <= s.steps[1])
            .map(|(k, s)| Some((k.as_str(), s)))
            .ok_or_else(|| format!("reward.step {} is in no stage's `steps` range", self.step))
    }

    /// Checks what serde cannot: the stage exists, thresholds are in range.
    pub fn validate(&self) -> Result<(), String> {
        self.active_stage()?;
        self.paper.validate()
    }

    /// Whether computing this reward needs the expert's judgement of the trajectory.
    pub fn needs_judge(&self) -> bool {
        self.preset == Preset::Paper
    }

    /// The reward of `a` under this configuration. The blog components are always filled; the
    /// paper ones under the `paper` preset. Call [`validate`](Self::validate) first: an unknown
    /// stage here falls back to the coefficients outside any stage.
    pub fn score(&self, a: &Attempt) -> Reward {
        let r_task = if a.resolved {
            self.r_resolved
        } else {
            self.r_unresolved
        };
        let c_loop = a.loops as f64;
        let calls = a.expert_calls.len();
        let c_collab = if a.resolved && self.collab_on_failure_only {
            0.0
        } else {
            calls as f64
        };
        let blog = r_task - self.lambda_loop * c_loop - self.lambda_collab * c_collab;
        let paper = (self.preset == Preset::Paper)
            .then(|| self.paper.score(a, self.active_stage().ok().flatten()));
        Reward {
            total: paper.as_ref().map_or(blog, |p| p.total),
            preset: self.preset,
            r_task,
            c_loop,
            c_collab,
            lambda_loop: self.lambda_loop,
            lambda_collab: self.lambda_collab,
            paper,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(resolved: bool, loops: usize, calls: usize) -> Attempt<'static> {
        Attempt {
            resolved,
            loops,
            expert_calls: (0..calls)
                .map(|i| ExpertCall {
                    action: 2 * i,
                    warrant: None,
                    follow: None,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_match_the_documented_formula() {
        let c = RewardConfig::default();
        let r = c.score(&attempt(true, 2, 3));
        assert!(
            (r.total - (1.0 - 0.2)).abs() < 1e-12,
            "expert calls are free on success: {r:?}"
        );
        assert_eq!(r.c_collab, 0.0);
        assert_eq!(r.preset, Preset::Blog);
        assert!(r.paper.is_none());
        let r = c.score(&attempt(false, 2, 3));
        assert!((r.total - (-0.1 - 0.2 - 0.15)).abs() < 1e-12, "{r:?}");
        assert_eq!(c.score(&attempt(false, 0, 0)).total, -0.1);
        let always = RewardConfig {
            collab_on_failure_only: false,
            ..c
        };
        assert!((always.score(&attempt(true, 0, 4)).total - 0.8).abs() < 1e-12);
    }

    #[test]
    fn old_records_and_configs_still_load() {
        let old = r#"{"total":1.0,"r_task":1.0,"c_loop":0.0,"c_collab":0.0,"lambda_loop":0.1,"lambda_collab":0.05}"#;
        let r: Reward = serde_json::from_str(old).unwrap();
        assert_eq!(r.preset, Preset::Blog);
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("paper"), "{json}");
        let c: RewardConfig = serde_json::from_str(r#"{"r_resolved": 2.0}"#).unwrap();
        assert_eq!(c.r_resolved, 2.0);
        assert_eq!(c.preset, Preset::Blog);
        let e = serde_json::from_str::<RewardConfig>(r#"{"lambda_lop": 1}"#).unwrap_err();
        assert!(e.to_string().contains("lambda_lop"), "{e}");
    }

    #[test]
    fn stages_by_name_or_step() {
        let mut c = RewardConfig {
            preset: Preset::Paper,
            ..Default::default()
        };
        assert_eq!(c.active_stage().unwrap(), None);
        c.step = 40;
        assert_eq!(c.active_stage().unwrap().unwrap().0, "loop");
        c.step = 81;
        assert_eq!(c.active_stage().unwrap().unwrap().0, "collaborate");
        c.step = 161;
        let e = c.validate().unwrap_err();
        assert!(e.contains("161"), "{e}");
        c.stage = "loop".into();
        assert_eq!(
            c.active_stage().unwrap().unwrap().0,
            "loop",
            "a name wins over the step"
        );
        c.stage = "warmup".into();
        let e = c.validate().unwrap_err();
        assert!(e.contains("`warmup`") && e.contains("collaborate"), "{e}");
    }
}
