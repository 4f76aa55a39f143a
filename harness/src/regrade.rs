//! Regrading: official-style evaluation logs in, official-shape `report.json` files out.
//!
//! Given a directory of per-instance log folders as the official harness writes them
//! (`<logs>/<instance_id>/test_output.txt`, optionally `report.json`, `run_instance.log`,
//! `patch.diff` beside it), [`regrade_dir`] parses every test output with the instance's spec
//! parser, grades it with the official rules ([`crate::grading::report`]), writes
//! `<out>/<instance_id>/report.json` and `<out>/summary.json`, and, where an official
//! `report.json` lies beside a log, compares the two (`tests_status` as sets, `resolved`, the
//! patch flags).
//!
//! The cases the official harness treats specially are treated the same way:
//!
//! | log | official | here |
//! | --- | --- | --- |
//! | `>>>>> Patch Apply Failed`, `>>>>> Reset Failed`, `>>>>> Tests Errored` or `>>>>> Tests Timed Out` in the test output | report with `patch_successfully_applied: false`, not resolved, no `tests_status` | same |
//! | test output ending `Timeout error: N seconds exceeded.` | no report: an error instance | same ([`ErrorKind::Timeout`]) |
//! | no `test_output.txt` (patch did not apply: `>>>>> Patch Apply Failed` in `run_instance.log`; or the run broke) | no report: an error instance | same ([`ErrorKind::PatchApplyFailed`], [`ErrorKind::NoTestOutput`]) |
//! | empty `patch.diff` | not evaluated (an empty-patch instance) | same, no report |
//! | no start/end markers (older harness versions) | the whole log is parsed | same, under `swebench-2` rules (what `auto` picks for such a log) |
//! | markers present but nothing parsed between them | the whole log is parsed again | same |
//!
//! Which official version's rules grade a log is the caller's choice ([`GraderChoice`]): one
//! rule set for every log, or `auto`, which reads each log's rules from it
//! ([`Rules::detect`]); the summary counts the rules used. The rules themselves are
//! [`crate::grading::rules`].
//!
//! Each task is parsed and graded by its task set's rules (`crate::sets`): SWE-bench's above;
//! SWE-smith's cut the log at its traced markers (none: nothing graded) and count a test missing
//! from the log as passed. SWE-smith's own `report.json` (not wrapped in `{id: …}`, and always
//! `patch_successfully_applied: false`) is read as well, and that flag is not compared for it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use protege_datasets::{Task, TaskSet};
use serde::{Deserialize, Serialize};

use crate::grading::report::{Report, SuccessFailure, TestsStatus, report_json};
pub use crate::grading::rules::{
    APPLY_PATCH_FAIL, BAD_LOG_MARKERS, RESET_FAILED, TESTS_ERROR, TESTS_TIMEOUT,
};
use crate::grading::rules::{GraderChoice, Rules, classify};
use crate::specs;

/// The file names inside an instance's log folder (the official names).
pub const TEST_OUTPUT: &str = "test_output.txt";
pub const REPORT: &str = "report.json";
pub const RUN_INSTANCE_LOG: &str = "run_instance.log";
pub const PATCH: &str = "patch.diff";
/// Written at the top of `out`.
pub const SUMMARY: &str = "summary.json";

#[derive(Debug, thiserror::Error)]
pub enum RegradeError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "the output folder {0} is the logs folder: regrading would overwrite the official reports"
    )]
    OutIsLogs(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RegradeError + '_ {
    move |source| RegradeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Why an instance got no report, as the official harness would give none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The test output ends with the official `Timeout error: N seconds exceeded.`
    Timeout,
    /// No test output, and `run_instance.log` shows the patch did not apply.
    PatchApplyFailed,
    /// No test output, for another reason.
    NoTestOutput,
    /// The dataset has no spec for the instance's repository and version.
    NoSpec,
    /// The official grader raises on this log (4.x's seaborn parser on a bare status line).
    ParserRaised,
    /// The test output is not UTF-8, which 4.x's capture cannot decode.
    NotUtf8,
}

/// The grading of one instance's log.
// One per instance, moved once: the size of the report variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A report, as the official harness writes it.
    Report(Report),
    /// No report (the official harness counts these as errors).
    Error(ErrorKind),
}

