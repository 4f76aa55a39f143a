//! Language models behind one interface: the policy under test (a local model run through
//! candle) and the expert it consults (a stronger model behind an OpenAI-compatible HTTP API).
//!
//! - [`LanguageModel`]: `chat(messages, params) -> Completion`, async, used from the agent loop.
//! - [`candle`] (feature `candle`): Hugging Face model directories (Qwen2 / Qwen2.5 safetensors)
//!   and GGUF files (quantized llama and qwen2), CPU or CUDA, KV cache reused across turns.
//! - [`llama`] (feature `llamacpp`): GGUF files through llama.cpp, concurrent calls decoded as
//!   one batch; [`backend`] picks it or candle per file and CPU (docs/lm.md).
//! - [`http`]: an OpenAI-compatible chat-completions client with retries, timeouts and costs.
//! - [`server`]: serves any [`LanguageModel`] over the same API (`protege lm serve`).
//! - [`fetch`]: built-in model aliases (`smollm2`), downloaded once, sha256-pinned.
//! - [`template`], [`context`], [`sampling`], [`stop`]: chat templates, the context-length
//!   policy, token sampling and stop strings, shared by the local backends.

pub mod context;
pub mod fetch;
pub mod http;
pub mod sampling;
pub mod server;
pub mod stop;
pub mod template;
pub mod tool_calls;

#[cfg(feature = "candle")]
pub mod backend;
#[cfg(feature = "candle")]
pub mod candle;
#[cfg(feature = "llamacpp")]
pub mod llama;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    /// A tool's result, answering the assistant's call `tool_call_id`.
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = LmError;
    fn from_str(s: &str) -> Result<Self, LmError> {
        match s {
            "system" | "developer" => Ok(Role::System),
            "user" => Ok(Role::User),
            "assistant" => Ok(Role::Assistant),
            "tool" => Ok(Role::Tool),
            other => Err(LmError::Request(format!(
                "unknown message role {other:?} (expected system, user, assistant or tool)"
            ))),
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
    /// The calls an assistant message makes (function calling).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// A function call the model made: OpenAI's `{id, type: "function", function: {name,
/// arguments}}`, with `arguments` kept as the JSON text the model wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One generated token's log-probability (natural log, of the model's distribution before
/// temperature, top-k and top-p), with the most likely alternatives when asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    pub token: String,
    pub logprob: f64,
    /// The token's bytes (a token may hold part of a UTF-8 character).
    pub bytes: Vec<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<(String, f64)>,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }
}

/// How to generate. The defaults are Qwen2.5's recommended sampling settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenParams {
    /// At most this many new tokens (the reply may stop earlier).
    pub max_new_tokens: usize,
    /// 0 (or below 1e-5) means greedy decoding.
    pub temperature: f64,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `top_p`.
    pub top_p: f64,
    /// Keep only the `top_k` most likely tokens (`None` or 0: no limit). Not sent to HTTP
    /// endpoints unless set, since OpenAI's own API rejects it.
    pub top_k: Option<usize>,
    /// Same seed, same prompt, same model ⇒ same tokens (local backends).
    pub seed: u64,
    /// Generation stops before the first occurrence of any of these; the text excludes it.
    pub stop: Vec<String>,
    /// Return each generated token's log-probability and this many most likely alternatives
    /// (`Some(0)`: the sampled tokens only). `None`: no log-probabilities.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<usize>,
    /// Tools offered to the model, as OpenAI function schemas (`{"type": "function",
    /// "function": {…}}`). Local models render them through their chat template and have their
    /// calls parsed in the format that template teaches.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<serde_json::Value>,
}

impl Default for GenParams {
    fn default() -> Self {
        GenParams {
            max_new_tokens: 512,
            temperature: 0.7,
            top_p: 0.8,
            top_k: Some(20),
            seed: 0,
            stop: Vec::new(),
            logprobs: None,
            tools: Vec::new(),
        }
    }
}

