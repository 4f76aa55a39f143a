//! SWE-rebench (the growing, decontaminated set): SWE-bench's schema plus a per-row
//! `install_config` that replaces the per-repository spec table — `python`, `install`,
//! `test_cmd`, `log_parser` (a SWE-bench parser name), `pre_install`, `pip_packages`,
//! `packages`, `eval_commands`, … — and `LANG=C.UTF-8 LC_ALL=C.UTF-8` before the install and
//! test commands; images `swerebench/sweb.eval.x86_64.<id, "__" → "_1776_">`. Graded by
//! SWE-bench 4.x's rules, as its harness (a fork of `swebench` 4.0.3) grades, which also leaves
//! the files a test patch deletes out of the test command.

use protege_datasets::Task;
use protege_datasets::hub::HubSplit;
use serde_json::{Map, Value};

use super::TaskSetRules;
use crate::grading::rules::Rules;
use crate::specs::{CONDA_ACTIVATE, Directives, Packages, Spec, SpecError};
use protege_testlog::LogParser;

pub struct SweRebench;

/// The variables SWE-rebench sets before its install and test commands.
pub const LOCALE_ENV: [(&str, &str); 2] = [("LANG", "C.UTF-8"), ("LC_ALL", "C.UTF-8")];

/// A SWE-bench log parser by the name `install_config.log_parser` gives it.
pub fn parser_by_name(name: &str) -> Option<LogParser> {
    Some(match name {
        "parse_log_pytest" | "pytest" => LogParser::Pytest,
        "parse_log_pytest_options" => LogParser::PytestOptions,
        "parse_log_pytest_v2" => LogParser::PytestV2,
        "parse_log_django" => LogParser::Django,
        "parse_log_sympy" => LogParser::Sympy,
        "parse_log_matplotlib" => LogParser::Matplotlib,
        "parse_log_seaborn" => LogParser::Seaborn,
        _ => return None,
    })
}

/// `install_config` as an object: published as one, or as a JSON-encoded string.
fn install_config(task: &Task) -> Result<Map<String, Value>, String> {
    match task.extra.get("install_config") {
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err("field `install_config`: not a JSON object".into()),
            Err(e) => Err(format!("field `install_config`: not JSON: {e}")),
        },
        Some(_) => Err("field `install_config`: expected an object".into()),
        None => Err("missing field `install_config`".into()),
    }
}

/// A field that may be a string or a list of strings (commands): as a list.
fn strings(cfg: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    match cfg.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(xs)) => xs
            .iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("field `install_config.{key}`[{i}]: expected a string"))
            })
            .collect(),
        Some(_) => Err(format!(
            "field `install_config.{key}`: expected a string or a list of strings"
        )),
    }
}

/// `install_config.python` as SWE-rebench's harness reads it: a version below 3.6 (which its
/// environments cannot install) becomes 3.6.
fn python(v: &Value) -> String {
    let v = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut parts = v.split('.').map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) if (major, minor) < (3, 6) => "3.6".into(),
        _ => v,
    }
}

/// The spec `install_config` describes.
pub fn spec_from_config(task: &Task) -> Result<Spec, String> {
    let cfg = install_config(task)?;
    let test_cmd = strings(&cfg, "test_cmd")?;
    let Some(test_cmd) = test_cmd.last().cloned() else {
        return Err("field `install_config.test_cmd`: missing".into());
    };
    let parser_name = cfg
        .get("log_parser")
        .and_then(Value::as_str)
        .unwrap_or("parse_log_pytest");
    let parser = parser_by_name(parser_name).ok_or_else(|| {
        format!("field `install_config.log_parser`: unknown parser `{parser_name}`")
    })?;
    let env: Vec<(String, String)> = LOCALE_ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // run as given, exports among them in their place (SWE-rebench's harness keeps the order)
    let pre_test = strings(&cfg, "eval_commands")?;
    let packages = match cfg.get("packages").and_then(Value::as_str).unwrap_or("") {
        "" => Packages::None,
        "requirements.txt" => Packages::Requirements,
        "environment.yml" => Packages::EnvironmentYml,
        other => Packages::Conda(other.to_string()),
    };
    Ok(Spec {
        repo: task.repo.clone(),
        version: task.version.clone(),
        test_cmd,
        directives: Directives::TestPatchKept,
        parser,
        activate: CONDA_ACTIVATE.iter().map(|s| s.to_string()).collect(),
        pre_test,
        env,
        install: strings(&cfg, "install")?.join(" && "),
        pre_install: strings(&cfg, "pre_install")?,
        python: cfg.get("python").map(python).unwrap_or_default(),
        packages,
        pip_packages: strings(&cfg, "pip_packages")?,
        no_use_env: cfg
            .get("no_use_env")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        cpus: None,
        wasi_ok: false,
    })
}

impl TaskSetRules for SweRebench {
    /// Its harness is a fork of `swebench` 4.0.3 that changes only where the parser, test
    /// command and directives come from.
    fn harness_rules(&self) -> Rules {
        Rules::Swebench4
    }

