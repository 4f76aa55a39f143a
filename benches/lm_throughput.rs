//! Prefill and decode throughput of the local candle backend on this machine's CPU:
//! SmolLM2-135M-Instruct (Q4_1 GGUF, the built-in `smollm2`) and a Qwen2.5-0.5B-shaped model with
//! random weights that this benchmark writes as a Hugging Face safetensors directory and loads
//! through the ordinary loader (f32, then bf16).
//!
//! `cargo bench --bench lm_throughput` (harness = false; prints figures). Settings from the
//! environment: LM_BENCH_PREFILL (prompt tokens, default 128), LM_BENCH_DECODE (new tokens,
//! default 32), LM_BENCH_REPEATS (default 3, best run reported), LM_BENCH_ONLY (`smollm2` or
//! `qwen`), LM_BENCH_DTYPES (for the Qwen2.5-shaped model, default `f32,bf16`),
//! LM_BENCH_DEVICE (`cpu` default, `cuda` with the `cuda` feature), LM_BENCH_GGUF_DEQUANTIZE
//! (`1`: expand SmolLM2 to f32, `0`: keep it quantized; default: the loader's choice).

use std::path::Path;
use std::time::Instant;

use protege_policies::lm::LoadOptions;
use protege_policies::lm::candle::qwen2::{self, Qwen2Config};
use protege_policies::lm::candle::{CandleModel, DType};
use protege_policies::lm::fetch;
use protege_policies::lm::sampling::argmax;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

struct Figures {
    prefill_tps: f64,
    decode_tps: f64,
}

/// Best of `repeats`: prefill `prompt` from an empty cache, then decode `decode` tokens greedily.
fn measure(m: &CandleModel, prompt: &[u32], decode: usize, repeats: usize) -> Figures {
    let mut best = Figures {
        prefill_tps: 0.0,
        decode_tps: 0.0,
    };
    for _ in 0..repeats {
        let t = Instant::now();
        let mut logits = m.feed_tokens(prompt, true).expect("prefill");
        let prefill = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for _ in 0..decode {
            let next = argmax(&logits);
            logits = m.feed_tokens(&[next], false).expect("decode");
        }
        let dec = t.elapsed().as_secs_f64();
        best.prefill_tps = best.prefill_tps.max(prompt.len() as f64 / prefill);
        best.decode_tps = best.decode_tps.max(decode as f64 / dec);
    }
    best
}

fn report(name: &str, prompt: usize, decode: usize, f: &Figures) {
    println!(
        "{name:<44} prefill {prompt:>4} tok: {:>8.1} tok/s   decode {decode:>3} tok: {:>7.2} tok/s",
        f.prefill_tps, f.decode_tps
    );
}

/// A prompt of exactly `n` tokens (code-like text, repeated).
fn prompt_ids(m: &CandleModel, n: usize) -> Vec<u32> {
    let text = "def parse(line):\n    \"\"\"Split a CSV line into fields.\"\"\"\n    return [f.strip() for f in line.split(',')]\n\n";
    let mut ids = Vec::new();
    while ids.len() < n {
        ids.extend(m.encode(text).expect("encode"));
    }
    ids.truncate(n);
    ids
}

/// Write a Qwen2.5-0.5B-shaped model with random weights (f32) as a Hugging Face directory.
fn write_random_qwen(dir: &Path) {
    let t = Instant::now();
    let mut cfg = Qwen2Config::qwen25_0_5b();
    cfg.max_position_embeddings = 4096;
    qwen2::write_random(dir, &cfg, DType::F32).expect("write the random model");
    // Any tokenizer that fits the vocabulary will do: ids are fed directly.
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/tests/fixtures/lm/qwen2-tiny");
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixture.join(f), dir.join(f)).expect("tokenizer");
    }
    eprintln!(
        "wrote a random Qwen2.5-0.5B-shaped model ({:.0} MB) in {:.1}s",
        std::fs::metadata(dir.join("model.safetensors")).map_or(0, |m| m.len()) as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
}

fn main() {
    let prefill = env_usize("LM_BENCH_PREFILL", 128);
    let decode = env_usize("LM_BENCH_DECODE", 32);
    let repeats = env_usize("LM_BENCH_REPEATS", 3).max(1);
    let only = std::env::var("LM_BENCH_ONLY").unwrap_or_default();
    let device = std::env::var("LM_BENCH_DEVICE").ok();
    println!(
        "lm_throughput: {} CPU threads, device {}, best of {repeats}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        device.as_deref().unwrap_or("cpu")
    );

    if only.is_empty() || only == "smollm2" {
        let path = fetch::ensure(&fetch::SMOLLM2).expect("fetch smollm2");
        let t = Instant::now();
        let m = CandleModel::load(
            &path,
            &LoadOptions {
                device: device.clone(),
                gguf_dequantize: std::env::var("LM_BENCH_GGUF_DEQUANTIZE")
                    .ok()
                    .map(|v| v == "1"),
                ..LoadOptions::default()
            },
        )
        .expect("load smollm2");
        eprintln!("loaded smollm2 in {:.2}s", t.elapsed().as_secs_f64());
        let ids = prompt_ids(&m, prefill);
        let f = measure(&m, &ids, decode, repeats);
        report("SmolLM2-135M-Instruct Q4_1 (GGUF)", prefill, decode, &f);
    }

    if only.is_empty() || only == "qwen" {
        let tmp = tempfile::tempdir().expect("tempdir");
        write_random_qwen(tmp.path());
        let dtypes = std::env::var("LM_BENCH_DTYPES").unwrap_or_else(|_| "f32,bf16".into());
        for dtype in dtypes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let t = Instant::now();
            let m = CandleModel::load(
                tmp.path(),
                &LoadOptions {
                    dtype: Some(dtype.into()),
                    device: device.clone(),
                    ..LoadOptions::default()
                },
            )
            .expect("load random qwen");
            eprintln!(
                "loaded the random model as {dtype} in {:.2}s",
                t.elapsed().as_secs_f64()
            );
            let ids: Vec<u32> = (0..prefill as u32)
                .map(|i| 100 + (i * 7919) % 150_000)
                .collect();
            let dec = if dtype == "f32" {
                decode
            } else {
                decode.min(8)
            };
            let f = measure(&m, &ids, dec, repeats.min(2));
            report(
                &format!("Qwen2.5-0.5B-shaped, random ({dtype}, safetensors)"),
                prefill,
                dec,
                &f,
            );
        }
    }
}
