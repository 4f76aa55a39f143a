//! The check every model patch passes before any sandbox sees it.

use super::parse::{FilePatch, parse};

/// Why a patch is refused before it reaches a sandbox. These are model failures, recorded as
/// "patch not applied", never infrastructure errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchProblem {
    #[error("the patch is empty")]
    Empty,
    #[error("the patch is not a unified diff: {0}")]
    NotADiff(String),
    #[error("the patch changes a binary file `{0}`, which cannot be applied as text")]
    Binary(String),
    #[error("the patch touches `{0}`, outside the repository")]
    PathEscape(String),
}

impl PatchProblem {
    pub fn kind(&self) -> &'static str {
        match self {
            PatchProblem::Empty => "empty_patch",
            PatchProblem::NotADiff(_) => "malformed_patch",
            PatchProblem::Binary(_) => "binary_patch",
            PatchProblem::PathEscape(_) => "path_escape",
        }
    }
}

/// A path stays inside the repository when it is relative, has no `..` component and does not
/// reach into `.git` (whose hooks and config would run code outside the patch's reach).
pub fn path_is_inside(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.starts_with('\\')
        && !path.contains('\0')
        && !path
            .split(['/', '\\'])
            .any(|c| c == ".." || c.eq_ignore_ascii_case(".git"))
}

/// Parses and checks a patch; on success returns its file sections.
pub fn check(patch: &str) -> Result<Vec<FilePatch>, PatchProblem> {
    if patch.trim().is_empty() {
        return Err(PatchProblem::Empty);
    }
    if patch.contains('\0') {
        return Err(PatchProblem::NotADiff("it contains NUL bytes".into()));
    }
    let files = parse(patch).map_err(|e| PatchProblem::NotADiff(e.to_string()))?;
    for f in &files {
        for p in f.paths() {
            if !path_is_inside(p) {
                return Err(PatchProblem::PathEscape(p.to_string()));
            }
        }
        if f.binary {
            return Err(PatchProblem::Binary(
                f.paths().next().unwrap_or("?").to_string(),
            ));
        }
        if f.hunks.is_empty()
            && !f.rename
            && !f.copy
            && f.new_mode.is_none()
            && !f.is_delete()
            && !f.is_create()
        {
            return Err(PatchProblem::NotADiff(format!(
                "line {}: a file section with no hunks",
                f.line
            )));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(path: &str) -> String {
        format!("--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n")
    }

    #[test]
    fn refuses_bad_patches_with_reasons() {
        assert_eq!(check("  \n"), Err(PatchProblem::Empty));
        assert!(matches!(
            check("garbage\x00\x01"),
            Err(PatchProblem::NotADiff(_))
        ));
        assert!(matches!(
            check("just some words"),
            Err(PatchProblem::NotADiff(_))
        ));
        assert_eq!(
            check(&diff("../etc/passwd")),
            Err(PatchProblem::PathEscape("../etc/passwd".into()))
        );
        assert_eq!(
            check("--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-a\n+b\n"),
            Err(PatchProblem::PathEscape("/etc/passwd".into()))
        );
        assert_eq!(
            check(&diff("x/../../y")),
            Err(PatchProblem::PathEscape("x/../../y".into()))
        );
        assert_eq!(
            check(&diff(".git/hooks/post-checkout")),
            Err(PatchProblem::PathEscape(".git/hooks/post-checkout".into()))
        );
        let bin = "diff --git a/a.png b/a.png\nBinary files a/a.png and b/a.png differ\n";
        assert_eq!(check(bin), Err(PatchProblem::Binary("a.png".into())));
        let rename_out = "diff --git a/x b/../x\nrename from x\nrename to ../x\n";
        assert!(matches!(
            check(rename_out),
            Err(PatchProblem::PathEscape(_))
        ));
    }

    #[test]
    fn accepts_normal_patches() {
        assert_eq!(check(&diff("pkg/mod.py")).unwrap().len(), 1);
    }
}
