//! `protege run` and `protege eval`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use protege_datasets::{TaskSet, mini};
use protege_harness::events::{EventSink, Fanout, JsonLines};
use protege_harness::grader::Engines;
use protege_harness::grading::rules::GraderChoice;
use protege_harness::progress::ProgressDisplay;
use protege_harness::runner::{self, RunConfig, SandboxKind};
use protege_harness::sets;
use protege_policies::Policy;
use protege_policies::agent::{AgentConfig, AgentPolicy, models};
use protege_policies::agentless::{AgentlessConfig, AgentlessPolicy};
use protege_policies::builtin::{self, Replay};
use protege_results::manifest::Manifest;
use protege_results::reward::RewardConfig;
use protege_results::summary::RunSummary;

use super::common::{GradingNetworkArgs, K8sArgs, container_limits, load_dataset};
use super::exit::Exit;
use super::report::{eprint_tables, print_tables, write_tables};
use super::{DatasetArgs, OutArgs};

#[derive(Args, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub data: DatasetArgs,
    /// gold, empty, replay:PATH (a SWE-bench predictions file), agent (a small model that
    /// may ask an expert), or agentless (localize, repair, validate, select with --slm).
    #[arg(long, default_value = "gold")]
    pub policy: String,
    /// The agent's (or agentless pipeline's) small model: smollm2 (built in), a model directory, a .gguf file, or an
    /// OpenAI-compatible endpoint http(s)://HOST/v1[#MODEL].
    #[arg(long)]
    pub slm: Option<String>,
    /// The agent's expert, named like --slm (none by default).
    #[arg(long)]
    pub expert: Option<String>,
    #[command(flatten)]
    pub common: CommonRunArgs,
}

#[derive(Args, Clone)]
pub struct EvalArgs {
    /// SWE-bench predictions: JSONL or a JSON list of {instance_id, model_name_or_path, model_patch}.
    #[arg(long)]
    pub predictions: PathBuf,
    /// The task set the predictions are for (default: mini when every prediction is a built-in
    /// task, else verified).
    #[arg(long)]
    pub dataset: Option<String>,
    #[arg(long)]
    pub instances: Vec<String>,
    /// Image names for a private registry (see `protege run --help`).
    #[arg(long)]
    pub image_template: Option<String>,
    /// SWE-smith's start state: patch (default) or branch (see `protege run --help`).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(protege_harness::sets::swe_smith::Start::NAMES))]
    pub swe_smith_start: Option<String>,
    #[command(flatten)]
    pub common: CommonRunArgs,
}

#[derive(Args, Clone)]
pub struct CommonRunArgs {
    /// docker, k8s (pods on the cluster KUBECONFIG names: docs/kubernetes.md), wasi, or auto
    /// (WASI where the task's spec allows it, Docker otherwise). Default: docker when an engine
    /// answers, else wasi (in builds with WASI).
    #[arg(long)]
    pub sandbox: Option<String>,
    #[command(flatten)]
    pub k8s: K8sArgs,
    /// Instances evaluated at once.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// The run's name; rerunning with the same id resumes it. Default: <dataset>__<policy>.
    #[arg(long)]
    pub run_id: Option<String>,
    #[command(flatten)]
    pub out: OutArgs,
    #[cfg(feature = "docker")]
    #[command(flatten)]
    pub images: super::images::PipelineArgs,
    /// Deadline of one test run, seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    /// Re-run an unresolved instance's evaluation up to N times to find flaky tests.
    #[arg(long, default_value_t = 0)]
    pub reruns: usize,
    /// The official harness version whose rules evaluate and grade: swebench-5 (the current
    /// official rules), swebench-4 (4.1.0), swebench-2, or auto (the default): the version the
    /// task set's own harness is (SWE-Gym's fork of 2.0.13: swebench-2; every other set:
    /// swebench-5).
    #[arg(long, default_value = "auto")]
    pub grader: String,
    #[command(flatten)]
    pub network: GradingNetworkArgs,
    /// Memory limit of a test container, MiB.
    #[arg(long, default_value_t = 4096)]
    pub memory_mib: i64,
    /// Process limit of a test container.
    #[arg(long, default_value_t = 1024)]
    pub pids: i64,
    /// No progress display, no per-instance lines.
    #[arg(long)]
    pub quiet: bool,
    /// Also write every run event as a JSON line to FILE (appended), or to stdout with `-`
    /// (the tables then go to stderr). Fields: docs/events.md.
    #[arg(long, value_name = "FILE|-")]
    pub events: Option<PathBuf>,
    /// A JSON file with `agent` (limits, expert budget, sampling), `agentless` (candidates,
    /// localization, validation, sampling) and `reward` (coefficients) sections; missing keys
    /// keep their defaults.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// The `--config` file.
#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigFile {
    pub agent: AgentConfig,
    pub agentless: AgentlessConfig,
    pub reward: RewardConfig,
}

