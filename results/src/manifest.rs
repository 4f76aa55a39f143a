//! `manifest.json`: what a run was made from, so that two runs can be compared honestly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub run_id: String,
    pub protege_version: String,
    /// The git commit protege was built from (`unknown` outside a checkout).
    pub protege_commit: String,
    pub dataset: String,
    pub dataset_sha256: String,
    /// sha256 of the predictions file, for replayed runs.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub predictions_sha256: Option<String>,
    pub policy: String,
    pub sandbox: String,
    /// The official harness version whose rules evaluated and graded the run (`swebench-5`,
    /// `swebench-4`; `--grader`). Empty in manifests written before the choice existed, which
    /// followed swebench 4.x.
    #[serde(default)]
    pub grader: String,
    /// What grading sandboxes could reach (`--grading-network`); absent in manifests written
    /// before the choice existed, when grading had no network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grading_network: Option<GradingNetworkInfo>,
    /// Every setting that can change a verdict (timeouts, limits, reruns, instance filter).
    pub config: serde_json::Value,
    /// Every instance of the (filtered) task set → its repository: the denominator of Pass@1.
    pub instances: BTreeMap<String, String>,
    /// Instance → the image or module id its tests ran in.
    pub environments: BTreeMap<String, String>,
    /// What the image pipeline did (Docker runs): pulls, evictions, their times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<ImagesReport>,
}

/// The image pipeline's account of a run: its settings, every pull and every eviction, with
/// times in milliseconds since the run started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImagesReport {
    /// Instances ahead of those started whose images are pulled in advance (0: none).
    pub lookahead: usize,
    pub pull_concurrency: usize,
    /// Pull attempts allowed in any 60 seconds.
    pub pulls_per_minute: usize,
    /// Further attempts after a 429 or 5xx.
    pub pull_retries: usize,
    /// `--disk-budget` in bytes: the most the run's pullable instance images may take at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_budget_bytes: Option<u64>,
    pub pulls: Vec<PullRecord>,
    pub evictions: Vec<Eviction>,
    /// Instance images found already present (with the instances that used them).
    pub present: Vec<String>,
    /// The most bytes (engine-reported sizes) the run's instance images held at once.
    pub peak_bytes: u64,
    /// The most instance images the run held at once.
    pub peak_images: usize,
    /// Wall time spent in pulls, summed over pulls (they overlap with grading and each other).
    pub pull_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PullRecord {
    pub image: String,
    /// The instance that asked first (a look-ahead pull asks for the instance it runs ahead for).
    pub instance_id: String,
    /// When each attempt started; more than one when the registry answered 429 or 5xx.
    pub attempts_ms: Vec<u64>,
    /// When the image was there (or the pull had failed for good).
    pub done_ms: u64,
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Pulled ahead of its instance (look-ahead) rather than by the instance's worker.
    pub ahead: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Eviction {
    pub image: String,
    pub bytes: u64,
    pub at_ms: u64,
    /// Why the engine refused (the image stays, and still counts against the budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Manifest {
    pub fn load(path: &std::path::Path) -> Result<Manifest, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("manifest serialises") + "\n"
    }
}

/// Grading's network as a run used it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GradingNetworkInfo {
    /// `none`, `index` or `open`.
    pub mode: String,
    /// The egress proxy's allow-list (`index`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// The index pip was pointed at (`--index-url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_url: Option<String>,
    /// The certificates grading containers trusted for the index (`--index-ca`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<String>,
    /// Where the proxy listened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Why the mode had no effect (no Docker grading in the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
