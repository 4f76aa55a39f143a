//! GGUF files: quantized llama (candle-transformers `quantized_llama`) and qwen2
//! (`quantized_qwen2`) models, and the tokenizer rebuilt from the file's own vocabulary
//! (`tokenizer.ggml.*`) as a byte-level BPE `tokenizers::Tokenizer`, since neither candle nor
//! tokenizers reads a GGUF vocabulary directly. A `tokenizer.json` next to the file wins.
//!
//! Small models are expanded to f32 at load on the CPU (see [`LoadOptions::gguf_dequantize`]):
//! candle's quantized CPU kernels are scalar for some types (SmolLM2's Q4_1) and in builds
//! without AVX enabled at compile time, while its f32 matmul picks SIMD at run time.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek};
use std::path::Path;

use candle_core::Device;
use candle_core::quantized::gguf_file::{self, Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_transformers::models::{quantized_llama, quantized_qwen2};
use serde_json::json;
use tokenizers::Tokenizer;

use super::{Loaded, Net};
use crate::lm::template::ChatTemplate;
use crate::lm::{LmError, LoadOptions};

/// The split regex of Qwen2's (and Qwen2.5's) tokenizer.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama 3's.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn model_err(path: &Path, msg: impl std::fmt::Display) -> LmError {
    LmError::Model(format!("{}: {msg}", path.display()))
}

fn md<'a>(ct: &'a Content, key: &str) -> Option<&'a Value> {
    ct.metadata.get(key)
}

fn md_u32(ct: &Content, key: &str) -> Option<u32> {
    md(ct, key).and_then(|v| {
        v.to_u32()
            .ok()
            .or_else(|| v.to_u64().ok().map(|x| x as u32))
            .or_else(|| v.to_i32().ok().map(|x| x as u32))
    })
}

fn md_str<'a>(ct: &'a Content, key: &str) -> Option<&'a str> {
    md(ct, key)
        .and_then(|v| v.to_string().ok())
        .map(String::as_str)
}

fn md_strings(ct: &Content, key: &str) -> Option<Vec<String>> {
    let v = md(ct, key)?.to_vec().ok()?;
    v.iter()
        .map(|x| x.to_string().ok().cloned())
        .collect::<Option<Vec<_>>>()
}

/// What a GGUF file says about its model, besides the weights: read by both backends, so
/// tokenization, the chat template and stop tokens are the same whichever runs the file.
pub(crate) struct Meta {
    pub tokenizer: Tokenizer,
    pub template: ChatTemplate,
    pub stop_ids: Vec<u32>,
    pub context: usize,
    /// Rows of the embedding matrix.
    pub vocab: usize,
    /// `llama` or `qwen2`.
    pub arch: String,
}

/// The GGUF header of `path`, checked, and the reader positioned for the weights.
pub(crate) fn meta(
    path: &Path,
    opts: &LoadOptions,
) -> Result<(Meta, Content, BufReader<File>), LmError> {
    let file = File::open(path).map_err(|e| model_err(path, e))?;
    let mut reader = BufReader::new(file);
    let ct = Content::read(&mut reader)
        .map_err(|e| model_err(path, format!("not a readable GGUF file: {e}")))?;
    let arch = md_str(&ct, "general.architecture")
        .ok_or_else(|| model_err(path, "no general.architecture in the GGUF metadata"))?
        .to_string();
    if arch != "llama" && arch != "qwen2" {
        return Err(LmError::Unsupported(format!(
            "{}: GGUF architecture {arch:?}; supported: llama, qwen2",
            path.display()
        )));
    }
    let embd_rows = ct
        .tensor_infos
        .get("token_embd.weight")
        .map(|t| t.shape.dims()[0])
        .ok_or_else(|| model_err(path, "no token_embd.weight tensor"))?;

    let (tokenizer, tokens) = tokenizer_for(path, &ct)?;
    let tok_vocab = tokenizer.get_vocab_size(true);
    if tok_vocab > embd_rows {
        return Err(LmError::Tokenizer(format!(
            "{}: the tokenizer has {tok_vocab} tokens but the model's embedding has {embd_rows} rows",
            path.display()
        )));
    }

    let token_str = |key: &str| -> Option<String> {
        let id = md_u32(&ct, key)? as usize;
        tokens
            .as_ref()
            .and_then(|t| t.get(id).cloned())
            .or_else(|| tokenizer.id_to_token(id as u32))
    };
    let bos = token_str("tokenizer.ggml.bos_token_id");
    let eos = token_str("tokenizer.ggml.eos_token_id");
    let mut stop_ids = Vec::new();
    if let Some(id) = md_u32(&ct, "tokenizer.ggml.eos_token_id") {
        stop_ids.push(id);
    }
    if let Some(id) = md_u32(&ct, "tokenizer.ggml.eot_token_id") {
        stop_ids.push(id);
    }
    let template = match md_str(&ct, "tokenizer.chat_template") {
        Some(src) => ChatTemplate::new(src, bos, eos)
            .map_err(|e| LmError::Template(format!("{}: {e}", path.display())))?,
        None => ChatTemplate::chatml(),
    };

    let declared = match arch.as_str() {
        "llama" => md_u32(&ct, "llama.context_length")
            .map_or(quantized_llama::MAX_SEQ_LEN, |n| n as usize)
            .min(quantized_llama::MAX_SEQ_LEN),
        _ => md_u32(&ct, "qwen2.context_length")
            .ok_or_else(|| model_err(path, "no qwen2.context_length"))? as usize,
    };
    let context = opts.context_length.map_or(declared, |c| c.min(declared));

    Ok((
        Meta {
            tokenizer,
            template,
            stop_ids,
            context,
            vocab: embd_rows,
            arch,
        },
        ct,
        reader,
    ))
}

