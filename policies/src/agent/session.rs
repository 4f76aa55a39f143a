//! One agent episode as a state machine: the conversation, the workspace tools, the expert and
//! its budget, the limits, and the trajectory. The agent loop feeds it its own model's replies;
//! `protege serve` feeds it a trainer's — both get the same observations and the same
//! trajectory, because both go through [`Session::act`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use protege_datasets::Task;
use protege_sandboxes::Sandbox;

use super::actions::{self, Action, parse};
use super::judge;
use super::tools::Tools;
use super::{AgentConfig, condensed_history, system_prompt};
use crate::lm::{Completion, LanguageModel, Message};
use crate::trajectory::{Actor, Step, Trajectory};

/// What one action gave back.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub observation: String,
    /// The episode is over: the model submitted or a limit was reached (`exit_reason` says which).
    pub done: bool,
}

pub struct Session {
    cfg: AgentConfig,
    problem_statement: String,
    expert: Option<Arc<dyn LanguageModel>>,
    tools: Tools,
    traj: Trajectory,
    messages: Vec<Message>,
    started: Instant,
    turns: usize,
    cost: f64,
    expert_calls: usize,
    expert_tokens: u64,
    exit: Option<String>,
}

impl Session {
    /// A new episode on `task`; `slm` names whoever produces the actions (a local model, or the
    /// trainer's policy).
    pub fn new(
        task: &Task,
        cfg: AgentConfig,
        policy: String,
        slm: String,
        expert: Option<Arc<dyn LanguageModel>>,
    ) -> Session {
        let messages = vec![
            Message::system(system_prompt(&cfg, expert.is_some())),
            Message::user(format!(
                "Fix this issue in /testbed.\n\n<issue>\n{}\n</issue>\n\nBegin with your first action.",
                task.problem_statement.trim()
            )),
        ];
        Session {
            tools: Tools::new(
                Duration::from_secs(cfg.command_timeout_s),
                cfg.observation_limit,
            ),
            traj: Trajectory {
                instance_id: task.instance_id.clone(),
                policy,
                slm,
                expert: expert.as_ref().map(|e| e.name().to_string()),
                ..Default::default()
            },
            problem_statement: task.problem_statement.trim().to_string(),
            cfg,
            expert,
            messages,
            started: Instant::now(),
            turns: 0,
            cost: 0.0,
            expert_calls: 0,
            expert_tokens: 0,
            exit: None,
        }
    }

