//! The eval script run in a fresh sandbox after the model's patch is applied: reset the test
//! files to the base commit, apply the test patch, run the tests between markers, reset again.

use protege_datasets::Task;

use crate::grading::rules::Rules;
use crate::specs::{DETERMINISM_ENV, Spec, test_files};

pub const START_MARKER: &str = ">>>>> Start Test Output";
pub const END_MARKER: &str = ">>>>> End Test Output";
/// Heredoc delimiter for the test patch; chosen to never occur in a patch.
pub const HEREDOC: &str = "EOF_114329324912";

/// The eval script for a task: the row's own `eval_script` column when it has one (as swebench
/// 5.x takes it), else its task set's (`crate::sets`), which for SWE-bench is
/// [`swe_bench_eval_script`].
pub fn eval_script(task: &Task, spec: &Spec, rules: Rules) -> String {
    if let Some(script) = &task.eval_script {
        return row_script(script, rules);
    }
    crate::sets::for_task(task).eval_script(task, spec, rules)
}

/// SWE-bench's eval script for a task: the official harness's script for the task's repository and
/// version, plus protege's [`DETERMINISM_ENV`] exports and the output markers. In order:
///
/// 1. activate the environment, `cd /testbed`, the spec's locale commands and exports, then
///    protege's determinism exports;
/// 2. record the state (`git status`, `git show`, `git -c core.fileMode=false diff <base>`);
/// 3. activate again and run the spec's install step;
/// 4. reset the test files the test patch modifies to the base commit, apply the test patch
///    (heredoc, verbatim);
/// 5. between [`START_MARKER`] and [`END_MARKER`] (no markers under `swebench-2` rules, as
///    2.x's scripts have none), the test command followed by the test directives;
/// 6. reset the test files again.
///
/// Under `swebench-5` rules the test command's exit code is kept before the end marker and
/// printed after it (`>>>>> Test Exit Code: N`), as 5.x's scripts do.
///
/// harness/tests/parity.rs checks every Verified script against the official one;
/// docs/parity.md lists the differences.
pub fn swe_bench_eval_script(task: &Task, spec: &Spec, rules: Rules) -> String {
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
    // 2.x's scripts have no markers (its grader parses the whole log), and `--grader auto`
    // tells a 2.x log by their absence
    let markers = rules != Rules::Swebench2;
    if markers {
        line(&format!(": '{START_MARKER}'"));
    }
    let directives = spec.test_directives(task);
    if directives.is_empty() {
        line(&spec.test_cmd);
    } else {
        line(&format!("{} {}", spec.test_cmd, directives.join(" ")));
    }
    let exit_code = rules.exit_code_lines();
    if let Some((keep, _)) = &exit_code {
        line(keep);
    }
    if markers {
        line(&format!(": '{END_MARKER}'"));
    }
    if let Some((_, print)) = &exit_code {
        line(print);
    }
    if !files.is_empty() {
        line(&format!("git checkout {base} {files}"));
    }
    s
}

