//! The apply cascade in a real container: `git apply`, then `git apply --reject`, then
//! `patch --fuzz=5`, each reached by a patch the previous methods refuse (swebench 4.x's
//! cascade, which the first tests were written for); then 5.x's, with its cleanup between
//! attempts and its "already applied" check.

use std::time::Duration;

use protege_datasets::mini;
use protege_harness::grading::docker::{DockerEval, evaluate};
use protege_harness::grading::rules::Rules;
use protege_harness::grading::verdict::from_outcome;
use protege_harness::specs;
use protege_results::Outcome;
use protege_sandboxes::docker::images::protege_name;
use protege_sandboxes::docker::{ContainerLimits, DockerEngine};

const ID: &str = "protege-mini__calcexpr-1";

async fn engine_and_image() -> Option<(DockerEngine, String)> {
    let engine = match DockerEngine::connect().await {
        Ok(e) => e,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "Docker unavailable under CI: {e}"
            );
            eprintln!("SKIPPED: {e}");
            return None;
        }
    };
    let Some(id) = engine.image_id(&protege_name(ID)).await.unwrap() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "mini images not built under CI"
        );
        eprintln!("SKIPPED: run `protege images build --dataset mini` first");
        return None;
    };
    Some((engine, id))
}

#[tokio::test]
async fn the_cascade_falls_through_to_patch_fuzz() {
    let Some((engine, image_id)) = engine_and_image().await else {
        return;
    };
    let set = mini::load().unwrap();
    let task = set.get(ID).unwrap();
    let spec = specs::for_task(task).unwrap();
    let cfg = DockerEval {
        image: protege_name(ID),
        image_id,
        run_id: "cascade-test".into(),
        limits: ContainerLimits::default(),
        test_timeout: Duration::from_secs(120),
        rules: Rules::Swebench4,
        egress: Default::default(),
    };
    let gold = task.patch.clone();
    // Hunk header off by 10 lines: git apply finds the hunk at an offset.
    let offset = gold.replace("@@ -63,7 +63,7 @@", "@@ -73,7 +73,7 @@");
    // A context line that differs from the file: only patch's fuzz accepts it.
    let fuzzed = gold.replace(
        "            self.advance()\n",
        "            self.advance()  # moved\n",
    );
    assert_ne!(fuzzed, gold);
    for (patch, method) in [
        (&gold, "git apply --verbose)"),
        (&offset, "git apply --verbose)"),
        (&fuzzed, "patch --batch --fuzz=5 -p1 -i)"),
    ] {
        let out = evaluate(&engine, &cfg, task, &spec, patch, None).await;
        assert!(out.infra_error.is_none(), "{:?}", out.infra_error);
        assert!(
            out.apply_log
                .contains(&format!(">>>>> Applied Patch ({method}")),
            "{method}: {}",
            out.apply_log
        );
        let v = from_outcome(task, &spec, &out, Rules::Swebench4);
        assert_eq!(v.outcome, Outcome::Resolved, "{method}");
    }
    // Two files, one hunk applying and one not: `git apply --reject` applies what it can and
    // fails; `patch` then also fails on the bad hunk, so the patch counts as not applied.
    let bad = format!(
        "{gold}diff --git a/conftest.py b/conftest.py\n--- a/conftest.py\n+++ b/conftest.py\n@@ -1,2 +1,2 @@\n-no such line\n-nor this\n+x\n+y\n"
    );
    let out = evaluate(&engine, &cfg, task, &spec, &bad, None).await;
    assert_eq!(out.applied, Some(false), "{}", out.apply_log);
    assert!(out.apply_log.contains(">>>>> Patch Apply Failed"));
    for m in [
        "git apply --verbose ",
        "git apply --verbose --reject",
        "patch --batch --fuzz=5",
    ] {
        assert!(
            out.apply_log
                .contains(&format!("Failed to apply patch to container: {m}")),
            "{m}"
        );
    }
    assert_eq!(
        from_outcome(task, &spec, &out, Rules::Swebench4).outcome,
        Outcome::PatchNotApplied
    );
    assert_eq!(engine.live_count(), 0);
}

#[tokio::test]
async fn a_test_run_past_its_deadline_is_a_timeout() {
    let Some((engine, image_id)) = engine_and_image().await else {
        return;
    };
    let set = mini::load().unwrap();
    let task = set.get(ID).unwrap();
    let mut spec = specs::for_task(task).unwrap();
    spec.test_cmd = "sleep 30; true".into();
    let cfg = DockerEval {
        image: protege_name(ID),
        image_id,
        run_id: "timeout-test".into(),
        limits: ContainerLimits::default(),
        test_timeout: Duration::from_secs(2),
        rules: Rules::Swebench4,
        egress: Default::default(),
    };
    let out = evaluate(&engine, &cfg, task, &spec, &task.patch, None).await;
    assert!(out.timed_out, "{}", out.test_output);
    assert!(out.test_duration < Duration::from_secs(20));
    assert_eq!(
        from_outcome(task, &spec, &out, Rules::Swebench4).outcome,
        Outcome::Timeout
    );
}

