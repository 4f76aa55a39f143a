//! The WASI sandbox's speed: runtime preparation from the on-disk cache, one Python start, one
//! tool call of each kind (p50 / p90 over repeated runs; the interpreter commands both from the
//! start-up snapshot and started cold), and grading the whole mini set with the gold patches
//! (wall time, 1 and 2 at a time). For comparison, where a Docker engine answers and the mini
//! image is built: the same interpreter commands by `docker exec` into a running container, and
//! a container created, started, used once and removed.
//!
//! Run: `cargo bench --features wasi --bench wasi_startup` (prints tables; nothing is asserted).
//! The first run on a machine also downloads and compiles the runtime (reported separately).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use protege_harness::grading::report::{Rules, is_resolved, tests_status};
use protege_harness::grading::wasi::evaluate;
use protege_harness::{eval_script, specs};
use protege_results::metrics::percentile;
use protege_sandboxes::docker::engine::DockerEngine;
use protege_sandboxes::docker::{ContainerLimits, DockerSandbox};
use protege_sandboxes::wasi::{WasiLimits, WasiSandbox, runtime_async};
use protege_sandboxes::{ExecOptions, Sandbox};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn row(what: &str, how: &str, mut v: Vec<f64>) {
    let (p50, p90) = (percentile(&v, 50.0).unwrap(), percentile(&v, 90.0).unwrap());
    v.sort_by(f64::total_cmp);
    println!(
        "| `{what}` | {how} | {p50:.2} | {p90:.2} | {:.2} | {:.2} |",
        v[0],
        v[v.len() - 1]
    );
}

