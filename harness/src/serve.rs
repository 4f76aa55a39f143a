//! `protege serve`: the episode API, grading and GRPO rollouts over HTTP/JSON, for trainers.
//! The routes and their shapes are documented in `docs/openapi.json` (served at
//! `/openapi.json`, and checked against this server by `tests/e2e_serve.rs`).
//!
//! Every sandbox (an episode's workspace, a grading, a rollout sample) holds one of
//! `max_sandboxes` permits; a request waits for one. Work a request starts runs to completion in
//! its own task even if the client goes away, and an episode nobody touches for `idle_timeout`
//! is closed, so a vanished client leaves no container behind.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::future::join_all;
use protege_datasets::{Task, TaskSet};
use protege_policies::agent::{AgentConfig, AgentPolicy};
use protege_policies::lm::{LanguageModel, tool_calls};
use protege_policies::progress::{Progress, ProgressSink};
use protege_results::reward::RewardConfig;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::episode::{self, Episode, EpisodeError, Submission, Usage};
use crate::events::{EventSink, PolicyEvents, RunEvent};
use crate::grader::{Grader, SandboxKind};

/// The OpenAPI description of this server.
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");

/// Loads a model named like `--slm` (for `/rollouts`); the CLI passes its own loader.
pub type ModelLoader =
    Arc<dyn Fn(&str) -> Result<Arc<dyn LanguageModel>, String> + Send + Sync + 'static>;

pub struct ServeConfig {
    /// The tasks episodes can be opened on.
    pub tasks: TaskSet,
    /// The sandbox when a request names none.
    pub sandbox: SandboxKind,
    pub max_sandboxes: usize,
    /// An episode untouched this long is closed and its workspace removed.
    pub idle_timeout: Duration,
    /// Required as `Authorization: Bearer TOKEN` on every route but `/health` and `/openapi.json`.
    pub token: Option<String>,
    /// Defaults that a request's `config` and `reward` objects override key by key.
    pub agent: AgentConfig,
    pub reward: RewardConfig,
    /// Answers `ask_expert` in episodes.
    pub expert: Option<Arc<dyn LanguageModel>>,
    pub load_model: ModelLoader,
    /// Told every step, grading and workspace failure (`serve --events`).
    pub events: Arc<dyn EventSink>,
}

struct Slot {
    episode: Arc<tokio::sync::Mutex<Episode>>,
    last_used: Mutex<Instant>,
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    fn touch(&self) {
        *self.last_used.lock().expect("lock") = Instant::now();
    }
}

pub struct Server {
    cfg: ServeConfig,
    grader: Arc<Grader>,
    permits: Arc<Semaphore>,
    episodes: Mutex<HashMap<String, Arc<Slot>>>,
    next_id: AtomicU64,
    models: tokio::sync::Mutex<HashMap<String, Arc<dyn LanguageModel>>>,
}

type Shared = Arc<Server>;

/// An error answer: a status and a message naming what was wrong.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

impl From<EpisodeError> for ApiError {
    fn from(e: EpisodeError) -> ApiError {
        match e {
            EpisodeError::Invalid(m) => ApiError(StatusCode::CONFLICT, m),
            EpisodeError::Infra(m) => ApiError(StatusCode::SERVICE_UNAVAILABLE, m),
        }
    }
}

type ApiResult = Result<Response, ApiError>;

/// The outcome of work a request ran in its own task; a panic there is a 500.
fn joined<T>(r: Result<T, tokio::task::JoinError>) -> Result<T, ApiError> {
    r.map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// Runs `work` to its end in a task of its own, even if the client leaves mid-way, so a
/// sandbox is never left half opened, half stepped or half graded.
async fn detached<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T, ApiError> {
    joined(tokio::spawn(work).await)
}

fn ok(v: impl serde::Serialize) -> ApiResult {
    Ok(axum::Json(v).into_response())
}

/// Parses a JSON body, naming the route and the problem when it does not fit.
fn body<T: DeserializeOwned>(route: &str, bytes: &Bytes) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { bytes };
    serde_json::from_slice(bytes).map_err(|e| bad(format!("{route}: invalid request body: {e}")))
}

