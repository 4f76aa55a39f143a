//! Agent workspaces under WASI: a built-in task's repository in a private directory, driven
//! through the WASI sandbox, whose changes are diffed on the host (there is no git inside).

use std::collections::BTreeMap;
use std::path::Path;

use async_trait::async_trait;
use protege_datasets::{Task, mini};
use protege_sandboxes::wasi::{WasiLimits, WasiSandbox};
use protege_sandboxes::{ExecOptions, ExecOutput, Sandbox, SandboxError};

use crate::grading::wasi::materialise;
use crate::patch::check::path_is_inside;

pub struct WasiWorkspace {
    inner: WasiSandbox,
    /// The base commit's files: path → contents.
    base: BTreeMap<String, Vec<u8>>,
}

impl WasiWorkspace {
    pub async fn open(task: &Task) -> Result<WasiWorkspace, SandboxError> {
        let inner = WasiSandbox::open_scratch(WasiLimits::default()).await?;
        materialise(task, inner.root())?;
        let base = mini::repo_files(&task.instance_id)
            .into_iter()
            .map(|f| (f.path, f.contents.to_vec()))
            .collect();
        Ok(WasiWorkspace { inner, base })
    }
}

/// Files under `root`, relative and `/`-separated; byte-code caches are never part of a diff.
fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "__pycache__" || name == ".pytest_cache" {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path
                .strip_prefix(root)
                .expect("inside root")
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel, std::fs::read(&path)?);
        }
    }
    Ok(())
}

/// A unified diff in `git diff` form between two trees (text files; others are named only).
pub fn tree_diff(base: &BTreeMap<String, Vec<u8>>, now: &BTreeMap<String, Vec<u8>>) -> String {
    let mut out = String::new();
    let paths: std::collections::BTreeSet<&String> = base.keys().chain(now.keys()).collect();
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
            std::str::from_utf8(old.map_or(&[][..], |v| v.as_slice())),
            std::str::from_utf8(new.map_or(&[][..], |v| v.as_slice())),
        ) else {
            out.push_str(&format!("Binary files a/{path} and b/{path} differ\n"));
            continue;
        };
        let from = if old.is_some() {
            format!("a/{path}")
        } else {
            "/dev/null".into()
        };
        let to = if new.is_some() {
            format!("b/{path}")
        } else {
            "/dev/null".into()
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

#[async_trait]
impl Sandbox for WasiWorkspace {
    async fn exec(&self, command: &str, opts: &ExecOptions) -> Result<ExecOutput, SandboxError> {
        self.inner.exec(command, opts).await
    }
    async fn write_file(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError> {
        self.inner.write_file(path, contents).await
    }
    async fn read_file(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        self.inner.read_file(path).await
    }
    async fn remove_file(&self, path: &str) -> Result<(), SandboxError> {
        let rel = path.strip_prefix("/testbed/").unwrap_or(path);
        if !path_is_inside(rel) {
            return Err(SandboxError::PathEscape(path.to_string()));
        }
        let p = self.inner.root().join(rel);
        // Never follow a link out of the working copy: remove the link itself.
        match std::fs::symlink_metadata(&p) {
            Ok(_) => std::fs::remove_file(&p)
                .map_err(|e| SandboxError::Io(format!("removing {path}: {e}"))),
            Err(_) => Ok(()),
        }
    }
    async fn diff(&self, _base_commit: &str) -> Result<String, SandboxError> {
        let mut now = BTreeMap::new();
        let root = self.inner.root();
        walk(root, root, &mut now)
            .map_err(|e| SandboxError::Io(format!("reading the workspace: {e}")))?;
        Ok(tree_diff(&self.base, &now))
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn close(&self) -> Result<(), SandboxError> {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_diff_is_git_shaped_and_applies() {
        let mut base = BTreeMap::new();
        base.insert("a.py".to_string(), b"x = 1\ny = 2\n".to_vec());
        base.insert("gone.py".to_string(), b"bye\n".to_vec());
        let mut now = base.clone();
        now.insert("a.py".into(), b"x = 1\ny = 3\n".to_vec());
        now.remove("gone.py");
        now.insert("new.py".into(), b"hello".to_vec());
        let d = tree_diff(&base, &now);
        assert!(d.contains("diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1,2 +1,2 @@\n x = 1\n-y = 2\n+y = 3\n"), "{d}");
        assert!(d.contains("diff --git a/gone.py b/gone.py\ndeleted file mode 100644\n--- a/gone.py\n+++ /dev/null\n"), "{d}");
        assert!(d.contains("new file mode 100644\n--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+hello\n\\ No newline at end of file\n"), "{d}");
        // protege's own patch check and parser accept it.
        assert_eq!(crate::patch::check(&d).unwrap().len(), 3);
        assert!(tree_diff(&base, &base).is_empty());
    }
}
