use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bollard::Docker;
use bollard::query_parameters::RemoveContainerOptionsBuilder;

use crate::SandboxError;

/// Label put on every container protege creates, so leftovers can be found and removed.
pub const LABEL: &str = "dev.protege.run";

/// A connection to the Docker engine plus the set of containers this process created and has
/// not yet removed.
#[derive(Clone)]
pub struct DockerEngine {
    pub(crate) docker: Docker,
    live: Arc<Mutex<HashSet<String>>>,
}

fn not_running(detail: impl std::fmt::Display) -> SandboxError {
    SandboxError::EngineUnavailable(format!(
        "Docker is not running or not reachable ({detail}).\n\
         Start it with `sudo systemctl start docker` (or `sudo dockerd &` where there is no \
         systemd), or point DOCKER_HOST at a running engine; `--sandbox wasi` needs no Docker."
    ))
}

impl DockerEngine {
    /// Connects to the local engine (or `DOCKER_HOST`) and checks that it answers.
    pub async fn connect() -> Result<DockerEngine, SandboxError> {
        let docker = Docker::connect_with_defaults().map_err(not_running)?;
        // Older engines reject newer API versions; agree on one both sides speak.
        let docker = docker.negotiate_version().await.map_err(not_running)?;
        docker.ping().await.map_err(not_running)?;
        Ok(DockerEngine {
            docker,
            live: Arc::default(),
        })
    }

    pub fn client(&self) -> &Docker {
        &self.docker
    }

    pub(crate) fn track(&self, id: &str) {
        self.live.lock().expect("lock").insert(id.to_string());
    }

    pub(crate) fn untrack(&self, id: &str) {
        self.live.lock().expect("lock").remove(id);
    }

    /// Number of containers created and not yet removed.
    pub fn live_count(&self) -> usize {
        self.live.lock().expect("lock").len()
    }

    /// Force-removes a container (no graceful stop: a test container holds nothing worth
    /// waiting ten seconds for).
    pub async fn remove(&self, id: &str) -> Result<(), SandboxError> {
        let opts = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        let res = self.docker.remove_container(id, Some(opts)).await;
        self.untrack(id);
        match res {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(SandboxError::Io(format!("removing container {id}: {e}"))),
        }
    }

    /// Removes every container this process still holds (Ctrl-C, fatal errors).
    pub async fn remove_all(&self) {
        let ids: Vec<String> = self.live.lock().expect("lock").iter().cloned().collect();
        for id in ids {
            let _ = self.remove(&id).await;
        }
    }
}
