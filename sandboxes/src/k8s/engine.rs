use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client};

use super::labels::{RUN_LABEL, label_value, name_part};
use crate::SandboxError;
use crate::registry::Registry;

/// `imagePullPolicy` of the sandbox container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    Always,
    #[default]
    IfNotPresent,
    /// Images must already be on the node (pre-pulled or imported with `ctr images import`).
    Never,
}

impl PullPolicy {
    pub fn parse(s: &str) -> Result<PullPolicy, String> {
        match s {
            "Always" | "always" => Ok(PullPolicy::Always),
            "IfNotPresent" | "if-not-present" => Ok(PullPolicy::IfNotPresent),
            "Never" | "never" => Ok(PullPolicy::Never),
            _ => Err(format!(
                "unknown image pull policy `{s}`: expected Always, IfNotPresent or Never"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

/// How the backend makes pods; the same for every pod of a process.
#[derive(Debug, Clone)]
pub struct PodSettings {
    /// `None`: the kubeconfig context's namespace (or the pod's own, in-cluster).
    pub namespace: Option<String>,
    pub pull_policy: PullPolicy,
    /// A pod not Ready by then is an infrastructure error carrying its last reason.
    pub start_timeout: Duration,
    /// `activeDeadlineSeconds`: the kubelet kills a pod protege lost track of.
    pub active_deadline: Duration,
}

impl Default for PodSettings {
    fn default() -> Self {
        PodSettings {
            namespace: None,
            pull_policy: PullPolicy::IfNotPresent,
            start_timeout: Duration::from_secs(300),
            active_deadline: Duration::from_secs(6 * 3600),
        }
    }
}

/// A connection to a cluster plus the pods this process created and has not yet deleted.
#[derive(Clone)]
pub struct KubeEngine {
    pub(crate) client: Client,
    pub(crate) namespace: String,
    pub(crate) settings: PodSettings,
    live: Registry,
    /// Requests sent to the API server (exec upgrades included): what a graded instance costs.
    pub(crate) api_calls: Arc<AtomicU64>,
    policies: Arc<Mutex<HashSet<String>>>,
}

fn unreachable(detail: impl std::fmt::Display) -> SandboxError {
    SandboxError::EngineUnavailable(format!(
        "no reachable Kubernetes cluster ({detail}).\n\
         Point KUBECONFIG at a kubeconfig for a running cluster (or run protege in a pod of \
         one); `--sandbox docker` needs no cluster."
    ))
}

/// A failed API request: the server's own refusal, or, when no answer came at all, that the
/// API server is gone (so a reader of the record knows the cluster, not the patch, failed).
pub(crate) fn api_failure(context: impl std::fmt::Display, e: kube::Error) -> SandboxError {
    SandboxError::EngineUnavailable(match e {
        kube::Error::Api(_) => format!("{context}: {e}"),
        e => format!("{context}: the Kubernetes API server did not answer ({e})"),
    })
}

impl KubeEngine {
    /// Connects with `KUBECONFIG` (or `~/.kube/config`, or the in-cluster service account) and
    /// checks that the API server answers.
    pub async fn connect(settings: PodSettings) -> Result<KubeEngine, SandboxError> {
        let config = kube::Config::infer().await.map_err(unreachable)?;
        let namespace = settings
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let url = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(unreachable)?;
        // a bounded wait: an address that drops packets would otherwise hang the first request
        match tokio::time::timeout(Duration::from_secs(15), client.apiserver_version()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(unreachable(format!("{url}: {e}"))),
            Err(_) => return Err(unreachable(format!("{url}: no answer within 15 s"))),
        }
        Ok(KubeEngine {
            client,
            namespace,
            settings,
            live: Registry::default(),
            api_calls: Arc::new(AtomicU64::new(1)),
            policies: Arc::default(),
        })
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn settings(&self) -> &PodSettings {
        &self.settings
    }

    /// API requests sent so far by this process.
    pub fn api_calls(&self) -> u64 {
        self.api_calls.load(Ordering::Relaxed)
    }

    pub(crate) fn count_call(&self) {
        self.api_calls.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The deny-all NetworkPolicy (no ingress, no egress) selecting the run's pods, created once
    /// per run. It binds only where the cluster's CNI enforces NetworkPolicies.
    pub async fn ensure_network_policy(&self, run_id: &str) -> Result<(), SandboxError> {
        let name = format!("protege-deny-{}", name_part(run_id));
        if self.policies.lock().expect("lock").contains(&name) {
            return Ok(());
        }
        let policy = NetworkPolicy {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([(RUN_LABEL.into(), label_value(run_id))])),
                ..Default::default()
            },
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([(RUN_LABEL.into(), label_value(run_id))])),
                    ..Default::default()
                }),
                policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
                ingress: None,
                egress: None,
            }),
        };
        let api: Api<NetworkPolicy> = Api::namespaced(self.client.clone(), &self.namespace);
        self.count_call();
        match api.create(&PostParams::default(), &policy).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => {
                return Err(api_failure(
                    format!(
                        "creating NetworkPolicy {name} in namespace {}",
                        self.namespace
                    ),
                    e,
                ));
            }
        }
        self.policies.lock().expect("lock").insert(name);
        Ok(())
    }

    /// Creates a pod in a task of its own, so that cancelling the caller cannot lose a pod the
    /// server goes on to create; its name is tracked before the count drops.
    pub(crate) async fn create_tracked(&self, pod: Pod) -> Result<String, kube::Error> {
        self.count_call();
        let pods = self.pods();
        let create = async move { pods.create(&PostParams::default(), &pod).await };
        self.live
            .create(create, |p| p.metadata.name.clone())
            .await
            .map(|p| p.metadata.name.unwrap_or_default())
    }

    /// Number of pods created and not yet deleted.
    pub fn live_count(&self) -> usize {
        self.live.count()
    }

    /// Deletes a pod at once (grace 0: a test pod holds nothing worth waiting for); a pod that is
    /// already gone is fine.
    pub async fn remove(&self, name: &str) -> Result<(), SandboxError> {
        self.count_call();
        let res = self
            .pods()
            .delete(name, &DeleteParams::default().grace_period(0))
            .await;
        self.live.untrack(name);
        match res {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(SandboxError::Io(format!("deleting pod {name}: {e}"))),
        }
    }

    /// Deletes every pod this process still holds (Ctrl-C, fatal errors), once creations under
    /// way have finished, then every other pod labelled with `run_id` (one an earlier, killed
    /// process of the run left behind), and the run's NetworkPolicy.
    pub async fn remove_all(&self, run_id: &str) {
        for name in self.live.settled().await {
            let _ = self.remove(&name).await;
        }
        let selector = format!("{RUN_LABEL}={}", label_value(run_id));
        self.count_call();
        let _ = self
            .pods()
            .delete_collection(
                &DeleteParams::default().grace_period(0),
                &ListParams::default().labels(&selector),
            )
            .await;
        let api: Api<NetworkPolicy> = Api::namespaced(self.client.clone(), &self.namespace);
        let name = format!("protege-deny-{}", name_part(run_id));
        self.count_call();
        let _ = api.delete(&name, &DeleteParams::default()).await;
        self.policies.lock().expect("lock").remove(&name);
    }

    /// Names of the pods (in any phase) labelled with `run_id`.
    pub async fn labelled(&self, run_id: &str) -> Result<Vec<String>, SandboxError> {
        let selector = format!("{RUN_LABEL}={}", label_value(run_id));
        self.count_call();
        let list = self
            .pods()
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| api_failure("listing pods", e))?;
        Ok(list
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter_map(|p| p.metadata.name)
            .collect())
    }
}