/// Grades one test output (the whole `test_output.txt`) against its task under `rules`.
pub fn grade_log(task: &Task, log: &str, rules: Rules) -> Outcome {
    if is_timeout(log) {
        return Outcome::Error(ErrorKind::Timeout);
    }
    let spec = match specs::for_task(task) {
        Ok(s) => s,
        Err(_) => return Outcome::Error(ErrorKind::NoSpec),
    };
    let set = crate::sets::for_task(task);
    if set.official_grading() {
        return match rules.grade(task, spec.parser, log) {
            Ok(report) => Outcome::Report(report),
            Err(_) => Outcome::Error(ErrorKind::ParserRaised),
        };
    }
    // a set with its own parser and rule (SWE-smith, R2E-Gym); one that finds no test output in
    // the log grades nothing
    let mut report = Report {
        patch_is_none: false,
        patch_exists: true,
        ..Report::default()
    };
    if BAD_LOG_MARKERS.iter().any(|m| log.contains(m)) {
        return Outcome::Report(report);
    }
    let Some(status) = set.parse(task, &spec, log) else {
        return Outcome::Report(report);
    };
    let graded = set.grade(task, &status);
    report.patch_successfully_applied = true;
    report.resolved = graded.resolved;
    report.tests_status = graded.tests_status;
    Outcome::Report(report)
}

/// `…\n\nTimeout error: 1800 seconds exceeded.` at the end of the log.
fn is_timeout(log: &str) -> bool {
    let tail = log.trim_end();
    let Some(i) = tail.rfind("Timeout error: ") else {
        return false;
    };
    let rest = &tail[i + "Timeout error: ".len()..];
    rest.ends_with(" seconds exceeded.")
        && rest[..rest.len() - " seconds exceeded.".len()]
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
}

/// Reads and grades one instance folder (`<logs>/<instance_id>/`) under the chosen rules,
/// returning the outcome and the rules used. `None`: nothing to grade (an empty patch, which the
/// official harness does not evaluate).
pub fn grade_instance_dir(
    task: &Task,
    dir: &Path,
    choice: GraderChoice,
) -> Result<Option<(Outcome, Rules)>, RegradeError> {
    let patch = dir.join(PATCH);
    if let Ok(p) = fs::read(&patch)
        && p.iter().all(|b| b.is_ascii_whitespace())
    {
        return Ok(None);
    }
    let out = dir.join(TEST_OUTPUT);
    match fs::read(&out) {
        Ok(bytes) => {
            let rules = choice.rules_for(&String::from_utf8_lossy(&bytes));
            let outcome = match rules.decode(&bytes) {
                Ok(log) => grade_log(task, &log, rules),
                Err(_) => Outcome::Error(ErrorKind::NotUtf8),
            };
            Ok(Some((outcome, rules)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let run_log = fs::read(dir.join(RUN_INSTANCE_LOG)).unwrap_or_default();
            let apply_failed = String::from_utf8_lossy(&run_log).contains(APPLY_PATCH_FAIL);
            let kind = if apply_failed {
                ErrorKind::PatchApplyFailed
            } else {
                ErrorKind::NoTestOutput
            };
            // no log to read the rules from: the chosen ones, or the current ones
            Ok(Some((Outcome::Error(kind), choice.for_new_runs())))
        }
        Err(e) => Err(io_err(&out)(e)),
    }
}

/// One instance whose regraded verdict differs from the official `report.json` beside its log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    pub instance_id: String,
    /// Official `resolved` (`None`: the official harness wrote no report).
    pub official_resolved: Option<bool>,
    /// protege's `resolved` (`None`: no report, see `protege_error`).
    pub protege_resolved: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub protege_error: Option<ErrorKind>,
    /// What differs, one line each (`PASS_TO_PASS.failure: only official: [...]`).
    pub differences: Vec<String>,
}

/// What [`regrade_dir`] did; also written to `<out>/summary.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The dataset's name and sha256.
    pub dataset: String,
    pub dataset_sha256: String,
    /// Instance folders found whose id is in the dataset.
    pub instances: usize,
    /// Reports written (resolved + unresolved).
    pub completed: usize,
    pub resolved: usize,
    pub unresolved: usize,
    /// Instances that got no report (see `errors`).
    pub error: usize,
    pub empty_patch: usize,
    pub resolved_ids: Vec<String>,
    pub unresolved_ids: Vec<String>,
    pub error_ids: Vec<String>,
    pub empty_patch_ids: Vec<String>,
    /// Why each error instance got no report.
    pub errors: BTreeMap<String, ErrorKind>,
    /// Folders whose name is no instance of the dataset (not graded).
    pub unknown_ids: Vec<String>,
    /// Instances compared with an official `report.json` beside the log, or with the official
    /// absence of one (an official error): `compared = matches + mismatches.len()`.
    pub compared: usize,
    pub matches: usize,
    pub mismatches: Vec<Mismatch>,
    /// The `--grader` choice (`swebench-5`, `swebench-4`, `swebench-2`, `auto`).
    #[serde(default)]
    pub grader: String,
    /// How many instances each rule set graded (with `auto`, what each log was written under).
    #[serde(default)]
    pub rules_used: BTreeMap<String, usize>,
    /// `swebench` 5.x's advisory classification of the unresolved and error instances graded
    /// under its rules: certainly the environment's fault, or possibly the patch's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub infra_failure_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ambiguous_failure_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failure_reasons: BTreeMap<String, String>,
}

