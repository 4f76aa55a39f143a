//! Limits of a sandbox, backend-neutral data: Docker applies all of them, Kubernetes the memory
//! limit (its network is the run's NetworkPolicy).

/// Resource limits of a container. Network is off unless asked for.
#[derive(Debug, Clone)]
pub struct ContainerLimits {
    pub memory_bytes: i64,
    pub pids: i64,
    pub network: Network,
}

impl Default for ContainerLimits {
    fn default() -> Self {
        ContainerLimits {
            memory_bytes: 4 << 30,
            pids: 1024,
            network: Network::None,
        }
    }
}

/// What a container can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// Nothing: loopback only.
    None,
    /// The default bridge: anything the host can reach.
    Open,
    /// An internal network (no route out, `DockerEngine::internal_network`) whose one exit is
    /// a proxy; `env` (`HTTP_PROXY=…`, …) tells the container's tools to use it.
    Internal { name: String, env: Vec<String> },
}
