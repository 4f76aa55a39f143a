//! Evaluating a patch under WASI: the task's repository is materialised into a fresh scratch
//! sandbox, the model patch applied by `patch::apply` (git's rules, then `patch --fuzz=5`'s, as
//! the official cascade), the test files reset to the base commit and the test patch applied,
//! then pytest runs on the test directives between the usual markers, so the same parser and
//! grading apply as for Docker.
//!
//! Only repositories protege can materialise without a git checkout can run here: the built-in
//! `mini` tasks. Every failure is part of the outcome; nothing here returns an error.

use std::time::Duration;

use protege_datasets::{Task, mini};
use protege_results::{InfraError, InfraKind};
use protege_sandboxes::wasi::{PYTEST_WASI_ARGS, WasiLimits, WasiSandbox};
use protege_sandboxes::{ExecOptions, Sandbox, SandboxError};

use super::{EvalOutcome, infra_error};
use crate::eval_script::{END_MARKER, START_MARKER};
use crate::grading::rules::{Rules, TEST_EXIT_CODE};
use crate::patch::apply::{ApplyError, ApplyOptions, apply_patch};
use crate::specs::{DETERMINISM_ENV, Spec, test_files};

/// The apply methods, in the order tried (the official harness's cascade, without git's
/// `--reject`, which never counts as applied there either).
pub const APPLY_METHODS: &[(&str, ApplyOptions)] = &[
    ("git apply rules", ApplyOptions::GIT),
    ("patch --fuzz=5 rules", ApplyOptions::FUZZ5),
];

/// The environment tests run in under WASI (module sha256 and site digest); no preparation.
pub fn environment_id() -> Result<String, SandboxError> {
    Ok(protege_sandboxes::wasi::environment_id())
}

/// The WASI command line for the spec's test command: its pytest arguments, then the
/// directives. `None` when the test command is not pytest.
pub fn test_command(task: &Task, spec: &Spec) -> Option<String> {
    let cmd = spec.test_cmd.trim();
    let args = ["python3 -m pytest", "python -m pytest", "pytest"]
        .iter()
        .find_map(|p| {
            cmd.strip_prefix(p)
                .filter(|r| r.is_empty() || r.starts_with(' '))
        })?
        .trim();
    let mut line = String::from("pytest");
    let directives = spec.test_directives(task);
    for a in args
        .split_whitespace()
        .chain(directives.iter().map(String::as_str))
    {
        line.push(' ');
        line.push_str(&shell_quote(a));
    }
    Some(line)
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=[],+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Evaluates one patch under WASI.
///
/// An empty patch applies nothing and the tests run on the base tree (the runner records empty
/// patches before evaluation; here it is a way to see FAIL_TO_PASS fail).
pub async fn evaluate(
    task: &Task,
    spec: &Spec,
    patch: &str,
    timeout: Duration,
    rules: Rules,
) -> EvalOutcome {
    let mut out = EvalOutcome {
        environment_id: protege_sandboxes::wasi::environment_id(),
        ..Default::default()
    };
    if !mini::is_mini(&task.instance_id) {
        out.infra_error = Some(InfraError::new(
            InfraKind::Unsupported,
            format!(
                "{}: WASI can only materialise built-in tasks without a git checkout; use --sandbox docker",
                task.instance_id
            ),
        ));
        return out;
    }
    if !spec.wasi_ok {
        out.infra_error = Some(InfraError::new(
            InfraKind::Unsupported,
            format!(
                "{}: its tests need processes or native code, which WASI does not have",
                task.instance_id
            ),
        ));
        return out;
    }
    let Some(command) = test_command(task, spec) else {
        out.infra_error = Some(InfraError::new(
            InfraKind::Unsupported,
            format!(
                "test command `{}` is not pytest; WASI runs only pytest",
                spec.test_cmd
            ),
        ));
        return out;
    };
    out.eval_script = command.clone();
    let sandbox = match WasiSandbox::open_scratch(WasiLimits::default()).await {
        Ok(s) => s,
        Err(e) => {
            out.infra_error = Some(infra_error(&e));
            return out;
        }
    };
    run_in(&sandbox, task, patch, &command, timeout, rules, &mut out).await;
    if let Err(e) = sandbox.close().await {
        out.apply_log.push_str(&format!("warning: {e}\n"));
    }
    out
}

/// Writes the base files of a mini task into `root`.
pub(crate) fn materialise(task: &Task, root: &std::path::Path) -> Result<(), SandboxError> {
    let files = mini::repo_files(&task.instance_id);
    if files.is_empty() {
        return Err(SandboxError::Io(format!(
            "{}: no repository files",
            task.instance_id
        )));
    }
    for f in files {
        let p = root.join(&f.path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| SandboxError::Io(format!("{}: {e}", parent.display())))?;
        }
        std::fs::write(&p, f.contents)
            .map_err(|e| SandboxError::Io(format!("{}: {e}", p.display())))?;
    }
    Ok(())
}

