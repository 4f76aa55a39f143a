//! Naming a model on the command line: a built-in alias (`smollm2`), a model directory or GGUF
//! file (candle), or an OpenAI-compatible endpoint `http(s)://HOST/v1[#MODEL]`.

use std::sync::Arc;

use crate::lm::http::{HttpConfig, HttpModel};
use crate::lm::{LanguageModel, LmError, LoadOptions, load_local};

/// The small model used when none is named.
pub const DEFAULT_SLM: &str = "smollm2";

pub fn from_spec(spec: &str) -> Result<Arc<dyn LanguageModel>, LmError> {
    if spec.starts_with("http://") || spec.starts_with("https://") {
        let (url, model) = spec.split_once('#').unwrap_or((spec, "default"));
        let mut cfg = HttpConfig::from_env(model);
        cfg.base_url = url.trim_end_matches('/').to_string();
        return Ok(Arc::new(HttpModel::new(cfg)?));
    }
    load_local(spec, &LoadOptions::default())
}
