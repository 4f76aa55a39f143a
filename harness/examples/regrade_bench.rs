//! Regrade throughput on the parity logs: `cargo run --release -p protege-harness --example
//! regrade_bench [LOGS] [DATASET]` (defaults: ../shared/parity/swe-fixer-20241128/logs and
//! ../shared/datasets/swe-bench-verified.jsonl). Runs `regrade_dir` once into a temporary folder
//! and prints instances per second; run it under `/usr/bin/time -v` for peak memory.

use std::path::PathBuf;
use std::time::Instant;

use protege_datasets::load::load_tasks;
use protege_harness::grading::rules::GraderChoice;
use protege_harness::regrade::regrade_dir;

fn main() {
    let shared = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared"));
    let mut args = std::env::args().skip(1);
    let logs = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| shared.join("parity/swe-fixer-20241128/logs"));
    let dataset = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| shared.join("datasets/swe-bench-verified.jsonl"));
    let tasks = load_tasks(&dataset).expect("dataset loads");
    let out = std::env::temp_dir().join(format!("protege-regrade-bench-{}", std::process::id()));
    let bytes: u64 = std::fs::read_dir(&logs)
        .expect("logs folder")
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::metadata(e.path().join("test_output.txt")).ok())
        .map(|m| m.len())
        .sum();
    let t = Instant::now();
    let s = regrade_dir(&logs, &tasks, &out, GraderChoice::Auto).expect("regrade runs");
    let secs = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&out);
    println!(
        "{} instances ({} reports, {} errors, {} match the official) from {:.1} MiB of test output in {:.3} s: {:.0} instances/s, {:.0} MiB/s",
        s.instances,
        s.completed,
        s.error,
        s.matches,
        bytes as f64 / (1 << 20) as f64,
        secs,
        s.instances as f64 / secs,
        bytes as f64 / (1 << 20) as f64 / secs
    );
}
