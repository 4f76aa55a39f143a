//! Serves any [`LanguageModel`] over the OpenAI-compatible API: `POST /v1/chat/completions`
//! (JSON, or server-sent events with `"stream": true`; `tools` in, `tool_calls` out;
//! `logprobs`/`top_logprobs`), `POST /v1/completions` (raw prompts) and `GET /v1/models`. A
//! parameter it does not implement is a 400 naming it, never silently ignored. Used by
//! `protege lm serve`; tests start it in-process on port 0.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream::{self, Stream, StreamExt};
use serde_json::{Value, json};

use super::{
    Completion, GenParams, LanguageModel, LmError, Message, TokenLogprob, ToolCall, tool_calls,
};

#[derive(Clone)]
struct AppState {
    model: Arc<dyn LanguageModel>,
    name: String,
    defaults: GenParams,
    counter: Arc<AtomicU64>,
}

/// The API's routes for `model`, answering to `name`. Requests that leave sampling settings
/// out get `defaults`.
pub fn router(
    model: Arc<dyn LanguageModel>,
    name: impl Into<String>,
    defaults: GenParams,
) -> Router {
    let state = AppState {
        model,
        name: name.into(),
        defaults,
        counter: Arc::new(AtomicU64::new(0)),
    };
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(completions))
        .route("/health", get(|| async { "ok" }))
        .with_state(state)
}

/// Serve `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn models(State(s): State<AppState>) -> Response {
    let mut entry = json!({"id": s.name, "object": "model", "created": 0, "owned_by": "protege"});
    if let Some(n) = s.model.context_length() {
        entry["context_length"] = json!(n);
    }
    axum::Json(json!({"object": "list", "data": [entry]})).into_response()
}

fn error(status: StatusCode, kind: &str, code: Option<&str>, message: String) -> Response {
    (
        status,
        axum::Json(
            json!({"error": {"message": message, "type": kind, "code": code, "param": null}}),
        ),
    )
        .into_response()
}

fn lm_error(e: LmError) -> Response {
    match &e {
        LmError::PromptTooLong { .. } => error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("context_length_exceeded"),
            e.to_string(),
        ),
        LmError::Request(_) | LmError::Template(_) | LmError::Tokenizer(_) => error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            e.to_string(),
        ),
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            None,
            e.to_string(),
        ),
    }
}

/// The parts of a chat-completions request this server understands.
struct ChatRequest {
    messages: Vec<Message>,
    params: GenParams,
    stream: bool,
    include_usage: bool,
}

/// Request keys accepted by both endpoints. Sampling penalties and the like are accepted only
/// at their neutral values (checked below), so that a client relying on them is told.
const COMMON_KEYS: &[&str] = &[
    "model",
    "stream",
    "stream_options",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "stop",
    "n",
    "user",
    "frequency_penalty",
    "presence_penalty",
    "logprobs",
];
const CHAT_KEYS: &[&str] = &[
    "messages",
    "max_completion_tokens",
    "top_logprobs",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
];
const COMPLETION_KEYS: &[&str] = &["prompt", "echo"];

/// `top_logprobs` at most this many (OpenAI's own limit).
const MAX_TOP_LOGPROBS: u64 = 20;

fn check_keys(obj: &serde_json::Map<String, Value>, extra: &[&str]) -> Result<(), String> {
    for k in obj.keys() {
        if !COMMON_KEYS.contains(&k.as_str()) && !extra.contains(&k.as_str()) {
            return Err(format!(
                "unsupported parameter: `{k}` is not implemented by this server"
            ));
        }
    }
    for k in ["frequency_penalty", "presence_penalty"] {
        if let Some(v) = obj.get(k).filter(|v| !v.is_null())
            && v.as_f64() != Some(0.0)
        {
            return Err(format!(
                "unsupported parameter: `{k}` other than 0 is not implemented"
            ));
        }
    }
    Ok(())
}

