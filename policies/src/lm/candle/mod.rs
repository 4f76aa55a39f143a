//! Local models through candle: a Hugging Face Qwen2 directory ([`hf`], [`qwen2`]) or a GGUF
//! file ([`gguf`]), on the CPU or (feature `cuda`) a CUDA device.
//!
//! One model holds one KV cache. A call whose prompt extends the tokens already in the cache
//! (the usual agent loop: the previous prompt, the reply, the next observation) only runs the new
//! tokens; otherwise the cache is cut back to the longest shared prefix (Qwen2 safetensors),
//! restored from the snapshot taken after the last prompt (GGUF llama), or rebuilt. The prompt's
//! new tokens go through the model in one pass (chunks of `prefill_chunk` tokens past that).
//!
//! With the `llamacpp` feature, a GGUF file may run on llama.cpp instead ([`super::backend`]
//! decides per file and CPU): the tokenizer, chat template, stop strings and log-probabilities
//! stay here, and the tokens come from [`super::llama::Engine`], which batches concurrent calls.

pub mod gguf;
pub mod hf;
pub mod qwen2;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use candle_core::Tensor;
pub use candle_core::{DType, Device};
use candle_transformers::models::{quantized_llama, quantized_qwen2};
use tokenizers::Tokenizer;
use tokio::sync::mpsc::UnboundedSender;

use super::context;
use super::sampling::Sampler;
use super::stop::StopScanner;
use super::template::ChatTemplate;
use super::tool_calls;
use super::{
    Completion, FinishReason, GenParams, LanguageModel, LmError, LoadOptions, Message, TokenLogprob,
};

/// Numbers the tool calls of this process, so every call id is unique.
static CALLS: AtomicU64 = AtomicU64::new(0);

fn backend(e: candle_core::Error) -> LmError {
    LmError::Backend(e.to_string())
}

/// The network and its KV cache.
#[derive(Clone)]
pub(crate) enum Net {
    Qwen2(qwen2::Qwen2),
    Llama(quantized_llama::ModelWeights),
    QQwen2(Arc<Mutex<quantized_qwen2::ModelWeights>>),
}

impl Net {
    /// Logits (f32) after `ids`, which sit at positions `offset..`.
    fn forward(
        &mut self,
        ids: &[u32],
        offset: usize,
        device: &Device,
    ) -> Result<Vec<f32>, LmError> {
        let logits = match self {
            Net::Qwen2(m) => {
                if m.cached_len() != offset {
                    m.truncate_cache(offset).map_err(backend)?;
                }
                m.forward(ids, false).map_err(backend)?
            }
            Net::Llama(m) => {
                let input = Tensor::new(ids, device)
                    .and_then(|t| t.unsqueeze(0))
                    .map_err(backend)?;
                m.forward(&input, offset).map_err(backend)?
            }
            Net::QQwen2(m) => {
                let input = Tensor::new(ids, device)
                    .and_then(|t| t.unsqueeze(0))
                    .map_err(backend)?;
                let mut m = m
                    .lock()
                    .map_err(|_| LmError::Backend("model lock poisoned".into()))?;
                m.forward(&input, offset).map_err(backend)?
            }
        };
        logits
            .flatten_all()
            .and_then(|t| t.to_dtype(DType::F32))
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(backend)
    }

    /// Cut the cache back to `len` tokens, where the network allows it.
    fn truncate(&mut self, len: usize) -> bool {
        match self {
            Net::Qwen2(m) => m.truncate_cache(len).is_ok(),
            _ => false,
        }
    }

    /// A copy that shares weights and cached tensors (cheap), where the network allows it.
    fn snapshot(&self) -> Option<Net> {
        match self {
            Net::Llama(m) => Some(Net::Llama(m.clone())),
            _ => None,
        }
    }
}

/// What a loader produces.
pub(crate) struct Loaded {
    pub net: Net,
    pub tokenizer: Tokenizer,
    pub template: ChatTemplate,
    pub stop_ids: Vec<u32>,
    pub context: usize,
    pub vocab: usize,
    pub architecture: String,
    pub dtype: String,
    /// The kernel report (empty: filled in by the loader's caller).
    pub kernels: String,
}

