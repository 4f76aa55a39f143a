//! Bad model input: each case is a clear error that names its cause, never a panic.
#![cfg(feature = "candle")]

use std::path::{Path, PathBuf};

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use protege_policies::lm::candle::CandleModel;
use protege_policies::lm::{GenParams, LmError, LoadOptions, Message};
use serde_json::Value;

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lm/qwen2-tiny")
}

/// A writable copy of the tiny model.
fn copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(tiny()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    tmp
}

fn edit_json(path: &Path, f: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

fn load_err(path: &Path) -> LmError {
    match CandleModel::load(path, &LoadOptions::default()) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e,
    }
}

fn assert_mentions(e: &LmError, needles: &[&str]) {
    let s = e.to_string();
    for n in needles {
        assert!(s.contains(n), "error {s:?} does not mention {n:?}");
    }
}

#[test]
fn missing_path_and_unknown_alias() {
    let e = protege_policies::lm::load_local("/nonexistent/model-dir", &LoadOptions::default())
        .err()
        .unwrap();
    assert!(matches!(e, LmError::Model(_)), "{e}");
    assert_mentions(&e, &["/nonexistent/model-dir", "smollm2"]);
}

#[test]
fn missing_config() {
    let d = copy();
    std::fs::remove_file(d.path().join("config.json")).unwrap();
    assert_mentions(&load_err(d.path()), &["missing config.json"]);
}

#[test]
fn invalid_and_incomplete_config() {
    let d = copy();
    std::fs::write(d.path().join("config.json"), "{not json").unwrap();
    assert_mentions(&load_err(d.path()), &["config.json", "invalid JSON"]);
    let d = copy();
    edit_json(&d.path().join("config.json"), |v| {
        v.as_object_mut().unwrap().remove("hidden_size");
    });
    assert_mentions(&load_err(d.path()), &["config.json", "hidden_size"]);
}

#[test]
fn missing_tokenizer() {
    let d = copy();
    std::fs::remove_file(d.path().join("tokenizer.json")).unwrap();
    assert_mentions(&load_err(d.path()), &["missing tokenizer.json"]);
}

#[test]
fn corrupt_tokenizer() {
    let d = copy();
    std::fs::write(d.path().join("tokenizer.json"), "{\"model\": 3}").unwrap();
    let e = load_err(d.path());
    assert!(matches!(e, LmError::Tokenizer(_)), "{e}");
    assert_mentions(&e, &["tokenizer.json"]);
}

#[test]
fn missing_weights_and_missing_shard() {
    let d = copy();
    std::fs::remove_file(d.path().join("model.safetensors")).unwrap();
    assert_mentions(&load_err(d.path()), &["no weights", "model.safetensors"]);
    std::fs::write(
        d.path().join("model.safetensors.index.json"),
        serde_json::json!({"weight_map": {
            "model.norm.weight": "model-00001-of-00002.safetensors",
            "lm_head.weight": "model-00002-of-00002.safetensors"}})
        .to_string(),
    )
    .unwrap();
    std::fs::copy(
        tiny().join("model.safetensors"),
        d.path().join("model-00001-of-00002.safetensors"),
    )
    .unwrap();
    assert_mentions(
        &load_err(d.path()),
        &["model-00002-of-00002.safetensors", "missing"],
    );
}

#[test]
fn truncated_weights() {
    let d = copy();
    let p = d.path().join("model.safetensors");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = load_err(d.path());
    assert!(matches!(e, LmError::Model(_)), "{e}");
    assert_mentions(&e, &["safetensors"]);
}

#[test]
fn weights_that_do_not_match_the_config() {
    let d = copy();
    edit_json(&d.path().join("config.json"), |v| {
        v["intermediate_size"] = 96.into();
    });
    let e = load_err(d.path());
    assert_mentions(&e, &["do not match config.json", "gate_proj"]);
    // An untied model without its lm_head.
    let d = copy();
    let p = d.path().join("model.safetensors");
    let mut ts = candle_core::safetensors::load(&p, &Device::Cpu).unwrap();
    ts.remove("lm_head.weight");
    candle_core::safetensors::save(&ts, &p).unwrap();
    assert_mentions(&load_err(d.path()), &["lm_head.weight"]);
}

#[test]
fn unsupported_architecture() {
    let d = copy();
    edit_json(&d.path().join("config.json"), |v| {
        v["architectures"] = serde_json::json!(["LlamaForCausalLM"]);
        v["model_type"] = "llama".into();
    });
    let e = load_err(d.path());
    assert!(matches!(e, LmError::Unsupported(_)), "{e}");
    assert_mentions(&e, &["LlamaForCausalLM", "Qwen2ForCausalLM"]);
    let d = copy();
    edit_json(&d.path().join("config.json"), |v| {
        v["rope_scaling"] = serde_json::json!({"type": "yarn", "factor": 4.0});
    });
    assert_mentions(&load_err(d.path()), &["rope_scaling", "yarn"]);
}

