//! What the runner and the episode server share: choosing a task's sandbox and environment,
//! opening the workspace a policy acts in, and grading one patch in a fresh sandbox.

use std::time::Duration;

use protege_datasets::Task;
use protege_results::{InfraError, InfraKind, Outcome, Report, Verdict};
#[cfg(feature = "docker")]
use protege_sandboxes::docker::{DockerEngine, DockerSandbox};
#[cfg(feature = "k8s")]
use protege_sandboxes::k8s::{KubeEngine, PodSandbox, PodSettings, PullPolicy};
use protege_sandboxes::{ContainerLimits, Sandbox, SandboxError};

#[cfg(feature = "docker")]
use crate::grading::docker::{self as docker_grading, DockerEval};
use crate::grading::network::{GradingEgress, GradingNetwork, IndexSettings};
use crate::grading::rules::Rules;
use crate::grading::verdict::{flaky_tests, from_outcome, parse_statuses, precheck};
use crate::grading::{EvalOutcome, infra_error};
#[cfg(feature = "docker")]
use crate::images;
use crate::specs::{self, Spec, SpecError};

/// The backend one task's sandboxes run on: chosen once per task (from [`SandboxKind`] and its
/// spec), then matched wherever a sandbox is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Docker,
    Wasi,
    K8s,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Docker => "docker",
            Backend::Wasi => "wasi",
            Backend::K8s => "k8s",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which sandbox grades the patches (`--sandbox`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxKind {
    Docker,
    Wasi,
    K8s,
    /// WASI for tasks whose spec allows it, Docker otherwise.
    Auto,
}

impl SandboxKind {
    pub fn parse(s: &str) -> Result<SandboxKind, String> {
        match s {
            "docker" => Ok(SandboxKind::Docker),
            "wasi" => Ok(SandboxKind::Wasi),
            "k8s" => Ok(SandboxKind::K8s),
            "auto" => Ok(SandboxKind::Auto),
            _ => Err(format!(
                "unknown sandbox `{s}`: expected docker, k8s, wasi or auto"
            )),
        }
    }

    /// Every backend this choice may put a task on.
    pub fn backends(self) -> Vec<Backend> {
        match self {
            SandboxKind::Docker => vec![Backend::Docker],
            SandboxKind::Wasi => vec![Backend::Wasi],
            SandboxKind::K8s => vec![Backend::K8s],
            SandboxKind::Auto => vec![Backend::Docker, Backend::Wasi],
        }
    }

    pub fn for_spec(self, spec: &Spec) -> Backend {
        match self {
            SandboxKind::Docker => Backend::Docker,
            SandboxKind::Wasi => Backend::Wasi,
            SandboxKind::K8s => Backend::K8s,
            SandboxKind::Auto if spec.wasi_ok && cfg!(feature = "wasi") => Backend::Wasi,
            SandboxKind::Auto => Backend::Docker,
        }
    }

    /// The backend a task would use (for a task without a spec, the one it fails on with the
    /// reason: WASI runs nothing without one).
    pub fn for_task(self, task: &Task) -> Backend {
        match specs::for_task(task) {
            Ok(s) => self.for_spec(&s),
            Err(_) if self == SandboxKind::K8s => Backend::K8s,
            Err(_) => Backend::Docker,
        }
    }
}

/// How `--sandbox k8s` makes pods (`--k8s-namespace`, `--image-pull-policy`, `--pod-start-timeout`,
/// `--cpus`); plain data, so that it exists in builds without the `k8s` feature too.
#[derive(Debug, Clone, serde::Serialize)]
pub struct K8sOptions {
    /// `None`: the kubeconfig context's namespace.
    pub namespace: Option<String>,
    /// `Always`, `IfNotPresent` or `Never`.
    pub pull_policy: String,
    pub start_timeout: Duration,
    pub cpus: Option<f64>,
}

impl Default for K8sOptions {
    fn default() -> Self {
        K8sOptions {
            namespace: None,
            pull_policy: "IfNotPresent".into(),
            start_timeout: Duration::from_secs(300),
            cpus: None,
        }
    }
}

/// The engines a process uses, each connected at most once (when some task needs it); the
/// connection error is kept for the tasks that need the engine.
#[derive(Clone)]
pub struct Engines {
    #[cfg(feature = "docker")]
    docker: Result<DockerEngine, SandboxError>,
    #[cfg(feature = "k8s")]
    k8s: Result<KubeEngine, SandboxError>,
}

impl std::fmt::Debug for Engines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[cfg(any(feature = "docker", feature = "k8s"))]
        let state = |ok: bool| if ok { "connected" } else { "not connected" };
        let mut d = f.debug_struct("Engines");
        #[cfg(feature = "docker")]
        d.field("docker", &state(self.docker.is_ok()));
        #[cfg(feature = "k8s")]
        d.field("k8s", &state(self.k8s.is_ok()));
        d.finish()
    }
}

