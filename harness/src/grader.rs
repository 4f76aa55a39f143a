//! What the runner and the episode server share: choosing a task's sandbox and environment,
//! opening the workspace a policy acts in, and grading one patch in a fresh sandbox.

use std::time::Duration;

use protege_datasets::Task;
use protege_results::{InfraError, Outcome, Report, Verdict};
use protege_sandboxes::docker::{ContainerLimits, DockerEngine, DockerSandbox};
use protege_sandboxes::{Sandbox, SandboxError};

use crate::grading::EvalOutcome;
use crate::grading::docker::{self as docker_grading, DockerEval};
use crate::grading::network::{GradingEgress, GradingNetwork, IndexSettings};
use crate::grading::rules::Rules;
use crate::grading::verdict::{flaky_tests, from_outcome, parse_statuses, precheck};
use crate::images;
use crate::specs::{self, Spec, SpecError};

/// Which sandbox grades the patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxKind {
    Docker,
    Wasi,
    /// WASI for tasks whose spec allows it, Docker otherwise.
    Auto,
}

impl SandboxKind {
    pub fn parse(s: &str) -> Result<SandboxKind, String> {
        match s {
            "docker" => Ok(SandboxKind::Docker),
            "wasi" => Ok(SandboxKind::Wasi),
            "auto" => Ok(SandboxKind::Auto),
            _ => Err(format!(
                "unknown sandbox `{s}`: expected docker, wasi or auto"
            )),
        }
    }

    pub fn for_spec(self, spec: &Spec) -> &'static str {
        match self {
            SandboxKind::Docker => "docker",
            SandboxKind::Wasi => "wasi",
            SandboxKind::Auto if spec.wasi_ok && cfg!(feature = "wasi") => "wasi",
            SandboxKind::Auto => "docker",
        }
    }

    /// The sandbox a task would use (Docker when it has no spec: it fails there with the reason).
    pub fn for_task(self, task: &Task) -> &'static str {
        specs::for_task(task)
            .map(|s| self.for_spec(&s))
            .unwrap_or("docker")
    }
}

/// A task's spec and the environment its tests run in, known before any work.
pub struct Environment {
    /// `docker` or `wasi`.
    pub sandbox: &'static str,
    pub spec: Result<Spec, SpecError>,
    /// (image name, image id) for Docker; ("wasi", module and wheels id) for WASI.
    pub env: Result<(String, String), SandboxError>,
}

impl Environment {
    /// The id that goes into cache keys (empty when there is none).
    pub fn id(&self) -> &str {
        self.env.as_ref().map(|(_, id)| id.as_str()).unwrap_or("")
    }
}

pub struct Grader {
    engine: Option<DockerEngine>,
    /// Why there is no engine, for the errors of tasks that need one.
    engine_error: String,
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
    /// Every pull goes through it; the runner sets its own (look-ahead, caps, disk budget)
    /// after [`Grader::new`], which starts with the defaults.
    pub images: std::sync::Arc<images::pipeline::ImagePipeline>,
}

