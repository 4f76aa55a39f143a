//! What the localization and validation stages see of the repository: its Python files, split
//! into source files (candidates for editing) and test files, read through the sandbox.

use std::collections::BTreeMap;
use std::time::Duration;

use protege_sandboxes::{ExecOptions, Sandbox};

/// Directories never searched: version control, build output, virtual environments, vendored
/// code and caches.
const SKIP_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".tox",
    ".nox",
    ".venv",
    "venv",
    "env",
    "build",
    "dist",
    "node_modules",
    "site-packages",
    "vendor",
    "vendored",
    "_vendor",
    "third_party",
    "externals",
    "__pycache__",
    ".eggs",
    ".mypy_cache",
    ".pytest_cache",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Source,
    Test,
    Skip,
}

/// Where a repository-relative path belongs.
pub fn classify(path: &str) -> Class {
    let parts: Vec<&str> = path.split('/').collect();
    let (dirs, file) = parts.split_at(parts.len() - 1);
    if dirs
        .iter()
        .any(|d| SKIP_DIRS.contains(d) || d.ends_with(".egg-info"))
        || !file[0].ends_with(".py")
    {
        return Class::Skip;
    }
    let file = file[0];
    let test_dir = dirs
        .iter()
        .any(|d| matches!(*d, "tests" | "test" | "testing" | "unittests"));
    if test_dir || file.starts_with("test_") || file.ends_with("_test.py") || file == "conftest.py"
    {
        Class::Test
    } else {
        Class::Source
    }
}

/// The repository's Python files and their contents.
#[derive(Debug, Default, Clone)]
pub struct Repo {
    /// Source files (relative paths), sorted.
    pub sources: Vec<String>,
    /// Test files (relative paths), sorted.
    pub tests: Vec<String>,
    pub contents: BTreeMap<String, String>,
    /// Files left out (too large, unreadable, over the count limit).
    pub skipped: Vec<String>,
}

impl Repo {
    /// Builds a repository view from files already read (tests, and the stage functions).
    pub fn from_files(files: impl IntoIterator<Item = (String, String)>) -> Repo {
        let mut r = Repo::default();
        for (path, text) in files {
            match classify(&path) {
                Class::Source => r.sources.push(path.clone()),
                Class::Test => r.tests.push(path.clone()),
                Class::Skip => continue,
            }
            r.contents.insert(path, text);
        }
        r.sources.sort();
        r.tests.sort();
        r
    }

    /// Lists `/testbed`'s Python files with `find` (which both sandboxes run) and reads them.
    pub async fn load(
        ws: &dyn Sandbox,
        max_files: usize,
        max_bytes: usize,
        timeout: Duration,
    ) -> Result<Repo, String> {
        let out = ws
            .exec(
                "find /testbed -type f -name '*.py'",
                &ExecOptions::with_timeout(timeout),
            )
            .await
            .map_err(|e| format!("listing the repository: {e}"))?;
        if !out.success() {
            return Err(format!(
                "listing the repository failed: {}",
                out.output.chars().take(500).collect::<String>()
            ));
        }
        let mut paths: Vec<String> = out
            .output
            .lines()
            .filter_map(|l| l.trim().strip_prefix("/testbed/"))
            .filter(|p| classify(p) != Class::Skip)
            .map(str::to_string)
            .collect();
        paths.sort();
        paths.dedup();
        let mut files = Vec::new();
        let mut skipped = Vec::new();
        for p in paths {
            if files.len() >= max_files {
                skipped.push(p);
                continue;
            }
            match ws.read_file(&format!("/testbed/{p}")).await {
                Ok(bytes) if bytes.len() <= max_bytes => match String::from_utf8(bytes) {
                    Ok(t) => files.push((p, t)),
                    Err(_) => skipped.push(p),
                },
                _ => skipped.push(p),
            }
        }
        let mut repo = Repo::from_files(files);
        repo.skipped = skipped;
        Ok(repo)
    }

    /// The number of lines of a file (0 when unknown).
    pub fn line_count(&self, path: &str) -> usize {
        self.contents.get(path).map_or(0, |t| t.lines().count())
    }
}

/// The source files as an indented tree, as a person would sketch the repository.
pub fn render_tree(paths: &[String]) -> String {
    let mut sorted: Vec<&String> = paths.iter().collect();
    sorted.sort();
    let mut out = String::new();
    let mut open: Vec<&str> = Vec::new();
    for p in sorted {
        let parts: Vec<&str> = p.split('/').collect();
        let dirs = &parts[..parts.len() - 1];
        let common = open.iter().zip(dirs).take_while(|(a, b)| a == b).count();
        open.truncate(common);
        for d in &dirs[common..] {
            out.push_str(&format!("{}{d}/\n", "  ".repeat(open.len())));
            open.push(d);
        }
        out.push_str(&format!(
            "{}{}\n",
            "  ".repeat(open.len()),
            parts[parts.len() - 1]
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify("romanum/convert.py"), Class::Source);
        assert_eq!(classify("setup.py"), Class::Source);
        assert_eq!(classify("tests/test_convert.py"), Class::Test);
        assert_eq!(classify("pkg/tests/helpers.py"), Class::Test);
        assert_eq!(classify("pkg/test_x.py"), Class::Test);
        assert_eq!(classify("conftest.py"), Class::Test);
        assert_eq!(classify("build/lib/pkg/x.py"), Class::Skip);
        assert_eq!(classify(".git/hooks/x.py"), Class::Skip);
        assert_eq!(classify("pkg/_vendor/six.py"), Class::Skip);
        assert_eq!(classify("pkg.egg-info/x.py"), Class::Skip);
        assert_eq!(classify("README.md"), Class::Skip);
    }

    #[test]
    fn tree_rendering() {
        let t = render_tree(&[
            "setup.py".into(),
            "pkg/b.py".into(),
            "pkg/a.py".into(),
            "pkg/sub/c.py".into(),
            "other/d.py".into(),
        ]);
        assert_eq!(
            t,
            "other/\n  d.py\npkg/\n  a.py\n  b.py\n  sub/\n    c.py\nsetup.py\n"
        );
    }

    #[test]
    fn from_files_splits_sources_and_tests() {
        let r = Repo::from_files([
            ("tests/test_a.py".to_string(), "x".to_string()),
            ("a.py".to_string(), "y\nz\n".to_string()),
            ("notes.txt".to_string(), "n".to_string()),
        ]);
        assert_eq!(r.sources, vec!["a.py"]);
        assert_eq!(r.tests, vec!["tests/test_a.py"]);
        assert_eq!(r.line_count("a.py"), 2);
        assert!(!r.contents.contains_key("notes.txt"));
    }
}
