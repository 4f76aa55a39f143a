//! Trajectories: every step an agent took, and the statistics computed from them (loops,
//! expert calls, expert-token share, cost) — counted, never estimated.

use serde::{Deserialize, Serialize};

use protege_results::AgentStats;
use protege_results::loops::LoopConfig;
use protege_results::reward::{Attempt, ExpertCall};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    /// The small model under test: every action is its decision.
    Slm,
    /// The expert's advice, returned to the small model as an observation.
    Expert,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The action as the model wrote it (the command block), or `advice` for expert steps.
    pub action: String,
    pub observation: String,
    pub actor: Actor,
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// Wall time of the whole step: the model's reply and carrying out the action.
    pub ms: u64,
    /// The part of `ms` spent waiting for the model.
    #[serde(default)]
    pub model_ms: u64,
    /// The model's whole reply (thought and action).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub response: String,
    /// What the backend said (context truncation and the like).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default)]
    pub cost: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    pub instance_id: String,
    pub policy: String,
    pub slm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expert: Option<String>,
    pub steps: Vec<Step>,
    pub exit_reason: String,
    /// The submitted patch (the workspace's diff against the base commit).
    pub patch: String,
    /// Why the workspace's diff could not be taken (then `patch` is empty and not the model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_error: Option<String>,
    /// The small model's whole conversation as it last saw it (system, issue, then its replies
    /// and the observations), for trainers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<crate::lm::Message>,
    /// Staged policies (agentless): model calls, tokens, cost and wall time per stage. A
    /// trajectory with stages is a fixed pipeline, not a loop: it has no action loops.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<Stage>,
    /// Staged policies: every candidate patch and what became of it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
    /// The expert's hidden judge calls, one per answered expert call: never part of `steps` or
    /// `messages`, so the small model never sees them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub judge: Vec<JudgeCall>,
}

/// One hidden call in which the expert judged an expert call of the trajectory: whether it was
/// warranted, and how well the small model followed the advice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JudgeCall {
    /// Index in `steps` of the expert step (the advice) judged.
    pub expert_step: usize,
    /// In [0, 1]; `None` when the reply carried no readable score.
    pub warrant: Option<f64>,
    pub follow: Option<f64>,
    /// The judge's reply (its reasons and scores).
    pub reply: String,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost: f64,
    pub ms: u64,
    /// Why there are no scores (the expert could not be reached, no score in the reply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One stage of a staged policy and what it cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub name: String,
    pub model_calls: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost: f64,
    /// Wall time of the whole stage (model calls and sandbox work).
    pub ms: u64,
    /// What the stage decided, and why (fallbacks included).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// One candidate patch of a staged policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub index: usize,
    pub temperature: f64,
    pub seed: u64,
    /// `selected`, `survived` (applied and parsed but lost the vote), or `dropped: REASON`.
    pub fate: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub patch: String,
    /// Candidates with the same normalised patch (whitespace and comments ignored) vote together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub votes: Option<usize>,
    /// Regression tests that passed before the edit and fail after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regressions: Option<usize>,
    /// Whether the model's reproduction test passes after the edit (it failed before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproduction_passes: Option<bool>,
}

/// Whitespace-normalised form of an action, for loop detection.
pub fn normalize(action: &str) -> String {
    action.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// C_loop: the number of small-model actions identical (after whitespace normalisation) to one
/// of the `window` actions before them. Expert steps are not actions and are skipped.
pub fn count_loops<'a>(actions: impl IntoIterator<Item = &'a str>, window: usize) -> usize {
    let normalized: Vec<String> = actions.into_iter().map(normalize).collect();
    (0..normalized.len())
        .filter(|&i| {
            let from = i.saturating_sub(window);
            normalized[from..i].contains(&normalized[i])
        })
        .count()
}

