//! The official graders as the oracle: `swebench` 4.1.0 and 5.0.2, installed by
//! scripts/setup.sh into venvs under `${PROTEGE_CACHE:-~/.cache/protege}/oracle/`, grade the
//! same logs as protege through their own `get_eval_report` (driver: tests/oracle/grade.py);
//! protege under each rule set must write that version's report, verdict and every test list,
//! case by case:
//!
//! * `swebench-2`: 4.1.0's grading fed the whole log (the 2.x-era graders had no markers);
//! * `swebench-4`: 4.1.0; `swebench-5`: 5.0.2.
//!
//! Two sets of logs: (a) the shared parity logs (../shared), as written and with start/end
//! markers and exit-code lines injected; (b) generated logs, one per rule that flips a verdict
//! between versions and one per parser. Skips, printing `SKIPPED: …`, when a venv (or, for
//! (a), ../shared) is missing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use protege_datasets::Task;
use protege_datasets::load::load_tasks;
use protege_harness::grading::rules::{GraderChoice, Rules};
use protege_harness::regrade::{Outcome, grade_instance_dir};
use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The venv's python for one official version, or `None` (with the loud skip line).
fn oracle(version: &str) -> Option<PathBuf> {
    let cache = std::env::var_os("PROTEGE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/protege")))?;
    let python = cache.join(format!("oracle/swebench-{version}/bin/python"));
    if python.exists() {
        Some(python)
    } else {
        eprintln!(
            "SKIPPED: no official grader at {} (scripts/setup.sh installs it)",
            python.display()
        );
        None
    }
}

/// Which installed version grades a rule set's logs, and whether it is fed the whole log.
fn official(rules: Rules) -> (&'static str, bool) {
    match rules {
        Rules::Swebench2 => ("4.1.0", true),
        Rules::Swebench4 => ("4.1.0", false),
        Rules::Swebench5 => ("5.0.2", false),
    }
}

/// One log to grade under some rule sets.
struct Case {
    name: String,
    task: Task,
    /// Folder holding `test_output.txt`.
    dir: PathBuf,
    rules: Vec<Rules>,
}

fn task_json(t: &Task) -> Value {
    json!({
        "instance_id": t.instance_id, "repo": t.repo, "version": t.version,
        "FAIL_TO_PASS": t.fail_to_pass, "PASS_TO_PASS": t.pass_to_pass,
        "log_parser": t.log_parser, "eval_type": t.eval_type,
    })
}

/// Runs the driver over the cases with one installed version: case name → official report
/// (`Value::Null`: none).
fn run_official(python: &Path, reqs: &[Value]) -> BTreeMap<String, Value> {
    let driver = root().join("harness/tests/oracle/grade.py");
    let mut child = Command::new(python)
        .arg(&driver)
        .env("PYTHONUTF8", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the official grader's python runs");
    let mut stdin = child.stdin.take().unwrap();
    let input: String = reqs.iter().map(|r| r.to_string() + "\n").collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "the oracle driver failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["case"].as_str().unwrap().to_string(), v["report"].clone())
        })
        .collect()
}

fn protege(case: &Case, rules: Rules) -> Value {
    match grade_instance_dir(&case.task, &case.dir, GraderChoice::Fixed(rules)).unwrap() {
        Some((Outcome::Report(r), used)) => {
            assert_eq!(used, rules);
            serde_json::to_value(r).unwrap()
        }
        _ => Value::Null,
    }
}

/// One line per field that differs (test lists as sets, and in order).
fn differences(official: &Value, mine: &Value) -> Vec<String> {
    if official == mine {
        return vec![];
    }
    let (Some(o), Some(m)) = (official.as_object(), mine.as_object()) else {
        return vec![format!("official {official}, protege {mine}")];
    };
    let mut out = vec![];
    let keys: BTreeSet<&String> = o.keys().chain(m.keys()).collect();
    for k in keys {
        let (a, b) = (
            o.get(k).unwrap_or(&Value::Null),
            m.get(k).unwrap_or(&Value::Null),
        );
        if a == b {
            continue;
        }
        if k == "tests_status" && a.is_object() && b.is_object() {
            for list in [
                "FAIL_TO_PASS",
                "PASS_TO_PASS",
                "FAIL_TO_FAIL",
                "PASS_TO_FAIL",
            ] {
                for part in ["success", "failure"] {
                    let (x, y) = (&a[list][part], &b[list][part]);
                    if x != y {
                        out.push(format!("{list}.{part}: {}", list_diff(x, y)));
                    }
                }
            }
        } else if k == "tests_status" {
            let present = |v: &Value| if v.is_null() { "absent" } else { "present" };
            out.push(format!(
                "{k}: official {}, protege {}",
                present(a),
                present(b)
            ));
        } else {
            out.push(format!("{k}: official {a}, protege {b}"));
        }
    }
    out
}

