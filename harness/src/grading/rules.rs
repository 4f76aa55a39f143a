//! Grading rules by official harness version. Every place where the official harness's
//! versions grade differently is a method of [`Rules`], consulted by the eval script, the
//! Docker apply step, the log reader and the grading of test lists; nothing else branches on
//! the version. docs/parity.md lists the rules; harness/tests/oracle.rs checks each against the
//! official graders themselves.
//!
//! | | `swebench-2` (2.x era) | `swebench-4` (4.1.0) | `swebench-5` (5.0.2) |
//! | --- | --- | --- | --- |
//! | part of the log parsed | the whole log | between the markers; none → not applied | same as 4 |
//! | nothing parsed there | (whole log already) | the whole log | the whole log, then: no sign the suite ran → not applied, `infra_failure` classified |
//! | `>>>>> Test Exit Code: N` | — | — | written by the eval script; N ≠ 0 with no FAILED/ERROR parsed → not applied |
//! | SKIPPED FAIL_TO_PASS / PASS_TO_PASS | neither list | neither list | failure / success |
//! | expected id with more `[` than `]` | exact match | exact match | prefix match when all matches agree on pass/fail |
//! | non-UTF-8 test output | replaced | the run errors (no report) | replaced |
//! | `SKIPPED [N] path:line` lines | a result (`[N]`) | a result | dropped |
//! | pytest-v2 ids (astropy, scikit-learn, sphinx) | cut at the first space | cut at the first space | whole line, ` - …` cut on FAILED lines only |
//! | seaborn bare `PASSED`/`FAILED` line | the parser raises (no report) | same | skipped |
//! | patch apply | `git apply`, `--reject`, `patch --fuzz=5` | same | `git apply`, `--3way`, `--reject`, `patch --forward --fuzz=5`, cleanup between, reverse check |
//! | a row's `eval_type: fail_only` | — | — | a test fails only when shown FAILED |
//!
//! A row's `eval_script`, `image` and `log_parser` columns are read under every rule set
//! (`eval_script`, `images`, `specs::for_task`): only 5.x-era datasets have them.

use std::borrow::Cow;
use std::sync::LazyLock;

use protege_datasets::Task;
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::report::{Report, SuccessFailure, TestsStatus, is_resolved};
use crate::eval_script::{END_MARKER, START_MARKER};
use protege_testlog::pytest::{PROGRESS_ARTEFACT, status_word};
use protege_testlog::{LogParser, TestIds, normalize_newlines, py_split};
use protege_testlog::{StatusMap, TestStatus};

/// Markers the official harness writes into a log when the run went wrong (every version).
pub const APPLY_PATCH_FAIL: &str = ">>>>> Patch Apply Failed";
pub const RESET_FAILED: &str = ">>>>> Reset Failed";
pub const TESTS_ERROR: &str = ">>>>> Tests Errored";
pub const TESTS_TIMEOUT: &str = ">>>>> Tests Timed Out";
/// Markers that make the official grader report the patch as not applied.
pub const BAD_LOG_MARKERS: [&str; 4] = [APPLY_PATCH_FAIL, RESET_FAILED, TESTS_ERROR, TESTS_TIMEOUT];
/// The line 5.x eval scripts print after the end marker: `>>>>> Test Exit Code: N`.
pub const TEST_EXIT_CODE: &str = ">>>>> Test Exit Code";
/// The shell variable the 5.x eval script keeps the test command's `$?` in.
pub const TEST_EXIT_CODE_VAR: &str = "SWEBENCH_TEST_EXIT_CODE";

/// One official harness version's grading rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Rules {
    /// Harness versions before the start/end markers (2.x): the whole log is parsed.
    #[serde(rename = "swebench-2")]
    Swebench2,
    /// `swebench` 4.1.0.
    #[serde(rename = "swebench-4")]
    Swebench4,
    /// `swebench` 5.0.2, the current official rules.
    #[serde(rename = "swebench-5")]
    Swebench5,
}

/// What `--grader` asks for: one rule set, or the one each log was written under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraderChoice {
    Fixed(Rules),
    Auto,
}

