//! Hugging Face model directories: `config.json`, `model.safetensors` or sharded
//! `model-*.safetensors` with `model.safetensors.index.json`, `tokenizer.json`,
//! `tokenizer_config.json` (chat template, special tokens), optional `generation_config.json`
//! and `chat_template.jinja`. Qwen2 / Qwen2.5 (`Qwen2ForCausalLM`).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde_json::Value;
use tokenizers::Tokenizer;

use super::qwen2::{Qwen2, Qwen2Config};
use super::{Loaded, Net};
use crate::lm::template::ChatTemplate;
use crate::lm::{LmError, LoadOptions};

fn model_err(path: &Path, msg: impl std::fmt::Display) -> LmError {
    LmError::Model(format!("{}: {msg}", path.display()))
}

fn read_json(path: &Path) -> Result<Value, LmError> {
    let text = fs::read_to_string(path).map_err(|e| model_err(path, e))?;
    serde_json::from_str(&text).map_err(|e| model_err(path, format!("invalid JSON: {e}")))
}

fn read_json_opt(path: &Path) -> Result<Option<Value>, LmError> {
    if path.is_file() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

/// The safetensors files of `dir`, checked against the index when there is one.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, LmError> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let v = read_json(&index)?;
        let map = v
            .get("weight_map")
            .and_then(Value::as_object)
            .ok_or_else(|| model_err(&index, "no weight_map object"))?;
        let shards: BTreeSet<&str> = map.values().filter_map(Value::as_str).collect();
        if shards.is_empty() {
            return Err(model_err(&index, "weight_map names no shard"));
        }
        let mut files = Vec::new();
        for s in shards {
            let p = dir.join(s);
            if !p.is_file() {
                return Err(model_err(
                    &index,
                    format!("names shard {s}, which is missing from {}", dir.display()),
                ));
            }
            files.push(p);
        }
        return Ok(files);
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let has_bin = dir.join("pytorch_model.bin").is_file()
        || dir.join("pytorch_model.bin.index.json").is_file();
    Err(model_err(
        dir,
        if has_bin {
            "only PyTorch .bin weights; convert them to safetensors".to_string()
        } else {
            "no weights: expected model.safetensors, or model.safetensors.index.json and its shards"
                .to_string()
        },
    ))
}

/// A special token given as a string or as `{"content": …}`.
fn token_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

fn ids(v: Option<&Value>) -> Vec<u32> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(|x| vec![x as u32]).unwrap_or_default(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_u64)
            .map(|x| x as u32)
            .collect(),
        _ => Vec::new(),
    }
}