pub fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<ConfigFile> {
    let Some(path) = path else {
        return Ok(ConfigFile::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --config {}", path.display()))?;
    let mut config: ConfigFile = serde_json::from_str(&text)
        .with_context(|| format!("--config {}: not a valid protege config", path.display()))?;
    config
        .reward
        .validate()
        .map_err(|e| anyhow::anyhow!("--config {}: {e}", path.display()))?;
    // The paper reward scores expert calls by the expert's judgement: judge them.
    config.agent.judge.enabled |= config.reward.needs_judge();
    Ok(config)
}

impl RunArgs {
    /// `protege` with no arguments: the gold patches of the built-in mini set, graded in Docker.
    pub fn default_job() -> RunArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            args: RunArgs,
        }
        Wrap::parse_from(["protege"]).args
    }
}

fn sanitize(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.trim_matches('_').chars().take(80).collect()
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut set = load_dataset(&args.data)?;
    let mut replay_model = None;
    let (policy, sha): (Arc<dyn Policy>, Option<String>) = match args.policy.strip_prefix("replay:")
    {
        Some(path) => {
            let replay = load_replay(&PathBuf::from(path))?;
            let sha = Some(replay.predictions.sha256.clone());
            replay_model = Some(model_of(&replay, Some(&replay)));
            (Arc::new(replay), sha)
        }
        None if args.policy == "agent" => {
            let config = load_config(args.common.config.as_deref())?;
            let slm_spec = args.slm.as_deref().unwrap_or(models::DEFAULT_SLM);
            let slm = models::from_spec(slm_spec).with_context(|| format!("--slm {slm_spec}"))?;
            let expert = match args.expert.as_deref() {
                Some(e) => Some(models::from_spec(e).with_context(|| format!("--expert {e}"))?),
                None => None,
            };
            (
                Arc::new(AgentPolicy {
                    slm,
                    expert,
                    config: config.agent,
                }),
                None,
            )
        }
        None if args.policy == "agentless" => {
            if args.expert.is_some() {
                bail!("--expert is for --policy agent; agentless uses only --slm");
            }
            let config = load_config(args.common.config.as_deref())?;
            let spec = args.slm.as_deref().unwrap_or(models::DEFAULT_SLM);
            let model = models::from_spec(spec).with_context(|| format!("--slm {spec}"))?;
            (
                Arc::new(AgentlessPolicy {
                    model,
                    config: config.agentless,
                }),
                None,
            )
        }
        None => (Arc::from(builtin::from_name(&args.policy)?), None),
    };
    let model = replay_model.unwrap_or_else(|| model_of(policy.as_ref(), None));
    let scope = Scope::before_restricting(&set, model);
    restrict_to_policy(&mut set, policy.as_ref());
    let label = if args.policy == "agent" || args.policy == "agentless" {
        policy.name()
    } else {
        args.policy.clone()
    };
    execute(set, policy, &label, sha, scope, args.common).await
}

/// What the official run summary needs beyond the records: the task set before it was
/// restricted to the predicted instances (the official `total_instances`), and the model.
struct Scope {
    instances: Vec<String>,
    model: String,
}

impl Scope {
    fn before_restricting(set: &TaskSet, model: String) -> Scope {
        Scope {
            instances: set.tasks.iter().map(|t| t.instance_id.clone()).collect(),
            model,
        }
    }
}

/// The summary's `<model>`: the predictions' `model_name_or_path` (that of the first instance
/// id naming one) for replayed predictions, as the official harness names its file; the
/// policy's name otherwise (`gold`, `agent:<slm>…`).
fn model_of(policy: &dyn Policy, replay: Option<&Replay>) -> String {
    let named = replay.and_then(|r| {
        r.predictions
            .by_id
            .iter()
            .filter(|(_, p)| !p.model_name_or_path.is_empty())
            .min_by(|a, b| a.0.cmp(b.0))
            .map(|(_, p)| p.model_name_or_path.clone())
    });
    named.unwrap_or_else(|| policy.name())
}