#[cfg(any(feature = "docker", feature = "k8s"))]
fn not_connected(what: &str) -> SandboxError {
    SandboxError::EngineUnavailable(format!("not connected: no task of this run needs {what}"))
}

impl Engines {
    /// No engine at all (WASI only).
    pub fn none() -> Engines {
        Engines {
            #[cfg(feature = "docker")]
            docker: Err(not_connected("Docker")),
            #[cfg(feature = "k8s")]
            k8s: Err(not_connected("a Kubernetes cluster")),
        }
    }

    /// Docker (or its connection error) and nothing else.
    #[cfg(feature = "docker")]
    pub fn docker(engine: Result<DockerEngine, SandboxError>) -> Engines {
        Engines {
            docker: engine,
            ..Engines::none()
        }
    }

    /// Connects to the engine of every backend in `backends`, once each.
    pub async fn connect(backends: impl IntoIterator<Item = Backend>, k8s: &K8sOptions) -> Engines {
        let wanted: std::collections::BTreeSet<Backend> = backends.into_iter().collect();
        #[allow(unused_mut)] // nothing to connect in a build with neither engine
        let mut engines = Engines::none();
        #[cfg(feature = "docker")]
        if wanted.contains(&Backend::Docker) {
            engines.docker = DockerEngine::connect().await;
        }
        if wanted.contains(&Backend::K8s) {
            engines = engines.with_k8s(k8s).await;
        }
        engines
    }

    #[cfg(feature = "k8s")]
    async fn with_k8s(mut self, opts: &K8sOptions) -> Engines {
        self.k8s = match pod_settings(opts) {
            Ok(settings) => KubeEngine::connect(settings).await,
            Err(e) => Err(e),
        };
        self
    }

    #[cfg(not(feature = "k8s"))]
    async fn with_k8s(self, _: &K8sOptions) -> Engines {
        self
    }

    #[cfg(feature = "docker")]
    pub fn docker_engine(&self) -> Result<&DockerEngine, SandboxError> {
        self.docker.as_ref().map_err(Clone::clone)
    }

    #[cfg(feature = "k8s")]
    pub fn k8s_engine(&self) -> Result<&KubeEngine, SandboxError> {
        self.k8s.as_ref().map_err(Clone::clone)
    }

    /// The first connection error of an engine `backends` need (a run stops on it).
    pub fn check(&self, backends: impl IntoIterator<Item = Backend>) -> Result<(), SandboxError> {
        for b in backends {
            match b {
                Backend::Docker => self.docker_check()?,
                Backend::K8s => self.k8s_check()?,
                Backend::Wasi => {}
            }
        }
        Ok(())
    }

    #[cfg(feature = "docker")]
    fn docker_check(&self) -> Result<(), SandboxError> {
        self.docker_engine().map(drop)
    }

    #[cfg(not(feature = "docker"))]
    fn docker_check(&self) -> Result<(), SandboxError> {
        Err(no_docker_feature())
    }

    #[cfg(feature = "k8s")]
    fn k8s_check(&self) -> Result<(), SandboxError> {
        self.k8s_engine().map(drop)
    }

    #[cfg(not(feature = "k8s"))]
    fn k8s_check(&self) -> Result<(), SandboxError> {
        Err(no_k8s_feature())
    }

    /// Removes every sandbox of `run_id` on every connected engine.
    pub async fn remove_all(&self, run_id: &str) {
        let _ = run_id; // in a build with neither engine, there is nothing to remove
        #[cfg(feature = "docker")]
        if let Ok(engine) = &self.docker {
            engine.remove_all(run_id).await;
        }
        #[cfg(feature = "k8s")]
        if let Ok(engine) = &self.k8s {
            engine.remove_all(run_id).await;
        }
    }
}

#[cfg(not(feature = "docker"))]
fn no_docker_feature() -> SandboxError {
    SandboxError::Unsupported(
        "this protege was built without the `docker` feature; use --sandbox k8s or wasi".into(),
    )
}