impl GenParams {
    /// Greedy decoding of at most `max_new_tokens` tokens.
    pub fn greedy(max_new_tokens: usize) -> Self {
        GenParams {
            max_new_tokens,
            temperature: 0.0,
            top_p: 1.0,
            top_k: None,
            ..GenParams::default()
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended its turn (an end-of-sequence token) or hit a stop string.
    #[default]
    Stop,
    /// `max_new_tokens` reached, or the context window is full.
    Length,
    /// The consumer of a stream went away.
    Cancelled,
}

impl FinishReason {
    /// The OpenAI `finish_reason` string.
    pub fn as_openai(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length | FinishReason::Cancelled => "length",
        }
    }
    pub fn from_openai(s: Option<&str>) -> Self {
        match s {
            Some("length") => FinishReason::Length,
            _ => FinishReason::Stop,
        }
    }
}

/// One reply and what it cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The reply's text (without the tool calls, where they were parsed out of it).
    pub text: String,
    /// The function calls of the reply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Per generated token, when [`GenParams::logprobs`] asked for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<TokenLogprob>>,
    /// Prompt tokens (after any context truncation), as the backend counted them.
    pub tokens_in: u64,
    /// Generated tokens.
    pub tokens_out: u64,
    /// Prompt tokens whose KV cache was reused from an earlier call (local backends).
    pub tokens_cached: u64,
    pub finish: FinishReason,
    /// Wall-clock milliseconds for the whole call.
    pub ms: u64,
    /// US dollars (0 for local models, or where the price table has no entry).
    pub cost: f64,
    /// The model that answered.
    pub model: String,
    /// Anything the caller should know: context truncation, a missing price, clamped settings.
    pub note: Option<String>,
}

/// Everything that can go wrong, each naming its cause.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    /// A model file or directory that is missing, unreadable or inconsistent.
    #[error("model: {0}")]
    Model(String),
    /// Something valid but not supported (an architecture, a tokenizer kind, a device).
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("chat template: {0}")]
    Template(String),
    /// The prompt does not fit even after dropping every droppable turn.
    #[error(
        "prompt too long: {tokens} tokens (after dropping every droppable turn) but the context window holds {context}"
    )]
    PromptTooLong { tokens: usize, context: usize },
    /// A request that makes no sense (no messages, a bad role, a bad parameter).
    #[error("bad request: {0}")]
    Request(String),
    /// An HTTP endpoint answered with an error status.
    #[error("HTTP {status} from {url}: {message}")]
    Http {
        status: u16,
        url: String,
        message: String,
    },
    /// An HTTP endpoint that cannot be reached (refused, DNS, TLS).
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    /// An HTTP endpoint that did not answer in time.
    #[error("timed out after {secs:.1}s waiting for {url}")]
    Timeout { url: String, secs: f64 },
    /// An HTTP endpoint that answered something that is not a chat completion.
    #[error("bad response from {url}: {message}")]
    BadResponse { url: String, message: String },
    /// Fetching a built-in model failed (network, checksum, archive).
    #[error("download: {0}")]
    Download(String),
    /// The numeric backend failed (candle).
    #[error("backend: {0}")]
    Backend(String),
}

impl LmError {
    /// Whether retrying the same request may succeed (used by the HTTP client).
    pub fn is_transient(&self) -> bool {
        match self {
            LmError::Http { status, .. } => *status == 429 || *status >= 500,
            LmError::Unreachable { .. } | LmError::Timeout { .. } => true,
            _ => false,
        }
    }
}

/// A chat model. Implementations are cheap to share (`Arc<dyn LanguageModel>`); calls on one
/// candle model are served one at a time, concurrent calls on one llama.cpp model (feature
/// `llamacpp`) decode as one batch.
#[async_trait]
pub trait LanguageModel: Send + Sync {
    /// The name written into completions and trajectories.
    fn name(&self) -> &str;

    /// The context window in tokens, where the backend knows it.
    fn context_length(&self) -> Option<usize> {
        None
    }

    /// Whether [`GenParams::tools`] reach the model: a local model's chat template must render
    /// them; endpoints are trusted to.
    fn renders_tools(&self) -> bool {
        true
    }

    /// Generate the assistant's next message.
    async fn chat(&self, messages: &[Message], params: &GenParams) -> Result<Completion, LmError>;

