//! Load time and peak memory of a 50k-row SWE-smith-shaped file (the size of SWE-smith), as
//! JSONL and as Parquet (the published form), through `--dataset swe-smith:PATH`'s loader.
//!
//! `cargo bench --profile dev --bench sets_load` (`SETS_LOAD_ROWS=N` for another size). Each
//! load runs in a child process of this bench so that its peak RSS (`VmHWM`) is the loader's
//! alone, not the generator's.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use serde_json::json;

const CHILD: &str = "SETS_LOAD_CHILD";

/// One generated row: index, bug patch, problem statement, FAIL_TO_PASS, PASS_TO_PASS.
type Row = (usize, String, String, Vec<String>, Vec<String>);

fn patch(i: usize) -> String {
    let mut p = format!(
        "diff --git a/pkg/mod_{m}.py b/pkg/mod_{m}.py\nindex 1111111..2222222 100644\n--- a/pkg/mod_{m}.py\n+++ b/pkg/mod_{m}.py\n@@ -10,12 +10,11 @@ def f_{i}(x):\n",
        m = i % 97
    );
    for k in 0..10 {
        p.push_str(&format!("     value_{k} = compute(x, {k}) + offset_{i}\n"));
    }
    p.push_str(&format!(
        "-    if x > {i} or x < -{i}:\n-        return None\n+    if x > {i}:\n"
    ));
    p
}

fn tests(i: usize, n: usize, kind: &str) -> Vec<String> {
    (0..n)
        .map(|k| {
            format!(
                "tests/test_mod_{}.py::TestCase{}::test_{kind}_{k}[param-{i}]",
                i % 97,
                k % 7
            )
        })
        .collect()
}

fn statement(i: usize) -> String {
    format!(
        "# Bug {i}: f_{i} returns None for negative inputs\n\n{}",
        "When calling the function with a negative number below the threshold, the result is None instead of the computed value. ".repeat(10)
    )
}

fn rows(n: usize) -> impl Iterator<Item = Row> {
    (0..n).map(|i| {
        (
            i,
            patch(i),
            statement(i),
            tests(i, 3, "f2p"),
            tests(i, 40, "p2p"),
        )
    })
}

fn id(i: usize) -> String {
    format!(
        "owner{}__repo{}.{:08x}.func_pm_{i}",
        i % 128,
        i % 128,
        0x1234abcd_u32.wrapping_add((i % 128) as u32)
    )
}

fn write_jsonl(path: &Path, n: usize) {
    let mut out = String::new();
    for (i, p, s, f2p, p2p) in rows(n) {
        let id = id(i);
        let (repo_commit, _) = id.rsplit_once('.').unwrap();
        out.push_str(
            &json!({
                "instance_id": id, "repo": format!("swesmith/{repo_commit}"), "patch": p,
                "FAIL_TO_PASS": f2p, "PASS_TO_PASS": p2p, "created_at": "2025-03-21T08:23:31",
                "image_name": format!("swesmith.x86_64.{repo_commit}"),
                "base_commit": format!("{:040x}", i), "problem_statement": s,
            })
            .to_string(),
        );
        out.push('\n');
    }
    fs::write(path, out).unwrap();
}

fn write_parquet(path: &Path, n: usize) {
    let file = fs::File::create(path).unwrap();
    let mut writer = None;
    let all: Vec<_> = rows(n).collect();
    for chunk in all.chunks(5000) {
        let strs = |f: &dyn Fn(&Row) -> String| -> ArrayRef {
            Arc::new(StringArray::from(chunk.iter().map(f).collect::<Vec<_>>()))
        };
        let list = |f: &dyn Fn(&Row) -> &Vec<String>| -> ArrayRef {
            let mut b = ListBuilder::new(StringBuilder::new());
            for r in chunk {
                for t in f(r) {
                    b.values().append_value(t);
                }
                b.append(true);
            }
            Arc::new(b.finish())
        };
        let batch = RecordBatch::try_from_iter([
            ("instance_id", strs(&|r| id(r.0))),
            (
                "repo",
                strs(&|r| format!("swesmith/{}", id(r.0).rsplit_once('.').unwrap().0)),
            ),
            ("patch", strs(&|r| r.1.clone())),
            ("FAIL_TO_PASS", list(&|r| &r.3)),
            ("PASS_TO_PASS", list(&|r| &r.4)),
            ("created_at", strs(&|_| "2025-03-21T08:23:31".into())),
            (
                "image_name",
                strs(&|r| format!("swesmith.x86_64.{}", id(r.0).rsplit_once('.').unwrap().0)),
            ),
            ("base_commit", strs(&|r| format!("{:040x}", r.0))),
            ("problem_statement", strs(&|r| r.2.clone())),
        ])
        .unwrap();
        let w = writer.get_or_insert_with(|| {
            parquet::arrow::ArrowWriter::try_new(file.try_clone().unwrap(), batch.schema(), None)
                .unwrap()
        });
        w.write(&batch).unwrap();
    }
    writer.unwrap().close().unwrap();
}

fn peak_rss_mib() -> f64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn child(path: &str) {
    let before = peak_rss_mib();
    let t = Instant::now();
    let (set, _) = protege_harness::sets::load::load(&format!("swe-smith:{path}")).unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(set.rejected.is_empty(), "{:?}", &set.rejected[..1]);
    println!(
        "{} {secs:.3} {:.0} {before:.0}",
        set.tasks.len(),
        peak_rss_mib()
    );
}

fn main() {
    if let Ok(path) = std::env::var(CHILD) {
        child(&path);
        return;
    }
    let n: usize = std::env::var("SETS_LOAD_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("swe-smith.jsonl");
    let parquet = dir.path().join("swe-smith.parquet");
    write_jsonl(&jsonl, n);
    write_parquet(&parquet, n);
    println!(
        "sets_load: {n} SWE-smith-shaped rows (3 FAIL_TO_PASS, 40 PASS_TO_PASS, ~1 KB patch, ~1.3 KB statement each)"
    );
    for path in [&jsonl, &parquet] {
        let size = fs::metadata(path).unwrap().len() as f64 / 1e6;
        let mut times = Vec::new();
        let mut peak = 0.0f64;
        for _ in 0..3 {
            let o = Command::new(std::env::current_exe().unwrap())
                .env(CHILD, path)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let line = String::from_utf8_lossy(&o.stdout).to_string();
            let parts: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(parts[0].parse::<usize>().unwrap(), n);
            times.push(parts[1].parse::<f64>().unwrap());
            peak = peak.max(parts[2].parse().unwrap());
        }
        times.sort_by(f64::total_cmp);
        println!(
            "  {:<8} {size:>7.1} MB  load median {:.2} s (min {:.2}, max {:.2})  peak RSS {peak:.0} MiB",
            path.extension().unwrap().to_string_lossy(),
            times[1],
            times[0],
            times[2]
        );
    }
}
