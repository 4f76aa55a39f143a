//! Sandboxes: where patches are applied and tests run. A `Sandbox` is one isolated working copy
//! of a repository at `/testbed`; backends are Docker containers (`docker`), Kubernetes pods (`k8s`)
//! and CPython under wasmtime (`wasi`).

#[cfg(feature = "docker")]
pub mod docker;
pub mod egress;
pub mod error;
pub mod exec;
#[cfg(feature = "k8s")]
pub mod k8s;
pub mod limits;
pub mod names;
#[cfg(any(feature = "docker", feature = "k8s"))]
mod registry;
#[cfg(any(feature = "docker", feature = "k8s"))]
mod tarball;
#[cfg(feature = "wasi")]
pub mod wasi;

pub use error::SandboxError;
pub use exec::{ExecOptions, ExecOutput};
pub use limits::{ContainerLimits, Network};

use async_trait::async_trait;

/// One isolated workspace. Paths are absolute paths inside the sandbox (`/testbed/x.py`).
#[async_trait]
pub trait Sandbox: Send + Sync {
    /// Runs a shell command (Docker) or an allowed command (WASI) with a deadline. A command
    /// that outlives its deadline is killed and reported with `timed_out`, not as an error.
    async fn exec(&self, command: &str, opts: &ExecOptions) -> Result<ExecOutput, SandboxError>;
    async fn write_file(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError>;
    async fn read_file(&self, path: &str) -> Result<Vec<u8>, SandboxError>;
    /// Removes a file (an agent undoing the creation of one).
    async fn remove_file(&self, path: &str) -> Result<(), SandboxError> {
        let quoted = format!("'{}'", path.replace('\'', "'\\''"));
        let out = self
            .exec(&format!("rm -f -- {quoted}"), &ExecOptions::default())
            .await?;
        if out.success() {
            Ok(())
        } else {
            Err(SandboxError::Io(format!("removing {path}: {}", out.output)))
        }
    }
    /// The working copy's changes against `base_commit` as a unified diff (`git diff` form),
    /// new files included: what an agent submits.
    async fn diff(&self, base_commit: &str) -> Result<String, SandboxError> {
        let _ = base_commit;
        Err(SandboxError::Unsupported(format!(
            "{}: diff is not supported",
            self.describe()
        )))
    }
    /// Cuts a sandbox started with the network off it (a task set's set-up needed it; nothing
    /// after it gets it).
    async fn disconnect_network(&self) -> Result<(), SandboxError> {
        Err(SandboxError::Unsupported(format!(
            "{}: cannot take the network away from a running sandbox",
            self.describe()
        )))
    }
    /// Whether a process in the sandbox was killed at its memory limit (so a test log is
    /// incomplete for a reason outside the tests).
    async fn oom_killed(&self) -> bool {
        false
    }
    /// The part of [`Sandbox::oom_killed`] the engine knows without looking inside (the main
    /// process's OOM kill, a pod's `OOMKilled`): what is left to ask once the memory cgroup's
    /// counters were read in the same exec as the tests ([`exec::with_oom_counters`]).
    async fn engine_saw_oom(&self) -> bool {
        false
    }
    /// A short name for logs (`docker:<container>`, `wasi:<dir>`).
    fn describe(&self) -> String;
    /// Releases everything the sandbox holds. Also done on drop, best effort.
    async fn close(&self) -> Result<(), SandboxError>;
}