impl GraderChoice {
    pub fn parse(s: &str) -> Result<GraderChoice, String> {
        match s {
            "auto" => Ok(GraderChoice::Auto),
            _ => Rules::parse(s).map(GraderChoice::Fixed).map_err(|_| {
                format!("unknown grader `{s}`: expected swebench-5, swebench-4, swebench-2 or auto")
            }),
        }
    }

    /// The rules for one log: the fixed ones, or [`Rules::detect`]'s.
    pub fn rules_for(self, log: &str) -> Rules {
        match self {
            GraderChoice::Fixed(r) => r,
            GraderChoice::Auto => Rules::detect(log),
        }
    }

    /// For new runs, whose logs do not exist yet: `auto` means the current official rules.
    pub fn for_new_runs(self) -> Rules {
        self.for_new_runs_of(Rules::CURRENT)
    }

    /// For new runs of a task set whose own harness is the `set` version: `auto` means those
    /// rules (SWE-Gym's fork of 2.0.13: `swebench-2`).
    pub fn for_new_runs_of(self, set: Rules) -> Rules {
        match self {
            GraderChoice::Fixed(r) => r,
            GraderChoice::Auto => set,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GraderChoice::Fixed(r) => r.name(),
            GraderChoice::Auto => "auto",
        }
    }
}

/// Why a log gives no test results: the official report says the patch did not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    pub why: &'static str,
    /// 5.x's advisory classification: (reason, whether the environment is certainly at fault).
    pub infra: Option<(&'static str, bool)>,
}

/// What reading a log gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogRead {
    Results(StatusMap),
    Unusable(Unusable),
    /// The official grader raises on this log, so the official run writes no report.
    NoReport(&'static str),
}

impl Rules {
    /// The official rules of today, the default for new runs.
    pub const CURRENT: Rules = Rules::Swebench5;
    pub const ALL: [Rules; 3] = [Rules::Swebench2, Rules::Swebench4, Rules::Swebench5];

