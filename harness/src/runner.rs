//! The runner: every task of a set through policy → grading → record, N at once, resumable,
//! with clean cancellation. What happens is told as [`RunEvent`]s to the run's [`EventSink`]
//! (the progress display, the `--events` file): the runner draws nothing itself.
//!
//! Resuming: an instance is skipped when its latest record has the same cache key (task, patch,
//! spec, environment id, harness version) and was not an infrastructure error; anything else is
//! graded again and its new record appended.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use protege_datasets::{Task, TaskSet, sha256_hex};
use protege_policies::Policy;
use protege_policies::trajectory::Trajectory;
use protege_results::Record;
use protege_results::manifest::Manifest;
use protege_results::reward::RewardConfig;
use protege_results::store::RecordStore;
use protege_sandboxes::ContainerLimits;
use protege_sandboxes::SandboxError;
#[cfg(feature = "docker")]
use protege_sandboxes::docker::DockerEngine;

use crate::attempt::{self, Attempt, Graded};
use crate::events::{EventSink, PolicyEvents, RunEvent};
use crate::grader::{Backend, Engines, Environment, Grader, K8sOptions};
use crate::grading::EvalOutcome;
use crate::grading::network::{GradingNetwork, IndexSettings};
use crate::grading::report::report_json;
use crate::grading::rules::Rules;
#[cfg(feature = "docker")]
use crate::images::{self, pipeline::ImagePipeline, pipeline::PullSettings};
use crate::specs::{self, Spec};
use crate::stop::{StopSignal, StopSignals};

pub use crate::grader::SandboxKind;

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunConfig {
    pub run_id: String,
    /// `results/<run_id>`.
    pub out_dir: PathBuf,
    pub workers: usize,
    pub sandbox: SandboxKind,
    pub test_timeout: Duration,
    /// Re-runs of a failing evaluation, to find flaky tests.
    pub reruns: usize,
    #[serde(skip)]
    pub limits: ContainerLimits,
    /// The reward stored with every record.
    pub reward: RewardConfig,
    /// The official version whose rules evaluate and grade (`--grader`).
    pub rules: Rules,
    /// What grading sandboxes reach (`--grading-network`, `--index-host`, `--index-url`).
    pub grading_network: GradingNetwork,
    pub index: IndexSettings,
    /// How `--sandbox k8s` makes pods.
    pub k8s: K8sOptions,
    /// Engines the caller already connected to (choosing the default sandbox); `None`: the
    /// runner connects to those the run's tasks need.
    #[serde(skip)]
    pub engines: Option<Engines>,
    /// How images are pulled: look-ahead, caps, retries, the disk budget.
    #[cfg(feature = "docker")]
    pub images: PullSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("{0}")]
    Io(String),
}

/// What a run did.
#[derive(Debug, Default)]
pub struct RunOutcome {
    /// The latest record of every task that has one, in task order.
    pub records: Vec<Record>,
    pub graded: usize,
    pub skipped: usize,
    /// The signal (Ctrl-C, SIGTERM, SIGHUP) that stopped the run before every task finished.
    pub cancelled: Option<StopSignal>,
    pub warnings: Vec<String>,
    /// Harness overhead per graded instance (wall − tests − policy), seconds.
    pub overheads: Vec<f64>,
}

/// Bump when grading changes in a way that must invalidate earlier records.
pub const HARNESS_VERSION: &str = concat!("protege-harness/", env!("CARGO_PKG_VERSION"), "/1");

struct Shared {
    cfg: RunConfig,
    policy: Arc<dyn Policy>,
    store: RecordStore,
    previous: BTreeMap<String, Record>,
    grader: Grader,
    environments: Mutex<BTreeMap<String, String>>,
    /// Serialises appends to `rollouts.jsonl`.
    rollouts: Mutex<()>,
    events: Arc<dyn EventSink>,
    /// How many instances workers have taken up: the look-ahead runs this far ahead of it.
    taken: tokio::sync::watch::Sender<usize>,
}

