//! The Docker backend (bollard, the local engine; `DOCKER_HOST` honoured).
//!
//! - `engine`: connecting, the clear "Docker is not running" message, and the registry of live
//!   containers that is emptied on Ctrl-C.
//! - `container`: one container as a `Sandbox` (exec with deadline, files as tar streams).
//! - `network`: the internal network whose only exit is the grading egress proxy.
//! - `images`: official and protege image names, pull with progress, builds, rootfs import.

pub mod container;
pub mod engine;
pub mod images;
pub mod network;

pub use container::{ContainerLimits, DockerSandbox, Network};
pub use engine::DockerEngine;