    /// Continue raw `prompt` text, with no chat template (`/v1/completions`).
    async fn complete(&self, prompt: &str, params: &GenParams) -> Result<Completion, LmError> {
        let _ = (prompt, params);
        Err(LmError::Unsupported(format!(
            "{} completes chats only, not raw prompts",
            self.name()
        )))
    }

    /// [`complete`](Self::complete), sending text pieces to `sink` as they are generated. The
    /// default sends the whole text at once.
    async fn complete_stream(
        &self,
        prompt: &str,
        params: &GenParams,
        sink: UnboundedSender<String>,
    ) -> Result<Completion, LmError> {
        let c = self.complete(prompt, params).await?;
        if !c.text.is_empty() {
            let _ = sink.send(c.text.clone());
        }
        Ok(c)
    }

    /// Like [`chat`](Self::chat), sending text pieces to `sink` as they are generated (their
    /// concatenation is the completion's text). Generation stops early, with
    /// [`FinishReason::Cancelled`], when the receiver is dropped. The default sends the whole
    /// text at once.
    async fn chat_stream(
        &self,
        messages: &[Message],
        params: &GenParams,
        sink: UnboundedSender<String>,
    ) -> Result<Completion, LmError> {
        let c = self.chat(messages, params).await?;
        if !c.text.is_empty() {
            let _ = sink.send(c.text.clone());
        }
        Ok(c)
    }
}

/// How to load a local model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// `f32`, `bf16` or `f16` (safetensors models; GGUF models compute in f32). Default: f32 on
    /// CPU, bf16 on CUDA.
    pub dtype: Option<String>,
    /// `cpu` (default), `cuda`, `cuda:N`, or `auto` (CUDA when this build and machine have it).
    pub device: Option<String>,
    /// Cap the context window below what the model declares.
    pub context_length: Option<usize>,
    /// The name the model answers to (default: the alias or the file/directory name).
    pub name: Option<String>,
    /// Prompts longer than this are prefilled in chunks of this many tokens (default 4096; the
    /// common case is one pass).
    pub prefill_chunk: Option<usize>,
    /// GGUF models: expand the quantized weights to f32 at load. candle's CPU kernels for some
    /// quantization types (Q4_1, and every type in builds without AVX enabled at compile time)
    /// are scalar, while f32 matmuls dispatch to SIMD at run time: 2-5x faster. Default: on the
    /// CPU, when the f32 weights take at most 2 GiB.
    pub gguf_dequantize: Option<bool>,
    /// GGUF files: `auto` (default: llama.cpp where this build has it and the CPU runs its
    /// kernels, else candle), `llama` (llama.cpp, or an error saying why not) or `candle`.
    /// `PROTEGE_LM_BACKEND` sets it when this is unset.
    pub backend: Option<String>,
    /// llama.cpp: how many calls decode together, each with its own KV cache (default 8).
    pub parallel: Option<usize>,
    /// llama.cpp: CPU threads (default: every available core).
    pub threads: Option<usize>,
}

/// Load a local model: a built-in alias (`smollm2`), a Hugging Face model directory, or a
/// `.gguf` file. Fails with [`LmError::Unsupported`] in a build without the `candle` feature.
pub fn load_local(spec: &str, opts: &LoadOptions) -> Result<Arc<dyn LanguageModel>, LmError> {
    let path = fetch::resolve_model(spec)?;
    load_path(spec, path, opts)
}

#[cfg(feature = "candle")]
fn load_path(
    spec: &str,
    path: PathBuf,
    opts: &LoadOptions,
) -> Result<Arc<dyn LanguageModel>, LmError> {
    let mut opts = opts.clone();
    if opts.name.is_none() && fetch::builtin(spec).is_some() {
        opts.name = Some(spec.to_string());
    }
    Ok(Arc::new(candle::CandleModel::load(&path, &opts)?))
}

#[cfg(not(feature = "candle"))]
fn load_path(
    _spec: &str,
    path: PathBuf,
    _opts: &LoadOptions,
) -> Result<Arc<dyn LanguageModel>, LmError> {
    Err(LmError::Unsupported(format!(
        "cannot load {}: this build has no local-model backend (rebuild with the `candle` feature)",
        path.display()
    )))
}
