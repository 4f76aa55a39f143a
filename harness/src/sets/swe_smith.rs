//! SWE-smith (~50k synthetic bugs over ~128 repositories): its schema, images, eval script, log
//! parsers and grading rule, as SWE-smith's own harness has them (`swesmith.harness`).
//!
//! - **Schema**: `patch` is the diff that *introduces* the bug; there is no `test_patch`; the
//!   test lists are JSON lists; `image_name` names one image **per repository**
//!   (`swesmith.x86_64.<owner>__<repo>.<commit8>`). protege keeps the bug patch in
//!   `extra.bug_patch` and makes `patch` (the gold patch) its reverse; the repository is
//!   `owner/name` read from the instance id, as SWE-smith's grader reads it.
//! - **Start state** (a deliberate difference): SWE-smith's harness checks out the instance's
//!   bug branch from its GitHub mirror, which needs the network. protege applies the bug patch
//!   to the image's clean tree instead and commits it as the root of a fresh history (so a
//!   policy cannot read the fix from `git log`); the published `base_commit` (the branch's
//!   commit) is kept in `extra.base_commit` and `base_commit` is `HEAD`, the start state.
//!   Where the network allows, [`Start::Branch`] (`--swe-smith-start branch`) checks the bug
//!   branch out instead, as SWE-smith does: `git fetch` of the branch named by the instance id
//!   from `https://github.com/<the row's repo>` (`swesmith/<owner>__<repo>.<commit8>`), `git
//!   checkout <instance_id>`, a check that it holds the published `base_commit`, then the same
//!   one-commit history. Only that set-up runs with the network; the container is cut off it
//!   before anything else runs.
//! - **Eval script**: activate the conda environment, `cd /testbed`, the repository profile's
//!   test command between the output markers; no test patch, no reset. The command is the
//!   profile's (`pytest --disable-warnings --color=no --tb=no --verbose` by default) followed by
//!   the files named in FAIL_TO_PASS (first-appearance order; SWE-smith joins a Python set,
//!   whose order varies from run to run); mypy's is `pytest --color=no -rA -k "<names>"`.
//! - **Grading**: only tests in those files are graded; a test missing from the log counts as
//!   **passed** (only FAILED and ERROR fail), unlike SWE-bench; resolved when no FAIL_TO_PASS
//!   or PASS_TO_PASS test failed. No test output between the markers (or a patch-apply failure
//!   or timeout marker) grades nothing: not resolved.

use std::collections::HashMap;
use std::sync::LazyLock;

use protege_datasets::hub::HubSplit;
use protege_datasets::task::{optional_str, required_str, test_list};
use protege_datasets::{Task, TaskSet};
use regex::Regex;
use serde_json::{Map, Value};

use super::{Graded, Setup, TaskSetRules, diff};
use crate::grading::report::{SuccessFailure, TestsStatus};
use crate::specs::{CONDA_ACTIVATE, Spec, SpecError};
use protege_testlog::LogParser;
use protege_testlog::{StatusMap, TestStatus};

pub struct SweSmith;

/// SWE-smith's default Python test command.
pub const TEST_PYTEST: &str = "pytest --disable-warnings --color=no --tb=no --verbose";
pub const START: &str = ">>>>> Start Test Output";
pub const END: &str = ">>>>> End Test Output";
/// Where the bug patch is written in a fresh container (removed once applied).
const BUG_PATH: &str = "/tmp/protege_swesmith_bug.diff";

/// The key of `Task::extra` that holds a chosen [`Start`] (protege's own, in no set's schema);
/// absent means [`Start::Patch`]. Stored in the task, so it is part of its record.
pub const START_KEY: &str = "protege_swesmith_start";

/// How a fresh container reaches an instance's start state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The bug patch applied to the image's clean tree: offline, the default.
    Patch,
    /// The bug branch checked out from SWE-smith's GitHub mirror, as its harness does.
    Branch,
}

