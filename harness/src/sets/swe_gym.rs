//! SWE-Gym (2,438 tasks; Lite 234) over 11 Python repositories: SWE-bench's schema and grading
//! rule, its own images (one per instance, `xingyaoww/sweb.eval.x86_64.<id, "__" → "_s_">`,
//! lower-case) and its own test commands. The images come with the environment installed, so
//! nothing is installed at evaluation.
//!
//! Log parsers, as SWE-Gym's harness (its SWE-bench fork, `swebench/harness/log_parsers.py`)
//! maps them: pydantic's logs are read by its own `parse_log_pytest_pydantic`
//! ([`parse_pydantic`], [`LogParser::SweGymPydantic`]); every other repository's by the
//! plain pytest parser.

use std::sync::LazyLock;

use protege_datasets::Task;
use protege_datasets::hub::HubSplit;
use regex::Regex;
use serde_json::Value;

use super::TaskSetRules;
use crate::grading::report::StatusMap;
use crate::parsers::pytest::status_word;
use crate::parsers::{LogParser, py_split};
use crate::specs::{CONDA_ACTIVATE, Spec, SpecError};

/// SWE-Gym and SWE-Gym Lite: the same rules, two splits.
pub struct SweGym;

/// The 234-task subset.
pub struct SweGymLite;
pub const SWE_GYM_LITE: SweGymLite = SweGymLite;

/// (repository, test command); mypy's gets `-k "<names>"` appended.
const TEST_COMMANDS: &[(&str, &str)] = &[
    ("getmoto/moto", "pytest -n0 -rA"),
    ("conan-io/conan", "pytest -n0 -rA"),
    ("modin-project/modin", "pytest -n0 -rA"),
    ("dask/dask", "pytest -n0 -rA --color=no"),
    ("Project-MONAI/MONAI", "pytest -rA"),
    ("iterative/dvc", "pytest -rA"),
    ("bokeh/bokeh", "pytest -rA -n0"),
    ("pandas-dev/pandas", "pytest -rA --tb=long"),
    ("facebookresearch/hydra", "pytest -rA --tb=long"),
    (
        "pydantic/pydantic",
        "pytest -rA --tb=short -vv -o console_output_style=classic --no-header",
    ),
    ("python/mypy", "pytest -n0 -rA -k"),
];

/// The `[case name]` names of a test patch (mypy's data-driven tests), joined with ` or `.
pub fn mypy_cases(test_patch: &str) -> String {
    let mut names: Vec<&str> = Vec::new();
    for line in test_patch.lines() {
        let mut rest = line;
        while let Some(i) = rest.find("[case ") {
            let after = &rest[i + "[case ".len()..];
            match after.find(']') {
                Some(j) => {
                    names.push(&after[..j]);
                    rest = &after[j..];
                }
                None => break,
            }
        }
    }
    names.join(" or ")
}

fn spec(task: &Task) -> Result<Spec, SpecError> {
    let Some((_, cmd)) = TEST_COMMANDS
        .iter()
        .find(|(r, _)| r.eq_ignore_ascii_case(&task.repo))
    else {
        return Err(SpecError::Unknown {
            instance: task.instance_id.clone(),
            repo: task.repo.clone(),
            version: task.version.clone(),
        });
    };
    let test_cmd = if task.repo == "python/mypy" {
        format!("{cmd} \"{}\"", mypy_cases(&task.test_patch))
    } else {
        cmd.to_string()
    };
    let parser = if task.repo.eq_ignore_ascii_case("pydantic/pydantic") {
        LogParser::SweGymPydantic
    } else {
        LogParser::Pytest
    };
    Ok(Spec {
        activate: CONDA_ACTIVATE.iter().map(|s| s.to_string()).collect(),
        ..Spec::prebuilt(task, test_cmd, parser)
    })
}

/// The status words of SWE-Gym's `TestStatus`, in its order (the order lines are tested in).
const STATUSES: [&str; 5] = ["FAILED", "PASSED", "SKIPPED", "ERROR", "XFAIL"];

static COLOUR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\[(\d+)m").unwrap());
static FAILED_PROGRESS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"FAILED\s*\[.*?\]").unwrap());

/// One line as the pydantic parser reads it: `[32m`-style colour remnants removed, then every
/// control character (1–31, tabs and `\r` included: removed, not turned into spaces), then a
/// `FAILED [ 50%]` progress tail shortened to `FAILED`.
fn pydantic_line(raw: &str) -> String {
    let line = COLOUR.replace_all(raw, "");
    let line: String = line
        .chars()
        .filter(|c| !('\x01'..'\x20').contains(c))
        .collect();
    FAILED_PROGRESS.replace_all(&line, "FAILED").into_owned()
}

