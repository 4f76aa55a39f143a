//! The image pipeline on the mini set: `protege run --policy gold --image-template` against a
//! real registry on loopback (Debian's `docker-registry`, started here), cold (the registry
//! names absent locally, so every image is pulled) against warm (all present), 1 and 2
//! workers, with and without look-ahead pulls; and the peak of the run's instance images
//! (engine-reported sizes, from the manifest) with and without a disk budget of two images.
//! Prints the wall time and the median per-instance overhead (wall − tests − policy) of each;
//! every run must resolve all 15 tasks.
//!
//! Cold here means the instance images are pulled through the registry (ping, manifest, config,
//! the instance layer); the layers they share with the `protege/` mini images the engine
//! already holds are not downloaded again (the engine keeps one copy per layer), so a first
//! pull of real SWE-bench images costs more.
//!
//! Run: `cargo bench --profile dev --bench image_pipeline` (`IMAGE_BENCH_ROUNDS`, default 1).
//! Needs Docker, the mini images (`scripts/setup.sh`) and `docker-registry`.

#[path = "../tests/common/registry.rs"]
mod registry;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use protege_results::metrics::percentile;
use registry::{Registry, local_images, remove_local};

fn mini_ids() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/mini");
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("task.json").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    ids
}

struct Row {
    label: String,
    walls: Vec<f64>,
    overheads: Vec<f64>,
    peak_mb: Vec<f64>,
    pulls: usize,
    evictions: usize,
}

fn main() {
    let docker = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    let have_registry = Command::new("docker-registry")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !docker || !have_registry {
        println!("needs Docker and docker-registry (scripts/setup.sh); nothing measured");
        return;
    }
    let rounds: usize = std::env::var("IMAGE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let bin = env!("CARGO_BIN_EXE_protege");
    let ids = mini_ids();
    let registry = Registry::start();
    let ns = "bench";
    registry.push_mini(ns, &ids);
    let prefix = format!("127.0.0.1:{}/{ns}/", registry.port);
    let template = Registry::template(registry.port, ns);
    let size: u64 = {
        let o = Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Size}}"])
            .arg(format!(
                "protege/sweb.eval.x86_64.{}:latest",
                ids[0].replace("__", "_1776_").to_lowercase()
            ))
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
    };
    let two_images_gb = format!("{:.9}", (size * 5 / 2) as f64 / 1e9);
    let tmp = tempfile::tempdir().unwrap();
    // (label, cold, workers, look-ahead, budget)
    let configs: Vec<(String, bool, usize, usize, Option<&str>)> = vec![
        ("cold, 1 worker, no look-ahead".into(), true, 1, 0, None),
        ("cold, 1 worker, look-ahead 4".into(), true, 1, 4, None),
        ("cold, 2 workers, no look-ahead".into(), true, 2, 0, None),
        ("cold, 2 workers, look-ahead 4".into(), true, 2, 4, None),
        ("warm, 1 worker".into(), false, 1, 4, None),
        ("warm, 2 workers".into(), false, 2, 4, None),
        (
            "cold, 2 workers, look-ahead 4, budget 2 images".into(),
            true,
            2,
            4,
            Some(two_images_gb.as_str()),
        ),
    ];
    let mut rows: Vec<Row> = configs
        .iter()
        .map(|c| Row {
            label: c.0.clone(),
            walls: Vec::new(),
            overheads: Vec::new(),
            peak_mb: Vec::new(),
            pulls: 0,
            evictions: 0,
        })
        .collect();
    for round in 0..rounds {
        for (i, (_, cold, workers, lookahead, budget)) in configs.iter().enumerate() {
            if *cold {
                remove_local(&prefix);
            } else if local_images(&prefix).len() < ids.len() {
                // warm: every registry name present before the run
                for id in &ids {
                    registry::docker(&["pull", "-q", &Registry::name(registry.port, ns, id)]);
                }
            }
            let run_id = format!("r{round}-{i}");
            let t = Instant::now();
            let mut cmd = Command::new(bin);
            cmd.args(["run", "--policy", "gold", "--quiet", "--sandbox", "docker"])
                .args(["--image-template", &template])
                .args(["--workers", &workers.to_string()])
                .args(["--image-lookahead", &lookahead.to_string()])
                .args(["--out", tmp.path().to_str().unwrap(), "--run-id", &run_id])
                .stdout(std::process::Stdio::null());
            if let Some(gb) = budget {
                cmd.args(["--disk-budget", gb]);
            }
            let st = cmd.status().unwrap();
            let wall = t.elapsed().as_secs_f64();
            assert!(st.success(), "{}", rows[i].label);
            let dir = tmp.path().join(&run_id);
            let summary: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(dir.join("tables/summary.json")).unwrap(),
            )
            .unwrap();
            assert_eq!(summary["resolved"].as_u64(), Some(ids.len() as u64));
            let mut overheads: Vec<f64> = std::fs::read_to_string(dir.join("records.jsonl"))
                .unwrap()
                .lines()
                .map(|l| {
                    let r: serde_json::Value = serde_json::from_str(l).unwrap();
                    let s = &r["stats"];
                    let ms = s["wall_ms"].as_u64().unwrap().saturating_sub(
                        s["test_ms"].as_u64().unwrap() + s["policy_ms"].as_u64().unwrap(),
                    );
                    ms as f64 / 1000.0
                })
                .collect();
            overheads.sort_by(f64::total_cmp);
            let manifest = registry::manifest(&dir);
            let images = &manifest["images"];
            let row = &mut rows[i];
            row.walls.push(wall);
            row.overheads.push(percentile(&overheads, 50.0).unwrap());
            row.peak_mb
                .push(images["peak_bytes"].as_u64().unwrap() as f64 / 1e6);
            row.pulls = images["pulls"].as_array().unwrap().len();
            row.evictions = images["evictions"].as_array().unwrap().len();
        }
    }
    remove_local(&prefix);
    println!(
        "mini image size (engine): {:.0} MB; rounds: {rounds}\n",
        size as f64 / 1e6
    );
    println!(
        "| run | median wall (s) | median overhead per instance (s) | peak instance images (MB) | pulls | evictions |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &mut rows {
        r.walls.sort_by(f64::total_cmp);
        r.overheads.sort_by(f64::total_cmp);
        r.peak_mb.sort_by(f64::total_cmp);
        println!(
            "| {} | {:.2} | {:.2} | {:.0} | {} | {} |",
            r.label,
            percentile(&r.walls, 50.0).unwrap(),
            percentile(&r.overheads, 50.0).unwrap(),
            r.peak_mb[r.peak_mb.len() - 1],
            r.pulls,
            r.evictions
        );
    }
}
