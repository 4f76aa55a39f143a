//! pytest logs: the `-rA` short test summary (`PASSED tests/test_x.py::test_y`, status first)
//! and verbose lines (`tests/test_x.py::test_y PASSED [ 50%]`, status after the name).
//!
//! Names are recorded twice when they contain whitespace: in full
//! (`test_unparse[a + b-a + b]`) and cut at the first whitespace (`test_unparse[a`), which is how
//! the official parser, and therefore the SWE-bench datasets' test lists, spell them. When several
//! tests share a cut name and one of them failed, the cut name is failed (the official parser
//! keeps whichever line came last; pytest's summary lists failures after passes, so the two agree
//! on every parity log, docs/parity.md).
//!
//! The progress counter is never read as a test's name: `PASSED [100%]` on a line of its own
//! (a verbose run whose live log split the test's line) gives its status to the test named on
//! the line that opened it. Because two SWE-bench Verified rows (pytest-dev__pytest-5262 and
//! pytest-dev__pytest-7521) list the official parser's misreading `[100%]` as a PASS_TO_PASS
//! test, that status is also recorded under [`PROGRESS_ARTEFACT`], so those rows grade as
//! officially (docs/parity.md). Never recorded at all: the `[ 50%]` tail of a verbose line, the
//! `[N]` count of a `SKIPPED [N] file:line: reason` line, unittest's `FAILED (failures=1)`
//! summary, and a status word that is only the start of another word (`ERRORS`, `FAILED:`).

use std::borrow::Cow;

use super::{is_py_space, py_split};
use crate::{StatusMap, TestStatus};

/// The variant of the pytest format a repository's logs are read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Plain,
    /// A parameter that is an absolute path is shortened to `/<last component>`.
    Options,
    /// Colour escapes (and `[32m`-style remnants of them) are removed before reading.
    V2,
    /// As [`Flavor::V2`], with `swebench` 5.x's names for status-first lines: the whole rest of
    /// the line (words joined by one space), cut at the first ` - ` on FAILED lines only, and no
    /// cut name (5.x matches the datasets' cut names by prefix instead). An `XFAIL id - reason`
    /// line therefore names `id - reason`, as officially.
    V2WholeIds,
    /// `MouseButton.LEFT` / `MouseButton.RIGHT` are written `1` / `3`.
    Matplotlib,
    Seaborn,
}

/// A status word, exactly (`PASSED`, not `PASSED:` or `XPASSED`).
pub fn status_word(word: &str) -> Option<TestStatus> {
    Some(match word {
        "PASSED" => TestStatus::Passed,
        "FAILED" => TestStatus::Failed,
        "SKIPPED" => TestStatus::Skipped,
        "ERROR" => TestStatus::Error,
        "XFAIL" => TestStatus::Xfail,
        _ => return None,
    })
}

/// The name the official parser gives a `PASSED [100%]` line, which SWE-bench Verified lists
/// as a test in two rows. Recorded for those rows' sake only; no test has this name.
pub const PROGRESS_ARTEFACT: &str = "[100%]";

/// Parses a whole pytest log.
pub fn parse(log: &str, flavor: Flavor) -> StatusMap {
    let mut st = State::default();
    for raw in log.split('\n') {
        let line = clean_line(raw, flavor);
        read_line(&line, flavor, &mut st);
    }
    // A cut name stands for every test it cuts: failed if any of them failed.
    for (key, members) in st.cut {
        if members.len() > 1
            && let Some((_, s)) = members
                .iter()
                .find(|(_, s)| !s.is_pass() && *s != TestStatus::Skipped)
        {
            st.map.insert(key, *s);
        }
    }
    st.map
}

#[derive(Default)]
struct State {
    map: StatusMap,
    /// A verbose test line that ended with its name (its status comes on a later line).
    pending: Option<String>,
    /// Cut name → the whole names cut to it, each with its last status.
    cut: std::collections::HashMap<String, Vec<(String, TestStatus)>>,
}

