//! Evaluating a patch in a fresh Docker container, as the official harness does: write the
//! patch, apply it with the rules' cascade ([`Rules::apply_commands`]: `git apply`, …,
//! `patch --fuzz=5`), run the eval script, keep its whole output.

use std::time::Duration;

use protege_datasets::Task;
use protege_sandboxes::docker::{ContainerLimits, DockerEngine, DockerSandbox, Network};
use protege_sandboxes::{Sandbox, SandboxError};

use super::sandboxed::set_up_then_run;
use super::{EvalOutcome, infra_error};
use crate::eval_script::eval_script;
use crate::grading::network::{CA_BUNDLE_PATH, GradingEgress};
use crate::grading::rules::Rules;
use crate::specs::Spec;

/// Everything an evaluation needs besides the task and patch.
#[derive(Debug, Clone)]
pub struct DockerEval {
    pub image: String,
    pub image_id: String,
    pub run_id: String,
    pub limits: ContainerLimits,
    pub test_timeout: Duration,
    /// The official version whose eval script and apply cascade are used.
    pub rules: Rules,
    /// What the container reaches (`--grading-network`): its network, and for `index` the
    /// egress proxy whose log says what the eval reached (it replaces `limits.network`).
    pub egress: GradingEgress,
}

/// The limits a task's grading container runs under: the run's, on grading's network.
fn grading_limits(cfg: &DockerEval, task: &Task) -> ContainerLimits {
    crate::sets::limits_for(
        task,
        &ContainerLimits {
            network: cfg.egress.container_network(),
            ..cfg.limits.clone()
        },
    )
}

/// Creates and starts a task's grading container, as [`evaluate`] does when it is given none.
pub async fn start(
    engine: &DockerEngine,
    cfg: &DockerEval,
    task: &Task,
) -> Result<DockerSandbox, SandboxError> {
    DockerSandbox::start(engine, &cfg.image, &cfg.run_id, &grading_limits(cfg, task)).await
}

/// Evaluates one patch in `warm` (a container [`start`]ed ahead for this task) or a fresh
/// container; never fails, since every failure is part of the outcome.
pub async fn evaluate(
    engine: &DockerEngine,
    cfg: &DockerEval,
    task: &Task,
    spec: &Spec,
    patch: &str,
    warm: Option<DockerSandbox>,
) -> EvalOutcome {
    let mut out = EvalOutcome {
        environment_id: cfg.image_id.clone(),
        eval_script: eval_script(task, spec, cfg.rules),
        warm_start: warm.is_some(),
        ..Default::default()
    };
    let limits = grading_limits(cfg, task);
    let sandbox = match warm {
        Some(s) => s,
        None => match start(engine, cfg, task).await {
            Ok(s) => s,
            Err(e) => {
                out.infra_error = Some(infra_error(&e));
                return out;
            }
        },
    };
    // the container's address tells its proxy requests apart from other evaluations'
    if let Some(ca) = &cfg.egress.ca_bundle
        && let Err(e) = sandbox.write_file(CA_BUNDLE_PATH, ca).await
    {
        out.infra_error = Some(infra_error(&e));
        let _ = sandbox.close().await;
        return out;
    }
    let proxy = cfg.egress.proxy.as_ref();
    let client = match (proxy, &limits.network) {
        (Some(proxy), Network::Internal { name, .. }) => {
            let ip = sandbox.ip_on(name).await;
            // anything logged under the address before is an earlier container's
            ip.inspect(|ip| drop(proxy.take(*ip)))
        }
        _ => None,
    };
    set_up_then_run(
        &sandbox,
        task,
        cfg.rules,
        cfg.test_timeout,
        cfg.limits.memory_bytes,
        patch,
        &mut out,
    )
    .await;
    if let (Some(proxy), Some(ip)) = (proxy, client) {
        out.egress = proxy.take(ip);
    }
    if let Err(e) = sandbox.close().await {
        out.apply_log.push_str(&format!("warning: {e}\n"));
    }
    out
}
