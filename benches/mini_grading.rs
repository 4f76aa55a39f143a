//! Grading the whole mini set with the gold patches, WASI against Docker: the wall time of
//! `protege run --sandbox wasi|docker --workers 1|2 --quiet`, a fresh run folder each time,
//! rounds interleaved so that both sandboxes see the same machine, with a few idle seconds
//! before each run so that none starts while the last one's clean-up (container removal) still
//! runs. Prints the median, the
//! fastest and the slowest of each, and Docker's median over WASI's; every run must resolve
//! all 15 tasks. Needs Docker and the mini images (`scripts/setup.sh`) for the Docker rows.
//!
//! Run: `cargo bench --profile dev --bench mini_grading` (`MINI_BENCH_ROUNDS`, default 3;
//! `MINI_BENCH_SETTLE_S`, the idle gap, default 3).

use std::process::Command;
use std::time::Instant;

use protege_results::metrics::percentile;

fn main() {
    let rounds: usize = std::env::var("MINI_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let bin = env!("CARGO_BIN_EXE_protege");
    let tmp = tempfile::tempdir().unwrap();
    let docker = Command::new("docker")
        .arg("info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let mut sandboxes = vec!["wasi"];
    if docker {
        sandboxes.push("docker");
    } else {
        println!("no Docker engine answers: WASI rows only\n");
    }
    let configs: Vec<(&str, usize)> = sandboxes.iter().flat_map(|s| [(*s, 1), (*s, 2)]).collect();
    let mut walls = vec![Vec::new(); configs.len()];
    // One untimed WASI run first: the first process on a machine makes the start-up snapshot.
    let settle = std::time::Duration::from_secs(
        std::env::var("MINI_BENCH_SETTLE_S")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3),
    );
    let run_once = |sandbox: &str, workers: usize, id: &str| {
        std::thread::sleep(settle);
        let out = tmp.path().join(id);
        let t = Instant::now();
        let st = Command::new(bin)
            .args(["run", "--policy", "gold", "--quiet", "--sandbox", sandbox])
            .args(["--workers", &workers.to_string()])
            .args(["--out", out.to_str().unwrap(), "--run-id", "r"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        let wall = t.elapsed().as_secs_f64();
        assert!(st.success(), "protege run --sandbox {sandbox} failed");
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("r/tables/summary.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            (summary["resolved"].as_u64(), summary["tasks"].as_u64()),
            (Some(15), Some(15)),
            "{sandbox}: every gold patch must resolve"
        );
        wall
    };
    run_once("wasi", 2, "warm-up");
    for round in 0..rounds {
        for (i, (sandbox, workers)) in configs.iter().enumerate() {
            walls[i].push(run_once(
                sandbox,
                *workers,
                &format!("{sandbox}-{workers}-{round}"),
            ));
        }
    }
    println!("| sandbox | workers | median wall (s) | fastest (s) | slowest (s) |");
    println!("|---|---|---|---|---|");
    let mut medians = Vec::new();
    for ((sandbox, workers), w) in configs.iter().zip(&mut walls) {
        w.sort_by(f64::total_cmp);
        let med = percentile(w, 50.0).unwrap();
        medians.push(med);
        println!(
            "| {sandbox} | {workers} | {med:.2} | {:.2} | {:.2} |",
            w[0],
            w[w.len() - 1]
        );
    }
    if docker {
        for workers in [1usize, 2] {
            let (w, d) = (medians[workers - 1], medians[workers + 1]);
            println!(
                "\n{workers} at a time: Docker's median / WASI's = {:.2}×",
                d / w
            );
        }
    }
}
