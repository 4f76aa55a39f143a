//! Loading task sets by name or path, shared by every command.

use anyhow::Context;
use protege_datasets::{TaskSet, mini, remote, select};
use protege_harness::grader::K8sOptions;
use protege_harness::grading::network::{GradingNetwork, IndexSettings};
use protege_harness::sets;
use protege_sandboxes::{ContainerLimits, Network};

use super::DatasetArgs;

/// Loads `--dataset` and applies `--instances`. Rows that could not be loaded are reported on
/// stderr, naming file, line and field; the rest of the set is used.
pub fn load_dataset(args: &DatasetArgs) -> anyhow::Result<TaskSet> {
    let mut set = match args.dataset.as_str() {
        "mini" => mini::load()?,
        name => match remote::known(name) {
            Some(k) => {
                let (set, source) = remote::fetch(k)?;
                if let remote::Source::LocalCopy(p) = &source {
                    eprintln!(
                        "note: SWE-bench {name} could not be downloaded; using the verified local copy {}",
                        p.display()
                    );
                }
                set
            }
            // the task sets (SWE-Gym, SWE-smith, SWE-rebench, R2E-Gym, Full) and files
            None => {
                let (set, source) =
                    sets::load::load(name).with_context(|| format!("loading dataset `{name}`"))?;
                if let sets::load::Source::Downloaded(files) = &source {
                    eprintln!(
                        "note: downloaded {name} from the Hugging Face hub into {} ({} file(s), sha256 {})",
                        files[0]
                            .parent()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                        files.len(),
                        set.sha256
                    );
                }
                set
            }
        },
    };
    if let Some(template) = &args.image_template {
        sets::template::apply(&mut set, template).map_err(anyhow::Error::msg)?;
    }
    if let Some(start) = &args.swe_smith_start {
        let start = sets::swe_smith::Start::parse(start).map_err(anyhow::Error::msg)?;
        if sets::swe_smith::choose_start(&mut set, start) == 0 {
            eprintln!(
                "note: --swe-smith-start applies to SWE-smith tasks; `{}` has none",
                args.dataset
            );
        }
    }
    for r in &set.rejected {
        eprintln!("warning: skipped dataset row: {r}");
    }
    select::filter(&mut set, &args.instances)?;
    Ok(set)
}

/// The limits of every container a command starts (`--memory-mib`, `--pids`); no network
/// (grading's comes from [`GradingNetworkArgs`]).
pub fn container_limits(memory_mib: i64, pids: i64) -> ContainerLimits {
    ContainerLimits {
        memory_bytes: memory_mib << 20,
        pids,
        network: Network::None,
    }
}

/// What grading sandboxes reach; policy workspaces never have a network.
#[derive(clap::Args, Clone, Debug)]
pub struct GradingNetworkArgs {
    /// none (no network), index (the package index only, through protege's allow-list proxy:
    /// what the official eval scripts' installs need), or open (the host's network).
    #[arg(long, default_value = "index", value_name = "none|index|open")]
    pub grading_network: String,
    /// A host (or host:port) `index` lets through; repeatable. Default: pypi.org,
    /// files.pythonhosted.org, conda.anaconda.org, repo.anaconda.com.
    #[arg(long = "index-host", value_name = "HOST[:PORT]")]
    pub index_hosts: Vec<String>,
    /// A package index pip uses instead of PyPI (`PIP_INDEX_URL` in grading sandboxes); its
    /// host joins the allow-list.
    #[arg(long, value_name = "URL")]
    pub index_url: Option<String>,
    /// PEM certificates grading containers trust for the index under `index` (the CA of a
    /// TLS-inspecting proxy or of a private mirror); pip, requests, curl and conda are pointed
    /// at them.
    #[arg(long, value_name = "FILE")]
    pub index_ca: Option<std::path::PathBuf>,
}

impl GradingNetworkArgs {
    pub fn settings(&self) -> anyhow::Result<(GradingNetwork, IndexSettings)> {
        let mode = GradingNetwork::parse(&self.grading_network)
            .map_err(|e| anyhow::anyhow!("--grading-network: {e}"))?;
        let settings = IndexSettings {
            hosts: self.index_hosts.clone(),
            index_url: self.index_url.clone(),
            ca_bundle: self.index_ca.clone(),
        };
        // a bad host or URL is reported before any work starts
        settings.allow_list().map_err(anyhow::Error::msg)?;
        Ok((mode, settings))
    }
}

/// How `--sandbox k8s` makes its pods.
#[derive(clap::Args, Clone, Debug)]
pub struct K8sArgs {
    /// Namespace of the pods (default: the kubeconfig context's, or the pod's own in-cluster).
    #[arg(long, value_name = "NAME")]
    pub k8s_namespace: Option<String>,
    /// imagePullPolicy of sandbox pods: Always, IfNotPresent, or Never (images imported onto
    /// the nodes beforehand, e.g. `docker save IMAGE | ctr -n k8s.io images import -`).
    #[arg(long, default_value = "IfNotPresent", value_name = "POLICY")]
    pub image_pull_policy: String,
    /// Seconds a pod may take to become Ready (pull included) before it is an infrastructure
    /// error carrying the pod's last reason.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub pod_start_timeout: u64,
    /// CPU request and limit of each pod (none by default: the namespace's defaults apply).
    #[arg(long, value_name = "CPUS")]
    pub cpus: Option<f64>,
}

impl K8sArgs {
    /// The options (the pull policy is checked when the cluster is connected to, before any
    /// work).
    pub fn options(&self) -> anyhow::Result<K8sOptions> {
        if let Some(c) = self.cpus
            && !(c > 0.0 && c.is_finite())
        {
            anyhow::bail!("--cpus {c}: expected a positive number");
        }
        Ok(K8sOptions {
            namespace: self.k8s_namespace.clone(),
            pull_policy: self.image_pull_policy.clone(),
            start_timeout: std::time::Duration::from_secs(self.pod_start_timeout),
            cpus: self.cpus,
        })
    }

    /// What the manifest records of these settings (and what the run's isolation rests on).
    pub fn manifest_note(&self) -> serde_json::Value {
        serde_json::json!({
            "namespace": self.k8s_namespace,
            "image_pull_policy": self.image_pull_policy,
            "pod_start_timeout_s": self.pod_start_timeout,
            "cpus": self.cpus,
            "network": "a deny-all NetworkPolicy selects the run's pods; it isolates them only where the cluster's CNI enforces NetworkPolicies",
        })
    }
}