#[cfg(not(feature = "k8s"))]
fn no_k8s_feature() -> SandboxError {
    SandboxError::Unsupported(
        "this protege was built without the `k8s` feature; use --sandbox docker".into(),
    )
}

#[cfg(feature = "k8s")]
fn pod_settings(opts: &K8sOptions) -> Result<PodSettings, SandboxError> {
    Ok(PodSettings {
        namespace: opts.namespace.clone(),
        pull_policy: PullPolicy::parse(&opts.pull_policy)
            .map_err(|e| SandboxError::Unsupported(format!("--image-pull-policy: {e}")))?,
        start_timeout: opts.start_timeout,
        ..Default::default()
    })
}

/// A task's spec and the environment its tests run in, known before any work.
pub struct Environment {
    pub sandbox: Backend,
    pub spec: Result<Spec, SpecError>,
    /// (image name, image id) for Docker; (image name, `k8s:` + name) for Kubernetes, whose
    /// nodes hold the image; ("wasi", module and wheels id) for WASI.
    pub env: Result<(String, String), SandboxError>,
}

impl Environment {
    /// The id that goes into cache keys (empty when there is none).
    pub fn id(&self) -> &str {
        self.env.as_ref().map(|(_, id)| id.as_str()).unwrap_or("")
    }
}

pub struct Grader {
    engines: Engines,
    /// Labels every container this grader starts, so that all of them can be removed at once.
    pub run_id: String,
    pub limits: ContainerLimits,
    pub test_timeout: Duration,
    /// Re-runs of a failing evaluation, to find flaky tests.
    pub reruns: usize,
    /// The official version whose rules the evaluation follows (eval script, apply cascade,
    /// grading); set after [`Grader::new`], which starts with the current ones.
    pub rules: Rules,
    /// What grading containers reach (`--grading-network`); set after [`Grader::new`], which
    /// starts with none. Workspaces keep `limits.network`.
    pub egress: GradingEgress,
    /// How pods are made (`--cpus` is read from here); set after [`Grader::new`].
    pub k8s: K8sOptions,
    /// Every pull goes through it; the runner sets its own (look-ahead, caps, disk budget)
    /// after [`Grader::new`], which starts with the defaults.
    #[cfg(feature = "docker")]
    pub images: std::sync::Arc<images::pipeline::ImagePipeline>,
    /// Grading containers started ahead of their instance ([`Grader::plan_ahead`]).
    #[cfg(feature = "docker")]
    warm: crate::grading::warm::WarmStarts,
}

impl Grader {
    pub fn new(
        engines: Engines,
        run_id: String,
        limits: ContainerLimits,
        test_timeout: Duration,
        reruns: usize,
    ) -> Grader {
        Grader {
            engines,
            k8s: K8sOptions::default(),
            run_id,
            limits,
            test_timeout,
            reruns,
            rules: Rules::CURRENT,
            egress: GradingEgress::default(),
            #[cfg(feature = "docker")]
            images: Default::default(),
            #[cfg(feature = "docker")]
            warm: Default::default(),
        }
    }

    /// Applies `mode` to grading containers: for `index`, the internal network and the egress
    /// proxy are set up on the engine (an error when they cannot be). Without an engine (WASI
    /// grading) the mode is noted as having no effect.
    pub async fn set_grading_network(
        &mut self,
        mode: GradingNetwork,
        settings: &IndexSettings,
    ) -> Result<(), SandboxError> {
        #[cfg(feature = "docker")]
        if let Ok(engine) = self.engines.docker_engine() {
            self.egress = GradingEgress::start(engine, mode, settings).await?;
            return Ok(());
        }
        let _ = settings;
        self.egress = GradingEgress::unapplied(
            mode,
            "no Docker grading: WASI sandboxes have no network, pods have the run's deny-all NetworkPolicy",
        );
        Ok(())
    }

    #[cfg(feature = "docker")]
    pub fn engine(&self) -> Option<&DockerEngine> {
        self.engines.docker_engine().ok()
    }

    pub fn engines(&self) -> &Engines {
        &self.engines
    }

    /// Removes every container and pod this grader started that is still there.
    pub async fn remove_all(&self) {
        self.engines.remove_all(&self.run_id).await;
    }

