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

pub use protege_patch::write::tree_diff;

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
