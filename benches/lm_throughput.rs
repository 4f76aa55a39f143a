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
//!
//! With the `llamacpp` feature, `LM_BENCH_ONLY=llama` (also run by default) measures SmolLM2 on
//! llama.cpp: prefill and decode of one sequence, then aggregate decode tokens/s with 1, 2, 4 and
//! 8 concurrent sequences batched through the one model (LM_BENCH_CONCURRENCY, e.g. `1,2,4,8`),
//! and, where LLAMA_BENCH names a `llama-bench` binary, llama.cpp's own figures on the same file
//! and thread count (LM_BENCH_THREADS, default every core) beside ours (docs/lm.md):
//! `LLAMA_BENCH=/tmp/llama-bench cargo bench --features llamacpp --bench lm_throughput`.

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

/// The random model's shape: Qwen2.5-0.5B, or Qwen2.5-7B with LM_BENCH_QWEN_SHAPE=7b (the GPU
/// measurement of issue 19: `LM_BENCH_ONLY=qwen LM_BENCH_QWEN_SHAPE=7b LM_BENCH_DTYPES=bf16
/// LM_BENCH_DEVICE=cuda`, compared with weight bytes ÷ LM_BENCH_BANDWIDTH_GBS, default 4800, an
/// H200's HBM3e).
fn qwen_shape() -> Qwen2Config {
    if std::env::var("LM_BENCH_QWEN_SHAPE").as_deref() == Ok("7b") {
        Qwen2Config {
            vocab_size: 152_064,
            hidden_size: 3584,
            intermediate_size: 18_944,
            num_hidden_layers: 28,
            num_attention_heads: 28,
            num_key_value_heads: Some(4),
            tie_word_embeddings: false,
            ..Qwen2Config::qwen25_0_5b()
        }
    } else {
        Qwen2Config::qwen25_0_5b()
    }
}

/// Decode tokens/s if every step read each weight once from memory at LM_BENCH_BANDWIDTH_GBS.
fn bandwidth_bound(dir: &Path, dtype: &str) -> f64 {
    let f32_bytes = std::fs::metadata(dir.join("model.safetensors")).map_or(0, |m| m.len()) as f64;
    let bytes = if dtype == "f32" {
        f32_bytes
    } else {
        f32_bytes / 2.0
    };
    env_usize("LM_BENCH_BANDWIDTH_GBS", 4800) as f64 * 1e9 / bytes
}

/// Write a Qwen2.5-shaped model with random weights (f32) as a Hugging Face directory.
fn write_random_qwen(dir: &Path) {
    let t = Instant::now();
    let mut cfg = qwen_shape();
    cfg.max_position_embeddings = 4096;
    qwen2::write_random(dir, &cfg, DType::F32).expect("write the random model");
    // Any tokenizer that fits the vocabulary will do: ids are fed directly.
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/tests/fixtures/lm/qwen2-tiny");
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixture.join(f), dir.join(f)).expect("tokenizer");
    }
    eprintln!(
        "wrote a random Qwen2.5-shaped model ({:.0} MB) in {:.1}s",
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
                backend: Some("candle".into()),
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
        report(
            "SmolLM2-135M-Instruct Q4_1 (GGUF, candle)",
            prefill,
            decode,
            &f,
        );
    }

    #[cfg(feature = "llamacpp")]
    if only.is_empty() || only == "llama" {
        llama::run(prefill, decode, repeats);
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
                &format!("Qwen2.5-shaped, random ({dtype}, safetensors)"),
                prefill,
                dec,
                &f,
            );
            if device.is_some() {
                let bound = bandwidth_bound(tmp.path(), dtype);
                println!(
                    "  batch-1 decode bound (weight bytes / bandwidth): {bound:.1} tok/s; measured {:.0}% of it",
                    100.0 * f.decode_tps / bound
                );
            }
        }
    }
}

#[cfg(feature = "llamacpp")]
mod llama {
    use std::time::Instant;

    use protege_policies::lm::candle::CandleModel;
    use protege_policies::lm::{GenParams, LoadOptions, fetch};

    use super::{Figures, env_usize, prompt_ids, report};

    /// Prefill `prompt` (its first token changed per repeat, so no cache is reused) and decode
    /// `decode` tokens greedily; best of `repeats`.
    fn single(m: &CandleModel, prompt: &[u32], decode: usize, repeats: usize) -> Figures {
        let mut best = Figures {
            prefill_tps: 0.0,
            decode_tps: 0.0,
        };
        for r in 0..repeats {
            let mut ids = prompt.to_vec();
            ids[0] = 1000 + r as u32;
            let t = Instant::now();
            let mut first = None;
            let mut n = 0usize;
            m.generate_ids(
                &ids,
                decode + 1,
                &GenParams::greedy(decode + 1),
                &mut |_| {
                    n += 1;
                    first.get_or_insert_with(Instant::now);
                },
            )
            .expect("generate");
            let first = first.expect("a token");
            let prefill = first.duration_since(t).as_secs_f64();
            let dec = first.elapsed().as_secs_f64();
            best.prefill_tps = best.prefill_tps.max(ids.len() as f64 / prefill);
            best.decode_tps = best.decode_tps.max((n - 1) as f64 / dec);
        }
        best
    }