    pub fn name(self) -> &'static str {
        match self {
            Rules::Swebench2 => "swebench-2",
            Rules::Swebench4 => "swebench-4",
            Rules::Swebench5 => "swebench-5",
        }
    }

    pub fn parse(s: &str) -> Result<Rules, String> {
        Rules::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("unknown grading rules `{s}`"))
    }

    /// The rules a log was written under: no start/end markers → 2.x; markers without an
    /// exit-code line → 4.x; with one → 5.x.
    pub fn detect(log: &str) -> Rules {
        if !(log.contains(START_MARKER) && log.contains(END_MARKER)) {
            Rules::Swebench2
        } else if exit_code(log).is_none() {
            Rules::Swebench4
        } else {
            Rules::Swebench5
        }
    }

    // ---- the eval script and the apply step ----

    /// Whether the eval script records the test command's exit code (`>>>>> Test Exit Code`).
    pub fn records_exit_code(self) -> bool {
        self == Rules::Swebench5
    }

    /// The shell lines around the end marker: `$?` kept before it, printed after it, so the
    /// value stays outside the parsed section.
    pub fn exit_code_lines(self) -> Option<(String, String)> {
        self.records_exit_code().then(|| {
            (
                format!("{TEST_EXIT_CODE_VAR}=$?"),
                format!("echo \"{TEST_EXIT_CODE}: ${TEST_EXIT_CODE_VAR}\""),
            )
        })
    }

    /// The apply commands, tried in order until one exits 0 (each gets the patch path).
    pub fn apply_commands(self) -> &'static [&'static str] {
        match self {
            Rules::Swebench2 | Rules::Swebench4 => &[
                "git apply --verbose",
                "git apply --verbose --reject",
                "patch --batch --fuzz=5 -p1 -i",
            ],
            Rules::Swebench5 => &[
                "git apply --verbose",
                "git apply --verbose --3way",
                "git apply --verbose --reject",
                "patch --batch --forward --fuzz=5 -p1 -i",
            ],
        }
    }

    /// Run before every attempt but the first: a failed attempt (`--reject`) leaves partial
    /// changes behind that make every later command fail.
    pub fn cleanup_between_attempts(self) -> Option<&'static str> {
        (self == Rules::Swebench5).then_some("git checkout -- . ; git clean -fd")
    }

    /// Run when every attempt failed: exit 0 means the patch is already applied (the cascade
    /// can leave it applied while each command exited non-zero).
    pub fn already_applied_check(self) -> Option<&'static str> {
        (self == Rules::Swebench5).then_some("git apply --check --reverse")
    }

    // ---- reading the log ----

    /// The test output as text. 5.x decodes it with replacement characters; 4.x's capture
    /// raises on a non-UTF-8 byte (no report). The 2.x-era logs are read as protege always has.
    pub fn decode(self, bytes: &[u8]) -> Result<Cow<'_, str>, &'static str> {
        match self {
            Rules::Swebench4 => std::str::from_utf8(bytes)
                .map(Cow::Borrowed)
                .map_err(|_| "the test output is not UTF-8 (swebench 4.x's capture raises)"),
            Rules::Swebench2 | Rules::Swebench5 => Ok(String::from_utf8_lossy(bytes)),
        }
    }

    /// The part of the log the parser reads first (`None`: the log is unusable).
    fn section(self, log: &str) -> Option<&str> {
        if self == Rules::Swebench2 {
            return Some(log);
        }
        if !(log.contains(START_MARKER) && log.contains(END_MARKER)) {
            return None;
        }
        // Officially: after the first start marker, up to the next start or end marker.
        let rest = &log[log.find(START_MARKER)? + START_MARKER.len()..];
        let end = [rest.find(START_MARKER), rest.find(END_MARKER)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(rest.len());
        Some(&rest[..end])
    }

    /// How this version's pytest-v2 parser reads a status-first line's test id.
    fn test_ids(self) -> TestIds {
        match self {
            Rules::Swebench5 => TestIds::Whole,
            Rules::Swebench2 | Rules::Swebench4 => TestIds::FirstWord,
        }
    }

    /// Parses a log the way this version's parser does.
    pub fn parse_log(self, parser: LogParser, text: &str) -> StatusMap {
        parser.parse_with(text, self.test_ids())
    }

    /// Why the official parser raises on this text (so the official run writes no report), if
    /// it does: 4.x's and earlier seaborn parser indexes the second word of every
    /// `PASSED`/`FAILED` line; SWE-Gym's pydantic parser (every version) that of a line starting
    /// or ending with a status word.
    fn parser_raises(self, parser: LogParser, text: &str) -> Option<&'static str> {
        if parser == LogParser::SweGymPydantic {
            return protege_testlog::swe_gym_pydantic::raises(text)
                .then_some("SWE-Gym's pydantic parser raises on a line with a lone status word");
        }
        (self != Rules::Swebench5
            && parser == LogParser::Seaborn
            && normalize_newlines(text).split('\n').any(|line| {
                (line.starts_with("FAILED")
                    || line.starts_with("PASSED")
                    || line.contains(" PASSED "))
                    && py_split(line).nth(1).is_none()
            }))
        .then_some("the official seaborn parser raises on a bare status line")
    }

    /// Lines the official pytest-family parsers record under a name protege's parsers never
    /// give (`SKIPPED [2] file:line`, `FAILED (failures=1)`: the name `[2]`, `(failures=1)`;
    /// 5.x drops the `SKIPPED [N]` ones). A section holding one has results officially, so it
    /// is not read again as a whole log.
    fn has_unnamed_results(self, parser: LogParser, text: &str) -> bool {
        matches!(
            parser,
            LogParser::Pytest
                | LogParser::PytestOptions
                | LogParser::PytestV2
                | LogParser::Matplotlib
        ) && normalize_newlines(text).split('\n').any(|line| {
            let line: Cow<'_, str> = if parser == LogParser::PytestV2 {
                Cow::Owned(
                    line.chars()
                        .filter(|c| !('\x01'..'\x20').contains(c))
                        .collect(),
                )
            } else {
                Cow::Borrowed(line)
            };
            let mut w = py_split(&line);
            let (Some(first), Some(second)) = (w.next(), w.next()) else {
                return false;
            };
            let Some(status) = status_word(first) else {
                return false;
            };
            line.starts_with(first)
                && second.starts_with(['[', '('])
                && second != PROGRESS_ARTEFACT
                && !(self == Rules::Swebench5
                    && status == TestStatus::Skipped
                    && is_skip_count(second))
        })
    }

    /// Reads a whole test log (`test_output.txt`) into test results, or says why it has none.
    pub fn read_log(self, parser: LogParser, log: &str) -> LogRead {
        let unusable = |why| {
            LogRead::Unusable(Unusable {
                why,
                infra: self
                    .reports_infra_failure()
                    .then(|| classify(log))
                    .flatten(),
            })
        };
        if BAD_LOG_MARKERS.iter().any(|m| log.contains(m)) {
            return unusable("the log has a failure marker (patch apply, reset, tests errored)");
        }
        let Some(section) = self.section(log) else {
            return unusable("the log has no start/end markers");
        };
        if let Some(why) = self.parser_raises(parser, section) {
            return LogRead::NoReport(why);
        }
        let mut status = self.parse_log(parser, section);
        if status.is_empty() && !self.has_unnamed_results(parser, section) {
            // test output outside the markers (stderr ordering): the whole log
            if let Some(why) = self.parser_raises(parser, log) {
                return LogRead::NoReport(why);
            }
            status = self.parse_log(parser, log);
        }
        if self == Rules::Swebench5 {
            if status.is_empty() && !suite_ran(log) {
                return unusable("no test results and no sign the suite ran");
            }
            if exit_code(log).is_some_and(|c| c != 0)
                && !status.is_empty()
                && !status
                    .values()
                    .any(|s| matches!(s, TestStatus::Failed | TestStatus::Error))
            {
                return unusable("the tests exited non-zero but the log shows no failure");
            }
        }
        LogRead::Results(status)
    }

    // ---- grading the test lists ----

    /// The status map entry for an expected test id: exact, or (5.x) for a truncated id (more
    /// `[` than `]`) any parsed id it begins, when all such agree on pass or fail.
    fn lookup(self, name: &str, status: &StatusMap) -> Option<TestStatus> {
        if let Some(s) = status.get(name) {
            return Some(*s);
        }
        if self != Rules::Swebench5 || name.matches('[').count() <= name.matches(']').count() {
            return None;
        }
        let mut matches = status
            .iter()
            .filter(|(k, _)| k.starts_with(name))
            .map(|(_, s)| *s);
        let first = matches.next()?;
        let mut all = vec![first];
        for s in matches {
            if s.is_pass() != first.is_pass() {
                return None;
            }
            all.push(s);
        }
        // Several non-passing matches: a failure speaks louder than a skip (officially the
        // first in log order; docs/parity.md).
        Some(
            all.iter()
                .copied()
                .find(|s| matches!(s, TestStatus::Failed | TestStatus::Error))
                .unwrap_or(first),
        )
    }

    /// Where a SKIPPED test lands: 4.x in neither list; 5.x a failure for FAIL_TO_PASS (a
    /// skipped test is no resolution) and a success for PASS_TO_PASS (no regression).
    fn skipped(self, fail_to_pass: bool) -> Option<bool> {
        match self {
            Rules::Swebench2 | Rules::Swebench4 => None,
            Rules::Swebench5 => Some(!fail_to_pass),
        }
    }

    /// 5.x honours a row's `eval_type` of `fail_only` (its parsers for such repositories
    /// record failures only): a test fails only when the log shows it FAILED. 4.x picks that
    /// type by repository, for JavaScript repositories protege has no specs for.
    fn fail_only(self, task: &Task) -> bool {
        self == Rules::Swebench5 && task.eval_type.as_deref() == Some("fail_only")
    }

    fn split(
        self,
        names: &[String],
        status: &StatusMap,
        fail_to_pass: bool,
        fail_only: bool,
    ) -> SuccessFailure {
        let mut out = SuccessFailure::default();
        for n in names {
            if fail_only {
                match status.get(n) {
                    Some(TestStatus::Failed) => out.failure.push(n.clone()),
                    _ => out.success.push(n.clone()),
                }
                continue;
            }
            let passed = match self.lookup(n, status) {
                Some(TestStatus::Skipped) => self.skipped(fail_to_pass),
                Some(s) => Some(s.is_pass()),
                None => Some(false),
            };
            match passed {
                Some(true) => out.success.push(n.clone()),
                Some(false) => out.failure.push(n.clone()),
                None => {}
            }
        }
        out
    }

    /// FAIL_TO_PASS and PASS_TO_PASS split into success and failure.
    pub fn tests_status(self, task: &Task, status: &StatusMap) -> TestsStatus {
        TestsStatus {
            fail_to_pass: self.split(&task.fail_to_pass, status, true, self.fail_only(task)),
            pass_to_pass: self.split(&task.pass_to_pass, status, false, self.fail_only(task)),
            // The Verified rows carry no FAIL_TO_FAIL / PASS_TO_FAIL lists; kept for the shape.
            fail_to_fail: SuccessFailure::default(),
            pass_to_fail: SuccessFailure::default(),
        }
    }

    /// Whether reports and summaries carry 5.x's `infra_failure` classification.
    pub fn reports_infra_failure(self) -> bool {
        self == Rules::Swebench5
    }

    /// Grades a whole test log (`test_output.txt`) against its task: the official report entry
    /// for an evaluated patch, or why the official run writes none.
    pub fn grade(self, task: &Task, parser: LogParser, log: &str) -> Result<Report, &'static str> {
        let mut report = Report {
            patch_exists: true,
            // 5.x writes the flag on every report
            infra_failure: self.reports_infra_failure().then_some(false),
            ..Report::default()
        };
        match self.read_log(parser, log) {
            LogRead::NoReport(why) => Err(why),
            LogRead::Unusable(u) => {
                if let Some((reason, environment)) = u.infra {
                    report.infra_failure = Some(environment);
                    report.infra_failure_reason = Some(reason.to_string());
                }
                Ok(report)
            }
            LogRead::Results(status) => {
                let ts = self.tests_status(task, &status);
                report.patch_successfully_applied = true;
                report.resolved = is_resolved(&ts);
                report.tests_status = Some(ts);
                Ok(report)
            }
        }
    }
}

