//! Repair output: SEARCH/REPLACE blocks parsed from a model's reply, applied to the localized
//! files, and turned into a unified diff in `git diff` form.
//!
//! ```text
//! ### romanum/convert.py
//! <<<<<<< SEARCH
//!     if not MIN_VALUE <= number < MAX_VALUE:
//! =======
//!     if not MIN_VALUE <= number <= MAX_VALUE:
//! >>>>>>> REPLACE
//! ```

use std::collections::BTreeMap;

use super::skeleton;

/// One search/replace edit of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// Relative to the repository root.
    pub path: String,
    pub search: String,
    pub replace: String,
}

/// A repository path as written by a model: `/testbed/` and `./` prefixes dropped.
pub fn clean_path(p: &str) -> String {
    let p = p.trim();
    let p = p.strip_prefix("/testbed/").unwrap_or(p);
    p.trim_start_matches("./").to_string()
}

/// Extensions of files a repair may name; other dotted words (`self.value`) are not paths.
const FILE_EXTENSIONS: &[&str] = &[
    "py", "pyi", "pyx", "cfg", "toml", "ini", "txt", "rst", "md", "json", "yaml", "yml", "c", "h",
];

/// The file path a line names, if any: its last word that looks like a path with an extension
/// (`### a/b.py`, `File: a/b.py`, `` `a/b.py` ``, `a/b.py:`).
fn path_in_line(line: &str) -> Option<String> {
    line.split_whitespace().rev().find_map(|w| {
        let w = w
            .trim_matches(|c: char| "`*'\":,()[]".contains(c))
            .trim_end_matches('.');
        let ok = !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
            && w.rsplit_once('.').is_some_and(|(stem, ext)| {
                !stem.is_empty() && !stem.ends_with('/') && FILE_EXTENSIONS.contains(&ext)
            });
        ok.then(|| clean_path(w))
    })
}

fn is_marker(line: &str, prefix: &str) -> bool {
    line.trim_end().starts_with(prefix)
}

/// Parses every SEARCH/REPLACE block of a reply. A block's file is the last path named on a
/// line before it; where none is named, `default_path` (the only
/// localized file) is used. Errors name the first malformed block.
pub fn parse(reply: &str, default_path: Option<&str>) -> Result<Vec<Edit>, String> {
    let lines: Vec<&str> = reply.lines().collect();
    let mut edits = Vec::new();
    let mut path: Option<String> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if !is_marker(line, "<<<<<<<") {
            if let Some(p) = path_in_line(line) {
                path = Some(p);
            }
            i += 1;
            continue;
        }
        let n = edits.len() + 1;
        let mut search = Vec::new();
        i += 1;
        while i < lines.len() && lines[i].trim_end() != "=======" {
            if is_marker(lines[i], ">>>>>>>") || is_marker(lines[i], "<<<<<<<") {
                return Err(format!("block {n} has no ======= divider"));
            }
            search.push(lines[i]);
            i += 1;
        }
        if i == lines.len() {
            return Err(format!("block {n} has no ======= divider"));
        }
        let mut replace = Vec::new();
        i += 1;
        while i < lines.len() && !is_marker(lines[i], ">>>>>>>") {
            if is_marker(lines[i], "<<<<<<<") || lines[i].trim_end() == "=======" {
                return Err(format!("block {n} is not closed by >>>>>>> REPLACE"));
            }
            replace.push(lines[i]);
            i += 1;
        }
        if i == lines.len() {
            return Err(format!("block {n} is not closed by >>>>>>> REPLACE"));
        }
        i += 1;
        // The path stays in force for the blocks after it until another is named.
        let file = match path.clone().or_else(|| default_path.map(str::to_string)) {
            Some(f) => f,
            None => return Err(format!("block {n} names no file")),
        };
        let join = |v: Vec<&str>| {
            if v.is_empty() {
                String::new()
            } else {
                v.join("\n") + "\n"
            }
        };
        edits.push(Edit {
            path: file,
            search: join(search),
            replace: join(replace),
        });
    }
    if edits.is_empty() {
        return Err("no SEARCH/REPLACE block in the reply".into());
    }
    Ok(edits)
}

/// Replaces the first occurrence of `search` in `text`: exactly, or else line by line with
/// trailing whitespace ignored (small models often drop it). `None` when it does not occur.
fn replace_once(text: &str, search: &str, replace: &str) -> Option<String> {
    if let Some(at) = text.find(search) {
        return Some(format!(
            "{}{replace}{}",
            &text[..at],
            &text[at + search.len()..]
        ));
    }
    let want: Vec<&str> = search.lines().map(str::trim_end).collect();
    let have: Vec<&str> = text.split_inclusive('\n').collect();
    if want.is_empty() || want.len() > have.len() {
        return None;
    }
    let start = (0..=have.len() - want.len()).find(|&s| {
        want.iter()
            .zip(&have[s..s + want.len()])
            .all(|(w, h)| h.trim_end() == *w)
    })?;
    let mut out: String = have[..start].concat();
    out.push_str(replace);
    out.push_str(&have[start + want.len()..].concat());
    Some(out)
}