/// Runs every task, telling `events` what happens. Records already finished with the same cache
/// key are kept, not redone.
pub async fn run(
    tasks: &TaskSet,
    policy: Arc<dyn Policy>,
    cfg: RunConfig,
    mut manifest: Manifest,
    events: Arc<dyn EventSink>,
) -> Result<RunOutcome, RunError> {
    // Listening from the start: a stop signal from here on is a clean stop, never a kill.
    let mut signals = StopSignals::install()
        .map_err(|e| RunError::Io(format!("cannot listen for stop signals: {e}")))?;
    fs::create_dir_all(&cfg.out_dir)
        .map_err(|e| RunError::Io(format!("{}: {e}", cfg.out_dir.display())))?;
    let store = RecordStore::open(&cfg.out_dir.join("records.jsonl"))
        .map_err(|e| RunError::Io(format!("{}: {e}", cfg.out_dir.display())))?;
    let loaded = store.load();
    let mut outcome = RunOutcome {
        warnings: loaded.warnings.clone(),
        ..Default::default()
    };
    // each engine a task of the run needs, connected once; a run needing one that does not
    // answer stops here with its one clear error
    let backends: std::collections::BTreeSet<Backend> = tasks
        .tasks
        .iter()
        .filter(|t| specs::for_task(t).is_ok())
        .map(|t| cfg.sandbox.for_task(t))
        .collect();
    let engines = match &cfg.engines {
        Some(e) => e.clone(),
        None => Engines::connect(backends.iter().copied(), &cfg.k8s).await,
    };
    engines.check(backends.iter().copied())?;
    let mut grader = Grader::new(
        engines,
        cfg.run_id.clone(),
        cfg.limits.clone(),
        cfg.test_timeout,
        cfg.reruns,
    );
    events.emit(&RunEvent::RunStarted {
        run_id: cfg.run_id.clone(),
        policy: policy.name(),
        sandbox: manifest.sandbox.clone(),
        instances: tasks.tasks.len(),
        workers: cfg.workers.max(1),
    });
    grader.rules = cfg.rules;
    grader.k8s = cfg.k8s.clone();
    grader
        .set_grading_network(cfg.grading_network, &cfg.index)
        .await?;
    manifest.grading_network = Some(grader.egress.info());
    #[cfg(feature = "docker")]
    let docker_tasks: Vec<(usize, &Task)> = tasks
        .tasks
        .iter()
        .enumerate()
        .filter(|(_, t)| graded_in_docker(&cfg, t))
        .collect();
    #[cfg(feature = "docker")]
    let ahead = {
        let pulls = Arc::new(ImagePipeline::new(cfg.images.clone(), Some(events.clone())));
        pulls.plan(docker_tasks.iter().map(|(_, t)| *t));
        grader.images = pulls.clone();
        match grader.engine() {
            Some(engine) if cfg.images.lookahead > 0 && !docker_tasks.is_empty() => {
                let (engine, pulls) = (engine.clone(), pulls.clone());
                let todo: Vec<(usize, Task)> = docker_tasks
                    .iter()
                    .map(|(i, t)| (*i, (*t).clone()))
                    .collect();
                Some((engine, pulls, todo))
            }
            _ => None,
        }
    };
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        policy,
        store,
        previous: loaded.latest.into_iter().collect(),
        grader,
        environments: Mutex::default(),
        rollouts: Mutex::default(),
        events,
        taken: tokio::sync::watch::Sender::new(0),
    });
    #[cfg(feature = "docker")]
    let ahead = ahead.map(|(engine, pulls, todo)| {
        tokio::spawn(look_ahead(
            engine,
            pulls,
            todo,
            shared.taken.subscribe(),
            cfg.images.lookahead,
        ))
    });
    // without Docker there is nothing to pull ahead
    #[cfg(not(feature = "docker"))]
    let ahead: Option<tokio::task::JoinHandle<()>> = None;

    let workers = cfg.workers.max(1);
    let jobs = tasks.tasks.iter().enumerate().map(|(i, task)| {
        let shared = shared.clone();
        let task = task.clone();
        // the instance a worker takes up once this one's worker (or another) is free: `workers`
        // places on; one with an earlier record is most likely kept and would not use it
        #[cfg(feature = "docker")]
        let next = tasks
            .tasks
            .get(i + workers)
            .filter(|t| {
                cfg.images.lookahead > 0
                    && graded_in_docker(&cfg, t)
                    && !shared.previous.contains_key(&t.instance_id)
            })
            .cloned();
        #[cfg(not(feature = "docker"))]
        let _ = i;
        async move {
            shared.taken.send_modify(|n| *n += 1);
            #[cfg(feature = "docker")]
            if let Some(next) = next {
                shared.grader.plan_ahead(&task, next);
            }
            #[cfg(feature = "docker")]
            shared.grader.images.started(&task.instance_id);
            shared.events.emit(&RunEvent::InstanceStarted {
                instance_id: task.instance_id.clone(),
            });
            let result = one(&shared, &task).await;
            // one started for it and not used (a refused patch, a kept record) goes now
            #[cfg(feature = "docker")]
            shared.grader.discard_ahead(&task).await;
            #[cfg(feature = "docker")]
            shared.grader.images.finished(&task.instance_id);
            if let Ok((record, graded, _)) = &result {
                finished_events(shared.events.as_ref(), record, *graded);
            }
            result
        }
    });
    let mut stream = futures_util::stream::iter(jobs).buffer_unordered(workers);
    let mut finished: BTreeMap<String, Record> = BTreeMap::new();
    loop {
        tokio::select! {
            next = stream.next() => match next {
                None => break,
                Some(Ok((record, graded, overhead))) => {
                    if graded { outcome.graded += 1; outcome.overheads.extend(overhead); } else { outcome.skipped += 1; }
                    finished.insert(record.instance_id.clone(), record);
                }
                Some(Err(e)) => {
                    drop(stream);
                    if let Some(a) = &ahead { a.abort(); }
                    #[cfg(feature = "docker")]
                    shared.grader.close_ahead().await;
                    shared.grader.remove_all().await;
                    return Err(e);
                }
            },
            signal = signals.recv() => {
                outcome.cancelled = Some(signal);
                shared.events.emit(&RunEvent::Cancelled { signal });
                break;
            }
        }
    }
    drop(stream);
    if let Some(a) = &ahead {
        a.abort();
    }
    // Containers of cancelled instances: removed before returning, whichever signal stopped it.
    #[cfg(feature = "docker")]
    shared.grader.close_ahead().await;
    shared.grader.remove_all().await;
    outcome.records = tasks
        .tasks
        .iter()
        .filter_map(|t| finished.remove(&t.instance_id))
        .collect();
    manifest.environments = shared.environments.lock().expect("lock").clone();
    #[cfg(feature = "docker")]
    if shared.grader.engine().is_some() {
        manifest.images = Some(shared.grader.images.report());
    }
    fs::write(cfg.out_dir.join("manifest.json"), manifest.to_json())
        .map_err(|e| RunError::Io(format!("manifest.json: {e}")))?;
    shared.events.emit(&RunEvent::RunFinished {
        instances: tasks.tasks.len(),
        graded: outcome.graded,
        kept: outcome.skipped,
        resolved: outcome
            .records
            .iter()
            .filter(|r| r.verdict.resolved())
            .count(),
        cancelled: outcome.cancelled.is_some(),
    });
    Ok(outcome)
}

