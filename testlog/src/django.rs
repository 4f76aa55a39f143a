//! Django's test runner at `--verbosity 2`: one `name (module.Class) ... status` line per test.
//!
//! ```text
//! test_first (migrations.test_loader.LoaderTests) ... ok
//! test_ignore_files (migrations.test_loader.LoaderTests)
//! Files prefixed with underscore, tilde, or dot aren't loaded. ... ok
//! test_load_empty_dir (migrations.test_loader.LoaderTests) ... FAIL
//! test_foo (app.tests.T) ... skipped 'needs PostgreSQL'
//! test_bar (app.tests.T) ... expected failure
//! ```
//!
//! A test with a docstring is named by the docstring's first line, as the SWE-bench datasets
//! name it. A test's own output (or the runner's stdout, which is not synchronised with the
//! results on stderr) can split its line: `name ... <output>` then, lines later, `ok`. The
//! `ok` is credited to the test whose line is still waiting for its status, and to no other.
//! A bare `ERROR` (or `FAIL`) line after a test's `... ok`, when the failure report has an
//! `ERROR: <that test>` header, is a second outcome of that same test, an error raised by
//! Django's teardown after the test body passed: the test errored (the official parser keeps
//! `ok`; docs/parity.md, django__django-12741). A bare `ERROR` with no such header is a class's
//! `setUpClass` failing and belongs to no test. The first word of a
//! `FAIL: name (module.Class)` / `ERROR: …` header is recorded failed, as the official parser
//! records it.

use std::sync::LazyLock;

use regex::Regex;

use super::{py_split, py_strip};
use crate::{StatusMap, TestStatus};

const PASS_SUFFIXES: [&str; 3] = [" ... ok", " ... OK", " ...  OK"];

/// The runner's stdout lands between a test's name and its `ok` in these known shapes; each
/// match credits the test with a pass (the official parser does the same).
static SPLIT_PASSES: LazyLock<[Regex; 3]> = LazyLock::new(|| {
    [
        Regex::new(
            r"(?m)^(.*?)\s\.\.\.\sTesting against Django installed in ((?s:.*?)) silenced\)\.\nok$",
        ),
        Regex::new(r"(?m)^(.*?)\s\.\.\.\sInternal Server Error: /(.*)/\nok$"),
        Regex::new(r"(?m)^(.*?)\s\.\.\.\sSystem check identified no issues \(0 silenced\)\.?\nok$"),
    ]
    .map(|r| r.expect("valid pattern"))
});