/// The KV cache's bookkeeping.
struct Session {
    net: Net,
    /// A pristine copy (empty cache) to start over from, when the network cannot be cleared.
    fresh: Net,
    /// The tokens whose keys and values are in the cache.
    tokens: Vec<u32>,
    /// Logits after the last of `tokens`.
    logits: Option<Vec<f32>>,
    /// The last prompt, the logits after it, and (networks that cannot truncate) a copy of
    /// the network right after it.
    snapshot: Option<(Option<Net>, Vec<u32>, Vec<f32>)>,
    /// Extensions since the last fresh start (quantized models cache one mask per shape).
    extensions: usize,
}

impl Session {
    /// Whether to extend the cache rather than start over. candle-transformers' quantized
    /// models keep one causal mask per (new tokens, cached tokens) shape for their lifetime, so
    /// they start over from a fresh copy every 64 extensions to bound that memory.
    fn may_extend(&self) -> bool {
        matches!(self.net, Net::Qwen2(_)) || self.extensions < 64
    }

    fn reset(&mut self) {
        self.net = self.fresh.clone();
        self.tokens.clear();
        self.logits = None;
        self.extensions = 0;
    }

    fn feed(&mut self, ids: &[u32], chunk: usize, device: &Device) -> Result<(), LmError> {
        for part in ids.chunks(chunk.max(1)) {
            let offset = self.tokens.len();
            self.logits = None;
            let logits = self.net.forward(part, offset, device)?;
            self.tokens.extend_from_slice(part);
            self.logits = Some(logits);
        }
        Ok(())
    }

    /// Bring the cache to `prompt` and return the logits after it and how many prompt tokens
    /// were reused.
    fn prepare(
        &mut self,
        prompt: &[u32],
        chunk: usize,
        device: &Device,
    ) -> Result<(Vec<f32>, usize), LmError> {
        let common = self
            .tokens
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count();
        let result = self.prepare_inner(prompt, common, chunk, device);
        if result.is_err() {
            // A failed step leaves the cache in an unknown state.
            self.reset();
            self.snapshot = None;
        }
        result
    }

    fn prepare_inner(
        &mut self,
        prompt: &[u32],
        common: usize,
        chunk: usize,
        device: &Device,
    ) -> Result<(Vec<f32>, usize), LmError> {
        // The same prompt again.
        if common == prompt.len()
            && common == self.tokens.len()
            && let Some(l) = &self.logits
        {
            return Ok((l.clone(), common));
        }
        // The last prompt again, after a reply was generated from it: cut the reply off.
        if common == prompt.len()
            && let Some((_, toks, logits)) = &self.snapshot
            && toks.as_slice() == prompt
        {
            let logits = logits.clone();
            if self.net.truncate(prompt.len()) {
                self.tokens.truncate(prompt.len());
                self.logits = Some(logits.clone());
                return Ok((logits, prompt.len()));
            }
        }
        let reused;
        if common == self.tokens.len() && common < prompt.len() && self.may_extend() {
            reused = common;
            self.extensions += 1;
            self.feed(&prompt[common..], chunk, device)?;
        } else if common > 0 && self.net.truncate(common.min(prompt.len() - 1)) {
            let keep = common.min(prompt.len() - 1);
            self.tokens.truncate(keep);
            reused = keep;
            self.feed(&prompt[keep..], chunk, device)?;
        } else if let Some((Some(net), toks, logits)) = self
            .snapshot
            .as_ref()
            .filter(|(_, t, _)| !t.is_empty() && prompt.starts_with(t))
            .cloned()
            .filter(|_| self.may_extend())
        {
            self.net = net;
            self.tokens = toks;
            self.logits = Some(logits.clone());
            reused = self.tokens.len();
            if reused == prompt.len() {
                return Ok((logits, reused));
            }
            self.extensions += 1;
            self.feed(&prompt[reused..], chunk, device)?;
        } else {
            self.reset();
            reused = 0;
            self.feed(prompt, chunk, device)?;
        }
        let logits = self
            .logits
            .clone()
            .ok_or_else(|| LmError::Backend("no logits after prefill".into()))?;
        self.snapshot = Some((self.net.snapshot(), self.tokens.clone(), logits.clone()));
        Ok((logits, reused))
    }
}

