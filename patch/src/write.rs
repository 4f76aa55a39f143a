//! Writing unified diffs in `git diff` form (`diff --git a/P b/P`, `new file mode` and
//! `/dev/null` for created and deleted files, three lines of context), which `git apply`,
//! `patch -p1` and this crate's own applier accept. The one writer for every tree protege
//! diffs without git: WASI workspaces and Agentless's edited files.

use std::collections::{BTreeMap, BTreeSet};

/// The diff from `base` to `now`, path → contents (text files; others are named only).
pub fn tree_diff<C: AsRef<[u8]> + PartialEq>(
    base: &BTreeMap<String, C>,
    now: &BTreeMap<String, C>,
) -> String {
    let mut out = String::new();
    let paths: BTreeSet<&String> = base.keys().chain(now.keys()).collect();
    for path in paths {
        let (old, new) = (base.get(path), now.get(path));
        if old == new {
            continue;
        }
        out.push_str(&format!("diff --git a/{path} b/{path}\n"));
        match (old, new) {
            (None, _) => out.push_str("new file mode 100644\n"),
            (_, None) => out.push_str("deleted file mode 100644\n"),
            _ => {}
        }
        let (Ok(o), Ok(n)) = (
            std::str::from_utf8(old.map_or(&[][..], |v| v.as_ref())),
            std::str::from_utf8(new.map_or(&[][..], |v| v.as_ref())),
        ) else {
            out.push_str(&format!("Binary files a/{path} and b/{path} differ\n"));
            continue;
        };
        let from = match old {
            Some(_) => format!("a/{path}"),
            None => "/dev/null".into(),
        };
        let to = match new {
            Some(_) => format!("b/{path}"),
            None => "/dev/null".into(),
        };
        out.push_str(&format!("--- {from}\n+++ {to}\n"));
        let diff = similar::TextDiff::from_lines(o, n);
        let mut unified = diff.unified_diff();
        unified.context_radius(3).missing_newline_hint(true);
        for hunk in unified.iter_hunks() {
            out.push_str(&hunk.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{ApplyOptions, apply_patch};

    fn tree(files: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        files
            .iter()
            .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn tree_diff_is_git_shaped_and_applies() {
        let base = tree(&[("a.py", "x = 1\ny = 2\n"), ("gone.py", "bye\n")]);
        let now = tree(&[("a.py", "x = 1\ny = 3\n"), ("new.py", "hello")]);
        let d = tree_diff(&base, &now);
        assert!(d.contains("diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1,2 +1,2 @@\n x = 1\n-y = 2\n+y = 3\n"), "{d}");
        assert!(d.contains("diff --git a/gone.py b/gone.py\ndeleted file mode 100644\n--- a/gone.py\n+++ /dev/null\n"), "{d}");
        assert!(d.contains("new file mode 100644\n--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+hello\n\\ No newline at end of file\n"), "{d}");
        assert_eq!(crate::check(&d).unwrap().len(), 3);
        assert!(tree_diff(&base, &base).is_empty());
        // And this crate's applier, on a directory holding `base`, reaches `now`.
        let dir = tempfile::tempdir().unwrap();
        for (p, c) in &base {
            std::fs::write(dir.path().join(p), c).unwrap();
        }
        apply_patch(dir.path(), &d, &ApplyOptions::default()).unwrap();
        for (p, c) in &now {
            assert_eq!(&std::fs::read(dir.path().join(p)).unwrap(), c, "{p}");
        }
        assert!(!dir.path().join("gone.py").exists());
    }

    #[test]
    fn binary_files_are_named_and_unchanged_ones_left_out() {
        let base: BTreeMap<String, Vec<u8>> = [
            ("b.bin".to_string(), vec![0xff, 0]),
            ("same.py".into(), b"s\n".to_vec()),
        ]
        .into();
        let now: BTreeMap<String, Vec<u8>> = [
            ("b.bin".to_string(), vec![0xfe, 0]),
            ("same.py".into(), b"s\n".to_vec()),
        ]
        .into();
        assert_eq!(
            tree_diff(&base, &now),
            "diff --git a/b.bin b/b.bin\nBinary files a/b.bin and b/b.bin differ\n"
        );
    }
}