/// Removes terminal escapes (every flavour: a coloured `PASSED` is still a status) and applies
/// the flavour's spelling of names.
fn clean_line(raw: &str, flavor: Flavor) -> Cow<'_, str> {
    let mut line = Cow::Borrowed(raw);
    if line.bytes().any(|b| b < 0x20 && b != b'\t')
        || (matches!(flavor, Flavor::V2 | Flavor::V2WholeIds) && line.contains('['))
    {
        line = Cow::Owned(strip_escapes(
            &line,
            matches!(flavor, Flavor::V2 | Flavor::V2WholeIds),
        ));
    }
    if flavor == Flavor::Matplotlib && line.contains("MouseButton.") {
        line = Cow::Owned(
            line.replace("MouseButton.LEFT", "1")
                .replace("MouseButton.RIGHT", "3"),
        );
    }
    line
}

/// Drops ANSI CSI sequences (`ESC [ params letter`) and other control characters except tab.
/// With `remnants`, also drops `[<digits>m` written without its escape, as logs that went
/// through a tool which removed only the escape byte show.
fn strip_escapes(line: &str, remnants: bool) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\x1b' {
            if let Some(&(_, '[')) = chars.peek() {
                chars.next();
                // parameters and intermediates, then one final byte in @..~
                while let Some(&(_, p)) = chars.peek() {
                    chars.next();
                    if ('@'..='~').contains(&p) && p != '[' {
                        break;
                    }
                }
            }
            continue;
        }
        if remnants && c == '[' {
            let rest = &line[i + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 && rest.as_bytes().get(digits) == Some(&b'm') {
                for _ in 0..=digits {
                    chars.next();
                }
                continue;
            }
        }
        if (c as u32) < 0x20 && c != '\t' {
            continue;
        }
        out.push(c);
    }
    out
}

fn read_line(line: &str, flavor: Flavor, st: &mut State) {
    let mut tokens = py_split(line);
    let Some(first) = tokens.next() else {
        return;
    };
    if let Some(status) = status_word(first).filter(|_| line.starts_with(first)) {
        // `STATUS name[ - message]` (at the start of the line: indented text is output)
        let rest =
            line.trim_start_matches(is_py_space)[first.len()..].trim_start_matches(is_py_space);
        let Some(key) = tokens.next() else {
            return;
        };
        if key.starts_with('[') && strip_progress(line.trim_end_matches(is_py_space)) == first {
            // `PASSED        [100%]`: the status of the test whose line the live log split
            if let Some(test) = st.pending.take() {
                st.map.insert(test, status);
            }
            if key == PROGRESS_ARTEFACT {
                st.map.insert(key.to_string(), status);
            }
            return;
        }
        if key.starts_with(['[', '(']) {
            // `SKIPPED [2] file.py:12: reason`, unittest's `FAILED (failures=1)`
            return;
        }
        if flavor == Flavor::V2WholeIds {
            let rest = match status {
                TestStatus::Failed => rest.split(" - ").next().unwrap_or(rest),
                _ => rest,
            };
            let name = py_split(rest).collect::<Vec<_>>().join(" ");
            st.map.insert(name, status);
            return;
        }
        let full = full_name(rest, key);
        record(st, flavor, key, full, status);
        return;
    }
    // `path::name[ params] STATUS[ [ 50%]]`: verbose output. Only node ids (with `::`) count.
    if !first.contains("::") {
        return;
    }
    if tokens.next().is_none() {
        // `path::name` alone: its status follows the live log
        st.pending = Some(spell(first, flavor).into_owned());
        return;
    }
    let body = strip_progress(line.trim_end_matches(is_py_space));
    let Some((name, word)) = body.rsplit_once(is_py_space) else {
        return;
    };
    let Some(status) = status_word(word) else {
        return;
    };
    let name = name.trim_matches(is_py_space);
    if name.is_empty() {
        return;
    }
    st.pending = None;
    record(st, flavor, first, name, status);
}

/// `… PASSED [ 50%]` → `… PASSED`.
fn strip_progress(line: &str) -> &str {
    let Some(body) = line.strip_suffix("%]") else {
        return line;
    };
    let Some(open) = body.rfind('[') else {
        return line;
    };
    let inner = body[open + 1..].trim_start();
    if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_digit()) {
        return line;
    }
    body[..open].trim_end_matches(is_py_space)
}

