//! The built-in task set `mini`: small pure-Python projects with real bugs, kept as plain files in
//! `datasets/mini/<instance_id>/` (`task.json`, `repo/`, `gold.patch`, `test.patch`) and embedded
//! in the binary so that `protege run` works from any directory.
//!
//! `base_commit` in `task.json` is the commit git makes of `repo/` with protege's fixed author,
//! committer and dates (`GIT_IDENTITY`), the message `BASE_COMMIT_MESSAGE` and every file mode
//! 0644; image builds check that they reproduce it.

use include_dir::{Dir, include_dir};
use serde_json::Value;

use crate::{DatasetError, Task, TaskSet, sha256_hex};

static MINI: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/mini");

/// Environment for `git commit` that makes the base commit of a mini repository reproducible.
pub const GIT_IDENTITY: &[(&str, &str)] = &[
    ("GIT_AUTHOR_NAME", "protege"),
    ("GIT_AUTHOR_EMAIL", "protege@localhost"),
    ("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z"),
    ("GIT_COMMITTER_NAME", "protege"),
    ("GIT_COMMITTER_EMAIL", "protege@localhost"),
    ("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z"),
];

/// The message of a mini repository's single commit.
pub const BASE_COMMIT_MESSAGE: &str = "base";

/// One file of a mini repository at its base commit.
#[derive(Debug, Clone)]
pub struct RepoFile {
    /// Path relative to the repository root, `/`-separated.
    pub path: String,
    pub contents: &'static [u8],
}

/// True when the instance belongs to the built-in set.
pub fn is_mini(instance_id: &str) -> bool {
    MINI.get_dir(instance_id).is_some()
}

/// The built-in tasks, sorted by id.
pub fn load() -> Result<TaskSet, DatasetError> {
    let mut tasks = Vec::new();
    let mut hashed = Vec::new();
    let mut dirs: Vec<_> = MINI.dirs().collect();
    dirs.sort_by_key(|d| d.path().to_owned());
    for dir in dirs {
        let id = dir.path().to_string_lossy().to_string();
        let text = |name: &str| -> Result<String, DatasetError> {
            let f = dir
                .get_file(dir.path().join(name))
                .ok_or_else(|| DatasetError::Other(format!("mini/{id}: missing {name}")))?;
            String::from_utf8(f.contents().to_vec())
                .map_err(|_| DatasetError::Other(format!("mini/{id}/{name}: not UTF-8")))
        };
        let mut row: Value = serde_json::from_str(&text("task.json")?)
            .map_err(|e| DatasetError::Other(format!("mini/{id}/task.json: {e}")))?;
        let obj = row
            .as_object_mut()
            .ok_or_else(|| DatasetError::Other(format!("mini/{id}/task.json: not an object")))?;
        obj.insert("patch".into(), Value::String(text("gold.patch")?));
        obj.insert("test_patch".into(), Value::String(text("test.patch")?));
        let task = Task::from_json(&row)
            .map_err(|e| DatasetError::Other(format!("mini/{id}/task.json: {e}")))?;
        if task.instance_id != id {
            return Err(DatasetError::Other(format!(
                "mini/{id}/task.json: instance_id `{}` differs from its folder name",
                task.instance_id
            )));
        }
        hashed.push(serde_json::to_string(&task).expect("serialise"));
        for f in repo_files(&id) {
            hashed.push(format!("{id}/{}:{}", f.path, sha256_hex(f.contents)));
        }
        tasks.push(task);
    }
    Ok(TaskSet {
        name: "mini".into(),
        sha256: sha256_hex(hashed.join("\n").as_bytes()),
        tasks,
        rejected: Vec::new(),
    })
}

/// The files of a mini task's repository at its base commit, sorted by path.
pub fn repo_files(instance_id: &str) -> Vec<RepoFile> {
    let Some(repo) = MINI.get_dir(format!("{instance_id}/repo")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    collect(repo, repo.path(), &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn collect(dir: &Dir<'static>, root: &std::path::Path, out: &mut Vec<RepoFile>) {
    for f in dir.files() {
        let rel = f.path().strip_prefix(root).expect("inside root");
        // Python byte-code caches are never part of a repository.
        if rel.components().any(|c| c.as_os_str() == "__pycache__") {
            continue;
        }
        out.push(RepoFile {
            path: rel.to_string_lossy().replace('\\', "/"),
            contents: f.contents(),
        });
    }
    for d in dir.dirs() {
        collect(d, root, out);
    }
}