    pub async fn environment(&self, task: &Task, kind: SandboxKind) -> Environment {
        let spec = specs::for_task(task);
        let sandbox = kind.for_task(task);
        let needs_setup = crate::sets::for_task(task).setup(task);
        let env = match (&spec, sandbox) {
            (Err(_), _) => Ok((String::new(), String::new())),
            // a set's start state is made by commands in a container (SWE-smith's bug patch)
            (Ok(_), Backend::Wasi) if needs_setup.is_some() => {
                Err(SandboxError::Unsupported(format!(
                    "{} tasks are set up in Docker (their start state is made in the container); use --sandbox docker",
                    crate::sets::for_task(task).name()
                )))
            }
            // pods have the run's deny-all NetworkPolicy from the start
            (Ok(_), Backend::K8s) if needs_setup.is_some_and(|s| s.network) => {
                Err(SandboxError::Unsupported(format!(
                    "{} set-ups need the network, which pods of a run never get; use --sandbox docker",
                    crate::sets::for_task(task).name()
                )))
            }
            (Ok(_), Backend::Docker) => self.docker_environment(task).await,
            (Ok(_), Backend::K8s) => self.k8s_environment(task),
            (Ok(_), Backend::Wasi) => wasi_environment_id().map(|id| ("wasi".to_string(), id)),
        };
        Environment { sandbox, spec, env }
    }

    #[cfg(feature = "docker")]
    async fn docker_environment(&self, task: &Task) -> Result<(String, String), SandboxError> {
        let engine = self.engines.docker_engine()?;
        images::resolve(engine, task, &self.images)
            .await
            .map(|r| (r.name, r.id))
    }

    #[cfg(not(feature = "docker"))]
    async fn docker_environment(&self, _: &Task) -> Result<(String, String), SandboxError> {
        Err(no_docker_feature())
    }

    #[cfg(feature = "k8s")]
    fn k8s_environment(&self, task: &Task) -> Result<(String, String), SandboxError> {
        self.engines.k8s_engine()?;
        let image = crate::grading::k8s::image_for(task)?;
        let id = format!("k8s:{image}");
        Ok((image, id))
    }

    #[cfg(not(feature = "k8s"))]
    fn k8s_environment(&self, _: &Task) -> Result<(String, String), SandboxError> {
        Err(no_k8s_feature())
    }

    /// A fresh workspace for a policy that acts in one: a container or pod from the instance
    /// image, or a WASI working copy of a built-in task.
    pub async fn open_workspace(
        &self,
        task: &Task,
        env: &Environment,
    ) -> Result<Box<dyn Sandbox>, SandboxError> {
        if let Err(e) = &env.spec {
            return Err(SandboxError::Unsupported(e.to_string()));
        }
        let image = match (&env.env, env.sandbox) {
            (Err(e), _) => return Err(e.clone()),
            (_, Backend::Wasi) => return wasi_workspace(task).await,
            (Ok((image, _)), _) => image,
        };
        let ws: Box<dyn Sandbox> = match env.sandbox {
            Backend::Docker => self.start_container(image, task).await?,
            Backend::K8s => self.start_pod(image, task).await?,
            Backend::Wasi => unreachable!("returned above"),
        };
        // the task set's start state (SWE-smith: its bug applied), then what only a workspace
        // gets (R2E-Gym: its hidden tests moved away)
        if let Err(InfraError { message, .. }) =
            crate::sets::run_setup(ws.as_ref(), task, true).await
        {
            let _ = ws.close().await;
            return Err(SandboxError::Io(message));
        }
        Ok(ws)
    }

    #[cfg(feature = "docker")]
    async fn start_container(
        &self,
        image: &str,
        task: &Task,
    ) -> Result<Box<dyn Sandbox>, SandboxError> {
        let limits = crate::sets::limits_for(task, &self.limits);
        let engine = self.engines.docker_engine()?;
        Ok(Box::new(
            DockerSandbox::start(engine, image, &self.run_id, &limits).await?,
        ))
    }

    #[cfg(not(feature = "docker"))]
    async fn start_container(&self, _: &str, _: &Task) -> Result<Box<dyn Sandbox>, SandboxError> {
        Err(no_docker_feature())
    }

    #[cfg(feature = "k8s")]
    async fn start_pod(&self, image: &str, task: &Task) -> Result<Box<dyn Sandbox>, SandboxError> {
        let engine = self.engines.k8s_engine()?;
        let resources = crate::grading::k8s::resources(&self.limits, &self.k8s);
        Ok(Box::new(
            PodSandbox::start(engine, image, &self.run_id, &task.instance_id, &resources).await?,
        ))
    }

