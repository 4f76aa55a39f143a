//! Parity with the official SWE-bench harness on real artefacts: one public SWE-bench Verified
//! submission evaluated by the official harness (`../shared/parity/swe-fixer-20241128`).
//!
//! * regrade: every `test_output.txt`, parsed and graded by protege, gives the official
//!   `report.json` (`tests_status` compared as sets, `resolved`, patch flags); the three
//!   instances the official run errored on (timeouts) get no report here either.
//! * eval scripts: protege's eval script for every Verified instance runs the official script's
//!   commands, modulo the deliberate differences listed in docs/parity.md.
//!
//! Skips, loudly, when `../shared` is absent.

use std::fs;
use std::path::{Path, PathBuf};

use protege_datasets::{TaskSet, load::load_tasks};
use protege_harness::eval_script::{END_MARKER, HEREDOC, START_MARKER, eval_script};
use protege_harness::grading::rules::{GraderChoice, Rules};
use protege_harness::regrade::regrade_dir;
use protege_harness::specs::{self, DETERMINISM_ENV};

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared");

/// Instances whose protege verdict deliberately differs from the official `report.json`
/// (docs/parity.md, "Exceptions").
const REGRADE_EXCEPTIONS: &[&str] = &["django__django-12741"];
/// Instances whose regraded verdict equals the official one (500 − exceptions).
const REGRADE_MATCHES: usize = 499;
/// Instances whose eval script runs the official commands (docs/parity.md).
const EVAL_SCRIPT_MATCHES: usize = 500;

fn shared() -> Option<(PathBuf, TaskSet)> {
    let root = Path::new(SHARED);
    let logs = root.join("parity/swe-fixer-20241128/logs");
    let dataset = root.join("datasets/swe-bench-verified.jsonl");
    if !logs.is_dir() || !dataset.is_file() {
        eprintln!(
            "SKIPPED: {} not found; the parity tests need ../shared (parity logs and the Verified dataset)",
            root.display()
        );
        return None;
    }
    let tasks = load_tasks(&dataset).expect("Verified dataset loads");
    assert_eq!(
        tasks.tasks.len(),
        500,
        "rejected rows: {:?}",
        tasks.rejected
    );
    Some((logs, tasks))
}

#[test]
fn regrade_reproduces_official_reports() {
    let Some((logs, tasks)) = shared() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let s = regrade_dir(&logs, &tasks, out.path(), GraderChoice::Auto).expect("regrade runs");
    for m in &s.mismatches {
        eprintln!(
            "MISMATCH {} official resolved {:?}, protege {:?}{}",
            m.instance_id,
            m.official_resolved,
            m.protege_resolved,
            m.differences
                .iter()
                .map(|d| format!("\n    {d}"))
                .collect::<String>()
        );
    }
    eprintln!(
        "regrade: {} instances, {} compared, {} match; {} resolved, {} unresolved, {} errors",
        s.instances, s.compared, s.matches, s.resolved, s.unresolved, s.error
    );
    assert_eq!(s.instances, 500);
    assert_eq!(s.compared, 500);
    let ids: Vec<&str> = s
        .mismatches
        .iter()
        .map(|m| m.instance_id.as_str())
        .collect();
    assert_eq!(
        ids, REGRADE_EXCEPTIONS,
        "undocumented differences from the official reports"
    );
    assert_eq!(s.matches, REGRADE_MATCHES);
    // The exceptions differ in tests_status only: every verdict is the official one.
    for m in &s.mismatches {
        assert_eq!(m.official_resolved, m.protege_resolved, "{}", m.instance_id);
    }
    // The three official errors (timeouts) are errors here too.
    assert_eq!(
        s.error_ids,
        [
            "scikit-learn__scikit-learn-14710",
            "sphinx-doc__sphinx-7985",
            "sympy__sympy-17630"
        ]
    );
    // The official run's summary.
    let official: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(logs.join("../harness_report.json")).unwrap())
            .unwrap();
    let resolved: Vec<String> = serde_json::from_value(official["resolved_ids"].clone()).unwrap();
    assert_eq!(s.resolved_ids, resolved);
    assert_eq!(s.completed, 497);
}

/// An eval script as data: the commands outside the test patch's heredoc, and the heredoc.
struct Script {
    commands: Vec<String>,
    test_patch: Option<String>,
}

