//! What grading's network costs, and what regrading costs under each rule set.
//!
//! 1. The mini set's gold patches under `--grading-network none` and `index` (Docker, 1
//!    worker): the median per-instance test time and wall time from the records (the proxy is
//!    set up once per run and no mini eval installs anything, so the two should agree).
//! 2. The pip task of `tests/e2e_grading_network.rs` (a gold patch adding a dependency, served
//!    by a loopback index): its test time with `none` (pip's retries, then failure) and `index`
//!    (the install through the proxy).
//! 3. `regrade` of the shared parity logs (`../shared/parity/swe-fixer-20241128`, 500
//!    instances) under `--grader swebench-2|swebench-4|swebench-5`: instances per second.
//!
//! Run: `cargo bench --profile dev --bench grading_network` (`NET_BENCH_ROUNDS`, default 3).
//! Needs Docker and the mini images (`scripts/setup.sh`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::pkg_index::{Fixture, build_image};
use protege_results::metrics::percentile;

fn run(dir: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let st = Command::new(common::bin())
        .args(args)
        .args([
            "--policy",
            "gold",
            "--quiet",
            "--workers",
            "1",
            "--run-id",
            "r",
        ])
        .arg("--out")
        .arg(dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.code().is_some(), "protege run {args:?} was killed");
    common::records(&dir.join("r"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 50.0).unwrap_or(f64::NAN)
}

fn ms(recs: &[serde_json::Value], field: &str) -> Vec<f64> {
    recs.iter()
        .map(|r| r["stats"][field].as_f64().unwrap())
        .collect()
}

fn main() {
    let rounds: usize = std::env::var("NET_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let tmp = tempfile::tempdir().unwrap();
    common::ensure_mini_images();

    println!("## mini, gold, Docker, 1 worker ({rounds} rounds)\n");
    println!("| grading network | median test (ms) | median wall (ms) | resolved |");
    println!("|---|---|---|---|");
    let modes = ["none", "index"];
    let mut per_mode = vec![(Vec::new(), Vec::new(), 0usize); modes.len()];
    for round in 0..rounds {
        for (i, mode) in modes.iter().enumerate() {
            let dir = tmp.path().join(format!("mini-{mode}-{round}"));
            let recs = run(&dir, &["run", "--grading-network", mode]);
            per_mode[i].0.extend(ms(&recs, "test_ms"));
            per_mode[i].1.extend(ms(&recs, "wall_ms"));
            per_mode[i].2 += recs
                .iter()
                .filter(|r| r["verdict"]["outcome"] == "resolved")
                .count();
        }
    }
    for (mode, (test, wall, resolved)) in modes.iter().zip(per_mode) {
        let n = test.len();
        println!(
            "| {mode} | {:.0} | {:.0} | {resolved}/{n} |",
            median(test),
            median(wall)
        );
    }

    println!("\n## a gold patch that adds a dependency (pip in the eval script)\n");
    build_image();
    let Fixture {
        dataset,
        index_url: url,
        ..
    } = &Fixture::start(tmp.path());
    println!("| grading network | median test (ms) | outcome |");
    println!("|---|---|---|");
    for mode in modes {
        let mut test = Vec::new();
        let mut outcome = String::new();
        for round in 0..rounds {
            let dir = tmp.path().join(format!("dep-{mode}-{round}"));
            let recs = run(
                &dir,
                &[
                    "run",
                    "--dataset",
                    dataset.to_str().unwrap(),
                    "--grading-network",
                    mode,
                    "--index-url",
                    url,
                ],
            );
            test.extend(ms(&recs, "test_ms"));
            outcome = recs[0]["verdict"]["outcome"].as_str().unwrap().to_string();
        }
        println!("| {mode} | {:.0} | {outcome} |", median(test));
    }

    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let logs = shared.join("parity/swe-fixer-20241128/logs");
    let verified = shared.join("datasets/swe-bench-verified.jsonl");
    if !logs.is_dir() || !verified.is_file() {
        println!("\n(regrade rows skipped: {} not found)", shared.display());
        return;
    }
    println!("\n## regrade of the shared parity logs ({rounds} rounds)\n");
    println!("| rules | instances | median s | instances/s |");
    println!("|---|---|---|---|");
    for rules in ["swebench-2", "swebench-4", "swebench-5"] {
        let mut secs = Vec::new();
        let mut n = 0;
        for round in 0..rounds {
            let out = tmp.path().join(format!("regrade-{rules}-{round}"));
            let t = Instant::now();
            let st = Command::new(common::bin())
                .args(["regrade", "--logs", logs.to_str().unwrap()])
                .args(["--dataset", verified.to_str().unwrap(), "--grader", rules])
                .args(["--out", out.to_str().unwrap(), "--run-id", "g"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            secs.push(t.elapsed().as_secs_f64());
            assert!(st.code().is_some());
            n = std::fs::read_dir(&logs).unwrap().count();
        }
        let m = median(secs);
        println!("| {rules} | {n} | {m:.2} | {:.0} |", n as f64 / m);
    }
}
