//! Serves any [`LanguageModel`] over the OpenAI-compatible API: `POST /v1/chat/completions`
//! (JSON, or server-sent events with `"stream": true`) and `GET /v1/models`. Used by
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

use super::{Completion, GenParams, LanguageModel, LmError, Message, Role};

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

fn parse_request(body: &[u8], defaults: &GenParams) -> Result<ChatRequest, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("body is not a JSON object")?;
    let raw = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("`messages` must be an array")?;
    let mut messages = Vec::with_capacity(raw.len());
    for (i, m) in raw.iter().enumerate() {
        let role: Role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("messages[{i}].role is missing"))?
            .parse()
            .map_err(|e: LmError| format!("messages[{i}]: {e}"))?;
        let content = match m.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
            Some(_) => return Err(format!("messages[{i}].content must be a string")),
        };
        messages.push(Message { role, content });
    }
    if messages.is_empty() {
        return Err("`messages` is empty".into());
    }
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
    if let Some(n) = num("n").and_then(Value::as_u64)
        && n != 1
    {
        return Err("only n = 1 is supported".into());
    }
    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(ChatRequest {
        messages,
        params: p,
        stream,
        include_usage,
    })
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
            Ok(c) => axum::Json(json!({
                "id": id,
                "object": "chat.completion",
                "created": created,
                "model": s.name,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": c.text},
                    "finish_reason": c.finish.as_openai(),
                }],
                "usage": usage(&c),
                "protege": {"ms": c.ms, "note": c.note},
            }))
            .into_response(),
            Err(e) => lm_error(e),
        };
    }
    Sse::new(stream_events(s, req, id, created))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn chunk(id: &str, created: u64, model: &str, delta: Value, finish: Option<&str>) -> Event {
    Event::default().data(
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
        .to_string(),
    )
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
                let mut last = json!({
                    "id": id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": name,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": c.finish.as_openai()}],
                });
                if include_usage {
                    last["usage"] = usage(&c);
                }
                vec![
                    Ok(Event::default().data(last.to_string())),
                    Ok(Event::default().data("[DONE]")),
                ]
            }
            Ok(Err(e)) => vec![
                Ok(Event::default().data(
                    json!({"error": {"message": e.to_string(), "type": "server_error"}}).to_string(),
                )),
                Ok(Event::default().data("[DONE]")),
            ],
            Err(e) => vec![
                Ok(Event::default().data(
                    json!({"error": {"message": format!("generation task failed: {e}"), "type": "server_error"}})
                        .to_string(),
                )),
                Ok(Event::default().data("[DONE]")),
            ],
        };
        stream::iter(events)
    })
    .flatten();
    stream::once(async move { Ok(first) })
        .chain(pieces)
        .chain(tail)
}
