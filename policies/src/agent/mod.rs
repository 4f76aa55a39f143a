//! The SWE-Protégé policy: a SWE-agent-style loop in which a small model acts alone and, when
//! stuck, asks a stronger expert for advice — which comes back as an observation; the small
//! model stays the sole decision maker.

pub mod actions;
pub mod function_calls;
pub mod judge;
pub mod models;
pub mod session;
pub mod sft;
pub mod tools;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use protege_datasets::Task;
use protege_sandboxes::Sandbox;
use serde::{Deserialize, Serialize};

use self::actions::{Action, parse};
use self::session::Session;
use self::tools::Tools;
use crate::lm::{GenParams, LanguageModel};
use crate::progress::{Progress, ProgressSink, Silent};
use crate::trajectory::{Actor, Step, Trajectory};
use crate::{Attempt, Policy, PolicyError};

/// How the small model states its actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// A thought and one action in a fenced code block ([`actions`]).
    #[default]
    Text,
    /// OpenAI function calling with SWE-agent's tools ([`function_calls`]): results come back as
    /// `tool` messages.
    Tools,
}

/// How the expert is consulted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpertProtocol {
    /// protege's own: 8 calls, a condensed history of the last `expert_history_steps` actions
    /// with the issue, advice as `EXPERT ADVICE:`.
    #[default]
    Protege,
    /// As reported for the SWE-Protégé paper: 6 calls, the question with only the last
    /// `expert_history_messages` (5) messages, advice wrapped in
    /// `<expert_llm_guidance>…</expert_llm_guidance>` and never dropped when a local model's
    /// context is truncated.
    Paper,
}

/// Limits and knobs of the loop; every one is configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentConfig {
    pub protocol: Protocol,
    pub expert_protocol: ExpertProtocol,
    pub max_steps: usize,
    pub command_timeout_s: u64,
    pub wall_time_s: u64,
    /// US dollars; the loop stops when the calls so far cost more.
    pub max_cost: f64,
    /// The name of the expert action.
    pub expert_action: String,
    /// A token that marks an expert call anywhere in a reply (empty: off).
    pub collaborate_token: String,
    /// Expert calls per task; a call beyond it is refused with an observation. Default: the
    /// expert protocol's (8 for `protege`, 6 for `paper`).
    pub max_expert_calls: Option<usize>,
    pub max_expert_tokens: u64,
    /// Steps of history the expert sees (`protege` expert protocol).
    pub expert_history_steps: usize,
    /// Messages of history the expert sees (`paper` expert protocol).
    pub expert_history_messages: usize,
    /// SFT data generation: the expert also sees the task's gold patch and is told not to copy
    /// or reveal it, so that its advice leads somewhere (docs/sft.md).
    pub expert_sees_gold: bool,
    /// Observations are cut to this many bytes.
    pub observation_limit: usize,
    pub slm_params: GenParams,
    pub expert_params: GenParams,
    /// The expert's hidden judgement of each expert call (for the `paper` reward).
    pub judge: judge::JudgeConfig,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            protocol: Protocol::Text,
            expert_protocol: ExpertProtocol::Protege,
            max_steps: 100,
            command_timeout_s: 60,
            wall_time_s: 3600,
            max_cost: 5.0,
            expert_action: "ask_expert".into(),
            collaborate_token: "<<collaborate>>".into(),
            max_expert_calls: None,
            max_expert_tokens: 32_000,
            expert_history_steps: 8,
            expert_history_messages: 5,
            expert_sees_gold: false,
            observation_limit: 6000,
            slm_params: GenParams {
                max_new_tokens: 384,
                ..GenParams::default()
            },
            expert_params: GenParams {
                max_new_tokens: 512,
                temperature: 0.0,
                ..GenParams::default()
            },
            judge: judge::JudgeConfig::default(),
        }
    }
}

impl AgentConfig {
    /// Expert calls allowed per task.
    pub fn expert_quota(&self) -> usize {
        self.max_expert_calls.unwrap_or(match self.expert_protocol {
            ExpertProtocol::Protege => 8,
            ExpertProtocol::Paper => 6,
        })
    }

    /// The tools offered under the `tools` protocol (none under `text`).
    pub fn tools(&self, has_expert: bool) -> Vec<serde_json::Value> {
        match self.protocol {
            Protocol::Text => Vec::new(),
            Protocol::Tools => function_calls::schema(&self.expert_action, has_expert),
        }
    }
}

pub struct AgentPolicy {
    pub slm: Arc<dyn LanguageModel>,
    pub expert: Option<Arc<dyn LanguageModel>>,
    pub config: AgentConfig,
}

