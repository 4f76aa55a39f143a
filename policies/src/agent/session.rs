//! One agent episode as a state machine: the conversation, the workspace tools, the expert and
//! its budget, the limits, and the trajectory. The agent loop feeds it its own model's replies;
//! `protege serve` feeds it a trainer's — both get the same observations and the same
//! trajectory, because both go through [`Session::act`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use protege_datasets::Task;
use protege_sandboxes::Sandbox;

use super::actions::{self, Action, parse};
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

    /// Ends the episode and returns its trajectory, whose `patch` is the workspace's diff
    /// against `base_commit`.
    pub async fn finish(mut self, ws: &dyn Sandbox, base_commit: &str) -> Trajectory {
        self.stop("closed");
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
