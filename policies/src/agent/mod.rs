//! The SWE-Protégé policy: a SWE-agent-style loop in which a small model acts alone and, when
//! stuck, asks a stronger expert for advice — which comes back as an observation; the small
//! model stays the sole decision maker.

pub mod actions;
pub mod judge;
pub mod models;
pub mod session;
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

/// Limits and knobs of the loop; every one is configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentConfig {
    pub max_steps: usize,
    pub command_timeout_s: u64,
    pub wall_time_s: u64,
    /// US dollars; the loop stops when the calls so far cost more.
    pub max_cost: f64,
    /// The name of the expert action.
    pub expert_action: String,
    /// A token that marks an expert call anywhere in a reply (empty: off).
    pub collaborate_token: String,
    pub max_expert_calls: usize,
    pub max_expert_tokens: u64,
    /// Steps of history the expert sees.
    pub expert_history_steps: usize,
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
            max_steps: 100,
            command_timeout_s: 60,
            wall_time_s: 3600,
            max_cost: 5.0,
            expert_action: "ask_expert".into(),
            collaborate_token: "<<collaborate>>".into(),
            max_expert_calls: 8,
            max_expert_tokens: 32_000,
            expert_history_steps: 8,
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

pub struct AgentPolicy {
    pub slm: Arc<dyn LanguageModel>,
    pub expert: Option<Arc<dyn LanguageModel>>,
    pub config: AgentConfig,
}

pub fn system_prompt(cfg: &AgentConfig, has_expert: bool) -> String {
    let expert = if has_expert {
        format!(
            "{} QUESTION\n    Ask a stronger expert model for advice when you are stuck (at most {} times). The question may span lines.\n",
            cfg.expert_action, cfg.max_expert_calls
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
        while !session.done() {
            if let Some(reason) = session.limit_reached() {
                session.stop(reason);
                break;
            }
            match self
                .slm
                .chat(session.messages(), &self.config.slm_params)
                .await
            {
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
        match parse(&step.response, &cfg.expert_action, token) {
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