    #[cfg(not(feature = "k8s"))]
    async fn start_pod(&self, _: &str, _: &Task) -> Result<Box<dyn Sandbox>, SandboxError> {
        Err(no_k8s_feature())
    }

    /// Grades `patch` in a fresh sandbox: pre-check, apply, tests, the official rules, and (with
    /// `reruns`) flaky tests. Never fails: infrastructure trouble is a verdict of its own.
    pub async fn grade(
        &self,
        task: &Task,
        env: &Environment,
        patch: Option<&str>,
    ) -> (Verdict, EvalOutcome) {
        if let Some(v) = precheck(patch) {
            return (v, EvalOutcome::default());
        }
        let patch = patch.expect("prechecked");
        let (spec, (image, image_id)) = match (&env.spec, &env.env) {
            (Err(e), _) => {
                let e = InfraError::new(InfraKind::NoSpec, e.to_string());
                return (infra_verdict(e), Default::default());
            }
            (_, Err(e)) => return (infra_verdict(infra_error(e)), Default::default()),
            (Ok(spec), Ok(env)) => (spec, env),
        };
        let eval = self
            .evaluate(env.sandbox, image, image_id, task, spec, patch)
            .await;
        let mut v = from_outcome(task, spec, &eval, self.rules);
        if self.reruns > 0 && v.outcome == Outcome::Unresolved {
            let first = parse_statuses(task, spec, &eval, self.rules);
            let mut again = Vec::new();
            for _ in 0..self.reruns {
                let o = self
                    .evaluate(env.sandbox, image, image_id, task, spec, patch)
                    .await;
                if o.infra_error.is_none() && !o.timed_out {
                    again.push(parse_statuses(task, spec, &o, self.rules));
                }
            }
            v.flaky = flaky_tests(task, &first, &again);
        }
        (v, eval)
    }

    async fn evaluate(
        &self,
        sandbox: Backend,
        image: &str,
        image_id: &str,
        task: &Task,
        spec: &Spec,
        patch: &str,
    ) -> EvalOutcome {
        match sandbox {
            Backend::Docker => {
                self.evaluate_in_container(image, image_id, task, spec, patch)
                    .await
            }
            Backend::K8s => {
                self.evaluate_on_pod(image, image_id, task, spec, patch)
                    .await
            }
            Backend::Wasi => wasi_evaluate(task, spec, patch, self.test_timeout, self.rules).await,
        }
    }

    #[cfg(feature = "docker")]
    async fn evaluate_in_container(
        &self,
        image: &str,
        image_id: &str,
        task: &Task,
        spec: &Spec,
        patch: &str,
    ) -> EvalOutcome {
        let engine = match self.engines.docker_engine() {
            Ok(e) => e,
            Err(e) => return infra_outcome(&e),
        };
        self.start_successor(engine, task);
        // a rerun (flaky tests) finds the container started ahead already taken
        let warm = self.warm.take(&task.instance_id, image).await;
        let dcfg = self.docker_eval(image, image_id);
        docker_grading::evaluate(engine, &dcfg, task, spec, patch, warm).await
    }

    #[cfg(feature = "docker")]
    fn docker_eval(&self, image: &str, image_id: &str) -> DockerEval {
        DockerEval {
            image: image.to_string(),
            image_id: image_id.to_string(),
            run_id: self.run_id.clone(),
            limits: self.limits.clone(),
            test_timeout: self.test_timeout,
            rules: self.rules,
            egress: self.egress.clone(),
        }
    }

    /// Names `task`'s successor, whose grading container starts (from its image, pulled if
    /// need be) when `task`'s evaluation begins; the runner names only Docker tasks whose spec
    /// resolves.
    #[cfg(feature = "docker")]
    pub fn plan_ahead(&self, task: &Task, next: Task) {
        self.warm.plan(&task.instance_id, next);
    }

