//! What the container backends (Docker, Kubernetes) share about files and diffs: both copy
//! files out as tar archives, and both ask git inside the sandbox for the working copy's diff.

use std::time::Duration;

use crate::{ExecOptions, Sandbox, SandboxError};

/// The contents of the first entry of `tarball`, the archive a single file was copied out as.
pub(crate) fn first_file(tarball: &[u8], path: &str) -> Result<Vec<u8>, SandboxError> {
    let mut archive = tar::Archive::new(tarball);
    let mut entries = archive
        .entries()
        .map_err(|e| SandboxError::Io(e.to_string()))?;
    let mut entry = entries
        .next()
        .ok_or_else(|| SandboxError::Io(format!("{path}: empty archive")))?
        .map_err(|e| SandboxError::Io(e.to_string()))?;
    let mut buf = Vec::new();
    std::io::Read::read_to_end(&mut entry, &mut buf)
        .map_err(|e| SandboxError::Io(e.to_string()))?;
    Ok(buf)
}

/// The working copy's changes against `base_commit`, by git inside the sandbox.
pub(crate) async fn git_diff(
    sandbox: &(impl Sandbox + ?Sized),
    base_commit: &str,
) -> Result<String, SandboxError> {
    // Staging makes new files part of the diff; the index is the workspace's own.
    let cmd = format!(
        "git add -A >/dev/null && git -c core.fileMode=false diff --cached --no-color --no-ext-diff {base_commit}"
    );
    let out = sandbox
        .exec(&cmd, &ExecOptions::with_timeout(Duration::from_secs(120)))
        .await?;
    if !out.success() {
        return Err(SandboxError::Io(format!(
            "git diff in {}: {}",
            sandbox.describe(),
            out.output
        )));
    }
    Ok(out.output)
}