/// A row's own `eval_script` column, as `swebench` 5.x runs it: its body (without the
/// `#!/bin/bash` and `set -uxo pipefail` lines) under those two lines, with the exit-code lines
/// around the end marker when the rules record it (a script without an end marker is left as
/// it is).
fn row_script(script: &str, rules: Rules) -> String {
    let body: Vec<&str> = script
        .trim()
        .split('\n')
        .filter(|l| !matches!(*l, "#!/bin/bash" | "set -uxo pipefail"))
        .collect();
    let mut s = String::from("#!/bin/bash\nset -uxo pipefail\n");
    let exit_code = rules.exit_code_lines();
    let mut recorded = false;
    for l in body {
        if let (Some((keep, print)), false) = (&exit_code, recorded)
            && l.contains(END_MARKER)
        {
            s.push_str(&format!("{keep}\n{l}\n{print}\n"));
            recorded = true;
            continue;
        }
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// The part of a log between the first start marker and the first end marker after it, as the
/// official grader cuts it (the whole log when there is no start marker, as older official logs
/// have none; the rest of the log when the end marker is missing).
pub fn test_section(log: &str) -> &str {
    let Some(start) = log.find(START_MARKER).map(|i| i + START_MARKER.len()) else {
        return log;
    };
    let rest = &log[start..];
    match rest.find(END_MARKER) {
        Some(e) => &rest[..e],
        None => rest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::specs::for_repo_version;

    #[test]
    fn django_script_in_official_order() {
        // django__django-11141's row, test patch shortened
        let task = Task {
            instance_id: "django__django-11141".into(),
            repo: "django/django".into(),
            base_commit: "5d9cf79baf07fc4aed7ad1b06990532a65378155".into(),
            version: "3.1".into(),
            problem_statement: String::new(),
            hints_text: String::new(),
            patch: String::new(),
            test_patch:
                "diff --git a/tests/migrations/test_loader.py b/tests/migrations/test_loader.py\n\
--- a/tests/migrations/test_loader.py\n\
+++ b/tests/migrations/test_loader.py\n\
@@ -1 +1 @@\n\
-a\n\
+b\n"
                    .into(),
            fail_to_pass: vec![],
            pass_to_pass: vec![],
            environment_setup_commit: String::new(),
            created_at: String::new(),
            ..Default::default()
        };
        let spec = for_repo_version("django/django", "3.1").unwrap();
        let s = eval_script(&task, &spec, Rules::Swebench4);
        let order = [
            "source /opt/miniconda3/bin/activate\nconda activate testbed\ncd /testbed\n",
            "sed -i '/en_US.UTF-8/s/^# //g' /etc/locale.gen && locale-gen\n",
            "export LANG=en_US.UTF-8\nexport LANGUAGE=en_US:en\nexport LC_ALL=en_US.UTF-8\n",
            "export TZ=UTC\nexport PYTHONHASHSEED=0\n",
            "git -c core.fileMode=false diff 5d9cf79baf07fc4aed7ad1b06990532a65378155\n",
            "python -m pip install -e .\n",
            "git checkout 5d9cf79baf07fc4aed7ad1b06990532a65378155 tests/migrations/test_loader.py\n",
            "git apply -v - <<'EOF_114329324912'\ndiff --git",
            "+b\n\nEOF_114329324912\n",
            ": '>>>>> Start Test Output'\n./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 migrations.test_loader\n: '>>>>> End Test Output'\n",
            "git checkout 5d9cf79baf07fc4aed7ad1b06990532a65378155 tests/migrations/test_loader.py\n",
        ];
        let mut at = 0;
        for part in order {
            let i = s[at..]
                .find(part)
                .unwrap_or_else(|| panic!("{part:?} after {at} in\n{s}"));
            at += i + part.len();
        }
        assert_eq!(at, s.len());
    }

    #[test]
    fn swebench_5_scripts_record_the_test_exit_code() {
        let task: Task = serde_json::from_value(serde_json::json!({
            "instance_id": "pallets__flask-5014", "repo": "pallets/flask", "base_commit": "c",
            "version": "2.3", "problem_statement": "", "patch": "",
            "test_patch": "diff --git a/tests/t.py b/tests/t.py\n--- a/tests/t.py\n+++ b/tests/t.py\n@@ -1 +1 @@\n-a\n+b\n",
            "FAIL_TO_PASS": [], "PASS_TO_PASS": []
        }))
        .unwrap();
        let spec = for_repo_version("pallets/flask", "2.3").unwrap();
        let s = eval_script(&task, &spec, Rules::Swebench5);
        assert!(
            s.contains("tests/t.py\nSWEBENCH_TEST_EXIT_CODE=$?\n: '>>>>> End Test Output'\necho \">>>>> Test Exit Code: $SWEBENCH_TEST_EXIT_CODE\"\ngit checkout c tests/t.py\n"),
            "{s}"
        );
        let v4 = eval_script(&task, &spec, Rules::Swebench4);
        assert!(!v4.contains("Exit Code"));
        // the same script, minus the two lines
        assert_eq!(s.lines().count(), v4.lines().count() + 2);
    }

    #[test]
    fn a_rows_own_eval_script_is_run_with_the_exit_code_recorded() {
        let task = Task {
            eval_script: Some(
                "#!/bin/bash\nset -uxo pipefail\ncd /testbed\n: '>>>>> Start Test Output'\nmake test\n: '>>>>> End Test Output'\n"
                    .into(),
            ),
            ..Default::default()
        };
        let spec = for_repo_version("pallets/flask", "2.3").unwrap();
        assert_eq!(
            eval_script(&task, &spec, Rules::Swebench5),
            "#!/bin/bash\nset -uxo pipefail\ncd /testbed\n: '>>>>> Start Test Output'\nmake test\nSWEBENCH_TEST_EXIT_CODE=$?\n: '>>>>> End Test Output'\necho \">>>>> Test Exit Code: $SWEBENCH_TEST_EXIT_CODE\"\n"
        );
        assert_eq!(
            eval_script(&task, &spec, Rules::Swebench4),
            task.eval_script.clone().unwrap()
        );
    }

    #[test]
    fn section_between_markers() {
        let log = "a\n+ : '>>>>> Start Test Output'\nPASSED t\n+ : '>>>>> End Test Output'\nb\n>>>>> End Test Output";
        assert_eq!(test_section(log), "'\nPASSED t\n+ : '");
        assert_eq!(test_section("no markers"), "no markers");
    }
}
