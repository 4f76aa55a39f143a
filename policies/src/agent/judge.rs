//! The expert as a judge, for the `paper` reward: after an episode, one hidden call per
//! answered expert call asks the expert whether the call was warranted (what the small model
//! had done before asking) and how well the small model followed the advice (what it did
//! after). The calls are charged as expert cost and recorded apart (`Trajectory::judge`);
//! nothing of them enters the small model's conversation.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::lm::{GenParams, LanguageModel, Message};
use crate::trajectory::{Actor, JudgeCall, Step, Trajectory};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JudgeConfig {
    /// Judge every episode's expert calls (turned on by a `paper` reward on its own).
    pub enabled: bool,
    /// Small-model steps before the call shown to the judge.
    pub history_steps: usize,
    /// Small-model steps after the advice shown to the judge.
    pub follow_steps: usize,
    /// Characters of each observation shown.
    pub observation_chars: usize,
    pub params: GenParams,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            enabled: false,
            history_steps: 8,
            follow_steps: 5,
            observation_chars: 400,
            params: GenParams::greedy(160),
        }
    }
}

pub const SYSTEM: &str = "You review how a junior engineer worked with an expert adviser while fixing a GitHub issue. \
You judge two things about one request for advice. WARRANT: was asking warranted at that point \
(1 = clearly: they were stuck, looping, or facing a decision the expert could settle; 0 = not: \
premature, redundant, or answered by what they already had). FOLLOW: after the advice, did they \
act on it (1 = carried it through; 0 = ignored it or abandoned it at once; judge only from the \
actions shown). Reply with one short sentence of reasons, then exactly two lines:\n\
WARRANT: <number from 0 to 1>\nFOLLOW: <number from 0 to 1>";

fn describe(steps: &[&Step], chars: usize) -> String {
    if steps.is_empty() {
        return "(none)\n".into();
    }
    let mut s = String::new();
    for st in steps {
        let obs: String = st.observation.chars().take(chars).collect();
        s.push_str(&format!("ACTION: {}\nRESULT: {obs}\n\n", st.action));
    }
    s
}

/// The judge's prompt for the expert step at `k` of `t`.
pub fn prompt(t: &Trajectory, problem: &str, k: usize, cfg: &JudgeConfig) -> Vec<Message> {
    let slm_before: Vec<&Step> = t.steps[..k]
        .iter()
        .filter(|s| s.actor == Actor::Slm)
        .collect();
    let (ask, before) = match slm_before.split_last() {
        Some((ask, before)) => (ask.action.as_str(), before),
        None => ("", &[][..]),
    };
    let before = &before[before.len().saturating_sub(cfg.history_steps)..];
    let after: Vec<&Step> = t.steps[k + 1..]
        .iter()
        .filter(|s| s.actor == Actor::Slm)
        .take(cfg.follow_steps)
        .collect();
    vec![
        Message::system(SYSTEM),
        Message::user(format!(
            "<issue>\n{problem}\n</issue>\n\nWhat they did before asking:\n{}\nTheir request:\n{ask}\n\nThe expert's advice:\n{}\n\nWhat they did after the advice:\n{}",
            describe(before, cfg.observation_chars),
            t.steps[k].observation,
            describe(&after, cfg.observation_chars),
        )),
    ]
}

/// The number after the last `NAME:` in `reply`, clamped to [0, 1].
pub fn score(reply: &str, name: &str) -> Option<f64> {
    let upper = reply.to_ascii_uppercase();
    let key = format!("{name}:");
    let at = upper.rfind(&key)? + key.len();
    let rest = reply[at..].trim_start().trim_start_matches(['*', '`']);
    let num: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let v: f64 = num.parse().ok()?;
    v.is_finite().then_some(v.clamp(0.0, 1.0))
}

/// Judges every answered expert call of `t` (one hidden call each), in order.
pub async fn judge(
    t: &Trajectory,
    problem: &str,
    expert: &dyn LanguageModel,
    cfg: &JudgeConfig,
) -> Vec<JudgeCall> {
    let mut out = Vec::new();
    for (k, _) in t
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.actor == Actor::Expert)
    {
        let t0 = Instant::now();
        let call = match expert.chat(&prompt(t, problem, k, cfg), &cfg.params).await {
            Ok(c) => {
                let (warrant, follow) = (score(&c.text, "WARRANT"), score(&c.text, "FOLLOW"));
                JudgeCall {
                    expert_step: k,
                    warrant,
                    follow,
                    error: (warrant.is_none() || follow.is_none())
                        .then(|| "no WARRANT/FOLLOW score in the judge's reply".to_string()),
                    reply: c.text,
                    tokens_in: c.tokens_in,
                    tokens_out: c.tokens_out,
                    cost: c.cost,
                    ms: t0.elapsed().as_millis() as u64,
                }
            }
            Err(e) => JudgeCall {
                expert_step: k,
                error: Some(format!("the judge could not be reached: {e}")),
                ms: t0.elapsed().as_millis() as u64,
                ..Default::default()
            },
        };
        out.push(call);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_read_from_the_last_labelled_line() {
        assert_eq!(score("ok\nWARRANT: 0.75\nFOLLOW: 1", "WARRANT"), Some(0.75));
        assert_eq!(score("ok\nWARRANT: 0.75\nFOLLOW: 1", "FOLLOW"), Some(1.0));
        assert_eq!(score("Warrant: **0.2**", "WARRANT"), Some(0.2));
        assert_eq!(score("WARRANT: 7", "WARRANT"), Some(1.0), "clamped");
        assert_eq!(score("WARRANT: x\nWARRANT: 0.1", "WARRANT"), Some(0.1));
        assert_eq!(score("WARRANT: high", "WARRANT"), None);
        assert_eq!(score("nothing", "FOLLOW"), None);
    }
}