/// The words of a line the parser records, `(words, status first)`; `None` for a line it skips.
fn pydantic_words(line: &str) -> Option<(Vec<&str>, bool)> {
    if STATUSES.iter().any(|s| line.starts_with(s)) {
        Some((py_split(line).collect(), true))
    } else if STATUSES.iter().any(|s| line.ends_with(s)) {
        Some((py_split(line).collect(), false))
    } else {
        None
    }
}

/// SWE-Gym's pydantic parser (`parse_log_pytest_pydantic`): `STATUS name` lines (a FAILED
/// line's ` - ` read as a space) and, for older pytest, `name STATUS` lines, over lines split on
/// `\n` only. Where the official parser stores a word that is no status (`ERRORS`, a name cut
/// at a space inside its brackets), nothing is recorded: its grader counts such an entry neither
/// passed nor failed.
pub fn parse_pydantic(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    for raw in log.split('\n') {
        let mut line = pydantic_line(raw);
        if line.starts_with("FAILED") {
            line = line.replace(" - ", " ");
        }
        let Some((words, status_first)) = pydantic_words(&line) else {
            continue;
        };
        let (name, status) = match (status_first, words.as_slice()) {
            (true, [status, name, ..]) | (false, [name, status, ..]) => (*name, *status),
            _ => continue,
        };
        if let Some(s) = status_word(status) {
            map.insert(name.to_string(), s);
        }
    }
    map
}

/// True when SWE-Gym's pydantic parser raises on the log (an `IndexError`: a line that starts
/// or ends with a status word but has fewer than two words, `PASSED` alone), so its harness
/// writes no report.
pub fn pydantic_raises(log: &str) -> bool {
    log.split('\n').any(|raw| {
        let line = pydantic_line(raw);
        pydantic_words(&line).is_some_and(|(words, _)| words.len() < 2)
    })
}

/// `xingyaoww/sweb.eval.x86_64.<id, "__" → "_s_">`, lower-case.
pub fn image(instance_id: &str) -> String {
    format!(
        "xingyaoww/sweb.eval.x86_64.{}:latest",
        instance_id.replace("__", "_s_").to_lowercase()
    )
}

fn task_from_row(set: &str, row: &Value) -> Result<Task, String> {
    let mut t = Task::from_json(row)?;
    t.set = set.into();
    Ok(t)
}

impl TaskSetRules for SweGym {
    fn name(&self) -> &'static str {
        "swe-gym"
    }
    fn about(&self) -> &'static str {
        "SWE-Gym: 2,438 tasks, 11 repositories; SWE-bench's schema and rule, its own images and test commands"
    }
    fn hub(&self) -> Option<HubSplit> {
        Some(HubSplit {
            dataset: "SWE-Gym/SWE-Gym",
            config: "default",
            split: "train",
        })
    }
    fn task_from_row(&self, row: &Value) -> Result<Task, String> {
        task_from_row(self.name(), row)
    }
    fn spec(&self, task: &Task) -> Result<Spec, SpecError> {
        spec(task)
    }
    fn images(&self, task: &Task) -> Vec<String> {
        vec![image(&task.instance_id)]
    }
}

