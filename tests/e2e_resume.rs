//! End-to-end: a run killed midway and rerun ends with the same records, none twice; Ctrl-C
//! leaves no container behind.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn wait_for_records(run_dir: &std::path::Path, n: usize, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while records(run_dir).len() < n {
        assert!(
            child.try_wait().unwrap().is_none(),
            "run ended before {n} records"
        );
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start(out: &std::path::Path, run_id: &str) -> std::process::Child {
    Command::new(bin())
        .args([
            "run",
            "--policy",
            "gold",
            "--workers",
            "1",
            "--out",
            out.to_str().unwrap(),
            "--run-id",
            run_id,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn check_complete_once(run_dir: &std::path::Path) {
    let recs = records(run_dir);
    let ids = mini_ids();
    assert_eq!(recs.len(), ids.len(), "each instance exactly once");
    for id in &ids {
        assert_eq!(
            recs.iter()
                .filter(|r| r["instance_id"] == id.as_str())
                .count(),
            1,
            "{id}"
        );
        assert_eq!(outcome_of(&recs, id), "resolved");
    }
}

#[test]
fn killed_run_resumes_without_duplicates() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("killed");
    let mut child = start(tmp.path(), "killed");
    wait_for_records(&run_dir, 3, &mut child);
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let before = records(&run_dir);
    assert!(before.len() >= 3 && before.len() < mini_ids().len());

    let o = protege(
        &[
            "run",
            "--policy",
            "gold",
            "--out",
            tmp.path().to_str().unwrap(),
            "--run-id",
            "killed",
        ],
        tmp.path(),
    );
    let (_, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("{} kept from an earlier run", before.len())),
        "{stderr}"
    );
    check_complete_once(&run_dir);
    // The records written before the kill are kept as they were.
    assert_eq!(&records(&run_dir)[..before.len()], &before[..]);
    // Leftovers of the killed process (it could not clean up) are removed here.
    for c in protege_containers("killed") {
        let _ = Command::new("docker").args(["rm", "-f", &c]).output();
    }
}

#[test]
fn ctrl_c_stops_cleanly_and_removes_containers() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("interrupted");
    let mut child = start(tmp.path(), "interrupted");
    wait_for_records(&run_dir, 2, &mut child);
    let rc = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(rc.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let leftover: Vec<String> = protege_containers("interrupted");
    assert!(
        leftover.is_empty(),
        "containers left after Ctrl-C: {leftover:?}"
    );
    let o = protege(
        &[
            "run",
            "--policy",
            "gold",
            "--out",
            tmp.path().to_str().unwrap(),
            "--run-id",
            "interrupted",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", text(&o).1);
    check_complete_once(&run_dir);
}
