//! pytest's `-rA` short test summary: `PASSED tests/test_x.py::test_y` lines.

use crate::grading::report::{StatusMap, TestStatus};

fn status_word(word: &str) -> Option<TestStatus> {
    Some(match word {
        "PASSED" => TestStatus::Passed,
        "FAILED" => TestStatus::Failed,
        "SKIPPED" => TestStatus::Skipped,
        "ERROR" => TestStatus::Error,
        "XFAIL" => TestStatus::Xfail,
        _ => return None,
    })
}

/// Reads lines that start with a status word followed by a test id. Failure lines carry a
/// ` - message` tail, which is not part of the name.
pub fn parse(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    for line in log.lines() {
        let line = line.trim();
        let Some((word, rest)) = line.split_once(' ') else {
            continue;
        };
        let Some(status) = status_word(word) else {
            continue;
        };
        let mut name = rest.trim();
        if matches!(status, TestStatus::Failed | TestStatus::Error) {
            if let Some((n, _)) = name.split_once(" - ") {
                name = n;
            }
        }
        if !name.is_empty() {
            map.insert(name.to_string(), status);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_summary() {
        let log = "tests/test_a.py::test_x PASSED [ 50%]\n\
                   =========================== short test summary info ============================\n\
                   PASSED tests/test_a.py::test_x\n\
                   FAILED tests/test_a.py::test_y - AssertionError: 1 != 2\n\
                   XFAIL tests/test_a.py::test_z\n\
                   ERROR tests/test_b.py::test_w[a-1] - ValueError\n";
        let m = parse(log);
        assert_eq!(m["tests/test_a.py::test_x"], TestStatus::Passed);
        assert_eq!(m["tests/test_a.py::test_y"], TestStatus::Failed);
        assert_eq!(m["tests/test_a.py::test_z"], TestStatus::Xfail);
        assert_eq!(m["tests/test_b.py::test_w[a-1]"], TestStatus::Error);
        assert_eq!(m.len(), 4);
    }
}