/// `only official [a, b, c …+N], only protege […]`: a compact difference of two test lists.
fn list_diff(official: &Value, mine: &Value) -> String {
    let set = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    };
    let (o, m) = (set(official), set(mine));
    let show = |d: Vec<&String>| {
        let more = d.len().saturating_sub(3);
        let names: Vec<&str> = d.iter().take(3).map(|s| s.as_str()).collect();
        if more > 0 {
            format!("{names:?} +{more}")
        } else {
            format!("{names:?}")
        }
    };
    if o == m {
        return "same tests, other order".into();
    }
    format!(
        "only official {}, only protege {}",
        show(o.difference(&m).collect()),
        show(m.difference(&o).collect())
    )
}

/// Grades every case under each of its rule sets with protege and the official version;
/// returns `"<case> <rules>"` → differences, and how many gradings were compared.
fn compare(cases: &[Case]) -> Option<(BTreeMap<String, Vec<String>>, usize)> {
    let mut by_version: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for c in cases {
        for &r in &c.rules {
            let (version, whole) = official(r);
            by_version.entry(version).or_default().push(json!({
                "case": format!("{} {}", c.name, r.name()),
                "log": c.dir.join("test_output.txt"),
                "whole": whole,
                "task": task_json(&c.task),
            }));
        }
    }
    let mut reports = BTreeMap::new();
    for (version, reqs) in &by_version {
        let python = oracle(version)?;
        reports.extend(run_official(&python, reqs));
    }
    let mut diffs = BTreeMap::new();
    let mut n = 0;
    for c in cases {
        for &r in &c.rules {
            let key = format!("{} {}", c.name, r.name());
            let official = reports
                .get(&key)
                .unwrap_or_else(|| panic!("{key}: no official answer"));
            n += 1;
            let d = differences(official, &protege(c, r));
            if !d.is_empty() {
                diffs.insert(key, d);
            }
        }
    }
    Some((diffs, n))
}

fn print_diffs(diffs: &BTreeMap<String, Vec<String>>) {
    for (k, d) in diffs {
        eprintln!("  {k}: {}", d.join("; "));
    }
}

// ---- (a) the shared parity logs ----

const START: &str = "+ : '>>>>> Start Test Output'\n";
const END: &str = "+ : '>>>>> End Test Output'\n";

fn exit_lines(code: i32) -> (String, String) {
    (
        format!("+ SWEBENCH_TEST_EXIT_CODE={code}\n"),
        format!("+ echo '>>>>> Test Exit Code: {code}'\n>>>>> Test Exit Code: {code}\n"),
    )
}

/// The log with the markers (and an exit-code line) where a 4.x (5.x) eval script prints them:
/// the start marker before the first command after the test patch's `git apply`, the end marker
/// before the final `git checkout` of the test files (or at the end).
fn inject(log: &str, exit: Option<i32>) -> Option<String> {
    let apply = log.find("\n+ git apply -v -\n")? + 1;
    let start = apply + 1 + log[apply + 1..].find("\n+ ")? + 1;
    let end = match log[start..].rfind("\n+ git checkout ") {
        Some(i) => start + i + 1,
        None => log.len(),
    };
    let mut out = String::with_capacity(log.len() + 200);
    out.push_str(&log[..start]);
    out.push_str(START);
    out.push_str(&log[start..end]);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    let (keep, print) = exit.map(exit_lines).unzip();
    out.push_str(keep.as_deref().unwrap_or(""));
    out.push_str(END);
    out.push_str(print.as_deref().unwrap_or(""));
    out.push_str(&log[end..]);
    Some(out)
}

