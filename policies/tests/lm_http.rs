//! The OpenAI-compatible HTTP backend against loopback servers that misbehave on purpose: down,
//! slow, garbage, rate-limited, failing. Each is a clear error (or a successful retry), never a
//! panic, and the API key shows up nowhere but the Authorization header.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use protege_policies::lm::http::{ApiKey, HttpConfig, HttpModel, Price};
use protege_policies::lm::{FinishReason, GenParams, LanguageModel, LmError, Message};

const KEY: &str = "sk-test-5ecret-k3y";

/// What the fake server does with one connection.
#[derive(Clone)]
enum Reply {
    /// Status, extra headers, body.
    Http(u16, Vec<(&'static str, String)>, String),
    /// Accept, read the request, never answer (until the test ends).
    Hang,
}

struct Fake {
    base: String,
    requests: Arc<Mutex<Vec<(String, String)>>>,
}

/// Serve `replies` in order, one per connection (the last one repeats).
fn fake(replies: Vec<Reply>) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    thread::spawn(move || {
        for (i, conn) in listener.incoming().enumerate().take(20) {
            let Ok(mut conn) = conn else { return };
            let reply = replies[i.min(replies.len() - 1)].clone();
            let log = log.clone();
            thread::spawn(move || {
                let (head, body) = read_request(&mut conn);
                log.lock().unwrap().push((head, body));
                match reply {
                    Reply::Hang => thread::sleep(Duration::from_secs(30)),
                    Reply::Http(status, headers, body) => {
                        let mut resp = format!(
                            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                            body.len()
                        );
                        for (k, v) in headers {
                            resp.push_str(&format!("{k}: {v}\r\n"));
                        }
                        resp.push_str("\r\n");
                        resp.push_str(&body);
                        let _ = conn.write_all(resp.as_bytes());
                    }
                }
            });
        }
    });
    Fake { base, requests }
}

fn read_request(conn: &mut TcpStream) -> (String, String) {
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut head = String::new();
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let mut body = vec![0u8; len];
    let _ = r.read_exact(&mut body);
    (head, String::from_utf8_lossy(&body).into_owned())
}

fn ok_body(text: &str) -> String {
    serde_json::json!({
        "id": "x", "object": "chat.completion", "model": "expert-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500},
    })
    .to_string()
}

fn config(base: &str) -> HttpConfig {
    HttpConfig {
        base_url: base.to_string(),
        model: "expert-1".into(),
        api_key: Some(ApiKey::new(KEY)),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        max_retries: 2,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(2),
        prices: [(
            "expert-1".to_string(),
            Price {
                input_per_m: 3.0,
                output_per_m: 15.0,
            },
        )]
        .into(),
        ..HttpConfig::default()
    }
}

fn msgs() -> Vec<Message> {
    vec![
        Message::system("You are an expert."),
        Message::user("Where is the bug?"),
    ]
}

async fn call(cfg: HttpConfig) -> Result<protege_policies::lm::Completion, LmError> {
    HttpModel::new(cfg)
        .unwrap()
        .chat(&msgs(), &GenParams::greedy(64))
        .await
}

fn no_key(e: &LmError) {
    assert!(!e.to_string().contains(KEY), "{e}");
    assert!(!format!("{e:?}").contains(KEY), "{e:?}");
}

#[tokio::test]
async fn success_usage_cost_and_the_request() {
    let f = fake(vec![Reply::Http(200, vec![], ok_body("Line 42."))]);
    let c = call(config(&f.base)).await.unwrap();
    assert_eq!(c.text, "Line 42.");
    assert_eq!((c.tokens_in, c.tokens_out), (1200, 300));
    assert!((c.cost - (1200.0 * 3.0 + 300.0 * 15.0) / 1e6).abs() < 1e-12);
    assert_eq!(c.finish, FinishReason::Stop);
    assert_eq!(c.model, "expert-1");
    let reqs = f.requests.lock().unwrap();
    let (head, body) = &reqs[0];
    assert!(head.starts_with("POST /v1/chat/completions"), "{head}");
    assert!(head.contains(&format!("Bearer {KEY}")), "the key is sent");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["model"], "expert-1");
    assert_eq!(body["messages"][1]["role"], "user");
    assert_eq!(body["max_tokens"], 64);
    assert!(body.get("top_k").is_none(), "top_k is not sent unless set");
}