/// The whole name of a test whose parameters contain whitespace. `rest` is the line after the
/// status word, `key` its first token. A name with parameters ends at the `]` that closes its
/// first `[`, when that `]` ends the line or precedes ` - message`.
fn full_name<'a>(rest: &'a str, key: &'a str) -> &'a str {
    let Some(open) = key.find('[') else {
        return key;
    };
    if key.len() == rest.len() {
        return key;
    }
    let mut depth = 0i32;
    for (i, c) in rest.char_indices().skip_while(|&(i, _)| i < open) {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    let after = &rest[i + 1..];
                    if after.trim_matches(is_py_space).is_empty() || after.starts_with(" - ") {
                        return &rest[..i + 1];
                    }
                }
                if depth < 0 {
                    break;
                }
            }
            _ => {}
        }
    }
    // Unbalanced parameters: everything up to the message, if any.
    match rest.find(" - ") {
        Some(end) if end >= key.len() => rest[..end].trim_end_matches(is_py_space),
        _ => {
            let t = rest.trim_end_matches(is_py_space);
            if t.len() >= key.len() { t } else { key }
        }
    }
}

fn record(st: &mut State, flavor: Flavor, key: &str, full: &str, status: TestStatus) {
    let key = spell(key, flavor).into_owned();
    if full != key && full.len() > key.len() {
        let full = spell(full, flavor).into_owned();
        let members = st.cut.entry(key.clone()).or_default();
        match members.iter_mut().find(|(f, _)| *f == full) {
            Some(m) => m.1 = status,
            None => members.push((full.clone(), status)),
        }
        st.map.insert(full, status);
    }
    st.map.insert(key, status);
}