/// Differences the parity logs show, each explained in docs/parity.md ("The official graders
/// as the oracle"): protege's Django parser reads the teardown `ERROR`s of django__django-12741
/// that the official parser misses (every variant and rule set); protege reads the verbose
/// `test_all.py::test_fail FAILED` line of pytest-dev__pytest-5809's inner pytest run, which the
/// official pytest parser does not, so with an exit code of 1 injected 5.x finds no failure and
/// calls the log unusable while protege grades it.
const PARITY_EXCEPTIONS: &[&str] = &[
    "django__django-12741 exit0 swebench-5",
    "django__django-12741 exit1 swebench-4",
    "django__django-12741 exit1 swebench-5",
    "django__django-12741 markers swebench-4",
    "django__django-12741 markers swebench-5",
    "django__django-12741 raw swebench-2",
    "pytest-dev__pytest-5809 exit1 swebench-5",
];

#[test]
fn parity_logs_grade_as_each_official_version() {
    let shared = root().join("../shared");
    let logs = shared.join("parity/swe-fixer-20241128/logs");
    let dataset = shared.join("datasets/swe-bench-verified.jsonl");
    if !logs.is_dir() || !dataset.exists() {
        eprintln!("SKIPPED: ../shared parity logs or dataset missing");
        return;
    }
    if oracle("4.1.0").is_none() || oracle("5.0.2").is_none() {
        return;
    }
    let tasks = load_tasks(&dataset).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut cases = vec![];
    // name, injection (markers, with an exit code or none), rule sets
    type Variant = (&'static str, Option<Option<i32>>, &'static [Rules]);
    let variants: [Variant; 4] = [
        (
            "raw",
            None,
            &[Rules::Swebench2, Rules::Swebench4, Rules::Swebench5],
        ),
        ("markers", Some(None), &[Rules::Swebench4, Rules::Swebench5]),
        ("exit0", Some(Some(0)), &[Rules::Swebench5]),
        (
            "exit1",
            Some(Some(1)),
            &[Rules::Swebench4, Rules::Swebench5],
        ),
    ];
    for task in &tasks.tasks {
        let src = logs.join(&task.instance_id);
        let Ok(bytes) = fs::read(src.join("test_output.txt")) else {
            continue;
        };
        if fs::read(src.join("patch.diff")).is_ok_and(|p| p.iter().all(|b| b.is_ascii_whitespace()))
        {
            continue;
        }
        let log = String::from_utf8_lossy(&bytes);
        for (variant, injection, rules) in variants {
            let text = match injection {
                None => Some(log.to_string()),
                Some(exit) => inject(&log, exit),
            };
            let Some(text) = text else { continue };
            let dir = tmp.path().join(variant).join(&task.instance_id);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("test_output.txt"), text).unwrap();
            cases.push(Case {
                name: format!("{} {variant}", task.instance_id),
                task: task.clone(),
                dir,
                rules: rules.to_vec(),
            });
        }
    }
    let Some((diffs, n)) = compare(&cases) else {
        return;
    };
    eprintln!(
        "parity logs: {n} gradings, {} equal to the official version's report",
        n - diffs.len()
    );
    print_diffs(&diffs);
    assert!(n > 3900, "{n}");
    let got: Vec<&str> = diffs.keys().map(String::as_str).collect();
    assert_eq!(got, PARITY_EXCEPTIONS);
}

// ---- (b) generated logs: one per rule that flips a verdict, one per parser ----

fn task(repo: &str, version: &str, f2p: &[&str], p2p: &[&str]) -> Task {
    serde_json::from_value(json!({
        "instance_id": format!("{}__{}-1", repo.split('/').next().unwrap(), repo.split('/').nth(1).unwrap()),
        "repo": repo, "version": version, "base_commit": "c",
        "problem_statement": "", "patch": "", "test_patch": "",
        "FAIL_TO_PASS": f2p, "PASS_TO_PASS": p2p,
    }))
    .unwrap()
}

/// The test output of an eval script: `+ …` trace, markers around `body`, and (with `exit`)
/// 5.x's exit-code lines.
fn log(body: &str, exit: Option<i32>) -> Vec<u8> {
    let (keep, print) = exit.map(exit_lines).unzip();
    format!(
        "+ git apply -v -\nApplied patch tests/t.py cleanly.\n{START}+ pytest -rA tests/t.py\n{body}{}{END}{}+ git checkout c tests/t.py\n",
        keep.unwrap_or_default(),
        print.unwrap_or_default()
    )
    .into_bytes()
}

const ALL: &[Rules] = &[Rules::Swebench2, Rules::Swebench4, Rules::Swebench5];
const MARKED: &[Rules] = &[Rules::Swebench4, Rules::Swebench5];