fn split_script(text: &str) -> Script {
    let open = format!("git apply -v - <<'{HEREDOC}'\n");
    let close = format!("\n{HEREDOC}\n");
    let (before, patch, after) = match text.find(&open) {
        Some(i) => {
            let body = &text[i + open.len()..];
            let j = body.find(&close).expect("heredoc closes");
            (
                &text[..i],
                Some(body[..j].to_string()),
                &body[j + close.len()..],
            )
        }
        None => (text, None, ""),
    };
    let mut commands: Vec<String> = before.lines().map(str::to_string).collect();
    commands.push(format!("git apply -v - <<'{HEREDOC}'"));
    commands.extend(after.lines().map(str::to_string));
    Script {
        commands,
        test_patch: patch,
    }
}

/// protege's commands with its deliberate additions removed and its spelling of the
/// informational diff mapped to the official one (docs/parity.md, "Deliberate differences").
fn normalise_protege(commands: &[String]) -> Vec<String> {
    let dropped: Vec<String> = DETERMINISM_ENV
        .iter()
        .map(|(k, v)| format!("export {k}={v}"))
        .chain([format!(": '{START_MARKER}'"), format!(": '{END_MARKER}'")])
        .collect();
    commands
        .iter()
        .filter(|c| !dropped.contains(c))
        .map(
            |c| match c.strip_prefix("git -c core.fileMode=false diff ") {
                Some(base) => format!("git diff {base}"),
                None => c.clone(),
            },
        )
        .collect()
}

fn is_bare_checkout(c: &str) -> bool {
    c.strip_prefix("git checkout ")
        .is_some_and(|rest| rest.trim_end().len() == 40 && !rest.trim_end().contains(' '))
}

#[test]
fn eval_scripts_match_official() {
    let Some((logs, tasks)) = shared() else {
        return;
    };
    let mut matches = 0;
    let mut failures = Vec::new();
    for task in &tasks.tasks {
        let official = fs::read_to_string(logs.join(&task.instance_id).join("eval.sh"))
            .expect("every instance has its eval.sh");
        let spec = specs::for_task(task).expect("every Verified instance has a spec");
        let mine = eval_script(task, &spec, Rules::Swebench4);
        let mut o = split_script(&official);
        // `git checkout <base> ` with no file (a test patch that only adds files) resets nothing
        // (it detaches HEAD at the base commit); protege leaves the line out (docs/parity.md).
        o.commands.retain(|c| !is_bare_checkout(c));
        let m = split_script(&mine);
        let mut why = Vec::new();
        // 1. the test patch, verbatim, and the one in the dataset
        if o.test_patch != m.test_patch {
            why.push("test patch differs".to_string());
        }
        if m.test_patch.as_deref() != Some(task.test_patch.as_str()) {
            why.push("test patch is not the dataset's".to_string());
        }
        // 2. the test command and its directives (the line after the heredoc)
        let test_line = |s: &Script| {
            let i = s
                .commands
                .iter()
                .position(|c| c.starts_with("git apply -v - <<"))
                .unwrap();
            s.commands[i + 1..]
                .iter()
                .find(|c| !c.starts_with(": '"))
                .cloned()
                .unwrap_or_default()
        };
        if test_line(&o) != test_line(&m) {
            why.push(format!(
                "test command: official `{}`, protege `{}`",
                test_line(&o),
                test_line(&m)
            ));
        }
        // 3. the files reset to the base commit, before and after
        let resets = |s: &Script| -> Vec<String> {
            s.commands
                .iter()
                .filter(|c| c.starts_with("git checkout "))
                .cloned()
                .collect()
        };
        if resets(&o) != resets(&m) {
            why.push(format!(
                "resets: official {:?}, protege {:?}",
                resets(&o),
                resets(&m)
            ));
        }
        // 4. every other command, in order
        let mine_norm = normalise_protege(&m.commands);
        if o.commands != mine_norm {
            why.push(format!(
                "commands: official {:?}\n      protege {:?}",
                o.commands, mine_norm
            ));
        }
        // protege's additions are there
        for (k, v) in DETERMINISM_ENV {
            assert!(m.commands.contains(&format!("export {k}={v}")));
        }
        assert!(m.commands.contains(&format!(": '{START_MARKER}'")));
        if why.is_empty() {
            matches += 1;
        } else {
            failures.push(format!("{}:\n    {}", task.instance_id, why.join("\n    ")));
        }
    }
    for f in &failures {
        eprintln!("EVAL.SH MISMATCH {f}");
    }
    eprintln!("eval scripts: {matches}/500 match the official ones");
    assert_eq!(matches, EVAL_SCRIPT_MATCHES);
}
