//! Grading throughput of each task set's rules on Docker: five `mini` tasks converted into each
//! set's shape (as `tests/e2e_sets.rs` does — SWE-smith: the bug patch applied to a clean
//! per-repository image in each fresh container; R2E-Gym: hidden tests and exact match;
//! SWE-rebench: `install_config`), each shape graded with the gold patches by `protege run
//! --workers 2 --quiet`, next to the same five tasks as plain mini (SWE-bench's rules). Prints
//! the median wall time per run and per instance and how many resolved. Needs Docker and the
//! mini images; builds `protege-sets-bench/…` images (removed at the end).
//!
//! Run: `cargo bench --profile dev --bench sets_grading` (`SETS_BENCH_ROUNDS`, default 3).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use protege_harness::sets::diff;
use serde_json::{Value, json};

const MINIS: &[&str] = &[
    "protege-mini__calcexpr-1",
    "protege-mini__clargs-1",
    "protege-mini__romanum-1",
    "protege-mini__tabread-1",
    "protege-mini__unitconv-1",
];

fn mini(id: &str, file: &str) -> String {
    fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("datasets/mini")
            .join(id)
            .join(file),
    )
    .unwrap()
}

fn row(id: &str) -> Value {
    let mut r: Value = serde_json::from_str(&mini(id, "task.json")).unwrap();
    r["patch"] = mini(id, "gold.patch").into();
    r["test_patch"] = mini(id, "test.patch").into();
    r
}

fn base_image(id: &str) -> String {
    format!(
        "protege/sweb.eval.x86_64.{}:latest",
        id.replace("__", "_1776_")
    )
}

