//! One agent episode as a state machine: the conversation, the workspace tools, the expert and
//! its budget, the limits, and the trajectory. The agent loop feeds it its own model's replies;
//! `protege serve` feeds it a trainer's — both get the same observations and the same
//! trajectory, because both go through [`Session::act`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use protege_datasets::Task;
use protege_sandboxes::Sandbox;

use super::actions::{self, Action, ParseError, parse};
use super::tools::Tools;
use super::{
    AgentConfig, ExpertProtocol, Protocol, condensed_history, function_calls, judge, system_prompt,
};
use crate::lm::context::PINNED;
use crate::lm::{Completion, LanguageModel, Message, Role, tool_calls};
use crate::trajectory::{Actor, Step, Trajectory};

/// The expert's instructions.
pub const EXPERT_SYSTEM: &str = "You advise a junior engineer fixing a GitHub issue. Be concise and concrete: where to look, what to change, how to check it. You cannot run commands.";

/// The paper's wrapping of the expert's advice (its opening tag is [`PINNED`]).
pub fn guidance(advice: &str) -> String {
    format!("{PINNED}\n{}\n</expert_llm_guidance>", advice.trim())
}

/// A reply read under the session's protocol.
struct Decoded {
    action: Result<Action, ParseError>,
    /// The step's action line (the text protocol's action block; a call's SWE-agent command).
    line: String,
    /// The reply as recorded: its text, the calls written in as `<tool_call>` blocks.
    response: String,
    /// The reply as it enters the conversation.
    assistant: Message,
    /// The calls to answer: the first with the observation, any others refused.
    call_ids: Vec<String>,
    /// Answer in `<tool_response>` blocks of a user message ([`Session::inline_tools`]).
    inline: bool,
}

impl Decoded {
    fn text(reply: &Completion, cfg: &AgentConfig) -> Decoded {
        let token = (!cfg.collaborate_token.is_empty()).then_some(cfg.collaborate_token.as_str());
        Decoded {
            action: parse(&reply.text, &cfg.expert_action, token).map_err(|e| {
                ParseError(format!(
                    "error: no action found: {}. Reply with a thought and ONE action in a fenced code block.",
                    e.0
                ))
            }),
            line: actions::action_text(&reply.text).unwrap_or_default(),
            response: reply.text.clone(),
            assistant: Message::assistant(reply.text.clone()),
            call_ids: Vec::new(),
            inline: false,
        }
    }

    fn tools(reply: &Completion, cfg: &AgentConfig, id_prefix: &str) -> Decoded {
        let retry = "Reply with a short thought and exactly ONE tool call.";
        let (content, calls) = match function_calls::calls_of(reply, id_prefix) {
            Ok(x) => x,
            Err(e) => {
                return Decoded {
                    action: Err(ParseError(format!(
                        "error: your tool call could not be read: {e}. {retry}"
                    ))),
                    line: String::new(),
                    response: reply.text.clone(),
                    assistant: Message::assistant(reply.text.clone()),
                    call_ids: Vec::new(),
                    inline: false,
                };
            }
        };
        let action = match calls.first() {
            None => Err(ParseError(format!("error: no tool call. {retry}"))),
            Some(c) => function_calls::action(c, &cfg.expert_action)
                .map_err(|e| ParseError(format!("error: {}. {retry}", e.0))),
        };
        let mut assistant = Message::assistant(content.clone());
        assistant.tool_calls = calls.clone();
        Decoded {
            action,
            line: calls
                .first()
                .map(function_calls::action_line)
                .unwrap_or_default(),
            response: tool_calls::to_text(&content, &calls),
            assistant,
            call_ids: calls.into_iter().map(|c| c.id).collect(),
            inline: false,
        }
    }