#[test]
fn generated_logs_grade_as_each_official_version() {
    if oracle("4.1.0").is_none() || oracle("5.0.2").is_none() {
        return;
    }
    let flask = |f: &[&str], p: &[&str]| task("pallets/flask", "2.3", f, p);
    let (a, b) = ("tests/t.py::test_a", "tests/t.py::test_b");
    let specs: Vec<(&str, Task, Vec<u8>, &[Rules])> = vec![
        // every rule that flips a verdict between versions
        (
            "exit code non-zero, no failure parsed (5: unusable)",
            flask(&[a], &[b]),
            log(&format!("PASSED {a}\nPASSED {b}\n"), Some(1)),
            MARKED,
        ),
        (
            "exit code non-zero with a failure",
            flask(&[a], &[b]),
            log(&format!("PASSED {a}\nFAILED {b} - assert 0\n"), Some(1)),
            MARKED,
        ),
        (
            "skipped FAIL_TO_PASS (4: neither list, 5: failure)",
            flask(&[a], &[b]),
            log(&format!("SKIPPED {a}\nPASSED {b}\n"), Some(0)),
            ALL,
        ),
        (
            "skipped PASS_TO_PASS (4: neither list, 5: success)",
            flask(&[a], &[b]),
            log(&format!("PASSED {a}\nSKIPPED {b}\n"), Some(0)),
            ALL,
        ),
        (
            "truncated id found by prefix (5) or by its cut name (4)",
            task(
                "sphinx-doc/sphinx",
                "5.0",
                &["tests/t.py::test_unparse[a"],
                &[b],
            ),
            log(
                &format!("PASSED tests/t.py::test_unparse[a + b-a + b]\nPASSED {b}\n"),
                Some(0),
            ),
            ALL,
        ),
        (
            "truncated id whose matches disagree",
            task(
                "sphinx-doc/sphinx",
                "5.0",
                &["tests/t.py::test_unparse[a"],
                &[],
            ),
            log(
                "PASSED tests/t.py::test_unparse[a + b-a + b]\nFAILED tests/t.py::test_unparse[a - b-a - b] - assert 0\n",
                Some(1),
            ),
            ALL,
        ),
        (
            "no results, no sign the suite ran, a patch could be at fault (5: unusable)",
            flask(&[a], &[]),
            log(
                "E   ModuleNotFoundError: No module named 'appdirs'\n",
                Some(4),
            ),
            ALL,
        ),
        (
            "no results, no sign the suite ran, the environment's fault (5: infra_failure)",
            flask(&[a], &[]),
            log("curl: (6) Could not resolve host: pypi.org\n", Some(2)),
            ALL,
        ),
        (
            "no results but the suite ran",
            flask(&[a], &[]),
            log("3 passing\n", Some(0)),
            MARKED,
        ),
        (
            "non-UTF-8 test output (4: no report, 5: replaced)",
            flask(&[a], &[]),
            [
                log(&format!("PASSED {a}\n"), Some(0)),
                b"\xff\xfe binary\n".to_vec(),
            ]
            .concat(),
            MARKED,
        ),
        (
            "pytest-v2 XFAIL with a reason (5: the id is missing)",
            task("sphinx-doc/sphinx", "5.0", &[a], &[b]),
            log(&format!("XFAIL {a} - reason\nPASSED {b}\n"), Some(0)),
            ALL,
        ),
        (
            "pytest-v2 FAILED with a reason",
            task("scikit-learn/scikit-learn", "0.20", &[a], &[b]),
            log(
                &format!("PASSED {a}\nFAILED {b} - assert 1 == 2\n"),
                Some(1),
            ),
            ALL,
        ),
        (
            "seaborn bare status line (4: the parser raises, 5: skipped)",
            task("mwaskom/seaborn", "0.12", &[a], &[]),
            log(&format!("PASSED {a}\nFAILED\n"), Some(0)),
            ALL,
        ),
        (
            "SKIPPED [N] line alone in the section (4: a result, 5: read the whole log)",
            flask(&[a], &[]),
            [
                log("SKIPPED [1] tests/t.py:3: no numpy\n", Some(0)),
                format!("PASSED {a}\n").into_bytes(),
            ]
            .concat(),
            MARKED,
        ),
        (
            "no markers (2: whole log, 4 and 5: unusable)",
            flask(&[a], &[]),
            format!("+ pytest -rA tests/t.py\nPASSED {a}\n").into_bytes(),
            ALL,
        ),
        (
            "nothing between the markers, results after them",
            flask(&[a], &[]),
            [log("", Some(0)), format!("PASSED {a}\n").into_bytes()].concat(),
            MARKED,
        ),
        (
            "failure marker",
            flask(&[a], &[]),
            [
                log(&format!("PASSED {a}\n"), Some(0)),
                b">>>>> Tests Errored\n".to_vec(),
            ]
            .concat(),
            ALL,
        ),
        (
            "timeout",
            flask(&[a], &[]),
            [
                log(&format!("PASSED {a}\n"), None),
                b"\n\nTimeout error: 1800 seconds exceeded.".to_vec(),
            ]
            .concat(),
            ALL,
        ),
        // a row's own columns (5.x reads them; 4.x rows have none)
        (
            "row's log_parser column",
            Task {
                log_parser: Some("parse_log_django".into()),
                ..flask(&["test_a (m.T)"], &[])
            },
            log("test_a (m.T) ... ok\n", Some(0)),
            &[Rules::Swebench5],
        ),
        (
            "row's eval_type fail_only",
            Task {
                eval_type: Some("fail_only".into()),
                ..flask(&[a, b], &[])
            },
            log(&format!("FAILED {b} - assert 0\n"), Some(1)),
            &[Rules::Swebench5],
        ),
        // every parser
        (
            "parser pytest",
            task("pytest-dev/pytest", "7.2", &[a], &[b]),
            log(&format!("PASSED {a}\nFAILED {b} - assert 0\n"), Some(1)),
            ALL,
        ),
        (
            "parser pytest_options",
            task("psf/requests", "1.1", &["tests/t.py::test_p[/x.py]"], &[b]),
            log(
                &format!("PASSED tests/t.py::test_p[/testbed/tests/x.py]\nPASSED {b}\n"),
                Some(0),
            ),
            ALL,
        ),
        (
            "parser pytest_v2 (colours)",
            task("astropy/astropy", "4.3", &[a], &[b]),
            log(
                &format!("\x1b[32mPASSED\x1b[0m {a}\n[31mFAILED[0m {b} - assert 0\n"),
                Some(1),
            ),
            ALL,
        ),
        (
            "parser matplotlib",
            task(
                "matplotlib/matplotlib",
                "3.0",
                &["tests/t.py::test_m[1-True]"],
                &[],
            ),
            log(
                "PASSED tests/t.py::test_m[MouseButton.LEFT-True]\n",
                Some(0),
            ),
            ALL,
        ),
        (
            "parser seaborn",
            task("mwaskom/seaborn", "0.12", &[a], &[b]),
            log(&format!("PASSED {a}\nFAILED {b} - assert 0\n"), Some(1)),
            ALL,
        ),
        (
            "parser django",
            task("django/django", "2.2", &["test_a (m.T)"], &["test_b (m.T)"]),
            log("test_a (m.T) ... ok\ntest_b (m.T) ... FAIL\n", Some(1)),
            ALL,
        ),
        (
            "parser django, exit code non-zero, only passes (5: unusable)",
            task("django/django", "2.2", &["test_a (m.T)"], &[]),
            log("test_a (m.T) ... ok\n", Some(1)),
            MARKED,
        ),
        (
            "parser sympy",
            task("sympy/sympy", "1.0", &["test_a"], &["test_b"]),
            log("test_a ok\ntest_b F\n", Some(1)),
            ALL,
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<Case> = specs
        .into_iter()
        .enumerate()
        .map(|(i, (name, task, bytes, rules))| {
            let dir = tmp.path().join(i.to_string());
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("test_output.txt"), bytes).unwrap();
            Case {
                name: name.to_string(),
                task,
                dir,
                rules: rules.to_vec(),
            }
        })
        .collect();
    let Some((diffs, n)) = compare(&cases) else {
        return;
    };
    eprintln!("generated logs: {n} gradings, {} equal", n - diffs.len());
    print_diffs(&diffs);
    assert!(diffs.is_empty(), "{} differ", diffs.len());
    // the cases above do flip verdicts: each version's rules are exercised, not just agreed on
    let flips = cases
        .iter()
        .filter(|c| {
            let v: BTreeSet<String> = c.rules.iter().map(|&r| protege(c, r).to_string()).collect();
            v.len() > 1
        })
        .count();
    assert!(
        flips >= 14,
        "only {flips} cases grade differently between versions"
    );
}
