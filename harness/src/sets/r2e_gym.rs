//! R2E-Gym (R2E-Gym-Lite, the set DeepSWE trained on): no FAIL_TO_PASS / PASS_TO_PASS / test
//! patch. The tests are hidden in the image (`/r2e_tests`, run by `run_tests.sh`);
//! `expected_output_json` maps each test to the status the fixed code gives it, and the reward
//! is 1 only when the parsed log has **exactly** the same tests with the same statuses.
//! Images `namanjain12/<repo>_final:<commit>` (the row's `docker_image`).
//!
//! Report shape (R2E-Gym writes none): every expected test is listed under PASS_TO_PASS —
//! `success` when the log gives it its expected status, `failure` otherwise — and tests the log
//! shows but the expectation lacks under FAIL_TO_FAIL.failure; `resolved` is R2E-Gym's
//! exact-match rule.
//!
//! Not derived here: R2E-Gym's gold patch lives in `parsed_commit_content` (the commit's file
//! diffs), which protege does not turn into a patch; a row's `patch` field is used when present,
//! so `--policy gold` works on rows that carry one (the tests' R2E-shaped mini does).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use protege_datasets::Task;
use protege_datasets::hub::HubSplit;
use protege_datasets::task::{optional_str, required_str};
use regex::Regex;
use serde_json::{Map, Value};

use super::{Graded, TaskSetRules};
use crate::eval_script::test_section;
use crate::grading::report::{StatusMap, SuccessFailure, TestStatus, TestsStatus};
use crate::parsers::LogParser;
use crate::specs::{Spec, SpecError};

pub struct R2eGym;

/// Where the hidden tests go while a policy works (out of `/testbed` and `/`, as R2E-Gym's own
/// environment moves them).
const HIDDEN: &str = "/root/r2e_tests";

/// R2E-Gym's `PATH` for commands in its images (their environment is a venv under `/root`).
const PATH: &str = "/root/.venv/bin:/root/.local/bin:/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn expected(task: &Task) -> Result<BTreeMap<String, String>, String> {
    let text = task
        .extra_str("expected_output_json")
        .ok_or("missing field `expected_output_json`")?;
    let map: BTreeMap<String, Value> = serde_json::from_str(text)
        .map_err(|e| format!("field `expected_output_json`: not a JSON object: {e}"))?;
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            other => Err(format!(
                "field `expected_output_json`: `{k}`: expected a status string, found {other}"
            )),
        })
        .collect()
}