pub fn parse(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    let reported = failure_headers(log);
    // The test whose `name ... ` line has not yet shown a status.
    let mut pending: Option<String> = None;
    // The test whose line showed a status last: a bare `ERROR` / `FAIL` line after it is a
    // second outcome of the same test (an error in Django's post-test teardown).
    let mut last: Option<String> = None;
    for raw in log.split('\n') {
        let mut line = py_strip(raw);

        if line.contains("--version is equivalent to version") {
            // admin_scripts: the test's output splits its own line at this text
            map.insert(
                "--version is equivalent to version".to_string(),
                TestStatus::Passed,
            );
        }

        let mut resolved: Option<&str> = None;
        if let Some((name, _)) = line.split_once(" ... ") {
            pending = Some(name.to_string());
        }
        for suffix in PASS_SUFFIXES {
            if line.ends_with(suffix) {
                // django__django-7188: a migration's progress message glued to the test name
                if line.starts_with("Applying sites.0002_alter_domain_unique...test_no_migrations")
                {
                    line = py_strip(line.split_once("...").map_or(line, |(_, r)| r));
                }
                let test = rsplit_first(line, suffix);
                map.insert(test.to_string(), TestStatus::Passed);
                resolved = Some(test);
                break;
            }
        }
        if let Some((test, _)) = line.split_once(" ... skipped") {
            map.insert(test.to_string(), TestStatus::Skipped);
            resolved = Some(test);
        }
        // unittest's expected failure is pytest's XFAIL; an unexpected success fails the run
        // (the official parser reads neither: such a test is missing, hence failed)
        if let Some(test) = line.strip_suffix(" ... expected failure") {
            map.insert(test.to_string(), TestStatus::Xfail);
            resolved = Some(test);
        }
        if let Some(test) = line.strip_suffix(" ... unexpected success") {
            map.insert(test.to_string(), TestStatus::Failed);
            resolved = Some(test);
        }
        if line.ends_with(" ... FAIL") {
            let test = line.split_once(" ... FAIL").map_or(line, |(t, _)| t);
            map.insert(test.to_string(), TestStatus::Failed);
            resolved = Some(test);
        }
        if line.ends_with(" ... ERROR") {
            let test = line.split_once(" ... ERROR").map_or(line, |(t, _)| t);
            map.insert(test.to_string(), TestStatus::Error);
            resolved = Some(test);
        }
        if let Some(test) = line.strip_prefix("FAIL:").and_then(header_method) {
            map.insert(test.to_string(), TestStatus::Failed);
        }
        if let Some(test) = line.strip_prefix("ERROR:").and_then(header_method) {
            map.insert(test.to_string(), TestStatus::Error);
        }
        if let Some(test) = resolved {
            pending = None;
            last = Some(test.to_string());
        } else if line.starts_with("ok") {
            // `name ... <the test's output>` … `ok`
            if let Some(test) = pending.take() {
                map.insert(test.clone(), TestStatus::Passed);
                last = Some(test);
            }
        } else if let Some(status) = match line {
            "FAIL" => Some(TestStatus::Failed),
            "ERROR" => Some(TestStatus::Error),
            _ => None,
        } {
            // `name ... <output>` … `FAIL` on a line of its own; or `name ... ok` then `ERROR`:
            // the test failed in its teardown after passing (django__django-12741), which the
            // failure report confirms with a header for that test. (A bare `ERROR` without such
            // a header is a class's `setUpClass` failing, reported under no test's name.)
            if let Some(test) = pending.take() {
                map.insert(test.clone(), status);
                last = Some(test);
            } else if let Some(test) = last.as_ref()
                && reported.contains(&(line, test.as_str()))
            {
                map.insert(test.clone(), status);
            }
        }
    }
    for re in SPLIT_PASSES.iter() {
        for c in re.captures_iter(log) {
            map.insert(c[1].to_string(), TestStatus::Passed);
        }
    }
    map
}

/// The failure report's headers, `(kind, name)`: `("ERROR", "test_x (module.Class)")` for
/// `ERROR: test_x (module.Class)`, and `("ERROR", "<docstring>")` when the docstring's first line
/// follows the header (the name such a test's status line shows).
fn failure_headers(log: &str) -> std::collections::HashSet<(&str, &str)> {
    let mut out = std::collections::HashSet::new();
    let mut lines = log.split('\n').map(py_strip).peekable();
    while let Some(line) = lines.next() {
        for kind in ["ERROR", "FAIL"] {
            let Some(name) = line.strip_prefix(kind).and_then(|r| r.strip_prefix(": ")) else {
                continue;
            };
            out.insert((kind, py_strip(name)));
            if let Some(next) = lines.peek()
                && !next.is_empty()
                && !next.starts_with("---")
            {
                out.insert((kind, *next));
            }
        }
    }
    out
}

/// Python's `s.rsplit(sep, 1)[0]`.
fn rsplit_first<'a>(s: &'a str, sep: &str) -> &'a str {
    s.rsplit_once(sep).map_or(s, |(a, _)| a)
}