/// Whether `task` is graded in a Docker container (its images pulled, its container started
/// ahead): it has a spec and the run's sandbox choice puts it on Docker.
#[cfg(feature = "docker")]
fn graded_in_docker(cfg: &RunConfig, task: &Task) -> bool {
    specs::for_task(task).is_ok() && cfg.sandbox.for_task(task) == Backend::Docker
}

#[cfg(feature = "docker")]
/// Pulls the images of the instances up to `k` beyond those taken up, in task order, while the
/// workers grade; each instance's worker then finds its image present (or joins its pull).
async fn look_ahead(
    engine: DockerEngine,
    pulls: Arc<ImagePipeline>,
    todo: Vec<(usize, Task)>,
    mut taken: tokio::sync::watch::Receiver<usize>,
    k: usize,
) {
    let mut running = tokio::task::JoinSet::new();
    for (i, task) in todo {
        while i >= *taken.borrow_and_update() + k {
            if taken.changed().await.is_err() {
                return;
            }
        }
        let (engine, pulls) = (engine.clone(), pulls.clone());
        // A failure is the instance's to report: its worker gets the same pull's result.
        running.spawn(async move {
            let _ = images::resolve(&engine, &task, &pulls).await;
        });
    }
    while running.join_next().await.is_some() {}
}