pub fn system_prompt(cfg: &AgentConfig, has_expert: bool) -> String {
    if cfg.protocol == Protocol::Tools {
        return function_calls::system_prompt(cfg, has_expert);
    }
    let expert = if has_expert {
        format!(
            "{} QUESTION\n    Ask a stronger expert model for advice when you are stuck (at most {} times). The question may span lines.\n",
            cfg.expert_action,
            cfg.expert_quota()
        )
    } else {
        String::new()
    };
    format!(
        "You are an autonomous programmer fixing an issue in a repository checked out at /testbed.\n\
         Each reply: a short thought, then exactly ONE action in a fenced code block.\n\
         Actions:\n\
         open PATH [LINE]       show a file, 100 lines around LINE\n\
         goto LINE | scroll_down | scroll_up\n\
         search_dir TERM [DIR] | search_file TERM FILE | find_file NAME [DIR]\n\
         create PATH            (the file's text on the following lines)\n\
         str_replace PATH       (then:  <<<<<<< SEARCH / old lines / ======= / new lines / >>>>>>> REPLACE)\n\
         insert PATH LINE       (the text to insert after LINE on the following lines)\n\
         undo_edit PATH\n\
         {expert}\
         submit                 when the fix is done\n\
         Any other line is run as a shell command in /testbed.\n"
    )
}

fn condensed_history(steps: &[Step], n: usize) -> String {
    let mut s = String::new();
    for st in steps
        .iter()
        .filter(|s| s.actor == Actor::Slm)
        .rev()
        .take(n)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        let obs: String = st.observation.chars().take(600).collect();
        s.push_str(&format!("ACTION: {}\nRESULT: {obs}\n\n", st.action));
    }
    s
}

impl AgentPolicy {
    /// Runs the loop on a workspace and returns the trajectory (its `patch` is the submission).
    pub async fn run_loop(&self, task: &Task, ws: &dyn Sandbox) -> Trajectory {
        self.run_loop_reporting(task, ws, &Silent).await
    }

    /// [`AgentPolicy::run_loop`], reporting each step (the small model's and the expert's) to
    /// `progress` once it is taken.
    pub async fn run_loop_reporting(
        &self,
        task: &Task,
        ws: &dyn Sandbox,
        progress: &dyn ProgressSink,
    ) -> Trajectory {
        let mut session = Session::new(
            task,
            self.config.clone(),
            self.name(),
            self.slm.name().to_string(),
            self.expert.clone(),
        );
        if self.config.protocol == Protocol::Tools && !self.slm.renders_tools() {
            session.inline_tools();
        }
        let params = GenParams {
            tools: session.tools().to_vec(),
            ..self.config.slm_params.clone()
        };
        while !session.done() {
            if let Some(reason) = session.limit_reached() {
                session.stop(reason);
                break;
            }
            match self.slm.chat(session.messages(), &params).await {
                Ok(reply) => {
                    let before = session.steps().len();
                    session.act(ws, reply).await;
                    for (i, step) in session.steps().iter().enumerate().skip(before) {
                        progress.report(Progress::Step {
                            number: i + 1,
                            step,
                        });
                    }
                }
                Err(e) => session.stop(format!("model_error: {e}")),
            }
        }
        session.finish(ws, &task.base_commit).await
    }
}

/// Re-executes a trajectory's actions against a fresh workspace (expert advice is taken from
/// the trajectory, not asked again) and returns the resulting patch.
pub async fn replay(
    traj: &Trajectory,
    task: &Task,
    ws: &dyn Sandbox,
    cfg: &AgentConfig,
) -> Result<String, String> {
    let mut tools = Tools::new(
        Duration::from_secs(cfg.command_timeout_s),
        cfg.observation_limit,
    );
    let token = (!cfg.collaborate_token.is_empty()).then_some(cfg.collaborate_token.as_str());
    for step in traj.slm_steps() {
        let action = match cfg.protocol {
            Protocol::Text => parse(&step.response, &cfg.expert_action, token),
            Protocol::Tools => function_calls::from_response(&step.response, &cfg.expert_action),
        };
        match action {
            Ok(Action::Submit) => break,
            Ok(Action::AskExpert(_)) | Err(_) => {}
            Ok(action) => {
                tools.apply(ws, &action).await;
            }
        }
    }
    ws.diff(&task.base_commit).await.map_err(|e| e.to_string())
}

#[async_trait]
impl Policy for AgentPolicy {
    fn name(&self) -> String {
        match &self.expert {
            Some(e) => format!("agent:{}+{}", self.slm.name(), e.name()),
            None => format!("agent:{}", self.slm.name()),
        }
    }
    fn needs_workspace(&self) -> bool {
        true
    }
    async fn solve(
        &self,
        task: &Task,
        workspace: Option<&dyn Sandbox>,
    ) -> Result<Attempt, PolicyError> {
        self.solve_reporting(task, workspace, &Silent).await
    }
    async fn solve_reporting(
        &self,
        task: &Task,
        workspace: Option<&dyn Sandbox>,
        progress: &dyn ProgressSink,
    ) -> Result<Attempt, PolicyError> {
        let ws = workspace
            .ok_or_else(|| PolicyError::Config("the agent needs a workspace sandbox".into()))?;
        let started = Instant::now();
        let traj = self.run_loop_reporting(task, ws, progress).await;
        Ok(Attempt {
            patch: Some(traj.patch.clone()),
            note: Some(format!("exit: {}", traj.exit_reason)),
            duration: started.elapsed(),
            trajectory: Some(traj),
        })
    }
}
