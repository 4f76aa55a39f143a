//! End-to-end: the image pipeline against a real registry on loopback (Debian's
//! `docker-registry`): the mini images pushed there and absent locally under its names are
//! pulled by `run --image-template`, through a proxy answering 429 at first, and under a disk
//! budget that holds two of them. Each test has its own registry and names, so they run at once.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::registry::{RateLimitingProxy, Registry, local_images, manifest, remove_local};
use common::*;

fn ready() -> bool {
    if !docker_available() || !common::registry::registry_available() {
        return false;
    }
    ensure_mini_images();
    true
}

/// `protege run --policy gold` of the mini set with `extra` flags; the run folder.
fn gold_run(tmp: &Path, run_id: &str, extra: &[&str]) -> std::path::PathBuf {
    let out = tmp.to_str().unwrap();
    let mut args = vec![
        "run",
        "--dataset",
        "mini",
        "--policy",
        "gold",
        "--out",
        out,
        "--run-id",
        run_id,
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let o = protege(&args, tmp);
    let (_, stderr) = text(&o);
    assert!(o.status.success(), "protege {}: {stderr}", args.join(" "));
    tmp.join(run_id)
}

fn assert_all_resolved(run_dir: &Path) {
    let recs = records(run_dir);
    let ids = mini_ids();
    assert_eq!(recs.len(), ids.len());
    for id in &ids {
        assert_eq!(outcome_of(&recs, id), "resolved", "{id}");
    }
}

fn events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_registry_template_pulls_every_mini_image_and_resolves_them() {
    if !ready() {
        return;
    }
    let registry = Registry::start();
    let ns = "pull";
    registry.push_mini(ns, &mini_ids());
    let prefix = format!("127.0.0.1:{}/{ns}/", registry.port);
    assert!(local_images(&prefix).is_empty());
    let tmp = tempfile::tempdir().unwrap();
    let ev = tmp.path().join("events.jsonl");
    let template = Registry::template(registry.port, ns);
    let run_dir = gold_run(
        tmp.path(),
        "img-pull",
        &[
            "--image-template",
            &template,
            "--events",
            ev.to_str().unwrap(),
        ],
    );
    assert_all_resolved(&run_dir);
    let m = manifest(&run_dir);
    let pulls = m["images"]["pulls"].as_array().unwrap();
    let ids = mini_ids();
    assert_eq!(pulls.len(), ids.len(), "{pulls:?}");
    for p in pulls {
        assert!(p["error"].is_null(), "{p}");
        assert!(p["image"].as_str().unwrap().starts_with(&prefix), "{p}");
        assert!(p["bytes"].as_u64().unwrap() > 0, "{p}");
    }
    // every instance graded in the image pulled for it, and told as it happened
    let pulled: Vec<_> = events(&ev)
        .into_iter()
        .filter(|e| e["event"] == "image_pulled")
        .collect();
    assert_eq!(pulled.len(), ids.len());
    assert!(
        pulled.iter().any(|e| e["ahead"] == true),
        "with the default look-ahead some images are pulled before their instance starts"
    );
    assert_eq!(local_images(&prefix).len(), ids.len());
    remove_local(&prefix);
}

#[test]
fn pulls_refused_with_429_are_retried_within_the_rate_cap() {
    if !ready() {
        return;
    }
    let registry = Registry::start();
    let ns = "limited";
    registry.push_mini(ns, &mini_ids());
    let proxy = RateLimitingProxy::start(registry.port, 3);
    let prefix = format!("127.0.0.1:{}/{ns}/", proxy.port);
    let tmp = tempfile::tempdir().unwrap();
    let ev = tmp.path().join("events.jsonl");
    let template = Registry::template(proxy.port, ns);
    let cap = 25;
    let run_dir = gold_run(
        tmp.path(),
        "img-429",
        &[
            "--image-template",
            &template,
            "--pulls-per-minute",
            &cap.to_string(),
            "--events",
            ev.to_str().unwrap(),
        ],
    );
    assert_all_resolved(&run_dir);
    assert_eq!(
        proxy.refused.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "the proxy refused its first three manifest requests"
    );
    let m = manifest(&run_dir);
    let pulls = m["images"]["pulls"].as_array().unwrap();
    assert_eq!(pulls.len(), mini_ids().len());
    let mut starts: Vec<u64> = Vec::new();
    for p in pulls {
        assert!(p["error"].is_null(), "{p}");
        starts.extend(
            p["attempts_ms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap()),
        );
    }
    let retried = pulls
        .iter()
        .filter(|p| p["attempts_ms"].as_array().unwrap().len() > 1)
        .count();
    assert!(retried >= 1, "{pulls:?}");
    assert!(
        starts.len() > mini_ids().len(),
        "refused pulls were tried again"
    );
    // no 60 seconds hold more attempts than the cap
    starts.sort();
    for (i, t) in starts.iter().enumerate() {
        let within = starts[i..].iter().take_while(|s| **s < t + 60_000).count();
        assert!(
            within <= cap,
            "{within} attempts within 60 s of {t} ms: {starts:?}"
        );
    }
    let retries: Vec<_> = events(&ev)
        .into_iter()
        .filter(|e| e["event"] == "image_pull_retry")
        .collect();
    assert_eq!(retries.len(), starts.len() - mini_ids().len());
    for r in &retries {
        assert!(
            r["reason"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("toomanyrequests")
                || r["reason"].as_str().unwrap().contains("429"),
            "{r}"
        );
    }
    remove_local(&prefix);
}

#[test]
fn a_disk_budget_of_two_images_grades_everything_holding_at_most_two() {
    if !ready() {
        return;
    }
    let registry = Registry::start();
    let ns = "budget";
    registry.push_mini(ns, &mini_ids());
    let prefix = format!("127.0.0.1:{}/{ns}/", registry.port);
    // the engine's size of a mini image (all of them are within a few kB of each other)
    let sizes: Vec<u64> = mini_ids()
        .iter()
        .map(|id| {
            let o = Command::new("docker")
                .args(["image", "inspect", "--format", "{{.Size}}"])
                .arg(format!(
                    "protege/sweb.eval.x86_64.{}:latest",
                    id.replace("__", "_1776_").to_lowercase()
                ))
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
        })
        .collect();
    let largest = *sizes.iter().max().unwrap();
    let smallest = *sizes.iter().min().unwrap();
    // room for two of the largest, never three of the smallest
    let budget = (2 * largest).max(smallest * 5 / 2);
    assert!(budget < 3 * smallest);
    let gb = format!("{:.9}", budget as f64 / 1e9);
    let tmp = tempfile::tempdir().unwrap();
    let template = Registry::template(registry.port, ns);
    let run_dir = gold_run(
        tmp.path(),
        "img-budget",
        &["--image-template", &template, "--disk-budget", &gb],
    );
    assert_all_resolved(&run_dir);
    let m = manifest(&run_dir);
    let images = &m["images"];
    assert_eq!(images["disk_budget_bytes"].as_u64(), Some(budget));
    let pulls = images["pulls"].as_array().unwrap();
    let evictions = images["evictions"].as_array().unwrap();
    assert_eq!(pulls.len(), mini_ids().len());
    assert!(evictions.len() >= mini_ids().len() - 2, "{evictions:?}");
    // replaying the manifest: every image evicted was pulled before, and no moment holds three
    let mut timeline: Vec<(u64, i32, String)> = Vec::new();
    for p in pulls {
        assert!(p["error"].is_null(), "{p}");
        timeline.push((p["done_ms"].as_u64().unwrap(), 1, p["image"].to_string()));
    }
    for e in evictions {
        assert!(e["error"].is_null(), "{e}");
        timeline.push((e["at_ms"].as_u64().unwrap(), -1, e["image"].to_string()));
    }
    // at the same millisecond an eviction comes first: it is done before the pull it made room for
    timeline.sort();
    let mut present: BTreeMap<String, i32> = BTreeMap::new();
    let mut most = 0;
    for (_, delta, image) in &timeline {
        let n = present.entry(image.clone()).or_default();
        *n += delta;
        assert!((0..=1).contains(n), "{image} evicted before it was pulled");
        most = most.max(present.values().sum::<i32>());
    }
    assert!(most <= 2, "{most} instance images at once: {timeline:?}");
    assert!(images["peak_images"].as_u64().unwrap() <= 2);
    assert!(images["peak_bytes"].as_u64().unwrap() <= budget);
    // and the engine agrees: what is left is what the manifest says is left
    let left = local_images(&prefix);
    assert!(left.len() <= 2, "{left:?}");
    assert_eq!(left.len() as i32, present.values().sum::<i32>());
    remove_local(&prefix);
}

#[test]
fn prune_removes_a_sets_pulled_images_down_to_the_budget() {
    if !ready() {
        return;
    }
    let registry = Registry::start();
    let ns = "prune";
    let ids: Vec<String> = mini_ids().into_iter().take(3).collect();
    registry.push_mini(ns, &ids);
    let prefix = format!("127.0.0.1:{}/{ns}/", registry.port);
    for id in &ids {
        common::registry::docker(&["pull", "-q", &Registry::name(registry.port, ns, id)]);
    }
    let template = Registry::template(registry.port, ns);
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec![
        "images",
        "prune",
        "--dataset",
        "mini",
        "--image-template",
        &template,
    ];
    for id in &ids {
        args.extend(["--instances", id.as_str()]);
    }
    let mut dry = args.clone();
    dry.push("--dry-run");
    let o = protege(&dry, tmp.path());
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert_eq!(local_images(&prefix).len(), 3, "a dry run removes nothing");
    let o = protege(&args, tmp.path());
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("removed")).count(),
        3
    );
    assert!(local_images(&prefix).is_empty());
    // the protege-built images the registry names were tagged from are untouched
    for id in &ids {
        let o = Command::new("docker")
            .args(["image", "inspect"])
            .arg(format!(
                "protege/sweb.eval.x86_64.{}:latest",
                id.replace("__", "_1776_").to_lowercase()
            ))
            .output()
            .unwrap();
        assert!(o.status.success());
    }
    let o = protege(
        &["images", "prune", "--dataset", "mini", "--disk-budget=-1"],
        tmp.path(),
    );
    assert!(!o.status.success());
    assert!(text(&o).1.contains("--disk-budget"), "{}", text(&o).1);
}