/// `[3]`: the count of a `SKIPPED [3] file:line: reason` summary line.
pub(crate) fn is_skip_count(word: &str) -> bool {
    word.len() > 2
        && word.starts_with('[')
        && word.ends_with(']')
        && word[1..word.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// The recorded exit code of the test command (the first `>>>>> Test Exit Code: N`).
pub fn exit_code(log: &str) -> Option<i64> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r">>>>> Test Exit Code:\s*(-?[0-9]+)").expect("regex"));
    RE.captures(log)?.get(1)?.as_str().parse().ok()
}

/// Evidence that a test runner ran although nothing was parsed (5.x): a summary line with a
/// non-zero count, in any of the runners' spellings.
fn suite_ran(log: &str) -> bool {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(concat!(
            r"(?m)Executed [1-9][0-9]* of [0-9]+",
            r"|TOTAL: [1-9][0-9]* (?:SUCCESS|FAILED)",
            r"|[1-9][0-9]* passing",
            r"|Tests:\s+[1-9][0-9]*",
            r"|Test Suites:\s+(?:[0-9]+ \w+, )*[1-9][0-9]* total",
            r"|^# tests [1-9][0-9]*",
            r"|[1-9][0-9]* specs?, [0-9]+ failures?",
            r"|': ok$",
        ))
        .expect("regex")
    });
    RE.is_match(&normalize_newlines(log))
}

