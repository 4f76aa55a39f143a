//! `--grading-network`: a gold patch that adds a dependency resolves when grading reaches the
//! package index (a real pip in the container, a real simple index on loopback, protege's
//! egress proxy between them) and fails without it, the record saying why; a host not on the
//! allow-list is refused and never contacted.

mod common;

use std::path::Path;

use common::pkg_index::{Fixture, build_image};
use common::*;

fn run(dir: &Path, dataset: &Path, run_id: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "run",
        "--dataset",
        dataset.to_str().unwrap(),
        "--policy",
        "gold",
        "--run-id",
        run_id,
        "--out",
        dir.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let o = protege(&args, dir);
    let (out, err) = text(&o);
    assert!(o.status.code().is_some(), "{out}\n{err}");
    let recs = records(&dir.join(run_id));
    assert_eq!(recs.len(), 1, "{out}\n{err}");
    recs.into_iter().next().unwrap()
}

#[test]
fn a_new_dependency_installs_from_the_index_only_with_index() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    build_image();
    let tmp = tempfile::tempdir().unwrap();
    let Fixture {
        index,
        other,
        dataset,
        index_url,
    } = &Fixture::start(tmp.path());
    let pid = std::process::id();

    let with = run(
        tmp.path(),
        dataset,
        &format!("net-index-{pid}"),
        &["--grading-network", "index", "--index-url", index_url],
    );
    assert_eq!(with["verdict"]["outcome"], "resolved", "{with:#}");
    let network = &with["network"];
    assert_eq!(network["mode"], "index");
    let index_target = format!("127.0.0.1:{}", index.port);
    assert_eq!(
        network["reached"],
        serde_json::json!([index_target]),
        "{with:#}"
    );
    assert_eq!(
        network["refused"],
        serde_json::json!([format!("127.0.0.1:{}", other.port)])
    );
    assert!(index.requests() > 0);
    assert_eq!(
        other.requests(),
        0,
        "a host not on the allow-list was reached"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join(format!("net-index-{pid}/manifest.json")))
            .unwrap(),
    )
    .unwrap();
    let info = &manifest["grading_network"];
    assert_eq!(info["mode"], "index");
    assert_eq!(info["index_url"], index_url.as_str());
    assert!(
        info["allow"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == index_target.as_str() || h == "pypi.org")
    );

    let before = index.requests();
    let without = run(
        tmp.path(),
        dataset,
        &format!("net-none-{pid}"),
        &["--grading-network", "none", "--index-url", index_url],
    );
    assert_eq!(without["verdict"]["outcome"], "unresolved", "{without:#}");
    assert_eq!(without["network"]["mode"], "none");
    assert_eq!(without["network"]["index_unreachable"], true, "{without:#}");
    assert_eq!(
        index.requests(),
        before,
        "grading without a network reached the index"
    );
    assert!(protege_containers(&format!("net-index-{pid}")).is_empty());
    assert!(protege_containers(&format!("net-none-{pid}")).is_empty());
}
