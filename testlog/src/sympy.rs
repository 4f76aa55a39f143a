//! sympy's own runner, `bin/test -C --verbose`:
//!
//! ```text
//! sympy/matrices/tests/test_sparse.py[11]
//! test_sparse_matrix F
//! test_transpose ok
//! test_hermitian ok                                                         [FAIL]
//!
//! ____________ sympy/matrices/tests/test_sparse.py:test_sparse_matrix ____________
//! ```
//!
//! Tests are named by their function name alone, as the SWE-bench datasets name them (the same
//! name in two files: the last line read wins). The runner prints a file's verdict, `[OK]` or
//! `[FAIL]`, at the end of the file's last test line; the official parser then misses that test,
//! this one reads it. `f` (expected failure) reads as XFAIL and `s` as SKIPPED. A failure's
//! header (`___ path.py:test_name ___`) is recorded as `path.py:test_name`.

use std::sync::LazyLock;

use regex::Regex;

use super::{py_split, py_strip};
use crate::{StatusMap, TestStatus};

/// `____ sympy/x/tests/test_y.py:test_z ____` (the official parser's pattern, which also
/// matches lines that are not headers; those give names no dataset uses).
static FAILURE_HEADER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(_*) (.*)\.py:(.*) (_*)").expect("valid pattern"));

pub fn parse(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    for c in FAILURE_HEADER.captures_iter(log) {
        map.insert(format!("{}.py:{}", &c[2], &c[3]), TestStatus::Failed);
    }
    for raw in log.split('\n') {
        let line = strip_file_verdict(py_strip(raw));
        if !line.starts_with("test_") {
            continue;
        }
        let status = if line.ends_with(" E") {
            TestStatus::Error
        } else if line.ends_with(" F") {
            TestStatus::Failed
        } else if line.ends_with(" ok") {
            TestStatus::Passed
        } else if line.ends_with(" f") {
            TestStatus::Xfail
        } else if line.ends_with(" s") {
            TestStatus::Skipped
        } else {
            continue;
        };
        if let Some(test) = py_split(line).next() {
            map.insert(test.to_string(), status);
        }
    }
    map
}

/// `test_x ok      [FAIL]` → `test_x ok`.
fn strip_file_verdict(line: &str) -> &str {
    for verdict in ["[OK]", "[FAIL]"] {
        if let Some(body) = line.strip_suffix(verdict) {
            let body = py_strip(body);
            if body.starts_with("test_") {
                return body;
            }
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use TestStatus::*;

    #[test]
    fn reads_verbose_lines_and_headers() {
        // sympy__sympy-13031
        let log = "sympy/matrices/tests/test_sparse.py[11] \n\
test_sparse_matrix F\n\
test_transpose ok\n\
test_trace ok\n\
test_hermitian ok                                                         [FAIL]\n\
\n\
\n\
________________________________________________________________________________\n\
____________ sympy/matrices/tests/test_sparse.py:test_sparse_matrix ____________\n\
  File \"/testbed/sympy/matrices/tests/test_sparse.py\", line 31, in test_sparse_matrix\n\
    assert SparseMatrix.hstack(*sparse_matrices) == Matrix(0, 6, [])\n\
AssertionError\n";
        let m = parse(log);
        assert_eq!(m["test_sparse_matrix"], Failed);
        assert_eq!(m["test_transpose"], Passed);
        assert_eq!(m["test_trace"], Passed);
        assert_eq!(m["test_hermitian"], Passed);
        assert_eq!(
            m["sympy/matrices/tests/test_sparse.py:test_sparse_matrix"],
            Failed
        );
    }

    #[test]
    fn errors_expected_failures_and_skips() {
        // sympy__sympy-14531 and sympy__sympy-23413
        let log = "test_python_relational F\n\
test_python_functions_conjugates f\n\
test_PolyElement E\n\
test_hermite_normal E                                                     [FAIL]\n\
test_Indexed numpy not installed s                                        [FAIL]\n\
test_cosh_expansion ok                                                      [OK]\n";
        let m = parse(log);
        assert_eq!(m["test_python_relational"], Failed);
        assert_eq!(m["test_python_functions_conjugates"], Xfail);
        assert_eq!(m["test_PolyElement"], Error);
        assert_eq!(m["test_hermite_normal"], Error);
        assert_eq!(m["test_Indexed"], Skipped);
        assert_eq!(m["test_cosh_expansion"], Passed);
    }
}