pub(super) fn load(
    dir: &Path,
    opts: &LoadOptions,
    device: &Device,
    dtype: DType,
) -> Result<Loaded, LmError> {
    let config_path = dir.join("config.json");
    if !config_path.is_file() {
        return Err(model_err(
            dir,
            "missing config.json (not a Hugging Face model directory)",
        ));
    }
    let raw = read_json(&config_path)?;
    let archs: Vec<&str> = raw
        .get("architectures")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let model_type = raw.get("model_type").and_then(Value::as_str).unwrap_or("");
    let is_qwen2 =
        archs.contains(&"Qwen2ForCausalLM") || (archs.is_empty() && model_type == "qwen2");
    if !is_qwen2 {
        return Err(LmError::Unsupported(format!(
            "{}: architecture {} (model_type {model_type:?}); supported: Qwen2ForCausalLM (Qwen2, Qwen2.5) in safetensors, and llama / qwen2 GGUF files",
            config_path.display(),
            if archs.is_empty() {
                "unspecified".to_string()
            } else {
                archs.join(", ")
            }
        )));
    }
    let cfg: Qwen2Config = serde_json::from_value(raw.clone())
        .map_err(|e| model_err(&config_path, format!("not a Qwen2 config: {e}")))?;
    if let Some(why) = cfg.unsupported() {
        return Err(LmError::Unsupported(format!(
            "{}: {why}",
            config_path.display()
        )));
    }

    // Tokenizer, template, special tokens: checked before the (large) weights are touched.
    let tok_path = dir.join("tokenizer.json");
    if !tok_path.is_file() {
        return Err(model_err(dir, "missing tokenizer.json"));
    }
    let tokenizer = Tokenizer::from_file(&tok_path)
        .map_err(|e| LmError::Tokenizer(format!("{}: {e}", tok_path.display())))?;
    let max_id = tokenizer
        .get_vocab(true)
        .values()
        .copied()
        .max()
        .unwrap_or(0) as usize;
    let tok_vocab = tokenizer.get_vocab_size(true);
    if tok_vocab > cfg.vocab_size || max_id >= cfg.vocab_size {
        return Err(LmError::Tokenizer(format!(
            "{}: the tokenizer has {tok_vocab} tokens (ids up to {max_id}) but config.json's vocab_size is {}: tokenizer and model do not match",
            tok_path.display(),
            cfg.vocab_size
        )));
    }
    let tc_path = dir.join("tokenizer_config.json");
    let tc = read_json_opt(&tc_path)?.unwrap_or(Value::Null);
    let gen_cfg = read_json_opt(&dir.join("generation_config.json"))?.unwrap_or(Value::Null);
    let bos = token_string(tc.get("bos_token"));
    let eos = token_string(tc.get("eos_token"));
    let jinja = dir.join("chat_template.jinja");
    let source = if jinja.is_file() {
        Some(fs::read_to_string(&jinja).map_err(|e| model_err(&jinja, e))?)
    } else {
        match tc.get("chat_template") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(list)) => list
                .iter()
                .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
                .or_else(|| list.first())
                .and_then(|t| t.get("template"))
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        }
    };
    let template = match source {
        Some(src) => ChatTemplate::new(src, bos.clone(), eos.clone())
            .map_err(|e| LmError::Template(format!("{}: {e}", tc_path.display())))?,
        None => ChatTemplate::chatml(),
    };
    let mut stop_ids: Vec<u32> = Vec::new();
    stop_ids.extend(ids(raw.get("eos_token_id")));
    stop_ids.extend(ids(gen_cfg.get("eos_token_id")));
    for (name, tok) in [("eos_token", &eos), ("bos_token", &bos)] {
        if let Some(t) = tok
            && tokenizer.token_to_id(t).is_none()
        {
            return Err(LmError::Tokenizer(format!(
                "{}: {name} {t:?} is not in {}",
                tc_path.display(),
                tok_path.display()
            )));
        }
    }
    if let Some(id) = eos.as_deref().and_then(|t| tokenizer.token_to_id(t)) {
        stop_ids.push(id);
    }
    for t in ["<|im_end|>", "<|endoftext|>"] {
        if let Some(id) = tokenizer.token_to_id(t) {
            stop_ids.push(id);
        }
    }
    stop_ids.sort_unstable();
    stop_ids.dedup();
    if let Some(bad) = stop_ids.iter().find(|&&i| i as usize >= cfg.vocab_size) {
        return Err(model_err(
            &config_path,
            format!("eos_token_id {bad} is outside the vocabulary"),
        ));
    }

    let context = opts
        .context_length
        .map_or(cfg.max_position_embeddings, |c| {
            c.min(cfg.max_position_embeddings)
        });
    let files = weight_files(dir)?;
    // SAFETY: the files are memory-mapped read-only for the model's lifetime; like every
    // mmap-based loader this assumes nobody truncates or rewrites them while they are mapped.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&files, dtype, device) }
        .map_err(|e| model_err(dir, format!("cannot read the safetensors files: {e}")))?;
    let net = Qwen2::new(&cfg, context, vb)
        .map_err(|e| model_err(dir, format!("the weights do not match config.json: {e}")))?;
    Ok(Loaded {
        net: Net::Qwen2(net),
        tokenizer,
        template,
        stop_ids,
        context,
        vocab: cfg.vocab_size,
        architecture: "qwen2".into(),
        dtype: format!("{dtype:?}").to_lowercase(),
        kernels: String::new(),
    })
}
