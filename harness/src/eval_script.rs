//! The eval script run in a fresh sandbox after the model's patch is applied: reset the test
//! files to the base commit, apply the test patch, run the tests between markers, reset again.

use protege_datasets::Task;

use crate::specs::{DETERMINISM_ENV, Spec, test_directives, test_files};

pub const START_MARKER: &str = ">>>>> Start Test Output";
pub const END_MARKER: &str = ">>>>> End Test Output";
/// Heredoc delimiter for the test patch; chosen to never occur in a patch.
const HEREDOC: &str = "EOF_114329324912";

pub fn eval_script(task: &Task, spec: &Spec) -> String {
    let base = &task.base_commit;
    let files = test_files(&task.test_patch).join(" ");
    let mut s = String::from("#!/bin/bash\nset -uxo pipefail\n");
    for line in &spec.pre_test {
        s.push_str(line);
        s.push('\n');
    }
    for (k, v) in DETERMINISM_ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(spec.env.iter().cloned())
    {
        s.push_str(&format!("export {k}={v}\n"));
    }
    s.push_str("cd /testbed\n");
    s.push_str("git config --global --add safe.directory /testbed\n");
    s.push_str(&format!("git status\ngit show\ngit -c core.fileMode=false diff {base}\n"));
    if !spec.install.is_empty() {
        s.push_str(&spec.install);
        s.push('\n');
    }
    if !files.is_empty() {
        s.push_str(&format!("git checkout {base} {files}\n"));
    }
    s.push_str(&format!(
        "git apply -v - <<'{HEREDOC}'\n{}\n{HEREDOC}\n",
        task.test_patch
    ));
    s.push_str(&format!(": '{START_MARKER}'\n"));
    let directives = test_directives(task).join(" ");
    s.push_str(&format!("{} {directives}\n", spec.test_cmd));
    s.push_str(&format!(": '{END_MARKER}'\n"));
    if !files.is_empty() {
        s.push_str(&format!("git checkout {base} {files}\n"));
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
