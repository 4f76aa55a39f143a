//! The internal network of grading containers that may reach the package index: a bridge with no
//! route out (Docker's `internal`), whose gateway address on the host is where protege's egress
//! proxy listens. The proxy is then the only thing its containers can talk to beyond each other.

use std::collections::HashMap;
use std::net::IpAddr;

use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::InspectNetworkOptions;

use super::engine::{DockerEngine, LABEL};
use crate::SandboxError;

/// The network's name; one per engine, shared by every run (it holds no state of its own).
pub const EGRESS_NETWORK: &str = "protege-egress";

impl DockerEngine {
    /// Makes sure the internal network `name` exists and returns its gateway: the host's address
    /// on it, where a proxy for its containers can listen.
    pub async fn internal_network(&self, name: &str) -> Result<IpAddr, SandboxError> {
        let fail = |e: &dyn std::fmt::Display| {
            SandboxError::EngineUnavailable(format!("Docker network {name}: {e}"))
        };
        if self.inspect_gateway(name).await?.is_none() {
            let req = NetworkCreateRequest {
                name: name.to_string(),
                driver: Some("bridge".into()),
                internal: Some(true),
                labels: Some(HashMap::from([(LABEL.to_string(), "egress".to_string())])),
                ..Default::default()
            };
            match self.docker.create_network(req).await {
                Ok(_) => {}
                // another protege made it in the meantime
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 409, ..
                }) => {}
                Err(e) => return Err(fail(&e)),
            }
        }
        self.inspect_gateway(name)
            .await?
            .ok_or_else(|| fail(&"the network has no IPv4 gateway"))
    }

    /// The network's gateway, `None` when there is no such network; an error when it exists but
    /// is not internal (a network any container could leave by).
    async fn inspect_gateway(&self, name: &str) -> Result<Option<IpAddr>, SandboxError> {
        let net = match self
            .docker
            .inspect_network(name, None::<InspectNetworkOptions>)
            .await
        {
            Ok(n) => n,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => {
                return Err(SandboxError::EngineUnavailable(format!(
                    "Docker network {name}: {e}"
                )));
            }
        };
        if net.internal != Some(true) {
            return Err(SandboxError::Unsupported(format!(
                "Docker network {name} exists but is not internal (it would let grading \
                 containers bypass the egress proxy); remove it with `docker network rm {name}`"
            )));
        }
        let gateway = net
            .ipam
            .and_then(|i| i.config)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.gateway)
            .filter_map(|g| g.parse::<IpAddr>().ok())
            .find(IpAddr::is_ipv4);
        Ok(gateway)
    }
}