impl Trajectory {
    pub fn slm_steps(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.actor == Actor::Slm)
    }

    /// The small model's actions in order, for loop measures: none for a staged pipeline,
    /// which runs each stage once.
    pub fn actions(&self) -> Vec<&str> {
        if !self.stages.is_empty() {
            return Vec::new();
        }
        self.slm_steps().map(|s| s.action.as_str()).collect()
    }

    /// Every answered expert call: the index (among the small model's actions) of the action
    /// that asked, and the judge's scores where it judged the call.
    pub fn expert_calls(&self) -> Vec<ExpertCall> {
        let mut slm_seen = 0usize;
        let mut calls = Vec::new();
        for (k, s) in self.steps.iter().enumerate() {
            match s.actor {
                Actor::Slm => slm_seen += 1,
                Actor::Expert => {
                    let judged = self.judge.iter().find(|j| j.expert_step == k);
                    calls.push(ExpertCall {
                        // The asking action is the small-model step the advice follows.
                        action: slm_seen.saturating_sub(1),
                        warrant: judged.and_then(|j| j.warrant),
                        follow: judged.and_then(|j| j.follow),
                    });
                }
            }
        }
        calls
    }

    pub fn stats(&self, loop_window: usize) -> AgentStats {
        // A staged pipeline runs each stage once: its model calls are not actions that can loop.
        let loops = if self.stages.is_empty() {
            count_loops(self.slm_steps().map(|s| s.action.as_str()), loop_window)
        } else {
            0
        };
        let tokens = |actor: Actor| -> u64 {
            self.steps
                .iter()
                .filter(|s| s.actor == actor)
                .map(|s| s.tokens_in + s.tokens_out)
                .sum()
        };
        let (slm_tokens, expert_tokens) = (tokens(Actor::Slm), tokens(Actor::Expert));
        let total = slm_tokens + expert_tokens;
        let judge_cost: f64 = self.judge.iter().map(|j| j.cost).sum();
        AgentStats {
            steps: self.slm_steps().count(),
            loops,
            loop_window,
            expert_calls: self
                .steps
                .iter()
                .filter(|s| s.actor == Actor::Expert)
                .count(),
            slm_tokens,
            expert_tokens,
            expert_token_share: if total == 0 {
                0.0
            } else {
                expert_tokens as f64 / total as f64
            },
            cost: self.steps.iter().map(|s| s.cost).sum::<f64>() + judge_cost,
            exit_reason: self.exit_reason.clone(),
            longest_run: LoopConfig::default().measure(self.actions()).longest(),
            judge_calls: self.judge.len(),
            judge_tokens: self.judge.iter().map(|j| j.tokens_in + j.tokens_out).sum(),
            judge_cost,
            expert_cost: self
                .steps
                .iter()
                .filter(|s| s.actor == Actor::Expert)
                .map(|s| s.cost)
                .sum(),
        }
    }
}

