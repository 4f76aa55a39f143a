//! `protege lm serve` tokens/s with log-probabilities off and on, through the HTTP API a
//! trainer uses: the built-in SmolLM2 served by the real binary, the same greedy chat requests
//! sent with no logprobs, with `logprobs: true`, and with `top_logprobs: 5`. Prints completion
//! tokens per second of wall time for each (best of the rounds), and the tokens each produced
//! (equal across the three: greedy decoding does not depend on what is reported).
//!
//! Run: `cargo bench --profile dev --bench lm_serve` (`LM_SERVE_TOKENS`, default 64 new tokens a
//! request; `LM_SERVE_ROUNDS`, default 2).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const PROMPTS: &[&str] = &[
    "Write a Python function that reverses a string.",
    "Explain what a unified diff is in two sentences.",
    "List three common causes of a failing unit test.",
];

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start() -> (Server, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_protege"))
        .args(["lm", "serve", "--model", "smollm2", "--listen", &listen])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start protege lm serve");
    let server = Server(child);
    let base = format!("http://{listen}");
    // Loading the model (and fetching it on a first run) comes before the socket opens.
    let until = Instant::now() + Duration::from_secs(600);
    while ureq::get(&format!("{base}/v1/models")).call().is_err() {
        assert!(
            Instant::now() < until,
            "lm serve did not come up on {listen}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (server, base)
}

/// Completion tokens and seconds for one pass over the prompts with `extra` in each request.
fn pass(base: &str, tokens: usize, extra: &Value) -> (u64, f64, Vec<String>) {
    let (mut n, mut texts) = (0, Vec::new());
    let t0 = Instant::now();
    for p in PROMPTS {
        let mut body = json!({
            "model": "smollm2",
            "messages": [{"role": "user", "content": p}],
            "max_tokens": tokens,
            "temperature": 0.0,
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let reply: Value = ureq::post(&format!("{base}/v1/chat/completions"))
            .send_json(&body)
            .expect("chat completion")
            .body_mut()
            .read_json()
            .unwrap();
        n += reply["usage"]["completion_tokens"].as_u64().unwrap();
        if extra.get("logprobs").is_some() {
            let lps = reply["choices"][0]["logprobs"]["content"]
                .as_array()
                .unwrap();
            assert!(!lps.is_empty(), "logprobs asked for, none returned");
        }
        texts.push(
            reply["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    (n, t0.elapsed().as_secs_f64(), texts)
}

fn main() {
    let tokens = env_usize("LM_SERVE_TOKENS", 64);
    let rounds = env_usize("LM_SERVE_ROUNDS", 2).max(1);
    let (_server, base) = start();
    pass(&base, 8, &json!({})); // warm-up
    let modes = [
        ("logprobs off", json!({})),
        ("logprobs: true", json!({"logprobs": true})),
        (
            "top_logprobs: 5",
            json!({"logprobs": true, "top_logprobs": 5}),
        ),
    ];
    println!("| request | completion tokens | best tok/s |\n|---|---|---|");
    let mut first: Option<Vec<String>> = None;
    for (label, extra) in &modes {
        let mut best = 0f64;
        let mut count = 0;
        for _ in 0..rounds {
            let (n, secs, texts) = pass(&base, tokens, extra);
            best = best.max(n as f64 / secs);
            count = n;
            match &first {
                None => first = Some(texts),
                Some(f) => assert_eq!(f, &texts, "{label}: greedy output changed"),
            }
        }
        println!("| {label} | {count} | {best:.1} |");
    }
}