/// What a finished instance tells the event stream; sent after its record is stored, so an
/// event never names a record that is not there.
fn finished_events(events: &dyn EventSink, record: &Record, graded: bool) {
    let instance_id = record.instance_id.clone();
    if !graded {
        events.emit(&RunEvent::Kept {
            instance_id,
            verdict: record.verdict.clone(),
        });
        return;
    }
    if let Some(e) = &record.verdict.infra_error {
        events.emit(&RunEvent::InfraError {
            instance_id: instance_id.clone(),
            kind: e.kind.clone(),
            message: e.message.clone(),
        });
    }
    events.emit(&RunEvent::Graded {
        instance_id,
        verdict: record.verdict.clone(),
        wall_ms: record.stats.wall_ms,
        test_ms: record.stats.test_ms,
    });
}

fn cache_key(
    task: &Task,
    patch: Option<&str>,
    spec: Option<&Spec>,
    sandbox: &str,
    env_id: &str,
    rules: Rules,
    grading_network: &str,
) -> String {
    let parts = [
        serde_json::to_string(task).expect("task serialises"),
        match patch {
            None => "<none>".into(),
            Some(p) => sha256_hex(p.as_bytes()),
        },
        spec.map(|s| serde_json::to_string(s).expect("spec serialises"))
            .unwrap_or_default(),
        sandbox.to_string(),
        env_id.to_string(),
        HARNESS_VERSION.to_string(),
        rules.name().to_string(),
        // an eval that installs packages can pass with the index and fail without it
        grading_network.to_string(),
    ];
    sha256_hex(parts.join("\0").as_bytes())
}

/// One instance: returns its record, whether it was graded now, and its overhead in seconds.
async fn one(shared: &Shared, task: &Task) -> Result<(Record, bool, Option<f64>), RunError> {
    let started = Instant::now();
    let env = environment(shared, task, started).await;
    // A policy that works in a workspace (a model) is costly and not repeatable: its key names
    // the policy instead of the patch it would make, and is checked before it runs.
    let workspace_key = shared.policy.needs_workspace().then(|| {
        let label = format!("<policy {}>", shared.policy.name());
        key_of(task, Some(&label), &env, &shared.grader)
    });
    if let Some(prev) = workspace_key
        .as_deref()
        .and_then(|k| kept(shared, task, &env, k))
    {
        return Ok((prev, false, None));
    }
    let solved = solve(shared, task, &env).await;
    let key = workspace_key
        .unwrap_or_else(|| key_of(task, solved.patch.as_deref(), &env, &shared.grader));
    if let Some(prev) = kept(shared, task, &env, &key) {
        return Ok((prev, false, None));
    }
    let attempt = Attempt {
        task,
        patch: solved.patch.as_deref(),
        trajectory: solved.trajectory.as_ref(),
        policy: shared.policy.name(),
        cache_key: key,
        started,
        policy_ms: solved.ms,
    };
    let graded = attempt::grade(&shared.grader, &env, attempt, &shared.cfg.reward).await;
    // The environment the tests ran in (none when the patch was refused before any sandbox).
    if !graded.eval.environment_id.is_empty() {
        note_environment(shared, task, &graded.eval.environment_id);
    }
    store(shared, task, &solved, &graded)?;
    let overhead = graded.record.stats.overhead_ms() as f64 / 1000.0;
    Ok((graded.record, true, Some(overhead)))
}

