//! SWE-Gym's own parser for pydantic's logs (`parse_log_pytest_pydantic` in SWE-Gym's SWE-bench
//! fork, `swebench/harness/log_parsers.py`): the only repository that fork reads with a parser
//! of its own.

use std::sync::LazyLock;

use regex::Regex;

use crate::pytest::status_word;
use crate::{StatusMap, py_split};

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
pub fn parse(log: &str) -> StatusMap {
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
pub fn raises(log: &str) -> bool {
    log.split('\n').any(|raw| {
        let line = pydantic_line(raw);
        pydantic_words(&line).is_some_and(|(words, _)| words.len() < 2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LogParser;
    use crate::TestStatus::*;

    #[test]
    fn pydantic_lines_as_swe_gym_reads_them() {
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
        let m = parse(log);
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
        assert!(!raises(log));
        // SWE-bench's pytest parser reads the tab as a space, so it misses test_g
        assert!(
            !LogParser::Pytest
                .parse(log)
                .contains_key("tests/test_tab.py::test_g")
        );
        assert!(raises("collected 1 item\nPASSED\n"));
        assert!(raises("x\n  XPASSED\n"));
    }
}