impl Start {
    pub const NAMES: [&'static str; 2] = ["patch", "branch"];

    pub fn parse(s: &str) -> Result<Start, String> {
        match s {
            "patch" => Ok(Start::Patch),
            "branch" => Ok(Start::Branch),
            other => Err(format!(
                "--swe-smith-start `{other}`: expected `patch` or `branch`"
            )),
        }
    }

    fn of(task: &Task) -> Start {
        match task.extra_str(START_KEY) {
            Some("branch") => Start::Branch,
            _ => Start::Patch,
        }
    }
}

/// Chooses the start state of every SWE-smith task of `set`; the number of tasks it applies to.
pub fn choose_start(set: &mut TaskSet, start: Start) -> usize {
    let mut n = 0;
    for t in set.tasks.iter_mut().filter(|t| t.set == SweSmith.name()) {
        match start {
            Start::Patch => {
                t.extra.remove(START_KEY);
            }
            Start::Branch => {
                t.extra
                    .insert(START_KEY.into(), Value::String("branch".into()));
            }
        }
        n += 1;
    }
    n
}

/// The GitHub mirror the bug branch is fetched from: the row's `repo`
/// (`swesmith/pandas-dev__pandas.95280573`), else built as SWE-smith names its mirrors.
pub fn mirror(task: &Task) -> String {
    match task.extra_str("repo").filter(|r| r.contains('/')) {
        Some(r) => r.to_string(),
        None => format!("swesmith/{}.{}", task.repo.replace('/', "__"), task.version),
    }
}

/// A string as one single-quoted shell word.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Which of SWE-smith's log parsers reads a repository's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parser {
    /// `<name> <STATUS>` lines (pytest `--verbose`): every Python repository but those below.
    Pytest,
    /// A line containing PASSED or FAILED; the name is its last word (python/mypy).
    Mypy,
    /// `--- PASS|FAIL|SKIP: name (time)` (gin-gonic/gin).
    GoTest,
    /// `<STATUS> <name>` (paramiko/paramiko).
    Paramiko,
    /// `[gwN] <STATUS> <name>` (HIPS/autograd).
    Autograd,
    /// unittest's `name ... ok` / `ERROR:` / `FAIL:` lines (tornadoweb/tornado).
    Tornado,
    /// unittest's `name ... ok|FAIL|ERROR` (un33k/python-slugify).
    Slugify,
}

/// A repository profile where it differs from the default (test command `TEST_PYTEST`, parser
/// [`Parser::Pytest`]).
struct Profile {
    repo: &'static str,
    test_cmd: &'static str,
    parser: Parser,
}

const PROFILES: &[Profile] = &[
    Profile {
        repo: "python/mypy",
        test_cmd: "pytest --color=no -rA -k",
        parser: Parser::Mypy,
    },
    Profile {
        repo: "pydantic/pydantic",
        test_cmd: "/root/.local/bin/uv run pytest --disable-warnings --color=no --tb=no --verbose",
        parser: Parser::Pytest,
    },
    Profile {
        repo: "tkrajina/gpxpy",
        test_cmd: "pytest test.py --verbose --color=no --tb=no --disable-warnings",
        parser: Parser::Pytest,
    },
    Profile {
        repo: "jax-ml/jax",
        test_cmd: "pytest --disable-warnings --color=no --tb=no --verbose -n auto",
        parser: Parser::Pytest,
    },
    Profile {
        repo: "mido/mido",
        test_cmd: "pytest --disable-warnings --color=no --tb=no --verbose -rs -c /dev/null",
        parser: Parser::Pytest,
    },
    Profile {
        repo: "paramiko/paramiko",
        test_cmd: "pytest -rA --color=no --disable-warnings",
        parser: Parser::Paramiko,
    },
    Profile {
        repo: "un33k/python-slugify",
        test_cmd: "python test.py --verbose",
        parser: Parser::Slugify,
    },
    Profile {
        repo: "tornadoweb/tornado",
        test_cmd: "python -m tornado.test --verbose",
        parser: Parser::Tornado,
    },
    Profile {
        repo: "gin-gonic/gin",
        test_cmd: "go test -v ./...",
        parser: Parser::GoTest,
    },
    Profile {
        repo: "HIPS/autograd",
        test_cmd: TEST_PYTEST,
        parser: Parser::Autograd,
    },
];

/// The repository's test command and parser.
pub fn profile(repo: &str) -> (&'static str, Parser) {
    PROFILES
        .iter()
        .find(|p| p.repo.eq_ignore_ascii_case(repo))
        .map_or((TEST_PYTEST, Parser::Pytest), |p| (p.test_cmd, p.parser))
}

/// `owner/name` from an instance id (`pandas-dev__pandas.95280573.pr_53652` → `pandas-dev/pandas`).
pub fn repo_of(instance_id: &str) -> String {
    instance_id
        .split('.')
        .next()
        .unwrap_or(instance_id)
        .replace("__", "/")
}