/// `base` with the keys of `over` replaced (recursively for objects); a key `base` lacks is an
/// error, so a misspelt setting is not silently ignored.
fn merge<T: serde::Serialize + DeserializeOwned>(
    what: &str,
    base: &T,
    over: Option<&Value>,
) -> Result<T, ApiError> {
    fn apply(path: &str, base: &mut Value, over: &Value) -> Result<(), String> {
        match (base, over) {
            (Value::Object(b), Value::Object(o)) => {
                for (k, v) in o {
                    let p = format!("{path}.{k}");
                    match b.get_mut(k) {
                        None => return Err(format!("unknown setting `{p}`")),
                        Some(slot) if slot.is_object() && v.is_object() => apply(&p, slot, v)?,
                        Some(slot) => *slot = v.clone(),
                    }
                }
                Ok(())
            }
            (_, _) => Err(format!("`{path}` must be an object")),
        }
    }
    let mut v = serde_json::to_value(base).expect("config serialises");
    if let Some(o) = over {
        apply(what, &mut v, o).map_err(bad)?;
    }
    serde_json::from_value(v).map_err(|e| bad(format!("{what}: {e}")))
}

/// A request's reward settings (preset, stage or step, coefficients) over the server's,
/// checked: an unknown stage or an out-of-range threshold is a 400 naming it.
fn reward_settings(base: &RewardConfig, over: Option<&Value>) -> Result<RewardConfig, ApiError> {
    let r: RewardConfig = merge("reward", base, over)?;
    r.validate().map_err(bad)?;
    Ok(r)
}

impl Server {
    pub fn new(cfg: ServeConfig, grader: Grader) -> Shared {
        Arc::new(Server {
            permits: Arc::new(Semaphore::new(cfg.max_sandboxes.max(1))),
            cfg,
            grader: Arc::new(grader),
            episodes: Mutex::default(),
            next_id: AtomicU64::new(1),
            models: tokio::sync::Mutex::default(),
        })
    }

    fn task(&self, id: &str) -> Result<Task, ApiError> {
        self.cfg
            .tasks
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("unknown instance `{id}`")))
    }

    fn sandbox(&self, s: Option<&str>) -> Result<SandboxKind, ApiError> {
        s.map(|s| SandboxKind::parse(s).map_err(bad))
            .unwrap_or(Ok(self.cfg.sandbox))
    }

    /// The task a request names and the sandbox it asks for (the server's when it names none).
    fn target(&self, id: &str, sandbox: Option<&str>) -> Result<(Task, SandboxKind), ApiError> {
        Ok((self.task(id)?, self.sandbox(sandbox)?))
    }

    /// An open episode for one request's exclusive use: busy while another request steps it.
    fn claim(
        &self,
        id: &str,
    ) -> Result<(Arc<Slot>, tokio::sync::OwnedMutexGuard<Episode>), ApiError> {
        let slot = self.slot(id)?;
        let guard = slot
            .episode
            .clone()
            .try_lock_owned()
            .map_err(|_| busy(id))?;
        Ok((slot, guard))
    }

    fn slot(&self, id: &str) -> Result<Arc<Slot>, ApiError> {
        let slot = self.episodes.lock().expect("lock").get(id).cloned();
        let slot = slot.ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                format!("unknown episode `{id}` (never opened, closed, or timed out)"),
            )
        })?;
        slot.touch();
        Ok(slot)
    }

    async fn permit(&self) -> OwnedSemaphorePermit {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    fn emit_graded(&self, sub: &Submission, wall_ms: u64) {
        self.cfg.events.emit(&RunEvent::Graded {
            instance_id: sub.instance_id.clone(),
            verdict: sub.verdict.clone(),
            wall_ms,
            test_ms: sub.test_ms,
        });
    }

    fn emit_infra(&self, instance_id: &str, e: &EpisodeError) {
        if let EpisodeError::Infra(message) = e {
            self.cfg.events.emit(&RunEvent::InfraError {
                instance_id: instance_id.to_string(),
                kind: "no_workspace".into(),
                message: message.clone(),
            });
        }
    }

    fn progress(&self, instance_id: &str) -> PolicyEvents {
        PolicyEvents {
            instance_id: instance_id.to_string(),
            sink: self.cfg.events.clone(),
        }
    }

    /// Closes episodes idle longer than the timeout (not those in the middle of a step).
    pub async fn reap(&self) -> usize {
        let now = Instant::now();
        let stale: Vec<(String, Arc<Slot>)> = {
            let mut map = self.episodes.lock().expect("lock");
            let ids: Vec<String> = map
                .iter()
                .filter(|(_, s)| {
                    now.duration_since(*s.last_used.lock().expect("lock")) > self.cfg.idle_timeout
                        && s.episode.try_lock().is_ok()
                })
                .map(|(id, _)| id.clone())
                .collect();
            ids.into_iter()
                .filter_map(|id| map.remove(&id).map(|s| (id, s)))
                .collect()
        };
        for (id, slot) in &stale {
            slot.episode.lock().await.close().await;
            tracing::info!("episode {id} closed after {:?} idle", self.cfg.idle_timeout);
        }
        stale.len()
    }

    /// Closes every episode and removes every container this server started.
    pub async fn shutdown(&self) {
        let all: Vec<Arc<Slot>> = self
            .episodes
            .lock()
            .expect("lock")
            .drain()
            .map(|(_, s)| s)
            .collect();
        for slot in all {
            slot.episode.lock().await.close().await;
        }
        self.grader.remove_all().await;
    }

    async fn model(&self, spec: &str) -> Result<Arc<dyn LanguageModel>, ApiError> {
        let mut cache = self.models.lock().await;
        if let Some(m) = cache.get(spec) {
            return Ok(m.clone());
        }
        let load = self.cfg.load_model.clone();
        let s = spec.to_string();
        let m = joined(tokio::task::spawn_blocking(move || load(&s)).await)?
            .map_err(|e| bad(format!("model `{spec}`: {e}")))?;
        cache.insert(spec.to_string(), m.clone());
        Ok(m)
    }
}