/// 5.x's advisory classification of an unusable log: the first signature found gives the
/// reason; `true` when the environment is certainly at fault, `false` when a patch could also
/// have caused it.
pub fn classify(log: &str) -> Option<(&'static str, bool)> {
    static SIGNATURES: LazyLock<Vec<(&'static str, bool, Regex)>> = LazyLock::new(|| {
        [
            (
                "browser_launch_failed",
                true,
                r"Failed to launch|Failed to connect to the bus",
            ),
            (
                "display_unavailable",
                true,
                r"cannot open display|Missing X server|unable to open X display",
            ),
            (
                "out_of_memory",
                true,
                r"Cannot allocate memory|OutOfMemoryError|^Killed$",
            ),
            (
                "container_unavailable",
                true,
                r"Error response from daemon|Cannot connect to the Docker daemon",
            ),
            (
                "network_unreachable",
                true,
                r"Could not resolve host|Temporary failure in name resolution",
            ),
            (
                "missing_module",
                false,
                r"Cannot find module|MODULE_NOT_FOUND|ModuleNotFoundError",
            ),
            (
                "no_tests_collected",
                false,
                r"no tests ran|collected 0 items",
            ),
            (
                "tests_timed_out",
                false,
                r"Timeout error: [0-9]+ seconds exceeded",
            ),
        ]
        .into_iter()
        .map(|(reason, env, p)| (reason, env, Regex::new(&format!("(?m){p}")).expect("regex")))
        .collect()
    });
    if log.is_empty() {
        return None;
    }
    let log = normalize_newlines(log);
    SIGNATURES
        .iter()
        .find(|(_, _, re)| re.is_match(&log))
        .map(|(reason, env, _)| (*reason, *env))
}