    /// Starts the grading container of `task`'s successor in the background. On any failure
    /// the reservation lapses and the successor starts a container of its own, which meets the
    /// same error and records it.
    #[cfg(feature = "docker")]
    fn start_successor(&self, engine: &DockerEngine, task: &Task) {
        let Some((next, reservation)) = self.warm.successor(&task.instance_id) else {
            return;
        };
        let (engine, pulls) = (engine.clone(), self.images.clone());
        let template = self.docker_eval("", "");
        self.warm.spawn(async move {
            let Ok(image) = images::resolve(&engine, &next, &pulls).await else {
                return;
            };
            let cfg = DockerEval {
                image: image.name.clone(),
                image_id: image.id,
                ..template
            };
            if let Ok(sandbox) = docker_grading::start(&engine, &cfg, &next).await {
                reservation.fill(&image.name, sandbox);
            }
        });
    }

    /// Removes `task`'s container started ahead if its evaluation did not take it.
    #[cfg(feature = "docker")]
    pub async fn discard_ahead(&self, task: &Task) {
        self.warm.discard(&task.instance_id).await;
    }

    /// Removes the containers started ahead that no evaluation took (a run's end or stop).
    #[cfg(feature = "docker")]
    pub async fn close_ahead(&self) {
        self.warm.close_all().await;
    }

    #[cfg(not(feature = "docker"))]
    async fn evaluate_in_container(
        &self,
        _: &str,
        _: &str,
        _: &Task,
        _: &Spec,
        _: &str,
    ) -> EvalOutcome {
        infra_outcome(&no_docker_feature())
    }

    #[cfg(feature = "k8s")]
    async fn evaluate_on_pod(
        &self,
        image: &str,
        image_id: &str,
        task: &Task,
        spec: &Spec,
        patch: &str,
    ) -> EvalOutcome {
        let engine = match self.engines.k8s_engine() {
            Ok(e) => e,
            Err(e) => return infra_outcome(&e),
        };
        let kcfg = crate::grading::k8s::PodEval {
            image: image.to_string(),
            image_id: image_id.to_string(),
            run_id: self.run_id.clone(),
            resources: crate::grading::k8s::resources(&self.limits, &self.k8s),
            test_timeout: self.test_timeout,
            rules: self.rules,
        };
        crate::grading::k8s::evaluate(engine, &kcfg, task, spec, patch).await
    }

    #[cfg(not(feature = "k8s"))]
    async fn evaluate_on_pod(&self, _: &str, _: &str, _: &Task, _: &Spec, _: &str) -> EvalOutcome {
        infra_outcome(&no_k8s_feature())
    }
}

/// An evaluation that could not start: the infrastructure error is all there is.
fn infra_outcome(e: &SandboxError) -> EvalOutcome {
    EvalOutcome {
        infra_error: Some(infra_error(e)),
        ..Default::default()
    }
}

pub fn infra_verdict(e: InfraError) -> Verdict {
    Verdict {
        outcome: Outcome::InfraError,
        report: Report {
            patch_exists: true,
            ..Default::default()
        },
        infra_error: Some(e),
        patch_problem: None,
        flaky: Vec::new(),
    }
}

#[cfg(feature = "wasi")]
async fn wasi_workspace(task: &Task) -> Result<Box<dyn Sandbox>, SandboxError> {
    Ok(Box::new(crate::workspace::WasiWorkspace::open(task).await?))
}

#[cfg(not(feature = "wasi"))]
async fn wasi_workspace(_: &Task) -> Result<Box<dyn Sandbox>, SandboxError> {
    Err(SandboxError::Unsupported(
        "built without the `wasi` feature".into(),
    ))
}

#[cfg(feature = "wasi")]
fn wasi_environment_id() -> Result<String, SandboxError> {
    crate::grading::wasi::environment_id()
}

#[cfg(not(feature = "wasi"))]
fn wasi_environment_id() -> Result<String, SandboxError> {
    Err(SandboxError::Unsupported(
        "this protege was built without the `wasi` feature; use --sandbox docker".into(),
    ))
}

#[cfg(feature = "wasi")]
async fn wasi_evaluate(
    task: &Task,
    spec: &Spec,
    patch: &str,
    timeout: Duration,
    rules: Rules,
) -> EvalOutcome {
    crate::grading::wasi::evaluate(task, spec, patch, timeout, rules).await
}

#[cfg(not(feature = "wasi"))]
async fn wasi_evaluate(_: &Task, _: &Spec, _: &str, _: Duration, _: Rules) -> EvalOutcome {
    EvalOutcome {
        infra_error: Some(InfraError::new(
            InfraKind::Unsupported,
            "built without the `wasi` feature",
        )),
        ..Default::default()
    }
}
