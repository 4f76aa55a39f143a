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
