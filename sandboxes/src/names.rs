//! Image names every backend that runs images uses.

/// The official SWE-bench instance image: `swebench/sweb.eval.x86_64.<id>:latest` with `__`
/// written `_1776_` and the name lower-cased.
pub fn official_name(instance_id: &str) -> String {
    format!(
        "swebench/sweb.eval.x86_64.{}:latest",
        instance_id.replace("__", "_1776_").to_lowercase()
    )
}

/// The instance image protege builds itself when no official one is available.
pub fn protege_name(instance_id: &str) -> String {
    format!(
        "protege/sweb.eval.x86_64.{}:latest",
        instance_id.replace("__", "_1776_").to_lowercase()
    )
}
