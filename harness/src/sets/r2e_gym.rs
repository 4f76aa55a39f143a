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
//! Gold patch: R2E-Gym's rows carry the fixing commit in `parsed_commit_content` (a JSON
//! `ParsedCommit`: its `file_diffs`, each with a header, an optional index line, `---`/`+++`
//! files and hunks of context/added/deleted/note lines). The gold patch is what R2E-Gym's own
//! `gt_patch` is, `get_patch(test_file=False)`: the diffs of the Python files that are not test
//! files, written back out as unified diff text ([`gold_patch`]). A row's `patch` field, when
//! present and non-empty, is used as it is.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use protege_datasets::Task;
use protege_datasets::hub::HubSplit;
use protege_datasets::task::{optional_str, required_str};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Graded, TaskSetRules};
use crate::eval_script::test_section;
use crate::grading::report::{SuccessFailure, TestsStatus};
use crate::specs::{Spec, SpecError};
use protege_testlog::LogParser;
use protege_testlog::{StatusMap, TestStatus};

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
/// `\r` removed first), lines holding `PASSED`, `FAILED` or `ERROR` anywhere (the first of
/// them found, in that order, is the status), named by what follows the first `::`, joined
/// with `.` (`Class.test`); a line without `::` is recorded under the empty name.
pub fn parse_log(log: &str) -> StatusMap {
    let log = ANSI_ANY.replace_all(log, "");
    let mut map = StatusMap::new();
    let Some(summary) = log.split("short test summary info").nth(1) else {
        return map;
    };
    for line in summary.trim().split('\n') {
        // anywhere in the line, in this order, as R2E-Gym's parser tests for them
        let status = if line.contains("PASSED") {
            TestStatus::Passed
        } else if line.contains("FAILED") {
            TestStatus::Failed
        } else if line.contains("ERROR") {
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

/// R2E-Gym's reward over a parsed log: 1 only for the same number of tests, each expected with
/// the same status (the empty name too). Where a parsed name is not expected at all, R2E-Gym's
/// comparison raises (a KeyError) and gives no reward; here it is no match.
pub fn exact_match(parsed: &StatusMap, expected: &BTreeMap<String, String>) -> bool {
    let parsed: BTreeMap<String, &str> = parsed
        .iter()
        .map(|(k, v)| (key(k), status_name(*v)))
        .collect();
    let expected: BTreeMap<String, &str> =
        expected.iter().map(|(k, v)| (key(k), v.as_str())).collect();
    parsed.len() == expected.len() && parsed.iter().all(|(k, v)| expected.get(k) == Some(v))
}

// R2E-Gym's `ParsedCommit` (`commit_models/diff_classes.py`): the fields a patch is written from.
#[derive(Deserialize)]
struct ParsedCommit {
    file_diffs: Vec<FileDiff>,
}

#[derive(Deserialize)]
struct FileDiff {
    header: FileDiffHeader,
    #[serde(default)]
    index_line: Option<IndexLine>,
    #[serde(default)]
    is_binary_file: bool,
    #[serde(default)]
    binary_line: Option<String>,
    #[serde(default)]
    minus_file: Option<FileInfo>,
    #[serde(default)]
    plus_file: Option<FileInfo>,
    #[serde(default)]
    hunks: Vec<Hunk>,
}

#[derive(Deserialize)]
struct FileDiffHeader {
    file: FileInfo,
    #[serde(default)]
    misc_line: Option<String>,
}

#[derive(Deserialize)]
struct FileInfo {
    path: String,
}

#[derive(Deserialize)]
struct IndexLine {
    old_commit_hash: String,
    new_commit_hash: String,
    #[serde(default)]
    mode: String,
}

#[derive(Deserialize)]
struct Hunk {
    descriptor: HunkDescriptor,
    line_group: LineGroup,
}

#[derive(Deserialize)]
struct HunkDescriptor {
    old_range: Range,
    new_range: Range,
    #[serde(default)]
    section: String,
}

#[derive(Deserialize)]
struct Range {
    start: u64,
    #[serde(default)]
    length: Option<u64>,
}

#[derive(Deserialize)]
struct LineGroup {
    #[serde(default)]
    all_lines: Vec<Line>,
}

#[derive(Deserialize)]
struct Line {
    content: String,
    #[serde(rename = "type")]
    kind: LineKind,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum LineKind {
    Context,
    Added,
    Deleted,
    Note,
}

impl Range {
    fn write(&self, out: &mut String) {
        match self.length {
            None => out.push_str(&self.start.to_string()),
            Some(l) => out.push_str(&format!("{},{l}", self.start)),
        }
    }
}

impl FileDiff {
    /// R2E-Gym's `FileDiff.is_test_file`: a path ending `_test.py`, starting `test_`, a file
    /// named `test_*`, or a `tests`/`Tests`/`test`/`Test` folder on the path.
    fn is_test_file(&self) -> bool {
        let path = self.header.file.path.as_str();
        let parts: Vec<&str> = path.split('/').collect();
        path.ends_with("_test.py")
            || path.starts_with("test_")
            || parts.last().is_some_and(|f| f.starts_with("test_"))
            || parts
                .iter()
                .any(|p| matches!(*p, "tests" | "Tests" | "test" | "Test"))
    }

    /// The diff text, as R2E-Gym's `FileDiff.get_patch` writes it.
    fn write(&self, out: &mut String) {
        let path = &self.header.file.path;
        out.push_str(&format!("diff --git a/{path} b/{path}\n"));
        if let Some(misc) = self.header.misc_line.as_deref().filter(|m| !m.is_empty()) {
            out.push_str(misc);
            out.push('\n');
        }
        if let Some(i) = &self.index_line {
            let sep = if i.mode.is_empty() { "" } else { " " };
            out.push_str(&format!(
                "index {}..{}{sep}{}\n",
                i.old_commit_hash, i.new_commit_hash, i.mode
            ));
        }
        if self.is_binary_file
            && let Some(b) = &self.binary_line
        {
            out.push_str(b);
            out.push('\n');
        }
        if let (Some(minus), Some(plus)) = (&self.minus_file, &self.plus_file) {
            out.push_str(&format!("--- {}\n+++ {}\n", minus.path, plus.path));
        }
        for h in &self.hunks {
            let d = &h.descriptor;
            out.push_str("@@ -");
            d.old_range.write(out);
            out.push_str(" +");
            d.new_range.write(out);
            out.push_str(" @@");
            if !d.section.is_empty() {
                out.push(' ');
                out.push_str(&d.section);
            }
            out.push('\n');
            for l in &h.line_group.all_lines {
                out.push_str(match l.kind {
                    LineKind::Context => " ",
                    LineKind::Added => "+",
                    LineKind::Deleted => "-",
                    LineKind::Note => "\\ ",
                });
                out.push_str(&l.content);
                out.push('\n');
            }
        }
    }
}

/// The gold patch of a `parsed_commit_content` value (R2E-Gym's `gt_patch`:
/// `get_patch(test_file=False)`, Python files only): the fix without the tests, which are hidden
/// in the image.
pub fn gold_patch(parsed_commit: &str) -> Result<String, String> {
    let commit: ParsedCommit = serde_json::from_str(parsed_commit)
        .map_err(|e| format!("field `parsed_commit_content`: not an R2E-Gym parsed commit: {e}"))?;
    let mut out = String::new();
    for f in commit
        .file_diffs
        .iter()
        .filter(|f| f.header.file.path.ends_with(".py") && !f.is_test_file())
    {
        f.write(&mut out);
    }
    Ok(out)
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
        // the gold patch: the row's `patch`, else derived from the fixing commit
        let mut patch = optional_str(obj, "patch")?;
        if patch.is_empty() {
            match obj.get("parsed_commit_content") {
                Some(Value::String(s)) => patch = gold_patch(s)?,
                Some(v @ Value::Object(_)) => patch = gold_patch(&v.to_string())?,
                None | Some(Value::Null) => {}
                Some(_) => {
                    return Err(
                        "field `parsed_commit_content`: expected a JSON object or its text".into(),
                    );
                }
            }
        }
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
            patch,
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

    /// As R2E-Gym's environment does: the hidden tests, and the repository's `run_tests.sh`,
    /// out of the agent's way under /root.
    fn workspace_setup(&self, _task: &Task) -> Option<String> {
        Some(format!(
            "if [ -d /r2e_tests ]; then mkdir -p /root && rm -rf {HIDDEN} && mv /r2e_tests {HIDDEN}; fi; \
             if [ -f /testbed/run_tests.sh ]; then mkdir -p /root && mv /testbed/run_tests.sh /root/run_tests.sh; fi"
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
            "expected_output_json": expected, "parsed_commit_content": COMMIT
        })
    }

    /// A hand-made `parsed_commit_content` in R2E-Gym's `ParsedCommit` shape: a source fix
    /// (with a no-newline note), a test file, a non-Python file.
    const COMMIT: &str = r##"{
      "old_commit_hash": "1111111", "new_commit_hash": "2222222",
      "commit_message": "Fix sum", "commit_date": "2020-01-01T00:00:00", "metadata": {},
      "file_diffs": [
        {"old_file_content": "", "new_file_content": "",
         "header": {"file": {"path": "orange/calc.py"}, "misc_line": null},
         "index_line": {"old_commit_hash": "aaaaaaa", "new_commit_hash": "bbbbbbb", "mode": "100644"},
         "is_binary_file": false, "binary_line": null,
         "minus_file": {"path": "a/orange/calc.py"}, "plus_file": {"path": "b/orange/calc.py"},
         "hunks": [{
           "descriptor": {"old_range": {"start": 1, "length": 3}, "new_range": {"start": 1, "length": 3}, "section": "def add(a, b):"},
           "line_group": {"all_lines": [
             {"content": "def add(a, b):", "type": "context"},
             {"content": "    return a - b", "type": "deleted"},
             {"content": "    return a + b", "type": "added"},
             {"content": "# end", "type": "context"},
             {"content": "No newline at end of file", "type": "note"}
           ]},
           "modified_entities": [], "added_entities": [], "deleted_entities": []
         }]},
        {"old_file_content": "", "new_file_content": "",
         "header": {"file": {"path": "orange/tests/test_calc.py"}},
         "index_line": {"old_commit_hash": "ccccccc", "new_commit_hash": "ddddddd", "mode": "100644"},
         "minus_file": {"path": "a/orange/tests/test_calc.py"}, "plus_file": {"path": "b/orange/tests/test_calc.py"},
         "hunks": [{
           "descriptor": {"old_range": {"start": 1}, "new_range": {"start": 1, "length": 2}, "section": ""},
           "line_group": {"all_lines": [
             {"content": "import calc", "type": "context"},
             {"content": "assert calc.add(1, 1) == 2", "type": "added"}
           ]}
         }]},
        {"old_file_content": "", "new_file_content": "",
         "header": {"file": {"path": "README.md"}},
         "minus_file": {"path": "a/README.md"}, "plus_file": {"path": "b/README.md"},
         "hunks": [{
           "descriptor": {"old_range": {"start": 1, "length": 1}, "new_range": {"start": 1, "length": 1}, "section": ""},
           "line_group": {"all_lines": [
             {"content": "old", "type": "deleted"}, {"content": "new", "type": "added"}
           ]}
         }]}
      ]
    }"##;

    #[test]
    fn gold_patch_from_the_parsed_commit() {
        let t = R2eGym
            .task_from_row(&row(r#"{"test_two": "PASSED"}"#))
            .unwrap();
        // only the non-test Python file, written as R2E-Gym's get_patch writes it
        assert_eq!(
            t.patch,
            "diff --git a/orange/calc.py b/orange/calc.py\n\
index aaaaaaa..bbbbbbb 100644\n\
--- a/orange/calc.py\n\
+++ b/orange/calc.py\n\
@@ -1,3 +1,3 @@ def add(a, b):\n \
def add(a, b):\n\
-    return a - b\n\
+    return a + b\n \
# end\n\
\\ No newline at end of file\n"
        );
        assert!(crate::patch::check(&t.patch).is_ok(), "{}", t.patch);
        // R2E-Gym's parser reads the empty string after a diff's last newline as one more
        // (empty) context line of the last hunk; the patch written from it still checks
        let mut c: Value = serde_json::from_str(COMMIT).unwrap();
        c["file_diffs"][0]["hunks"][0]["line_group"]["all_lines"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"content": "", "type": "context"}));
        let trailing = gold_patch(&c.to_string()).unwrap();
        assert!(trailing.ends_with("file\n \n"), "{trailing}");
        assert!(crate::patch::check(&trailing).is_ok(), "{trailing}");
        // the test file's hunk, were it written: a range without a length is one number
        let c: ParsedCommit = serde_json::from_str(COMMIT).unwrap();
        assert!(c.file_diffs[1].is_test_file());
        let mut test = String::new();
        c.file_diffs[1].write(&mut test);
        assert!(
            test.contains("@@ -1 +1,2 @@\n import calc\n+assert"),
            "{test}"
        );
        // a row's own patch wins; a parsed commit as an object is read too
        let mut r = row("{}");
        r["patch"] = Value::String("diff --git a/x b/x\n".into());
        assert_eq!(
            R2eGym.task_from_row(&r).unwrap().patch,
            "diff --git a/x b/x\n"
        );
        let mut r = row("{}");
        r["parsed_commit_content"] = serde_json::from_str(COMMIT).unwrap();
        assert_eq!(R2eGym.task_from_row(&r).unwrap().patch, t.patch);
        // a commit that is not one is named
        let mut r = row("{}");
        r["parsed_commit_content"] = Value::String("{\"file_diffs\": 3}".into());
        assert!(
            R2eGym
                .task_from_row(&r)
                .unwrap_err()
                .starts_with("field `parsed_commit_content`: not an R2E-Gym parsed commit"),
        );
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
        // a status word anywhere counts, PASSED first: SWE-bench's rule would read these
        // lines as a failure and skip the second
        let quirks = "== short test summary info ==\n\
FAILED r2e_tests/t.py::test_four - assert 'PASSED' in out\n\
ERROR collecting r2e_tests/u.py\n";
        let m = parse_log(quirks);
        assert_eq!(m["test_four - assert 'PASSED' in out"], TestStatus::Passed);
        assert_eq!(m[""], TestStatus::Error);
        assert_eq!(m.len(), 2);
        let expected: BTreeMap<String, String> =
            serde_json::from_str(r#"{"test_four": "PASSED", "": "ERROR"}"#).unwrap();
        assert!(exact_match(&m, &expected));
        let unnamed_passes: BTreeMap<String, String> =
            serde_json::from_str(r#"{"test_four": "PASSED", "": "PASSED"}"#).unwrap();
        assert!(
            !exact_match(&m, &unnamed_passes),
            "the empty name is compared too"
        );
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
