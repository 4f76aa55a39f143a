//! What the harness needs to know about a repository at a version: where its image comes from,
//! how its tests run, and which parser reads their log.

use protege_datasets::Task;

use crate::parsers::LogParser;

/// Everything needed to evaluate one task.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Spec {
    /// The test command, to which the test directives are appended.
    pub test_cmd: String,
    pub parser: LogParser,
    /// Lines run before the tests (activating an environment, locale set-up).
    pub pre_test: Vec<String>,
    /// Variables exported by the eval script.
    pub env: Vec<(String, String)>,
    /// Installs the repository in its environment before the tests run (empty: nothing).
    pub install: String,
    /// The Python version the environment is built with.
    pub python: String,
    /// True when the tests can run under the WASI sandbox (pure Python, no processes).
    pub wasi_ok: bool,
}

/// Variables protege sets in every eval script so reruns agree (documented in docs/parity.md).
pub const DETERMINISM_ENV: &[(&str, &str)] = &[("TZ", "UTC"), ("PYTHONHASHSEED", "0")];

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{instance}: no spec for repository `{repo}` version `{version}`")]
    Unknown {
        instance: String,
        repo: String,
        version: String,
    },
}

/// The spec of a task's repository and version.
pub fn for_task(task: &Task) -> Result<Spec, SpecError> {
    if task.repo.starts_with("protege-mini/") {
        return Ok(mini());
    }
    Err(SpecError::Unknown {
        instance: task.instance_id.clone(),
        repo: task.repo.clone(),
        version: task.version.clone(),
    })
}

/// The built-in mini set: Debian's python3 with pytest, the repository used in place.
fn mini() -> Spec {
    Spec {
        test_cmd: "python3 -m pytest -rA -p no:cacheprovider".into(),
        parser: LogParser::Pytest,
        pre_test: Vec::new(),
        env: Vec::new(),
        install: String::new(),
        python: "3.11".into(),
        wasi_ok: true,
    }
}

/// The files a test patch touches (`diff --git a/X b/Y` → Y), in order of appearance.
pub fn test_files(test_patch: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in test_patch.lines() {
        if let Some(rest) = line.strip_prefix("diff --git a/") {
            if let Some((_, b)) = rest.split_once(" b/") {
                if !out.iter().any(|f| f == b) {
                    out.push(b.to_string());
                }
            }
        }
    }
    out
}

/// The arguments given to the test command: by default the test files themselves.
pub fn test_directives(task: &Task) -> Vec<String> {
    test_files(&task.test_patch)
}