/// `git checkout <base> <files>`: the test files the test patch changes, back to the base tree.
fn reset_test_files(task: &Task, root: &std::path::Path, log: &mut String) {
    let base = mini::repo_files(&task.instance_id);
    for path in test_files(&task.test_patch) {
        if !crate::patch::check::path_is_inside(&path) {
            continue;
        }
        let p = root.join(&path);
        match base.iter().find(|f| f.path == path) {
            Some(f) => {
                if let Some(parent) = p.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                if let Err(e) = std::fs::write(&p, f.contents) {
                    log.push_str(&format!("error: resetting {path}: {e}\n"));
                }
            }
            None => log.push_str(&format!(
                "error: pathspec '{path}' did not match any file(s) known to git\n"
            )),
        }
    }
}

async fn run_in(
    sandbox: &WasiSandbox,
    task: &Task,
    patch: &str,
    command: &str,
    timeout: Duration,
    rules: Rules,
    out: &mut EvalOutcome,
) {
    let root = sandbox.root().to_owned();
    if let Err(e) = materialise(task, &root) {
        out.infra_error = Some(infra_error(&e));
        return;
    }
    // The model patch.
    if patch.trim().is_empty() {
        out.apply_log
            .push_str(">>>>> Empty patch: nothing to apply; the tests run on the base tree\n");
        out.applied = Some(true);
    } else {
        let mut text = patch.to_string();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let mut applied = false;
        for (name, opts) in APPLY_METHODS {
            match apply_patch(&root, &text, opts) {
                Ok(a) => {
                    out.apply_log
                        .push_str(&format!(">>>>> Applied Patch ({name}):\n{}", a.log()));
                    applied = true;
                    break;
                }
                Err(e) => {
                    out.apply_log
                        .push_str(&format!("Failed to apply patch ({name}): {e}\n"));
                    if matches!(e, ApplyError::Io { .. }) {
                        out.infra_error = Some(InfraError::new(InfraKind::Io, e.to_string()));
                        out.applied = None;
                        return;
                    }
                }
            }
        }
        out.applied = Some(applied);
        if !applied {
            out.apply_log.push_str(">>>>> Patch Apply Failed\n");
            return;
        }
    }

    // The test patch, on test files reset to the base commit; as in the eval script, a test
    // patch that does not apply is logged and the tests run anyway.
    let mut log = String::new();
    reset_test_files(task, &root, &mut log);
    let mut test_patch = task.test_patch.clone();
    if !test_patch.ends_with('\n') {
        test_patch.push('\n');
    }
    match apply_patch(&root, &test_patch, &ApplyOptions::GIT) {
        Ok(a) => log.push_str(&a.log()),
        Err(e) => log.push_str(&format!("error: the test patch does not apply: {e}\n")),
    }

    let mut opts = ExecOptions::with_timeout(timeout);
    opts.env = DETERMINISM_ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // As `bash -x` shows the eval script's lines, with the command as the guest runs it.
    let guest = match command.strip_prefix("pytest") {
        Some(rest) => format!("python -m pytest {}{rest}", PYTEST_WASI_ARGS.join(" ")),
        None => command.to_string(),
    };
    log.push_str(&format!("+ : '{START_MARKER}'\n+ {guest}\n"));
    let mut exit_code = None;
    match sandbox.exec(command, &opts).await {
        Ok(r) => {
            exit_code = r.exit_code;
            log.push_str(&r.output);
            if !r.output.ends_with('\n') {
                log.push('\n');
            }
            out.test_duration = r.duration;
            out.timed_out = r.timed_out;
            if r.timed_out {
                log.push_str(&format!(
                    "\n[protege: tests stopped at the {} s deadline]\n",
                    timeout.as_secs()
                ));
            }
        }
        Err(e) => {
            log.push_str(&format!("[protege: {e}]\n"));
            out.infra_error = Some(infra_error(&e));
        }
    }
    log.push_str(&format!("+ : '{END_MARKER}'\n"));
    if rules.records_exit_code()
        && let Some(code) = exit_code
    {
        // as the eval script's `echo` prints it
        log.push_str(&format!("{TEST_EXIT_CODE}: {code}\n"));
    }
    out.test_output = log;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval_script::test_section;
    use crate::grading::report::{is_resolved, tests_status};
    // these tests were written for swebench 4.x's rules
    const RULES: Rules = Rules::Swebench4;
    use crate::specs::for_task;

    #[test]
    fn pytest_command_line() {
        let set = mini::load().unwrap();
        let t = &set.tasks[0];
        let spec = for_task(t).unwrap();
        let cmd = test_command(t, &spec).unwrap();
        assert!(
            cmd.starts_with("pytest -rA -p no:cacheprovider tests/"),
            "{cmd}"
        );
        let mut other = spec.clone();
        other.test_cmd = "./tests/runtests.py --verbosity 2".into();
        assert!(test_command(t, &other).is_none());
        assert_eq!(shell_quote("a b'c"), r"'a b'\''c'");
    }

    #[tokio::test]
    async fn non_mini_tasks_are_refused_clearly() {
        let set = mini::load().unwrap();
        let mut t = set.tasks[0].clone();
        let spec = for_task(&t).unwrap();
        t.instance_id = "astropy__astropy-12907".into();
        let o = evaluate(&t, &spec, "", Duration::from_secs(10), RULES).await;
        let e = o.infra_error.unwrap();
        assert_eq!(e.kind, InfraKind::Unsupported.as_str());
        assert!(e.message.contains("built-in tasks"), "{}", e.message);
    }

    /// Every mini task under WASI: the gold patch resolves it, an empty patch does not (its
    /// FAIL_TO_PASS tests fail and its PASS_TO_PASS tests pass), a patch that does not apply is
    /// reported as such.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mini_set_gold_resolves_and_empty_does_not() {
        if let Err(e) = protege_sandboxes::wasi::runtime_async().await {
            if matches!(e, SandboxError::EngineUnavailable(_)) && e.to_string().contains("download")
            {
                eprintln!("SKIPPED: the WASI runtime cannot be fetched here: {e}");
                return;
            }
            panic!("{e}");
        }
        let set = mini::load().unwrap();
        let timeout = Duration::from_secs(120);
        use futures_util::StreamExt;
        // Two tasks at a time: the test machines have two cores.
        let results: Vec<_> = futures_util::stream::iter(set.tasks.iter())
            .map(|t| async move {
                let spec = for_task(t).unwrap();
                let gold = evaluate(t, &spec, &t.patch, timeout, RULES).await;
                let empty = evaluate(t, &spec, "", timeout, RULES).await;
                (t, spec, gold, empty)
            })
            .buffer_unordered(2)
            .collect()
            .await;
        assert_eq!(results.len(), 15);
        for (t, spec, gold, empty) in results {
            let id = &t.instance_id;
            assert!(gold.infra_error.is_none(), "{id}: {:?}", gold.infra_error);
            assert_eq!(gold.applied, Some(true), "{id}: {}", gold.apply_log);
            assert!(!gold.timed_out, "{id}");
            assert!(gold.environment_id.starts_with("wasi:python-3.12.0@"));
            let st = spec.parser.parse(test_section(&gold.test_output));
            let ts = tests_status(t, &st, RULES);
            assert!(
                is_resolved(&ts),
                "{id}: gold not resolved: {ts:?}\n{}",
                gold.test_output
            );

            assert!(empty.infra_error.is_none(), "{id}: {:?}", empty.infra_error);
            let st = spec.parser.parse(test_section(&empty.test_output));
            let ts = tests_status(t, &st, RULES);
            assert!(!is_resolved(&ts), "{id}: empty patch resolved");
            assert!(ts.fail_to_pass.success.is_empty(), "{id}: {ts:?}");
            assert!(ts.pass_to_pass.failure.is_empty(), "{id}: {ts:?}");
        }
    }

    #[tokio::test]
    async fn a_patch_that_does_not_apply_is_not_applied() {
        let set = mini::load().unwrap();
        let t = &set.tasks[0];
        let spec = for_task(t).unwrap();
        let bad = "--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-x\n+y\n";
        let o = evaluate(t, &spec, bad, Duration::from_secs(60), RULES).await;
        if let Some(e) = &o.infra_error {
            assert_eq!(e.kind, InfraKind::EngineUnavailable.as_str());
            eprintln!("SKIPPED: the WASI runtime cannot be fetched here");
            return;
        }
        assert_eq!(o.applied, Some(false));
        assert!(
            o.apply_log.contains("Patch Apply Failed"),
            "{}",
            o.apply_log
        );
        assert!(o.test_output.is_empty());
    }
}