#[cfg(test)]
mod tests {
    use super::*;
    use TestStatus::*;

    fn task(f2p: &[&str], p2p: &[&str]) -> Task {
        serde_json::from_value(serde_json::json!({
            "instance_id": "a__b-1", "repo": "a/b", "base_commit": "c", "version": "1",
            "problem_statement": "", "patch": "", "test_patch": "",
            "FAIL_TO_PASS": f2p, "PASS_TO_PASS": p2p
        }))
        .unwrap()
    }

    fn map(pairs: &[(&str, TestStatus)]) -> StatusMap {
        pairs.iter().map(|(n, s)| (n.to_string(), *s)).collect()
    }

    const M: &str = "+ : '>>>>> Start Test Output'\n";
    const E: &str = "+ : '>>>>> End Test Output'\n";

    #[test]
    fn detects_the_version_a_log_was_written_under() {
        assert_eq!(Rules::detect("PASSED a"), Rules::Swebench2);
        assert_eq!(
            Rules::detect(&format!("{M}PASSED a\n{E}")),
            Rules::Swebench4
        );
        let v5 = format!("{M}PASSED a\n{TEST_EXIT_CODE_VAR}=0\n{E}>>>>> Test Exit Code: 0\n");
        assert_eq!(Rules::detect(&v5), Rules::Swebench5);
        assert_eq!(
            GraderChoice::parse("auto").unwrap().rules_for(&v5),
            Rules::Swebench5
        );
        assert_eq!(
            GraderChoice::parse("swebench-4").unwrap(),
            GraderChoice::Fixed(Rules::Swebench4)
        );
        assert!(
            GraderChoice::parse("swebench-3")
                .unwrap_err()
                .contains("swebench-5")
        );
    }

    #[test]
    fn skipped_tests_by_version() {
        let t = task(&["f"], &["p"]);
        let s = map(&[("f", Skipped), ("p", Skipped)]);
        let v4 = Rules::Swebench4.tests_status(&t, &s);
        assert!(v4.fail_to_pass.success.is_empty() && v4.fail_to_pass.failure.is_empty());
        assert!(v4.pass_to_pass.success.is_empty() && v4.pass_to_pass.failure.is_empty());
        let v5 = Rules::Swebench5.tests_status(&t, &s);
        assert_eq!(v5.fail_to_pass.failure, ["f"]);
        assert_eq!(v5.pass_to_pass.success, ["p"]);
    }

