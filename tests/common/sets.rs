//! Task-set-shaped minis for end-to-end tests: `mini` tasks converted into SWE-smith's and
//! R2E-Gym's shapes, with their images derived from the mini images (removed when the returned
//! guard drops). Each test names its own image namespace, so tests in different binaries never
//! share an image.

use std::fs;
use std::path::Path;
use std::process::Command;

use protege_harness::sets::diff;
use serde_json::{Value, json};

use super::{mini_dir, mini_row};

/// Builds `tag` from a Dockerfile and files in a fresh context folder.
pub fn build(tag: &str, dockerfile: &str, files: &[(&str, String)]) {
    let ctx = tempfile::tempdir().unwrap();
    fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    for (name, contents) in files {
        fs::write(ctx.path().join(name), contents).unwrap();
    }
    let o = Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "docker build {tag}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Removes the test's images when it ends, whether it passed or not.
pub struct Images(pub Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = Command::new("docker").args(["rmi", "-f", tag]).output();
        }
    }
}

pub fn mini_image(id: &str) -> String {
    format!(
        "protege/sweb.eval.x86_64.{}:latest",
        id.replace("__", "_1776_")
    )
}

/// A file of a built-in task's folder.
pub fn read(id: &str, name: &str) -> String {
    fs::read_to_string(mini_dir(id).join(name)).unwrap()
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

pub fn write_jsonl(path: &Path, rows: &[Value]) {
    let text: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    fs::write(path, text.join("\n") + "\n").unwrap();
}

/// A patch that applies and fixes nothing.
pub const NO_FIX: &str = "diff --git a/NOTES.txt b/NOTES.txt\nnew file mode 100644\n--- /dev/null\n+++ b/NOTES.txt\n@@ -0,0 +1 @@\n+nothing fixed here\n";

/// The built-in task both shaped minis are made from.
pub const SOURCE: &str = "protege-mini__calcexpr-1";

/// A PASS_TO_PASS test no run shows: SWE-smith counts it passed, SWE-bench failed.
pub const GHOST: &str = "tests/test_evaluate.py::test_never_collected";

/// A SWE-smith-shaped mini: its image (the repository clean, i.e. fixed, with its tests) and
/// its row (the bug is the reverse of the mini task's fix; PASS_TO_PASS lists [`GHOST`]).
pub struct SmithMini {
    pub id: String,
    pub image: String,
    pub row: Value,
    /// The source mini task's row.
    pub source: Value,
}

pub fn smith_mini(namespace: &str) -> (SmithMini, Images) {
    let source = mini_row(SOURCE);
    let commit8 = source["base_commit"].as_str().unwrap()[..8].to_string();
    let image = format!("{namespace}/swesmith.x86_64.protege-mini_1776_calcexpr.{commit8}");
    let guard = Images(vec![image.clone()]);
    build(
        &image,
        &format!(
            "FROM {}\nCOPY gold.patch test.patch /tmp/\n\
             RUN cd /testbed && git apply /tmp/gold.patch && git apply /tmp/test.patch \
             && git add -A && git -c user.name=t -c user.email=t@t commit -q -m clean \
             && rm /tmp/gold.patch /tmp/test.patch\n",
            mini_image(SOURCE)
        ),
        &[
            ("gold.patch", read(SOURCE, "gold.patch")),
            ("test.patch", read(SOURCE, "test.patch")),
        ],
    );
    let id = format!("protege-mini__calcexpr.{commit8}.pr_1");
    let mut p2p = strings(&source["PASS_TO_PASS"]);
    p2p.push(GHOST.into());
    let row = json!({
        "instance_id": id,
        "repo": format!("swesmith/protege-mini__calcexpr.{commit8}"),
        "patch": diff::reverse(&read(SOURCE, "gold.patch")),
        "FAIL_TO_PASS": source["FAIL_TO_PASS"],
        "PASS_TO_PASS": p2p,
        "image_name": image,
        "base_commit": "0000000000000000000000000000000000000000",
        "problem_statement": source["problem_statement"],
        "created_at": "2025-01-01T00:00:00",
    });
    (
        SmithMini {
            id,
            image,
            row,
            source,
        },
        guard,
    )
}

/// An R2E-shaped mini: an image with the hidden tests in `/r2e_tests` and `/run_tests.sh`, the
/// repository at the base commit; rows built by [`R2eMini::row`].
pub struct R2eMini {
    pub image: String,
    /// Every test of the source task as R2E-Gym names it (`test_errors`,
    /// `test_evaluate[parens]`), FAIL_TO_PASS first.
    pub all: Vec<String>,
    pub source: Value,
}

pub fn r2e_mini(namespace: &str) -> (R2eMini, Images) {
    let source = mini_row(SOURCE);
    let image = format!("{namespace}/r2e.calcexpr_final:1");
    let guard = Images(vec![image.clone()]);
    build(
        &image,
        &format!(
            "FROM {}\nCOPY test.patch run_tests.sh /tmp/\n\
             RUN cd /testbed && git apply /tmp/test.patch && mkdir /r2e_tests \
             && cp tests/test_evaluate.py /r2e_tests/ && git checkout -- . \
             && mv /tmp/run_tests.sh /run_tests.sh && rm /tmp/test.patch\n",
            mini_image(SOURCE)
        ),
        &[
            ("test.patch", read(SOURCE, "test.patch")),
            (
                "run_tests.sh",
                "cd /testbed\npython3 -m pytest -rA -p no:cacheprovider r2e_tests\n".into(),
            ),
        ],
    );
    let all: Vec<String> = strings(&source["FAIL_TO_PASS"])
        .into_iter()
        .chain(strings(&source["PASS_TO_PASS"]))
        .map(|t| t.split_once("::").unwrap().1.replace("::", "."))
        .collect();
    (R2eMini { image, all, source }, guard)
}

impl R2eMini {
    /// A row expecting `names` to pass, with the gold patch in `patch`.
    pub fn row(&self, id: &str, names: &[String]) -> Value {
        let m: serde_json::Map<String, Value> = names
            .iter()
            .map(|n| (n.clone(), Value::String("PASSED".into())))
            .collect();
        json!({
            "instance_id": id, "repo_name": "calcexpr", "commit_hash": self.source["base_commit"],
            "docker_image": self.image, "problem_statement": self.source["problem_statement"],
            "expected_output_json": Value::Object(m).to_string(), "patch": read(SOURCE, "gold.patch"),
        })
    }

    /// As [`R2eMini::row`], with the fix only as R2E-Gym publishes it: no `patch`, the commit in
    /// `parsed_commit_content` (the gold patch and the test patch, as one commit).
    pub fn row_with_commit(&self, id: &str, names: &[String]) -> Value {
        let mut row = self.row(id, names);
        let obj = row.as_object_mut().unwrap();
        obj.remove("patch");
        let commit = format!(
            "{}{}",
            read(SOURCE, "gold.patch"),
            read(SOURCE, "test.patch")
        );
        obj.insert(
            "parsed_commit_content".into(),
            parsed_commit(&commit).to_string().into(),
        );
        row
    }
}

/// A unified diff in R2E-Gym's `ParsedCommit` shape (`file_diffs` of header, index line,
/// `---`/`+++` files and hunks of typed lines), as its rows carry a commit.
pub fn parsed_commit(patch: &str) -> Value {
    let mut files: Vec<Value> = Vec::new();
    for line in patch.lines() {
        if let Some(rest) = line.strip_prefix("diff --git a/") {
            let path = rest.split(" b/").next().unwrap();
            files.push(json!({
                "old_file_content": "", "new_file_content": "",
                "header": {"file": {"path": path}, "misc_line": null},
                "index_line": null, "is_binary_file": false, "binary_line": null,
                "minus_file": null, "plus_file": null, "hunks": []
            }));
            continue;
        }
        let f = files.last_mut().expect("a line before the first file");
        let in_header = f["hunks"].as_array().unwrap().is_empty();
        if !in_header && !line.starts_with("@@") {
            let h = f["hunks"].as_array_mut().unwrap().last_mut().unwrap();
            let (kind, content) = match line.chars().next() {
                Some('+') => ("added", &line[1..]),
                Some('-') => ("deleted", &line[1..]),
                Some('\\') => ("note", line.get(2..).unwrap_or("")),
                _ => ("context", line.get(1..).unwrap_or("")),
            };
            h["line_group"]["all_lines"]
                .as_array_mut()
                .unwrap()
                .push(json!({"content": content, "type": kind}));
        } else if let Some(rest) = line.strip_prefix("index ") {
            let (hashes, mode) = rest.split_once(' ').unwrap_or((rest, ""));
            let (old, new) = hashes.split_once("..").unwrap();
            f["index_line"] = json!({"old_commit_hash": old, "new_commit_hash": new, "mode": mode});
        } else if let Some(p) = line.strip_prefix("--- ") {
            f["minus_file"] = json!({"path": p});
        } else if let Some(p) = line.strip_prefix("+++ ") {
            f["plus_file"] = json!({"path": p});
        } else if let Some(rest) = line.strip_prefix("@@ -") {
            let (ranges, section) = rest.split_once(" @@").unwrap();
            let (old, new) = ranges.split_once(" +").unwrap();
            let range = |r: &str| match r.split_once(',') {
                Some((s, l)) => {
                    json!({"start": s.parse::<u64>().unwrap(), "length": l.parse::<u64>().unwrap()})
                }
                None => json!({"start": r.parse::<u64>().unwrap(), "length": null}),
            };
            f["hunks"].as_array_mut().unwrap().push(json!({
                "descriptor": {"old_range": range(old), "new_range": range(new),
                               "section": section.trim_start()},
                "line_group": {"all_lines": []}
            }));
        } else {
            // `new file mode`, `deleted file mode`: the header's misc line
            f["header"]["misc_line"] = json!(line);
        }
    }
    json!({
        "file_diffs": files, "old_commit_hash": "a", "new_commit_hash": "b",
        "commit_message": "fix", "commit_date": "2025-01-01T00:00:00", "metadata": {}
    })
}
