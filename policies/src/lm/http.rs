//! An OpenAI-compatible chat-completions client: the expert behind an HTTP API (or any
//! `protege lm serve`). Timeouts; retries with exponential backoff on 429, 5xx and transport
//! failures, honouring `Retry-After`; usage from the response; cost from a price table.
//!
//! The API key is an [`ApiKey`]: it is sent in the `Authorization` header and nowhere else —
//! never in errors, logs, `Debug` output or serialized configuration.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Completion, FinishReason, GenParams, LanguageModel, LmError, Message, TokenLogprob};

/// A secret that prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }
    /// The secret itself, for the one place that sends it.
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for ApiKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for ApiKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(ApiKey)
    }
}

/// US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input_per_m: f64,
    pub output_per_m: f64,
}

impl Price {
    pub fn cost(&self, tokens_in: u64, tokens_out: u64) -> f64 {
        (tokens_in as f64 * self.input_per_m + tokens_out as f64 * self.output_per_m) / 1e6
    }
}

/// Where the expert lives and how to talk to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Up to and including `/v1` (`https://api.openai.com/v1`); `/chat/completions` is appended.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<ApiKey>,
    /// For the whole of one attempt (connect, send, wait, read).
    #[serde(with = "secs")]
    pub timeout: Duration,
    #[serde(with = "secs")]
    pub connect_timeout: Duration,
    /// Retries after the first attempt, for 429, 5xx, timeouts and refused connections.
    pub max_retries: u32,
    /// The first backoff; doubled each retry, up to `max_backoff`.
    #[serde(with = "secs")]
    pub initial_backoff: Duration,
    #[serde(with = "secs")]
    pub max_backoff: Duration,
    /// A `Retry-After` above this is cut to it.
    #[serde(with = "secs")]
    pub max_retry_after: Duration,
    /// Prices by model name; a model missing here costs 0 and says so in the note.
    pub prices: BTreeMap<String, Price>,
    /// Extra JSON fields merged into every request body (`{"reasoning_effort": "low"}`).
    pub extra_body: BTreeMap<String, Value>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            base_url: "https://api.openai.com/v1".into(),
            model: String::new(),
            api_key: None,
            timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            max_retries: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            prices: BTreeMap::new(),
            extra_body: BTreeMap::new(),
        }
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        if !(v.is_finite() && v >= 0.0) {
            return Err(serde::de::Error::custom(format!("bad duration {v}")));
        }
        Ok(Duration::from_secs_f64(v))
    }
}

impl HttpConfig {
    /// `model` at `OPENAI_BASE_URL` (default OpenAI's), keyed by `PROTEGE_EXPERT_KEY` or else
    /// `OPENAI_API_KEY`.
    pub fn from_env(model: impl Into<String>) -> Self {
        let mut c = HttpConfig {
            model: model.into(),
            ..HttpConfig::default()
        };
        if let Ok(u) = std::env::var("OPENAI_BASE_URL")
            && !u.trim().is_empty()
        {
            c.base_url = u.trim().to_string();
        }
        c.api_key = ["PROTEGE_EXPERT_KEY", "OPENAI_API_KEY"]
            .iter()
            .filter_map(|k| std::env::var(k).ok())
            .find(|v| !v.trim().is_empty())
            .map(|v| ApiKey::new(v.trim()));
        c
    }

    fn url(&self) -> String {
        format!("{}/chat/completions", self.base_url.trim_end_matches('/'))
    }
}

/// The HTTP backend.
#[derive(Debug, Clone)]
pub struct HttpModel {
    config: HttpConfig,
    agent: ureq::Agent,
}