    fn name(&self) -> &'static str {
        "swe-rebench"
    }

    fn about(&self) -> &'static str {
        "SWE-rebench: SWE-bench's schema and rule; each row's install_config replaces the spec table"
    }

    fn hub(&self) -> Option<HubSplit> {
        Some(HubSplit {
            dataset: "nebius/SWE-rebench",
            config: "default",
            split: "test",
        })
    }

    fn detect(&self, row: &Map<String, Value>) -> bool {
        row.contains_key("install_config")
    }

    fn task_from_row(&self, row: &Value) -> Result<Task, String> {
        let mut t = Task::from_json(row)?;
        t.set = self.name().into();
        let cfg = row
            .get("install_config")
            .cloned()
            .ok_or("missing field `install_config`")?;
        t.extra.insert("install_config".into(), cfg);
        // its harness builds each environment at the task's own commit
        t.environment_setup_commit = t.base_commit.clone();
        // checked at load, so a bad config is a rejected row, not a failed evaluation
        spec_from_config(&t)?;
        Ok(t)
    }

    fn spec(&self, task: &Task) -> Result<Spec, SpecError> {
        spec_from_config(task).map_err(|message| SpecError::Invalid {
            instance: task.instance_id.clone(),
            message,
        })
    }

    fn images(&self, task: &Task) -> Vec<String> {
        vec![format!(
            "swerebench/sweb.eval.x86_64.{}:latest",
            task.instance_id.replace("__", "_1776_").to_lowercase()
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cfg: Value) -> Value {
        serde_json::json!({
            "instance_id": "Owner__repo-12", "repo": "Owner/repo", "base_commit": "abc",
            "version": "1.0", "problem_statement": "p", "patch": "x", "test_patch": "y",
            "FAIL_TO_PASS": ["t"], "PASS_TO_PASS": [], "install_config": cfg
        })
    }

    #[test]
    fn install_config_replaces_the_table() {
        let r = row(serde_json::json!({
            "python": "3.10", "install": "pip install -e .", "packages": "requirements.txt",
            "test_cmd": "pytest -rA --color=no", "log_parser": "parse_log_pytest_v2",
            "pre_install": ["apt-get install -y x"], "pip_packages": ["pytest==8"],
            "eval_commands": ["export A=1", "make gen"]
        }));
        assert!(SweRebench.detect(r.as_object().unwrap()));
        let t = SweRebench.task_from_row(&r).unwrap();
        let s = SweRebench.spec(&t).unwrap();
        assert_eq!(s.test_cmd, "pytest -rA --color=no");
        assert_eq!(s.parser, LogParser::PytestV2);
        assert_eq!(s.install, "pip install -e .");
        assert_eq!(s.packages, Packages::Requirements);
        assert_eq!(s.python, "3.10");
        // the eval commands run in the order given, an export among them in its place
        assert_eq!(s.pre_test, ["export A=1", "make gen"]);
        assert_eq!(
            s.env,
            [("LANG", "C.UTF-8"), ("LC_ALL", "C.UTF-8")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(
            SweRebench.images(&t),
            ["swerebench/sweb.eval.x86_64.owner_1776_repo-12:latest"]
        );
        assert_eq!(
            super::super::harness_rules(std::slice::from_ref(&t)),
            Rules::Swebench4
        );
        let script = SweRebench.eval_script(&t, &s, Rules::Swebench4);
        let lang = script.find("export LANG=C.UTF-8").unwrap();
        assert!(lang < script.find("pip install -e .").unwrap());
        assert!(script.find("export A=1\nmake gen\n").is_some(), "{script}");
        assert!(script.contains("pytest -rA --color=no"));
    }

    #[test]
    fn old_pythons_become_3_6_and_the_environment_is_built_at_the_base_commit() {
        for (given, read) in [
            ("2.7", "3.6"),
            ("3.5", "3.6"),
            ("3.6", "3.6"),
            ("3.11", "3.11"),
        ] {
            let t = SweRebench
                .task_from_row(&row(
                    serde_json::json!({"test_cmd": "pytest -rA", "python": given}),
                ))
                .unwrap();
            assert_eq!(SweRebench.spec(&t).unwrap().python, read, "{given}");
            assert_eq!(t.environment_setup_commit, "abc");
        }
    }

    /// SWE-rebench's fork names only the test files that remain after the test patch; the
    /// official harness names a deleted one too.
    #[test]
    fn a_test_file_the_test_patch_deletes_is_not_a_directive() {
        let test_patch = "diff --git a/tests/test_old.py b/tests/test_old.py\n\
deleted file mode 100644\n\
--- a/tests/test_old.py\n\
+++ /dev/null\n\
@@ -1 +0,0 @@\n\
-def test_x(): pass\n\
diff --git a/tests/test_new.py b/tests/test_new.py\n\
new file mode 100644\n\
--- /dev/null\n\
+++ b/tests/test_new.py\n\
@@ -0,0 +1 @@\n\
+def test_y(): pass\n\
diff --git a/tests/data.json b/tests/data.json\n\
--- a/tests/data.json\n\
+++ b/tests/data.json\n\
@@ -1 +1 @@\n\
-1\n\
+2\n";
        let mut r = row(serde_json::json!({"test_cmd": "pytest -rA"}));
        r["test_patch"] = test_patch.into();
        let t = SweRebench.task_from_row(&r).unwrap();
        let s = SweRebench.spec(&t).unwrap();
        assert_eq!(s.test_directives(&t), ["tests/test_new.py"]);
        let official = Spec {
            directives: Directives::TestPatch,
            ..s
        };
        assert_eq!(
            official.test_directives(&t),
            ["tests/test_old.py", "tests/test_new.py"]
        );
    }

    #[test]
    fn encoded_config_loads_and_bad_ones_are_named() {
        let t = SweRebench
            .task_from_row(&row(Value::String(
                r#"{"test_cmd": ["a", "pytest -rA"]}"#.into(),
            )))
            .unwrap();
        assert_eq!(SweRebench.spec(&t).unwrap().test_cmd, "pytest -rA");
        assert_eq!(
            SweRebench
                .task_from_row(&row(serde_json::json!({"python": "3.9"})))
                .unwrap_err(),
            "field `install_config.test_cmd`: missing"
        );
        assert!(
            SweRebench
                .task_from_row(&row(
                    serde_json::json!({"test_cmd": "x", "log_parser": "nope"})
                ))
                .unwrap_err()
                .contains("unknown parser `nope`")
        );
    }
}