fn build(tag: &str, dockerfile: &str, files: &[(&str, String)]) {
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
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn jsonl(path: &Path, rows: &[Value]) {
    let text: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    fs::write(path, text.join("\n") + "\n").unwrap();
}

fn main() {
    let docker = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !docker {
        println!("sets_grading: SKIPPED: no Docker engine answers");
        return;
    }
    let rounds: usize = std::env::var("SETS_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let bin = env!("CARGO_BIN_EXE_protege");
    let tmp = tempfile::tempdir().unwrap();
    let mut images = Vec::new();
    let (mut smith, mut r2e, mut rebench, mut plain) = (vec![], vec![], vec![], vec![]);
    for id in MINIS {
        let r = row(id);
        let name = id
            .trim_start_matches("protege-mini__")
            .trim_end_matches("-1");
        let commit8 = &r["base_commit"].as_str().unwrap()[..8];
        // SWE-smith: the clean tree with its tests, the bug the fix's reverse
        let tag = format!("protege-sets-bench/swesmith.x86_64.protege-mini_1776_{name}.{commit8}");
        build(
            &tag,
            &format!(
                "FROM {}\nCOPY gold.patch test.patch /tmp/\nRUN cd /testbed && git apply /tmp/gold.patch && git apply /tmp/test.patch && git add -A && git -c user.name=b -c user.email=b@b commit -q -m clean\n",
                base_image(id)
            ),
            &[
                ("gold.patch", mini(id, "gold.patch")),
                ("test.patch", mini(id, "test.patch")),
            ],
        );
        smith.push(json!({
            "instance_id": format!("protege-mini__{name}.{commit8}.bench"),
            "patch": diff::reverse(&mini(id, "gold.patch")),
            "FAIL_TO_PASS": r["FAIL_TO_PASS"], "PASS_TO_PASS": r["PASS_TO_PASS"],
            "image_name": tag, "problem_statement": r["problem_statement"],
        }));
        images.push(tag);
        // R2E-Gym: the test patch's files hidden in /r2e_tests
        let files = protege_harness::specs::patch_targets(&mini(id, "test.patch"));
        let tag = format!("protege-sets-bench/r2e.{name}_final:1");
        build(
            &tag,
            &format!(
                "FROM {}\nCOPY test.patch run_tests.sh /tmp/\nRUN cd /testbed && git apply /tmp/test.patch && mkdir /r2e_tests && cp {} /r2e_tests/ && git checkout -- . && git clean -fdq && mv /tmp/run_tests.sh /run_tests.sh\n",
                base_image(id),
                files.join(" ")
            ),
            &[
                ("test.patch", mini(id, "test.patch")),
                (
                    "run_tests.sh",
                    "cd /testbed\npython3 -m pytest -rA -p no:cacheprovider r2e_tests\n".into(),
                ),
            ],
        );
        let expected: serde_json::Map<String, Value> = strings(&r["FAIL_TO_PASS"])
            .into_iter()
            .chain(strings(&r["PASS_TO_PASS"]))
            .map(|t| {
                (
                    t.split_once("::").unwrap().1.replace("::", "."),
                    Value::from("PASSED"),
                )
            })
            .collect();
        r2e.push(json!({
            "instance_id": format!("{name}__bench"), "repo_name": name, "commit_hash": r["base_commit"],
            "docker_image": tag, "problem_statement": r["problem_statement"],
            "expected_output_json": Value::Object(expected).to_string(), "patch": mini(id, "gold.patch"),
        }));
        images.push(tag);
        // SWE-rebench: the mini image renamed; the spec from install_config
        let tag = format!(
            "protege-sets-bench/rebench.{}:latest",
            id.replace("__", "_1776_")
        );
        build(
            &tag,
            &format!("FROM {}\nLABEL protege-sets-bench=1\n", base_image(id)),
            &[],
        );
        let mut rb = r.clone();
        rb["install_config"] = json!({"python": "3.11", "install": "", "log_parser": "parse_log_pytest",
            "test_cmd": "python3 -m pytest -rA -p no:cacheprovider"});
        rebench.push(rb);
        images.push(tag);
        plain.push(r);
    }
    let data = |name: &str, rows: &[Value]| {
        let p = tmp.path().join(format!("{name}.jsonl"));
        jsonl(&p, rows);
        p.to_str().unwrap().to_string()
    };
    let runs: Vec<(&str, String, Vec<&str>)> = vec![
        ("mini (SWE-bench)", data("plain", &plain), vec![]),
        ("swe-smith", data("smith", &smith), vec![]),
        (
            "r2e-gym-lite",
            format!("r2e-gym-lite:{}", data("r2e", &r2e)),
            vec![],
        ),
        (
            "swe-rebench",
            data("rebench", &rebench),
            vec!["--image-template", "protege-sets-bench/rebench.{id}:latest"],
        ),
    ];
    println!(
        "sets_grading: {} tasks per set, gold patches, Docker, --workers 2, {rounds} rounds",
        MINIS.len()
    );
    for (label, dataset, extra) in &runs {
        let mut walls = Vec::new();
        let mut resolved = 0;
        for round in 0..rounds {
            let out = tmp
                .path()
                .join(format!("{}-{round}", label.replace([' ', '(', ')'], "")));
            let t = Instant::now();
            let st = Command::new(bin)
                .args([
                    "run",
                    "--policy",
                    "gold",
                    "--quiet",
                    "--sandbox",
                    "docker",
                    "--workers",
                    "2",
                ])
                .args(["--dataset", dataset])
                .args(extra)
                .args(["--out", out.to_str().unwrap(), "--run-id", "bench"])
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap();
            walls.push(t.elapsed().as_secs_f64());
            assert!(st.success(), "{label}: protege run failed");
            let summary: Value = serde_json::from_str(
                &fs::read_to_string(out.join("bench/tables/summary.json")).unwrap(),
            )
            .unwrap();
            resolved = summary["resolved"]
                .as_u64()
                .or_else(|| summary[0]["resolved"].as_u64())
                .unwrap_or(0);
        }
        walls.sort_by(f64::total_cmp);
        let median = walls[walls.len() / 2];
        println!(
            "  {label:<18} median {median:.2} s/run, {:.2} s/instance (min {:.2}, max {:.2}); resolved {resolved}/{}",
            median / MINIS.len() as f64,
            walls[0],
            walls[walls.len() - 1],
            MINIS.len()
        );
    }
    for tag in images {
        let _ = Command::new("docker").args(["rmi", "-f", &tag]).output();
    }
}