/// The files named in FAIL_TO_PASS, in first-appearance order, when the test command gets them
/// (a pytest command, not mypy's); the graded tests are those in these files.
pub fn test_files(task: &Task) -> Vec<String> {
    let (cmd, _) = profile(&task.repo);
    if task.fail_to_pass.is_empty() || !cmd.contains("pytest") || task.repo == "python/mypy" {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for t in &task.fail_to_pass {
        let file = t.split_once("::").map_or(t.as_str(), |(f, _)| f);
        if !out.iter().any(|f| f == file) {
            out.push(file.to_string());
        }
    }
    out
}

/// The command between the output markers.
pub fn test_command(task: &Task) -> String {
    let (cmd, _) = profile(&task.repo);
    if task.fail_to_pass.is_empty() || !cmd.contains("pytest") {
        return cmd.to_string();
    }
    if task.repo == "python/mypy" {
        let keys: Vec<&str> = task
            .fail_to_pass
            .iter()
            .map(|t| t.rsplit_once("::").map_or(t.as_str(), |(_, k)| k))
            .collect();
        return format!("{cmd} \"{}\"", keys.join(" or "));
    }
    format!("{cmd} {}", test_files(task).join(" "))
}

/// Image names for `image_name`: SWE-smith's images are on Docker Hub as
/// `jyangballin/<image_name, "__" → "_1776_">`; rows write the name without the namespace and
/// with `__`, so every spelling is looked for.
pub fn image_candidates(image_name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    };
    let (namespace, name) = match image_name.rsplit_once('/') {
        Some((ns, n)) => (Some(ns), n),
        None => (None, image_name),
    };
    let dashed = name.replace("__", "_1776_");
    if let Some(ns) = namespace {
        push(image_name.to_string());
        push(format!("{ns}/{dashed}"));
    }
    push(format!("jyangballin/{dashed}"));
    push(dashed.clone());
    push(name.to_string());
    out
}