/// Regrades every instance folder under `logs` against `tasks`, writing
/// `<out>/<instance_id>/report.json` (official shape) for each graded instance and
/// `<out>/summary.json` ([`Summary`]).
///
/// * `logs`: a folder of `<instance_id>/` folders, each with the official `test_output.txt`
///   (and, when present, the official `report.json`, `run_instance.log`, `patch.diff`). The
///   official layout `logs/run_evaluation/<run>/<model>/` is such a folder; so is
///   `../shared/parity/swe-fixer-20241128/logs`. A folder holding a `logs/` folder of instance
///   folders (and none itself) is read through it.
/// * `tasks`: the dataset the logs were produced from (e.g. `load_tasks(verified.jsonl)`);
///   folders named after no task are listed in `unknown_ids` and skipped.
/// * `out`: where reports go; created if missing. It must not be `logs` itself (the official
///   reports there would be overwritten).
/// * `choice`: the official version whose rules grade the logs, or `auto` (each log's own).
///
/// Errors only on I/O (unreadable folders, unwritable `out`); a bad log is a graded outcome.
/// The CLI: `protege regrade --logs DIR --dataset PATH [--out DIR] [--grader auto]`.
pub fn regrade_dir(
    logs: &Path,
    tasks: &TaskSet,
    out: &Path,
    choice: GraderChoice,
) -> Result<Summary, RegradeError> {
    let logs = instance_root(logs, tasks)?;
    if same_dir(&logs, out) {
        return Err(RegradeError::OutIsLogs(out.to_owned()));
    }
    let by_id: BTreeMap<&str, &Task> = tasks
        .tasks
        .iter()
        .map(|t| (t.instance_id.as_str(), t))
        .collect();
    let mut summary = Summary {
        dataset: tasks.name.clone(),
        dataset_sha256: tasks.sha256.clone(),
        grader: choice.name().to_string(),
        ..Summary::default()
    };
    fs::create_dir_all(out).map_err(io_err(out))?;
    for (id, dir) in instance_dirs(&logs)? {
        let Some(task) = by_id.get(id.as_str()) else {
            summary.unknown_ids.push(id);
            continue;
        };
        summary.instances += 1;
        let Some((outcome, rules)) = grade_instance_dir(task, &dir, choice)? else {
            summary.empty_patch += 1;
            summary.empty_patch_ids.push(id);
            continue;
        };
        *summary
            .rules_used
            .entry(rules.name().to_string())
            .or_default() += 1;
        if rules.reports_infra_failure()
            && !matches!(&outcome, Outcome::Report(r) if r.resolved)
            && let Some((reason, environment)) = classify_dir(&dir)
        {
            summary
                .failure_reasons
                .insert(id.clone(), reason.to_string());
            if environment {
                summary.infra_failure_ids.push(id.clone());
            } else {
                summary.ambiguous_failure_ids.push(id.clone());
            }
        }
        match &outcome {
            Outcome::Report(r) => {
                let d = out.join(&id);
                fs::create_dir_all(&d).map_err(io_err(&d))?;
                let p = d.join(REPORT);
                fs::write(&p, report_json(&id, r) + "\n").map_err(io_err(&p))?;
                summary.completed += 1;
                if r.resolved {
                    summary.resolved += 1;
                    summary.resolved_ids.push(id.clone());
                } else {
                    summary.unresolved += 1;
                    summary.unresolved_ids.push(id.clone());
                }
            }
            Outcome::Error(kind) => {
                summary.error += 1;
                summary.error_ids.push(id.clone());
                summary.errors.insert(id.clone(), *kind);
            }
        }
        if let Some(mut official) = official_report(&dir, &id)? {
            summary.compared += 1;
            // a set whose reports never set the flag (SWE-smith) is not compared on it
            if !crate::sets::for_task(task).reports_patch_applied()
                && let (Some(o), Outcome::Report(mine)) = (official.as_mut(), &outcome)
            {
                o.patch_successfully_applied = mine.patch_successfully_applied;
            }
            match compare(&id, official.as_ref(), &outcome) {
                None => summary.matches += 1,
                Some(m) => summary.mismatches.push(m),
            }
        }
    }
    let p = out.join(SUMMARY);
    let text = serde_json::to_string_pretty(&summary).expect("summary serialises");
    fs::write(&p, text + "\n").map_err(io_err(&p))?;
    Ok(summary)
}

