//! The Docker backend (bollard, the local engine; `DOCKER_HOST` honoured).
//!
//! - `engine`: connecting, the clear "Docker is not running" message, and the registry of live
//!   containers that is emptied on Ctrl-C.
//! - `container`: one container as a `Sandbox` (exec with deadline, files as tar streams).
//! - `images`: official and protege image names, pull with progress, builds, rootfs import.

pub mod container;
pub mod engine;
pub mod images;

pub use container::{ContainerLimits, DockerSandbox};
pub use engine::DockerEngine;
