use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;

use crate::SandboxError;
use crate::registry::Registry;

/// Label put on every container protege creates, so leftovers can be found and removed.
pub const LABEL: &str = "dev.protege.run";

/// A connection to the Docker engine plus the set of containers this process created and has
/// not yet removed.
#[derive(Clone)]
pub struct DockerEngine {
    pub(crate) docker: Docker,
    live: Registry,
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
            live: Registry::default(),
        })
    }

    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// Creates a container in a task of its own, so that cancelling the caller cannot lose a
    /// container the engine goes on to create; its id is tracked before the count drops.
    pub(crate) async fn create_tracked(
        &self,
        opts: bollard::query_parameters::CreateContainerOptions,
        body: bollard::models::ContainerCreateBody,
    ) -> Result<String, bollard::errors::Error> {
        let docker = self.docker.clone();
        let create = async move { docker.create_container(Some(opts), body).await };
        self.live
            .create(create, |c| Some(c.id.clone()))
            .await
            .map(|c| c.id)
    }

    pub(crate) fn untrack(&self, id: &str) {
        self.live.untrack(id);
    }

    /// Number of containers created and not yet removed.
    pub fn live_count(&self) -> usize {
        self.live.count()
    }

    /// Force-removes a container (no graceful stop: a test container holds nothing worth
    /// waiting ten seconds for), and returns once it is gone — also when another removal of it
    /// was already under way.
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
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => {
                // "removal already in progress": wait for the engine to finish it.
                let opts = WaitContainerOptionsBuilder::new()
                    .condition("removed")
                    .build();
                let mut wait = self.docker.wait_container(id, Some(opts));
                while wait.next().await.is_some() {}
                Ok(())
            }
            Err(e) => Err(SandboxError::Io(format!("removing container {id}: {e}"))),
        }
    }

    /// Removes every container this process still holds (Ctrl-C, fatal errors), once the
    /// creations under way have finished, then any other container labelled with `run_id`
    /// (one a killed earlier process of the same run left behind).
    pub async fn remove_all(&self, run_id: &str) {
        for id in self.live.settled().await {
            let _ = self.remove(&id).await;
        }
        for id in self.labelled(run_id).await {
            let _ = self.remove(&id).await;
        }
    }

    /// Containers (running or not) carrying protege's label with this run id.
    pub async fn labelled(&self, run_id: &str) -> Vec<String> {
        let filters =
            std::collections::HashMap::from([("label", vec![format!("{LABEL}={run_id}")])]);
        let opts = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        match self.docker.list_containers(Some(opts)).await {
            Ok(list) => list.into_iter().filter_map(|c| c.id).collect(),
            Err(_) => Vec::new(),
        }
    }
}