/// Applies edits to `files` (path → contents). Every edit must be in one of `allowed` (the
/// localized files), find its SEARCH text, and leave every edited Python file parseable; the
/// result must change something. Returns the edited files' new contents, or why not.
pub fn apply(
    files: &BTreeMap<String, String>,
    edits: &[Edit],
    allowed: &[String],
) -> Result<BTreeMap<String, String>, String> {
    let mut edited: BTreeMap<String, String> = BTreeMap::new();
    for (n, e) in edits.iter().enumerate() {
        let n = n + 1;
        if !allowed.contains(&e.path) {
            return Err(format!(
                "edit {n} is outside the localized files: {} (localized: {})",
                e.path,
                allowed.join(", ")
            ));
        }
        if e.search.trim().is_empty() {
            return Err(format!("edit {n} of {} has an empty SEARCH text", e.path));
        }
        let current = match edited.get(&e.path).or_else(|| files.get(&e.path)) {
            Some(t) => t,
            None => return Err(format!("edit {n}: {} could not be read", e.path)),
        };
        let Some(next) = replace_once(current, &e.search, &e.replace) else {
            return Err(format!("edit {n}: the SEARCH text is not in {}", e.path));
        };
        edited.insert(e.path.clone(), next);
    }
    edited.retain(|p, t| files.get(p) != Some(t));
    if edited.is_empty() {
        return Err("the edits change nothing".into());
    }
    for (path, text) in &edited {
        if path.ends_with(".py")
            && let Some(err) = skeleton::syntax_error(text)
            && skeleton::syntax_error(&files[path]).is_none()
        {
            return Err(format!(
                "{path} does not parse as Python after the edit: {err}"
            ));
        }
    }
    Ok(edited)
}