/// What was loaded, for logs and `/v1/models`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub name: String,
    pub path: PathBuf,
    /// `qwen2` (safetensors), `gguf/llama`, `gguf/qwen2`.
    pub architecture: String,
    pub dtype: String,
    pub device: String,
    pub context_length: usize,
    /// Rows of the embedding matrix.
    pub vocab_size: usize,
    /// Whether the model shipped no chat template (ChatML is used).
    pub template_fallback: bool,
    /// `candle` or `llama.cpp`.
    pub backend: String,
    /// Which kernels it runs, and why that backend (docs/lm.md).
    pub kernels: String,
}

/// What produces the tokens.
enum Engine {
    Candle(Box<Mutex<Session>>),
    #[cfg(feature = "llamacpp")]
    Llama(super::llama::Engine),
}

/// What the decode loop tells a token source after each token.
pub(crate) enum Flow {
    More,
    Done,
}

/// Receives each sampled token and the logits it was sampled from.
pub(crate) type OnToken<'a> = dyn FnMut(u32, &[f32]) -> Result<Flow, LmError> + 'a;

/// How a token source's run went, for the completion's counters.
pub(crate) struct Run {
    /// Prompt tokens whose KV cache was reused.
    pub reused: usize,
    /// Ended because the context window is full.
    pub window_full: bool,
}

/// The kernels candle uses on `dev`: its f32 matmul (gemm) picks SIMD at run time, its
/// quantized kernels are the ones compiled in.
fn candle_kernels(dev: &Device) -> String {
    if dev.is_cuda() {
        return "CUDA".into();
    }
    let simd = if cfg!(target_feature = "avx2") {
        "AVX2"
    } else if cfg!(target_feature = "avx") {
        "AVX"
    } else if cfg!(target_arch = "aarch64") {
        "NEON"
    } else {
        "scalar"
    };
    format!("f32 matmul with run-time SIMD dispatch, quantized kernels {simd} (compiled in)")
}

fn model_name(path: &Path, opts: &LoadOptions) -> String {
    opts.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("local")
            .to_string()
    })
}

struct Inner {
    info: ModelInfo,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    stop_ids: Vec<u32>,
    device: Device,
    prefill_chunk: usize,
    engine: Engine,
}

/// A local model (see the module docs). Cheap to clone; calls are served one at a time.
#[derive(Clone)]
pub struct CandleModel {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CandleModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandleModel")
            .field("info", &self.inner.info)
            .finish()
    }
}

/// `cpu`, `cuda`, `cuda:N`, `auto`.
pub fn device(spec: Option<&str>) -> Result<Device, LmError> {
    let spec = spec.unwrap_or("cpu").trim().to_ascii_lowercase();
    let cuda = |n: usize| {
        Device::new_cuda(n).map_err(|e| {
            LmError::Unsupported(format!(
                "device cuda:{n}: {e} (CUDA needs a build with the `cuda` feature and a GPU)"
            ))
        })
    };
    match spec.as_str() {
        "cpu" => Ok(Device::Cpu),
        "cuda" | "gpu" => cuda(0),
        "auto" => Ok(Device::cuda_if_available(0).unwrap_or(Device::Cpu)),
        s => match s.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(n) => cuda(n),
            None => Err(LmError::Request(format!(
                "unknown device {s:?} (cpu, cuda, cuda:N, auto)"
            ))),
        },
    }
}

/// `f32`, `bf16`, `f16` (default: f32 on CPU, bf16 on CUDA).
pub fn dtype(spec: Option<&str>, device: &Device) -> Result<DType, LmError> {
    match spec.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None => Ok(if device.is_cuda() {
            DType::BF16
        } else {
            DType::F32
        }),
        Some("f32" | "float32") => Ok(DType::F32),
        Some("bf16" | "bfloat16") => Ok(DType::BF16),
        Some("f16" | "float16" | "half") => Ok(DType::F16),
        Some(other) => Err(LmError::Request(format!(
            "unknown dtype {other:?} (f32, bf16, f16)"
        ))),
    }
}