/// Sampling settings shared by both endpoints.
fn sampling(
    obj: &serde_json::Map<String, Value>,
    defaults: &GenParams,
) -> Result<GenParams, String> {
    let mut p = defaults.clone();
    let num = |k: &str| obj.get(k).filter(|v| !v.is_null());
    if let Some(v) = num("max_completion_tokens").or_else(|| num("max_tokens")) {
        p.max_new_tokens = v
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or("max_tokens must be a positive integer")? as usize;
    }
    if let Some(v) = num("temperature") {
        p.temperature = v
            .as_f64()
            .filter(|t| (0.0..=2.0).contains(t))
            .ok_or("temperature must be a number in [0, 2]")?;
    }
    if let Some(v) = num("top_p") {
        p.top_p = v
            .as_f64()
            .filter(|t| *t > 0.0 && *t <= 1.0)
            .ok_or("top_p must be a number in (0, 1]")?;
    }
    if let Some(v) = num("top_k") {
        p.top_k = Some(v.as_u64().ok_or("top_k must be a non-negative integer")? as usize);
    }
    if let Some(v) = num("seed") {
        p.seed = v
            .as_u64()
            .or_else(|| v.as_i64().map(|i| i as u64))
            .ok_or("seed must be an integer")?;
    }
    match num("stop") {
        None => {}
        Some(Value::String(s)) => p.stop = vec![s.clone()],
        Some(Value::Array(a)) => {
            p.stop = a
                .iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_string)
                        .ok_or("stop must hold strings")
                })
                .collect::<Result<_, _>>()?;
        }
        Some(_) => return Err("stop must be a string or an array of strings".into()),
    }
    if let Some(n) = num("n")
        && n.as_u64() != Some(1)
    {
        return Err("unsupported parameter: only `n` = 1 is implemented".into());
    }
    p.logprobs = None;
    p.tools = Vec::new();
    Ok(p)
}

fn stream_flags(obj: &serde_json::Map<String, Value>) -> (bool, bool) {
    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    (stream, include_usage)
}

fn parse_request(body: &[u8], defaults: &GenParams) -> Result<ChatRequest, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("body is not a JSON object")?;
    check_keys(obj, CHAT_KEYS)?;
    let raw = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("`messages` must be an array")?;
    let messages = raw
        .iter()
        .enumerate()
        .map(|(i, m)| tool_calls::message_from_openai(i, m))
        .collect::<Result<Vec<_>, _>>()?;
    if messages.is_empty() {
        return Err("`messages` is empty".into());
    }
    let mut p = sampling(obj, defaults)?;
    let want = obj.get("logprobs").filter(|v| !v.is_null());
    match want {
        None | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => p.logprobs = Some(0),
        Some(_) => return Err("logprobs must be a boolean".into()),
    }
    if let Some(k) = obj.get("top_logprobs").filter(|v| !v.is_null()) {
        let k = k
            .as_u64()
            .filter(|k| *k <= MAX_TOP_LOGPROBS)
            .ok_or("top_logprobs must be an integer in [0, 20]")?;
        if p.logprobs.is_none() {
            return Err("top_logprobs needs logprobs: true".into());
        }
        p.logprobs = Some(k as usize);
    }
    let tools = match obj.get("tools").filter(|v| !v.is_null()) {
        None => Vec::new(),
        Some(Value::Array(t)) => t.clone(),
        Some(_) => return Err("tools must be an array".into()),
    };
    for (i, t) in tools.iter().enumerate() {
        if t.get("type").and_then(Value::as_str) != Some("function")
            || t.pointer("/function/name")
                .and_then(Value::as_str)
                .is_none()
        {
            return Err(format!(
                "tools[{i}] must be {{\"type\": \"function\", \"function\": {{\"name\": …}}}}"
            ));
        }
    }
    match obj.get("tool_choice").filter(|v| !v.is_null()) {
        None => p.tools = tools,
        Some(Value::String(c)) if c == "auto" => p.tools = tools,
        // The model is not shown the tools, so it cannot call them.
        Some(Value::String(c)) if c == "none" => {}
        Some(other) => {
            return Err(format!(
                "unsupported parameter: `tool_choice` {other} is not implemented (only \"auto\" and \"none\")"
            ));
        }
    }
    let (stream, include_usage) = stream_flags(obj);
    Ok(ChatRequest {
        messages,
        params: p,
        stream,
        include_usage,
    })
}

/// A raw-prompt completion request (`/v1/completions`).
struct CompletionRequest {
    prompt: String,
    params: GenParams,
    stream: bool,
    include_usage: bool,
}

fn parse_completion_request(
    body: &[u8],
    defaults: &GenParams,
) -> Result<CompletionRequest, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("body is not a JSON object")?;
    check_keys(obj, COMPLETION_KEYS)?;
    let prompt = match obj.get("prompt") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
            a[0].as_str().unwrap_or_default().to_string()
        }
        Some(Value::Array(_)) => {
            return Err(
                "unsupported parameter: `prompt` must be one string (batches are not implemented)"
                    .into(),
            );
        }
        _ => return Err("`prompt` must be a string".into()),
    };
    if obj.get("echo").and_then(Value::as_bool).unwrap_or(false) {
        return Err("unsupported parameter: `echo` is not implemented".into());
    }
    let mut p = sampling(obj, defaults)?;
    match obj.get("logprobs").filter(|v| !v.is_null()) {
        None => {}
        Some(k) => {
            let k = k
                .as_u64()
                .filter(|k| *k <= 5)
                .ok_or("logprobs must be an integer in [0, 5] on /v1/completions")?;
            p.logprobs = Some(k as usize);
        }
    }
    let (stream, include_usage) = stream_flags(obj);
    Ok(CompletionRequest {
        prompt,
        params: p,
        stream,
        include_usage,
    })
}

