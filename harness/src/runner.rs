//! The runner: every task of a set through policy → grading → record, N at once, resumable,
//! with a progress display and clean cancellation.
//!
//! Resuming: an instance is skipped when its latest record has the same cache key (task, patch,
//! spec, environment id, harness version) and was not an infrastructure error; anything else is
//! graded again and its new record appended.

use std::collections::BTreeMap;
use std::fs;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use protege_datasets::{Task, TaskSet, sha256_hex};
use protege_policies::Policy;
use protege_results::manifest::Manifest;
use protege_results::reward::RewardConfig;
use protege_results::store::RecordStore;
use protege_results::{Record, Stats};
use protege_sandboxes::SandboxError;
use protege_sandboxes::docker::{ContainerLimits, DockerEngine};

use crate::grader::Grader;
use crate::grading::EvalOutcome;
use crate::grading::report::report_json;
use crate::specs::{self, Spec};

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
    /// Draw progress bars (when stderr is a terminal) or print a line per instance.
    pub quiet: bool,
    /// The reward stored with every record.
    pub reward: RewardConfig,
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
    pub cancelled: bool,
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
}

/// Runs every task. Records already finished with the same cache key are kept, not redone.
pub async fn run(
    tasks: &TaskSet,
    policy: Arc<dyn Policy>,
    cfg: RunConfig,
    mut manifest: Manifest,
) -> Result<RunOutcome, RunError> {
    fs::create_dir_all(&cfg.out_dir)
        .map_err(|e| RunError::Io(format!("{}: {e}", cfg.out_dir.display())))?;
    let store = RecordStore::open(&cfg.out_dir.join("records.jsonl"))
        .map_err(|e| RunError::Io(format!("{}: {e}", cfg.out_dir.display())))?;
    let loaded = store.load();
    let mut outcome = RunOutcome {
        warnings: loaded.warnings.clone(),
        ..Default::default()
    };
    let needs_docker = tasks.tasks.iter().any(|t| {
        specs::for_task(t)
            .map(|s| cfg.sandbox.for_spec(&s) == "docker")
            .unwrap_or(false)
    });
    let engine = if needs_docker {
        Ok(DockerEngine::connect().await?)
    } else {
        Err(SandboxError::EngineUnavailable(
            "not connected: no task of this run needs Docker".into(),
        ))
    };
    let grader = Grader::new(
        engine,
        cfg.run_id.clone(),
        cfg.limits.clone(),
        cfg.test_timeout,
        cfg.reruns,
    );
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        policy,
        store,
        previous: loaded.latest.into_iter().collect(),
        grader,
        environments: Mutex::default(),
        rollouts: Mutex::default(),
    });

    let interactive = !cfg.quiet && std::io::stderr().is_terminal();
    let multi = MultiProgress::new();
    let main_bar = multi.add(ProgressBar::new(tasks.tasks.len() as u64));
    if interactive {
        main_bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ETA {eta}").expect("template"),
        );
    } else {
        main_bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let resolved = Arc::new(Mutex::new(0usize));
    let done = Arc::new(Mutex::new(0usize));
    let total = tasks.tasks.len();

    let jobs = tasks.tasks.iter().cloned().map(|task| {
        let shared = shared.clone();
        let bar = if interactive {
            let b = multi.add(ProgressBar::new_spinner());
            b.set_style(ProgressStyle::with_template("  {spinner} {msg}").expect("template"));
            b.enable_steady_tick(Duration::from_millis(200));
            b.set_message(task.instance_id.clone());
            Some(b)
        } else {
            None
        };
        let (main_bar, resolved, done, multi) = (
            main_bar.clone(),
            resolved.clone(),
            done.clone(),
            multi.clone(),
        );
        async move {
            let result = one(&shared, &task).await;
            if let Some(b) = bar {
                b.finish_and_clear();
                multi.remove(&b);
            }
            let (record, graded, overhead) = match result {
                Ok(r) => r,
                Err(e) => return Err(e),
            };
            let n = {
                let mut d = done.lock().expect("lock");
                *d += 1;
                *d
            };
            let r = {
                let mut r = resolved.lock().expect("lock");
                *r += usize::from(record.verdict.resolved());
                *r
            };
            main_bar.inc(1);
            main_bar.set_message(format!("resolved {r}"));
            let line = format!(
                "[{n}/{total}] {}: {}{}",
                record.instance_id,
                record.verdict.outcome.as_str(),
                if graded {
                    format!(" ({:.1} s)", record.stats.wall_ms as f64 / 1000.0)
                } else {
                    " (kept from an earlier run)".into()
                }
            );
            if interactive {
                multi.println(line).ok();
            } else if !shared.cfg.quiet {
                eprintln!("{line}");
            }
            Ok((record, graded, overhead))
        }
    });
    let mut stream = futures_util::stream::iter(jobs).buffer_unordered(cfg.workers.max(1));
    let mut finished: BTreeMap<String, Record> = BTreeMap::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
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
                    shared.grader.remove_all().await;
                    return Err(e);
                }
            },
            _ = &mut ctrl_c => {
                outcome.cancelled = true;
                break;
            }
        }
    }
    drop(stream);
    main_bar.finish_and_clear();
    // Containers of cancelled instances: removed before returning, even on Ctrl-C.
    shared.grader.remove_all().await;
    outcome.records = tasks
        .tasks
        .iter()
        .filter_map(|t| finished.remove(&t.instance_id))
        .collect();
    manifest.environments = shared.environments.lock().expect("lock").clone();
    fs::write(cfg.out_dir.join("manifest.json"), manifest.to_json())
        .map_err(|e| RunError::Io(format!("manifest.json: {e}")))?;
    Ok(outcome)
}

