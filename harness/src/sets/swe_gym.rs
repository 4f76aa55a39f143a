//! SWE-Gym (2,438 tasks; Lite 230) over 11 Python repositories: SWE-bench's schema, its own
//! images (one per instance, `xingyaoww/sweb.eval.x86_64.<id, "__" → "_s_">`, lower-case) and
//! its own harness, a fork of SWE-bench 2.0.13: graded by 2.x's rules
//! ([`Rules::Swebench2`], the whole log), with its own test commands, and an eval script that
//! repeats the repository's install step before the tests, as 2.x's scripts do.
//!
//! Log parsers, as SWE-Gym's harness (its SWE-bench fork, `swebench/harness/log_parsers.py`)
//! maps them: pydantic's logs are read by its own `parse_log_pytest_pydantic`
//! ([`protege_testlog::swe_gym_pydantic`], [`LogParser::SweGymPydantic`]); every other repository's by the
//! plain pytest parser.

use protege_datasets::Task;
use protege_datasets::hub::HubSplit;
use protege_testlog::LogParser;
use serde_json::Value;

use super::TaskSetRules;
use crate::grading::rules::Rules;
use crate::specs::{CONDA_ACTIVATE, Directives, Spec, SpecError};

/// SWE-Gym and SWE-Gym Lite: the same rules, two splits.
pub struct SweGym;

/// The 230-task subset.
pub struct SweGymLite;
pub const SWE_GYM_LITE: SweGymLite = SweGymLite;

/// `major.minor` of a version string, for the version ranges SWE-Gym's spec table draws
/// (`0.990` → (0, 990)); `None` for one that is not numeric.
fn version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// What SWE-Gym's harness (its SWE-bench 2.0.13 fork, `MAP_REPO_VERSION_TO_SPECS`) runs for a
/// repository and version at evaluation: the test command, the install step its eval script
/// repeats before the tests, and commands run first in `/testbed`. `None`: a repository it has
/// no specs for.
struct ForkSpec {
    test_cmd: &'static str,
    install: String,
    pre_test: &'static [&'static str],
}

