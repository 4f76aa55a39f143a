//! `protege serve`: episodes, grading and rollouts over HTTP for trainers (harness::serve).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use protege_harness::events::{EventSink, Fanout};
use protege_harness::grader::{Engines, Grader, SandboxKind};
use protege_harness::serve::{self, ServeConfig, Server};
use protege_harness::stop::StopSignals;
use protege_policies::agent::models;

use super::DatasetArgs;
use super::common::{GradingNetworkArgs, K8sArgs, container_limits, load_dataset};
use super::exit::Exit;
use super::run::{default_sandbox, events_file, load_config};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on. Anything but loopback requires --token.
    #[arg(long, default_value = "127.0.0.1:8377")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub data: DatasetArgs,
    /// The sandbox when a request names none: docker, k8s, wasi or auto. Default: docker when
    /// an engine answers, else wasi.
    #[arg(long)]
    pub sandbox: Option<String>,
    #[command(flatten)]
    pub k8s: K8sArgs,
    /// Sandboxes (episodes, gradings, rollout samples) alive at once; more requests wait.
    #[arg(long, default_value_t = 4)]
    pub max_sandboxes: usize,
    /// An episode with no request for this many seconds is closed and its sandbox removed.
    #[arg(long, default_value_t = 600)]
    pub episode_timeout: u64,
    /// Bearer token required on every route but /health and /openapi.json.
    #[arg(long, env = "PROTEGE_SERVE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The expert that answers `ask_expert` in episodes, named like `run --expert`.
    #[arg(long)]
    pub expert: Option<String>,
    /// A JSON file with `agent` and `reward` sections: the defaults requests override.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Deadline of one test run, seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    /// Label of this server's containers (`dev.protege.run`). Default: serve-<pid>-<time>.
    #[arg(long)]
    pub run_id: Option<String>,
    /// Memory limit of a container, MiB.
    #[arg(long, default_value_t = 4096)]
    pub memory_mib: i64,
    /// Process limit of a container.
    #[arg(long, default_value_t = 1024)]
    pub pids: i64,
    #[command(flatten)]
    pub network: GradingNetworkArgs,
    /// Write every step, grading and workspace failure as a JSON line to FILE (appended), or
    /// to stdout with `-`. Fields: docs/events.md.
    #[arg(long, value_name = "FILE|-")]
    pub events: Option<PathBuf>,
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    if !args.listen.ip().is_loopback() && args.token.as_deref().unwrap_or("").is_empty() {
        bail!(
            "--listen {}: not a loopback address, so a --token (or PROTEGE_SERVE_TOKEN) is required",
            args.listen
        );
    }
    let set = load_dataset(&args.data)?;
    if set.tasks.is_empty() {
        bail!("dataset {} has no tasks to serve", set.name);
    }
    let config = load_config(args.config.as_deref())?;
    let (sandbox_name, engines) = match &args.sandbox {
        Some(s) => (s.clone(), None),
        None => default_sandbox().await,
    };
    let sandbox = SandboxKind::parse(&sandbox_name).map_err(anyhow::Error::msg)?;
    let k8s = args.k8s.options()?;
    // the engines of the default sandbox, connected once; a request naming another backend
    // gets that engine's "not connected" error
    let engines = match engines {
        Some(e) => e,
        None => Engines::connect(sandbox.backends(), &k8s).await,
    };
    if sandbox == SandboxKind::K8s {
        engines.check(sandbox.backends())?;
    }
    let expert = match args.expert.as_deref() {
        Some(e) => Some(models::from_spec(e).with_context(|| format!("--expert {e}"))?),
        None => None,
    };
    // Every container this server starts carries this label, so shutdown removes them all.
    let run_id = args.run_id.clone().unwrap_or_else(|| {
        format!(
            "serve-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        )
    });
    let (grading_network, index) = args.network.settings()?;
    let mut grader = Grader::new(
        engines,
        run_id.clone(),
        container_limits(args.memory_mib, args.pids),
        Duration::from_secs(args.timeout),
        0,
    );
    grader
        .set_grading_network(grading_network, &index)
        .await
        .context("--grading-network")?;
    grader.k8s = k8s;
    // episodes are graded by the rules of the set's own harness, as `run --grader auto` does
    grader.rules = protege_harness::sets::harness_rules(&set.tasks);
    let events: Arc<dyn EventSink> = match &args.events {
        Some(path) => Arc::new(events_file(path)?),
        None => Arc::new(Fanout::default()),
    };
    let served = format!("{} tasks of {}", set.tasks.len(), set.name);
    let server = Server::new(
        ServeConfig {
            tasks: set,
            sandbox,
            max_sandboxes: args.max_sandboxes,
            idle_timeout: Duration::from_secs(args.episode_timeout),
            token: args.token.filter(|t| !t.is_empty()),
            agent: config.agent,
            reward: config.reward,
            expert,
            load_model: Arc::new(|spec: &str| models::from_spec(spec).map_err(|e| e.to_string())),
            events,
        },
        grader,
    );
    let stop = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("--listen {}", args.listen))?;
    let addr = listener.local_addr()?;
    eprintln!(
        "protege serve: listening on http://{addr} ({served}, sandbox {sandbox_name}, {} sandboxes at most)",
        args.max_sandboxes
    );
    let reaper = tokio::spawn(serve::reaper(server.clone()));
    axum::serve(listener, serve::router(server.clone()))
        .with_graceful_shutdown(stop)
        .await
        .context("serving")?;
    reaper.abort();
    eprintln!("protege serve: shutting down; closing episodes and removing containers");
    server.shutdown().await;
    Ok(Exit::Success.into())
}

/// Ctrl-C, SIGTERM or SIGHUP, listened to from the call on. Stopping is how a server ends, so
/// a signal ends it with 0 (what service managers expect), not with 128 + the signal as `run`.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let mut signals = StopSignals::install().context("listening for stop signals")?;
    Ok(async move {
        let s = signals.recv().await;
        eprintln!("protege serve: {} received", s.name());
    })
}