/// The Docker rows: `docker exec` into one running container, and a fresh container per
/// command (create, start, exec, remove), through protege's own Docker sandbox.
async fn docker_rows(instance_id: &str, iterations: usize, opts: &ExecOptions) {
    let image = protege_sandboxes::docker::images::protege_name(instance_id);
    let engine = match DockerEngine::connect().await {
        Ok(e) => e,
        Err(e) => return println!("\nDocker rows skipped: {e}"),
    };
    if !matches!(engine.image_id(&image).await, Ok(Some(_))) {
        return println!("\nDocker rows skipped: {image} is not built (scripts/setup.sh)");
    }
    let limits = ContainerLimits::default();
    let start = || DockerSandbox::start(&engine, &image, "bench-wasi-startup", &limits);
    println!("\nDocker, the same working copy in the mini image ({iterations} runs each):");
    println!("| command | how | p50 (ms) | p90 (ms) | min (ms) | max (ms) |");
    println!("|---|---|---|---|---|---|");
    let running = start().await.unwrap();
    for cmd in ["python3 -c pass", "python3 -m pytest -q tests"] {
        running.exec(cmd, opts).await.unwrap();
        let mut v = Vec::new();
        for _ in 0..iterations {
            let t = Instant::now();
            running.exec(cmd, opts).await.unwrap();
            v.push(ms(t.elapsed()));
        }
        row(cmd, "docker exec", v);
    }
    running.close().await.unwrap();
    let mut v = Vec::new();
    for _ in 0..iterations.div_ceil(3) {
        let t = Instant::now();
        let c = start().await.unwrap();
        c.exec("python3 -c pass", opts).await.unwrap();
        c.close().await.unwrap();
        v.push(ms(t.elapsed()));
    }
    row("python3 -c pass", "new container", v);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let iterations: usize = std::env::var("WASI_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let cached = protege_sandboxes::wasi::fetch::cache_dir().exists();
    let t = Instant::now();
    let rt = runtime_async().await.expect("WASI runtime");
    println!(
        "runtime preparation: {:.0} ms ({})",
        ms(t.elapsed()),
        if cached {
            "from the on-disk cache"
        } else {
            "first use: download, compile, unpack, make the snapshot"
        }
    );
    match rt.snapshot_status() {
        Ok(s) => println!(
            "start-up snapshot: {:.1} MiB of memory, {:.1} MiB not zero\n",
            s.memory_bytes() as f64 / 1048576.0,
            s.stored_bytes() as f64 / 1048576.0
        ),
        Err(why) => println!("start-up snapshot: none ({why}); every command starts cold\n"),
    }

    // A sandbox over one mini repository.
    let set = protege_datasets::mini::load().unwrap();
    let task = &set.tasks[0];
    let sb = WasiSandbox::open_scratch(WasiLimits::default())
        .await
        .unwrap();
    for f in protege_datasets::mini::repo_files(&task.instance_id) {
        sb.write_file(&f.path, f.contents).await.unwrap();
    }
    // The same working copy, every interpreter started cold.
    let cold = WasiSandbox::open(sb.root()).await.unwrap().cold_start(true);
    let first_py = protege_datasets::mini::repo_files(&task.instance_id)
        .into_iter()
        .find(|f| f.path.ends_with(".py") && !f.path.contains("test"))
        .unwrap()
        .path;
    let commands = [
        "python -c pass".to_string(),
        "python -c 'import sys; print(sys.version)'".to_string(),
        format!("cat {first_py}"),
        "ls -la".to_string(),
        "grep -rn def .".to_string(),
        "find . -name '*.py'".to_string(),
        "pytest --version".to_string(),
        "pytest -q tests".to_string(),
    ];
    let opts = ExecOptions::with_timeout(Duration::from_secs(120));
    println!(
        "sandbox: {} ({} files), {iterations} runs each after one warm-up",
        task.instance_id,
        protege_datasets::mini::repo_files(&task.instance_id).len()
    );
    println!("| command | start | p50 (ms) | p90 (ms) | min (ms) | max (ms) |");
    println!("|---|---|---|---|---|---|");
    for cmd in &commands {
        let interpreted = cmd.starts_with("python") || cmd.starts_with("pytest");
        for (start, sandbox) in [("snapshot", &sb), ("cold", &cold)] {
            if start == "cold" && !interpreted {
                continue;
            }
            let warm = sandbox.exec(cmd, &opts).await.unwrap();
            assert!(
                warm.exit_code.is_some(),
                "{cmd}: {warm:?} (the bench expects commands to finish)"
            );
            let mut v = Vec::new();
            for _ in 0..iterations {
                let t = Instant::now();
                sandbox.exec(cmd, &opts).await.unwrap();
                v.push(ms(t.elapsed()));
            }
            row(cmd, if interpreted { start } else { "-" }, v);
        }
    }
    cold.close().await.unwrap();
    sb.close().await.unwrap();

    // Grading the mini set with the gold patches.
    println!("\n| grading the mini set (gold) | wall (s) | resolved | tests p50 (s) |");
    println!("|---|---|---|---|");
    for workers in [1usize, 2] {
        let next = AtomicUsize::new(0);
        let worker = || async {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(task) = set.tasks.get(i) else {
                    return out;
                };
                let spec = specs::for_task(task).unwrap();
                let o = evaluate(
                    task,
                    &spec,
                    &task.patch,
                    Duration::from_secs(300),
                    Rules::Swebench4,
                )
                .await;
                let st = spec.parser.parse(eval_script::test_section(&o.test_output));
                out.push((
                    is_resolved(&tests_status(task, &st, Rules::Swebench4)),
                    o.test_duration,
                ));
            }
        };
        let t = Instant::now();
        let outcomes = if workers == 1 {
            worker().await
        } else {
            let (a, b) = tokio::join!(worker(), worker());
            [a, b].concat()
        };
        let wall = t.elapsed();
        let resolved = outcomes.iter().filter(|(r, _)| *r).count();
        let tests: Vec<f64> = outcomes.iter().map(|(_, d)| d.as_secs_f64()).collect();
        println!(
            "| {workers} at a time | {:.1} | {resolved}/{} | {:.2} |",
            wall.as_secs_f64(),
            set.tasks.len(),
            percentile(&tests, 50.0).unwrap()
        );
    }
    // Last, so that containers being removed slow none of the WASI rows.
    docker_rows(&task.instance_id, iterations, &opts).await;
}