/// The environment the tests would run in, known before any work so that resuming is cheap.
async fn environment(shared: &Shared, task: &Task, started: Instant) -> Environment {
    let env = shared.grader.environment(task, shared.cfg.sandbox).await;
    if let Ok((image, _)) = &env.env {
        shared.events.emit(&RunEvent::ImageReady {
            instance_id: task.instance_id.clone(),
            sandbox: env.sandbox.to_string(),
            image: image.clone(),
            ms: started.elapsed().as_millis() as u64,
        });
    }
    env
}

fn key_of(task: &Task, patch: Option<&str>, env: &Environment, grader: &Grader) -> String {
    cache_key(
        task,
        patch,
        env.spec.as_ref().ok(),
        env.sandbox.name(),
        env.id(),
        grader.rules,
        grader.egress.mode.name(),
    )
}

/// The earlier record of `task` when it has this cache key and was not an infrastructure error.
fn kept(shared: &Shared, task: &Task, env: &Environment, key: &str) -> Option<Record> {
    let prev = shared.previous.get(&task.instance_id)?;
    if prev.cache_key != key || prev.verdict.outcome.is_infrastructure() {
        return None;
    }
    if let Ok((_, id)) = &env.env {
        note_environment(shared, task, id);
    }
    Some(prev.clone())
}

/// The manifest's record of the environment an instance ran in.
fn note_environment(shared: &Shared, task: &Task, id: &str) {
    shared
        .environments
        .lock()
        .expect("lock")
        .insert(task.instance_id.clone(), id.to_string());
}

/// What the policy made of the task.
struct Solved {
    patch: Option<String>,
    note: Option<String>,
    trajectory: Option<Trajectory>,
    ms: u64,
}

/// The policy's attempt (a workspace sandbox only for policies that need one), its steps told
/// to the event stream as they happen.
async fn solve(shared: &Shared, task: &Task, env: &Environment) -> Solved {
    let policy_started = Instant::now();
    let progress = PolicyEvents {
        instance_id: task.instance_id.clone(),
        sink: shared.events.clone(),
    };
    let attempt = if !shared.policy.needs_workspace() {
        shared.policy.solve_reporting(task, None, &progress).await
    } else {
        match shared.grader.open_workspace(task, env).await {
            Ok(ws) => {
                let a = shared
                    .policy
                    .solve_reporting(task, Some(ws.as_ref()), &progress)
                    .await;
                let _ = ws.close().await;
                a
            }
            Err(e) => Err(protege_policies::PolicyError::Failed(format!(
                "no workspace: {e}"
            ))),
        }
    };
    let ms = policy_started.elapsed().as_millis() as u64;
    let (patch, note, trajectory) = match attempt {
        Ok(a) => (a.patch, a.note, a.trajectory),
        Err(e) => (None, Some(format!("policy failed: {e}")), None),
    };
    shared.events.emit(&RunEvent::PolicyFinished {
        instance_id: task.instance_id.clone(),
        ms,
        patch_bytes: patch.as_ref().map(String::len),
        note: note.clone(),
    });
    Solved {
        patch,
        note,
        trajectory,
        ms,
    }
}