/// OpenAI's chat `logprobs` object.
fn chat_logprobs(lps: &[TokenLogprob]) -> Value {
    json!({
        "content": lps
            .iter()
            .map(|t| json!({
                "token": t.token,
                "logprob": t.logprob,
                "bytes": t.bytes,
                "top_logprobs": t
                    .top
                    .iter()
                    .map(|(tok, lp)| json!({"token": tok, "logprob": lp, "bytes": tok.as_bytes()}))
                    .collect::<Vec<_>>(),
            }))
            .collect::<Vec<_>>(),
        "refusal": null,
    })
}

/// The legacy completions `logprobs` object: parallel lists, and the offset of each token.
fn completion_logprobs(lps: &[TokenLogprob]) -> Value {
    let mut offset = 0usize;
    let mut offsets = Vec::with_capacity(lps.len());
    for t in lps {
        offsets.push(offset);
        offset += t.token.len();
    }
    json!({
        "tokens": lps.iter().map(|t| t.token.clone()).collect::<Vec<_>>(),
        "token_logprobs": lps.iter().map(|t| t.logprob).collect::<Vec<_>>(),
        "top_logprobs": lps
            .iter()
            .map(|t| t.top.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>())
            .collect::<Vec<_>>(),
        "text_offset": offsets,
    })
}

/// The calls as a stream delta carries them: each with its `index`.
fn tool_call_deltas(calls: &[ToolCall]) -> Value {
    let mut v = tool_calls::openai_calls(calls);
    if let Some(items) = v.as_array_mut() {
        for (i, c) in items.iter_mut().enumerate() {
            c["index"] = json!(i);
        }
    }
    v
}

/// The end of a stream whose generation failed: an error object, then `[DONE]`.
fn failed(message: String) -> Vec<Result<Event, Infallible>> {
    vec![
        Ok(Event::default()
            .data(json!({"error": {"message": message, "type": "server_error"}}).to_string())),
        Ok(Event::default().data("[DONE]")),
    ]
}

fn finish_reason(c: &Completion) -> &'static str {
    if c.tool_calls.is_empty() {
        c.finish.as_openai()
    } else {
        "tool_calls"
    }
}

fn usage(c: &Completion) -> Value {
    json!({
        "prompt_tokens": c.tokens_in,
        "completion_tokens": c.tokens_out,
        "total_tokens": c.tokens_in + c.tokens_out,
        "prompt_tokens_details": {"cached_tokens": c.tokens_cached},
    })
}

async fn chat_completions(State(s): State<AppState>, body: Bytes) -> Response {
    let req = match parse_request(&body, &s.defaults) {
        Ok(r) => r,
        Err(msg) => return error(StatusCode::BAD_REQUEST, "invalid_request_error", None, msg),
    };
    let id = format!("chatcmpl-{}", s.counter.fetch_add(1, Ordering::Relaxed));
    let created = now();
    if !req.stream {
        return match s.model.chat(&req.messages, &req.params).await {
            Ok(c) => {
                let mut message = json!({"role": "assistant", "content": c.text});
                if !c.tool_calls.is_empty() {
                    message["tool_calls"] = tool_calls::openai_calls(&c.tool_calls);
                    if c.text.is_empty() {
                        message["content"] = Value::Null;
                    }
                }
                let mut choice = json!({
                    "index": 0,
                    "message": message,
                    "finish_reason": finish_reason(&c),
                    "logprobs": null,
                });
                if let Some(lps) = &c.logprobs {
                    choice["logprobs"] = chat_logprobs(lps);
                }
                axum::Json(json!({
                    "id": id,
                    "object": "chat.completion",
                    "created": created,
                    "model": s.name,
                    "choices": [choice],
                    "usage": usage(&c),
                    "protege": {"ms": c.ms, "note": c.note},
                }))
                .into_response()
            }
            Err(e) => lm_error(e),
        };
    }
    Sse::new(stream_events(s, req, id, created))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn chunk_json(id: &str, created: u64, model: &str, delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    })
}