#[test]
fn tokenizer_that_does_not_match_the_vocabulary() {
    let d = copy();
    // 16 more tokens than the 264 the model was trained with: 280 > 272 embedding rows.
    edit_json(&d.path().join("tokenizer.json"), |v| {
        let added = v["added_tokens"].as_array_mut().unwrap();
        for i in 0..16 {
            added.push(serde_json::json!({
                "id": 264 + i, "content": format!("<|extra_{i}|>"), "single_word": false,
                "lstrip": false, "rstrip": false, "normalized": false, "special": true}));
        }
    });
    let e = load_err(d.path());
    assert!(matches!(e, LmError::Tokenizer(_)), "{e}");
    assert_mentions(&e, &["280 tokens", "vocab_size is 272", "do not match"]);
    // A tokenizer_config.json whose eos token the tokenizer lacks.
    let d = copy();
    edit_json(&d.path().join("tokenizer_config.json"), |v| {
        v["eos_token"] = "</s>".into();
    });
    assert_mentions(&load_err(d.path()), &["eos_token", "</s>"]);
}

#[test]
fn broken_chat_template() {
    let d = copy();
    edit_json(&d.path().join("tokenizer_config.json"), |v| {
        v["chat_template"] = "{% for m in messages %}{{ m.content }".into();
    });
    let e = load_err(d.path());
    assert!(matches!(e, LmError::Template(_)), "{e}");
    assert_mentions(&e, &["tokenizer_config.json"]);
}

#[test]
fn not_a_model_file() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("weights.bin");
    std::fs::write(&p, b"hello").unwrap();
    assert_mentions(&load_err(&p), &["neither a GGUF file"]);
}

#[test]
fn corrupt_gguf() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("m.gguf");
    let mut bytes = b"GGUF".to_vec();
    bytes.extend_from_slice(&[3, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255]);
    std::fs::write(&p, bytes).unwrap();
    let e = load_err(&p);
    assert!(matches!(e, LmError::Model(_)), "{e}");
    assert_mentions(&e, &["m.gguf", "GGUF"]);
}

fn write_gguf(path: &Path, arch: &str, tokens: usize) {
    let emb = Tensor::zeros((tokens, 32), candle_core::DType::F32, &Device::Cpu).unwrap();
    let q = QTensor::quantize(&emb, GgmlDType::F32).unwrap();
    let arch_v = gguf_file::Value::String(arch.into());
    let toks = gguf_file::Value::Array(
        (0..tokens)
            .map(|i| gguf_file::Value::String(format!("t{i}")))
            .collect(),
    );
    let model = gguf_file::Value::String("gpt2".into());
    let merges = gguf_file::Value::Array(vec![]);
    let mut f = std::fs::File::create(path).unwrap();
    gguf_file::write(
        &mut f,
        &[
            ("general.architecture", &arch_v),
            ("tokenizer.ggml.model", &model),
            ("tokenizer.ggml.tokens", &toks),
            ("tokenizer.ggml.merges", &merges),
        ],
        &[("token_embd.weight", &q)],
    )
    .unwrap();
}

#[test]
fn gguf_with_an_unsupported_architecture() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("gemma.gguf");
    write_gguf(&p, "gemma", 8);
    let e = load_err(&p);
    assert!(matches!(e, LmError::Unsupported(_)), "{e}");
    assert_mentions(&e, &["\"gemma\"", "llama, qwen2"]);
}

#[test]
fn gguf_with_missing_tensors() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("broken.gguf");
    write_gguf(&p, "llama", 8);
    let e = load_err(&p);
    // The metadata lacks llama.attention.head_count: named in the error.
    assert_mentions(&e, &["broken.gguf", "llama"]);
}

#[test]
fn bad_options() {
    let e = CandleModel::load(
        &tiny(),
        &LoadOptions {
            dtype: Some("f8".into()),
            ..LoadOptions::default()
        },
    )
    .err()
    .unwrap();
    assert_mentions(&e, &["dtype", "f8"]);
    let e = CandleModel::load(
        &tiny(),
        &LoadOptions {
            device: Some("tpu".into()),
            ..LoadOptions::default()
        },
    )
    .err()
    .unwrap();
    assert_mentions(&e, &["device", "tpu"]);
    if !cfg!(feature = "cuda") {
        let e = CandleModel::load(
            &tiny(),
            &LoadOptions {
                device: Some("cuda".into()),
                ..LoadOptions::default()
            },
        )
        .err()
        .unwrap();
        assert!(matches!(e, LmError::Unsupported(_)), "{e}");
        assert_mentions(&e, &["cuda"]);
    }
}

#[test]
fn prompt_longer_than_the_context() {
    let m = CandleModel::load(&tiny(), &LoadOptions::default()).unwrap();
    assert_eq!(m.info().context_length, 128);
    let long = "word ".repeat(200);
    let e = m
        .chat_blocking(
            &[Message::system("s"), Message::user(long)],
            &GenParams::greedy(4),
            &mut |_| true,
        )
        .unwrap_err();
    match e {
        LmError::PromptTooLong { tokens, context } => {
            assert!(tokens > 128, "{tokens}");
            assert_eq!(context, 128);
        }
        other => panic!("{other}"),
    }
    // The model still works afterwards.
    let c = m
        .chat_blocking(&[Message::user("hi")], &GenParams::greedy(3), &mut |_| true)
        .unwrap();
    assert!(c.tokens_out <= 3);
}