impl TaskSetRules for SweGymLite {
    fn name(&self) -> &'static str {
        "swe-gym-lite"
    }
    fn about(&self) -> &'static str {
        "SWE-Gym Lite: 234 of SWE-Gym's tasks, same rules"
    }
    fn hub(&self) -> Option<HubSplit> {
        Some(HubSplit {
            dataset: "SWE-Gym/SWE-Gym-Lite",
            config: "default",
            split: "train",
        })
    }
    fn task_from_row(&self, row: &Value) -> Result<Task, String> {
        // graded by SWE-Gym's rules (one module), named for the split it came from
        task_from_row(SweGym.name(), row)
    }
    fn spec(&self, task: &Task) -> Result<Spec, SpecError> {
        spec(task)
    }
    fn images(&self, task: &Task) -> Vec<String> {
        vec![image(&task.instance_id)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(repo: &str, id: &str, test_patch: &str) -> Value {
        serde_json::json!({
            "instance_id": id, "repo": repo, "base_commit": "abc", "version": "5.0",
            "problem_statement": "p", "patch": "x", "test_patch": test_patch,
            "FAIL_TO_PASS": "[\"t\"]", "PASS_TO_PASS": "[]"
        })
    }

    #[test]
    fn images_commands_and_mypy_cases() {
        let t = SweGym
            .task_from_row(&row("getmoto/moto", "getmoto__moto-7365", ""))
            .unwrap();
        assert_eq!(t.set, "swe-gym");
        assert_eq!(
            super::super::for_task(&t).images(&t),
            ["xingyaoww/sweb.eval.x86_64.getmoto_s_moto-7365:latest"]
        );
        assert_eq!(SweGym.spec(&t).unwrap().test_cmd, "pytest -n0 -rA");
        let patch = "+[case testFoo]\n+x\n+[case testBar-skip] [case testBaz]\n";
        let t = SWE_GYM_LITE
            .task_from_row(&row("python/mypy", "python__mypy-1", patch))
            .unwrap();
        assert_eq!(t.set, "swe-gym");
        assert_eq!(
            SweGym.spec(&t).unwrap().test_cmd,
            "pytest -n0 -rA -k \"testFoo or testBar-skip or testBaz\""
        );
        let t = SweGym
            .task_from_row(&row("nobody/else", "nobody__else-1", ""))
            .unwrap();
        assert!(SweGym.spec(&t).is_err());
    }

    #[test]
    fn pydantic_has_its_own_parser() {
        let t = SweGym
            .task_from_row(&row("pydantic/pydantic", "pydantic__pydantic-5021", ""))
            .unwrap();
        assert_eq!(SweGym.spec(&t).unwrap().parser, LogParser::SweGymPydantic);
        let t = SweGym
            .task_from_row(&row("getmoto/moto", "getmoto__moto-1", ""))
            .unwrap();
        assert_eq!(SweGym.spec(&t).unwrap().parser, LogParser::Pytest);
    }

    #[test]
    fn pydantic_lines_as_swe_gym_reads_them() {
        use crate::grading::report::TestStatus::*;
        let log = "tests/test_main.py::test_a PASSED\n\
tests/test_main.py::test_b \x1b[31mFAILED [ 50%]\x1b[0m\n\
tests/test_main.py::test_c[x y] PASSED\n\
\x1b[32mPASSED\x1b[0m tests/test_edge.py::test_d\n\
FAILED tests/test_edge.py::test_e - AssertionError: boom\n\
ERROR tests/test_edge.py::test_f - ImportError\n\
tests/test_t\tab.py::test_g XFAIL\n\
ERRORS tests/test_edge.py::test_h\n\
tests/test_main.py::test_i SKIPPED (reason)\n\
========== 2 failed, 3 passed in 1.0s ==========\n";
        let m = parse_pydantic(log);
        assert_eq!(m["tests/test_main.py::test_a"], Passed);
        // the colour escape and the progress tail are removed before the status is read
        assert_eq!(m["tests/test_main.py::test_b"], Failed);
        assert_eq!(m["tests/test_edge.py::test_d"], Passed);
        assert_eq!(m["tests/test_edge.py::test_e"], Failed);
        assert_eq!(m["tests/test_edge.py::test_f"], Error);
        // a tab is removed, not read as a space
        assert_eq!(m["tests/test_tab.py::test_g"], Xfail);
        // `y]` and `ERRORS` are no statuses; a SKIPPED line with a reason ends with no status
        assert_eq!(m.len(), 6, "{m:?}");
        assert!(!pydantic_raises(log));
        // SWE-bench's pytest parser reads the tab as a space, so it misses test_g
        assert!(
            !LogParser::Pytest
                .parse(log)
                .contains_key("tests/test_tab.py::test_g")
        );
        assert!(pydantic_raises("collected 1 item\nPASSED\n"));
        assert!(pydantic_raises("x\n  XPASSED\n"));
    }

    #[test]
    fn pydantic_logs_grade_through_the_sets_parser() {
        use crate::eval_script::{END_MARKER, START_MARKER};
        use crate::grading::rules::Rules;
        let mut t = SweGym
            .task_from_row(&row("pydantic/pydantic", "pydantic__pydantic-5021", ""))
            .unwrap();
        t.fail_to_pass = vec!["tests/test_main.py::test_b".into()];
        t.pass_to_pass = vec!["tests/test_main.py::test_a".into()];
        let spec = SweGym.spec(&t).unwrap();
        let log = |body: &str| format!("+ : '{START_MARKER}'\n{body}+ : '{END_MARKER}'\n");
        let fixed = log(
            "tests/test_main.py::test_a PASSED\ntests/test_main.py::test_b \x1b[32mPASSED\x1b[0m\n",
        );
        for rules in Rules::ALL {
            let r = rules.grade(&t, spec.parser, &fixed).unwrap();
            assert!(r.resolved, "{rules:?}: {r:?}");
        }
        let broken =
            log("tests/test_main.py::test_a PASSED\ntests/test_main.py::test_b FAILED [100%]\n");
        let r = Rules::Swebench5.grade(&t, spec.parser, &broken).unwrap();
        assert!(!r.resolved);
        assert_eq!(
            r.tests_status.unwrap().fail_to_pass.failure,
            ["tests/test_main.py::test_b"]
        );
        // a lone status word: SWE-Gym's parser raises, so no report
        let raises = log("tests/test_main.py::test_a PASSED\nPASSED\n");
        assert!(Rules::Swebench4.grade(&t, spec.parser, &raises).is_err());
    }
}