/// The router; `reaper` must also run for idle episodes to be reclaimed.
pub fn router(server: Shared) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/instances", get(instances))
        .route("/episodes", post(reset))
        .route("/episodes/{id}", get(describe).delete(close))
        .route("/episodes/{id}/step", post(step))
        .route("/episodes/{id}/submit", post(submit))
        .route("/grade", post(grade))
        .route("/rollouts", post(rollouts))
        .layer(middleware::from_fn_with_state(server.clone(), auth))
        .with_state(server)
}

/// Closes idle episodes once a second, for as long as the server lives.
pub async fn reaper(server: Shared) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        server.reap().await;
    }
}

async fn auth(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let open = matches!(req.uri().path(), "/health" | "/openapi.json");
    if let (Some(token), false) = (&s.cfg.token, open) {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return ApiError(
                StatusCode::UNAUTHORIZED,
                "missing or wrong token: send `Authorization: Bearer TOKEN`".into(),
            )
            .into_response();
        }
    }
    next.run(req).await
}

async fn health(State(s): State<Shared>) -> ApiResult {
    ok(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "episodes": s.episodes.lock().expect("lock").len(),
        "free_sandboxes": s.permits.available_permits(),
        "max_sandboxes": s.cfg.max_sandboxes,
    }))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn instances(State(s): State<Shared>) -> ApiResult {
    let list: Vec<Value> = s
        .cfg
        .tasks
        .tasks
        .iter()
        .map(|t| {
            json!({
                "instance_id": t.instance_id,
                "repo": t.repo,
                "sandbox": s.cfg.sandbox.for_task(t),
            })
        })
        .collect();
    ok(json!({ "instances": list }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    instance_id: String,
    sandbox: Option<String>,
    /// Agent settings overriding the server's, key by key.
    config: Option<Value>,
    /// Who produces the actions (recorded in the trajectory).
    actor: Option<String>,
}

async fn reset(State(s): State<Shared>, bytes: Bytes) -> ApiResult {
    let b: ResetBody = body("POST /episodes", &bytes)?;
    let (task, sandbox) = s.target(&b.instance_id, b.sandbox.as_deref())?;
    let agent = merge("config", &s.cfg.agent, b.config.as_ref())?;
    // Waiting for a free sandbox is cancelled with the request; opening one is not, so a client
    // that leaves mid-way leaves an episode the reaper closes, never a stray container.
    let permit = s.permit().await;
    let server = s.clone();
    let answer = detached(async move {
        let actor = b.actor.unwrap_or_else(|| "trainer".into());
        let instance_id = task.instance_id.clone();
        let (ep, messages) = Episode::reset(
            server.grader.clone(),
            task,
            sandbox,
            agent,
            server.cfg.expert.clone(),
            &actor,
        )
        .await
        .inspect_err(|e| server.emit_infra(&instance_id, e))?;
        let id = format!("ep-{}", server.next_id.fetch_add(1, Ordering::SeqCst));
        let answer = json!({
            "episode_id": id,
            "instance_id": ep.task().instance_id,
            "sandbox": ep.sandbox(),
            "observation": messages.last().map(|m| m.content.clone()).unwrap_or_default(),
            "messages": tool_calls::openai_messages(&messages),
            "tools": ep.tools(),
        });
        let slot = Arc::new(Slot {
            episode: Arc::new(tokio::sync::Mutex::new(ep)),
            last_used: Mutex::new(Instant::now()),
            _permit: permit,
        });
        server.episodes.lock().expect("lock").insert(id, slot);
        Ok::<Value, EpisodeError>(answer)
    });
    ok(answer.await??)
}

async fn describe(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let slot = s.slot(&id)?;
    let ep = slot.episode.try_lock().map_err(|_| busy(&id))?;
    ok(json!({
        "episode_id": id,
        "instance_id": ep.task().instance_id,
        "sandbox": ep.sandbox(),
        "age_s": ep.age().as_secs_f64(),
    }))
}

fn busy(id: &str) -> ApiError {
    ApiError(
        StatusCode::CONFLICT,
        format!("episode `{id}` is busy with another request"),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepBody {
    /// The model's whole reply: a thought and one action in a fenced block (under the `tools`
    /// protocol: its content, the calls in `tool_calls` or as `<tool_call>` blocks in it).
    action: String,
    /// OpenAI `tool_calls` of the reply.
    tool_calls: Option<Value>,
    #[serde(default)]
    usage: Usage,
}

async fn step(State(s): State<Shared>, Path(id): Path<String>, bytes: Bytes) -> ApiResult {
    let b: StepBody = body("POST /episodes/{id}/step", &bytes)?;
    let calls = match &b.tool_calls {
        Some(v) if !v.is_null() => tool_calls::from_openai(v).map_err(|e| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("POST /episodes/{id}/step: {e}"),
            )
        })?,
        _ => Vec::new(),
    };
    let (slot, mut guard) = s.claim(&id)?;
    let server = s.clone();
    let done = detached(async move {
        let before = guard.steps().len();
        let r = guard.step(&b.action, calls, &b.usage).await;
        let progress = server.progress(&guard.task().instance_id);
        for (i, step) in guard.steps().iter().enumerate().skip(before) {
            progress.report(Progress::Step {
                number: i + 1,
                step,
            });
        }
        drop(guard);
        slot.touch();
        r
    });
    ok(done.await??)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    /// The patch to grade; the workspace's diff when absent.
    patch: Option<String>,
    /// Reward coefficients overriding the server's.
    reward: Option<Value>,
}

async fn submit(State(s): State<Shared>, Path(id): Path<String>, bytes: Bytes) -> ApiResult {
    let b: SubmitBody = body("POST /episodes/{id}/submit", &bytes)?;
    let reward = reward_settings(&s.cfg.reward, b.reward.as_ref())?;
    let (slot, mut guard) = s.claim(&id)?;
    let server = s.clone();
    let graded = detached(async move {
        let t0 = Instant::now();
        let r = guard.submit(b.patch, &reward).await;
        if let Ok(sub) = &r {
            server.emit_graded(sub, t0.elapsed().as_millis() as u64);
        }
        drop(guard);
        // Submitted: the episode (and its sandbox permit) is gone.
        server.episodes.lock().expect("lock").remove(&id);
        drop(slot);
        r
    });
    ok(graded.await??)
}

async fn close(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let slot = s.slot(&id)?;
    s.episodes.lock().expect("lock").remove(&id);
    let _ = detached(async move {
        slot.episode.lock().await.close().await;
    })
    .await;
    ok(json!({ "episode_id": id, "closed": true }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GradeBody {
    instance_id: String,
    /// `null` grades as "no patch" (the official `patch_is_None`).
    patch: Option<String>,
    sandbox: Option<String>,
    reward: Option<Value>,
}

async fn grade(State(s): State<Shared>, bytes: Bytes) -> ApiResult {
    let b: GradeBody = body("POST /grade", &bytes)?;
    let (task, sandbox) = s.target(&b.instance_id, b.sandbox.as_deref())?;
    let reward = reward_settings(&s.cfg.reward, b.reward.as_ref())?;
    let permit = s.permit().await;
    let server = s.clone();
    let graded = detached(async move {
        let t0 = Instant::now();
        let env = server.grader.environment(&task, sandbox).await;
        let sub = episode::grade_attempt(&server.grader, &task, &env, b.patch, None, &reward).await;
        drop(permit);
        server.emit_graded(&sub, t0.elapsed().as_millis() as u64);
        sub
    });
    let mut sub = graded.await?;
    sub.trajectory.patch.clear();
    ok(sub)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    /// The acting model, named like `--slm` (default `smollm2`).
    #[serde(default = "default_slm")]
    slm: String,
    expert: Option<String>,
    config: Option<Value>,
}

fn default_slm() -> String {
    "smollm2".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolloutsBody {
    instance_ids: Vec<String>,
    /// Samples per instance (a GRPO group).
    #[serde(default = "one")]
    n: usize,
    #[serde(default)]
    policy: Option<PolicyBody>,
    sandbox: Option<String>,
    reward: Option<Value>,
    /// Divide advantages by the group's standard deviation (GRPO); otherwise only centre them.
    #[serde(default = "yes")]
    normalize: bool,
    /// Sample `i` of every group uses seed `seed + i`.
    #[serde(default)]
    seed: u64,
}

fn one() -> usize {
    1
}

fn yes() -> bool {
    true
}

/// The most samples one request may ask for.
const MAX_SAMPLES: usize = 1024;

async fn rollouts(State(s): State<Shared>, bytes: Bytes) -> ApiResult {
    let b: RolloutsBody = body("POST /rollouts", &bytes)?;
    if b.instance_ids.is_empty() || b.n == 0 || b.instance_ids.len() * b.n > MAX_SAMPLES {
        return Err(bad(format!(
            "POST /rollouts: need 1 to {MAX_SAMPLES} samples in all (got {} instances × n = {})",
            b.instance_ids.len(),
            b.n
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = b.instance_ids.iter().find(|id| !seen.insert(id.as_str())) {
        return Err(bad(format!(
            "POST /rollouts: instance `{dup}` is listed twice (use n for more samples)"
        )));
    }
    let tasks: Vec<Task> = b
        .instance_ids
        .iter()
        .map(|id| s.task(id))
        .collect::<Result<_, _>>()?;
    let sandbox = s.sandbox(b.sandbox.as_deref())?;
    let reward = reward_settings(&s.cfg.reward, b.reward.as_ref())?;
    let p = b.policy.unwrap_or(PolicyBody {
        slm: default_slm(),
        expert: None,
        config: None,
    });
    let agent = merge("policy.config", &s.cfg.agent, p.config.as_ref())?;
    let slm = s.model(&p.slm).await?;
    let expert = match &p.expert {
        Some(e) => Some(s.model(e).await?),
        None => s.cfg.expert.clone(),
    };
    let run_id = format!("rollouts-{}", s.next_id.fetch_add(1, Ordering::SeqCst));
    let mut jobs = Vec::new();
    for task in &tasks {
        for i in 0..b.n {
            let mut config = agent.clone();
            config.slm_params.seed = b.seed + i as u64;
            let policy = AgentPolicy {
                slm: slm.clone(),
                expert: expert.clone(),
                config,
            };
            let (server, task, reward) = (s.clone(), task.clone(), reward.clone());
            // Each sample in its own task: it finishes (and removes its sandbox) even if the
            // client goes away.
            jobs.push(tokio::spawn(async move {
                let permit = server.permit().await;
                let t0 = Instant::now();
                let progress = server.progress(&task.instance_id);
                let r =
                    episode::sample(&server.grader, &task, sandbox, &policy, &reward, &progress)
                        .await;
                drop(permit);
                match &r {
                    Ok(sub) => server.emit_graded(sub, t0.elapsed().as_millis() as u64),
                    Err(e) => server.emit_infra(&task.instance_id, e),
                }
                r.map(|sub| (i, sub, t0.elapsed().as_millis() as u64, policy))
            }));
        }
    }
    let mut by_task: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut rewards: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (job, task) in join_all(jobs)
        .await
        .into_iter()
        .zip(tasks.iter().flat_map(|t| std::iter::repeat_n(t, b.n)))
    {
        let (i, sub, ms, policy) = joined(job)??;
        let record = sub.record(&protege_policies::Policy::name(&policy), ms);
        let mut line = serde_json::to_value(crate::rollout::rollout(
            &run_id,
            task,
            &sub.trajectory,
            &record,
        ))
        .expect("rollout serialises");
        line["sample"] = json!(i);
        line["seed"] = json!(policy.config.slm_params.seed);
        line["patch"] = json!(sub.patch);
        rewards
            .entry(task.instance_id.clone())
            .or_default()
            .push(sub.reward.total);
        by_task
            .entry(task.instance_id.clone())
            .or_default()
            .push(line);
    }
    let groups: Vec<Value> = b
        .instance_ids
        .iter()
        .filter_map(|id| {
            let mut lines = by_task.remove(id)?;
            let r = rewards.remove(id).unwrap_or_default();
            let adv = episode::advantages(&r, b.normalize);
            for (line, a) in lines.iter_mut().zip(&adv) {
                line["advantage"] = json!(a);
            }
            let mean = r.iter().sum::<f64>() / r.len().max(1) as f64;
            Some(json!({ "instance_id": id, "mean_reward": mean, "rollouts": lines }))
        })
        .collect();
    ok(json!({ "run_id": run_id, "groups": groups }))
}