/// A unified diff of changed files in `git diff` form, by the one writer
/// (`protege_patch::write`): a file that did not exist before is a new file (`/dev/null`).
pub fn diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> String {
    // Only the files edited are diffed; one `before` holds but `after` lacks is not deleted.
    let before: BTreeMap<String, String> = before
        .iter()
        .filter(|(p, _)| after.contains_key(*p))
        .map(|(p, c)| (p.clone(), c.clone()))
        .collect();
    protege_patch::write::tree_diff(&before, after)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "MAX = 3999\n\n\ndef to_roman(n):\n    if not 1 <= n < MAX:\n        raise ValueError(n)\n    return 'I' * n\n";

    fn files() -> BTreeMap<String, String> {
        [("pkg/convert.py".to_string(), FILE.to_string())].into()
    }

    #[test]
    fn parses_blocks_with_their_paths() {
        let reply = "The bound is off by one.\n\n```python\n### pkg/convert.py\n<<<<<<< SEARCH\n    if not 1 <= n < MAX:\n=======\n    if not 1 <= n <= MAX:\n>>>>>>> REPLACE\n```\nFile: `/testbed/pkg/other.py`\n<<<<<<< SEARCH\nx = 1\n=======\n>>>>>>> REPLACE\n";
        let e = parse(reply, None).unwrap();
        assert_eq!(
            e,
            vec![
                Edit {
                    path: "pkg/convert.py".into(),
                    search: "    if not 1 <= n < MAX:\n".into(),
                    replace: "    if not 1 <= n <= MAX:\n".into()
                },
                Edit {
                    path: "pkg/other.py".into(),
                    search: "x = 1\n".into(),
                    replace: String::new()
                },
            ]
        );
    }

    #[test]
    fn malformed_and_empty_replies_are_errors_not_panics() {
        assert_eq!(
            parse("", None).unwrap_err(),
            "no SEARCH/REPLACE block in the reply"
        );
        assert_eq!(
            parse("I would change the bound.", Some("a.py")).unwrap_err(),
            "no SEARCH/REPLACE block in the reply"
        );
        assert_eq!(
            parse("a.py\n<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n", None).unwrap_err(),
            "block 1 has no ======= divider"
        );
        assert_eq!(
            parse("a.py\n<<<<<<< SEARCH\nx\n=======\ny\n", None).unwrap_err(),
            "block 1 is not closed by >>>>>>> REPLACE"
        );
        assert_eq!(
            parse("<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE", None).unwrap_err(),
            "block 1 names no file"
        );
        let e = parse(
            "<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE",
            Some("a.py"),
        )
        .unwrap();
        assert_eq!(e[0].path, "a.py", "the only localized file is the default");
        assert!(parse("<<<<<<<\n=======\n>>>>>>>", Some("a.py")).is_ok());
        for garbage in [
            "=======",
            ">>>>>>> REPLACE",
            "<<<<<<< SEARCH",
            "\u{0}\u{ffff}<<<<<<<",
        ] {
            assert!(parse(garbage, Some("a.py")).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn applies_and_diffs_in_git_form() {
        let edits = parse(
            "pkg/convert.py\n<<<<<<< SEARCH\n    if not 1 <= n < MAX:\n=======\n    if not 1 <= n <= MAX:\n>>>>>>> REPLACE\n",
            None,
        )
        .unwrap();
        let after = apply(&files(), &edits, &["pkg/convert.py".into()]).unwrap();
        let d = diff(&files(), &after);
        assert_eq!(
            d,
            "diff --git a/pkg/convert.py b/pkg/convert.py\n--- a/pkg/convert.py\n+++ b/pkg/convert.py\n@@ -2,6 +2,6 @@\n \n \n def to_roman(n):\n-    if not 1 <= n < MAX:\n+    if not 1 <= n <= MAX:\n         raise ValueError(n)\n     return 'I' * n\n"
        );
    }

    #[test]
    fn trailing_whitespace_is_forgiven_but_content_is_not() {
        let e = vec![Edit {
            path: "pkg/convert.py".into(),
            search: "def to_roman(n):   \n    if not 1 <= n < MAX:\n".into(),
            replace: "def to_roman(n):\n    if not 1 <= n <= MAX:\n".into(),
        }];
        let after = apply(&files(), &e, &["pkg/convert.py".into()]).unwrap();
        assert!(after["pkg/convert.py"].contains("<= n <= MAX"));
        let e = vec![Edit {
            search: "    if not 0 <= n < MAX:\n".into(),
            ..e[0].clone()
        }];
        assert_eq!(
            apply(&files(), &e, &["pkg/convert.py".into()]).unwrap_err(),
            "edit 1: the SEARCH text is not in pkg/convert.py"
        );
    }

    #[test]
    fn edits_outside_localized_files_no_ops_and_syntax_errors_are_refused() {
        let allowed = ["pkg/convert.py".to_string()];
        let outside = vec![Edit {
            path: "setup.py".into(),
            search: "x".into(),
            replace: "y".into(),
        }];
        assert!(
            apply(&files(), &outside, &allowed)
                .unwrap_err()
                .starts_with("edit 1 is outside the localized files: setup.py")
        );
        let noop = vec![Edit {
            path: "pkg/convert.py".into(),
            search: "MAX = 3999\n".into(),
            replace: "MAX = 3999\n".into(),
        }];
        assert_eq!(
            apply(&files(), &noop, &allowed).unwrap_err(),
            "the edits change nothing"
        );
        let empty = vec![Edit {
            search: "\n".into(),
            ..noop[0].clone()
        }];
        assert!(
            apply(&files(), &empty, &allowed)
                .unwrap_err()
                .contains("empty SEARCH")
        );
        let broken = vec![Edit {
            path: "pkg/convert.py".into(),
            search: "    if not 1 <= n < MAX:\n".into(),
            replace: "    if not (1 <= n < MAX:\n".into(),
        }];
        let err = apply(&files(), &broken, &allowed).unwrap_err();
        assert!(
            err.starts_with("pkg/convert.py does not parse as Python after the edit: line "),
            "{err}"
        );
    }

    /// The diff is accepted by `git apply` in a real repository.
    #[test]
    fn git_apply_accepts_the_diff() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("git runs")
        };
        if !git(&["--version"]).status.success() {
            eprintln!("SKIPPED: no git");
            return;
        }
        std::fs::create_dir_all(dir.path().join("pkg")).unwrap();
        std::fs::write(dir.path().join("pkg/convert.py"), FILE).unwrap();
        assert!(git(&["init", "-q"]).status.success());
        let edits = parse(
            "### pkg/convert.py\n<<<<<<< SEARCH\n    return 'I' * n\n=======\n    return 'I' * n  # naive\n>>>>>>> REPLACE\n<<<<<<< SEARCH\nMAX = 3999\n=======\nMAX = 4000\n>>>>>>> REPLACE\n",
            Some("pkg/convert.py"),
        )
        .unwrap();
        let after = apply(&files(), &edits, &["pkg/convert.py".into()]).unwrap();
        std::fs::write(dir.path().join("p.diff"), diff(&files(), &after)).unwrap();
        let o = git(&["apply", "--verbose", "p.diff"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("pkg/convert.py")).unwrap(),
            after["pkg/convert.py"]
        );
    }
}
