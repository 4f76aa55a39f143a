//! The local chat pipeline on the tiny random Qwen2 model: template → tokens → KV cache →
//! sampling → text, across turns of one conversation.
#![cfg(feature = "candle")]

use std::path::{Path, PathBuf};

use protege_policies::lm::candle::CandleModel;
use protege_policies::lm::{FinishReason, GenParams, LanguageModel, LoadOptions, Message};

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lm/qwen2-tiny")
}

fn load() -> CandleModel {
    CandleModel::load(&tiny(), &LoadOptions::default()).unwrap()
}

fn sampled(seed: u64) -> GenParams {
    GenParams {
        max_new_tokens: 12,
        temperature: 1.0,
        top_p: 0.95,
        top_k: Some(50),
        seed,
        stop: vec![],
        ..GenParams::default()
    }
}

#[test]
fn prompt_is_the_rendered_template() {
    let m = load();
    let msgs = [Message::system("be brief"), Message::user("the thin")];
    let text = m.render(&msgs).unwrap();
    assert_eq!(
        text,
        "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nthe thin<|im_end|>\n<|im_start|>assistant\n"
    );
    let ids = m.encode(&text).unwrap();
    assert_eq!(ids[0], 257, "<|im_start|> is one special token");
    let c = m
        .chat_blocking(&msgs, &GenParams::greedy(5), &mut |_| true)
        .unwrap();
    assert_eq!(c.tokens_in, ids.len() as u64);
    assert!(c.tokens_out <= 5);
    assert_eq!(c.cost, 0.0);
    assert_eq!(c.model, "qwen2-tiny");
}

#[test]
fn same_seed_same_tokens() {
    let msgs = [Message::user("the theory")];
    let a = load()
        .chat_blocking(&msgs, &sampled(7), &mut |_| true)
        .unwrap();
    let b = load()
        .chat_blocking(&msgs, &sampled(7), &mut |_| true)
        .unwrap();
    assert_eq!(a.text, b.text);
    assert_eq!(a.tokens_out, b.tokens_out);
    // And on the same model, with the prompt now fully cached.
    let m = load();
    let c = m.chat_blocking(&msgs, &sampled(7), &mut |_| true).unwrap();
    let d = m.chat_blocking(&msgs, &sampled(7), &mut |_| true).unwrap();
    assert_eq!(c.text, a.text);
    assert_eq!(d.text, a.text);
    assert_eq!(d.tokens_cached, d.tokens_in);
    // Different seeds explore differently (12 tokens from ~260: a collision is negligible).
    let texts: std::collections::BTreeSet<String> = (0..4)
        .map(|s| {
            m.chat_blocking(&msgs, &sampled(100 + s), &mut |_| true)
                .unwrap()
                .text
        })
        .collect();
    assert!(texts.len() > 1);
}

#[test]
fn later_turns_reuse_the_cache_and_match_a_fresh_model() {
    let m = load();
    let mut conv = vec![Message::system("sys"), Message::user("in the")];
    let first = m
        .chat_blocking(&conv, &GenParams::greedy(6), &mut |_| true)
        .unwrap();
    assert_eq!(first.tokens_cached, 0);
    conv.push(Message::assistant(first.text.clone()));
    conv.push(Message::user("there"));
    let second = m
        .chat_blocking(&conv, &GenParams::greedy(6), &mut |_| true)
        .unwrap();
    // At least the whole first prompt came from the cache.
    assert!(
        second.tokens_cached >= first.tokens_in,
        "{} < {}",
        second.tokens_cached,
        first.tokens_in
    );
    assert!(second.tokens_cached < second.tokens_in);
    // The same conversation from an empty cache gives the same reply.
    let fresh = load()
        .chat_blocking(&conv, &GenParams::greedy(6), &mut |_| true)
        .unwrap();
    assert_eq!(fresh.tokens_cached, 0);
    assert_eq!(fresh.text, second.text);
    // A different conversation afterwards shares only a prefix: still right.
    let other = [Message::system("sys"), Message::user("other")];
    let o1 = m
        .chat_blocking(&other, &GenParams::greedy(6), &mut |_| true)
        .unwrap();
    assert!(o1.tokens_cached > 0 && o1.tokens_cached < o1.tokens_in);
    let o2 = load()
        .chat_blocking(&other, &GenParams::greedy(6), &mut |_| true)
        .unwrap();
    assert_eq!(o1.text, o2.text);
}

#[test]
fn long_conversations_drop_the_oldest_turns() {
    let m = CandleModel::load(
        &tiny(),
        &LoadOptions {
            context_length: Some(96),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let mut conv = vec![Message::system("sys")];
    for i in 0..6 {
        conv.push(Message::user(format!("question {i} about the thing")));
        conv.push(Message::assistant(format!("answer {i} to the thing")));
    }
    conv.push(Message::user("last"));
    let c = m
        .chat_blocking(&conv, &GenParams::greedy(8), &mut |_| true)
        .unwrap();
    let note = c.note.expect("a note about the dropped turns");
    assert!(note.contains("dropped"), "{note}");
    assert!(c.tokens_in + 8 <= 96, "{}", c.tokens_in);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_pieces_make_up_the_text() {
    let m = load();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let msgs = [Message::user("the")];
    let c = m
        .chat_stream(&msgs, &GenParams::greedy(10), tx)
        .await
        .unwrap();
    let mut pieces = Vec::new();
    while let Some(p) = rx.recv().await {
        pieces.push(p);
    }
    assert_eq!(pieces.concat(), c.text);
    assert!(matches!(
        c.finish,
        FinishReason::Stop | FinishReason::Length
    ));
    // The async API on the same model gives the same text.
    let again = m.chat(&msgs, &GenParams::greedy(10)).await.unwrap();
    assert_eq!(again.text, c.text);
}
