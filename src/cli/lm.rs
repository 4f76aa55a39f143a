//! `protege lm`: the language-model layer from the command line. `serve` puts a local model
//! (candle) behind the OpenAI-compatible chat-completions API; `generate` asks one question of a
//! local model or an HTTP endpoint; `fetch` downloads a built-in model into the cache.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use super::exit::Exit;
use anyhow::Context as _;
use protege_policies::lm::http::{HttpConfig, HttpModel};
use protege_policies::lm::{GenParams, LanguageModel, LoadOptions, Message, fetch};

#[derive(clap::Subcommand)]
pub enum LmCommand {
    /// Serve a local model over the OpenAI-compatible API (POST /v1/chat/completions, with
    /// `stream: true` as server-sent events; GET /v1/models).
    Serve(ServeArgs),
    /// Generate one reply and print it as it is produced.
    Generate(GenerateArgs),
    /// Download a built-in model into the cache (sha256-checked) and print its path.
    Fetch {
        /// The alias.
        #[arg(default_value = "smollm2")]
        model: String,
    },
}

/// Which local model, and how to run it.
#[derive(clap::Args, Clone)]
pub struct ModelArgs {
    /// `smollm2` (built in, fetched on first use), a Hugging Face model directory (Qwen2 /
    /// Qwen2.5 safetensors), or a .gguf file (llama, qwen2).
    #[arg(long, default_value = "smollm2")]
    pub model: String,
    /// f32, bf16 or f16 (safetensors models). Default: f32 on CPU, bf16 on CUDA.
    #[arg(long)]
    pub dtype: Option<String>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long)]
    pub device: Option<String>,
    /// Use at most this many tokens of context.
    #[arg(long)]
    pub context_length: Option<usize>,
}

impl ModelArgs {
    fn options(&self, name: Option<String>) -> LoadOptions {
        LoadOptions {
            dtype: self.dtype.clone(),
            device: self.device.clone(),
            context_length: self.context_length,
            name,
            ..LoadOptions::default()
        }
    }
}

/// Sampling settings (defaults: Qwen2.5's recommended ones).
#[derive(clap::Args, Clone)]
pub struct SamplingArgs {
    /// At most this many new tokens.
    #[arg(long, default_value_t = 512)]
    pub max_tokens: usize,
    /// 0 for greedy decoding.
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f64,
    #[arg(long, default_value_t = 0.8)]
    pub top_p: f64,
    /// 0 for no limit.
    #[arg(long, default_value_t = 20)]
    pub top_k: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop before this string (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
}

impl SamplingArgs {
    fn params(&self) -> GenParams {
        GenParams {
            max_new_tokens: self.max_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: (self.top_k > 0).then_some(self.top_k),
            seed: self.seed,
            stop: self.stop.clone(),
            ..GenParams::default()
        }
    }
}

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// The model name the API reports and accepts (default: the --model alias or file name).
    #[arg(long)]
    pub name: Option<String>,
    /// Defaults for requests that leave sampling settings out.
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

#[derive(clap::Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The user message (`-` reads it from standard input).
    #[arg(long)]
    pub prompt: String,
    /// A system message.
    #[arg(long)]
    pub system: Option<String>,
    /// Ask an OpenAI-compatible endpoint instead of a local model (`--model` is then the remote
    /// model's name; the key comes from PROTEGE_EXPERT_KEY or OPENAI_API_KEY).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Print the completion (text, token counts, timing, cost, notes) as JSON at the end,
    /// instead of streaming the text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

pub async fn lm(cmd: LmCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        LmCommand::Serve(a) => serve(a).await,
        LmCommand::Generate(a) => generate(a).await,
        LmCommand::Fetch { model } => {
            let m = fetch::builtin(&model).with_context(|| {
                let known: Vec<&str> = fetch::MODEL_ALIASES.iter().map(|m| m.alias).collect();
                format!("{model} is not a built-in model ({})", known.join(", "))
            })?;
            let path = tokio::task::spawn_blocking(move || fetch::ensure(m)).await??;
            println!("{}", path.display());
            Ok(Exit::Success.into())
        }
    }
}

async fn load(args: &ModelArgs, name: Option<String>) -> anyhow::Result<Arc<dyn LanguageModel>> {
    let spec = args.model.clone();
    let opts = args.options(name);
    eprintln!("lm: loading {spec} …");
    let m = tokio::task::spawn_blocking(move || protege_policies::lm::load_local(&spec, &opts))
        .await?
        .with_context(|| format!("cannot load model {}", args.model))?;
    Ok(m)
}

async fn serve(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let model = load(&a.model, a.name.clone()).await?;
    let name = model.name().to_string();
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    let ctx = model
        .context_length()
        .map_or(String::new(), |n| format!(", {n}-token context"));
    eprintln!("lm: serving {name}{ctx} at http://{addr}/v1 (Ctrl-C stops)");
    let router = protege_policies::lm::server::router(model, name, a.sampling.params());
    protege_policies::lm::server::serve(listener, router, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .context("server failed")?;
    eprintln!("lm: stopped");
    Ok(Exit::Success.into())
}

async fn generate(a: GenerateArgs) -> anyhow::Result<ExitCode> {
    let prompt = if a.prompt == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).context("reading stdin")?;
        s
    } else {
        a.prompt.clone()
    };
    let mut messages = Vec::new();
    if let Some(s) = &a.system {
        messages.push(Message::system(s.clone()));
    }
    messages.push(Message::user(prompt));
    let model: Arc<dyn LanguageModel> = match &a.base_url {
        Some(url) => {
            let mut cfg = HttpConfig::from_env(a.model.model.clone());
            cfg.base_url = url.clone();
            Arc::new(HttpModel::new(cfg)?)
        }
        None => load(&a.model, None).await?,
    };
    let params = a.sampling.params();
    let completion = if a.json {
        model.chat(&messages, &params).await?
    } else {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let printer = tokio::spawn(async move {
            let mut out = std::io::stdout();
            while let Some(piece) = rx.recv().await {
                let _ = out.write_all(piece.as_bytes());
                let _ = out.flush();
            }
        });
        let c = model.chat_stream(&messages, &params, tx).await;
        printer.await?;
        let c = c?;
        println!();
        c
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&completion)?);
    } else {
        let tps = if completion.ms > 0 {
            completion.tokens_out as f64 * 1000.0 / completion.ms as f64
        } else {
            0.0
        };
        eprintln!(
            "lm: {} prompt tokens ({} cached), {} new, {} ms ({tps:.1} tok/s overall), finish {:?}{}{}",
            completion.tokens_in,
            completion.tokens_cached,
            completion.tokens_out,
            completion.ms,
            completion.finish,
            if completion.cost > 0.0 {
                format!(", ${:.6}", completion.cost)
            } else {
                String::new()
            },
            completion
                .note
                .as_deref()
                .map_or(String::new(), |n| format!("; {n}")),
        );
    }
    Ok(Exit::Success.into())
}
