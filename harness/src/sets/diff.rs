//! Reversing a git unified diff: SWE-smith publishes the patch that *introduces* a bug; the fix
//! (the gold patch a policy is compared with, and what `--policy gold` submits) is its reverse.

/// The reverse of a git diff: what it adds is removed and the other way round, file creations
/// become deletions, renames and mode changes run backwards, and hunk headers swap their
/// ranges. Within each run of changed lines the (new) removals come before the additions, as
/// `git diff` writes them; `\ No newline at end of file` stays with its line.
pub fn reverse(patch: &str) -> String {
    let mut out = String::with_capacity(patch.len());
    let mut lines = patch.split_inclusive('\n').peekable();
    let mut in_hunk = false;
    // the pending `---` line of a file header, emitted when its `+++` line comes
    let mut minus: Option<String> = None;
    // a run of changed lines inside a hunk: (removals, additions), each line with its markers
    let mut removed = String::new();
    let mut added = String::new();
    let flush = |out: &mut String, removed: &mut String, added: &mut String| {
        out.push_str(removed);
        out.push_str(added);
        removed.clear();
        added.clear();
    };
    while let Some(line) = lines.next() {
        let (body, eol) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if in_hunk {
            match body.as_bytes().first() {
                Some(b'+') | Some(b'-') => {
                    let flipped = if body.starts_with('+') { '-' } else { '+' };
                    let mut text = format!("{flipped}{}{eol}", &body[1..]);
                    // the marker belongs to the line before it
                    if let Some(next) = lines.peek()
                        && next.starts_with('\\')
                    {
                        text.push_str(lines.next().expect("peeked"));
                    }
                    if flipped == '-' {
                        removed.push_str(&text);
                    } else {
                        added.push_str(&text);
                    }
                    continue;
                }
                // context (an empty line is context whose space was stripped)
                Some(b' ') | Some(b'\\') | None => {
                    flush(&mut out, &mut removed, &mut added);
                    out.push_str(line);
                    continue;
                }
                _ => {
                    flush(&mut out, &mut removed, &mut added);
                    in_hunk = false;
                }
            }
        }
        if let Some(rest) = body.strip_prefix("diff --git ") {
            out.push_str(&format!("diff --git {}{eol}", swap_git_paths(rest)));
        } else if let Some(range) = body.strip_prefix("@@ ") {
            in_hunk = true;
            out.push_str(&format!("@@ {}{eol}", swap_ranges(range)));
        } else if let Some(p) = body.strip_prefix("--- ") {
            minus = Some(p.to_string());
        } else if let Some(p) = body.strip_prefix("+++ ") {
            let old = minus.take().unwrap_or_default();
            out.push_str(&format!("--- {}{eol}", retag(p, "a/")));
            out.push_str(&format!("+++ {}{eol}", retag(&old, "b/")));
        } else if let Some(m) = body.strip_prefix("new file mode ") {
            out.push_str(&format!("deleted file mode {m}{eol}"));
        } else if let Some(m) = body.strip_prefix("deleted file mode ") {
            out.push_str(&format!("new file mode {m}{eol}"));
        } else if let Some(m) = body.strip_prefix("old mode ") {
            // `old mode` / `new mode` come as a pair: emit them swapped
            let next = lines.peek().copied().unwrap_or("");
            if let Some(n) = next.strip_prefix("new mode ") {
                let n = n.trim_end_matches('\n');
                lines.next();
                out.push_str(&format!("old mode {n}\nnew mode {m}{eol}"));
            } else {
                out.push_str(&format!("new mode {m}{eol}"));
            }
        } else if let Some(p) = body.strip_prefix("rename from ") {
            let next = lines.peek().copied().unwrap_or("");
            if let Some(to) = next.strip_prefix("rename to ") {
                let to = to.trim_end_matches('\n');
                lines.next();
                out.push_str(&format!("rename from {to}\nrename to {p}{eol}"));
            } else {
                out.push_str(line);
            }
        } else if let Some(ids) = body.strip_prefix("index ") {
            out.push_str(&format!("index {}{eol}", swap_index(ids)));
        } else {
            out.push_str(line);
        }
    }
    flush(&mut out, &mut removed, &mut added);
    if let Some(old) = minus {
        // a `---` line with no `+++` after it: keep it as it was
        out.push_str(&format!("--- {old}"));
    }
    out
}

/// `a/X b/Y` → `a/Y b/X` (the `b/` path starts after the last ` b/`, as git writes it).
fn swap_git_paths(rest: &str) -> String {
    match rest.strip_prefix("a/").and_then(|r| r.rsplit_once(" b/")) {
        Some((a, b)) => format!("a/{b} b/{a}"),
        None => rest.to_string(),
    }
}