/// Loads a predictions file, reporting its malformed rows and duplicates on stderr.
fn load_replay(path: &std::path::Path) -> anyhow::Result<Replay> {
    let replay = Replay::load(path)?;
    for w in &replay.predictions.warnings {
        eprintln!("warning: {w}");
    }
    Ok(replay)
}

pub async fn eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let replay = load_replay(&args.predictions)?;
    let dataset = match args.dataset {
        Some(d) => d,
        None if !replay.predictions.by_id.is_empty()
            && replay.predictions.by_id.keys().all(|id| mini::is_mini(id)) =>
        {
            "mini".into()
        }
        None => "verified".into(),
    };
    let mut set = load_dataset(&DatasetArgs {
        dataset,
        instances: args.instances,
        image_template: args.image_template,
        swe_smith_start: args.swe_smith_start,
    })?;
    let sha = replay.predictions.sha256.clone();
    let scope = Scope::before_restricting(&set, model_of(&replay, Some(&replay)));
    let policy: Arc<dyn Policy> = Arc::new(replay);
    restrict_to_policy(&mut set, policy.as_ref());
    let name = format!(
        "preds-{}",
        args.predictions
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default()
    );
    execute(set, policy, &name, Some(sha), scope, args.common).await
}

/// The `--events` sink: `-` is stdout, anything else a file appended to (a resumed run's events
/// follow the earlier ones).
pub(super) fn events_file(path: &std::path::Path) -> anyhow::Result<JsonLines> {
    if path == std::path::Path::new("-") {
        return Ok(JsonLines::new(Box::new(std::io::stdout())));
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("--events {}: cannot open for writing", path.display()))?;
    Ok(JsonLines::new(Box::new(file)))
}

/// Docker when an engine answers (with it); otherwise WASI where this build has it (saying so),
/// else Docker, whose connection error then says how to start it.
#[cfg(feature = "docker")]
pub(super) async fn default_sandbox() -> (String, Option<Engines>) {
    match protege_sandboxes::docker::DockerEngine::connect().await {
        Ok(engine) => ("docker".into(), Some(Engines::docker(Ok(engine)))),
        Err(_) if !cfg!(feature = "wasi") => ("docker".into(), None),
        Err(_) => {
            eprintln!("note: no Docker engine answers; grading under WASI (--sandbox wasi)");
            ("wasi".into(), Some(Engines::none()))
        }
    }
}

/// Without Docker in the build: WASI.
#[cfg(not(feature = "docker"))]
pub(super) async fn default_sandbox() -> (String, Option<Engines>) {
    ("wasi".into(), Some(Engines::none()))
}

/// A replayed predictions file is evaluated on the instances it predicts, as the official
/// harness does; predictions for instances the set lacks are reported, not graded.
fn restrict_to_policy(set: &mut TaskSet, policy: &dyn Policy) {
    let Some(ids) = policy.instances() else {
        return;
    };
    for id in &ids {
        if set.get(id).is_none() {
            eprintln!(
                "warning: prediction for `{id}` names no instance of dataset {}; skipped",
                set.name
            );
        }
    }
    set.tasks
        .retain(|t| ids.binary_search(&t.instance_id).is_ok());
}

