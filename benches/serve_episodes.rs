//! `protege serve` as a trainer sees it, over loopback HTTP: episodes per minute and the p50 /
//! p90 latency of one step at 1, 2 and 4 concurrent episodes on the mini set, in WASI and in
//! Docker; and `/grade` requests per minute.
//!
//! Each episode: reset, six actions (find_file, open, search_file, insert, undo_edit, a python
//! command), the `submit` action, then `submit` with the gold patch (graded in a fresh sandbox).
//!
//! Run: `cargo bench --profile dev --bench serve_episodes` (Docker needs a running engine and the
//! mini images: `protege images build --dataset mini`; without one only WASI is measured).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protege_datasets::{Task, mini};
use protege_harness::grader::{Engines, Grader, SandboxKind};
use protege_harness::serve::{self, ServeConfig, Server};
use protege_results::metrics::percentile;
use protege_sandboxes::docker::{ContainerLimits, DockerEngine};
use serde_json::{Value, json};

struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    fn post(&self, path: &str, body: Value) -> Value {
        let mut r = self
            .agent
            .post(format!("{}{path}", self.base))
            .send_json(body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let text = r.body_mut().read_to_string().unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(r.status().as_u16(), 200, "POST {path}: {v}");
        v
    }
}

fn actions(task: &Task) -> Vec<String> {
    let file = task
        .patch
        .lines()
        .find_map(|l| l.strip_prefix("+++ b/"))
        .expect("gold patch names a file")
        .to_string();
    let fence = |a: &str| format!("Next.\n```\n{a}\n```");
    vec![
        fence("find_file *.py"),
        fence(&format!("open {file}")),
        fence(&format!("search_file def {file}")),
        fence(&format!("insert {file} 0\n# scratch")),
        fence(&format!("undo_edit {file}")),
        fence("python -c 'print(6 * 7)'"),
        fence("submit"),
    ]
}

/// Runs every task as one episode, `concurrency` at a time; returns (wall, step latencies in ms,
/// resolved count).
fn episodes(
    c: &Client,
    tasks: &[Task],
    sandbox: &str,
    concurrency: usize,
) -> (Duration, Vec<f64>, usize) {
    let queue = Mutex::new(tasks.to_vec());
    let steps = Mutex::new(Vec::new());
    let resolved = Mutex::new(0usize);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..concurrency {
            s.spawn(|| {
                loop {
                    let Some(task) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    let ep = c.post(
                        "/episodes",
                        json!({"instance_id": task.instance_id, "sandbox": sandbox}),
                    )["episode_id"]
                        .as_str()
                        .unwrap()
                        .to_string();
                    for a in actions(&task) {
                        let t = Instant::now();
                        c.post(&format!("/episodes/{ep}/step"), json!({"action": a}));
                        steps
                            .lock()
                            .unwrap()
                            .push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    let sub = c.post(
                        &format!("/episodes/{ep}/submit"),
                        json!({"patch": task.patch}),
                    );
                    *resolved.lock().unwrap() += usize::from(sub["resolved"] == json!(true));
                }
            });
        }
    });
    (
        t0.elapsed(),
        steps.into_inner().unwrap(),
        resolved.into_inner().unwrap(),
    )
}

fn grades(c: &Client, tasks: &[Task], sandbox: &str, concurrency: usize) -> (Duration, usize) {
    let queue = Mutex::new(tasks.to_vec());
    let resolved = Mutex::new(0usize);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..concurrency {
            s.spawn(|| {
                while let Some(task) = { queue.lock().unwrap().pop() } {
                    let g = c.post(
                        "/grade",
                        json!({"instance_id": task.instance_id, "patch": task.patch, "sandbox": sandbox}),
                    );
                    *resolved.lock().unwrap() += usize::from(g["resolved"] == json!(true));
                }
            });
        }
    });
    (t0.elapsed(), resolved.into_inner().unwrap())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let set = mini::load().expect("mini set");
    let engine = rt.block_on(DockerEngine::connect());
    let docker = engine.is_ok();
    let grader = Grader::new(
        Engines::docker(engine),
        "bench-serve".into(),
        ContainerLimits::default(),
        Duration::from_secs(600),
        0,
    );
    let server = Server::new(
        ServeConfig {
            tasks: set.clone(),
            sandbox: SandboxKind::Wasi,
            max_sandboxes: 4,
            idle_timeout: Duration::from_secs(600),
            token: None,
            agent: Default::default(),
            reward: Default::default(),
            expert: None,
            load_model: Arc::new(|_: &str| Err("no models in this benchmark".to_string())),
            events: Arc::new(protege_harness::events::Fanout::default()),
        },
        grader,
    );
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        axum::serve(listener, serve::router(server)).await.unwrap();
    });
    let client = Client {
        base: format!("http://{addr}"),
        agent: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into(),
    };
    let n = set.tasks.len();
    let mut sandboxes = vec!["wasi"];
    if docker {
        sandboxes.push("docker");
    } else {
        println!("(no Docker engine: Docker not measured)");
    }
    println!(
        "{n} mini tasks, {} steps per episode, then submit with the gold patch\n",
        actions(&set.tasks[0]).len()
    );
    println!("| sandbox | concurrent | episodes/min | step p50 ms | step p90 ms | resolved |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for sb in &sandboxes {
        for c in [1, 2, 4] {
            let (wall, steps, resolved) = episodes(&client, &set.tasks, sb, c);
            println!(
                "| {sb} | {c} | {:.1} | {:.1} | {:.1} | {resolved}/{n} |",
                n as f64 / wall.as_secs_f64() * 60.0,
                percentile(&steps, 50.0).unwrap_or(0.0),
                percentile(&steps, 90.0).unwrap_or(0.0),
            );
        }
    }
    println!("\n| sandbox | concurrent | /grade requests/min | resolved |");
    println!("| --- | ---: | ---: | ---: |");
    for sb in &sandboxes {
        for c in [1, 2] {
            let (wall, resolved) = grades(&client, &set.tasks, sb, c);
            println!(
                "| {sb} | {c} | {:.1} | {resolved}/{n} |",
                n as f64 / wall.as_secs_f64() * 60.0
            );
        }
    }
    rt.block_on(async {
        // Nothing should be left; remove anything a failure left behind.
        if let Ok(engine) = DockerEngine::connect().await {
            engine.remove_all("bench-serve").await;
        }
    });
}
