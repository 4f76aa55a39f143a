//! The Kubernetes backend (kube-rs): one Pod per sandbox, commands by exec over WebSocket.
//!
//! - `engine`: the client (kubeconfig from `KUBECONFIG`, or the in-cluster config), the clear
//!   "no cluster" message, the run's deny-all NetworkPolicy, and deleting a run's pods.
//! - `pod`: one pod as a `Sandbox` (exec with deadline and exit code from the status channel,
//!   files as tar over exec).
//! - `labels`: label values the API server accepts, made from run ids and instance ids.
//!
//! A 1.24 API server cannot half-close stdin over WebSocket (that needs the v5 channel protocol,
//! 1.30), so no command here waits for EOF on stdin: uploads are `head -c N | tar -x`.

pub mod engine;
pub mod labels;
pub mod pod;

pub use engine::{KubeEngine, PodSettings, PullPolicy};
pub use pod::PodSandbox;
