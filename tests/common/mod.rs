//! Helpers for end-to-end tests of the real binary against the real Docker engine.

#![allow(dead_code)]

pub mod pkg_index;
pub mod registry;
pub mod sets;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_protege")
}

pub fn protege(args: &[&str], cwd: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run protege")
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// True when Docker answers. Where it does not, a test is skipped loudly — except under CI
/// (`CI` set), where a missing engine is a failure: CI must test against the real engine.
pub fn docker_available() -> bool {
    let ok = Command::new("docker")
        .arg("info")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "Docker is not available under CI"
        );
        eprintln!("SKIPPED: Docker is not available");
    }
    ok
}

static IMAGES: Once = Once::new();

/// Builds the mini images once per test binary (a no-op when they exist).
pub fn ensure_mini_images() {
    IMAGES.call_once(|| {
        let o = Command::new(bin())
            .args(["images", "build", "--dataset", "mini"])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "images build failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    });
}

/// The latest record per instance from a run folder, as JSON values.
pub fn records(run_dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run_dir.join("records.jsonl")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn outcome_of<'a>(recs: &'a [serde_json::Value], id: &str) -> &'a str {
    recs.iter()
        .rev()
        .find(|r| r["instance_id"] == id)
        .unwrap_or_else(|| panic!("no record for {id}"))["verdict"]["outcome"]
        .as_str()
        .unwrap()
}

/// A built-in task's folder in the source tree.
pub fn mini_dir(id: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("datasets/mini")
        .join(id)
}

pub fn mini_ids() -> Vec<String> {
    let mut ids: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/mini"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("task.json").exists())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
    ids.sort();
    ids
}

/// A full SWE-bench row for a built-in task (task.json plus its patches).
pub fn mini_row(id: &str) -> serde_json::Value {
    let d = mini_dir(id);
    let mut row: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("task.json")).unwrap()).unwrap();
    row["patch"] = std::fs::read_to_string(d.join("gold.patch"))
        .unwrap()
        .into();
    row["test_patch"] = std::fs::read_to_string(d.join("test.patch"))
        .unwrap()
        .into();
    row
}

/// Containers a run of protege created that still exist.
pub fn protege_containers(run_id: &str) -> Vec<String> {
    let o = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=dev.protege.run={run_id}"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The gold patch of a built-in task as text edits: per hunk, the file and its old text
/// (context and removed lines) and new text (context and added lines).
pub fn gold_edits(id: &str) -> Vec<(String, String, String)> {
    let patch = std::fs::read_to_string(mini_dir(id).join("gold.patch")).unwrap();
    let mut edits = Vec::new();
    let mut file = String::new();
    let (mut old, mut new, mut in_hunk) = (String::new(), String::new(), false);
    let mut flush = |file: &str, old: &mut String, new: &mut String| {
        if !old.is_empty() {
            edits.push((file.to_string(), old.clone(), new.clone()));
        }
        old.clear();
        new.clear();
    };
    for line in patch.lines() {
        if let Some(p) = line.strip_prefix("+++ b/") {
            flush(&file, &mut old, &mut new);
            file = p.to_string();
            in_hunk = false;
        } else if line.starts_with("@@") {
            flush(&file, &mut old, &mut new);
            in_hunk = true;
        } else if line.starts_with("diff --git") {
            flush(&file, &mut old, &mut new);
            in_hunk = false;
        } else if in_hunk {
            let (tag, rest) = line.split_at(1.min(line.len()));
            match tag {
                " " | "" => {
                    old.push_str(&format!("{rest}\n"));
                    new.push_str(&format!("{rest}\n"));
                }
                "-" => old.push_str(&format!("{rest}\n")),
                "+" => new.push_str(&format!("{rest}\n")),
                _ => {}
            }
        }
    }
    flush(&file, &mut old, &mut new);
    edits
}

/// The gold patch of a built-in task as agent actions: one `str_replace` per hunk (its context
/// and removed lines → its context and added lines), so a scripted episode makes the gold fix.
pub fn gold_edit_actions(id: &str) -> Vec<String> {
    gold_edits(id)
        .into_iter()
        .map(|(file, old, new)| {
            format!(
                "Apply the fix.\n```\nstr_replace {file}\n<<<<<<< SEARCH\n{old}=======\n{new}>>>>>>> REPLACE\n```"
            )
        })
        .collect()
}

/// A hand-written text-protocol trajectory for `protege-mini__romanum-1` that fixes it (and
/// creates, then undoes, a scratch file), with no patch recorded yet.
pub fn romanum_fix_trajectory() -> serde_json::Value {
    let step = |response: &str| serde_json::json!({"action": "", "observation": "", "actor": "slm", "tokens_in": 0, "tokens_out": 0, "ms": 0, "response": response});
    serde_json::json!({
        "instance_id": "protege-mini__romanum-1", "policy": "scripted", "slm": "none", "exit_reason": "submitted", "patch": "",
        "steps": [
            step("Look first.\n```\nsearch_file MAX_VALUE romanum/convert.py\n```"),
            step("```\nopen romanum/convert.py 20\n```"),
            step("```\nstr_replace romanum/convert.py\n<<<<<<< SEARCH\n    if not MIN_VALUE <= number < MAX_VALUE:\n=======\n    if not MIN_VALUE <= number <= MAX_VALUE:\n>>>>>>> REPLACE\n```"),
            step("```\ncreate scratch/note.txt\ntemporary\n```"),
            step("```\nundo_edit scratch/note.txt\n```"),
            step("```\nsubmit\n```"),
        ]
    })
}