async fn execute(
    set: TaskSet,
    policy: Arc<dyn Policy>,
    policy_label: &str,
    predictions_sha256: Option<String>,
    scope: Scope,
    c: CommonRunArgs,
) -> anyhow::Result<ExitCode> {
    if set.tasks.is_empty() {
        bail!(
            "no tasks to run in dataset {} (check --instances and the predictions' ids)",
            set.name
        );
    }
    // the engine the default choice connected to is the one the run uses
    let (sandbox_name, engines) = match &c.sandbox {
        Some(s) => (s.clone(), None),
        None => default_sandbox().await,
    };
    let sandbox = SandboxKind::parse(&sandbox_name).map_err(anyhow::Error::msg)?;
    let dataset_label = if set.name.contains('/') || set.name.contains('.') {
        PathBuf::from(&set.name)
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default()
    } else {
        set.name.clone()
    };
    let run_id = c
        .run_id
        .clone()
        .unwrap_or_else(|| sanitize(&format!("{dataset_label}__{policy_label}")));
    let out_dir = c.out.out.join(&run_id);
    let rules = GraderChoice::parse(&c.grader)
        .map_err(|e| anyhow::anyhow!("--grader: {e}"))?
        .for_new_runs_of(sets::harness_rules(&set.tasks));
    let (grading_network, index) = c.network.settings()?;
    let cfg = RunConfig {
        run_id: run_id.clone(),
        out_dir: out_dir.clone(),
        workers: c.workers,
        sandbox,
        test_timeout: Duration::from_secs(c.timeout),
        reruns: c.reruns,
        limits: container_limits(c.memory_mib, c.pids),
        reward: load_config(c.config.as_deref())?.reward,
        rules,
        grading_network,
        index,
        k8s: c.k8s.options()?,
        engines,
        #[cfg(feature = "docker")]
        images: c.images.settings()?,
    };
    let manifest = Manifest {
        run_id: run_id.clone(),
        protege_version: env!("CARGO_PKG_VERSION").into(),
        protege_commit: env!("PROTEGE_GIT_COMMIT").into(),
        dataset: set.name.clone(),
        dataset_sha256: set.sha256.clone(),
        predictions_sha256,
        policy: policy.name(),
        sandbox: sandbox_name.clone(),
        grader: rules.name().into(),
        // filled in by the runner, which sets the network up
        grading_network: None,
        config: {
            let file = load_config(c.config.as_deref())?;
            let mut config = serde_json::json!({
            "workers": c.workers,
            "test_timeout_s": c.timeout,
            "reruns": c.reruns,
            "memory_mib": c.memory_mib,
            "pids": c.pids,
            "instances_filter": set.tasks.len(),
            "harness": runner::HARNESS_VERSION,
            "reward": file.reward,
            });
            if sandbox == SandboxKind::K8s {
                config["k8s"] = c.k8s.manifest_note();
            }
            // The model policies' settings, so that a run can be repeated from its manifest.
            let name = policy.name();
            if name.starts_with("agent:") {
                config["agent"] = serde_json::to_value(&file.agent)?;
            } else if name.starts_with("agentless:") {
                config["agentless"] = serde_json::to_value(&file.agentless)?;
            }
            config
        },
        instances: set
            .tasks
            .iter()
            .map(|t| (t.instance_id.clone(), t.repo.clone()))
            .collect(),
        environments: Default::default(),
        images: None,
    };
    let events_to_stdout = c.events.as_deref() == Some(std::path::Path::new("-"));
    let mut sinks: Vec<Box<dyn EventSink>> = vec![Box::new(ProgressDisplay::for_stderr(c.quiet))];
    if let Some(path) = &c.events {
        sinks.push(Box::new(events_file(path)?));
    }
    let outcome = runner::run(&set, policy, cfg, manifest.clone(), Arc::new(Fanout(sinks)))
        .await
        .with_context(|| format!("run {run_id}"))?;
    for w in &outcome.warnings {
        eprintln!("warning: {w}");
    }
    let repos: Vec<&str> = set.tasks.iter().map(|t| t.repo.as_str()).collect();
    let refs: Vec<_> = outcome.records.iter().collect();
    let tables = write_tables(&out_dir, &repos, &refs)?;
    if events_to_stdout {
        // stdout is the event stream; keep it JSON Lines only.
        eprint_tables(&tables);
    } else {
        print_tables(&tables);
    }
    let submitted = set.tasks.iter().map(|t| t.instance_id.as_str());
    let summary =
        RunSummary::from_records(scope.instances.iter().map(String::as_str), submitted, &refs);
    let path = summary
        .write(&out_dir, &scope.model, &run_id)
        .with_context(|| format!("writing the run summary into {}", out_dir.display()))?;
    eprintln!("run summary (official shape): {}", path.display());
    eprintln!(
        "results: {} ({} graded, {} kept from an earlier run)",
        out_dir.display(),
        outcome.graded,
        outcome.skipped
    );
    if let Some(signal) = outcome.cancelled {
        eprintln!(
            "interrupted ({}): finished records are kept; rerun the same command to resume",
            signal.name()
        );
        return Ok(Exit::Stopped(signal).into());
    }
    let infra = outcome
        .records
        .iter()
        .filter(|r| r.verdict.outcome.is_infrastructure())
        .count();
    if infra > 0 {
        eprintln!(
            "{infra} instance(s) hit infrastructure errors (see the instances table); rerun to retry them"
        );
        return Ok(Exit::InfraErrors.into());
    }
    Ok(Exit::Success.into())
}