impl Grader {
    pub fn new(
        engine: Result<DockerEngine, SandboxError>,
        run_id: String,
        limits: ContainerLimits,
        test_timeout: Duration,
        reruns: usize,
    ) -> Grader {
        let (engine, engine_error) = match engine {
            Ok(e) => (Some(e), String::new()),
            Err(e) => (None, e.to_string()),
        };
        Grader {
            engine,
            engine_error,
            run_id,
            limits,
            test_timeout,
            reruns,
            rules: Rules::CURRENT,
            egress: GradingEgress::default(),
            images: Default::default(),
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
        self.egress = match &self.engine {
            Some(engine) => GradingEgress::start(engine, mode, settings).await?,
            None => {
                GradingEgress::unapplied(mode, "no Docker grading: WASI sandboxes have no network")
            }
        };
        Ok(())
    }

    pub fn engine(&self) -> Option<&DockerEngine> {
        self.engine.as_ref()
    }

    fn no_engine(&self) -> SandboxError {
        SandboxError::EngineUnavailable(if self.engine_error.is_empty() {
            "no Docker engine".into()
        } else {
            self.engine_error.clone()
        })
    }

    /// Removes every container this grader started that is still there.
    pub async fn remove_all(&self) {
        if let Some(engine) = &self.engine {
            engine.remove_all(&self.run_id).await;
        }
    }

    pub async fn environment(&self, task: &Task, kind: SandboxKind) -> Environment {
        let spec = specs::for_task(task);
        let sandbox = spec.as_ref().map(|s| kind.for_spec(s)).unwrap_or("docker");
        let needs_setup = crate::sets::for_task(task).setup(task).is_some();
        let env = match (&spec, sandbox, &self.engine) {
            (Err(_), _, _) => Ok((String::new(), String::new())),
            // a set's start state is made by commands in a container (SWE-smith's bug patch)
            (Ok(_), "wasi", _) if needs_setup => Err(SandboxError::Unsupported(format!(
                "{} tasks are set up in Docker (their start state is made in the container); use --sandbox docker",
                crate::sets::for_task(task).name()
            ))),
            (Ok(_), "docker", Some(engine)) => images::resolve(engine, task, &self.images)
                .await
                .map(|r| (r.name, r.id)),
            (Ok(_), "wasi", _) => wasi_environment_id().map(|id| ("wasi".to_string(), id)),
            _ => Err(self.no_engine()),
        };
        Environment { sandbox, spec, env }
    }

    /// A fresh workspace for a policy that acts in one: a container from the instance image, or
    /// a WASI working copy of a built-in task.
    pub async fn open_workspace(
        &self,
        task: &Task,
        env: &Environment,
    ) -> Result<Box<dyn Sandbox>, SandboxError> {
        if let Err(e) = &env.spec {
            return Err(SandboxError::Unsupported(e.to_string()));
        }
        match (env.sandbox, &env.env, &self.engine) {
            (_, Err(e), _) => Err(e.clone()),
            ("docker", Ok((image, _)), Some(engine)) => {
                let limits = crate::sets::limits_for(task, &self.limits);
                let ws = DockerSandbox::start(engine, image, &self.run_id, &limits).await?;
                // the task set's start state (SWE-smith: its bug applied), then what only a
                // workspace gets (R2E-Gym: its hidden tests moved away)
                if let Err((_, message)) = crate::sets::run_setup(&ws, task, true).await {
                    let _ = ws.close().await;
                    return Err(SandboxError::Io(message));
                }
                Ok(Box::new(ws))
            }
            ("wasi", _, _) => wasi_workspace(task).await,
            _ => Err(self.no_engine()),
        }
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
            (Err(e), _) => return (infra_verdict("no_spec", e.to_string()), Default::default()),
            (_, Err(e)) => return (infra_verdict(e.kind(), e.to_string()), Default::default()),
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
        sandbox: &str,
        image: &str,
        image_id: &str,
        task: &Task,
        spec: &Spec,
        patch: &str,
    ) -> EvalOutcome {
        match (sandbox, &self.engine) {
            ("docker", Some(engine)) => {
                let dcfg = DockerEval {
                    image: image.to_string(),
                    image_id: image_id.to_string(),
                    run_id: self.run_id.clone(),
                    limits: self.limits.clone(),
                    test_timeout: self.test_timeout,
                    rules: self.rules,
                    egress: self.egress.clone(),
                };
                docker_grading::evaluate(engine, &dcfg, task, spec, patch).await
            }
            ("wasi", _) => wasi_evaluate(task, spec, patch, self.test_timeout, self.rules).await,
            _ => EvalOutcome {
                infra_error: Some(("engine_unavailable".into(), self.no_engine().to_string())),
                ..Default::default()
            },
        }
    }
}

pub fn infra_verdict(kind: &str, message: String) -> Verdict {
    Verdict {
        outcome: Outcome::InfraError,
        report: Report {
            patch_exists: true,
            ..Default::default()
        },
        infra_error: Some(InfraError {
            kind: kind.into(),
            message,
        }),
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
        infra_error: Some((
            "unsupported".into(),
            "built without the `wasi` feature".into(),
        )),
        ..Default::default()
    }
}