/// `FAIL: test_x (module.Class)` → `test_x`: the header's first word, as the official parser
/// records it.
fn header_method(rest: &str) -> Option<&str> {
    py_split(rest).next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use TestStatus::*;

    #[test]
    fn reads_status_lines_and_docstring_names() {
        // django__django-11141
        let log = "test_check_consistent_history (migrations.test_loader.LoaderTests) ... ok\n\
test_ignore_files (migrations.test_loader.LoaderTests)\n\
Files prefixed with underscore, tilde, or dot aren't loaded. ... ok\n\
test_load_empty_dir (migrations.test_loader.LoaderTests) ... FAIL\n\
test_loading_squashed (migrations.test_loader.LoaderTests)\n\
Tests loading a squashed migration ... ok\n\
\n\
======================================================================\n\
FAIL: test_load_empty_dir (migrations.test_loader.LoaderTests)\n\
----------------------------------------------------------------------\n";
        let m = parse(log);
        assert_eq!(
            m["test_check_consistent_history (migrations.test_loader.LoaderTests)"],
            Passed
        );
        assert_eq!(
            m["Files prefixed with underscore, tilde, or dot aren't loaded."],
            Passed
        );
        assert_eq!(
            m["test_load_empty_dir (migrations.test_loader.LoaderTests)"],
            Failed
        );
        assert_eq!(m["test_load_empty_dir"], Failed);
        assert_eq!(m["Tests loading a squashed migration"], Passed);
        assert!(!m.contains_key("test_ignore_files (migrations.test_loader.LoaderTests)"));
    }

    #[test]
    fn skipped_error_and_split_lines() {
        let log = "test_a (x.T) ... skipped 'Database has feature(s) supports_foo'\n\
test_col_not_in_list_containing_null (queries.tests.NullInExcludeTest) ... expected failure\n\
test_u (x.T) ... unexpected success\n\
test_b (x.T) ... ERROR\n\
test_c (x.T) ... Internal Server Error: /admin/\n\
ok\n\
test_d (x.T) ... some output printed by the test\n\
more output\n\
FAIL\n\
ok, but this line belongs to no test\n";
        let m = parse(log);
        assert_eq!(m["test_a (x.T)"], Skipped);
        assert_eq!(
            m["test_col_not_in_list_containing_null (queries.tests.NullInExcludeTest)"],
            Xfail
        );
        assert_eq!(m["test_u (x.T)"], Failed);
        assert_eq!(m["test_b (x.T)"], Error);
        assert_eq!(m["test_c (x.T)"], Passed);
        assert_eq!(m["test_d (x.T)"], Failed);
    }

    #[test]
    fn teardown_error_after_ok() {
        // django__django-12741: the database flush after each test raised
        let log = "test_time_trunc_sql (backends.base.test_operations.SimpleDatabaseOperationTests) ... ok\n\
test_execute_sql_flush_statements (backends.base.test_operations.SqlFlushTests) ... ok\n\
ERROR\n\
test_duplicate_table_error (backends.tests.BackendTestCase)\n\
Creating an existing table returns a DatabaseError ... ok\n\
ERROR\n\
test_cursor_executemany_with_iterator (backends.tests.BackendTestCase) ... FAIL\n\
ERROR\n\
test_set_up_class (servers.tests.LiveServerTestCaseSetupTest) ... ok\n\
ERROR\n\
\n\
======================================================================\n\
ERROR: test_execute_sql_flush_statements (backends.base.test_operations.SqlFlushTests)\n\
----------------------------------------------------------------------\n\
======================================================================\n\
ERROR: test_duplicate_table_error (backends.tests.BackendTestCase)\n\
Creating an existing table returns a DatabaseError\n\
----------------------------------------------------------------------\n\
======================================================================\n\
ERROR: test_cursor_executemany_with_iterator (backends.tests.BackendTestCase)\n\
----------------------------------------------------------------------\n\
======================================================================\n\
ERROR: setUpClass (servers.tests.LiveServerAddress)\n\
----------------------------------------------------------------------\n";
        let m = parse(log);
        assert_eq!(
            m["test_time_trunc_sql (backends.base.test_operations.SimpleDatabaseOperationTests)"],
            Passed
        );
        assert_eq!(
            m["test_execute_sql_flush_statements (backends.base.test_operations.SqlFlushTests)"],
            Error
        );
        assert_eq!(
            m["Creating an existing table returns a DatabaseError"],
            Error
        );
        assert_eq!(
            m["test_cursor_executemany_with_iterator (backends.tests.BackendTestCase)"],
            Error
        );
        // django__django-14011: a bare `ERROR` of another class's setUpClass, no header for it
        assert_eq!(
            m["test_set_up_class (servers.tests.LiveServerTestCaseSetupTest)"],
            Passed
        );
    }

    #[test]
    fn runner_stdout_between_name_and_status() {
        // django__django-13809 shape: stdout of the runner lands inside the last test's line
        let log = "test_x (utils_tests.test_autoreload.T) ... Testing against Django installed in '/testbed/django'\n\
Importing application utils_tests\n\
System check identified no issues (0 silenced).\n\
ok\n";
        let m = parse(log);
        assert_eq!(m["test_x (utils_tests.test_autoreload.T)"], Passed);
    }

    #[test]
    fn migration_progress_glued_to_name() {
        let log = "Applying sites.0002_alter_domain_unique...test_no_migrations (migrations.test_commands.T) ... ok\n";
        let m = parse(log);
        assert_eq!(m["test_no_migrations (migrations.test_commands.T)"], Passed);
    }
}