    /// The messages answering the reply with `observation`.
    fn answer(&self, observation: &str) -> Vec<Message> {
        let refused = "error: one tool call per reply; this call was not run";
        let Some((first, rest)) = self.call_ids.split_first() else {
            return vec![Message::user(observation)];
        };
        if self.inline {
            let mut text = format!("<tool_response>\n{observation}\n</tool_response>");
            for _ in rest {
                text.push_str(&format!("\n<tool_response>\n{refused}\n</tool_response>"));
            }
            return vec![Message::user(text)];
        }
        let tool = |id: &str, content: &str| Message {
            tool_call_id: Some(id.to_string()),
            ..Message::new(Role::Tool, content)
        };
        let mut out = vec![tool(first, observation)];
        for id in rest {
            out.push(tool(id, refused));
        }
        out
    }
}

/// A conversation's messages as text for the expert: who said it, then what.
fn transcript(messages: &[Message]) -> String {
    let mut s = String::new();
    for m in messages {
        let who = match m.role {
            Role::Tool => "tool result",
            r => r.as_str(),
        };
        s.push_str(&format!(
            "[{who}]\n{}\n\n",
            tool_calls::to_text(m.content.trim(), &m.tool_calls).trim()
        ));
    }
    s
}

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
    /// The gold patch, when the expert is to see it (`expert_sees_gold`).
    gold_patch: Option<String>,
    /// The tools offered under the `tools` protocol.
    tools_schema: Vec<serde_json::Value>,
    /// The tools are described in the system prompt and calls and results travel as text (a
    /// model whose template renders no tools).
    inline: bool,
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
            gold_patch: cfg.expert_sees_gold.then(|| task.patch.clone()),
            tools_schema: cfg.tools(expert.is_some()),
            inline: false,
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

    /// The tools to offer the acting model (empty under the `text` protocol, or inline).
    pub fn tools(&self) -> &[serde_json::Value] {
        if self.inline { &[] } else { &self.tools_schema }
    }

    /// For an acting model that cannot take `tools` (its chat template renders none): the tools
    /// are described in the system prompt the way Qwen2.5's template does (Hermes format), its
    /// replies keep their `<tool_call>` blocks as text, and results come back as user messages
    /// in `<tool_response>` blocks. Call before the first action.
    pub fn inline_tools(&mut self) {
        if self.tools_schema.is_empty() || self.inline {
            return;
        }
        self.inline = true;
        let listed: Vec<String> = self.tools_schema.iter().map(|t| t.to_string()).collect();
        self.messages[0].content.push_str(&format!(
            "\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n\
             You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{}\n</tools>\n\n\
             For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n\
             <tool_call>\n{{\"name\": <function-name>, \"arguments\": <args-json-object>}}\n</tool_call>",
            listed.join("\n")
        ));
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

    /// Carries out the action in `reply` (a model's whole reply: thought and fenced action, or
    /// under the `tools` protocol its tool calls) in `ws`, records the step, and says whether the
    /// episode is over. A reply with no usable action is a step whose observation says why.
    pub async fn act(&mut self, ws: &dyn Sandbox, reply: Completion) -> Turn {
        if let Some(reason) = &self.exit {
            return Turn {
                observation: format!("error: the episode is over ({reason})"),
                done: true,
            };
        }
        let t0 = Instant::now();
        self.turns += 1;
        self.cost += reply.cost;
        let decoded = match self.cfg.protocol {
            Protocol::Text => Decoded::text(&reply, &self.cfg),
            Protocol::Tools => {
                let mut d = Decoded::tools(&reply, &self.cfg, &format!("call_{}", self.turns));
                if self.inline {
                    // What the model wrote is what it sees again.
                    d.assistant = Message::assistant(reply.text.clone());
                    d.inline = true;
                }
                d
            }
        };
        let mut step = Step {
            action: decoded.line.clone(),
            observation: String::new(),
            actor: Actor::Slm,
            tokens_in: reply.tokens_in,
            tokens_out: reply.tokens_out,
            ms: 0,
            model_ms: reply.ms,
            response: decoded.response.clone(),
            note: reply.note.clone(),
            cost: reply.cost,
        };
        let mut expert_step = None;
        let observation = match &decoded.action {
            Err(e) => e.0.clone(),
            Ok(Action::Submit) => {
                step.ms = t0.elapsed().as_millis() as u64;
                step.observation = "submitted".into();
                self.traj.steps.push(step);
                self.messages.push(decoded.assistant);
                self.exit = Some("submitted".into());
                return Turn {
                    observation: "submitted".into(),
                    done: true,
                };
            }
            Ok(Action::AskExpert(question)) => {
                let (obs, es) = self.ask_expert(question).await;
                expert_step = es;
                obs
            }
            Ok(action) => self.tools.apply(ws, action).await,
        };
        step.observation = observation.clone();
        step.ms = t0.elapsed().as_millis() as u64;
        self.traj.steps.push(step);
        self.traj.steps.extend(expert_step);
        let answer = decoded.answer(&observation);
        self.messages.push(decoded.assistant);
        self.messages.extend(answer);
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

    /// What the expert is shown for `question`, under the configured expert protocol. The
    /// conversation so far does not yet hold the asking reply.
    pub fn expert_prompt(&self, question: &str) -> Vec<Message> {
        let cfg = &self.cfg;
        let mut system = EXPERT_SYSTEM.to_string();
        if let Some(gold) = &self.gold_patch {
            system.push_str(&format!(
                "\n\nFor reference only, the fix that was accepted for this issue:\n<reference_patch>\n{}\n</reference_patch>\n\
                 Do not copy it, quote it or say that you have it: guide them toward it in your own words, as an expert who knows where the problem lies would.",
                gold.trim()
            ));
        }
        let user = match cfg.expert_protocol {
            ExpertProtocol::Protege => format!(
                "<issue>\n{}\n</issue>\n\nWhat they did so far:\n{}\nTheir question:\n{question}",
                self.problem_statement,
                condensed_history(&self.traj.steps, cfg.expert_history_steps)
            ),
            ExpertProtocol::Paper => {
                // The system prompt is the small model's instructions, not its work.
                let history = &self.messages[1.min(self.messages.len())..];
                let recent = &history[history.len().saturating_sub(cfg.expert_history_messages)..];
                format!(
                    "Their last {} messages:\n\n{}Their question:\n{question}",
                    recent.len(),
                    transcript(recent)
                )
            }
        };
        vec![Message::system(system), Message::user(user)]
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
        let quota = cfg.expert_quota();
        if self.expert_calls >= quota || self.expert_tokens >= cfg.max_expert_tokens {
            return (
                format!(
                    "error: the expert budget for this task is used up ({} of {quota} calls made); continue on your own",
                    self.expert_calls
                ),
                None,
            );
        }
        self.expert_calls += 1;
        let e0 = Instant::now();
        let prompt = self.expert_prompt(question);
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
                let observation = match cfg.expert_protocol {
                    ExpertProtocol::Protege => format!("EXPERT ADVICE:\n{}", advice.text),
                    ExpertProtocol::Paper => guidance(&advice.text),
                };
                (observation, Some(step))
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
                traj.diff_error = Some(e.to_string());
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
        /// How many tools each call offered.
        tools: Mutex<Vec<usize>>,
        /// Like a local model whose chat template renders no tools.
        no_tools: bool,
    }

    impl Scripted {
        fn new(name: &'static str, replies: &[&str], judge_reply: Option<&str>) -> Scripted {
            Scripted {
                name,
                replies: Mutex::new(replies.iter().rev().map(|s| s.to_string()).collect()),
                judge_reply: judge_reply.map(str::to_string),
                prompts: Mutex::default(),
                tools: Mutex::default(),
                no_tools: false,
            }
        }
    }

    #[async_trait]
    impl LanguageModel for Scripted {
        fn name(&self) -> &str {
            self.name
        }
        fn renders_tools(&self) -> bool {
            !self.no_tools
        }
        async fn chat(
            &self,
            messages: &[Message],
            params: &GenParams,
        ) -> Result<Completion, LmError> {
            self.prompts.lock().unwrap().push(messages.to_vec());
            self.tools.lock().unwrap().push(params.tools.len());
            let text = match &self.judge_reply {
                Some(j) if messages[0].content == judge::SYSTEM => j.clone(),
                _ => self.replies.lock().unwrap().pop().unwrap_or_else(|| {
                    if params.tools.is_empty() {
                        "```\nsubmit\n```".into()
                    } else {
                        "<tool_call>\n{\"name\": \"submit\", \"arguments\": {}}\n</tool_call>"
                            .into()
                    }
                }),
            };
            // Offered tools, the reply's calls come back parsed, as a tool-calling backend's do
            // (a malformed block stays in the text).
            let (text, tool_calls) = match tool_calls::parse(&text, "call_s") {
                Ok(parsed) if !params.tools.is_empty() => parsed,
                _ => (text, Vec::new()),
            };
            Ok(Completion {
                text,
                tool_calls,
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

    /// A reply holding one call, in Qwen's `<tool_call>` format.
    fn call(thought: &str, name: &str, args: serde_json::Value) -> String {
        format!(
            "{thought}\n<tool_call>\n{}\n</tool_call>",
            serde_json::json!({"name": name, "arguments": args})
        )
    }

    fn paper_tools() -> AgentConfig {
        AgentConfig {
            protocol: Protocol::Tools,
            expert_protocol: ExpertProtocol::Paper,
            ..AgentConfig::default()
        }
    }

    #[tokio::test]
    async fn paper_expert_sees_the_question_and_only_the_last_five_messages() {
        let mut replies: Vec<String> = (1..=4)
            .map(|i| {
                call(
                    &format!("Step {i}."),
                    "bash",
                    serde_json::json!({"command": format!("ls {i}")}),
                )
            })
            .collect();
        replies.push(call(
            "Stuck.",
            "ask_expert",
            serde_json::json!({"question": "where is the bug?"}),
        ));
        replies.push(call("Done.", "submit", serde_json::json!({})));
        let replies: Vec<&str> = replies.iter().map(String::as_str).collect();
        let slm = Arc::new(Scripted::new("slm", &replies, None));
        let expert = Arc::new(Scripted::new("expert", &["  Look at line 1.  "], None));
        let policy = AgentPolicy {
            slm: slm.clone(),
            expert: Some(expert.clone()),
            config: paper_tools(),
        };
        let t = policy.run_loop(&task(), &Echo).await;
        assert_eq!(t.exit_reason, "submitted");

        let prompts = expert.prompts.lock().unwrap();
        assert_eq!(prompts.len(), 1);
        assert_eq!(
            prompts[0][0].content, EXPERT_SYSTEM,
            "no gold patch outside SFT mode"
        );
        let result = "[tool result]\nfile.py\n\n";
        let asked = |i: usize| {
            format!(
                "[assistant]\nStep {i}.\n<tool_call>\n{{\"name\": \"bash\", \"arguments\": {{\"command\":\"ls {i}\"}}}}\n</tool_call>\n\n"
            )
        };
        // The issue, the first two calls and the first result are out of the window.
        assert_eq!(
            prompts[0][1].content,
            format!(
                "Their last 5 messages:\n\n{result}{}{result}{}{result}Their question:\nwhere is the bug?",
                asked(3),
                asked(4)
            )
        );

        // The advice comes back tagged, as the ask call's result; the small model keeps its whole
        // history and was offered the four tools every time.
        let m = &t.messages;
        let ask = &m[m.len() - 3];
        assert_eq!(ask.tool_calls[0].name, "ask_expert");
        let advice = &m[m.len() - 2];
        assert_eq!(advice.role, Role::Tool);
        assert_eq!(
            advice.tool_call_id.as_deref(),
            Some(ask.tool_calls[0].id.as_str())
        );
        assert_eq!(
            advice.content,
            "<expert_llm_guidance>\nLook at line 1.\n</expert_llm_guidance>"
        );
        let seen = slm.prompts.lock().unwrap();
        assert_eq!(
            seen.last().unwrap().len(),
            2 + 2 * 5,
            "every message so far"
        );
        assert!(slm.tools.lock().unwrap().iter().all(|&n| n == 4));

        // Its cost is the expert's own, apart from the small model's.
        let s = t.stats(5);
        assert_eq!(s.expert_calls, 1);
        assert!((s.expert_cost - 0.25).abs() < 1e-12);
        assert!((s.cost - 7.0 * 0.25).abs() < 1e-12, "{s:?}");
    }

    #[tokio::test]
    async fn the_paper_quota_refuses_the_seventh_call() {
        let ask = call(
            "Help.",
            "ask_expert",
            serde_json::json!({"question": "what now?"}),
        );
        let replies: Vec<&str> = std::iter::repeat_n(ask.as_str(), 7).collect();
        let slm = Arc::new(Scripted::new("slm", &replies, None));
        let advice: Vec<String> = (1..=7).map(|i| format!("advice {i}")).collect();
        let advice: Vec<&str> = advice.iter().map(String::as_str).collect();
        let expert = Arc::new(Scripted::new("expert", &advice, None));
        let policy = AgentPolicy {
            slm,
            expert: Some(expert.clone()),
            config: paper_tools(),
        };
        let t = policy.run_loop(&task(), &Echo).await;
        assert_eq!(
            expert.prompts.lock().unwrap().len(),
            6,
            "six calls reached the expert"
        );
        let slm_obs: Vec<&str> = t.slm_steps().map(|s| s.observation.as_str()).collect();
        assert_eq!(slm_obs.len(), 8, "seven calls and the submit");
        assert_eq!(
            slm_obs[5],
            "<expert_llm_guidance>\nadvice 6\n</expert_llm_guidance>"
        );
        assert_eq!(
            slm_obs[6],
            "error: the expert budget for this task is used up (6 of 6 calls made); continue on your own"
        );
        assert_eq!(t.stats(5).expert_calls, 6);
        // The text protocol's system prompt names the same quota.
        let text = AgentConfig {
            expert_protocol: ExpertProtocol::Paper,
            ..AgentConfig::default()
        };
        assert!(system_prompt(&text, true).contains("at most 6 times"));
        assert!(system_prompt(&AgentConfig::default(), true).contains("at most 8 times"));
    }

    #[tokio::test]
    async fn in_sft_mode_the_expert_sees_the_gold_patch() {
        let slm = Arc::new(Scripted::new(
            "slm",
            &["```\nask_expert where?\n```", "```\nsubmit\n```"],
            None,
        ));
        let expert = Arc::new(Scripted::new("expert", &["there"], None));
        let mut t = task();
        t.patch = "diff --git a/x.py b/x.py\n-x = 1\n+x = 2\n".into();
        let policy = AgentPolicy {
            slm,
            expert: Some(expert.clone()),
            config: AgentConfig {
                expert_sees_gold: true,
                ..AgentConfig::default()
            },
        };
        policy.run_loop(&t, &Echo).await;
        let prompts = expert.prompts.lock().unwrap();
        let system = &prompts[0][0].content;
        assert!(
            system.contains(
                "<reference_patch>\ndiff --git a/x.py b/x.py\n-x = 1\n+x = 2\n</reference_patch>"
            ),
            "{system}"
        );
        assert!(system.contains("Do not copy it"), "{system}");
        assert!(
            prompts[0][1].content.contains("Addition is wrong."),
            "the protege view keeps the issue"
        );
    }

    #[tokio::test]
    async fn unusable_calls_are_steps_with_an_error_observation() {
        let slm = Arc::new(Scripted::new(
            "slm",
            &[
                "<tool_call>{not json}</tool_call>",
                "I will just think.",
                &call("", "grep", serde_json::json!({"pattern": "x"})),
                "Two at once.\n<tool_call>\n{\"name\": \"bash\", \"arguments\": {\"command\": \"ls\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"bash\", \"arguments\": {\"command\": \"pwd\"}}\n</tool_call>",
            ],
            None,
        ));
        let policy = AgentPolicy {
            slm,
            expert: None,
            config: AgentConfig {
                protocol: Protocol::Tools,
                ..AgentConfig::default()
            },
        };
        let t = policy.run_loop(&task(), &Echo).await;
        let obs: Vec<&str> = t.slm_steps().map(|s| s.observation.as_str()).collect();
        assert_eq!(obs.len(), 5, "four replies and the submit");
        assert!(
            obs[0].starts_with("error: your tool call could not be read: tool call 1 is not JSON"),
            "{}",
            obs[0]
        );
        assert!(obs[1].starts_with("error: no tool call."), "{}", obs[1]);
        assert!(
            obs[2].contains("there is no tool `grep` (bash, str_replace_editor, submit"),
            "{}",
            obs[2]
        );
        assert_eq!(obs[3], "file.py");
        // Errors without a call to answer are user messages; both calls of the double reply are
        // answered, the second refused.
        let m = &t.messages;
        assert_eq!(m[3].role, Role::User);
        assert_eq!(m[5].role, Role::User);
        assert_eq!(m[7].role, Role::Tool, "the unknown tool's call is answered");
        let (first, second) = (&m[9], &m[10]);
        assert_eq!((first.role, second.role), (Role::Tool, Role::Tool));
        assert_eq!(
            first.tool_call_id.as_deref(),
            Some(m[8].tool_calls[0].id.as_str())
        );
        assert_eq!(
            second.tool_call_id.as_deref(),
            Some(m[8].tool_calls[1].id.as_str())
        );
        assert!(second.content.contains("one tool call per reply"));
        // The recorded response replays: the calls written back as `<tool_call>` text.
        let step = t.slm_steps().nth(3).unwrap();
        assert_eq!(step.action, "ls");
        assert_eq!(
            function_calls::from_response(&step.response, "ask_expert").unwrap(),
            Action::Run("ls".into())
        );
    }

    #[tokio::test]
    async fn a_model_without_tool_rendering_gets_them_in_text() {
        let bash = call("Look.", "bash", serde_json::json!({"command": "ls"}));
        let submit = call("Done.", "submit", serde_json::json!({}));
        let slm = Arc::new(Scripted {
            no_tools: true,
            ..Scripted::new("slm", &[&bash, &submit], None)
        });
        let policy = AgentPolicy {
            slm: slm.clone(),
            expert: None,
            config: AgentConfig {
                protocol: Protocol::Tools,
                ..AgentConfig::default()
            },
        };
        let t = policy.run_loop(&task(), &Echo).await;
        assert_eq!(t.exit_reason, "submitted");
        assert!(
            slm.tools.lock().unwrap().iter().all(|&n| n == 0),
            "no tools sent"
        );
        let m = &t.messages;
        assert!(
            m[0].content.contains("<tools>\n{\"") && m[0].content.contains("\"type\":\"function\""),
            "{}",
            m[0].content
        );
        assert!(m[0].content.contains("\"name\":\"str_replace_editor\""));
        assert_eq!(m[2].content, bash, "the reply as written");
        assert!(m[2].tool_calls.is_empty());
        assert_eq!(m[3].role, Role::User);
        assert_eq!(m[3].content, "<tool_response>\nfile.py\n</tool_response>");
        assert_eq!(t.steps[0].action, "ls");
    }
}