pub(super) fn load(path: &Path, opts: &LoadOptions, device: &Device) -> Result<Loaded, LmError> {
    let (m, ct, mut reader) = meta(path, opts)?;
    let arch = m.arch;
    let f32_bytes: usize = ct
        .tensor_infos
        .values()
        .map(|t| t.shape.elem_count() * 4)
        .sum();
    let dequantize = opts
        .gguf_dequantize
        .unwrap_or(device.is_cpu() && f32_bytes <= 2 << 30);
    let net = if dequantize {
        let (ct, mut cursor) = dequantized(ct, &mut reader)
            .map_err(|e| model_err(path, format!("cannot expand the weights: {e}")))?;
        build(&arch, ct, &mut cursor, device, path)?
    } else {
        build(&arch, ct, &mut reader, device, path)?
    };
    let dtype = if dequantize {
        "f32 (expanded from GGUF)"
    } else {
        "quantized (f32 activations)"
    };
    Ok(Loaded {
        net,
        tokenizer: m.tokenizer,
        template: m.template,
        stop_ids: m.stop_ids,
        context: m.context,
        vocab: m.vocab,
        architecture: format!("gguf/{arch}"),
        dtype: dtype.into(),
        kernels: String::new(),
    })
}

fn build<R: Read + Seek>(
    arch: &str,
    ct: Content,
    reader: &mut R,
    device: &Device,
    path: &Path,
) -> Result<Net, LmError> {
    Ok(match arch {
        "llama" => Net::Llama(
            quantized_llama::ModelWeights::from_gguf(ct, reader, device)
                .map_err(|e| model_err(path, format!("cannot load the llama weights: {e}")))?,
        ),
        _ => Net::QQwen2(std::sync::Arc::new(std::sync::Mutex::new(
            quantized_qwen2::ModelWeights::from_gguf(ct, reader, device)
                .map_err(|e| model_err(path, format!("cannot load the qwen2 weights: {e}")))?,
        ))),
    })
}

/// The same GGUF content with every tensor expanded to f32, in memory.
fn dequantized<R: Read + Seek>(
    ct: Content,
    reader: &mut R,
) -> candle_core::Result<(Content, Cursor<Vec<u8>>)> {
    let mut names: Vec<&String> = ct.tensor_infos.keys().collect();
    names.sort();
    let mut tensors = Vec::with_capacity(names.len());
    for name in names {
        let q = ct.tensor(reader, name, &Device::Cpu)?;
        let q = if q.dtype() == GgmlDType::F32 {
            q
        } else {
            QTensor::quantize(&q.dequantize(&Device::Cpu)?, GgmlDType::F32)?
        };
        tensors.push((name.as_str(), q));
    }
    let metadata: Vec<(&str, &Value)> = ct.metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, q)| (*n, q)).collect();
    let mut cursor = Cursor::new(Vec::new());
    gguf_file::write(&mut cursor, &metadata, &tensor_refs)?;
    drop(tensors);
    cursor.set_position(0);
    let ct = Content::read(&mut cursor)?;
    Ok((ct, cursor))
}

