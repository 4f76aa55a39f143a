//! `protege lm serve`'s API driven by the official `openai` Python client (installed by
//! `scripts/setup.sh` into the cache's `venvs/openai`): chat with and without streaming,
//! log-probabilities, raw completions, 400s for what is not implemented, and tool calls.
//! The checks themselves are in `openai_client/check.py`.
#![cfg(feature = "candle")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use protege_policies::lm::candle::CandleModel;
use protege_policies::lm::{
    Completion, GenParams, LanguageModel, LmError, LoadOptions, Message, Role, server, tool_calls,
};

/// Answers like a Qwen2.5 model taught to call tools: a `bash` call first, then a summary of
/// the tool's result. It checks that the tools and the call history came over the wire.
struct ToolCaller;

#[async_trait]
impl LanguageModel for ToolCaller {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn chat(&self, messages: &[Message], params: &GenParams) -> Result<Completion, LmError> {
        if params
            .tools
            .first()
            .and_then(|t| t.pointer("/function/name"))
            != Some(&"bash".into())
        {
            return Err(LmError::Request(format!(
                "no bash tool offered: {:?}",
                params.tools
            )));
        }
        let last = messages.last().expect("messages");
        let text = if last.role == Role::Tool {
            let call = messages
                .iter()
                .rev()
                .find(|m| m.role == Role::Assistant)
                .and_then(|m| m.tool_calls.first())
                .ok_or_else(|| LmError::Request("a tool result with no call before it".into()))?;
            format!(
                "saw {} for {} after {}",
                last.content,
                last.tool_call_id.as_deref().unwrap_or("?"),
                call.name
            )
        } else {
            "I will look.\n<tool_call>\n{\"name\": \"bash\", \"arguments\": {\"command\": \"ls\"}}\n</tool_call>".into()
        };
        // The same parse a local model's reply goes through.
        let (text, calls) = tool_calls::parse(&text, "call_s").map_err(LmError::Backend)?;
        Ok(Completion {
            text,
            tool_calls: calls,
            tokens_in: 10,
            tokens_out: 5,
            model: "scripted".into(),
            ..Completion::default()
        })
    }
}

fn venv_python() -> PathBuf {
    let cache = std::env::var_os("PROTEGE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/protege")
        });
    cache.join("venvs/openai/bin/python")
}

async fn start(model: Arc<dyn LanguageModel>, name: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = server::router(model, name, GenParams::default());
    tokio::spawn(server::serve(listener, router, std::future::pending()));
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_openai_client() {
    let python = venv_python();
    if !python.exists() {
        eprintln!(
            "SKIPPED: {} is missing (scripts/setup.sh installs the openai package there)",
            python.display()
        );
        return;
    }
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lm/qwen2-tiny");
    let model = CandleModel::load(&tiny, &LoadOptions::default()).unwrap();
    let local = start(Arc::new(model), "qwen2-tiny").await;
    let tools = start(Arc::new(ToolCaller), "scripted").await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openai_client/check.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .args([&local, &tools])
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success(),
        "the openai client's checks failed:\n{text}"
    );
    assert!(text.contains("passed: 8"), "{text}");
}

/// protege's own HTTP client sends tools and log-probability requests and reads `tool_calls`
/// and `logprobs` back, from protege's own server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protege_client_reads_tool_calls_and_logprobs() {
    use protege_policies::lm::http::{HttpConfig, HttpModel};
    let tools = start(Arc::new(ToolCaller), "scripted").await;
    let client = |base: &str, model: &str| {
        HttpModel::new(HttpConfig {
            base_url: format!("{base}/v1"),
            model: model.into(),
            max_retries: 0,
            ..HttpConfig::default()
        })
        .unwrap()
    };
    let bash = serde_json::json!({"type": "function", "function": {"name": "bash",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}});
    let params = GenParams {
        tools: vec![bash],
        ..GenParams::greedy(16)
    };
    let scripted = client(&tools, "scripted");
    let mut msgs = vec![Message::user("list the files")];
    let c = scripted.chat(&msgs, &params).await.unwrap();
    assert_eq!(c.text, "I will look.");
    assert_eq!(c.tool_calls.len(), 1);
    assert_eq!(c.tool_calls[0].name, "bash");
    let args: serde_json::Value = serde_json::from_str(&c.tool_calls[0].arguments).unwrap();
    assert_eq!(args["command"], "ls");
    // The call and its result go back over the wire in OpenAI's shape.
    let mut reply = Message::assistant(c.text.clone());
    reply.tool_calls = c.tool_calls.clone();
    msgs.push(reply);
    let mut result = Message::new(Role::Tool, "a.py");
    result.tool_call_id = Some(c.tool_calls[0].id.clone());
    msgs.push(result);
    let c2 = scripted.chat(&msgs, &params).await.unwrap();
    assert_eq!(
        c2.text,
        format!("saw a.py for {} after bash", c.tool_calls[0].id)
    );

    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lm/qwen2-tiny");
    let model = CandleModel::load(&tiny, &LoadOptions::default()).unwrap();
    let direct = model
        .chat_blocking(
            &[Message::user("the thin")],
            &GenParams {
                logprobs: Some(2),
                ..GenParams::greedy(8)
            },
            &mut |_| true,
        )
        .unwrap();
    let local = start(Arc::new(model), "qwen2-tiny").await;
    let c = client(&local, "qwen2-tiny")
        .chat(
            &[Message::user("the thin")],
            &GenParams {
                logprobs: Some(2),
                ..GenParams::greedy(8)
            },
        )
        .await
        .unwrap();
    let lps = c.logprobs.expect("logprobs asked for");
    assert_eq!(lps.len() as u64, c.tokens_out);
    assert_eq!(
        lps.iter().map(|t| t.token.as_str()).collect::<String>(),
        c.text
    );
    // Over the wire or not, the same tokens and numbers (JSON floats parse to within an ulp).
    let direct = direct.logprobs.expect("logprobs");
    assert_eq!(lps.len(), direct.len());
    for (a, b) in lps.iter().zip(&direct) {
        assert_eq!((&a.token, &a.bytes), (&b.token, &b.bytes));
        assert!((a.logprob - b.logprob).abs() < 1e-12, "{a:?} {b:?}");
        assert_eq!(a.top.len(), b.top.len());
        for (x, y) in a.top.iter().zip(&b.top) {
            assert_eq!(x.0, y.0);
            assert!((x.1 - y.1).abs() < 1e-12, "{a:?} {b:?}");
        }
    }
}