/// The flavour's spelling of a name (requests and pylint: `[/abs/dir/file]` → `[/file]`).
fn spell(name: &str, flavor: Flavor) -> Cow<'_, str> {
    if flavor != Flavor::Options {
        return Cow::Borrowed(name);
    }
    let (Some(open), Some(close)) = (name.find('['), name.rfind(']')) else {
        return Cow::Borrowed(name);
    };
    if close < open {
        return Cow::Borrowed(name);
    }
    let main = &name[..open];
    let option = &name[open + 1..close];
    let option = if option.starts_with('/') && !option.starts_with("//") && !option.contains('*') {
        format!("/{}", option.rsplit('/').next().unwrap_or(""))
    } else {
        option.to_string()
    };
    Cow::Owned(format!("{main}[{option}]"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use TestStatus::*;

    fn p(log: &str) -> StatusMap {
        parse(log, Flavor::Plain)
    }

    #[test]
    fn reads_short_summary() {
        // astropy__astropy-12907 (short summary of a failing run)
        let log = "=========================== short test summary info ============================\n\
PASSED astropy/modeling/tests/test_separable.py::test_coord_matrix\n\
PASSED astropy/modeling/tests/test_separable.py::test_separable[compound_model0-result0]\n\
FAILED astropy/modeling/tests/test_separable.py::test_separable[compound_model6-result6] - AssertionError: assert False\n\
XFAIL tests/test_a.py::test_z\n\
ERROR tests/test_b.py::test_w[a-1] - ValueError\n";
        let m = p(log);
        assert_eq!(
            m["astropy/modeling/tests/test_separable.py::test_coord_matrix"],
            Passed
        );
        assert_eq!(
            m["astropy/modeling/tests/test_separable.py::test_separable[compound_model0-result0]"],
            Passed
        );
        assert_eq!(
            m["astropy/modeling/tests/test_separable.py::test_separable[compound_model6-result6]"],
            Failed
        );
        assert_eq!(m["tests/test_a.py::test_z"], Xfail);
        assert_eq!(m["tests/test_b.py::test_w[a-1]"], Error);
        assert_eq!(m.len(), 5);
    }

    #[test]
    fn progress_marker_and_skip_counts_are_not_tests() {
        let log = "PASSED                                   [ 33%]\n\
SKIPPED [1] testing/test_foo.py:12: needs numpy\n\
SKIPPED [10] ../../opt/x.py:3: no\n\
ERRORS\n\
FAILED (failures=1)\n\
ERROR: file not found: x\n";
        assert!(p(log).is_empty(), "{:?}", p(log));
    }

    #[test]
    fn progress_line_gives_its_status_to_the_test_the_live_log_split() {
        // pytest-dev__pytest-5262: an inner verbose run with live logging
        let log = "test_global_capture_with_live_logging.py::test_global \n\
-------------------------------- live log setup --------------------------------\n\
INFO     root:test_global_capture_with_live_logging.py:10 fix setup\n\
-------------------------------- live log call ---------------------------------\n\
INFO     root:test_global_capture_with_live_logging.py:17 something in test\n\
PASSED                                                                   [100%]\n\
------------------------------ live log teardown -------------------------------\n";
        let m = p(log);
        assert_eq!(
            m["test_global_capture_with_live_logging.py::test_global"],
            Passed
        );
        // the dataset's spelling of the official misreading, and nothing else
        assert_eq!(m[PROGRESS_ARTEFACT], Passed);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn status_after_the_name_with_and_without_progress() {
        // astropy__astropy-7166 (`-o console_output_style=classic`) and a default verbose run
        let log = "astropy/utils/tests/test_misc.py::test_isiterable PASSED\n\
astropy/utils/tests/test_misc.py::test_signal_number_to_name_no_failure PASSED\n\
testing/test_x.py::test_y FAILED                                          [ 50%]\n\
testing/test_x.py::test_p[a b] XFAIL [100%]\n\
collected 5 items PASSED\n";
        let m = p(log);
        assert_eq!(
            m["astropy/utils/tests/test_misc.py::test_isiterable"],
            Passed
        );
        assert_eq!(
            m["astropy/utils/tests/test_misc.py::test_signal_number_to_name_no_failure"],
            Passed
        );
        assert_eq!(m["testing/test_x.py::test_y"], Failed);
        assert_eq!(m["testing/test_x.py::test_p[a b]"], Xfail);
        assert_eq!(m["testing/test_x.py::test_p[a"], Xfail);
        assert_eq!(m.len(), 5);
    }

    #[test]
    fn names_with_spaces_and_brackets() {
        // sphinx-doc__sphinx-7462 and matplotlib__matplotlib-23314
        let log = "PASSED tests/test_pycode_ast.py::test_unparse[a + b-a + b]\n\
PASSED tests/test_pycode_ast.py::test_unparse[Tuple[int, int]-Tuple[int, int]]\n\
PASSED lib/matplotlib/tests/test_axes.py::test_axis_errors[TypeError-args0-kwargs0-axis\\\\(\\\\) takes 0 or 1 positional arguments but 2 were given]\n\
FAILED tests/test_x.py::test_y[x - y] - assert 1 == 2\n";
        let m = p(log);
        assert_eq!(
            m["tests/test_pycode_ast.py::test_unparse[a + b-a + b]"],
            Passed
        );
        assert_eq!(m["tests/test_pycode_ast.py::test_unparse[a"], Passed);
        assert_eq!(
            m["tests/test_pycode_ast.py::test_unparse[Tuple[int, int]-Tuple[int, int]]"],
            Passed
        );
        assert_eq!(
            m["tests/test_pycode_ast.py::test_unparse[Tuple[int,"],
            Passed
        );
        assert_eq!(
            m["lib/matplotlib/tests/test_axes.py::test_axis_errors[TypeError-args0-kwargs0-axis\\\\(\\\\)"],
            Passed
        );
        assert_eq!(
            m["lib/matplotlib/tests/test_axes.py::test_axis_errors[TypeError-args0-kwargs0-axis\\\\(\\\\) takes 0 or 1 positional arguments but 2 were given]"],
            Passed
        );
        assert_eq!(m["tests/test_x.py::test_y[x - y]"], Failed);
        assert_eq!(m["tests/test_x.py::test_y[x"], Failed);
    }

    #[test]
    fn a_cut_name_fails_when_any_test_it_stands_for_failed() {
        // scikit-learn__scikit-learn-25232: two tests cut to the same dataset name
        let log = "FAILED sklearn/impute/tests/test_impute.py::test_inconsistent_dtype_X_missing_values[NaN-nan-Input X contains NaN-IterativeImputer] - AssertionError: Regex pattern did not match.\n\
PASSED sklearn/impute/tests/test_impute.py::test_inconsistent_dtype_X_missing_values[NaN-nan-Input X contains NaN-SimpleImputer]\n";
        let m = p(log);
        let cut = "sklearn/impute/tests/test_impute.py::test_inconsistent_dtype_X_missing_values[NaN-nan-Input";
        assert_eq!(m[cut], Failed);
        assert_eq!(m[&format!("{cut} X contains NaN-SimpleImputer]")], Passed);
        // the same test read twice (verbose line, then summary): the last line wins
        let log = "tests/a.py::t[x y] FAILED [ 50%]\nPASSED tests/a.py::t[x y]\n";
        assert_eq!(p(log)["tests/a.py::t[x"], Passed);
    }

    #[test]
    fn last_line_wins() {
        let log = "tests/a.py::t PASSED\nFAILED tests/a.py::t - boom\n";
        assert_eq!(p(log)["tests/a.py::t"], Failed);
    }

    #[test]
    fn colours_are_removed() {
        // sphinx-doc__sphinx-8459 (tox keeps pytest's colours)
        let log = "\x1b[32mPASSED\x1b[0m tests/test_ext_autodoc_configs.py::\x1b[1mtest_autodoc_typehints_description_for_invalid_node\x1b[0m\n\
\x1b[31mFAILED\x1b[0m tests/test_ext_autodoc_configs.py::\x1b[1mtest_autoclass_content_class\x1b[0m - AssertionError: assert ['', '.. py:m..., '', '', ...] == ['', '.. py:m...co...\n\
[32mPASSED[0m tests/test_util.py::[1mtest_x[0m\n";
        let m = parse(log, Flavor::V2);
        assert_eq!(
            m["tests/test_ext_autodoc_configs.py::test_autodoc_typehints_description_for_invalid_node"],
            Passed
        );
        assert_eq!(
            m["tests/test_ext_autodoc_configs.py::test_autoclass_content_class"],
            Failed
        );
        assert_eq!(m["tests/test_util.py::test_x"], Passed);
        // Escapes are removed in every flavour; `[32m` remnants only in V2's.
        let m = p(log);
        assert_eq!(
            m["tests/test_ext_autodoc_configs.py::test_autoclass_content_class"],
            Failed
        );
        assert!(!m.contains_key("tests/test_util.py::test_x"));
    }

    #[test]
    fn options_flavour_shortens_path_parameters() {
        // psf__requests-6028
        let log = "PASSED tests/test_utils.py::TestExtractZippedPaths::test_unzipped_paths_unchanged[/]\n\
PASSED tests/test_utils.py::TestExtractZippedPaths::test_unzipped_paths_unchanged[/testbed/tests/test_utils.py]\n\
PASSED tests/test_x.py::test_y[//double]\n";
        let m = parse(log, Flavor::Options);
        let base = "tests/test_utils.py::TestExtractZippedPaths::test_unzipped_paths_unchanged";
        assert_eq!(m[&format!("{base}[/test_utils.py]")], Passed);
        assert_eq!(m[&format!("{base}[/]")], Passed);
        assert_eq!(m["tests/test_x.py::test_y[//double]"], Passed);
    }

    #[test]
    fn matplotlib_mouse_buttons() {
        // matplotlib__matplotlib-25442 style parametrisation
        let log = "PASSED lib/matplotlib/tests/test_widgets.py::test_span_selector_drag[MouseButton.LEFT-True]\n";
        let m = parse(log, Flavor::Matplotlib);
        assert_eq!(
            m["lib/matplotlib/tests/test_widgets.py::test_span_selector_drag[1-True]"],
            Passed
        );
    }

    #[test]
    fn seaborn_log() {
        // mwaskom__seaborn-3069
        let log = "PASSED tests/_core/test_plot.py::TestInit::test_empty\n\
FAILED tests/_core/test_plot.py::TestLayerAddition::test_without_data - panda...\n\
FAILED tests/_core/test_plot.py::TestLayerAddition::test_with_new_variable_by_name\n";
        let m = parse(log, Flavor::Seaborn);
        assert_eq!(m["tests/_core/test_plot.py::TestInit::test_empty"], Passed);
        assert_eq!(
            m["tests/_core/test_plot.py::TestLayerAddition::test_without_data"],
            Failed
        );
        assert_eq!(
            m["tests/_core/test_plot.py::TestLayerAddition::test_with_new_variable_by_name"],
            Failed
        );
        assert_eq!(m.len(), 3);
    }
}
