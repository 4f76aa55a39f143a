/// Infrastructure failures, kept apart from anything a model or a test did.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SandboxError {
    /// The engine (Docker daemon, wasmtime runtime) cannot be reached or used.
    #[error("{0}")]
    EngineUnavailable(String),
    #[error(
        "image `{0}` not found locally and could not be pulled; build it with `protege images build`"
    )]
    ImageMissing(String),
    /// The cluster cannot get a pod's image (`ErrImagePull`, `ImagePullBackOff`, …); the
    /// message names the image and the pod's own reason.
    #[error("image pull failed: {0}")]
    ImagePull(String),
    #[error("sandbox died: {0}")]
    Died(String),
    #[error("out of memory: {0}")]
    OutOfMemory(String),
    /// A trap or crash inside the sandboxed runtime (stack overflow, out-of-bounds access).
    #[error("sandbox crashed: {0}")]
    Crash(String),
    #[error("path `{0}` is outside the sandbox's working copy")]
    PathEscape(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Io(String),
}
