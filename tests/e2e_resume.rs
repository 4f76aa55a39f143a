//! End-to-end: a run killed midway and rerun ends with the same records, none twice; Ctrl-C,
//! SIGTERM and SIGHUP stop it cleanly (no container left, exit 130 / 143 / 129) and the rerun
//! resumes.

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

/// Starts a gold run and sends `signal` once it is mid-run: some record written and a container
/// of the run alive (polled with a deadline, no fixed sleeps). Returns the records before the
/// signal and the process's output.
fn stop_mid_run(
    out: &std::path::Path,
    run_id: &str,
    signal: i32,
) -> (Vec<serde_json::Value>, std::process::Output) {
    let run_dir = out.join(run_id);
    let mut child = start(out, run_id);
    let deadline = Instant::now() + Duration::from_secs(300);
    while records(&run_dir).is_empty() || protege_containers(run_id).is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "run ended before it was stopped"
        );
        assert!(Instant::now() < deadline, "no record and container in time");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: a plain kill(2) of our own child, which has not been waited for.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let output = child.wait_with_output().unwrap();
    let before = records(&run_dir);
    (before, output)
}

#[test]
fn sigterm_stops_like_ctrl_c_and_the_rerun_resumes() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("terminated");
    let (before, out) = stop_mid_run(tmp.path(), "terminated", libc::SIGTERM);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("interrupted (SIGTERM)"), "{stderr}");
    let leftover = protege_containers("terminated");
    assert!(
        leftover.is_empty(),
        "containers left after SIGTERM: {leftover:?}"
    );
    assert!(!before.is_empty() && before.len() < mini_ids().len());
    assert!(run_dir.join("manifest.json").is_file(), "manifest written");

    let o = protege(
        &[
            "run",
            "--policy",
            "gold",
            "--out",
            tmp.path().to_str().unwrap(),
            "--run-id",
            "terminated",
        ],
        tmp.path(),
    );
    let (_, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    // The records written before the signal are kept, not graded again.
    assert!(
        stderr.contains(&format!("{} kept from an earlier run", before.len())),
        "{stderr}"
    );
    assert_eq!(&records(&run_dir)[..before.len()], &before[..]);
    check_complete_once(&run_dir);
}

#[test]
fn sighup_stops_cleanly_with_129() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let tmp = tempfile::tempdir().unwrap();
    let (before, out) = stop_mid_run(tmp.path(), "hungup", libc::SIGHUP);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(129), "{stderr}");
    assert!(!before.is_empty());
    let leftover = protege_containers("hungup");
    assert!(
        leftover.is_empty(),
        "containers left after SIGHUP: {leftover:?}"
    );
}