fn fork_spec(repo: &str, v: (u32, u32)) -> Option<ForkSpec> {
    let plain = |test_cmd, install: &str| ForkSpec {
        test_cmd,
        install: install.to_string(),
        pre_test: &[],
    };
    const MYPY_INSTALL: &str =
        "python -m pip install -r test-requirements.txt; python -m pip install -e .;";
    const CONAN_INSTALL: &str = "python -m pip install -r conans/requirements.txt; python -m pip install -r conans/requirements_server.txt; python -m pip install -r conans/requirements_dev.txt ";
    const DVC_INSTALL: &str = r#"python -m pip install --upgrade pip wheel GitPython; python -m pip install "cython<3.0.0" && python -m pip install --no-build-isolation pyyaml==5.4.1; python -m pip install git+https://github.com/iterative/mock-ssh-server.git || true; python -m pip install -r tests/requirements.txt || true; python -m pip install -r test-requirements.txt || true; python -m pip install -e ".[tests,dev,all_remotes,all,testing]";"#;
    const PANDAS_INSTALL: &str = "python -m pip install -ve . --no-build-isolation -Ceditable-verbose=true; pip uninstall pytest-qt -y;";
    const HYDRA_INSTALL: &str = "pip install -r requirements/dev.txt; pip install -e .;";
    Some(match repo.to_ascii_lowercase().as_str() {
        // 1.7–1.11 run on Python 3.12 without `-n0`
        "python/mypy" => ForkSpec {
            test_cmd: if ((1, 7)..=(1, 11)).contains(&v) {
                "pytest -rA -k"
            } else {
                "pytest -n0 -rA -k"
            },
            install: match v {
                (1.., _) => format!("{MYPY_INSTALL} hash -r"),
                (0, 940..) => format!("{MYPY_INSTALL} pip install pytest pytest-xdist; hash -r"),
                _ => format!("{MYPY_INSTALL} pip install pytest pytest-xdist; hash -r;"),
            },
            pre_test: &[],
        },
        "getmoto/moto" => plain("pytest -n0 -rA", "make init"),
        // before 1.60 (and 2.0) with Cython held below 3
        "conan-io/conan" => ForkSpec {
            test_cmd: "pytest -n0 -rA",
            install: if v >= (1, 60) && v != (2, 0) {
                CONAN_INSTALL.to_string()
            } else {
                format!(
                    "echo 'cython<3' > /tmp/constraint.txt; export PIP_CONSTRAINT=/tmp/constraint.txt; {CONAN_INSTALL}"
                )
            },
            pre_test: &["export PYTHONPATH=${PYTHONPATH:-}:$(pwd)"],
        },
        "dask/dask" => plain(
            "pytest -n0 -rA  --color=no",
            "python -m pip install --no-deps -e .",
        ),
        "project-monai/monai" => plain(
            "pytest -rA ",
            r"sed -i '/^git+https:\/\/github.com\/Project-MONAI\//d' requirements-dev.txt; python -m pip install types-pkg-resources==0.1.3 pytest; pip install -r requirements-dev.txt;python setup.py develop;",
        ),
        // before 3.4 with numpy and pytest held back
        "iterative/dvc" if v < (3, 4) => plain(
            "pytest -rA",
            &format!(
                r#"{DVC_INSTALL} python -m pip install "numpy<=1.20"; python -m pip install "pytest<8";"#
            ),
        ),
        "iterative/dvc" => plain("pytest -rA", DVC_INSTALL),
        "bokeh/bokeh" if v >= (3, 0) => plain(
            "pytest -rA -n0",
            "python -m pip install -e .; python -m pip install bokeh_sampledata;",
        ),
        // the newline inside printf's quotes is in the fork's string as one
        "bokeh/bokeh" => plain(
            "pytest -rA -n0",
            "pip install \"setuptools<66\" \"jinja2<3.1\"; printf \"1\n\" | python setup.py develop; bokeh sampledata;",
        ),
        "modin-project/modin" if v <= (0, 19) => plain(
            "pytest -n0 -rA",
            "python -m pip install -e .; python -m pip install numpy==1.23.1 protobuf==3.20.1;",
        ),
        "modin-project/modin" => plain("pytest -n0 -rA", "python -m pip install -e .;"),
        "pydantic/pydantic" => plain(
            "pytest -rA --tb=short -vv -o console_output_style=classic --no-header",
            r#"export PATH="$HOME/.local/bin:$PATH"; pdm add pre-commit; make install;"#,
        ),
        // numpy 2 only from 2.2
        "pandas-dev/pandas" if v <= (2, 1) => plain(
            "pytest -rA --tb=long",
            &format!("python -m pip install 'numpy<2'; {PANDAS_INSTALL}"),
        ),
        "pandas-dev/pandas" => plain("pytest -rA --tb=long", PANDAS_INSTALL),
        // up to 1.2: isort's moved repository and pip held at 24.0 for omegaconf
        "facebookresearch/hydra" if v <= (1, 2) => plain(
            "pytest -rA --tb=long",
            &format!(
                r#"sed -i 's|isort@git+git://github.com/timothycrosley/isort|isort@git+https://github.com/timothycrosley/isort|g' requirements/dev.txt; {{ tail -n1 requirements/requirements.txt | grep -q "." && echo ""; }} >> requirements/requirements.txt; echo "pip==24.0" >> requirements/requirements.txt;pip install "pip==24.0"; {HYDRA_INSTALL}"#
            ),
        ),
        "facebookresearch/hydra" => plain("pytest -rA --tb=long", HYDRA_INSTALL),
        _ => return None,
    })
}

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
    let unknown = || SpecError::Unknown {
        instance: task.instance_id.clone(),
        repo: task.repo.clone(),
        version: task.version.clone(),
    };
    let fork =
        fork_spec(&task.repo, version(&task.version).ok_or_else(unknown)?).ok_or_else(unknown)?;
    let mypy = task.repo.eq_ignore_ascii_case("python/mypy");
    // mypy's tests are named by `-k`, with no file after them
    let test_cmd = if mypy {
        format!("{} \"{}\"", fork.test_cmd, mypy_cases(&task.test_patch))
    } else {
        fork.test_cmd.to_string()
    };
    let parser = if task.repo.eq_ignore_ascii_case("pydantic/pydantic") {
        LogParser::SweGymPydantic
    } else {
        LogParser::Pytest
    };
    Ok(Spec {
        activate: CONDA_ACTIVATE.iter().map(|s| s.to_string()).collect(),
        install: fork.install,
        pre_test: fork.pre_test.iter().map(|s| s.to_string()).collect(),
        directives: if mypy {
            Directives::None
        } else {
            Directives::TestPatch
        },
        ..Spec::prebuilt(task, test_cmd, parser)
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
    fn harness_rules(&self) -> Rules {
        Rules::Swebench2
    }
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
    fn harness_rules(&self) -> Rules {
        Rules::Swebench2
    }
    fn name(&self) -> &'static str {
        "swe-gym-lite"
    }
    fn about(&self) -> &'static str {
        "SWE-Gym Lite: 230 of SWE-Gym's tasks, same rules"
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

    fn task(repo: &str, version: &str, test_patch: &str) -> Task {
        let mut r = row(repo, "o__r-1", test_patch);
        r["version"] = version.into();
        SweGym.task_from_row(&r).unwrap()
    }

    /// The fork's test command, install step and first commands, by repository and version.
    #[test]
    fn the_forks_specs_by_version() {
        let mypy_patch = "diff --git a/test-data/unit/check-x.test b/test-data/unit/check-x.test\n--- a/test-data/unit/check-x.test\n+++ b/test-data/unit/check-x.test\n@@ -1 +1,2 @@\n+[case testA]\n";
        let s = SweGym
            .spec(&task("python/mypy", "1.8", mypy_patch))
            .unwrap();
        assert_eq!(s.test_cmd, "pytest -rA -k \"testA\"");
        assert_eq!(
            s.install,
            "python -m pip install -r test-requirements.txt; python -m pip install -e .; hash -r"
        );
        let t = task("python/mypy", "0.820", mypy_patch);
        let s = SweGym.spec(&t).unwrap();
        assert_eq!(s.test_cmd, "pytest -n0 -rA -k \"testA\"");
        assert!(
            s.install
                .ends_with("pip install pytest pytest-xdist; hash -r;")
        );
        // mypy's cases are chosen by -k alone: the .test file after them would collect nothing
        let script = SweGym.eval_script(&t, &s, Rules::Swebench2);
        assert!(
            script.contains("\npytest -n0 -rA -k \"testA\"\n"),
            "{script}"
        );
        let s = SweGym.spec(&task("python/mypy", "0.940", "")).unwrap();
        assert!(s.install.ends_with("pytest-xdist; hash -r"));

        let t = task("getmoto/moto", "4.1", "");
        let s = SweGym.spec(&t).unwrap();
        let script = SweGym.eval_script(&t, &s, Rules::Swebench2);
        let install = script.find("\nmake init\n").expect("moto's install step");
        assert!(install < script.find("git apply -v -").unwrap());

        let old = SweGym.spec(&task("conan-io/conan", "1.40", "")).unwrap();
        assert!(old.install.starts_with("echo 'cython<3'"));
        assert_eq!(old.pre_test, ["export PYTHONPATH=${PYTHONPATH:-}:$(pwd)"]);
        for v in ["2.0", "1.59"] {
            let s = SweGym.spec(&task("conan-io/conan", v, "")).unwrap();
            assert!(s.install.starts_with("echo 'cython<3'"), "{v}");
        }
        let new = SweGym.spec(&task("conan-io/conan", "2.1", "")).unwrap();
        assert!(
            new.install
                .starts_with("python -m pip install -r conans/requirements.txt")
        );

        let s = SweGym.spec(&task("pandas-dev/pandas", "2.1", "")).unwrap();
        assert!(s.install.starts_with("python -m pip install 'numpy<2'; "));
        let s = SweGym.spec(&task("pandas-dev/pandas", "2.2", "")).unwrap();
        assert!(s.install.starts_with("python -m pip install -ve ."));
        let s = SweGym.spec(&task("iterative/dvc", "3.3", "")).unwrap();
        assert!(s.install.ends_with(r#"python -m pip install "pytest<8";"#));
        let s = SweGym.spec(&task("iterative/dvc", "3.10", "")).unwrap();
        assert!(s.install.ends_with(r#"all_remotes,all,testing]";"#));
        let s = SweGym
            .spec(&task("facebookresearch/hydra", "1.2", ""))
            .unwrap();
        assert!(s.install.ends_with(
            r#"pip install "pip==24.0"; pip install -r requirements/dev.txt; pip install -e .;"#
        ));
        let s = SweGym
            .spec(&task("modin-project/modin", "0.19", ""))
            .unwrap();
        assert!(s.install.ends_with("numpy==1.23.1 protobuf==3.20.1;"));
        assert!(SweGym.spec(&task("getmoto/moto", "dev", "")).is_err());
    }

    /// New runs of SWE-Gym are graded by 2.x's rules, its harness's version; a mix of sets by
    /// the current ones.
    #[test]
    fn swe_gym_is_graded_by_its_harness_version() {
        let gym = task("getmoto/moto", "4.1", "");
        assert_eq!(
            super::super::harness_rules(std::slice::from_ref(&gym)),
            Rules::Swebench2
        );
        let mut plain = gym.clone();
        plain.set = String::new();
        assert_eq!(super::super::harness_rules(&[gym, plain]), Rules::CURRENT);
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
