//! Chat templates rendered by minijinja against the same templates rendered by Python's jinja2
//! the way transformers does (tests/fixtures/lm/templates.json, written by
//! scripts/lm_reference.py): Qwen2.5-style, SmolLM2's, and one exercising Python-isms.

use std::path::Path;

use protege_policies::lm::template::ChatTemplate;
use protege_policies::lm::{Message, Role};
use serde_json::Value;

#[test]
fn rendered_like_transformers() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lm/templates.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 18);
    for case in cases {
        let name = case["template"].as_str().unwrap();
        let src = v["templates"][name].as_str().unwrap();
        let t = ChatTemplate::new(src, Some(String::new()), Some("<|im_end|>".into())).unwrap();
        let messages: Vec<Message> = serde_json::from_value(case["messages"].clone()).unwrap();
        let agp = case["add_generation_prompt"].as_bool().unwrap();
        let got = t.render(&messages, agp).unwrap();
        assert_eq!(
            got,
            case["expected"].as_str().unwrap(),
            "template {name}, conversation {}, add_generation_prompt {agp}",
            case["conversation"]
        );
    }
}

#[test]
fn messages_serialize_with_lowercase_roles() {
    let m = Message::new(Role::Assistant, "x");
    assert_eq!(
        serde_json::to_string(&m).unwrap(),
        r#"{"role":"assistant","content":"x"}"#
    );
}