/// `a/X` ↔ `b/X` on a `---` / `+++` path; `/dev/null` stays.
fn retag(path: &str, prefix: &str) -> String {
    let other = if prefix == "a/" { "b/" } else { "a/" };
    match path.strip_prefix(other) {
        Some(p) => format!("{prefix}{p}"),
        None => path.to_string(),
    }
}

/// `-1,3 +1,4 @@ ctx` → `-1,4 +1,3 @@ ctx`.
fn swap_ranges(range: &str) -> String {
    let Some((ranges, tail)) = range.split_once(" @@") else {
        return range.to_string();
    };
    let mut parts = ranges.split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(old), Some(new), None) if old.starts_with('-') && new.starts_with('+') => {
            format!("-{} +{} @@{tail}", &new[1..], &old[1..])
        }
        _ => range.to_string(),
    }
}

/// `abc..def 100644` → `def..abc 100644`.
fn swap_index(ids: &str) -> String {
    let (hashes, mode) = match ids.split_once(' ') {
        Some((h, m)) => (h, Some(m)),
        None => (ids, None),
    };
    let swapped = match hashes.split_once("..") {
        Some((a, b)) => format!("{b}..{a}"),
        None => hashes.to_string(),
    };
    match mode {
        Some(m) => format!("{swapped} {m}"),
        None => swapped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const BUG: &str = r#"diff --git a/pkg/core.py b/pkg/core.py
index c17c8c1..d1c4e49 100644
--- a/pkg/core.py
+++ b/pkg/core.py
@@ -1,5 +1,4 @@
 def f(x):
-    if x > 0 or (
-            x == -1):
+    if x > 0:
         return 1
     return 0
diff --git a/pkg/new.py b/pkg/new.py
new file mode 100644
index 0000000..e69de29
--- /dev/null
+++ b/pkg/new.py
@@ -0,0 +1,2 @@
+a = 1
+b = 2
\ No newline at end of file
"#;

    #[test]
    fn reverses_headers_hunks_and_creations() {
        let r = reverse(BUG);
        assert!(r.starts_with("diff --git a/pkg/core.py b/pkg/core.py\nindex d1c4e49..c17c8c1 100644\n--- a/pkg/core.py\n+++ b/pkg/core.py\n@@ -1,4 +1,5 @@\n def f(x):\n-    if x > 0:\n+    if x > 0 or (\n+            x == -1):\n"), "{r}");
        assert!(r.contains("deleted file mode 100644\nindex e69de29..0000000\n--- a/pkg/new.py\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a = 1\n-b = 2\n\\ No newline at end of file\n"), "{r}");
        assert_eq!(reverse(&r), BUG);
    }

    /// The reverse, applied with git after the patch, gives back the original tree.
    #[test]
    fn git_applies_the_reverse() {
        let git = |dir: &std::path::Path, args: &[&str]| {
            Command::new("git")
                .args(args)
                .current_dir(dir)
                .output()
                .map(|o| {
                    (
                        o.status.success(),
                        String::from_utf8_lossy(&o.stderr).to_string(),
                    )
                })
        };
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        if git(d, &["init", "-q"]).is_err() {
            eprintln!("SKIPPED: git is not installed");
            return;
        }
        std::fs::create_dir_all(d.join("pkg")).unwrap();
        let original =
            "def f(x):\n    if x > 0 or (\n            x == -1):\n        return 1\n    return 0\n";
        std::fs::write(d.join("pkg/core.py"), original).unwrap();
        std::fs::write(d.join("bug.diff"), BUG).unwrap();
        std::fs::write(d.join("fix.diff"), reverse(BUG)).unwrap();
        let (ok, err) = git(d, &["apply", "bug.diff"]).unwrap();
        assert!(ok, "{err}");
        assert!(d.join("pkg/new.py").exists());
        let (ok, err) = git(d, &["apply", "fix.diff"]).unwrap();
        assert!(ok, "{err}");
        assert_eq!(
            std::fs::read_to_string(d.join("pkg/core.py")).unwrap(),
            original
        );
        assert!(!d.join("pkg/new.py").exists());
    }

    #[test]
    fn renames_and_modes_run_backwards() {
        let p = "diff --git a/x.sh b/y.sh\nold mode 100644\nnew mode 100755\nsimilarity index 100%\nrename from x.sh\nrename to y.sh\n";
        assert_eq!(
            reverse(p),
            "diff --git a/y.sh b/x.sh\nold mode 100755\nnew mode 100644\nsimilarity index 100%\nrename from y.sh\nrename to x.sh\n"
        );
    }
}
