//! Helpers shared by the WASI test binaries (each uses what it needs).
#![allow(dead_code)]

use std::path::Path;

use protege_sandboxes::SandboxError;

/// What opening the runtime or a sandbox gave, or `None` after printing SKIPPED when the pinned
/// runtime can be neither found nor downloaded here. Any other error fails the test.
pub fn unless_unfetchable<T>(opened: Result<T, SandboxError>) -> Option<T> {
    match opened {
        Ok(v) => Some(v),
        Err(e @ SandboxError::EngineUnavailable(_)) if e.to_string().contains("download") => {
            eprintln!("SKIPPED: the WASI runtime cannot be fetched here: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// Writes `contents` at `rel` under `root`, making its directories.
pub fn write(root: &Path, rel: &str, contents: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, contents).unwrap();
}
