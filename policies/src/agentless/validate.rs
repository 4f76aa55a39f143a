//! Validation in the sandbox: the repository's tests around the edited code (those that passed
//! before an edit must pass after it) and the model's reproduction test (useful only when it
//! fails before the edit; a candidate that makes it pass scores).

use std::collections::BTreeMap;
use std::time::Duration;

use protege_sandboxes::{ExecOptions, Sandbox};
use protege_testlog::{LogParser, TestStatus};

/// Where the model's reproduction test is written (at the root, so the package imports as it
/// does from the repository's own tests).
pub const REPRODUCTION_FILE: &str = "test_protege_reproduction.py";

/// Test id → passed, from pytest's `-rA` output as the grader reads it (PASSED and XFAIL pass;
/// FAILED and ERROR do not; SKIPPED is left out, as it is on both sides of a grade).
pub fn parse_pytest(output: &str) -> BTreeMap<String, bool> {
    LogParser::Pytest
        .parse(output)
        .into_iter()
        .filter(|(_, status)| *status != TestStatus::Skipped)
        .map(|(name, status)| (name, status.is_pass()))
        .collect()
}

/// The dotted module a source path is imported as (`pkg/sub/mod.py` → `pkg.sub.mod`,
/// `pkg/__init__.py` → `pkg`), and its last part.
fn module_names(path: &str) -> (String, String) {
    let stem = path.trim_end_matches(".py");
    let stem = stem.strip_suffix("/__init__").unwrap_or(stem);
    let dotted = stem.replace('/', ".");
    let last = dotted.rsplit('.').next().unwrap_or(&dotted).to_string();
    (dotted, last)
}

/// Test files that exercise the edited files: they import or name the edited module (dotted or
/// its last part as a word) or carry its name, best matches first, at most `max`.
pub fn related_tests(
    edited: &[String],
    tests: &BTreeMap<String, String>,
    max: usize,
) -> Vec<String> {
    let mut scored: Vec<(u32, &String)> = Vec::new();
    for (path, text) in tests {
        if path.ends_with("conftest.py") {
            continue;
        }
        let file = path.rsplit('/').next().unwrap_or(path);
        let mut score = 0;
        for e in edited {
            let (dotted, last) = module_names(e);
            if text.contains(&dotted) && dotted.contains('.') {
                score += 4;
            }
            if file.trim_start_matches("test_").trim_end_matches(".py") == last {
                score += 3;
            }
            let word = |l: &str| {
                l.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|w| w == last)
            };
            if text
                .lines()
                .any(|l| (l.contains("import") || l.contains("from")) && word(l))
            {
                score += 2;
            } else if text.lines().any(word) {
                score += 1;
            }
        }
        if score > 0 {
            scored.push((score, path));
        }
    }
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(max)
        .map(|(_, p)| p.clone())
        .collect()
}

/// One pytest run.
#[derive(Debug, Clone, Default)]
pub struct TestRun {
    pub statuses: BTreeMap<String, bool>,
    pub exit_code: Option<i64>,
    pub timed_out: bool,
    /// The sandbox could not run it at all.
    pub error: Option<String>,
}

impl TestRun {
    /// The run collected at least one test and every test passed.
    pub fn all_passed(&self) -> bool {
        self.error.is_none()
            && !self.timed_out
            && !self.statuses.is_empty()
            && self.statuses.values().all(|p| *p)
    }
    /// The run collected tests and some failed: what a reproduction test must do before a fix.
    pub fn some_failed(&self) -> bool {
        self.error.is_none() && !self.timed_out && self.statuses.values().any(|p| !p)
    }
}

/// Tests that passed in `before` and do not pass in `after` (missing counts as not passing).
pub fn regressions(before: &TestRun, after: &TestRun) -> usize {
    before
        .statuses
        .iter()
        .filter(|(name, passed)| **passed && after.statuses.get(*name) != Some(&true))
        .count()
}