impl HttpModel {
    pub fn new(config: HttpConfig) -> Result<Self, LmError> {
        if config.model.trim().is_empty() {
            return Err(LmError::Request("HTTP backend: no model name".into()));
        }
        let url = config.url();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(LmError::Request(format!(
                "HTTP backend: base URL {:?} is not http:// or https://",
                config.base_url
            )));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(super::fetch::tls_config())
            .timeout_global(Some(config.timeout))
            .timeout_connect(Some(config.connect_timeout))
            .http_status_as_error(false)
            .user_agent(concat!("protege/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(HttpModel { config, agent })
    }

    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// The request body for `messages`.
    pub fn request_body(&self, messages: &[Message], params: &GenParams, stream: bool) -> Value {
        let mut body = json!({
            "model": self.config.model,
            "messages": super::tool_calls::openai_messages(messages),
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
            "stream": stream,
        });
        if let Some(k) = params.top_k.filter(|k| *k > 0) {
            body["top_k"] = json!(k);
        }
        if !params.stop.is_empty() {
            body["stop"] = json!(params.stop);
        }
        if !params.tools.is_empty() {
            body["tools"] = json!(params.tools);
        }
        if let Some(k) = params.logprobs {
            body["logprobs"] = json!(true);
            if k > 0 {
                body["top_logprobs"] = json!(k);
            }
        }
        for (k, v) in &self.config.extra_body {
            body[k] = v.clone();
        }
        body
    }

    /// One blocking call with retries.
    pub fn chat_blocking(
        &self,
        messages: &[Message],
        params: &GenParams,
    ) -> Result<Completion, LmError> {
        if messages.is_empty() {
            return Err(LmError::Request("no messages".into()));
        }
        let start = Instant::now();
        let body = self.request_body(messages, params, false);
        let mut backoff = self.config.initial_backoff;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (result, retry_after) = self.attempt(&body);
            match result {
                Ok(v) => {
                    let mut c = self.parse(&v)?;
                    c.ms = start.elapsed().as_millis() as u64;
                    if attempt > 1 {
                        let retried = format!("answered on attempt {attempt}");
                        c.note = Some(match c.note.take() {
                            Some(n) => format!("{n}; {retried}"),
                            None => retried,
                        });
                    }
                    return Ok(c);
                }
                Err(e) if e.is_transient() && attempt <= self.config.max_retries => {
                    let wait = retry_after
                        .map(|d| d.min(self.config.max_retry_after))
                        .unwrap_or(backoff);
                    tracing::warn!(error = %e, attempt, wait_ms = wait.as_millis() as u64, "expert call failed; retrying");
                    std::thread::sleep(wait);
                    backoff = (backoff * 2).min(self.config.max_backoff);
                }
                Err(e) => {
                    return Err(if attempt > 1 { annotate(e, attempt) } else { e });
                }
            }
        }
    }

    /// One attempt: the parsed JSON body, or an error and any `Retry-After`.
    fn attempt(&self, body: &Value) -> (Result<Value, LmError>, Option<Duration>) {
        let url = self.config.url();
        let mut req = self
            .agent
            .post(&url)
            .header("Content-Type", "application/json");
        if let Some(key) = &self.config.api_key {
            req = req.header("Authorization", &format!("Bearer {}", key.expose()));
        }
        let mut resp = match req.send_json(body) {
            Ok(r) => r,
            Err(e) => return (Err(self.transport_error(&url, e)), None),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let text = match resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
        {
            Ok(t) => t,
            Err(e) => return (Err(self.transport_error(&url, e)), retry_after),
        };
        if !(200..300).contains(&status) {
            return (
                Err(LmError::Http {
                    status,
                    url,
                    message: self.redact(&error_message(&text)),
                }),
                retry_after,
            );
        }
        match serde_json::from_str::<Value>(&text) {
            Ok(v) => (Ok(v), None),
            Err(e) => (
                Err(LmError::BadResponse {
                    url,
                    message: format!(
                        "HTTP {status} but the body is not JSON ({e}); it starts {:?}",
                        self.redact(&snippet(&text))
                    ),
                }),
                None,
            ),
        }
    }

    fn transport_error(&self, url: &str, e: ureq::Error) -> LmError {
        let url = url.to_string();
        match e {
            ureq::Error::Timeout(_) => LmError::Timeout {
                url,
                secs: self.config.timeout.as_secs_f64(),
            },
            ureq::Error::Io(ref io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) =>
            {
                LmError::Timeout {
                    url,
                    secs: self.config.timeout.as_secs_f64(),
                }
            }
            ureq::Error::Io(ref io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                LmError::Unreachable {
                    url,
                    message: "connection refused (is the server running?)".into(),
                }
            }
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound | ureq::Error::Tls(_) => {
                LmError::Unreachable {
                    url,
                    message: self.redact(&e.to_string()),
                }
            }
            ureq::Error::Io(_) => LmError::Unreachable {
                url,
                message: self.redact(&e.to_string()),
            },
            other => LmError::BadResponse {
                url,
                message: self.redact(&other.to_string()),
            },
        }
    }

    /// Never let the key through, even if a server echoes it back.
    fn redact(&self, s: &str) -> String {
        match &self.config.api_key {
            Some(k) if !k.expose().is_empty() => s.replace(k.expose(), "***"),
            _ => s.to_string(),
        }
    }

    fn parse(&self, v: &Value) -> Result<Completion, LmError> {
        let bad = |message: String| LmError::BadResponse {
            url: self.config.url(),
            message,
        };
        let choice = v.get("choices").and_then(|c| c.get(0)).ok_or_else(|| {
            bad(format!(
                "no choices in {}",
                self.redact(&snippet(&v.to_string()))
            ))
        })?;
        let text = match choice.pointer("/message/content") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => {
                if choice
                    .pointer("/message/refusal")
                    .is_some_and(Value::is_string)
                    || choice
                        .pointer("/message/tool_calls")
                        .and_then(Value::as_array)
                        .is_some_and(|a| !a.is_empty())
                {
                    String::new()
                } else {
                    return Err(bad(format!(
                        "choice has no message content: {}",
                        self.redact(&snippet(&choice.to_string()))
                    )));
                }
            }
            Some(other) => return Err(bad(format!("message content is not a string: {other}"))),
        };
        let tool_calls = match choice.pointer("/message/tool_calls") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => super::tool_calls::from_openai(v).map_err(bad)?,
        };
        let logprobs = match choice.pointer("/logprobs/content") {
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|t| TokenLogprob {
                        token: t
                            .get("token")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        logprob: t
                            .get("logprob")
                            .and_then(Value::as_f64)
                            .unwrap_or(f64::NEG_INFINITY),
                        bytes: t
                            .get("bytes")
                            .and_then(Value::as_array)
                            .map(|b| {
                                b.iter()
                                    .filter_map(|x| x.as_u64().map(|x| x as u8))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        top: t
                            .get("top_logprobs")
                            .and_then(Value::as_array)
                            .map(|a| {
                                a.iter()
                                    .filter_map(|x| {
                                        Some((
                                            x.get("token")?.as_str()?.to_string(),
                                            x.get("logprob")?.as_f64()?,
                                        ))
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect(),
            ),
            _ => None,
        };
        let finish = FinishReason::from_openai(choice.get("finish_reason").and_then(Value::as_str));
        let usage = v.get("usage");
        let tokens = |k: &str| usage.and_then(|u| u.get(k)).and_then(Value::as_u64);
        let tokens_in = tokens("prompt_tokens");
        let tokens_out = tokens("completion_tokens");
        let cached = usage
            .and_then(|u| u.pointer("/prompt_tokens_details/cached_tokens"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let model = v
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(&self.config.model)
            .to_string();
        let mut notes = Vec::new();
        if tokens_in.is_none() || tokens_out.is_none() {
            notes.push("the response has no usage; token counts are 0".to_string());
        }
        let (tin, tout) = (tokens_in.unwrap_or(0), tokens_out.unwrap_or(0));
        let price = self
            .config
            .prices
            .get(&self.config.model)
            .or_else(|| self.config.prices.get(&model));
        let cost = match price {
            Some(p) => p.cost(tin, tout),
            None => {
                if !self.config.prices.is_empty() {
                    notes.push(format!("no price for {}; cost 0", self.config.model));
                }
                0.0
            }
        };
        Ok(Completion {
            text,
            tool_calls,
            logprobs,
            tokens_in: tin,
            tokens_out: tout,
            tokens_cached: cached,
            finish,
            ms: 0,
            cost,
            model,
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        })
    }
}

fn annotate(e: LmError, attempts: u32) -> LmError {
    match e {
        LmError::Http {
            status,
            url,
            message,
        } => LmError::Http {
            status,
            url,
            message: format!("{message} (after {attempts} attempts)"),
        },
        LmError::Unreachable { url, message } => LmError::Unreachable {
            url,
            message: format!("{message} (after {attempts} attempts)"),
        },
        LmError::Timeout { url, secs } => LmError::Timeout {
            url: format!("{url} (after {attempts} attempts)"),
            secs,
        },
        other => other,
    }
}

/// `Retry-After` in seconds (an HTTP date is not honoured; the backoff applies instead).
fn parse_retry_after(v: &str) -> Option<Duration> {
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// The error message of an OpenAI-style error body, or the start of the body.
fn error_message(text: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        let msg = v
            .pointer("/error/message")
            .or_else(|| v.get("error"))
            .or_else(|| v.get("message"))
            .or_else(|| v.get("detail"));
        if let Some(m) = msg {
            let code = v
                .pointer("/error/code")
                .and_then(Value::as_str)
                .map(|c| format!("{c}: "))
                .unwrap_or_default();
            return match m {
                Value::String(s) => format!("{code}{s}"),
                other => format!("{code}{other}"),
            };
        }
    }
    if text.trim().is_empty() {
        "(empty body)".into()
    } else {
        snippet(text)
    }
}

fn snippet(text: &str) -> String {
    let t: String = text.chars().take(200).collect();
    if t.len() < text.len() {
        format!("{t}…")
    } else {
        t
    }
}

#[async_trait]
impl LanguageModel for HttpModel {
    fn name(&self) -> &str {
        &self.config.model
    }

    async fn chat(&self, messages: &[Message], params: &GenParams) -> Result<Completion, LmError> {
        let this = self.clone();
        let messages = messages.to_vec();
        let params = params.clone();
        tokio::task::spawn_blocking(move || this.chat_blocking(&messages, &params))
            .await
            .map_err(|e| LmError::Backend(format!("HTTP worker: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_never_printed() {
        let mut c = HttpConfig::from_env("m");
        c.api_key = Some(ApiKey::new("sk-secret-123"));
        assert!(!format!("{c:?}").contains("sk-secret-123"));
        assert!(!serde_json::to_string(&c).unwrap().contains("sk-secret-123"));
        let m = HttpModel::new(c).unwrap();
        assert!(!format!("{m:?}").contains("sk-secret-123"));
        assert_eq!(m.redact("echo sk-secret-123!"), "echo ***!");
    }

    #[test]
    fn retry_after_and_errors() {
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(
            error_message(r#"{"error":{"message":"slow down","code":"rate_limit"}}"#),
            "rate_limit: slow down"
        );
        assert_eq!(error_message(""), "(empty body)");
    }

    #[test]
    fn price() {
        let p = Price {
            input_per_m: 3.0,
            output_per_m: 15.0,
        };
        assert!((p.cost(1_000_000, 100_000) - 4.5).abs() < 1e-12);
    }
}
