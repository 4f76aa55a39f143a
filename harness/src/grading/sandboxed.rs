//! The steps of an evaluation that are the same in every sandbox that runs shell commands
//! (Docker containers, Kubernetes pods): write the patch, apply it with the rules' cascade
//! ([`Rules::apply_commands`]: `git apply`, …, `patch --fuzz=5`), run the eval script, keep its
//! whole output.

use std::time::Duration;

use protege_results::{InfraError, InfraKind};
use protege_sandboxes::exec::{split_oom_counters, with_oom_counters};
use protege_sandboxes::{ExecOptions, Sandbox};

use super::{EvalOutcome, infra_error};
use crate::grading::rules::Rules;

/// Where the patch and the eval script are written inside the sandbox.
const PATCH_PATH: &str = "/tmp/patch.diff";
const EVAL_PATH: &str = "/eval.sh";

/// The task set's start state (SWE-smith: its bug applied) and then, when it was reached, the
/// model's patch and the tests ([`run_in`]); a set-up that fails is an infrastructure error.
pub(crate) async fn set_up_then_run(
    sandbox: &dyn Sandbox,
    task: &protege_datasets::Task,
    rules: Rules,
    test_timeout: Duration,
    memory_bytes: i64,
    patch: &str,
    out: &mut EvalOutcome,
) {
    match crate::sets::run_setup(sandbox, task, false).await {
        Ok(()) => run_in(sandbox, rules, test_timeout, memory_bytes, patch, out).await,
        Err(e) => out.infra_error = Some(e),
    }
}

/// Applies `patch` and runs `out.eval_script` in `sandbox`, filling `out`.
pub(crate) async fn run_in(
    sandbox: &dyn Sandbox,
    rules: Rules,
    test_timeout: Duration,
    memory_bytes: i64,
    patch: &str,
    out: &mut EvalOutcome,
) {
    let mut patch_text = patch.to_string();
    // git apply and patch both want the last line terminated.
    if !patch_text.ends_with('\n') {
        patch_text.push('\n');
    }
    if let Err(e) = sandbox.write_file(PATCH_PATH, patch_text.as_bytes()).await {
        out.infra_error = Some(infra_error(&e));
        return;
    }
    let apply_opts = ExecOptions::with_timeout(Duration::from_secs(300));
    let mut applied = false;
    for (attempt, cmd) in rules.apply_commands().iter().enumerate() {
        if attempt > 0
            && let Some(cleanup) = rules.cleanup_between_attempts()
            && let Err(e) = sandbox.exec(cleanup, &apply_opts).await
        {
            out.infra_error = Some(infra_error(&e));
            return;
        }
        let res = match sandbox
            .exec(&format!("{cmd} {PATCH_PATH}"), &apply_opts)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                out.infra_error = Some(infra_error(&e));
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
    if !applied && let Some(check) = rules.already_applied_check() {
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
                out.infra_error = Some(infra_error(&e));
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
        out.infra_error = Some(infra_error(&e));
        return;
    }
    match sandbox
        .exec(
            &with_oom_counters(&format!("/bin/bash {EVAL_PATH}")),
            &ExecOptions::with_timeout(test_timeout),
        )
        .await
    {
        Ok(mut r) => {
            let (output, counted) = split_oom_counters(std::mem::take(&mut r.output));
            r.output = output;
            let oom = match counted {
                Some(true) => true,
                Some(false) => sandbox.engine_saw_oom().await,
                None => sandbox.oom_killed().await,
            };
            if oom {
                // A test process was killed at the memory limit: the log is incomplete for a
                // reason outside the tests, so the run is an infrastructure error, not a verdict.
                out.infra_error = Some(InfraError::new(
                    InfraKind::Oom,
                    format!(
                        "a test process hit the sandbox's memory limit ({} MiB)",
                        memory_bytes >> 20
                    ),
                ));
            }
            out.test_output = r.output;
            out.test_duration = r.duration;
            out.timed_out = r.timed_out;
            if r.timed_out {
                out.test_output.push_str(&format!(
                    "\n[protege: tests stopped at the {} s deadline]\n",
                    test_timeout.as_secs()
                ));
            }
        }
        Err(e) => out.infra_error = Some(infra_error(&e)),
    }
}