fn cache_key(
    task: &Task,
    patch: Option<&str>,
    spec: Option<&Spec>,
    sandbox: &str,
    env_id: &str,
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
    ];
    sha256_hex(parts.join("\0").as_bytes())
}

/// One instance: returns its record, whether it was graded now, and its overhead in seconds.
async fn one(shared: &Shared, task: &Task) -> Result<(Record, bool, Option<f64>), RunError> {
    let started = Instant::now();
    let cfg = &shared.cfg;
    // The environment the tests would run in, known before any work so that resuming is cheap.
    let env = shared.grader.environment(task, cfg.sandbox).await;
    let spec = env.spec.as_ref().ok();
    let keep = |key: &str| -> Option<Record> {
        let prev = shared.previous.get(&task.instance_id)?;
        if prev.cache_key != key || prev.verdict.outcome.is_infrastructure() {
            return None;
        }
        if let Ok((_, id)) = &env.env {
            shared
                .environments
                .lock()
                .expect("lock")
                .insert(task.instance_id.clone(), id.clone());
        }
        Some(prev.clone())
    };
    // A policy that works in a workspace (a model) is costly and not repeatable: its key names
    // the policy instead of the patch it would make, and is checked before it runs.
    let workspace_key = shared.policy.needs_workspace().then(|| {
        let label = format!("<policy {}>", shared.policy.name());
        cache_key(task, Some(&label), spec, env.sandbox, env.id())
    });
    if let Some(prev) = workspace_key.as_deref().and_then(keep) {
        return Ok((prev, false, None));
    }

    // The policy's attempt (a workspace sandbox only for policies that need one).
    let policy_started = Instant::now();
    let attempt = if !shared.policy.needs_workspace() {
        shared.policy.solve(task, None).await
    } else {
        match shared.grader.open_workspace(task, &env).await {
            Ok(ws) => {
                let a = shared.policy.solve(task, Some(ws.as_ref())).await;
                let _ = ws.close().await;
                a
            }
            Err(e) => Err(protege_policies::PolicyError::Failed(format!(
                "no workspace: {e}"
            ))),
        }
    };
    let policy_ms = policy_started.elapsed().as_millis() as u64;
    let (patch, policy_note, trajectory) = match attempt {
        Ok(a) => (a.patch, a.note, a.trajectory),
        Err(e) => (None, Some(format!("policy failed: {e}")), None),
    };
    let patch_ref = patch.as_deref();
    let key =
        workspace_key.unwrap_or_else(|| cache_key(task, patch_ref, spec, env.sandbox, env.id()));
    if let Some(prev) = keep(&key) {
        return Ok((prev, false, None));
    }

    let (verdict, eval) = shared.grader.grade(task, &env, patch_ref).await;
    // The environment the tests ran in (none when the patch was refused before any sandbox).
    if !eval.environment_id.is_empty() {
        shared
            .environments
            .lock()
            .expect("lock")
            .insert(task.instance_id.clone(), eval.environment_id.clone());
    }
    let test_ms = eval.test_duration.as_millis() as u64;
    let wall_ms = started.elapsed().as_millis() as u64;
    let agent = trajectory.as_ref().map(|t| t.stats(cfg.reward.loop_window));
    let reward = cfg.reward.score(&protege_policies::trajectory::attempt(
        trajectory.as_ref(),
        verdict.resolved(),
        patch_ref,
        &task.patch,
        cfg.reward.loop_window,
    ));
    if let Some(t) = &trajectory {
        write_trajectory(cfg, t)?;
    }
    let record = Record {
        instance_id: task.instance_id.clone(),
        repo: task.repo.clone(),
        policy: shared.policy.name(),
        patch_sha256: patch_ref
            .map(|p| sha256_hex(p.as_bytes()))
            .unwrap_or_default(),
        cache_key: key,
        sandbox: env.sandbox.into(),
        verdict,
        stats: Stats {
            wall_ms,
            test_ms,
            policy_ms,
        },
        agent,
        reward: Some(reward),
    };
    write_logs(cfg, task, patch_ref, policy_note.as_deref(), &eval, &record)?;
    shared
        .store
        .append(&record)
        .map_err(|e| RunError::Io(format!("{}: {e}", shared.store.path().display())))?;
    if let Some(t) = &trajectory {
        let path = cfg.out_dir.join("rollouts.jsonl");
        let _guard = shared.rollouts.lock().expect("rollouts lock");
        protege_results::store::append_line(
            &path,
            &crate::rollout::rollout(&cfg.run_id, task, t, &record),
        )
        .map_err(|e| RunError::Io(format!("{}: {e}", path.display())))?;
    }
    let overhead = record.stats.overhead_ms() as f64 / 1000.0;
    Ok((record, true, Some(overhead)))
}

/// `trajectories/<instance>.json`: the agent's steps, written before the record that counts them.
fn write_trajectory(
    cfg: &RunConfig,
    t: &protege_policies::trajectory::Trajectory,
) -> Result<(), RunError> {
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