impl CandleModel {
    /// Load a Hugging Face model directory or a `.gguf` file.
    pub fn load(path: &Path, opts: &LoadOptions) -> Result<Self, LmError> {
        let mut magic = [0u8; 4];
        let is_gguf = path.is_file()
            && std::fs::File::open(path)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
                .map(|()| &magic == b"GGUF")
                .unwrap_or(false);
        // The backend first: llama.cpp needs no candle device.
        let choice = if is_gguf {
            Some(super::backend::choose(
                opts.backend.as_deref(),
                opts.device.as_deref(),
                &super::backend::CpuFeatures::detect(),
                super::backend::LLAMA_BUILT,
            )?)
        } else {
            None
        };
        #[cfg(feature = "llamacpp")]
        if let Some(c) = &choice
            && c.backend == super::backend::Backend::Llama
        {
            return Self::load_llama(path, opts, c.reason.clone());
        }
        let dev = device(opts.device.as_deref())?;
        let dt = dtype(opts.dtype.as_deref(), &dev)?;
        let loaded = if path.is_dir() {
            hf::load(path, opts, &dev, dt)?
        } else if path.is_file() {
            if let Some(choice) = choice {
                let mut l = gguf::load(path, opts, &dev)?;
                l.kernels = format!("{}: {}", choice.reason, candle_kernels(&dev));
                l
            } else if path.file_name().and_then(|n| n.to_str()) == Some("config.json")
                || path.extension().and_then(|e| e.to_str()) == Some("safetensors")
            {
                let dir = path.parent().unwrap_or(Path::new("."));
                hf::load(dir, opts, &dev, dt)?
            } else {
                return Err(LmError::Model(format!(
                    "{}: neither a GGUF file nor a Hugging Face model directory",
                    path.display()
                )));
            }
        } else {
            return Err(LmError::Model(format!(
                "{}: no such file or directory",
                path.display()
            )));
        };
        let name = model_name(path, opts);
        let kernels = if loaded.kernels.is_empty() {
            format!("candle: {}", candle_kernels(&dev))
        } else {
            loaded.kernels
        };
        let info = ModelInfo {
            name,
            path: path.to_path_buf(),
            architecture: loaded.architecture,
            dtype: loaded.dtype,
            device: format!("{dev:?}"),
            context_length: loaded.context,
            vocab_size: loaded.vocab,
            template_fallback: loaded.template.fallback,
            backend: "candle".into(),
            kernels,
        };
        tracing::info!(?info, "loaded local model");
        Ok(CandleModel {
            inner: Arc::new(Inner {
                info,
                tokenizer: loaded.tokenizer,
                template: loaded.template,
                stop_ids: loaded.stop_ids,
                device: dev,
                prefill_chunk: opts.prefill_chunk.unwrap_or(4096),
                engine: Engine::Candle(Box::new(Mutex::new(Session {
                    fresh: loaded.net.clone(),
                    net: loaded.net,
                    tokens: Vec::new(),
                    logits: None,
                    snapshot: None,
                    extensions: 0,
                }))),
            }),
        })
    }

