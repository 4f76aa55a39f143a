//! Per-instance harness overhead on the mini set: wall time minus the eval script's own time
//! (reset, test patch, tests) minus the policy's, median and p90, with 1 and 2 workers; and the
//! peak RSS of the protege process. Needs Docker and the mini images.
//!
//! Run: `cargo bench --bench harness_overhead` (prints a table; nothing is asserted).

use std::process::Command;

use protege_results::metrics::percentile;

fn peak_children_rss_kib() -> i64 {
    // SAFETY: getrusage writes into the zeroed struct we pass and has no other effect.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru);
        ru.ru_maxrss
    }
}

fn main() {
    let bin = env!("CARGO_BIN_EXE_protege");
    let tmp = tempfile::tempdir().unwrap();
    println!(
        "| workers | instances | wall (s) | overhead median (s) | overhead p90 (s) | eval script median (s) |"
    );
    println!("|---|---|---|---|---|---|");
    for workers in [1, 2] {
        let run_id = format!("bench-{workers}");
        let started = std::time::Instant::now();
        let st = Command::new(bin)
            .args([
                "run",
                "--policy",
                "gold",
                "--quiet",
                "--workers",
                &workers.to_string(),
            ])
            .args(["--out", tmp.path().to_str().unwrap(), "--run-id", &run_id])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(
            st.success(),
            "protege run failed (is Docker up and are the mini images built?)"
        );
        let wall = started.elapsed().as_secs_f64();
        let text = std::fs::read_to_string(tmp.path().join(&run_id).join("records.jsonl")).unwrap();
        let mut overhead = Vec::new();
        let mut tests = Vec::new();
        for line in text.lines() {
            let r: serde_json::Value = serde_json::from_str(line).unwrap();
            let s = &r["stats"];
            let (w, t, p) = (
                s["wall_ms"].as_f64().unwrap(),
                s["test_ms"].as_f64().unwrap(),
                s["policy_ms"].as_f64().unwrap(),
            );
            overhead.push((w - t - p) / 1000.0);
            tests.push(t / 1000.0);
        }
        let n = overhead.len();
        println!(
            "| {workers} | {n} | {wall:.2} | {:.3} | {:.3} | {:.3} |",
            percentile(&overhead, 50.0).unwrap(),
            percentile(&overhead, 90.0).unwrap(),
            percentile(&tests, 50.0).unwrap()
        );
    }
    println!(
        "\npeak RSS of protege: {:.1} MiB",
        peak_children_rss_kib() as f64 / 1024.0
    );
}
