//! Evaluating a patch in a fresh Kubernetes pod: the steps of [`super::sandboxed`] on a
//! [`PodSandbox`]. The pod's image is named as the Docker backend names it; whether a node has
//! it is the cluster's business (`imagePullPolicy`), so a missing image shows as the pod's own
//! pull error.

use std::time::Duration;

use protege_datasets::{Task, mini};
use protege_sandboxes::ContainerLimits;
use protege_sandboxes::k8s::pod::PodResources;
use protege_sandboxes::k8s::{KubeEngine, PodSandbox};
use protege_sandboxes::names::protege_name;
use protege_sandboxes::{Sandbox, SandboxError};

use super::sandboxed::set_up_then_run;
use super::{EvalOutcome, infra_error};
use crate::eval_script::eval_script;
use crate::grader::K8sOptions;
use crate::grading::rules::Rules;
use crate::specs::Spec;

/// Everything an evaluation on a pod needs besides the task and patch.
#[derive(Debug, Clone)]
pub struct PodEval {
    pub image: String,
    pub image_id: String,
    pub run_id: String,
    pub resources: PodResources,
    pub test_timeout: Duration,
    pub rules: Rules,
}

/// The image a task's pods run: a row's `image` column, the `--image-template` name, protege's
/// own image for a built-in task, else the first of the task set's names (the official one).
pub fn image_for(task: &Task) -> Result<String, SandboxError> {
    if let Some(image) = &task.image {
        return Ok(image.clone());
    }
    let templated = task.extra_str(crate::sets::template::IMAGE_KEY).is_some();
    if mini::is_mini(&task.instance_id) && !templated {
        return Ok(protege_name(&task.instance_id));
    }
    crate::sets::image_names(task)
        .into_iter()
        .next()
        .ok_or_else(|| {
            SandboxError::ImageMissing(format!("{}: the task names no image", task.instance_id))
        })
}

/// Pod requests and limits: the run's memory limit (`--memory-mib`) and `--cpus`.
pub fn resources(limits: &ContainerLimits, opts: &K8sOptions) -> PodResources {
    PodResources {
        memory_bytes: limits.memory_bytes,
        cpus: opts.cpus,
    }
}

/// Evaluates one patch; never fails, since every failure is part of the outcome.
pub async fn evaluate(
    engine: &KubeEngine,
    cfg: &PodEval,
    task: &Task,
    spec: &Spec,
    patch: &str,
) -> EvalOutcome {
    let mut out = EvalOutcome {
        environment_id: cfg.image_id.clone(),
        eval_script: eval_script(task, spec, cfg.rules),
        ..Default::default()
    };
    let sandbox = match PodSandbox::start(
        engine,
        &cfg.image,
        &cfg.run_id,
        &task.instance_id,
        &cfg.resources,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            out.infra_error = Some(infra_error(&e));
            return out;
        }
    };
    set_up_then_run(
        &sandbox,
        task,
        cfg.rules,
        cfg.test_timeout,
        cfg.resources.memory_bytes,
        patch,
        &mut out,
    )
    .await;
    if let Err(e) = sandbox.close().await {
        out.apply_log.push_str(&format!("warning: {e}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mini_tasks_run_protege_images() {
        let set = mini::load().unwrap();
        let task = &set.tasks[0];
        assert_eq!(image_for(task).unwrap(), protege_name(&task.instance_id));
        let mut named = task.clone();
        named.image = Some("registry.example/x:1".into());
        assert_eq!(image_for(&named).unwrap(), "registry.example/x:1");
    }
}