    /// The conversation so far: what the acting model sees next.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    pub fn done(&self) -> bool {
        self.exit.is_some()
    }

    pub fn exit_reason(&self) -> Option<&str> {
        self.exit.as_deref()
    }

    /// Steps taken so far (small-model and expert steps).
    pub fn steps(&self) -> &[Step] {
        &self.traj.steps
    }

    /// The limit that ends the episode now, if one does.
    pub fn limit_reached(&self) -> Option<&'static str> {
        if self.turns >= self.cfg.max_steps {
            Some("max_steps")
        } else if self.started.elapsed() > Duration::from_secs(self.cfg.wall_time_s) {
            Some("wall_time")
        } else if self.cost > self.cfg.max_cost {
            Some("max_cost")
        } else {
            None
        }
    }

    /// Ends the episode (a model error, a trainer closing it) unless it already ended.
    pub fn stop(&mut self, reason: impl Into<String>) {
        if self.exit.is_none() {
            self.exit = Some(reason.into());
        }
    }

    /// Carries out the action in `reply` (a model's whole reply: thought and fenced action) in
    /// `ws`, records the step, and says whether the episode is over.
    pub async fn act(&mut self, ws: &dyn Sandbox, reply: Completion) -> Turn {
        if let Some(reason) = &self.exit {
            return Turn {
                observation: format!("error: the episode is over ({reason})"),
                done: true,
            };
        }
        let t0 = Instant::now();
        let cfg = &self.cfg;
        self.turns += 1;
        self.cost += reply.cost;
        let mut step = Step {
            action: actions::action_text(&reply.text).unwrap_or_default(),
            observation: String::new(),
            actor: Actor::Slm,
            tokens_in: reply.tokens_in,
            tokens_out: reply.tokens_out,
            ms: 0,
            model_ms: reply.ms,
            response: reply.text.clone(),
            note: reply.note.clone(),
            cost: reply.cost,
        };
        let token = (!cfg.collaborate_token.is_empty()).then_some(cfg.collaborate_token.as_str());
        let mut expert_step = None;
        let observation = match parse(&reply.text, &cfg.expert_action, token) {
            Err(e) => format!(
                "error: no action found: {}. Reply with a thought and ONE action in a fenced code block.",
                e.0
            ),
            Ok(Action::Submit) => {
                step.ms = t0.elapsed().as_millis() as u64;
                step.observation = "submitted".into();
                self.traj.steps.push(step);
                self.messages.push(Message::assistant(reply.text));
                self.exit = Some("submitted".into());
                return Turn {
                    observation: "submitted".into(),
                    done: true,
                };
            }
            Ok(Action::AskExpert(question)) => {
                let (obs, es) = self.ask_expert(&question).await;
                expert_step = es;
                obs
            }
            Ok(action) => self.tools.apply(ws, &action).await,
        };
        step.observation = observation.clone();
        step.ms = t0.elapsed().as_millis() as u64;
        self.traj.steps.push(step);
        self.traj.steps.extend(expert_step);
        self.messages.push(Message::assistant(reply.text));
        self.messages.push(Message::user(observation.clone()));
        match self.limit_reached() {
            Some(reason) => {
                self.exit = Some(reason.into());
                Turn {
                    observation: format!("{observation}\n[episode over: {reason}]"),
                    done: true,
                }
            }
            None => Turn {
                observation,
                done: false,
            },
        }
    }

    /// The expert's advice as an observation (and its step), within the budget.
    async fn ask_expert(&mut self, question: &str) -> (String, Option<Step>) {
        let cfg = &self.cfg;
        let Some(expert) = &self.expert else {
            return (
                "error: no expert is configured; continue on your own".into(),
                None,
            );
        };
        if self.expert_calls >= cfg.max_expert_calls || self.expert_tokens >= cfg.max_expert_tokens
        {
            return (
                "error: the expert budget for this task is used up; continue on your own".into(),
                None,
            );
        }
        self.expert_calls += 1;
        let e0 = Instant::now();
        let prompt = vec![
            Message::system(
                "You advise a junior engineer fixing a GitHub issue. Be concise and concrete: where to look, what to change, how to check it. You cannot run commands.",
            ),
            Message::user(format!(
                "<issue>\n{}\n</issue>\n\nWhat they did so far:\n{}\nTheir question:\n{question}",
                self.problem_statement,
                condensed_history(&self.traj.steps, cfg.expert_history_steps)
            )),
        ];
        match expert.chat(&prompt, &cfg.expert_params).await {
            Ok(advice) => {
                self.cost += advice.cost;
                self.expert_tokens += advice.tokens_in + advice.tokens_out;
                let step = Step {
                    action: "advice".into(),
                    observation: advice.text.clone(),
                    actor: Actor::Expert,
                    tokens_in: advice.tokens_in,
                    tokens_out: advice.tokens_out,
                    ms: e0.elapsed().as_millis() as u64,
                    model_ms: advice.ms,
                    response: String::new(),
                    note: advice.note.clone(),
                    cost: advice.cost,
                };
                (format!("EXPERT ADVICE:\n{}", advice.text), Some(step))
            }
            Err(e) => (format!("error: the expert could not be reached: {e}"), None),
        }
    }

    /// Has the expert judge every answered expert call (hidden calls: recorded in the
    /// trajectory's `judge`, charged to the episode's cost, never shown to the small model).
    /// Judging again replaces the earlier judgement; without an expert there is nothing to do.
    pub async fn judge(&mut self) {
        let Some(expert) = &self.expert else { return };
        let calls = judge::judge(
            &self.traj,
            &self.problem_statement,
            expert.as_ref(),
            &self.cfg.judge,
        )
        .await;
        self.cost += calls.iter().map(|c| c.cost).sum::<f64>();
        self.traj.judge = calls;
    }

    /// Ends the episode and returns its trajectory, whose `patch` is the workspace's diff
    /// against `base_commit`. With `judge.enabled` the expert judges the expert calls first.
    pub async fn finish(mut self, ws: &dyn Sandbox, base_commit: &str) -> Trajectory {
        self.stop("closed");
        if self.cfg.judge.enabled && self.traj.judge.is_empty() {
            self.judge().await;
        }
        let mut traj = self.traj;
        traj.exit_reason = self.exit.unwrap_or_default();
        traj.messages = self.messages;
        traj.patch = match ws.diff(base_commit).await {
            Ok(d) => d,
            Err(e) => {
                traj.exit_reason = format!("{}; diff failed: {e}", traj.exit_reason);
                String::new()
            }
        };
        traj
    }

    /// The trajectory so far, without the patch (for an episode whose workspace is gone).
    pub fn into_trajectory(mut self) -> Trajectory {
        self.stop("closed");
        let mut traj = self.traj;
        traj.exit_reason = self.exit.unwrap_or_default();
        traj.messages = self.messages;
        traj
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use protege_sandboxes::{ExecOptions, ExecOutput, SandboxError};

    use super::*;
    use crate::agent::AgentPolicy;
    use crate::lm::{FinishReason, GenParams, LmError};

    /// A model that answers from a script and records every prompt it was given.
    struct Scripted {
        name: &'static str,
        replies: Mutex<Vec<String>>,
        /// When set: the reply to prompts whose system message is the judge's.
        judge_reply: Option<String>,
        prompts: Mutex<Vec<Vec<Message>>>,
    }

    impl Scripted {
        fn new(name: &'static str, replies: &[&str], judge_reply: Option<&str>) -> Scripted {
            Scripted {
                name,
                replies: Mutex::new(replies.iter().rev().map(|s| s.to_string()).collect()),
                judge_reply: judge_reply.map(str::to_string),
                prompts: Mutex::default(),
            }
        }
    }

    #[async_trait]
    impl LanguageModel for Scripted {
        fn name(&self) -> &str {
            self.name
        }
        async fn chat(&self, messages: &[Message], _: &GenParams) -> Result<Completion, LmError> {
            self.prompts.lock().unwrap().push(messages.to_vec());
            let text = match &self.judge_reply {
                Some(j) if messages[0].content == judge::SYSTEM => j.clone(),
                _ => self
                    .replies
                    .lock()
                    .unwrap()
                    .pop()
                    .unwrap_or_else(|| "```\nsubmit\n```".into()),
            };
            Ok(Completion {
                text,
                tokens_in: 100,
                tokens_out: 10,
                tokens_cached: 0,
                finish: FinishReason::Stop,
                ms: 1,
                cost: 0.25,
                model: self.name.into(),
                note: None,
                ..Completion::default()
            })
        }
    }

    /// Every command succeeds with a fixed output; the diff is a fixed patch.
    struct Echo;

    #[async_trait]
    impl Sandbox for Echo {
        async fn exec(&self, _: &str, _: &ExecOptions) -> Result<ExecOutput, SandboxError> {
            Ok(ExecOutput {
                exit_code: Some(0),
                output: "file.py".into(),
                timed_out: false,
                truncated: false,
                duration: Duration::ZERO,
            })
        }
        async fn write_file(&self, _: &str, _: &[u8]) -> Result<(), SandboxError> {
            Ok(())
        }
        async fn read_file(&self, _: &str) -> Result<Vec<u8>, SandboxError> {
            Ok(b"x = 1\n".to_vec())
        }
        async fn diff(&self, _: &str) -> Result<String, SandboxError> {
            Ok("diff --git a/x b/x\n".into())
        }
        fn describe(&self) -> String {
            "echo".into()
        }
        async fn close(&self) -> Result<(), SandboxError> {
            Ok(())
        }
    }

    fn task() -> Task {
        Task {
            instance_id: "t__1".into(),
            repo: "t/t".into(),
            base_commit: "abc".into(),
            version: "1".into(),
            problem_statement: "Addition is wrong.".into(),
            hints_text: String::new(),
            patch: String::new(),
            test_patch: String::new(),
            fail_to_pass: vec![],
            pass_to_pass: vec![],
            environment_setup_commit: String::new(),
            created_at: String::new(),
            ..Task::default()
        }
    }

    #[tokio::test]
    async fn the_judge_is_hidden_from_the_small_model_and_charged_as_expert_cost() {
        let slm = Arc::new(Scripted::new(
            "slm",
            &[
                "Look first.\n```\nls\n```",
                "Stuck.\n```\nask_expert where is the bug?\n```",
                "Following the advice.\n```\ncat x.py\n```",
                "Done.\n```\nsubmit\n```",
            ],
            None,
        ));
        let expert = Arc::new(Scripted::new(
            "expert",
            &["ADVICE: look at x.py line 1"],
            Some("They were stuck and then acted on it.\nWARRANT: 0.9\nFOLLOW: 0.7"),
        ));
        let mut config = AgentConfig::default();
        config.judge.enabled = true;
        let policy = AgentPolicy {
            slm: slm.clone(),
            expert: Some(expert.clone()),
            config,
        };
        let t = policy.run_loop(&task(), &Echo).await;
        assert_eq!(t.exit_reason, "submitted");

        // One hidden judge call with both scores, about the one expert step.
        assert_eq!(t.judge.len(), 1, "{:?}", t.judge);
        let j = &t.judge[0];
        assert_eq!(
            (j.warrant, j.follow, j.error.as_deref()),
            (Some(0.9), Some(0.7), None)
        );
        assert_eq!(t.steps[j.expert_step].actor, Actor::Expert);
        // The judge saw the request, the advice and what came after it.
        let prompts = expert.prompts.lock().unwrap();
        assert_eq!(prompts.len(), 2, "the advice, then the judgement");
        let judged = &prompts[1][1].content;
        assert!(judged.contains("where is the bug?"), "{judged}");
        assert!(judged.contains("ADVICE: look at x.py"), "{judged}");
        assert!(judged.contains("ACTION: cat x.py"), "{judged}");
        assert!(judged.contains("ACTION: ls"), "{judged}");

        // The small model never saw anything of it: not in any prompt, not in the conversation.
        let hidden = ["WARRANT", "FOLLOW", "They were stuck", "You review how"];
        for p in slm.prompts.lock().unwrap().iter().flatten() {
            for h in hidden {
                assert!(
                    !p.content.contains(h),
                    "the small model saw {h:?}: {}",
                    p.content
                );
            }
        }
        for m in &t.messages {
            assert!(
                !hidden.iter().any(|h| m.content.contains(h)),
                "{}",
                m.content
            );
        }
        assert!(t.steps.iter().all(|s| !s.observation.contains("WARRANT")));

        // Charged: cost includes the judge, the expert-call count and token share do not.
        let s = t.stats(5);
        assert_eq!(s.expert_calls, 1);
        assert_eq!((s.judge_calls, s.judge_tokens), (1, 110));
        assert_eq!(s.expert_tokens, 110, "the advice only");
        assert!((s.judge_cost - 0.25).abs() < 1e-12);
        assert!((s.cost - (4.0 * 0.25 + 0.25 + 0.25)).abs() < 1e-12, "{s:?}");
        let calls = t.expert_calls();
        assert_eq!(
            (calls[0].action, calls[0].warrant, calls[0].follow),
            (1, Some(0.9), Some(0.7))
        );
    }

    #[tokio::test]
    async fn no_judge_unless_enabled_and_an_unreadable_judgement_is_recorded() {
        let run = |judge_reply: &'static str, enabled: bool| async move {
            let slm = Arc::new(Scripted::new(
                "slm",
                &["```\nask_expert help\n```", "```\nsubmit\n```"],
                None,
            ));
            let expert = Arc::new(Scripted::new("expert", &["advice"], Some(judge_reply)));
            let mut config = AgentConfig::default();
            config.judge.enabled = enabled;
            let policy = AgentPolicy {
                slm,
                expert: Some(expert.clone()),
                config,
            };
            let t = policy.run_loop(&task(), &Echo).await;
            let n = expert.prompts.lock().unwrap().len();
            (t, n)
        };
        let (t, n) = run("WARRANT: 1\nFOLLOW: 1", false).await;
        assert!(t.judge.is_empty());
        assert_eq!(n, 1, "only the advice");
        let (t, _) = run("I cannot tell.", true).await;
        assert_eq!(t.judge.len(), 1);
        assert_eq!((t.judge[0].warrant, t.judge[0].follow), (None, None));
        assert!(t.judge[0].error.as_deref().unwrap().contains("no WARRANT"));
    }
}