    /// A GGUF file on llama.cpp, with the tokenizer and template read as for candle.
    #[cfg(feature = "llamacpp")]
    fn load_llama(path: &Path, opts: &LoadOptions, reason: String) -> Result<Self, LmError> {
        let (meta, _, _) = gguf::meta(path, opts)?;
        let threads = opts
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let options = super::llama::EngineOptions {
            parallel: opts.parallel.unwrap_or(8).max(1),
            context: meta.context,
            threads: threads.max(1),
            batch: opts.prefill_chunk.unwrap_or(512).clamp(1, 4096),
            stop_ids: meta.stop_ids.clone(),
        };
        let engine = super::llama::Engine::load(path, options)?;
        let info = ModelInfo {
            name: model_name(path, opts),
            path: path.to_path_buf(),
            architecture: format!("gguf/{}", meta.arch),
            dtype: "quantized (as stored in the GGUF file)".into(),
            device: "Cpu".into(),
            context_length: meta.context,
            vocab_size: meta.vocab,
            template_fallback: meta.template.fallback,
            backend: "llama.cpp".into(),
            kernels: format!(
                "{reason}; {} sequences batched, {threads} threads; {}",
                engine.options.parallel,
                super::llama::system_info()
            ),
        };
        tracing::info!(?info, "loaded local model");
        Ok(CandleModel {
            inner: Arc::new(Inner {
                info,
                tokenizer: meta.tokenizer,
                template: meta.template,
                stop_ids: meta.stop_ids,
                device: Device::Cpu,
                prefill_chunk: opts.prefill_chunk.unwrap_or(4096),
                engine: Engine::Llama(engine),
            }),
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.inner.info
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.inner.tokenizer
    }

    pub fn template(&self) -> &ChatTemplate {
        &self.inner.template
    }

    /// The token ids that end a reply.
    pub fn stop_ids(&self) -> &[u32] {
        &self.inner.stop_ids
    }

    /// Token ids of `text` (special tokens written in the text are recognised; nothing added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LmError> {
        self.inner
            .tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| LmError::Tokenizer(e.to_string()))
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String, LmError> {
        self.inner
            .tokenizer
            .decode(ids, true)
            .map_err(|e| LmError::Tokenizer(e.to_string()))
    }

    /// The prompt for `messages`, as the chat template renders it.
    pub fn render(&self, messages: &[Message]) -> Result<String, LmError> {
        self.inner.template.render(messages, true)
    }

    /// Logits for every position of `ids`, from an empty cache, leaving the conversation cache
    /// alone (Qwen2 safetensors models; for numerics checks).
    pub fn logits_all(&self, ids: &[u32]) -> Result<Vec<Vec<f32>>, LmError> {
        let session = self.lock()?;
        let Net::Qwen2(m) = &session.fresh else {
            return Err(LmError::Unsupported(
                "logits for every position: only Qwen2 safetensors models".into(),
            ));
        };
        let mut m = m.clone();
        drop(session);
        m.clear_cache();
        let t = m.forward(ids, true).map_err(backend)?;
        t.to_vec2::<f32>().map_err(backend)
    }

    /// Run `ids` after the cached tokens (or from an empty cache with `reset`) and return the
    /// logits after the last one. The low-level step the benchmarks time.
    pub fn feed_tokens(&self, ids: &[u32], reset: bool) -> Result<Vec<f32>, LmError> {
        let mut s = self.lock()?;
        if reset {
            s.reset();
            s.snapshot = None;
        }
        if s.tokens.len() + ids.len() > self.inner.info.context_length {
            return Err(LmError::PromptTooLong {
                tokens: s.tokens.len() + ids.len(),
                context: self.inner.info.context_length,
            });
        }
        let chunk = self.inner.prefill_chunk;
        s.feed(ids, chunk, &self.inner.device)?;
        s.logits
            .clone()
            .ok_or_else(|| LmError::Backend("no logits".into()))
    }

    /// llama.cpp models: the most calls one decode step has batched so far (`None` on candle,
    /// which serves calls one at a time).
    pub fn peak_batch(&self) -> Option<usize> {
        match &self.inner.engine {
            Engine::Candle(_) => None,
            #[cfg(feature = "llamacpp")]
            Engine::Llama(e) => Some(e.peak_batch()),
        }
    }

    /// Tokens held in the KV cache.
    pub fn cached_tokens(&self) -> usize {
        self.lock().map(|s| s.tokens.len()).unwrap_or(0)
    }

    /// The candle session (an error on llama.cpp models, which keep their caches on the
    /// engine thread).
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Session>, LmError> {
        match &self.inner.engine {
            Engine::Candle(s) => s
                .lock()
                .map_err(|_| LmError::Backend("model state poisoned by an earlier panic".into())),
            #[cfg(feature = "llamacpp")]
            Engine::Llama(_) => Err(LmError::Unsupported(
                "direct cache access: only candle models (this one runs on llama.cpp)".into(),
            )),
        }
    }

    /// Generate a reply, calling `on_text` with each released piece of text (return `false` to
    /// stop). With tools offered, the reply's `<tool_call>` blocks are parsed into calls and
    /// left out of the text (and out of the pieces: nothing is released until the end).
    /// Blocking: call from a blocking thread.
    pub fn chat_blocking(
        &self,
        messages: &[Message],
        params: &GenParams,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Completion, LmError> {
        let start = Instant::now();
        let inner = &*self.inner;
        if params.max_new_tokens == 0 {
            return Err(LmError::Request("max_new_tokens must be at least 1".into()));
        }
        let ctx = inner.info.context_length;
        let fitted = context::fit(messages, ctx, params.max_new_tokens, |ms| {
            let text = inner.template.render_with_tools(ms, &params.tools, true)?;
            self.encode(&text)
        })?;
        if fitted.tokens.is_empty() {
            return Err(LmError::Request(
                "the chat template rendered an empty prompt".into(),
            ));
        }
        let tools = !params.tools.is_empty();
        let mut quiet = |_: &str| true;
        let sink: &mut dyn FnMut(&str) -> bool = if tools { &mut quiet } else { on_text };
        let mut c = self.generate(&fitted.tokens, fitted.max_new_tokens, params, sink)?;
        if tools {
            let id = format!("call_{}", CALLS.fetch_add(1, Ordering::Relaxed));
            match tool_calls::parse(&c.text, &id) {
                Ok((content, calls)) => {
                    c.text = content;
                    c.tool_calls = calls;
                }
                // Returned as text: the caller shows the model its malformed call.
                Err(e) => push_note(&mut c, format!("tool calls: {e}")),
            }
            if !c.text.is_empty() {
                on_text(&c.text);
            }
        }
        if let Some(n) = fitted.note {
            push_note(&mut c, n);
        }
        c.ms = start.elapsed().as_millis() as u64;
        Ok(c)
    }

    /// Continue raw `prompt` text (no chat template). Blocking, like
    /// [`chat_blocking`](Self::chat_blocking).
    pub fn complete_blocking(
        &self,
        prompt: &str,
        params: &GenParams,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Completion, LmError> {
        let start = Instant::now();
        if params.max_new_tokens == 0 {
            return Err(LmError::Request("max_new_tokens must be at least 1".into()));
        }
        let ids = self.encode(prompt)?;
        if ids.is_empty() {
            return Err(LmError::Request("the prompt is empty".into()));
        }
        let ctx = self.inner.info.context_length;
        if ids.len() >= ctx {
            return Err(LmError::PromptTooLong {
                tokens: ids.len(),
                context: ctx,
            });
        }
        let max_new = params.max_new_tokens.min(ctx - ids.len());
        let mut c = self.generate(&ids, max_new, params, on_text)?;
        c.ms = start.elapsed().as_millis() as u64;
        Ok(c)
    }

    /// The token source of either backend: from `prompt` up to `max_new` tokens, each passed
    /// to `on_token` with its logits (llama.cpp: only when log-probabilities are asked for).
    fn tokens(
        &self,
        prompt: &[u32],
        max_new: usize,
        params: &GenParams,
        on_token: &mut OnToken<'_>,
    ) -> Result<Run, LmError> {
        match &self.inner.engine {
            Engine::Candle(_) => {
                let mut session = self.lock()?;
                candle_tokens(&mut session, &self.inner, prompt, max_new, params, on_token)
            }
            #[cfg(feature = "llamacpp")]
            Engine::Llama(e) => e.generate(prompt, max_new, params, on_token),
        }
    }

    /// Up to `max_new` tokens after the token ids `prompt` (no template, no stop strings; a
    /// stop token ends it), each passed to `on_token`; returns how many prompt tokens were
    /// reused from the cache. The loop the benchmarks time, on either backend; concurrent calls
    /// on a llama.cpp model are batched.
    pub fn generate_ids(
        &self,
        prompt: &[u32],
        max_new: usize,
        params: &GenParams,
        on_token: &mut dyn FnMut(u32),
    ) -> Result<usize, LmError> {
        let stop = &self.inner.stop_ids;
        let mut f = |t: u32, _: &[f32]| {
            if stop.contains(&t) {
                return Ok(Flow::Done);
            }
            on_token(t);
            Ok(Flow::More)
        };
        Ok(self.tokens(prompt, max_new, params, &mut f)?.reused)
    }

    /// The decode loop shared by chats and raw completions: from `prompt` (through the KV
    /// cache) up to `max_new` tokens, stop tokens and stop strings honoured.
    fn generate(
        &self,
        prompt: &[u32],
        max_new: usize,
        params: &GenParams,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Completion, LmError> {
        let inner = &*self.inner;
        let ctx = inner.info.context_length;
        let mut scanner = StopScanner::new(&params.stop);
        let mut out: Vec<u32> = Vec::new();
        let mut logprobs = params.logprobs.map(|_| Vec::new());
        let mut decoded = 0usize;
        let mut finish = FinishReason::Length;
        let mut on_token = |next: u32, logits: &[f32]| -> Result<Flow, LmError> {
            if inner.stop_ids.contains(&next) {
                finish = FinishReason::Stop;
                return Ok(Flow::Done);
            }
            out.push(next);
            let text = self.decode(&out)?;
            if let (Some(lp), Some(k)) = (logprobs.as_mut(), params.logprobs) {
                // What this token added; the pieces concatenate to the decoded text.
                // A token ending inside a character adds nothing until the character is whole.
                let added = if text.ends_with('\u{FFFD}') {
                    String::new()
                } else {
                    let a = text.get(decoded..).unwrap_or_default().to_string();
                    decoded = text.len();
                    a
                };
                lp.push(self.token_logprob(logits, next, added, k)?);
            }
            let piece = scanner.update(&text);
            if !piece.is_empty() && !on_text(&piece) {
                finish = FinishReason::Cancelled;
                return Ok(Flow::Done);
            }
            if scanner.stopped() {
                finish = FinishReason::Stop;
                return Ok(Flow::Done);
            }
            Ok(Flow::More)
        };
        let run = self.tokens(prompt, max_new, params, &mut on_token)?;
        let reused = run.reused;
        let window_full = run.window_full;
        // Bytes still waiting for the rest of a character belong to the last token.
        if let (Some(last), Ok(text)) = (
            logprobs.as_mut().and_then(|l| l.last_mut()),
            self.decode(&out),
        ) && let Some(rest) = text.get(decoded..).filter(|r| !r.is_empty())
        {
            last.token.push_str(rest);
            last.bytes = last.token.as_bytes().to_vec();
        }
        if finish != FinishReason::Cancelled {
            let rest = scanner.finish();
            if !rest.is_empty() {
                on_text(&rest);
            }
        }
        let mut c = Completion {
            text: scanner.text().to_string(),
            logprobs,
            tokens_in: prompt.len() as u64,
            tokens_out: out.len() as u64,
            tokens_cached: reused as u64,
            finish,
            model: inner.info.name.clone(),
            ..Completion::default()
        };
        if window_full {
            push_note(&mut c, format!("context: the {ctx}-token window is full"));
        }
        Ok(c)
    }

    /// `token`'s log-probability under `logits` (log-softmax, in f64) and the `top` most likely
    /// tokens, highest first, ties by the lower id. `text` is what the token added to the reply
    /// (empty for a token that holds only part of a character: the next one carries it).
    fn token_logprob(
        &self,
        logits: &[f32],
        token: u32,
        text: String,
        top: usize,
    ) -> Result<TokenLogprob, LmError> {
        let max = logits
            .iter()
            .filter(|l| !l.is_nan())
            .fold(f64::NEG_INFINITY, |m, &l| m.max(f64::from(l)));
        let lse = max
            + logits
                .iter()
                .filter(|l| !l.is_nan())
                .map(|&l| (f64::from(l) - max).exp())
                .sum::<f64>()
                .ln();
        let lp = |id: u32| match logits.get(id as usize) {
            Some(l) if !l.is_nan() => f64::from(*l) - lse,
            _ => f64::NEG_INFINITY,
        };
        let mut best = Vec::new();
        if top > 0 && !logits.is_empty() {
            let mut ids: Vec<u32> = (0..logits.len() as u32).collect();
            let order = |a: &u32, b: &u32| lp(*b).total_cmp(&lp(*a)).then(a.cmp(b));
            let k = top.min(ids.len());
            if k < ids.len() {
                ids.select_nth_unstable_by(k - 1, order);
                ids.truncate(k);
            }
            ids.sort_by(order);
            for id in ids {
                best.push((self.decode(&[id])?, lp(id)));
            }
        }
        Ok(TokenLogprob {
            bytes: text.as_bytes().to_vec(),
            token: text,
            logprob: lp(token),
            top: best,
        })
    }
}

/// candle's token source: the session's cache brought to `prompt`, then one forward pass per
/// sampled token until `on_token` is done, `max_new` tokens, or the window is full.
fn candle_tokens(
    session: &mut Session,
    inner: &Inner,
    prompt: &[u32],
    max_new: usize,
    params: &GenParams,
    on_token: &mut OnToken<'_>,
) -> Result<Run, LmError> {
    let ctx = inner.info.context_length;
    let (mut logits, reused) = session.prepare(prompt, inner.prefill_chunk, &inner.device)?;
    let mut sampler = Sampler::new(params);
    let mut run = Run {
        reused,
        window_full: false,
    };
    for step in 0..max_new {
        let next = sampler.sample(&logits);
        if let Flow::Done = on_token(next, &logits)? {
            break;
        }
        if step + 1 == max_new {
            break;
        }
        if session.tokens.len() >= ctx {
            run.window_full = true;
            break;
        }
        let offset = session.tokens.len();
        session.logits = None;
        logits = match session.net.forward(&[next], offset, &inner.device) {
            Ok(l) => l,
            Err(e) => {
                session.reset();
                session.snapshot = None;
                return Err(e);
            }
        };
        session.tokens.push(next);
        session.logits = Some(logits.clone());
    }
    Ok(run)
}

fn push_note(c: &mut Completion, note: String) {
    c.note = Some(match c.note.take() {
        Some(n) => format!("{n}; {note}"),
        None => note,
    });
}

#[async_trait]
impl LanguageModel for CandleModel {
    fn name(&self) -> &str {
        &self.inner.info.name
    }

    fn context_length(&self) -> Option<usize> {
        Some(self.inner.info.context_length)
    }

    fn renders_tools(&self) -> bool {
        self.inner.template.supports_tools()
    }

    async fn chat(&self, messages: &[Message], params: &GenParams) -> Result<Completion, LmError> {
        let this = self.clone();
        let messages = messages.to_vec();
        let params = params.clone();
        tokio::task::spawn_blocking(move || this.chat_blocking(&messages, &params, &mut |_| true))
            .await
            .map_err(|e| LmError::Backend(format!("generation worker: {e}")))?
    }

    async fn complete(&self, prompt: &str, params: &GenParams) -> Result<Completion, LmError> {
        let this = self.clone();
        let prompt = prompt.to_string();
        let params = params.clone();
        tokio::task::spawn_blocking(move || this.complete_blocking(&prompt, &params, &mut |_| true))
            .await
            .map_err(|e| LmError::Backend(format!("generation worker: {e}")))?
    }

    async fn complete_stream(
        &self,
        prompt: &str,
        params: &GenParams,
        sink: UnboundedSender<String>,
    ) -> Result<Completion, LmError> {
        let this = self.clone();
        let prompt = prompt.to_string();
        let params = params.clone();
        tokio::task::spawn_blocking(move || {
            this.complete_blocking(&prompt, &params, &mut |piece| {
                sink.send(piece.to_string()).is_ok()
            })
        })
        .await
        .map_err(|e| LmError::Backend(format!("generation worker: {e}")))?
    }

    async fn chat_stream(
        &self,
        messages: &[Message],
        params: &GenParams,
        sink: UnboundedSender<String>,
    ) -> Result<Completion, LmError> {
        let this = self.clone();
        let messages = messages.to_vec();
        let params = params.clone();
        tokio::task::spawn_blocking(move || {
            this.chat_blocking(&messages, &params, &mut |piece| {
                sink.send(piece.to_string()).is_ok()
            })
        })
        .await
        .map_err(|e| LmError::Backend(format!("generation worker: {e}")))?
    }
}
