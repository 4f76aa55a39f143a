//! The eval script run in a fresh sandbox after the model's patch is applied: reset the test
//! files to the base commit, apply the test patch, run the tests between markers, reset again.

use protege_datasets::Task;

use crate::specs::{DETERMINISM_ENV, Spec, test_directives, test_files};

pub const START_MARKER: &str = ">>>>> Start Test Output";
pub const END_MARKER: &str = ">>>>> End Test Output";
/// Heredoc delimiter for the test patch; chosen to never occur in a patch.
pub const HEREDOC: &str = "EOF_114329324912";

/// The eval script for a task: the official harness's script for the task's repository and
/// version, plus protege's [`DETERMINISM_ENV`] exports and the output markers. In order:
///
/// 1. activate the environment, `cd /testbed`, the spec's locale commands and exports, then
///    protege's determinism exports;
/// 2. record the state (`git status`, `git show`, `git -c core.fileMode=false diff <base>`);
/// 3. activate again and run the spec's install step;
/// 4. reset the test files the test patch modifies to the base commit, apply the test patch
///    (heredoc, verbatim);
/// 5. between [`START_MARKER`] and [`END_MARKER`], the test command followed by the test
///    directives;
/// 6. reset the test files again.
///
/// harness/tests/parity.rs checks every Verified script against the official one;
/// docs/parity.md lists the differences.
pub fn eval_script(task: &Task, spec: &Spec) -> String {
    let base = &task.base_commit;
    let files = test_files(&task.test_patch).join(" ");
    let mut s = String::from("#!/bin/bash\nset -uxo pipefail\n");
    let mut line = |l: &str| {
        s.push_str(l);
        s.push('\n');
    };
    for l in &spec.activate {
        line(l);
    }
    line("cd /testbed");
    for l in &spec.pre_test {
        line(l);
    }
    for (k, v) in spec
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(DETERMINISM_ENV.iter().copied())
    {
        line(&format!("export {k}={v}"));
    }
    line("git config --global --add safe.directory /testbed");
    line("cd /testbed");
    line("git status");
    line("git show");
    line(&format!("git -c core.fileMode=false diff {base}"));
    for l in &spec.activate {
        line(l);
    }
    if !spec.install.is_empty() {
        line(&spec.install);
    }
    if !files.is_empty() {
        line(&format!("git checkout {base} {files}"));
    }
    line(&format!(
        "git apply -v - <<'{HEREDOC}'\n{}\n{HEREDOC}",
        task.test_patch
    ));
    line(&format!(": '{START_MARKER}'"));
    let directives = test_directives(task);
    if directives.is_empty() {
        line(&spec.test_cmd);
    } else {
        line(&format!("{} {}", spec.test_cmd, directives.join(" ")));
    }
    line(&format!(": '{END_MARKER}'"));
    if !files.is_empty() {
        line(&format!("git checkout {base} {files}"));
    }
    s
}

/// The part of a log between the markers (the whole log when they are absent, as older official
/// logs have none).
pub fn test_section(log: &str) -> &str {
    let start = log.find(START_MARKER).map(|i| i + START_MARKER.len());
    let end = log.rfind(END_MARKER);
    match (start, end) {
        (Some(s), Some(e)) if s <= e => &log[s..e],
        (Some(s), None) => &log[s..],
        _ => log,
    }
}