fn chunk(id: &str, created: u64, model: &str, delta: Value, finish: Option<&str>) -> Event {
    Event::default().data(chunk_json(id, created, model, delta, finish).to_string())
}

async fn completions(State(s): State<AppState>, body: Bytes) -> Response {
    let req = match parse_completion_request(&body, &s.defaults) {
        Ok(r) => r,
        Err(msg) => return error(StatusCode::BAD_REQUEST, "invalid_request_error", None, msg),
    };
    let id = format!("cmpl-{}", s.counter.fetch_add(1, Ordering::Relaxed));
    let created = now();
    let name = s.name.clone();
    let body = move |text: &str, c: Option<&Completion>, finish: Option<&str>| {
        let mut choice =
            json!({"index": 0, "text": text, "logprobs": null, "finish_reason": finish});
        if let Some(lps) = c.and_then(|c| c.logprobs.as_deref()) {
            choice["logprobs"] = completion_logprobs(lps);
        }
        json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": name,
            "choices": [choice],
        })
    };
    if !req.stream {
        return match s.model.complete(&req.prompt, &req.params).await {
            Ok(c) => {
                let mut v = body(&c.text, Some(&c), Some(c.finish.as_openai()));
                v["usage"] = usage(&c);
                axum::Json(v).into_response()
            }
            Err(e) => lm_error(e),
        };
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let model = s.model.clone();
    let (prompt, params) = (req.prompt.clone(), req.params.clone());
    let task = tokio::spawn(async move { model.complete_stream(&prompt, &params, tx).await });
    let piece_body = body.clone();
    let include_usage = req.include_usage;
    let pieces = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|p| (p, rx)) }).map(
        move |piece| {
            Ok::<_, Infallible>(Event::default().data(piece_body(&piece, None, None).to_string()))
        },
    );
    let tail = stream::once(async move {
        let events: Vec<Result<Event, Infallible>> = match task.await {
            Ok(Ok(c)) => {
                let mut last = body("", Some(&c), Some(c.finish.as_openai()));
                if include_usage {
                    last["usage"] = usage(&c);
                }
                vec![
                    Ok(Event::default().data(last.to_string())),
                    Ok(Event::default().data("[DONE]")),
                ]
            }
            Ok(Err(e)) => failed(e.to_string()),
            Err(e) => failed(format!("generation task failed: {e}")),
        };
        stream::iter(events)
    })
    .flatten();
    Sse::new(pieces.chain(tail))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn stream_events(
    s: AppState,
    req: ChatRequest,
    id: String,
    created: u64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let model = s.model.clone();
    let task = tokio::spawn(async move { model.chat_stream(&req.messages, &req.params, tx).await });
    let name = s.name.clone();
    let first = chunk(
        &id,
        created,
        &name,
        json!({"role": "assistant", "content": ""}),
        None,
    );
    let (id2, name2) = (id.clone(), name.clone());
    let pieces = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|p| (p, rx)) }).map(
        move |piece| {
            Ok(chunk(
                &id2,
                created,
                &name2,
                json!({"content": piece}),
                None,
            ))
        },
    );
    let include_usage = req.include_usage;
    let tail = stream::once(async move {
        let events: Vec<Result<Event, Infallible>> = match task.await {
            Ok(Ok(c)) => {
                let mut events = Vec::new();
                if !c.tool_calls.is_empty() {
                    events.push(Ok(chunk(
                        &id,
                        created,
                        &name,
                        json!({"tool_calls": tool_call_deltas(&c.tool_calls)}),
                        None,
                    )));
                }
                // The tokens' log-probabilities in one chunk: pieces released by the stop-string
                // scanner do not line up with tokens.
                if let Some(lps) = &c.logprobs {
                    let mut v = chunk_json(&id, created, &name, json!({}), None);
                    v["choices"][0]["logprobs"] = chat_logprobs(lps);
                    events.push(Ok(Event::default().data(v.to_string())));
                }
                let mut last = chunk_json(&id, created, &name, json!({}), Some(finish_reason(&c)));
                if include_usage {
                    last["usage"] = usage(&c);
                }
                events.push(Ok(Event::default().data(last.to_string())));
                events.push(Ok(Event::default().data("[DONE]")));
                events
            }
            Ok(Err(e)) => failed(e.to_string()),
            Err(e) => failed(format!("generation task failed: {e}")),
        };
        stream::iter(events)
    })
    .flatten();
    stream::once(async move { Ok(first) })
        .chain(pieces)
        .chain(tail)
}
