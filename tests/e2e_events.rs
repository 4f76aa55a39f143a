//! End-to-end: the run's event stream (`--events FILE`). One `graded` event per instance whose
//! verdict is its record's; a rerun tells `kept` instead; the file holds whole JSON lines even
//! when the run is killed midway; without a terminal, stderr has a line per event.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Every line of an events file, parsed; panics on a line that is not a JSON object.
fn events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the last line is cut: {text}"
    );
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert!(v["event"].is_string() && v["elapsed_ms"].is_u64(), "{l}");
            v
        })
        .collect()
}

fn of_kind<'a>(evs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    evs.iter().filter(|e| e["event"] == kind).collect()
}

fn run_gold(out: &Path, run_id: &str, events_file: &Path) -> (String, String) {
    let o = protege(
        &[
            "run",
            "--policy",
            "gold",
            "--out",
            out.to_str().unwrap(),
            "--run-id",
            run_id,
            "--events",
            events_file.to_str().unwrap(),
        ],
        out,
    );
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    (stdout, stderr)
}

#[test]
fn one_graded_event_per_instance_with_its_records_verdict() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("events.jsonl");
    let (_, stderr) = run_gold(tmp.path(), "events", &file);
    let evs = events(&file);
    let ids = mini_ids();
    assert_eq!(evs.first().unwrap()["event"], "run_started");
    assert_eq!(evs.first().unwrap()["instances"], ids.len());
    assert_eq!(evs.last().unwrap()["event"], "run_finished");
    assert_eq!(evs.last().unwrap()["graded"], ids.len());
    let recs = records(&tmp.path().join("events"));
    let by_id: BTreeMap<&str, &Value> = recs
        .iter()
        .map(|r| (r["instance_id"].as_str().unwrap(), r))
        .collect();
    let graded = of_kind(&evs, "graded");
    assert_eq!(graded.len(), ids.len(), "one graded event per instance");
    for e in &graded {
        let id = e["instance_id"].as_str().unwrap();
        let rec = by_id[id];
        assert_eq!(e["verdict"], rec["verdict"], "{id}");
        assert_eq!(e["wall_ms"], rec["stats"]["wall_ms"], "{id}");
    }
    for kind in ["instance_started", "image_ready", "policy_finished"] {
        assert_eq!(of_kind(&evs, kind).len(), ids.len(), "{kind}");
    }
    // Each instance's events come in the order it went through them.
    for id in &ids {
        let order: Vec<&str> = evs
            .iter()
            .filter(|e| e["instance_id"] == id.as_str())
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        assert_eq!(
            order,
            [
                "instance_started",
                "image_ready",
                "policy_finished",
                "graded"
            ],
            "{id}"
        );
    }
    // stderr is no terminal here: a line per event.
    for id in &ids {
        assert!(stderr.contains(&format!("{id}: resolved (")), "{stderr}");
        assert!(stderr.contains(&format!("  {id}: image ")), "{stderr}");
    }

    // The rerun redoes nothing: a `kept` event per instance, carrying the kept verdict.
    let again = tmp.path().join("again.jsonl");
    run_gold(tmp.path(), "events", &again);
    let evs = events(&again);
    assert!(of_kind(&evs, "graded").is_empty());
    let kept = of_kind(&evs, "kept");
    assert_eq!(kept.len(), ids.len());
    for e in kept {
        assert_eq!(
            e["verdict"],
            by_id[e["instance_id"].as_str().unwrap()]["verdict"]
        );
    }
}

#[test]
fn events_file_is_whole_json_lines_when_the_run_is_killed() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("events.jsonl");
    let mut child = Command::new(bin())
        .args([
            "run",
            "--policy",
            "gold",
            "--workers",
            "1",
            "--out",
            tmp.path().to_str().unwrap(),
            "--run-id",
            "killed-events",
            "--events",
            file.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !std::fs::read_to_string(&file)
        .unwrap_or_default()
        .contains("\"event\":\"graded\"")
    {
        assert!(child.try_wait().unwrap().is_none(), "run ended early");
        assert!(Instant::now() < deadline, "no graded event in time");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no chance to finish a line
    child.wait().unwrap();
    let evs = events(&file);
    assert!(
        of_kind(&evs, "run_finished").is_empty(),
        "killed before the end"
    );
    // Every graded event names a record that is on disk.
    let recs = records(&tmp.path().join("killed-events"));
    for e in of_kind(&evs, "graded") {
        assert!(
            recs.iter().any(|r| r["instance_id"] == e["instance_id"]),
            "{e}"
        );
    }
    for c in protege_containers("killed-events") {
        let _ = Command::new("docker").args(["rm", "-f", &c]).output();
    }
}