/// Everything a graded instance leaves in the run folder: its trajectory (before the record
/// that counts its steps), its logs, its record, and its rollout line.
fn store(shared: &Shared, task: &Task, solved: &Solved, graded: &Graded) -> Result<(), RunError> {
    let cfg = &shared.cfg;
    let record = &graded.record;
    if let Some(t) = &solved.trajectory {
        write_trajectory(cfg, t)?;
    }
    write_logs(
        cfg,
        task,
        solved.patch.as_deref(),
        solved.note.as_deref(),
        &graded.eval,
        record,
    )?;
    shared
        .store
        .append(record)
        .map_err(|e| RunError::Io(format!("{}: {e}", shared.store.path().display())))?;
    if let Some(t) = &solved.trajectory {
        let path = cfg.out_dir.join("rollouts.jsonl");
        let _guard = shared.rollouts.lock().expect("rollouts lock");
        protege_results::store::append_line(
            &path,
            &crate::rollout::rollout(&cfg.run_id, task, t, record),
        )
        .map_err(|e| RunError::Io(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// `trajectories/<instance>.json`: the agent's steps, written before the record that counts them.
fn write_trajectory(cfg: &RunConfig, t: &Trajectory) -> Result<(), RunError> {
    let dir = cfg.out_dir.join("trajectories");
    let io = |e: std::io::Error| RunError::Io(format!("{}: {e}", dir.display()));
    fs::create_dir_all(&dir).map_err(io)?;
    let text = serde_json::to_string_pretty(t).expect("trajectory serialises");
    fs::write(dir.join(format!("{}.json", t.instance_id)), text + "\n").map_err(io)
}

/// Per-instance logs under the official names: `patch.diff`, `eval.sh`, `test_output.txt`,
/// `run_instance.log`, `report.json`.
fn write_logs(
    cfg: &RunConfig,
    task: &Task,
    patch: Option<&str>,
    note: Option<&str>,
    eval: &EvalOutcome,
    record: &Record,
) -> Result<(), RunError> {
    let dir = cfg.out_dir.join("logs").join(&task.instance_id);
    let io = |e: std::io::Error| RunError::Io(format!("{}: {e}", dir.display()));
    fs::create_dir_all(&dir).map_err(io)?;
    fs::write(dir.join("patch.diff"), patch.unwrap_or("")).map_err(io)?;
    if !eval.eval_script.is_empty() {
        fs::write(dir.join("eval.sh"), &eval.eval_script).map_err(io)?;
    }
    if !eval.test_output.is_empty() {
        fs::write(dir.join("test_output.txt"), &eval.test_output).map_err(io)?;
    }
    let mut log = format!(
        "instance: {}\npolicy: {}\nsandbox: {}\nenvironment: {}\n",
        task.instance_id, record.policy, record.sandbox, eval.environment_id
    );
    if let Some(n) = note {
        log.push_str(&format!("policy note: {n}\n"));
    }
    log.push_str(&eval.apply_log);
    if let Some(p) = &record.verdict.patch_problem {
        log.push_str(&format!("patch problem: {p}\n"));
    }
    if let Some(e) = &record.verdict.infra_error {
        log.push_str(&format!(
            "infrastructure error ({}): {}\n",
            e.kind, e.message
        ));
    }
    if eval.timed_out {
        log.push_str("tests timed out\n");
    }
    if !record.verdict.flaky.is_empty() {
        log.push_str(&format!(
            "flaky tests: {}\n",
            record.verdict.flaky.join(", ")
        ));
    }
    log.push_str(&format!(
        "Result for {}: resolved: {} ({})\n",
        task.instance_id,
        record.verdict.resolved(),
        record.verdict.outcome.as_str()
    ));
    fs::write(dir.join("run_instance.log"), log).map_err(io)?;
    fs::write(
        dir.join("report.json"),
        report_json(&task.instance_id, &record.verdict.report) + "\n",
    )
    .map_err(io)?;
    Ok(())
}