/// The tokenizer: `tokenizer.json` beside the file, or one built from the GGUF vocabulary.
/// Also returns the GGUF token strings when present.
fn tokenizer_for(path: &Path, ct: &Content) -> Result<(Tokenizer, Option<Vec<String>>), LmError> {
    let tokens = md_strings(ct, "tokenizer.ggml.tokens");
    if let Some(beside) = path.parent().map(|d| d.join("tokenizer.json"))
        && beside.is_file()
    {
        let t = Tokenizer::from_file(&beside)
            .map_err(|e| LmError::Tokenizer(format!("{}: {e}", beside.display())))?;
        return Ok((t, tokens));
    }
    let Some(tokens) = tokens else {
        return Err(LmError::Tokenizer(format!(
            "{}: no tokenizer.ggml.tokens in the metadata and no tokenizer.json beside the file",
            path.display()
        )));
    };
    let t = tokenizer_from_gguf(ct, &tokens)
        .map_err(|e| LmError::Tokenizer(format!("{}: {e}", path.display())))?;
    Ok((t, Some(tokens)))
}

/// Rebuild a GPT-2-style byte-level BPE tokenizer from `tokenizer.ggml.*`.
pub fn tokenizer_from_gguf(ct: &Content, tokens: &[String]) -> Result<Tokenizer, String> {
    let model = md_str(ct, "tokenizer.ggml.model").unwrap_or("gpt2");
    let pre = md_str(ct, "tokenizer.ggml.pre").unwrap_or("default");
    let merges = md_strings(ct, "tokenizer.ggml.merges")
        .ok_or("no tokenizer.ggml.merges in the metadata")?;
    let types: Vec<i32> = md(ct, "tokenizer.ggml.token_type")
        .and_then(|v| v.to_vec().ok())
        .map(|v| v.iter().map(|x| x.to_i32().unwrap_or(1)).collect())
        .unwrap_or_default();
    bpe_tokenizer(model, pre, tokens, &types, merges)
}

/// A byte-level BPE tokenizer from GGUF-style parts: `model` (`tokenizer.ggml.model`, only
/// `gpt2`), `pre` (`tokenizer.ggml.pre`), token strings by id, token types (3 control and 4
/// user-defined become added tokens) and `"a b"` merges.
pub fn bpe_tokenizer(
    model: &str,
    pre: &str,
    tokens: &[String],
    types: &[i32],
    merges: Vec<String>,
) -> Result<Tokenizer, String> {
    if model != "gpt2" {
        return Err(format!(
            "tokenizer.ggml.model {model:?} cannot be rebuilt (only gpt2-style BPE); put the model's tokenizer.json beside the file"
        ));
    }
    if !types.is_empty() && types.len() != tokens.len() {
        return Err(format!(
            "{} token types for {} tokens",
            types.len(),
            tokens.len()
        ));
    }
    let mut vocab = serde_json::Map::new();
    let mut added = Vec::new();
    for (id, tok) in tokens.iter().enumerate() {
        if vocab.insert(tok.clone(), json!(id)).is_some() {
            return Err(format!(
                "token {tok:?} appears twice in tokenizer.ggml.tokens"
            ));
        }
        let ty = types.get(id).copied().unwrap_or(1);
        // 3: control, 4: user-defined.
        if ty == 3 || ty == 4 {
            added.push(json!({
                "id": id, "content": tok, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": ty == 3,
            }));
        }
    }
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let split = |re: &str| json!({"type": "Split", "pattern": {"Regex": re}, "behavior": "Isolated", "invert": false});
    let (normalizer, pre_tokenizer) = match pre {
        "default" | "gpt2" | "gpt-2" => (json!(null), byte_level(true)),
        "smollm" | "starcoder" | "refact" => (
            json!(null),
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": true}, byte_level(true)]}),
        ),
        "qwen2" | "deepseek-r1-qwen" => (
            json!({"type": "NFC"}),
            json!({"type": "Sequence", "pretokenizers": [split(QWEN2_SPLIT), byte_level(false)]}),
        ),
        "llama-bpe" | "llama3" | "smaug-bpe" => (
            json!(null),
            json!({"type": "Sequence", "pretokenizers": [split(LLAMA3_SPLIT), byte_level(false)]}),
        ),
        other => {
            return Err(format!(
                "GGUF pre-tokenizer {other:?} is not supported (gpt2, smollm, qwen2, llama-bpe); put the model's tokenizer.json beside the file"
            ));
        }
    };
    let spec = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": merges,
        },
    });
    let text = serde_json::to_string(&spec).map_err(|e| e.to_string())?;
    text.parse::<Tokenizer>()
        .map_err(|e| format!("cannot build a tokenizer from the GGUF vocabulary: {e}"))
}

/// For tests: the token strings a GGUF file carries, by id.
pub fn gguf_tokens(path: &Path) -> Result<Vec<String>, LmError> {
    let mut f = BufReader::new(File::open(path).map_err(|e| model_err(path, e))?);
    let ct = Content::read(&mut f).map_err(|e| model_err(path, e))?;
    md_strings(&ct, "tokenizer.ggml.tokens").ok_or_else(|| model_err(path, "no tokens"))
}
