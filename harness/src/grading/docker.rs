//! Evaluating a patch in a fresh Docker container, as the official harness does: write the
//! patch, apply it with the rules' cascade ([`Rules::apply_commands`]: `git apply`, …,
//! `patch --fuzz=5`), run the eval script, keep its whole output.

use std::time::Duration;

use protege_datasets::Task;
use protege_sandboxes::docker::{ContainerLimits, DockerEngine, DockerSandbox, Network};
use protege_sandboxes::{ExecOptions, Sandbox, SandboxError};

use super::EvalOutcome;
use crate::eval_script::eval_script;
use crate::grading::network::{CA_BUNDLE_PATH, GradingEgress};
use crate::grading::rules::Rules;
use crate::specs::Spec;

/// Where the patch and the eval script are written inside the container.
const PATCH_PATH: &str = "/tmp/patch.diff";
const EVAL_PATH: &str = "/eval.sh";

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

fn infra(e: &SandboxError) -> Option<(String, String)> {
    Some((e.kind().to_string(), e.to_string()))
}

/// Evaluates one patch; never fails, since every failure is part of the outcome.
pub async fn evaluate(
    engine: &DockerEngine,
    cfg: &DockerEval,
    task: &Task,
    spec: &Spec,
    patch: &str,
) -> EvalOutcome {
    let mut out = EvalOutcome {
        environment_id: cfg.image_id.clone(),
        eval_script: eval_script(task, spec, cfg.rules),
        ..Default::default()
    };
    let limits = crate::sets::limits_for(
        task,
        &ContainerLimits {
            network: cfg.egress.container_network(),
            ..cfg.limits.clone()
        },
    );
    let sandbox = match DockerSandbox::start(engine, &cfg.image, &cfg.run_id, &limits).await {
        Ok(s) => s,
        Err(e) => {
            out.infra_error = infra(&e);
            return out;
        }
    };
    // the container's address tells its proxy requests apart from other evaluations'
    if let Some(ca) = &cfg.egress.ca_bundle
        && let Err(e) = sandbox.write_file(CA_BUNDLE_PATH, ca).await
    {
        out.infra_error = infra(&e);
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
    // the task set's start state (SWE-smith: its bug applied) before the model's patch
    match crate::sets::run_setup(&sandbox, task, false).await {
        Ok(()) => run_in(&sandbox, cfg, patch, &mut out).await,
        Err(e) => out.infra_error = Some(e),
    }
    if let (Some(proxy), Some(ip)) = (proxy, client) {
        out.egress = proxy.take(ip);
    }
    if let Err(e) = sandbox.close().await {
        out.apply_log.push_str(&format!("warning: {e}\n"));
    }
    out
}

async fn run_in(sandbox: &DockerSandbox, cfg: &DockerEval, patch: &str, out: &mut EvalOutcome) {
    let mut patch_text = patch.to_string();
    // git apply and patch both want the last line terminated.
    if !patch_text.ends_with('\n') {
        patch_text.push('\n');
    }
    if let Err(e) = sandbox.write_file(PATCH_PATH, patch_text.as_bytes()).await {
        out.infra_error = infra(&e);
        return;
    }
    let apply_opts = ExecOptions::with_timeout(Duration::from_secs(300));
    let mut applied = false;
    for (attempt, cmd) in cfg.rules.apply_commands().iter().enumerate() {
        if attempt > 0
            && let Some(cleanup) = cfg.rules.cleanup_between_attempts()
            && let Err(e) = sandbox.exec(cleanup, &apply_opts).await
        {
            out.infra_error = infra(&e);
            return;
        }
        let res = match sandbox
            .exec(&format!("{cmd} {PATCH_PATH}"), &apply_opts)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                out.infra_error = infra(&e);
                return;
            }
        };
        if res.success() {
            out.apply_log
                .push_str(&format!(">>>>> Applied Patch ({cmd}):\n{}\n", res.output));
            applied = true;
            break;
        }
        out.apply_log.push_str(&format!(
            "Failed to apply patch to container: {cmd} (exit {:?}):\n{}\n",
            res.exit_code, res.output
        ));
    }
    if !applied && let Some(check) = cfg.rules.already_applied_check() {
        match sandbox
            .exec(&format!("{check} {PATCH_PATH}"), &apply_opts)
            .await
        {
            Ok(r) if r.success() => {
                out.apply_log
                    .push_str(">>>>> Applied Patch: verified already applied\n");
                applied = true;
            }
            Ok(_) => {}
            Err(e) => {
                out.infra_error = infra(&e);
                return;
            }
        }
    }
    out.applied = Some(applied);
    if !applied {
        out.apply_log.push_str(">>>>> Patch Apply Failed\n");
        return;
    }
    if let Err(e) = sandbox
        .write_file(EVAL_PATH, out.eval_script.as_bytes())
        .await
    {
        out.infra_error = infra(&e);
        return;
    }
    match sandbox
        .exec(
            &format!("/bin/bash {EVAL_PATH}"),
            &ExecOptions::with_timeout(cfg.test_timeout),
        )
        .await
    {
        Ok(r) => {
            if sandbox.oom_killed().await {
                // A test process was killed at the memory limit: the log is incomplete for a
                // reason outside the tests, so the run is an infrastructure error, not a verdict.
                out.infra_error = Some((
                    "oom".into(),
                    format!(
                        "a test process hit the container's memory limit ({} MiB)",
                        cfg.limits.memory_bytes >> 20
                    ),
                ));
            }
            out.test_output = r.output;
            out.test_duration = r.duration;
            out.timed_out = r.timed_out;
            if r.timed_out {
                out.test_output.push_str(&format!(
                    "\n[protege: tests stopped at the {} s deadline]\n",
                    cfg.test_timeout.as_secs()
                ));
            }
        }
        Err(e) => out.infra_error = infra(&e),
    }
}