    /// `c` sequences started together, each with its own prompt: (steady, end to end) aggregate
    /// decode tokens/s. Steady counts the tokens made while every sequence was decoding (from
    /// the last sequence's first token to the first sequence's last): what batching decode buys.
    /// End to end runs from the earliest first token to the latest last one, and so also holds
    /// the later prompts' prefill, which joins the same steps.
    fn concurrent(
        m: &CandleModel,
        prompt: &[u32],
        decode: usize,
        c: usize,
        round: u32,
    ) -> (f64, f64) {
        let times: Vec<Vec<Instant>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..c)
                .map(|k| {
                    let mut ids = prompt.to_vec();
                    ids[0] = 2000 + round * 64 + k as u32;
                    s.spawn(move || {
                        let mut at = Vec::with_capacity(decode + 1);
                        let p = GenParams::greedy(decode + 1);
                        m.generate_ids(&ids, decode + 1, &p, &mut |_| at.push(Instant::now()))
                            .expect("generate");
                        assert!(!at.is_empty(), "a token");
                        at
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let first = |t: &Vec<Instant>| t[0];
        let last = |t: &Vec<Instant>| *t.last().unwrap();
        let start = times.iter().map(first).min().unwrap();
        let end = times.iter().map(last).max().unwrap();
        let tokens: usize = times.iter().map(|t| t.len() - 1).sum();
        let end_to_end = tokens as f64 / end.duration_since(start).as_secs_f64();
        let (from, to) = (
            times.iter().map(first).max().unwrap(),
            times.iter().map(last).min().unwrap(),
        );
        let steady_tokens = times
            .iter()
            .map(|t| t.iter().filter(|&&i| i > from && i <= to).count())
            .sum::<usize>();
        let window = to.saturating_duration_since(from).as_secs_f64();
        let steady = if window > 0.0 {
            steady_tokens as f64 / window
        } else {
            end_to_end
        };
        (steady, end_to_end)
    }

    /// llama.cpp's own `llama-bench` on the same file: (prefill, decode) tokens/s.
    fn llama_bench(
        bin: &str,
        path: &std::path::Path,
        threads: usize,
        p: usize,
        n: usize,
    ) -> Option<(f64, f64)> {
        let out = std::process::Command::new(bin)
            .args(["-m", &path.to_string_lossy(), "-t", &threads.to_string()])
            .args([
                "-p",
                &p.to_string(),
                "-n",
                &n.to_string(),
                "-r",
                "3",
                "-o",
                "json",
            ])
            .output()
            .map_err(|e| eprintln!("llama-bench {bin}: {e}"))
            .ok()?;
        if !out.status.success() {
            eprintln!("llama-bench: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| eprintln!("llama-bench output: {e}"))
            .ok()?;
        let rate = |key: &str| {
            v.as_array()?
                .iter()
                .find(|r| r[key].as_u64().unwrap_or(0) > 0)
                .and_then(|r| r["avg_ts"].as_f64())
        };
        Some((rate("n_prompt")?, rate("n_gen")?))
    }

    pub fn run(prefill: usize, decode: usize, repeats: usize) {
        let threads = env_usize(
            "LM_BENCH_THREADS",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        );
        let levels: Vec<usize> = std::env::var("LM_BENCH_CONCURRENCY")
            .unwrap_or_else(|_| "1,2,4,8".into())
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        let path = fetch::ensure(&fetch::SMOLLM2).expect("fetch smollm2");
        let m = CandleModel::load(
            &path,
            &LoadOptions {
                backend: Some("llama".into()),
                parallel: Some(levels.iter().copied().max().unwrap_or(1).max(1)),
                threads: Some(threads),
                context_length: Some(1024),
                ..LoadOptions::default()
            },
        )
        .expect("load smollm2 on llama.cpp");
        eprintln!("llama.cpp: {}", m.info().kernels);
        let ids = prompt_ids(&m, prefill);
        let f = single(&m, &ids, decode, repeats);
        report(
            &format!("SmolLM2 Q4_1 (GGUF, llama.cpp, {threads} threads)"),
            prefill,
            decode,
            &f,
        );
        let mut one = None;
        for (round, &c) in levels.iter().enumerate() {
            let (steady, whole) = (0..repeats)
                .map(|r| concurrent(&m, &ids, decode, c, (round * repeats + r) as u32))
                .fold((0.0, 0.0), |(a, b), (s, w)| {
                    (f64::max(a, s), f64::max(b, w))
                });
            let (base_s, base_w) = *one.get_or_insert((steady, whole));
            println!(
                "  {c} concurrent sequences: aggregate decode {steady:>7.1} tok/s while all decode ({:.2}x one), {whole:>7.1} tok/s end to end ({:.2}x one)",
                steady / base_s,
                whole / base_w
            );
        }
        if let Ok(bin) = std::env::var("LLAMA_BENCH") {
            match llama_bench(&bin, &path, threads, prefill, decode) {
                Some((pp, tg)) => println!(
                    "llama-bench, same file and {threads} threads: prefill {pp:.1} tok/s, decode {tg:.1} tok/s; \
                     protege/llama.cpp: prefill {:.0}%, decode {:.0}%",
                    100.0 * f.prefill_tps / pp,
                    100.0 * f.decode_tps / tg
                ),
                None => println!("llama-bench {bin}: no figures (see stderr)"),
            }
        }
    }
}