    #[test]
    fn fail_only_rows_under_5() {
        let mut t = task(&["f", "g"], &["p"]);
        t.eval_type = Some("fail_only".into());
        let s = map(&[("g", Failed), ("p", Error)]);
        let v5 = Rules::Swebench5.tests_status(&t, &s);
        assert_eq!(
            (v5.fail_to_pass.success, v5.fail_to_pass.failure),
            (vec!["f".to_string()], vec!["g".to_string()])
        );
        assert_eq!(v5.pass_to_pass.success, ["p"]);
        let v4 = Rules::Swebench4.tests_status(&t, &s);
        assert_eq!(v4.fail_to_pass.failure, ["f", "g"]);
    }

    #[test]
    fn truncated_ids_match_by_prefix_under_5_only() {
        let t = task(&["x::t[a", "x::u[a", "x::v"], &[]);
        let s = map(&[
            ("x::t[a b]", Passed),
            ("x::t[a c]", Xfail),
            ("x::u[a b]", Passed),
            ("x::u[a c]", Failed),
            ("x::v[1]", Passed),
        ]);
        let v5 = Rules::Swebench5.tests_status(&t, &s);
        assert_eq!(v5.fail_to_pass.success, ["x::t[a"]);
        // disagreeing matches, and a balanced id, are looked up exactly
        assert_eq!(v5.fail_to_pass.failure, ["x::u[a", "x::v"]);
        let v4 = Rules::Swebench4.tests_status(&t, &s);
        assert_eq!(v4.fail_to_pass.failure.len(), 3);
    }

    #[test]
    fn exit_code_and_suite_evidence_under_5() {
        let p = LogParser::Pytest;
        let log = |body: &str, code: i32| format!("{M}{body}{E}>>>>> Test Exit Code: {code}\n");
        let only_passed = log("PASSED a::t\n", 1);
        assert!(matches!(
            Rules::Swebench5.read_log(p, &only_passed),
            LogRead::Unusable(_)
        ));
        assert!(matches!(
            Rules::Swebench4.read_log(p, &only_passed),
            LogRead::Results(_)
        ));
        assert!(matches!(
            Rules::Swebench5.read_log(p, &log("FAILED a::t\n", 1)),
            LogRead::Results(_)
        ));
        let nothing = log("ModuleNotFoundError: No module named 'x'\n", 2);
        let LogRead::Unusable(u) = Rules::Swebench5.read_log(p, &nothing) else {
            panic!()
        };
        assert_eq!(u.infra, Some(("missing_module", false)));
        assert!(matches!(
            Rules::Swebench5.read_log(p, &log("3 passing\n", 0)),
            LogRead::Results(m) if m.is_empty()
        ));
        // no markers: unusable under 4 and 5, the whole log under 2
        assert!(matches!(
            Rules::Swebench4.read_log(p, "PASSED a::t\n"),
            LogRead::Unusable(_)
        ));
        assert!(
            matches!(Rules::Swebench2.read_log(p, "PASSED a::t\n"), LogRead::Results(m) if m.len() == 1)
        );
    }

    #[test]
    fn skip_counts_and_seaborn_crashes_before_5() {
        let log = format!("{M}SKIPPED [1] a.py:3: no\n{E}PASSED a::t\n");
        let p = LogParser::Pytest;
        assert!(matches!(Rules::Swebench4.read_log(p, &log), LogRead::Results(m) if m.is_empty()));
        assert!(matches!(Rules::Swebench5.read_log(p, &log), LogRead::Results(m) if m.len() == 1));
        let bare = format!("{M}PASSED a::t\nFAILED\n{E}");
        assert!(matches!(
            Rules::Swebench4.read_log(LogParser::Seaborn, &bare),
            LogRead::NoReport(_)
        ));
        assert!(matches!(
            Rules::Swebench5.read_log(LogParser::Seaborn, &bare),
            LogRead::Results(_)
        ));
    }

    #[test]
    fn decoding_by_version() {
        let bytes = b"PASSED a\xff\n";
        assert!(Rules::Swebench4.decode(bytes).is_err());
        assert!(Rules::Swebench5.decode(bytes).unwrap().contains('\u{fffd}'));
    }
}
