//! End-to-end: `protege compare BASE NEW` on run folders built by hand with the results crate's
//! own types: a real drop fails the gate (exit 1), noise passes (exit 0), runs over different
//! datasets or harness versions are refused (exit 2) unless allowed.

use std::path::Path;
use std::process::{Command, Output};

use protege_results::manifest::Manifest;
use protege_results::store::RecordStore;
use protege_results::{Outcome, Record, Report, Stats, Verdict};

fn protege(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_protege"))
        .args(args)
        .output()
        .expect("run protege")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn id(i: usize) -> String {
    format!("acme__widgets-{i:03}")
}

fn record(i: usize, outcome: Outcome) -> Record {
    let verdict = Verdict {
        outcome,
        report: Report {
            patch_is_none: outcome == Outcome::EmptyPatch,
            patch_exists: outcome != Outcome::EmptyPatch,
            patch_successfully_applied: matches!(outcome, Outcome::Resolved | Outcome::Unresolved),
            resolved: outcome == Outcome::Resolved,
            tests_status: None,
            ..Report::default()
        },
        infra_error: None,
        patch_problem: None,
        flaky: vec![],
    };
    // Through serde so that optional fields the Record may gain keep their defaults.
    serde_json::from_value(serde_json::json!({
        "instance_id": id(i),
        "repo": if i.is_multiple_of(2) { "acme/widgets" } else { "acme/gadgets" },
        "policy": "test",
        "patch_sha256": "",
        "cache_key": format!("k{i}"),
        "sandbox": "docker",
        "verdict": verdict,
        "stats": Stats::default(),
    }))
    .expect("record shape")
}

/// Writes `dir/manifest.json` and `dir/records.jsonl` for `n` instances; `outcome(i)` is the
/// instance's latest outcome, `None` for no record at all.
fn write_run(
    dir: &Path,
    run_id: &str,
    dataset_sha256: &str,
    harness: &str,
    n: usize,
    outcome: impl Fn(usize) -> Option<Outcome>,
) {
    std::fs::create_dir_all(dir).unwrap();
    let manifest = Manifest {
        run_id: run_id.into(),
        protege_version: "0.1.0".into(),
        protege_commit: "test".into(),
        dataset: "hand-made".into(),
        dataset_sha256: dataset_sha256.into(),
        policy: "test".into(),
        sandbox: "docker".into(),
        grader: "swebench-5".into(),
        config: serde_json::json!({ "workers": 1, "harness": harness }),
        instances: (0..n)
            .map(|i| {
                let r = record(i, Outcome::Resolved);
                (r.instance_id, r.repo)
            })
            .collect(),
        ..Default::default()
    };
    std::fs::write(dir.join("manifest.json"), manifest.to_json()).unwrap();
    let store = RecordStore::open(&dir.join("records.jsonl")).unwrap();
    for i in 0..n {
        if let Some(o) = outcome(i) {
            store.append(&record(i, o)).unwrap();
        }
    }
}

const SHA: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

#[test]
fn a_real_drop_fails_the_gate() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, new) = (tmp.path().join("base"), tmp.path().join("new"));
    // BASE resolves 0..30 of 40.
    write_run(&base, "base", SHA, "3", 40, |i| {
        Some(if i < 30 {
            Outcome::Resolved
        } else {
            Outcome::Unresolved
        })
    });
    // NEW resolves 0..14 and 39 (15 of 40): 16 lost (b), 1 gained (c). Its losses come in
    // several kinds; 29 has no record at all (counts as not resolved).
    write_run(&new, "new", SHA, "3", 40, |i| match i {
        0..14 | 39 => Some(Outcome::Resolved),
        20 => Some(Outcome::EmptyPatch),
        21 => Some(Outcome::PatchNotApplied),
        29 => None,
        _ => Some(Outcome::Unresolved),
    });
    // A re-graded instance: the latest line (resolved) wins over the earlier one.
    let store = RecordStore::open(&new.join("records.jsonl")).unwrap();
    store.append(&record(5, Outcome::Unresolved)).unwrap();
    store.append(&record(5, Outcome::Resolved)).unwrap();

    let o = protege(&["compare", base.to_str().unwrap(), new.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "stdout:\n{out}\nstderr:\n{err}");
    for want in [
        "Pass@1  BASE 75% (30/40)  NEW 37.5% (15/40)",
        "difference (NEW - BASE): -37.5 pp, 95% CI [",
        "b = 16 (resolved by BASE only), c = 1 (resolved by NEW only)",
        // 2·(1 + 17)/2^17
        "McNemar exact p = 0.0003",
        "decision: REGRESSION (exit 1): NEW is 37.5 pp worse than BASE, more than the allowed 0 pp",
        "acme__widgets-020  resolved → empty_patch",
        "acme__widgets-021  resolved → patch_not_applied",
        "acme__widgets-029  resolved → not_finished",
        "acme__widgets-039  unresolved → resolved",
    ] {
        assert!(out.contains(want), "missing `{want}` in:\n{out}");
    }
    assert!(!out.contains("acme__widgets-005  "), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("  acme__")).count(),
        17,
        "{out}"
    );

    // The same result as JSON.
    let o = protege(&[
        "compare",
        base.to_str().unwrap(),
        new.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    assert_eq!(j["instances"], 40);
    assert_eq!(j["base_resolved"], 30);
    assert_eq!(j["new_resolved"], 15);
    assert_eq!(j["base_only"], 16);
    assert_eq!(j["new_only"], 1);
    assert_eq!(j["regression"], true);
    let p = j["p_value"].as_f64().unwrap();
    assert!((p - 36.0 / 131072.0).abs() < 1e-15, "{p}");
    let (d, lo, hi) = (
        j["difference"].as_f64().unwrap(),
        j["difference_ci95_low"].as_f64().unwrap(),
        j["difference_ci95_high"].as_f64().unwrap(),
    );
    assert_eq!(d, -0.375);
    assert!(lo < d && d < hi && hi < 0.0, "{lo} {d} {hi}");
    assert_eq!(j["discordant"].as_array().unwrap().len(), 17);

    // The interval is reproducible: same runs, same bytes.
    let again = protege(&[
        "compare",
        base.to_str().unwrap(),
        new.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(again.stdout, o.stdout);

    // A threshold larger than the drop lets it through.
    let o = protege(&[
        "compare",
        base.to_str().unwrap(),
        new.to_str().unwrap(),
        "--max-drop",
        "40",
    ]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("within the allowed 40 pp"), "{out}");

    // Reversed, it is an improvement.
    let o = protege(&["compare", new.to_str().unwrap(), base.to_str().unwrap()]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("NEW is not worse than BASE (+37.5 pp)"),
        "{out}"
    );
}

#[test]
fn noise_passes_the_gate() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, new) = (tmp.path().join("base"), tmp.path().join("new"));
    // BASE 20/40; NEW 19/40 with 3 lost (17, 18, 19) and 2 gained (20, 21).
    write_run(&base, "base", SHA, "3", 40, |i| {
        Some(if i < 20 {
            Outcome::Resolved
        } else {
            Outcome::Unresolved
        })
    });
    write_run(&new, "new", SHA, "3", 40, |i| {
        Some(if i < 17 || i == 20 || i == 21 {
            Outcome::Resolved
        } else if i == 18 {
            Outcome::Timeout
        } else {
            Outcome::Unresolved
        })
    });
    let o = protege(&["compare", base.to_str().unwrap(), new.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{err}");
    for want in [
        "Pass@1  BASE 50% (20/40)  NEW 47.5% (19/40)",
        "difference (NEW - BASE): -2.5 pp",
        "b = 3 (resolved by BASE only), c = 2 (resolved by NEW only)",
        "McNemar exact p = 1.0000",
        "decision: pass (exit 0): NEW is 2.5 pp worse than BASE, but the drop is not significant",
        "acme__widgets-018  resolved → timeout",
        "acme__widgets-021  unresolved → resolved",
    ] {
        assert!(out.contains(want), "missing `{want}` in:\n{out}");
    }
    // The interval of a noisy difference straddles zero.
    let o = protege(&[
        "compare",
        base.to_str().unwrap(),
        new.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let (lo, hi) = (
        j["difference_ci95_low"].as_f64().unwrap(),
        j["difference_ci95_high"].as_f64().unwrap(),
    );
    assert!(lo < 0.0 && hi > 0.0, "{lo} {hi}");
}

#[test]
fn different_datasets_and_harnesses_are_refused_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let other_sha = "ffff".repeat(16);
    let all = |_| Some(Outcome::Resolved);
    write_run(&a, "a", SHA, "3", 10, all);
    write_run(&b, "b", &other_sha, "3", 10, all);
    write_run(&c, "c", SHA, "4", 10, all);

    let o = protege(&["compare", a.to_str().unwrap(), b.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("different datasets"), "{err}");
    assert!(
        err.contains(SHA) && err.contains(&other_sha),
        "both values named: {err}"
    );
    assert!(err.contains("--allow-different-datasets"), "{err}");
    let o = protege(&[
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--allow-different-datasets",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);

    let o = protege(&["compare", a.to_str().unwrap(), c.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("BASE harness 3") && err.contains("NEW harness 4"),
        "{err}"
    );
    assert!(err.contains("--allow-different-harness"), "{err}");
    let o = protege(&[
        "compare",
        a.to_str().unwrap(),
        c.to_str().unwrap(),
        "--allow-different-harness",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
}

#[test]
fn bad_input_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    write_run(&a, "a", SHA, "3", 4, |_| Some(Outcome::Resolved));
    let missing = tmp.path().join("nope");
    let o = protege(&["compare", a.to_str().unwrap(), missing.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("not a run folder"), "{err}");
    assert!(err.contains("nope"), "{err}");

    let o = protege(&[
        "compare",
        a.to_str().unwrap(),
        a.to_str().unwrap(),
        "--alpha",
        "1.5",
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--alpha"), "{err}");

    let o = protege(&[
        "compare",
        a.to_str().unwrap(),
        a.to_str().unwrap(),
        "--max-drop",
        "lots",
    ]);
    assert_eq!(o.status.code(), Some(2));

    let broken = tmp.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("manifest.json"), "{ not json").unwrap();
    let o = protege(&["compare", a.to_str().unwrap(), broken.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("NEW manifest unreadable"), "{err}");
}
