//! candle's Qwen2 logits against an independent reference: a float64 numpy implementation of
//! the Qwen2 forward pass (scripts/lm_reference.py), which wrote the tiny random model in
//! tests/fixtures/lm/qwen2-tiny and the logits it computes from exactly those weights.
#![cfg(feature = "candle")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use protege_policies::lm::LoadOptions;
use protege_policies::lm::candle::CandleModel;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lm")
}

struct Expected {
    ids: Vec<u32>,
    logits: Vec<Vec<f32>>,
    logits_tied: Vec<Vec<f32>>,
}

fn expected() -> Expected {
    let text = std::fs::read_to_string(fixtures().join("qwen2-tiny-expected.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let mat = |k: &str| -> Vec<Vec<f32>> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
                    .collect()
            })
            .collect()
    };
    Expected {
        ids: v["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect(),
        logits: mat("logits"),
        logits_tied: mat("logits_tied"),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Largest absolute difference, asserting the shapes agree.
fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "rows");
    let mut m = 0f32;
    for (ra, rb) in a.iter().zip(b) {
        assert_eq!(ra.len(), rb.len(), "vocab");
        for (x, y) in ra.iter().zip(rb) {
            m = m.max((x - y).abs());
        }
    }
    m
}

fn load(dir: &Path, dtype: &str) -> CandleModel {
    CandleModel::load(
        dir,
        &LoadOptions {
            dtype: Some(dtype.into()),
            ..LoadOptions::default()
        },
    )
    .unwrap()
}

/// Model vocabulary is padded past the tokenizer's (272 rows); the reference covers all rows.
const F32_TOL: f32 = 1e-4;

#[test]
fn f32_logits_match_the_numpy_reference_at_every_position() {
    let exp = expected();
    let m = load(&fixtures().join("qwen2-tiny"), "f32");
    assert_eq!(m.info().architecture, "qwen2");
    assert_eq!(m.info().vocab_size, 272);
    let got = m.logits_all(&exp.ids).unwrap();
    let d = max_diff(&got, &exp.logits);
    eprintln!("max |candle - reference| = {d:e}");
    assert!(d < F32_TOL, "max |candle - reference| = {d}");
    // Not trivially small logits: the comparison means something.
    let spread = exp.logits[5].iter().cloned().fold(f32::MIN, f32::max)
        - exp.logits[5].iter().cloned().fold(f32::MAX, f32::min);
    assert!(spread > 2.0, "{spread}");
}

#[test]
fn tied_embeddings_match_the_reference() {
    let exp = expected();
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("qwen2-tiny"), tmp.path());
    let cfg_path = tmp.path().join("config.json");
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["tie_word_embeddings"] = Value::Bool(true);
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let m = load(tmp.path(), "f32");
    let d = max_diff(&m.logits_all(&exp.ids).unwrap(), &exp.logits_tied);
    assert!(d < F32_TOL, "{d}");
}

#[test]
fn kv_cache_extension_matches_one_pass() {
    let exp = expected();
    let m = load(&fixtures().join("qwen2-tiny"), "f32");
    let n = exp.ids.len();
    // Prefill 5, then 1, then the rest in one multi-token step: each last-position row must
    // match the reference row for that position.
    let a = m.feed_tokens(&exp.ids[..5], true).unwrap();
    let b = m.feed_tokens(&exp.ids[5..6], false).unwrap();
    let c = m.feed_tokens(&exp.ids[6..], false).unwrap();
    assert_eq!(m.cached_tokens(), n);
    for (got, row) in [(a, 4), (b, 5), (c, n - 1)] {
        let d = max_diff(&[got], &[exp.logits[row].clone()]);
        assert!(d < F32_TOL, "row {row}: {d}");
    }
}

#[test]
fn bf16_and_f16_track_the_reference() {
    let exp = expected();
    for dtype in ["bf16", "f16"] {
        let m = load(&fixtures().join("qwen2-tiny"), dtype);
        assert_eq!(m.info().dtype, dtype);
        let got = m.logits_all(&exp.ids).unwrap();
        let d = max_diff(&got, &exp.logits);
        eprintln!("{dtype}: max |candle - reference| = {d}");
        assert!(d < 0.25, "{dtype}: {d}");
        // A multi-token step on top of a cache (the mask must be built in the right dtype).
        m.feed_tokens(&exp.ids[..4], true).unwrap();
        let last = m.feed_tokens(&exp.ids[4..], false).unwrap();
        let d = max_diff(&[last], &[exp.logits[exp.ids.len() - 1].clone()]);
        assert!(d < 0.25, "{dtype} extension: {d}");
    }
}

#[test]
fn sharded_checkpoint_loads_the_same_weights() {
    let exp = expected();
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("qwen2-tiny"), tmp.path());
    let single = tmp.path().join("model.safetensors");
    let tensors = candle_core::safetensors::load(&single, &Device::Cpu).unwrap();
    std::fs::remove_file(&single).unwrap();
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let (first, second) = names.split_at(names.len() / 2);
    let mut weight_map = serde_json::Map::new();
    for (shard, part) in [
        ("model-00001-of-00002.safetensors", first),
        ("model-00002-of-00002.safetensors", second),
    ] {
        let sub: HashMap<String, Tensor> = part
            .iter()
            .map(|n| ((*n).clone(), tensors[*n].clone()))
            .collect();
        candle_core::safetensors::save(&sub, tmp.path().join(shard)).unwrap();
        for n in part {
            weight_map.insert((*n).clone(), Value::String(shard.into()));
        }
    }
    std::fs::write(
        tmp.path().join("model.safetensors.index.json"),
        serde_json::json!({"metadata": {}, "weight_map": weight_map}).to_string(),
    )
    .unwrap();
    let m = load(tmp.path(), "f32");
    let d = max_diff(&m.logits_all(&exp.ids).unwrap(), &exp.logits);
    assert!(d < F32_TOL, "{d}");
}

/// candle-transformers' own qwen2 module agrees with the same reference (last position), so the
/// reference and both implementations are consistent.
#[test]
fn candle_transformers_qwen2_agrees() {
    use candle_transformers::models::qwen2;
    let exp = expected();
    let dir = fixtures().join("qwen2-tiny");
    let cfg: qwen2::Config =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let vb = unsafe {
        candle_nn::VarBuilder::from_mmaped_safetensors(
            &[dir.join("model.safetensors")],
            DType::F32,
            &Device::Cpu,
        )
    }
    .unwrap();
    let mut model = qwen2::ModelForCausalLM::new(&cfg, vb).unwrap();
    let input = Tensor::new(exp.ids.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let logits: Vec<f32> = model
        .forward(&input, 0)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let d = max_diff(&[logits], &[exp.logits[exp.ids.len() - 1].clone()]);
    assert!(d < F32_TOL, "{d}");
}