impl TaskSetRules for SweSmith {
    fn name(&self) -> &'static str {
        "swe-smith"
    }

    fn about(&self) -> &'static str {
        "SWE-smith: ~50k synthetic bugs, one image per repository; a test missing from the log passes"
    }

    fn hub(&self) -> Option<HubSplit> {
        Some(HubSplit {
            dataset: "SWE-bench/SWE-smith",
            config: "default",
            split: "train",
        })
    }

    fn detect(&self, row: &Map<String, Value>) -> bool {
        let image = row.get("image_name").and_then(Value::as_str).unwrap_or("");
        image.contains("swesmith") || (!image.is_empty() && !row.contains_key("test_patch"))
    }

    fn task_from_row(&self, row: &Value) -> Result<Task, String> {
        let obj = row
            .as_object()
            .ok_or("expected a JSON object (one SWE-smith row)")?;
        let instance_id = required_str(obj, "instance_id")?;
        let bug = required_str(obj, "patch")?;
        let image_name = required_str(obj, "image_name")?;
        if bug.trim().is_empty() {
            return Err("field `patch`: empty (SWE-smith's `patch` introduces the bug)".into());
        }
        let mut extra = Map::new();
        extra.insert("bug_patch".into(), Value::String(bug.clone()));
        extra.insert("image_name".into(), Value::String(image_name.clone()));
        for key in ["repo", "base_commit"] {
            if let Some(v) = obj.get(key) {
                extra.insert(key.into(), v.clone());
            }
        }
        // the repository commit the image was built at: the image name's last part
        let version = image_name.rsplit('.').next().unwrap_or("").to_string();
        Ok(Task {
            repo: repo_of(&instance_id),
            instance_id,
            base_commit: "HEAD".into(),
            version,
            problem_statement: optional_str(obj, "problem_statement")?,
            hints_text: String::new(),
            patch: diff::reverse(&bug),
            test_patch: String::new(),
            fail_to_pass: test_list(obj, "FAIL_TO_PASS")?,
            pass_to_pass: test_list(obj, "PASS_TO_PASS")?,
            environment_setup_commit: String::new(),
            created_at: optional_str(obj, "created_at")?,
            set: self.name().into(),
            extra,
            ..Task::default()
        })
    }

    fn spec(&self, task: &Task) -> Result<Spec, SpecError> {
        let (test_cmd, _) = profile(&task.repo);
        // The images come built: nothing is installed at evaluation. The parser is unused:
        // this set's parse() chooses SWE-smith's parser by repository.
        Ok(Spec {
            activate: CONDA_ACTIVATE.iter().map(|s| s.to_string()).collect(),
            ..Spec::prebuilt(task, test_cmd, LogParser::Pytest)
        })
    }

    fn images(&self, task: &Task) -> Vec<String> {
        image_candidates(task.extra_str("image_name").unwrap_or(""))
    }

    fn setup(&self, task: &Task) -> Option<Setup> {
        let identity = protege_datasets::mini::GIT_IDENTITY
            .iter()
            .map(|(k, v)| format!("{k}='{v}'"))
            .collect::<Vec<_>>()
            .join(" ");
        // the start tree committed as the root of a fresh history, the branch it came from gone
        let squash = format!(
            "old=$(git symbolic-ref -q --short HEAD || true); \
             git checkout -q --orphan protege-start; git add -A; \
             {identity} git commit -q --no-verify -m 'SWE-smith start state'; \
             if [ -n \"$old\" ]; then git branch -D \"$old\" >/dev/null; fi; \
             rm -rf .git/logs"
        );
        if Start::of(task) == Start::Branch {
            let id = sh_quote(&task.instance_id);
            let url = sh_quote(&format!("https://github.com/{}", mirror(task)));
            // the published commit, when the row names one, is what the branch must hold
            let check = match task.extra_str("base_commit") {
                Some(c) if c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit()) => format!(
                    "test \"$(git rev-parse HEAD)\" = {c} || {{ echo \"branch {} is not at {c}\" >&2; exit 1; }}; ",
                    task.instance_id
                ),
                _ => String::new(),
            };
            return Some(Setup {
                files: Vec::new(),
                command: format!(
                    "set -e; cd /testbed; \
                     clean=$(git symbolic-ref -q --short HEAD || true); \
                     git fetch -q {url} +refs/heads/{id}:refs/heads/{id}; \
                     git checkout -q {id}; \
                     {check}{squash}; \
                     if [ -n \"$clean\" ]; then git branch -D \"$clean\" >/dev/null; fi"
                ),
                network: true,
            });
        }
        let bug = task.extra_str("bug_patch")?;
        let mut bug = bug.to_string();
        if !bug.ends_with('\n') {
            bug.push('\n');
        }
        Some(Setup {
            files: vec![(BUG_PATH.into(), bug)],
            command: format!(
                "set -e; cd /testbed; \
                 git apply --verbose {BUG_PATH} || patch --batch --fuzz=5 -p1 -i {BUG_PATH}; \
                 {squash} {BUG_PATH}"
            ),
            network: false,
        })
    }

    fn official_grading(&self) -> bool {
        false
    }

    fn eval_script(
        &self,
        task: &Task,
        spec: &Spec,
        _rules: crate::grading::rules::Rules,
    ) -> String {
        let mut s = String::from("#!/bin/bash\nset -uxo pipefail\n");
        for l in &spec.activate {
            s.push_str(l);
            s.push('\n');
        }
        s.push_str(&format!(
            "cd /testbed\n: '{START}'\n{}\n: '{END}'\n",
            test_command(task)
        ));
        s
    }

    fn parse(&self, task: &Task, _spec: &Spec, log: &str) -> Option<StatusMap> {
        let section = test_output(log)?;
        Some(parse_log(profile(&task.repo).1, section))
    }

    fn grade(&self, task: &Task, status: &StatusMap) -> Graded {
        let ts = tests_status(task, status);
        Graded {
            resolved: ts.fail_to_pass.failure.is_empty() && ts.pass_to_pass.failure.is_empty(),
            tests_status: Some(ts),
        }
    }

    fn reports_patch_applied(&self) -> bool {
        false
    }
}

/// The test output between SWE-smith's markers as bash traces them (`+ : '>>>>> Start Test
/// Output'`), as its `read_test_output` cuts it; `None` when it finds none.
pub fn test_output(log: &str) -> Option<&str> {
    use crate::regrade::{APPLY_PATCH_FAIL, TESTS_TIMEOUT};
    if log.contains(APPLY_PATCH_FAIL) || log.contains(TESTS_TIMEOUT) {
        return None;
    }
    if !log.contains(START) || !log.contains(END) {
        return None;
    }
    let start_sep = format!("+ : '{START}'");
    let end_sep = format!("+ : '{END}'");
    let start = log.find(&start_sep)?;
    let end = log.find(&end_sep)?;
    (start <= end).then(|| &log[start + start_sep.len()..end])
}