#[tokio::test]
async fn endpoint_down() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = config(&format!("http://127.0.0.1:{port}/v1"));
    cfg.max_retries = 1;
    let e = call(cfg).await.unwrap_err();
    assert!(matches!(e, LmError::Unreachable { .. }), "{e}");
    let s = e.to_string();
    assert!(s.contains(&format!("127.0.0.1:{port}")), "{s}");
    assert!(s.contains("after 2 attempts"), "{s}");
    no_key(&e);
}

#[tokio::test]
async fn endpoint_that_never_answers_times_out() {
    let f = fake(vec![Reply::Hang]);
    let mut cfg = config(&f.base);
    cfg.timeout = Duration::from_millis(800);
    cfg.max_retries = 1;
    let t = Instant::now();
    let e = call(cfg).await.unwrap_err();
    assert!(matches!(e, LmError::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("timed out"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(f.requests.lock().unwrap().len(), 2, "one retry");
    no_key(&e);
}

#[tokio::test]
async fn garbage_answers() {
    for (body, needle) in [
        ("<html>oops</html>", "not JSON"),
        ("{\"object\": \"list\"}", "no choices"),
        (
            "{\"choices\": [{\"message\": {\"role\": \"assistant\"}}]}",
            "no message content",
        ),
    ] {
        let f = fake(vec![Reply::Http(200, vec![], body.to_string())]);
        let e = call(config(&f.base)).await.unwrap_err();
        assert!(matches!(e, LmError::BadResponse { .. }), "{e}");
        assert!(e.to_string().contains(needle), "{e}");
        assert_eq!(
            f.requests.lock().unwrap().len(),
            1,
            "garbage is not retried"
        );
        no_key(&e);
    }
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    let f = fake(vec![
        Reply::Http(
            429,
            vec![("Retry-After", "1".into())],
            r#"{"error": {"message": "slow down", "code": "rate_limit_exceeded"}}"#.into(),
        ),
        Reply::Http(200, vec![], ok_body("fine")),
    ]);
    let t = Instant::now();
    let c = call(config(&f.base)).await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(c.text, "fine");
    assert!(c.note.unwrap().contains("attempt 2"));
    assert_eq!(f.requests.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn server_errors_retry_then_fail_with_the_message() {
    let f = fake(vec![Reply::Http(
        503,
        vec![],
        r#"{"error": {"message": "overloaded"}}"#.into(),
    )]);
    let e = call(config(&f.base)).await.unwrap_err();
    match &e {
        LmError::Http {
            status, message, ..
        } => {
            assert_eq!(*status, 503);
            assert!(message.contains("overloaded"), "{message}");
            assert!(message.contains("after 3 attempts"), "{message}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(f.requests.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried_and_never_echo_the_key() {
    // A server that quotes the Authorization header back in its error.
    let f = fake(vec![Reply::Http(
        401,
        vec![],
        format!(r#"{{"error": {{"message": "Incorrect API key provided: Bearer {KEY}"}}}}"#),
    )]);
    let e = call(config(&f.base)).await.unwrap_err();
    assert!(matches!(e, LmError::Http { status: 401, .. }), "{e}");
    assert!(
        e.to_string()
            .contains("Incorrect API key provided: Bearer ***"),
        "{e}"
    );
    no_key(&e);
    assert_eq!(f.requests.lock().unwrap().len(), 1);
}

#[test]
fn config_from_env_and_debug_output() {
    // Only this test touches these variables in this binary.
    unsafe {
        std::env::set_var("OPENAI_BASE_URL", "http://127.0.0.1:9/v1");
        std::env::set_var("PROTEGE_EXPERT_KEY", KEY);
    }
    let c = HttpConfig::from_env("gpt-x");
    assert_eq!(c.base_url, "http://127.0.0.1:9/v1");
    assert_eq!(c.api_key, Some(ApiKey::new(KEY)));
    assert!(!format!("{c:?}").contains(KEY));
    assert!(!serde_json::to_string(&c).unwrap().contains(KEY));
    let m = HttpModel::new(c).unwrap();
    assert!(!format!("{m:?}").contains(KEY));
    let bad = HttpModel::new(HttpConfig {
        base_url: "ftp://x".into(),
        model: "m".into(),
        ..HttpConfig::default()
    })
    .unwrap_err();
    assert!(bad.to_string().contains("ftp://x"), "{bad}");
}