/// What the reward of one graded attempt is computed from. Without a trajectory (a patch
/// graded on its own) there are no actions and no expert calls.
pub fn attempt<'a>(
    trajectory: Option<&'a Trajectory>,
    resolved: bool,
    patch: Option<&'a str>,
    gold_patch: &'a str,
    loop_window: usize,
) -> Attempt<'a> {
    Attempt {
        resolved,
        patch,
        gold_patch,
        actions: trajectory.map(Trajectory::actions).unwrap_or_default(),
        loops: trajectory.map_or(0, |t| t.stats(loop_window).loops),
        expert_calls: trajectory.map(Trajectory::expert_calls).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(action: &str, actor: Actor, tin: u64, tout: u64) -> Step {
        Step {
            action: action.into(),
            observation: String::new(),
            actor,
            tokens_in: tin,
            tokens_out: tout,
            ms: 0,
            model_ms: 0,
            response: String::new(),
            note: None,
            cost: 0.01,
        }
    }

    #[test]
    fn loops_within_the_window_only() {
        // Repeats at distance 1, 5 (inside a window of 5) and 6 (outside).
        let a = [
            "ls", "ls", "cat a", "x1", "x2", "x3", "cat  a", "y", "z", "w", "q", "r", "cat a",
        ];
        assert_eq!(
            count_loops(a, 5),
            2,
            "ls (distance 1), `cat  a` (distance 4)"
        );
        assert_eq!(
            count_loops(a, 6),
            3,
            "the last `cat a` is 6 after the previous one"
        );
        assert_eq!(count_loops(a, 0), 0);
        assert_eq!(
            count_loops(["a\n  b", "a b"], 1),
            1,
            "whitespace is normalised"
        );
        assert_eq!(count_loops(Vec::<&str>::new(), 5), 0);
    }

    #[test]
    fn window_boundary_is_exact() {
        let a = ["a", "b", "c", "d", "e", "a"];
        assert_eq!(count_loops(a, 5), 1, "distance 5 is inside a window of 5");
        assert_eq!(count_loops(a, 4), 0, "and outside a window of 4");
    }

    #[test]
    fn stats_from_steps() {
        let t = Trajectory {
            steps: vec![
                step("ls", Actor::Slm, 100, 10),
                step("ask_expert help", Actor::Slm, 120, 10),
                step("advice", Actor::Expert, 200, 70),
                step("ls", Actor::Slm, 400, 10),
                step("submit", Actor::Slm, 500, 5),
            ],
            exit_reason: "submitted".into(),
            ..Default::default()
        };
        let s = t.stats(5);
        assert_eq!(s.steps, 4);
        assert_eq!(s.loops, 1, "the expert step does not break or make a loop");
        assert_eq!(s.expert_calls, 1);
        assert_eq!(s.slm_tokens, 1155);
        assert_eq!(s.expert_tokens, 270);
        assert!((s.expert_token_share - 270.0 / 1425.0).abs() < 1e-12);
        assert!((s.cost - 0.05).abs() < 1e-12);
        assert!((s.expert_cost - 0.01).abs() < 1e-12, "the one expert step");
    }

    #[test]
    fn expert_calls_point_at_the_asking_action_and_carry_the_judgement() {
        let mut t = Trajectory {
            steps: vec![
                step("ls", Actor::Slm, 1, 1),
                step("ask_expert a", Actor::Slm, 1, 1),
                step("advice", Actor::Expert, 5, 5),
                step("ask_expert b", Actor::Slm, 1, 1),
                step("advice", Actor::Expert, 5, 5),
                step("edit", Actor::Slm, 1, 1),
            ],
            ..Default::default()
        };
        t.judge.push(JudgeCall {
            expert_step: 4,
            warrant: Some(0.25),
            follow: Some(1.0),
            tokens_in: 30,
            tokens_out: 10,
            cost: 0.5,
            ..Default::default()
        });
        let calls = t.expert_calls();
        assert_eq!(calls.len(), 2);
        assert_eq!((calls[0].action, calls[0].warrant), (1, None));
        assert_eq!(
            (calls[1].action, calls[1].warrant, calls[1].follow),
            (2, Some(0.25), Some(1.0))
        );
        assert_eq!(
            t.actions(),
            vec!["ls", "ask_expert a", "ask_expert b", "edit"]
        );
        let s = t.stats(5);
        assert_eq!((s.expert_calls, s.judge_calls, s.judge_tokens), (2, 1, 40));
        assert_eq!(
            s.expert_tokens, 20,
            "judge tokens are not the agent's expert tokens"
        );
        assert!(
            (s.cost - (6.0 * 0.01 + 0.5)).abs() < 1e-12,
            "the judge is charged"
        );
        assert_eq!(s.longest_run, 2, "the two ask_expert actions");
        let a = attempt(Some(&t), false, Some("p"), "g", 5);
        assert_eq!(a.actions.len(), 4);
        assert_eq!(a.expert_calls, calls);
        assert!(attempt(None, true, None, "g", 5).actions.is_empty());
    }

    #[test]
    fn staged_trajectories_have_no_loops_and_old_json_still_loads() {
        let mut t = Trajectory {
            steps: vec![
                step("same", Actor::Slm, 1, 1),
                step("same", Actor::Slm, 1, 1),
            ],
            ..Default::default()
        };
        assert_eq!(t.stats(5).loops, 1);
        t.stages.push(Stage {
            name: "repair".into(),
            ..Default::default()
        });
        assert_eq!(t.stats(5).loops, 0);
        assert_eq!(t.stats(5).steps, 2);
        let old =
            r#"{"instance_id":"a","policy":"p","slm":"s","steps":[],"exit_reason":"x","patch":""}"#;
        let back: Trajectory = serde_json::from_str(old).unwrap();
        assert!(back.stages.is_empty() && back.candidates.is_empty() && back.judge.is_empty());
        let json = serde_json::to_string(&Trajectory::default()).unwrap();
        assert!(
            !json.contains("stages") && !json.contains("candidates") && !json.contains("judge")
        );
    }
}