static ANSI: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\x1b\[\d+m").unwrap());
static ANSI_ANY: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\x1b\[[0-9;]*m|\r").unwrap());

/// R2E-Gym's key normalisation: colour codes removed, a ` - message` tail cut.
fn key(k: &str) -> String {
    let k = ANSI.replace_all(k, "");
    k.split(" - ").next().unwrap_or("").to_string()
}

/// R2E-Gym's pytest parser: the `short test summary info` part of the log (colour codes and
/// `\r` removed first), `PASSED|FAILED|ERROR path::Class::test` lines, named by what follows
/// the first `::`, joined with `.` (`Class.test`).
pub fn parse_log(log: &str) -> StatusMap {
    let log = ANSI_ANY.replace_all(log, "");
    let mut map = StatusMap::new();
    let Some(summary) = log.split("short test summary info").nth(1) else {
        return map;
    };
    for line in summary.trim().split('\n') {
        let status = if line.starts_with("PASSED") {
            TestStatus::Passed
        } else if line.starts_with("FAILED") {
            TestStatus::Failed
        } else if line.starts_with("ERROR") {
            TestStatus::Error
        } else {
            continue;
        };
        let parts: Vec<&str> = line.split("::").collect();
        let name = parts[1..].join(".");
        let name = if status == TestStatus::Passed {
            name
        } else {
            name.split(" - ").next().unwrap_or("").to_string()
        };
        map.insert(name, status);
    }
    map
}

fn status_name(s: TestStatus) -> &'static str {
    match s {
        TestStatus::Passed => "PASSED",
        TestStatus::Failed => "FAILED",
        TestStatus::Skipped => "SKIPPED",
        TestStatus::Error => "ERROR",
        TestStatus::Xfail => "XFAIL",
    }
}

/// R2E-Gym's reward over a parsed log: 1 only for the same number of tests, each (non-empty
/// name) expected with the same status.
pub fn exact_match(parsed: &StatusMap, expected: &BTreeMap<String, String>) -> bool {
    let parsed: BTreeMap<String, &str> = parsed
        .iter()
        .map(|(k, v)| (key(k), status_name(*v)))
        .collect();
    let expected: BTreeMap<String, &str> =
        expected.iter().map(|(k, v)| (key(k), v.as_str())).collect();
    parsed.len() == expected.len()
        && parsed
            .iter()
            .filter(|(k, _)| !k.is_empty())
            .all(|(k, v)| expected.get(k) == Some(v))
}

impl TaskSetRules for R2eGym {
    fn name(&self) -> &'static str {
        "r2e-gym-lite"
    }

    fn about(&self) -> &'static str {
        "R2E-Gym Lite: hidden tests in the image; reward 1 only on an exact match of tests and statuses"
    }

    fn hub(&self) -> Option<HubSplit> {
        Some(HubSplit {
            dataset: "R2E-Gym/R2E-Gym-Lite",
            config: "default",
            split: "train",
        })
    }

    fn detect(&self, row: &Map<String, Value>) -> bool {
        row.contains_key("expected_output_json")
    }

    fn task_from_row(&self, row: &Value) -> Result<Task, String> {
        let obj = row
            .as_object()
            .ok_or("expected a JSON object (one R2E-Gym row)")?;
        let repo = required_str(obj, "repo_name")?;
        let commit = required_str(obj, "commit_hash")?;
        let expected_json = match obj.get("expected_output_json") {
            Some(Value::String(s)) => s.clone(),
            Some(v @ Value::Object(_)) => v.to_string(),
            Some(_) => return Err("field `expected_output_json`: expected a JSON object".into()),
            None => return Err("missing field `expected_output_json`".into()),
        };
        let instance_id = match obj.get("instance_id").and_then(Value::as_str) {
            Some(id) => id.to_string(),
            None => format!("{repo}__{commit}"),
        };
        let image = match obj.get("docker_image").and_then(Value::as_str) {
            Some(i) => i.to_string(),
            None => format!("namanjain12/{repo}_final:{commit}"),
        };
        let mut extra = Map::new();
        extra.insert("expected_output_json".into(), Value::String(expected_json));
        extra.insert("docker_image".into(), Value::String(image));
        let task = Task {
            instance_id,
            repo,
            base_commit: "HEAD".into(),
            version: commit,
            problem_statement: required_str(obj, "problem_statement")?,
            hints_text: String::new(),
            patch: optional_str(obj, "patch")?,
            test_patch: String::new(),
            fail_to_pass: Vec::new(),
            pass_to_pass: Vec::new(),
            environment_setup_commit: String::new(),
            created_at: String::new(),
            set: self.name().into(),
            extra,
            ..Task::default()
        };
        expected(&task)?;
        Ok(task)
    }

    fn spec(&self, task: &Task) -> Result<Spec, SpecError> {
        // The parser is unused: this set's parse() is R2E-Gym's parser.
        Ok(Spec {
            env: vec![("PATH".into(), PATH.into())],
            ..Spec::prebuilt(task, "bash run_tests.sh", LogParser::Pytest)
        })
    }

    fn images(&self, task: &Task) -> Vec<String> {
        task.extra_str("docker_image")
            .map(|i| vec![i.to_string()])
            .unwrap_or_default()
    }

    fn workspace_setup(&self, _task: &Task) -> Option<String> {
        Some(format!(
            "if [ -d /r2e_tests ]; then mkdir -p /root && rm -rf {HIDDEN} && mv /r2e_tests {HIDDEN}; fi"
        ))
    }

    fn official_grading(&self) -> bool {
        false
    }

    fn eval_script(
        &self,
        _task: &Task,
        spec: &Spec,
        _rules: crate::grading::rules::Rules,
    ) -> String {
        use crate::eval_script::{END_MARKER, START_MARKER};
        let mut s = String::from("#!/bin/bash\nset -uxo pipefail\n");
        for (k, v) in &spec.env {
            s.push_str(&format!("export {k}={v}\n"));
        }
        // the tests are linked into the repository only while they run, as R2E-Gym does
        s.push_str(&format!(
            "cd /testbed\nrm -rf /testbed/r2e_tests\n\
             if [ -d /r2e_tests ]; then ln -s /r2e_tests /testbed/r2e_tests; \
             elif [ -d {HIDDEN} ]; then ln -s {HIDDEN} /testbed/r2e_tests; fi\n\
             : '{START_MARKER}'\n\
             if [ -f /run_tests.sh ]; then bash /run_tests.sh; \
             elif [ -f /root/run_tests.sh ]; then bash /root/run_tests.sh; \
             else bash /testbed/run_tests.sh; fi\n\
             : '{END_MARKER}'\n\
             rm -f /testbed/r2e_tests\n"
        ));
        s
    }

    fn parse(&self, _task: &Task, _spec: &Spec, log: &str) -> Option<StatusMap> {
        Some(parse_log(test_section(log)))
    }

    fn grade(&self, task: &Task, status: &StatusMap) -> Graded {
        let Ok(expected) = expected(task) else {
            return Graded {
                tests_status: None,
                resolved: false,
            };
        };
        let parsed: BTreeMap<String, &str> = status
            .iter()
            .map(|(k, v)| (key(k), status_name(*v)))
            .collect();
        let mut pass_to_pass = SuccessFailure::default();
        for (name, want) in &expected {
            if parsed.get(&key(name)) == Some(&want.as_str()) {
                pass_to_pass.success.push(name.clone());
            } else {
                pass_to_pass.failure.push(name.clone());
            }
        }
        let expected_keys: Vec<String> = expected.keys().map(|k| key(k)).collect();
        let mut fail_to_fail = SuccessFailure::default();
        for name in parsed.keys() {
            if !expected_keys.contains(name) {
                fail_to_fail.failure.push(name.clone());
            }
        }
        Graded {
            resolved: exact_match(status, &expected),
            tests_status: Some(TestsStatus {
                fail_to_pass: SuccessFailure::default(),
                pass_to_pass,
                fail_to_fail,
                pass_to_fail: SuccessFailure::default(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(expected: &str) -> Value {
        serde_json::json!({
            "repo_name": "orange3", "commit_hash": "0123abcd", "problem_statement": "p",
            "docker_image": "namanjain12/orange3_final:0123abcd",
            "expected_output_json": expected, "parsed_commit_content": "{}"
        })
    }

    const LOG: &str = "collected 3 items\n\
r2e_tests/test_1.py ..F\n\
=========================== short test summary info ============================\n\
PASSED r2e_tests/test_1.py::TestA::test_one\n\
PASSED r2e_tests/test_1.py::test_two\n\
FAILED r2e_tests/test_1.py::test_three - AssertionError: boom\n\
========================= 1 failed, 2 passed in 0.1s ==========================\n";

    #[test]
    fn parses_the_summary_as_r2e_gym_does() {
        let m = parse_log(&LOG.replace("PASSED r2e", "\x1b[32mPASSED\x1b[0m r2e"));
        assert_eq!(m.len(), 3);
        assert_eq!(m["TestA.test_one"], TestStatus::Passed);
        assert_eq!(m["test_three"], TestStatus::Failed);
        assert!(parse_log("PASSED a::b\n").is_empty(), "no summary: nothing");
    }

    #[test]
    fn reward_needs_an_exact_match() {
        let exact = r#"{"TestA.test_one": "PASSED", "test_two": "PASSED", "test_three": "FAILED"}"#;
        let t = R2eGym.task_from_row(&row(exact)).unwrap();
        assert_eq!(t.instance_id, "orange3__0123abcd");
        assert_eq!(R2eGym.images(&t), ["namanjain12/orange3_final:0123abcd"]);
        let m = parse_log(LOG);
        let g = R2eGym.grade(&t, &m);
        assert!(g.resolved, "{g:?}");
        // one test more than expected: 0, though every expected test has its status
        let fewer = r#"{"TestA.test_one": "PASSED", "test_three": "FAILED"}"#;
        let t = R2eGym.task_from_row(&row(fewer)).unwrap();
        let g = R2eGym.grade(&t, &m);
        assert!(!g.resolved);
        let ts = g.tests_status.unwrap();
        assert!(ts.pass_to_pass.failure.is_empty());
        assert_eq!(ts.fail_to_fail.failure, ["test_two"]);
        // a status differs
        let other = r#"{"TestA.test_one": "PASSED", "test_two": "PASSED", "test_three": "PASSED"}"#;
        let t = R2eGym.task_from_row(&row(other)).unwrap();
        assert!(!R2eGym.grade(&t, &m).resolved);
    }

    #[test]
    fn bad_expectations_are_named() {
        assert!(
            R2eGym
                .task_from_row(&row("[1]"))
                .unwrap_err()
                .starts_with("field `expected_output_json`: not a JSON object")
        );
        let mut r = row("{}");
        r.as_object_mut().unwrap().remove("commit_hash");
        assert_eq!(
            R2eGym.task_from_row(&r).unwrap_err(),
            "missing field `commit_hash`"
        );
    }
}
