//! SWE-Gym (2,438 tasks; Lite 234) over 11 Python repositories: SWE-bench's schema and grading
//! rule, its own images (one per instance, `xingyaoww/sweb.eval.x86_64.<id, "__" → "_s_">`,
//! lower-case) and its own test commands. The images come with the environment installed, so
//! nothing is installed at evaluation.

use protege_datasets::Task;
use protege_datasets::hub::HubSplit;
use serde_json::Value;

use super::TaskSetRules;
use crate::parsers::LogParser;
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
    Ok(Spec {
        activate: CONDA_ACTIVATE.iter().map(|s| s.to_string()).collect(),
        // pydantic's classic-style `-vv` lines and the others' `-rA` summaries are both read by
        // the pytest parser (`name STATUS` and `STATUS name` lines)
        ..Spec::prebuilt(task, test_cmd, LogParser::Pytest)
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
}