/// Runs `command FILES…` in `/testbed` with byte-code writing off, so that a file rewritten
/// within the same second is never served from a stale cache.
pub async fn run_tests(
    ws: &dyn Sandbox,
    command: &str,
    files: &[String],
    timeout: Duration,
) -> TestRun {
    let mut opts = ExecOptions::with_timeout(timeout);
    opts.env
        .push(("PYTHONDONTWRITEBYTECODE".into(), "1".into()));
    let line = format!("{command} {}", files.join(" "));
    match ws.exec(&line, &opts).await {
        Ok(o) => TestRun {
            statuses: parse_pytest(&o.output),
            exit_code: o.exit_code,
            timed_out: o.timed_out,
            error: None,
        },
        Err(e) => TestRun {
            error: Some(e.to_string()),
            ..TestRun::default()
        },
    }
}

/// The Python code of a reply: its first fenced block (```python or ```), else the whole reply.
pub fn code_block(reply: &str) -> String {
    let mut in_block = false;
    let mut lines = Vec::new();
    for l in reply.lines() {
        let t = l.trim_start();
        if t.starts_with("```") {
            if in_block {
                return lines.join("\n") + "\n";
            }
            in_block = true;
            continue;
        }
        if in_block {
            lines.push(l);
        }
    }
    if in_block {
        // An unclosed block (the reply hit its token limit): what it holds.
        return lines.join("\n") + "\n";
    }
    reply.trim().to_string() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pytest_summary_lines() {
        let out = "============ short test summary info ============\nPASSED tests/test_a.py::test_x\nPASSED tests/test_a.py::test_p[1-I]\nFAILED tests/test_a.py::test_y - AssertionError: assert 1 == 2\nERROR tests/test_b.py - ImportError: nope\nSKIPPED [1] tests/test_a.py:9: skip\nXFAIL tests/test_a.py::test_z\n==== 2 passed, 1 failed ====\n";
        let s = parse_pytest(out);
        assert_eq!(s.len(), 5);
        assert!(s["tests/test_a.py::test_x"]);
        assert!(s["tests/test_a.py::test_p[1-I]"]);
        assert!(!s["tests/test_a.py::test_y"]);
        assert!(!s["tests/test_b.py"]);
        assert!(s["tests/test_a.py::test_z"]);
        assert!(parse_pytest("").is_empty());
    }

    #[test]
    fn regressions_count_passing_tests_that_stop_passing() {
        let run = |v: &[(&str, bool)]| TestRun {
            statuses: v.iter().map(|(n, p)| (n.to_string(), *p)).collect(),
            exit_code: Some(0),
            ..TestRun::default()
        };
        let before = run(&[("a", true), ("b", true), ("c", false)]);
        let after = run(&[("a", true), ("c", true)]);
        assert_eq!(regressions(&before, &after), 1, "b is gone");
        assert_eq!(regressions(&before, &run(&[("a", false), ("b", false)])), 2);
        assert_eq!(regressions(&before, &before), 0);
        assert!(!before.all_passed() && before.some_failed());
        assert!(after.all_passed());
        assert!(!TestRun::default().all_passed(), "no test is not a pass");
    }

    #[test]
    fn related_tests_import_or_name_the_module() {
        let tests: BTreeMap<String, String> = [
            (
                "tests/test_convert.py",
                "from romanum.convert import to_roman\n",
            ),
            (
                "tests/test_arith.py",
                "from romanum import add\nimport romanum.arith\n",
            ),
            ("tests/test_other.py", "def test_x():\n    pass\n"),
            ("tests/test_misc.py", "# see convert for details\n"),
            ("tests/conftest.py", "import romanum.convert\n"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(
            related_tests(&["romanum/convert.py".into()], &tests, 5),
            vec!["tests/test_convert.py", "tests/test_misc.py"]
        );
        assert_eq!(
            related_tests(&["romanum/__init__.py".into()], &tests, 5),
            vec!["tests/test_arith.py", "tests/test_convert.py"]
        );
        assert_eq!(
            related_tests(&["romanum/convert.py".into()], &tests, 1).len(),
            1
        );
    }

    #[test]
    fn code_blocks() {
        assert_eq!(
            code_block("Here:\n```python\nimport x\n\ndef test():\n    assert x\n```\nDone."),
            "import x\n\ndef test():\n    assert x\n"
        );
        assert_eq!(code_block("```\ndef test(): pass"), "def test(): pass\n");
        assert_eq!(code_block("def test(): pass"), "def test(): pass\n");
        assert_eq!(code_block(""), "\n");
    }
}