static PYTEST_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\S+)\s+(FAILED|PASSED|SKIPPED|ERROR|XFAIL)").unwrap());
static STATUS_FIRST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(FAILED|PASSED|SKIPPED|ERROR|XFAIL)\s(\S+)").unwrap());
static AUTOGRAD_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[gw\d\]\s(FAILED|PASSED|SKIPPED|ERROR|XFAIL)\s(\S+)").unwrap());
static GO_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^--- (PASS|FAIL|SKIP): (.+) \((.+)\)$").unwrap());
static SLUGIFY_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([a-zA-Z0-9_\-,\.\s\(\)']+)\s\.{3}\s(ok|FAIL|ERROR)$").unwrap());

fn status_of(s: &str) -> TestStatus {
    match s {
        "PASSED" | "PASS" | "ok" => TestStatus::Passed,
        "SKIPPED" | "SKIP" => TestStatus::Skipped,
        "ERROR" => TestStatus::Error,
        "XFAIL" => TestStatus::Xfail,
        _ => TestStatus::Failed,
    }
}

/// One of SWE-smith's parsers over the test output (lines split on `\n` only, as it splits).
pub fn parse_log(parser: Parser, log: &str) -> StatusMap {
    let mut map: StatusMap = HashMap::new();
    for line in log.split('\n') {
        match parser {
            Parser::Pytest => {
                if let Some(c) = PYTEST_LINE.captures(line) {
                    map.insert(c[1].to_string(), status_of(&c[2]));
                }
            }
            Parser::Paramiko => {
                if let Some(c) = STATUS_FIRST.captures(line) {
                    map.insert(c[2].to_string(), status_of(&c[1]));
                }
            }
            Parser::Autograd => {
                if let Some(c) = AUTOGRAD_LINE.captures(line) {
                    map.insert(c[2].to_string(), status_of(&c[1]));
                }
            }
            Parser::Mypy => {
                for s in ["PASSED", "FAILED"] {
                    if line.contains(s) {
                        if let Some(name) = line.split_whitespace().last() {
                            map.insert(name.to_string(), status_of(s));
                        }
                        break;
                    }
                }
            }
            Parser::GoTest => {
                if let Some(c) = GO_LINE.captures(line.trim()) {
                    map.insert(c[2].to_string(), status_of(&c[1]));
                }
            }
            Parser::Slugify => {
                if let Some(c) = SLUGIFY_LINE.captures(line) {
                    map.insert(c[1].to_string(), status_of(&c[2]));
                }
            }
            Parser::Tornado => {
                if line.ends_with("... ok") {
                    let name = line.split(" ... ").next().unwrap_or(line);
                    map.insert(name.to_string(), TestStatus::Passed);
                } else if line.contains(" ... skipped ") {
                    let name = line.split(" ... ").next().unwrap_or(line);
                    map.insert(name.to_string(), TestStatus::Skipped);
                } else if line.starts_with("ERROR:") || line.starts_with("FAIL:") {
                    let words: Vec<&str> = line.split_whitespace().skip(1).take(2).collect();
                    map.insert(words.join(" "), TestStatus::Failed);
                }
            }
        }
    }
    map
}

/// SWE-smith's rule: a test passes when it is missing from the log or PASSED/XFAIL, fails only
/// when FAILED/ERROR (SKIPPED: neither); only the tests in [`test_files`] are graded.
pub fn tests_status(task: &Task, status: &StatusMap) -> TestsStatus {
    let files = test_files(task);
    let relevant =
        |t: &&String| files.is_empty() || files.iter().any(|f| t.starts_with(f.as_str()));
    let split = |names: &[String]| {
        let mut out = SuccessFailure::default();
        for n in names.iter().filter(|t| relevant(t)) {
            match status.get(n) {
                None | Some(TestStatus::Passed) | Some(TestStatus::Xfail) => {
                    out.success.push(n.clone())
                }
                Some(TestStatus::Failed) | Some(TestStatus::Error) => out.failure.push(n.clone()),
                Some(TestStatus::Skipped) => {}
            }
        }
        out
    };
    TestsStatus {
        fail_to_pass: split(&task.fail_to_pass),
        pass_to_pass: split(&task.pass_to_pass),
        fail_to_fail: SuccessFailure::default(),
        pass_to_fail: SuccessFailure::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Value {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "../../shared/parity/swe-smith/example_instance.pandas-dev__pandas.95280573.pr_53652.json",
        );
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).unwrap(),
            // the schema's shape, for machines without ../shared
            Err(_) => serde_json::json!({
                "instance_id": "pandas-dev__pandas.95280573.pr_53652",
                "repo": "swesmith/pandas-dev__pandas.95280573",
                "patch": "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+y\n",
                "FAIL_TO_PASS": ["pandas/tests/indexing/test_datetime.py::T::a"],
                "PASS_TO_PASS": ["pandas/tests/indexing/test_datetime.py::T::b"],
                "image_name": "swesmith.x86_64.pandas-dev__pandas.95280573",
                "base_commit": "d1c5199b6a9d7ae9382d26ee2859b837107165e7",
                "problem_statement": "p", "created_at": "2025-03-21"
            }),
        }
    }

    #[test]
    fn the_published_row_maps_to_a_task() {
        let row = example();
        assert!(SweSmith.detect(row.as_object().unwrap()));
        let t = SweSmith.task_from_row(&row).unwrap();
        assert_eq!(t.repo, "pandas-dev/pandas");
        assert_eq!(t.set, "swe-smith");
        assert_eq!(t.base_commit, "HEAD");
        assert_eq!(t.version, "95280573");
        assert!(t.test_patch.is_empty());
        assert_eq!(t.patch, diff::reverse(row["patch"].as_str().unwrap()));
        assert_eq!(t.extra_str("bug_patch"), row["patch"].as_str());
        assert_eq!(
            SweSmith.images(&t)[..2],
            [
                "jyangballin/swesmith.x86_64.pandas-dev_1776_pandas.95280573",
                "swesmith.x86_64.pandas-dev_1776_pandas.95280573"
            ]
        );
        assert_eq!(
            test_command(&t),
            "pytest --disable-warnings --color=no --tb=no --verbose pandas/tests/indexing/test_datetime.py"
        );
        let script = SweSmith.eval_script(
            &t,
            &SweSmith.spec(&t).unwrap(),
            crate::grading::rules::Rules::Swebench5,
        );
        assert_eq!(
            script,
            "#!/bin/bash\nset -uxo pipefail\nsource /opt/miniconda3/bin/activate\nconda activate testbed\ncd /testbed\n: '>>>>> Start Test Output'\npytest --disable-warnings --color=no --tb=no --verbose pandas/tests/indexing/test_datetime.py\n: '>>>>> End Test Output'\n"
        );
    }

    #[test]
    fn the_offline_start_applies_the_bug_patch() {
        let t = SweSmith.task_from_row(&example()).unwrap();
        let setup = SweSmith.setup(&t).unwrap();
        assert!(!setup.network);
        assert_eq!(setup.files.len(), 1);
        assert_eq!(setup.files[0].0, BUG_PATH);
        assert!(setup.files[0].1.starts_with(row_patch(&example())));
        // the command protege has always run (the same as before the branch option existed)
        assert_eq!(
            setup.command,
            "set -e; cd /testbed; git apply --verbose /tmp/protege_swesmith_bug.diff || patch --batch --fuzz=5 -p1 -i /tmp/protege_swesmith_bug.diff; \
old=$(git symbolic-ref -q --short HEAD || true); git checkout -q --orphan protege-start; git add -A; \
GIT_AUTHOR_NAME='protege' GIT_AUTHOR_EMAIL='protege@localhost' GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' \
GIT_COMMITTER_NAME='protege' GIT_COMMITTER_EMAIL='protege@localhost' GIT_COMMITTER_DATE='2024-01-01T00:00:00Z' \
git commit -q --no-verify -m 'SWE-smith start state'; if [ -n \"$old\" ]; then git branch -D \"$old\" >/dev/null; fi; \
rm -rf .git/logs /tmp/protege_swesmith_bug.diff"
        );
        // choosing `patch` explicitly is the default
        let mut set = set_of(t.clone());
        assert_eq!(choose_start(&mut set, Start::Patch), 1);
        assert_eq!(SweSmith.setup(&set.tasks[0]), Some(setup));
    }

    fn row_patch(row: &Value) -> &str {
        row["patch"].as_str().unwrap()
    }

    fn set_of(task: Task) -> TaskSet {
        TaskSet {
            name: "t".into(),
            sha256: String::new(),
            tasks: vec![task],
            rejected: Vec::new(),
        }
    }

    #[test]
    fn the_branch_start_checks_out_the_mirrors_branch() {
        let mut set = set_of(SweSmith.task_from_row(&example()).unwrap());
        assert_eq!(choose_start(&mut set, Start::Branch), 1);
        let t = &set.tasks[0];
        let base = example()["base_commit"].as_str().unwrap().to_string();
        let setup = SweSmith.setup(t).unwrap();
        assert!(setup.network && setup.files.is_empty());
        let c = &setup.command;
        let id = "pandas-dev__pandas.95280573.pr_53652";
        let steps = [
            "cd /testbed".to_string(),
            format!(
                "git fetch -q 'https://github.com/swesmith/pandas-dev__pandas.95280573' +refs/heads/'{id}':refs/heads/'{id}'"
            ),
            format!("git checkout -q '{id}'"),
            format!("test \"$(git rev-parse HEAD)\" = {base}"),
            "git checkout -q --orphan protege-start".into(),
            "git commit -q --no-verify -m 'SWE-smith start state'".into(),
        ];
        let mut at = 0;
        for step in &steps {
            let i = c[at..]
                .find(step.as_str())
                .unwrap_or_else(|| panic!("{step} in {c}"));
            at += i + step.len();
        }
        assert!(!c.contains("git apply"), "{c}");
        // the mirror is built from the instance when the row names none
        let mut no_repo = t.clone();
        no_repo.extra.remove("repo");
        assert_eq!(mirror(&no_repo), "swesmith/pandas-dev__pandas.95280573");
        assert!(
            Start::parse("nope")
                .unwrap_err()
                .contains("`patch` or `branch`")
        );
    }

    /// The branch start's commands, run by bash against a local mirror that git reaches through
    /// `url.<path>.insteadOf` in place of github.com (no network): the work tree ends at the
    /// branch's bug with one commit of history and no other branch.
    #[test]
    fn the_branch_start_runs_against_a_mirror() {
        use std::process::Command;
        let tmp = tempfile::tempdir().unwrap();
        let git = |dir: &std::path::Path, args: &str| {
            let o = Command::new("bash")
                .arg("-c")
                .arg(format!("git -c user.name=t -c user.email=t@t {args}"))
                .current_dir(dir)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "git {args}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        let id = "o__r.12345678.bug_1";
        let mirror_dir = tmp.path().join("gh/swesmith/o__r.12345678");
        std::fs::create_dir_all(&mirror_dir).unwrap();
        git(&mirror_dir, "init -q -b main");
        std::fs::write(mirror_dir.join("a.py"), "x = 1\n").unwrap();
        git(
            &mirror_dir,
            "add -A && git -c user.name=t -c user.email=t@t commit -q -m clean",
        );
        git(&mirror_dir, &format!("checkout -q -b {id}"));
        std::fs::write(mirror_dir.join("a.py"), "x = 2\n").unwrap();
        git(&mirror_dir, "commit -q -am 'Bug Patch'");
        let bug_commit = git(&mirror_dir, "rev-parse HEAD");
        git(&mirror_dir, "checkout -q main");
        let work = tmp.path().join("testbed");
        git(
            tmp.path(),
            &format!("clone -q {} testbed", mirror_dir.display()),
        );

        let row = serde_json::json!({
            "instance_id": id, "repo": "swesmith/o__r.12345678",
            "patch": "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n",
            "FAIL_TO_PASS": [], "PASS_TO_PASS": [], "image_name": "swesmith.x86_64.o__r.12345678",
            "base_commit": bug_commit,
        });
        let mut set = set_of(SweSmith.task_from_row(&row).unwrap());
        choose_start(&mut set, Start::Branch);
        let command = SweSmith.setup(&set.tasks[0]).unwrap().command;
        let command = command.replace("cd /testbed", &format!("cd '{}'", work.display()));
        let o = Command::new("bash")
            .arg("-c")
            .arg(&command)
            .env("GIT_CONFIG_COUNT", "1")
            .env(
                "GIT_CONFIG_KEY_0",
                format!("url.{}/.insteadOf", tmp.path().join("gh").display()),
            )
            .env("GIT_CONFIG_VALUE_0", "https://github.com")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            std::fs::read_to_string(work.join("a.py")).unwrap(),
            "x = 2\n"
        );
        assert_eq!(git(&work, "log --oneline | wc -l"), "1");
        assert_eq!(
            git(&work, "branch --format='%(refname:short)'"),
            "protege-start"
        );
        assert_eq!(git(&work, "status --porcelain"), "");

        // a branch that is not at the published commit is refused
        let mut wrong = row.clone();
        wrong["base_commit"] = Value::String("0".repeat(40));
        let mut set = set_of(SweSmith.task_from_row(&wrong).unwrap());
        choose_start(&mut set, Start::Branch);
        let again = tmp.path().join("again");
        git(
            tmp.path(),
            &format!("clone -q {} again", mirror_dir.display()),
        );
        let command = SweSmith.setup(&set.tasks[0]).unwrap().command;
        let command = command.replace("cd /testbed", &format!("cd '{}'", again.display()));
        let o = Command::new("bash")
            .arg("-c")
            .arg(&command)
            .env("GIT_CONFIG_COUNT", "1")
            .env(
                "GIT_CONFIG_KEY_0",
                format!("url.{}/.insteadOf", tmp.path().join("gh").display()),
            )
            .env("GIT_CONFIG_VALUE_0", "https://github.com")
            .output()
            .unwrap();
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains("is not at 0000"));
    }

    #[test]
    fn rows_name_what_is_wrong() {
        let mut row = example();
        row.as_object_mut().unwrap().remove("image_name");
        assert_eq!(
            SweSmith.task_from_row(&row).unwrap_err(),
            "missing field `image_name`"
        );
        let mut row = example();
        row["patch"] = Value::String(" ".into());
        assert!(
            SweSmith
                .task_from_row(&row)
                .unwrap_err()
                .contains("introduces the bug")
        );
    }

    #[test]
    fn images_in_every_spelling() {
        assert_eq!(
            image_candidates("jyangballin/swesmith.x86_64.a__b.1234abcd"),
            [
                "jyangballin/swesmith.x86_64.a__b.1234abcd",
                "jyangballin/swesmith.x86_64.a_1776_b.1234abcd",
                "swesmith.x86_64.a_1776_b.1234abcd",
                "swesmith.x86_64.a__b.1234abcd"
            ]
        );
    }

    #[test]
    fn missing_tests_pass_and_only_failures_fail() {
        let mut t = SweSmith.task_from_row(&example()).unwrap();
        t.fail_to_pass = vec!["f.py::a".into(), "f.py::b".into()];
        t.pass_to_pass = vec!["f.py::c".into(), "f.py::d".into(), "other.py::e".into()];
        let status: StatusMap = [
            ("f.py::a".to_string(), TestStatus::Passed),
            ("f.py::c".to_string(), TestStatus::Skipped),
            ("f.py::d".to_string(), TestStatus::Error),
            ("other.py::e".to_string(), TestStatus::Failed),
        ]
        .into_iter()
        .collect();
        let g = SweSmith.grade(&t, &status);
        let ts = g.tests_status.unwrap();
        // f.py::b is missing: passed; other.py is not a FAIL_TO_PASS file: not graded
        assert_eq!(ts.fail_to_pass.success, ["f.py::a", "f.py::b"]);
        assert!(ts.pass_to_pass.success.is_empty());
        assert_eq!(ts.pass_to_pass.failure, ["f.py::d"]);
        assert!(!g.resolved);
        // SWE-bench's rule fails the missing test
        let swe = crate::grading::report::tests_status(
            &t,
            &status,
            crate::grading::rules::Rules::Swebench4,
        );
        assert_eq!(swe.fail_to_pass.failure, ["f.py::b"]);
    }

    #[test]
    fn output_is_cut_at_the_traced_markers() {
        let log = "x\n+ : '>>>>> Start Test Output'\n+ pytest\nt.py::a PASSED [ 50%]\nt.py::b FAILED\n+ : '>>>>> End Test Output'\nt.py::c PASSED\n";
        let s = test_output(log).unwrap();
        let m = parse_log(Parser::Pytest, s);
        assert_eq!(m.len(), 2);
        assert_eq!(m["t.py::a"], TestStatus::Passed);
        assert_eq!(m["t.py::b"], TestStatus::Failed);
        assert!(test_output("t.py::a PASSED\n").is_none());
        assert!(
            test_output(&format!(
                "{log}\n>>>>> Tests Timed Out: 120 seconds exceeded"
            ))
            .is_none()
        );
    }

    #[test]
    fn mypy_runs_the_named_cases() {
        let mut t = SweSmith.task_from_row(&example()).unwrap();
        t.repo = "python/mypy".into();
        t.fail_to_pass = vec![
            "mypy/test/testcheck.py::TypeCheckSuite::check-a.test::testOne".into(),
            "mypy/test/testcheck.py::TypeCheckSuite::check-a.test::testTwo".into(),
        ];
        assert_eq!(
            test_command(&t),
            "pytest --color=no -rA -k \"testOne or testTwo\""
        );
        assert!(test_files(&t).is_empty());
        let m = parse_log(
            Parser::Mypy,
            "PASSED mypy/x.py::testOne\nFAILED mypy/x.py::testTwo - boom",
        );
        assert_eq!(m["mypy/x.py::testOne"], TestStatus::Passed);
        assert_eq!(m["boom"], TestStatus::Failed);
    }
}