/// 5.x's run summary classifies an instance from its test output and run log together.
fn classify_dir(dir: &Path) -> Option<(&'static str, bool)> {
    let read =
        |name| String::from_utf8_lossy(&fs::read(dir.join(name)).unwrap_or_default()).into_owned();
    let both: Vec<String> = [TEST_OUTPUT, RUN_INSTANCE_LOG]
        .into_iter()
        .filter(|n| dir.join(n).exists())
        .map(read)
        .collect();
    classify(&both.join("\n"))
}

/// `logs`, or `logs/logs` when `logs` holds no instance folder of the dataset but that does.
fn instance_root(logs: &Path, tasks: &TaskSet) -> Result<PathBuf, RegradeError> {
    let has_instances = |p: &Path| -> Result<bool, RegradeError> {
        Ok(instance_dirs(p)?
            .iter()
            .any(|(id, _)| tasks.get(id).is_some()))
    };
    if !has_instances(logs)? {
        let inner = logs.join("logs");
        if inner.is_dir() && has_instances(&inner)? {
            return Ok(inner);
        }
    }
    Ok(logs.to_owned())
}

/// The sub-folders of `logs`, by name.
fn instance_dirs(logs: &Path) -> Result<Vec<(String, PathBuf)>, RegradeError> {
    let mut out = Vec::new();
    for e in fs::read_dir(logs).map_err(io_err(logs))? {
        let e = e.map_err(io_err(logs))?;
        let path = e.path();
        if path.is_dir()
            && let Some(name) = e.file_name().to_str()
        {
            out.push((name.to_string(), path));
        }
    }
    out.sort();
    Ok(out)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The official verdict beside a log: `Some(Some(report))`, `Some(None)` when the official run
/// left a test output or run log but no report (an official error), `None` when there is
/// nothing official to compare with.
fn official_report(dir: &Path, id: &str) -> Result<Option<Option<Report>>, RegradeError> {
    let p = dir.join(REPORT);
    match fs::read(&p) {
        Ok(bytes) => {
            let mut m: BTreeMap<String, Report> = match serde_json::from_slice(&bytes) {
                Ok(m) => m,
                Err(_) => {
                    // SWE-smith writes the report itself, not wrapped in `{id: …}`
                    return Ok(Some(serde_json::from_slice::<Report>(&bytes).ok()));
                }
            };
            Ok(Some(m.remove(id)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let ran = dir.join(RUN_INSTANCE_LOG).exists() || dir.join(TEST_OUTPUT).exists();
            Ok(ran.then_some(None))
        }
        Err(e) => Err(io_err(&p)(e)),
    }
}

/// `None` when the verdicts agree.
pub fn compare(id: &str, official: Option<&Report>, outcome: &Outcome) -> Option<Mismatch> {
    let mut differences = Vec::new();
    let (mine, error) = match outcome {
        Outcome::Report(r) => (Some(r), None),
        Outcome::Error(k) => (None, Some(*k)),
    };
    match (official, mine) {
        (None, None) => return None,
        (Some(_), None) => differences.push("official report, protege none".to_string()),
        (None, Some(_)) => differences.push("protege report, official none".to_string()),
        (Some(o), Some(m)) => {
            for (name, a, b) in [
                ("resolved", o.resolved, m.resolved),
                ("patch_is_None", o.patch_is_none, m.patch_is_none),
                ("patch_exists", o.patch_exists, m.patch_exists),
                (
                    "patch_successfully_applied",
                    o.patch_successfully_applied,
                    m.patch_successfully_applied,
                ),
            ] {
                if a != b {
                    differences.push(format!("{name}: official {a}, protege {b}"));
                }
            }
            // 5.x's advisory flag, where the official report has it
            if o.infra_failure.is_some()
                && (o.infra_failure, &o.infra_failure_reason)
                    != (m.infra_failure, &m.infra_failure_reason)
            {
                differences.push(format!(
                    "infra_failure: official {:?} {:?}, protege {:?} {:?}",
                    o.infra_failure,
                    o.infra_failure_reason,
                    m.infra_failure,
                    m.infra_failure_reason
                ));
            }
            let empty = TestsStatus::default();
            let ot = o.tests_status.as_ref().unwrap_or(&empty);
            let mt = m.tests_status.as_ref().unwrap_or(&empty);
            if o.tests_status.is_some() != m.tests_status.is_some() {
                differences.push(format!(
                    "tests_status: official {}, protege {}",
                    present(o.tests_status.is_some()),
                    present(m.tests_status.is_some())
                ));
            }
            for (list, a, b) in [
                ("FAIL_TO_PASS", &ot.fail_to_pass, &mt.fail_to_pass),
                ("PASS_TO_PASS", &ot.pass_to_pass, &mt.pass_to_pass),
                ("FAIL_TO_FAIL", &ot.fail_to_fail, &mt.fail_to_fail),
                ("PASS_TO_FAIL", &ot.pass_to_fail, &mt.pass_to_fail),
            ] {
                diff_lists(list, a, b, &mut differences);
            }
        }
    }
    if differences.is_empty() {
        return None;
    }
    Some(Mismatch {
        instance_id: id.to_string(),
        official_resolved: official.map(|r| r.resolved),
        protege_resolved: mine.map(|r| r.resolved),
        protege_error: error,
        differences,
    })
}

fn present(b: bool) -> &'static str {
    if b { "present" } else { "absent" }
}

fn diff_lists(list: &str, a: &SuccessFailure, b: &SuccessFailure, out: &mut Vec<String>) {
    for (part, x, y) in [
        ("success", &a.success, &b.success),
        ("failure", &a.failure, &b.failure),
    ] {
        let x: BTreeSet<&String> = x.iter().collect();
        let y: BTreeSet<&String> = y.iter().collect();
        if x != y {
            let only_o: Vec<_> = x.difference(&y).collect();
            let only_p: Vec<_> = y.difference(&x).collect();
            out.push(format!(
                "{list}.{part}: only official {only_o:?}, only protege {only_p:?}"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Task {
        Task {
            instance_id: "pallets__flask-5014".into(),
            repo: "pallets/flask".into(),
            base_commit: "7ee9ceb71e868944a46e1ff00b506772a53a4f1d".into(),
            version: "2.3".into(),
            problem_statement: String::new(),
            hints_text: String::new(),
            patch: String::new(),
            test_patch: String::new(),
            fail_to_pass: vec!["tests/test_blueprints.py::test_empty_name_not_allowed".into()],
            pass_to_pass: vec![
                "tests/test_blueprints.py::test_blueprint_specific_error_handling".into(),
            ],
            environment_setup_commit: String::new(),
            created_at: String::new(),
            ..Default::default()
        }
    }

    fn taskset() -> TaskSet {
        TaskSet {
            name: "t".into(),
            sha256: "0".into(),
            tasks: vec![task()],
            rejected: vec![],
        }
    }

    const GOOD: &str = "+ pytest -rA tests/test_blueprints.py\n\
PASSED tests/test_blueprints.py::test_blueprint_specific_error_handling\n\
PASSED tests/test_blueprints.py::test_empty_name_not_allowed\n";

    #[test]
    fn grades_a_log_without_markers() {
        let Outcome::Report(r) = grade_log(&task(), GOOD, Rules::Swebench2) else {
            panic!()
        };
        assert!(r.resolved && r.patch_successfully_applied && r.patch_exists && !r.patch_is_none);
        let ts = r.tests_status.unwrap();
        assert_eq!(ts.fail_to_pass.success.len(), 1);
    }

    #[test]
    fn bad_logs_as_the_official_grader() {
        for m in BAD_LOG_MARKERS {
            let Outcome::Report(r) = grade_log(&task(), &format!("{GOOD}{m}\n"), Rules::Swebench2)
            else {
                panic!()
            };
            assert!(!r.patch_successfully_applied && !r.resolved && r.tests_status.is_none());
        }
        let log = format!("{GOOD}\n\nTimeout error: 1800 seconds exceeded.");
        assert_eq!(
            grade_log(&task(), &log, Rules::Swebench2),
            Outcome::Error(ErrorKind::Timeout)
        );
        // a marker-delimited section with nothing parsable falls back to the whole log
        let log = format!(": '>>>>> Start Test Output'\n: '>>>>> End Test Output'\n{GOOD}");
        let Outcome::Report(r) = grade_log(&task(), &log, Rules::Swebench4) else {
            panic!()
        };
        assert!(r.resolved);
    }

    #[test]
    fn regrades_a_folder_and_compares() {
        let tmp = tempfile::tempdir().unwrap();
        let logs = tmp.path().join("logs");
        let id = "pallets__flask-5014";
        fs::create_dir_all(logs.join(id)).unwrap();
        fs::write(logs.join(id).join(TEST_OUTPUT), GOOD).unwrap();
        // an official report that disagrees on one test
        let mut official = match grade_log(&task(), GOOD, Rules::Swebench2) {
            Outcome::Report(r) => r,
            _ => panic!(),
        };
        official.resolved = false;
        let ts = official.tests_status.as_mut().unwrap();
        let t = ts.pass_to_pass.success.pop().unwrap();
        ts.pass_to_pass.failure.push(t);
        fs::write(logs.join(id).join(REPORT), report_json(id, &official)).unwrap();
        fs::create_dir_all(logs.join("unknown__x-1")).unwrap();

        let out = tmp.path().join("out");
        let s = regrade_dir(tmp.path(), &taskset(), &out, GraderChoice::Auto).unwrap();
        assert_eq!(
            (s.instances, s.completed, s.resolved, s.compared, s.matches),
            (1, 1, 1, 1, 0)
        );
        assert_eq!(s.unknown_ids, ["unknown__x-1"]);
        assert_eq!(s.mismatches.len(), 1);
        assert_eq!(
            s.mismatches[0].differences.len(),
            3,
            "{:?}",
            s.mismatches[0].differences
        );
        let written: BTreeMap<String, Report> =
            serde_json::from_str(&fs::read_to_string(out.join(id).join(REPORT)).unwrap()).unwrap();
        assert!(written[id].resolved);
        assert!(out.join(SUMMARY).exists());
        assert!(matches!(
            regrade_dir(&logs, &taskset(), &logs, GraderChoice::Auto),
            Err(RegradeError::OutIsLogs(_))
        ));
    }

    #[test]
    fn missing_output_and_empty_patch() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        fs::write(d.join(RUN_INSTANCE_LOG), ">>>>> Patch Apply Failed:\nerror").unwrap();
        assert_eq!(
            grade_instance_dir(&task(), d, GraderChoice::Auto)
                .unwrap()
                .map(|(o, _)| o),
            Some(Outcome::Error(ErrorKind::PatchApplyFailed))
        );
        fs::write(d.join(PATCH), "\n").unwrap();
        assert_eq!(
            grade_instance_dir(&task(), d, GraderChoice::Auto).unwrap(),
            None
        );
    }
}