#[tokio::test]
async fn a_memory_bomb_is_reported_as_oom() {
    let Some((engine, image_id)) = engine_and_image().await else {
        return;
    };
    let set = mini::load().unwrap();
    let task = set.get(ID).unwrap();
    let mut spec = specs::for_task(task).unwrap();
    spec.test_cmd = "python3 -c 'x = bytearray(512 << 20); print(len(x))'".into();
    let cfg = DockerEval {
        image: protege_name(ID),
        image_id,
        run_id: "oom-test".into(),
        limits: ContainerLimits {
            memory_bytes: 128 << 20,
            ..Default::default()
        },
        test_timeout: Duration::from_secs(60),
        rules: Rules::Swebench4,
        egress: Default::default(),
    };
    let out = evaluate(&engine, &cfg, task, &spec, &task.patch, None).await;
    let v = from_outcome(task, &spec, &out, Rules::Swebench4);
    assert_eq!(v.outcome, Outcome::InfraError, "{}", out.test_output);
    assert_eq!(v.infra_error.unwrap().kind, "oom");
}

/// The patch that undoes `patch` (hunks' sides swapped; file headers kept).
fn reversed(patch: &str) -> String {
    let mut out = String::new();
    for line in patch.lines() {
        let swapped = if line.starts_with("--- ") || line.starts_with("+++ ") {
            line.to_string()
        } else if let Some(rest) = line.strip_prefix("@@ -") {
            // @@ -a,b +c,d @@ tail  →  @@ -c,d +a,b @@ tail
            let (old, rest) = rest.split_once(" +").unwrap();
            let (new, tail) = rest.split_once(" @@").unwrap();
            format!("@@ -{new} +{old} @@{tail}")
        } else if let Some(rest) = line.strip_prefix('-') {
            format!("+{rest}")
        } else if let Some(rest) = line.strip_prefix('+') {
            format!("-{rest}")
        } else {
            line.to_string()
        };
        out.push_str(&swapped);
        out.push('\n');
    }
    out
}

#[tokio::test]
async fn swebench_5_cascade_cleans_up_and_knows_an_applied_patch() {
    let Some((engine, image_id)) = engine_and_image().await else {
        return;
    };
    let set = mini::load().unwrap();
    let task = set.get(ID).unwrap();
    let spec = specs::for_task(task).unwrap();
    let cfg = |rules| DockerEval {
        image: protege_name(ID),
        image_id: image_id.clone(),
        run_id: "cascade5-test".into(),
        limits: ContainerLimits::default(),
        test_timeout: Duration::from_secs(120),
        rules,
        egress: Default::default(),
    };
    let v5 = cfg(Rules::Swebench5);
    let out = evaluate(&engine, &v5, task, &spec, &task.patch, None).await;
    assert!(
        out.apply_log
            .contains(">>>>> Applied Patch (git apply --verbose)")
    );
    assert!(
        out.test_output.contains(">>>>> Test Exit Code: 0"),
        "{}",
        out.test_output
    );
    assert_eq!(
        from_outcome(task, &spec, &out, Rules::Swebench5).outcome,
        Outcome::Resolved
    );

    // The gold patch undone: nothing of it applies to the base, but its reverse does. 5.x's
    // `patch --forward` refuses it and the reverse check takes it as already applied (the tests
    // run on the base tree: unresolved); 4.x's `patch --batch` assumes a patch that looks
    // reversed is, applies the gold patch, and the instance resolves.
    let undo = reversed(&task.patch);
    let out = evaluate(&engine, &v5, task, &spec, &undo, None).await;
    assert_eq!(out.applied, Some(true), "{}", out.apply_log);
    assert!(
        out.apply_log.contains("verified already applied"),
        "{}",
        out.apply_log
    );
    for m in [
        "git apply --verbose ",
        "git apply --verbose --3way",
        "git apply --verbose --reject",
        "patch --batch --forward --fuzz=5",
    ] {
        assert!(
            out.apply_log
                .contains(&format!("Failed to apply patch to container: {m}")),
            "{m}: {}",
            out.apply_log
        );
    }
    assert_eq!(
        from_outcome(task, &spec, &out, Rules::Swebench5).outcome,
        Outcome::Unresolved
    );
    let out = evaluate(&engine, &cfg(Rules::Swebench4), task, &spec, &undo, None).await;
    assert!(
        out.apply_log
            .contains(">>>>> Applied Patch (patch --batch --fuzz=5 -p1 -i)"),
        "{}",
        out.apply_log
    );
    assert_eq!(
        from_outcome(task, &spec, &out, Rules::Swebench4).outcome,
        Outcome::Resolved
    );

    // A patch `--reject` half-applies: the cleanup leaves `patch` a pristine tree, which it
    // also refuses; nothing of the half-applied hunk survives into the verdict.
    let bad = format!(
        "{}diff --git a/conftest.py b/conftest.py\n--- a/conftest.py\n+++ b/conftest.py\n@@ -1,2 +1,2 @@\n-no such line\n-nor this\n+x\n+y\n",
        task.patch
    );
    let out = evaluate(&engine, &v5, task, &spec, &bad, None).await;
    assert_eq!(out.applied, Some(false), "{}", out.apply_log);
    assert_eq!(engine.live_count(), 0);
}
