//! Regrade throughput on the parity logs: `cargo run --release -p protege-harness --example
//! regrade_bench [LOGS] [DATASET] [GRADER]` (defaults: ../shared/parity/swe-fixer-20241128/logs,
//! ../shared/datasets/swe-bench-verified.jsonl, auto). Runs `regrade_dir` once into a temporary
//! folder and prints instances per second; run it under `/usr/bin/time -v` for peak memory.
//! With GRADER `swebench-4` or `swebench-5` the logs are first copied with the start/end markers
//! (and for 5, a `>>>>> Test Exit Code: 0` line) a script of that version prints, so that the
//! rules have sections to read; the copying is not timed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use protege_datasets::load::load_tasks;
use protege_harness::grading::rules::{GraderChoice, Rules};
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
    let choice = GraderChoice::parse(&args.next().unwrap_or_else(|| "auto".into())).unwrap();
    let tasks = load_tasks(&dataset).expect("dataset loads");
    let marked = std::env::temp_dir().join(format!("protege-regrade-logs-{}", std::process::id()));
    let logs = match choice {
        GraderChoice::Fixed(r @ (Rules::Swebench4 | Rules::Swebench5)) => {
            with_markers(&logs, &marked, (r == Rules::Swebench5).then_some(0));
            marked.clone()
        }
        _ => logs,
    };
    let out = std::env::temp_dir().join(format!("protege-regrade-bench-{}", std::process::id()));
    let bytes: u64 = std::fs::read_dir(&logs)
        .expect("logs folder")
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::metadata(e.path().join("test_output.txt")).ok())
        .map(|m| m.len())
        .sum();
    let t = Instant::now();
    let s = regrade_dir(&logs, &tasks, &out, choice).expect("regrade runs");
    let secs = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&marked);
    println!(
        "{} ({:?}): {} instances ({} reports, {} errors, {} match the official) from {:.1} MiB of test output in {:.3} s: {:.0} instances/s, {:.0} MiB/s",
        s.grader,
        s.rules_used,
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

/// Copies every `<id>/test_output.txt` with the markers where the eval script prints them:
/// after the test patch's `git apply` output, and before the final `git checkout`.
fn with_markers(logs: &Path, to: &Path, exit: Option<i32>) {
    for e in std::fs::read_dir(logs).expect("logs folder").flatten() {
        let Ok(bytes) = std::fs::read(e.path().join("test_output.txt")) else {
            continue;
        };
        let log = String::from_utf8_lossy(&bytes);
        let Some(apply) = log.find("\n+ git apply -v -\n").map(|i| i + 1) else {
            continue;
        };
        let Some(start) = log[apply + 1..].find("\n+ ").map(|i| apply + 1 + i + 1) else {
            continue;
        };
        let end = log[start..]
            .rfind("\n+ git checkout ")
            .map_or(log.len(), |i| start + i + 1);
        let code = exit.map_or(String::new(), |c| format!(">>>>> Test Exit Code: {c}\n"));
        let text = format!(
            "{}+ : '>>>>> Start Test Output'\n{}\n+ : '>>>>> End Test Output'\n{code}{}",
            &log[..start],
            &log[start..end],
            &log[end..]
        );
        let dir = to.join(e.file_name());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("test_output.txt"), text).unwrap();
    }
}
