//! The task sets end to end in real Docker sandboxes: `mini` tasks converted into each set's
//! shape — a SWE-smith-shaped mini (a bug patch over a clean per-repository image), an
//! R2E-shaped mini (hidden tests in the image and expected statuses), a SWE-rebench-shaped mini
//! (`install_config`) — graded by `protege run` / `protege eval` exactly as any set would be.
//! Each set's own rule is pinned by a case SWE-bench's rule would grade differently.
//!
//! The images are derived from the mini images (`protege images build --dataset mini`), named
//! `protege-sets-test/…`, and removed at the end of each test. Each test's run ids are its own:
//! a run removes every container labelled with its run id when it ends, so two tests running at
//! once under one run id would stop each other's containers.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::sets::*;
use common::*;
use serde_json::{Value, json};

fn report(run: &Path, id: &str) -> Value {
    let r: Value = serde_json::from_str(
        &fs::read_to_string(run.join("logs").join(id).join("report.json")).unwrap(),
    )
    .unwrap();
    r[id].clone()
}

fn predictions(path: &Path, ids: &[&str], patch: &str) {
    let rows: Vec<Value> = ids
        .iter()
        .map(|id| json!({"instance_id": id, "model_name_or_path": "t", "model_patch": patch}))
        .collect();
    write_jsonl(path, &rows);
}

fn run(args: &[&str], cwd: &Path) -> (String, String) {
    let o = protege(args, cwd);
    let (out, err) = text(&o);
    assert!(o.status.success(), "protege {args:?}:\n{out}\n{err}");
    (out, err)
}

#[test]
fn swe_smith_shaped_mini() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let src = SOURCE;
    let (smith, _cleanup) = smith_mini("protege-sets-test");
    let (row, id, ghost) = (&smith.source, smith.id.as_str(), GHOST);
    let smith_row = smith.row.clone();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("smith.jsonl");
    write_jsonl(&data, &[smith_row]);
    let dataset = data.to_str().unwrap(); // detected as SWE-smith by its `image_name`
    let out = tmp.path().to_str().unwrap();

    let (listed, _) = run(&["datasets", "list", "--dataset", dataset], tmp.path());
    assert_eq!(listed, format!("{id}\tprotege-mini/calcexpr\tswe-smith\n"));

    run(
        &[
            "run",
            "--dataset",
            dataset,
            "--policy",
            "gold",
            "--sandbox",
            "docker",
            "--out",
            out,
            "--run-id",
            "smith-gold",
        ],
        tmp.path(),
    );
    let gold = tmp.path().join("smith-gold");
    assert_eq!(outcome_of(&records(&gold), id), "resolved");
    let r = report(&gold, id);
    assert!(strings(&r["tests_status"]["PASS_TO_PASS"]["success"]).contains(&ghost.to_string()));
    let log = fs::read_to_string(gold.join("logs").join(id).join("test_output.txt")).unwrap();
    assert!(
        log.contains(
            "pytest --disable-warnings --color=no --tb=no --verbose tests/test_evaluate.py"
        ),
        "{log}"
    );
    assert!(!log.contains("test_never_collected"));
    // SWE-bench's rule over the same log: the missing test fails, so not resolved
    let set = protege_harness::sets::load::load(dataset).unwrap().0;
    let task = &set.tasks[0];
    let spec = protege_harness::specs::for_task(task).unwrap();
    let status = protege_harness::sets::for_task(task)
        .parse(task, &spec, &log)
        .unwrap();
    let swe = protege_harness::grading::report::tests_status(
        task,
        &status,
        protege_harness::grading::rules::Rules::Swebench4,
    );
    assert_eq!(swe.pass_to_pass.failure, [ghost]);
    assert!(!protege_harness::grading::report::is_resolved(&swe));

    // the start state really is the bug: a patch that fixes nothing leaves FAIL_TO_PASS failing
    let preds = tmp.path().join("nofix.jsonl");
    predictions(&preds, &[id], NO_FIX);
    run(
        &[
            "eval",
            "--predictions",
            preds.to_str().unwrap(),
            "--dataset",
            dataset,
            "--sandbox",
            "docker",
            "--out",
            out,
            "--run-id",
            "smith-nofix",
        ],
        tmp.path(),
    );
    let nofix = tmp.path().join("smith-nofix");
    assert_eq!(outcome_of(&records(&nofix), id), "unresolved");
    let r = report(&nofix, id);
    assert_eq!(
        strings(&r["tests_status"]["FAIL_TO_PASS"]["failure"]),
        strings(&row["FAIL_TO_PASS"])
    );
    let buggy = fs::read_to_string(mini_dir(src).join("repo/calcexpr/parser.py")).unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(check_smith_workspace(task, &buggy));
    run(
        &[
            "run",
            "--dataset",
            dataset,
            "--policy",
            "empty",
            "--sandbox",
            "docker",
            "--out",
            out,
            "--run-id",
            "smith-empty",
        ],
        tmp.path(),
    );
    assert_ne!(
        outcome_of(&records(&tmp.path().join("smith-empty")), id),
        "resolved"
    );
}

/// `--swe-smith-start branch` in real containers: the image's git reaches a mirror inside it in
/// place of github.com (`url.file:///mirror/.insteadOf`), holding the clean branch and the
/// instance's bug branch as SWE-smith's mirrors do. The gold patch resolves and a patch that
/// fixes nothing does not, so the start is the branch's bug; the workspace has one commit of
/// history and no network once set up.
#[test]
fn swe_smith_branch_start() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let (smith, _clean) = smith_mini("protege-sets-branch");
    let id = smith.id.as_str();
    let mirror = format!(
        "/mirror/{}",
        smith.row["repo"].as_str().unwrap() // swesmith/protege-mini__calcexpr.<commit8>
    );
    let image = format!("{}-mirror", smith.image);
    let _mirror = Images(vec![image.clone()]);
    build(
        &image,
        &format!(
            "FROM {}\nCOPY bug.patch /tmp/\n\
             RUN git clone -q --bare /testbed {mirror} && git clone -q {mirror} /tmp/work \
             && cd /tmp/work && git checkout -q -b {id} && git apply /tmp/bug.patch \
             && git -c user.name=swesmith -c user.email=s@s commit -q -am 'Bug Patch' \
             && git push -q origin {id} && cd / && rm -rf /tmp/work /tmp/bug.patch \
             && git config --system url.file:///mirror/.insteadOf https://github.com/\n",
            smith.image
        ),
        &[(
            "bug.patch",
            smith.row["patch"].as_str().unwrap().to_string(),
        )],
    );
    let o = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            &image,
            "git",
            "-C",
            &mirror,
        ])
        .args(["rev-parse", id])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bug_commit = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let mut row = smith.row.clone();
    row["image_name"] = json!(image);
    row["base_commit"] = json!(bug_commit);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("smith.jsonl");
    write_jsonl(&data, &[row]);
    let dataset = data.to_str().unwrap();
    let out = tmp.path().to_str().unwrap();
    let branch = ["--swe-smith-start", "branch"];
    let args = |more: &[&str]| -> Vec<String> {
        more.iter()
            .chain(["--dataset", dataset, "--sandbox", "docker", "--out", out].iter())
            .chain(branch.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let a = args(&["run", "--policy", "gold", "--run-id", "branch-gold"]);
    run(
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        tmp.path(),
    );
    let gold = tmp.path().join("branch-gold");
    assert_eq!(outcome_of(&records(&gold), id), "resolved");
    // the choice is part of the task, so of its cache key: a default run is not reused for it
    run(
        &[
            "run",
            "--policy",
            "gold",
            "--run-id",
            "patch-gold",
            "--dataset",
            dataset,
            "--sandbox",
            "docker",
            "--out",
            out,
        ],
        tmp.path(),
    );
    let key = |run: &str| records(&tmp.path().join(run))[0]["cache_key"].clone();
    assert_ne!(key("branch-gold"), key("patch-gold"));
    let preds = tmp.path().join("nofix.jsonl");
    predictions(&preds, &[id], NO_FIX);
    let preds = preds.to_str().unwrap().to_string();
    let a = args(&["eval", "--predictions", &preds, "--run-id", "branch-nofix"]);
    run(
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        tmp.path(),
    );
    let nofix = tmp.path().join("branch-nofix");
    assert_eq!(outcome_of(&records(&nofix), id), "unresolved");
    let r = report(&nofix, id);
    assert_eq!(
        strings(&r["tests_status"]["FAIL_TO_PASS"]["failure"]),
        strings(&smith.source["FAIL_TO_PASS"])
    );
    // the workspace: the bug, one commit, and no network left; the bug commit's object is there
    // only because the branch was fetched (the image's own repository never held it)
    let plain = protege_harness::sets::load::load(dataset).unwrap().0;
    let mut set = plain.clone();
    protege_harness::sets::swe_smith::choose_start(
        &mut set,
        protege_harness::sets::swe_smith::Start::Branch,
    );
    use protege_sandboxes::docker::Network;
    let limits = Default::default();
    assert_eq!(
        protege_harness::sets::limits_for(&set.tasks[0], &limits).network,
        Network::Open
    );
    assert_eq!(
        protege_harness::sets::limits_for(&plain.tasks[0], &limits).network,
        Network::None
    );
    let buggy = fs::read_to_string(mini_dir(SOURCE).join("repo/calcexpr/parser.py")).unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use protege_harness::grader::{Engines, Grader, SandboxKind};
        use protege_sandboxes::ExecOptions;
        let engine = protege_sandboxes::docker::DockerEngine::connect().await;
        let grader = Grader::new(
            Engines::docker(engine),
            "smith-branch-workspace".into(),
            Default::default(),
            std::time::Duration::from_secs(120),
            0,
        );
        let probe = format!(
            "git log --all --oneline | wc -l; git branch; ls /sys/class/net; \
                 git cat-file -e {bug_commit} && echo fetched || echo absent"
        );
        for (task, fetched) in [(&set.tasks[0], "fetched"), (&plain.tasks[0], "absent")] {
            let env = grader.environment(task, SandboxKind::Docker).await;
            let ws = grader.open_workspace(task, &env).await.expect("workspace");
            let file = ws.read_file("/testbed/calcexpr/parser.py").await.unwrap();
            assert_eq!(String::from_utf8(file).unwrap(), buggy);
            let opts = ExecOptions::with_timeout(std::time::Duration::from_secs(60));
            let o = ws.exec(&probe, &opts).await.unwrap();
            let lines: Vec<&str> = o.output.lines().map(str::trim).collect();
            assert_eq!(
                lines,
                ["1", "* protege-start", "lo", fetched],
                "{}",
                o.output
            );
            ws.close().await.unwrap();
        }
        grader.remove_all().await;
    });
}

/// The workspace a policy acts in starts at the bug, with no history that shows the fix, and
/// the policy's diff is taken against that start.
async fn check_smith_workspace(task: &protege_datasets::Task, buggy: &str) {
    use protege_harness::grader::{Engines, Grader, SandboxKind};
    use protege_sandboxes::ExecOptions;
    let engine = protege_sandboxes::docker::DockerEngine::connect().await;
    let grader = Grader::new(
        Engines::docker(engine),
        "smith-workspace".into(),
        Default::default(),
        std::time::Duration::from_secs(120),
        0,
    );
    let env = grader.environment(task, SandboxKind::Docker).await;
    let ws = grader.open_workspace(task, &env).await.expect("workspace");
    let file = ws.read_file("/testbed/calcexpr/parser.py").await.unwrap();
    assert_eq!(String::from_utf8(file).unwrap(), buggy);
    let opts = ExecOptions::with_timeout(std::time::Duration::from_secs(60));
    let log = ws
        .exec("git log --all --oneline | wc -l; ls /tmp", &opts)
        .await
        .unwrap();
    assert_eq!(
        log.output.lines().next().unwrap().trim(),
        "1",
        "{}",
        log.output
    );
    assert!(
        !log.output.contains("protege_swesmith_bug"),
        "{}",
        log.output
    );
    assert_eq!(ws.diff(&task.base_commit).await.unwrap(), "");
    ws.exec("echo '# edited' >> calcexpr/parser.py", &opts)
        .await
        .unwrap();
    let d = ws.diff(&task.base_commit).await.unwrap();
    assert!(
        d.contains("+# edited") && !d.contains("UNARY_PRECEDENCE"),
        "{d}"
    );
    ws.close().await.unwrap();
    grader.remove_all().await;
}

#[test]
fn r2e_shaped_mini() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let (r2e, _cleanup) = r2e_mini("protege-sets-test");
    let all = r2e.all.clone();
    // the second expects one test fewer than the tests run: R2E-Gym's exact match gives 0
    // though every test it lists passes (SWE-bench's rule, over listed tests, would resolve)
    let fewer: Vec<String> = all[1..].to_vec();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("r2e.jsonl");
    write_jsonl(
        &data,
        &[
            r2e.row("calcexpr__exact", &all),
            r2e.row("calcexpr__fewer", &fewer),
            // no `patch`: the gold is derived from the published commit
            r2e.row_with_commit("calcexpr__commit", &all),
        ],
    );
    let dataset = format!("r2e-gym-lite:{}", data.display());
    let out = tmp.path().to_str().unwrap();
    run(
        &[
            "run",
            "--dataset",
            &dataset,
            "--policy",
            "gold",
            "--sandbox",
            "docker",
            "--out",
            out,
            "--run-id",
            "r2e-gold",
        ],
        tmp.path(),
    );
    let gold = tmp.path().join("r2e-gold");
    let recs = records(&gold);
    let log =
        fs::read_to_string(gold.join("logs/calcexpr__exact/test_output.txt")).unwrap_or_default();
    assert_eq!(outcome_of(&recs, "calcexpr__exact"), "resolved", "{log}");
    assert_eq!(outcome_of(&recs, "calcexpr__fewer"), "unresolved");
    assert_eq!(outcome_of(&recs, "calcexpr__commit"), "resolved");
    let r = report(&gold, "calcexpr__fewer");
    assert!(
        r["tests_status"]["PASS_TO_PASS"]["failure"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        strings(&r["tests_status"]["FAIL_TO_FAIL"]["failure"]),
        [all[0].clone()]
    );
    // before the fix the hidden tests' F2P fail: not resolved
    let preds = tmp.path().join("nofix.jsonl");
    predictions(&preds, &["calcexpr__exact"], NO_FIX);
    run(
        &[
            "eval",
            "--predictions",
            preds.to_str().unwrap(),
            "--dataset",
            &dataset,
            "--sandbox",
            "docker",
            "--out",
            out,
            "--run-id",
            "r2e-nofix",
        ],
        tmp.path(),
    );
    assert_eq!(
        outcome_of(&records(&tmp.path().join("r2e-nofix")), "calcexpr__exact"),
        "unresolved"
    );
}

#[test]
fn swe_rebench_shaped_mini() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let id = "protege-mini__unitconv-1";
    let tag = "protege-sets-test/rebench.protege-mini_1776_unitconv-1:latest";
    let _cleanup = Images(vec![tag.to_string()]);
    build(
        tag,
        &format!("FROM {}\nLABEL protege-sets-test=1\n", mini_image(id)),
        &[],
    );
    let mut row = mini_row(id);
    row["install_config"] = json!({
        "python": "3.11", "install": "", "log_parser": "parse_log_pytest",
        "test_cmd": "python3 -m pytest -rA -p no:cacheprovider --no-header",
    });
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("rebench.jsonl");
    write_jsonl(&data, &[row]);
    let dataset = data.to_str().unwrap(); // detected by its install_config
    let out = tmp.path().to_str().unwrap();
    let template = "protege-sets-test/rebench.{id}:latest";
    run(
        &[
            "run",
            "--dataset",
            dataset,
            "--image-template",
            template,
            "--policy",
            "gold",
            "--sandbox",
            "docker",
            "--out",
            out,
            "--run-id",
            "rebench-gold",
        ],
        tmp.path(),
    );
    let gold = tmp.path().join("rebench-gold");
    assert_eq!(outcome_of(&records(&gold), id), "resolved");
    let script = fs::read_to_string(gold.join("logs").join(id).join("eval.sh")).unwrap();
    assert!(
        script.contains("export LANG=C.UTF-8\nexport LC_ALL=C.UTF-8\n"),
        "{script}"
    );
    assert!(
        script.contains("python3 -m pytest -rA -p no:cacheprovider --no-header tests/"),
        "{script}"
    );
    // the template's image is the one it ran in
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(gold.join("manifest.json")).unwrap()).unwrap();
    let o = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", tag])
        .output()
        .unwrap();
    assert_eq!(
        manifest["environments"][id].as_str().unwrap(),
        String::from_utf8_lossy(&o.stdout).trim()
    );
    let preds = tmp.path().join("nofix.jsonl");
    predictions(&preds, &[id], NO_FIX);
    run(
        &[
            "eval",
            "--predictions",
            preds.to_str().unwrap(),
            "--dataset",
            dataset,
            "--image-template",
            template,
            "--sandbox",
            "docker",
            "--out",
            out,
            "--run-id",
            "rebench-nofix",
        ],
        tmp.path(),
    );
    assert_eq!(
        outcome_of(&records(&tmp.path().join("rebench-nofix")), id),
        "unresolved"
    );
    // an unknown placeholder is refused before anything runs
    let o = protege(
        &["run", "--dataset", dataset, "--image-template", "x/{nope}"],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("unknown placeholder `{nope}`"),
        "{}",
        text(&o).1
    );
}

/// A SWE-Gym-shaped mini (a mini row under one of SWE-Gym's repositories, hydra 1.3): graded by
/// 2.x's rules, the version SWE-Gym's harness forks, with the fork's install step before the
/// tests. The gold patch with a conftest.py that makes pytest exit 3 after every test passed
/// resolves it, as SWE-Gym's grader (which reads only the log) says, where 5.x's rule finds the
/// log unusable (a non-zero exit with no failure in it).
#[test]
fn swe_gym_shaped_mini() {
    if !docker_available() {
        return;
    }
    ensure_mini_images();
    let id = "protege-mini__unitconv-1";
    let mut row = mini_row(id);
    row["repo"] = "facebookresearch/hydra".into();
    row["version"] = "1.3".into();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("gym.jsonl");
    write_jsonl(&data, &[row]);
    let dataset = format!("swe-gym:{}", data.display());
    let image = mini_image(id);
    let out = tmp.path().to_str().unwrap();
    let common = [
        "--dataset",
        dataset.as_str(),
        "--image-template",
        image.as_str(),
        "--grading-network",
        "none",
        "--sandbox",
        "docker",
        "--out",
        out,
    ];
    fn args<'a>(head: &[&'a str], common: &[&'a str], run_id: &'a str) -> Vec<&'a str> {
        let mut a: Vec<&str> = head.to_vec();
        a.extend_from_slice(common);
        a.extend_from_slice(&["--run-id", run_id]);
        a
    }
    run(
        &args(&["run", "--policy", "gold"], &common, "gym-gold"),
        tmp.path(),
    );
    let gold = tmp.path().join("gym-gold");
    assert_eq!(outcome_of(&records(&gold), id), "resolved");
    let script = fs::read_to_string(gold.join("logs").join(id).join("eval.sh")).unwrap();
    let install = script
        .find("\npip install -r requirements/dev.txt; pip install -e .;\n")
        .unwrap_or_else(|| panic!("hydra's install step: {script}"));
    assert!(install < script.find("git apply -v -").unwrap(), "{script}");
    assert!(script.contains("\npytest -rA --tb=long tests/"), "{script}");
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(gold.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["grader"], "swebench-2");
    // 2.x's scripts print no start/end markers; so `regrade --grader auto` reads protege's own
    // SWE-Gym logs as 2.x logs, and grades them as the run did
    assert!(!script.contains(">>>>> Start Test Output"), "{script}");
    let regraded = tmp.path().join("gym-regraded");
    run(
        &[
            "regrade",
            "--logs",
            gold.join("logs").to_str().unwrap(),
            "--dataset",
            dataset.as_str(),
            "--out",
            regraded.to_str().unwrap(),
            "--grader",
            "auto",
        ],
        tmp.path(),
    );
    let summary: Value =
        serde_json::from_str(&fs::read_to_string(regraded.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["rules_used"],
        serde_json::json!({"swebench-2": 1}),
        "{summary}"
    );
    assert_eq!(
        summary["resolved_ids"],
        serde_json::json!([id]),
        "{summary}"
    );

    let exit_3 = "diff --git a/tests/conftest.py b/tests/conftest.py\nnew file mode 100644\n--- /dev/null\n+++ b/tests/conftest.py\n@@ -0,0 +1,2 @@\n+def pytest_sessionfinish(session, exitstatus):\n+    session.exitstatus = 3\n";
    let gold_patch = fs::read_to_string(mini_dir(id).join("gold.patch")).unwrap();
    let patch = format!("{gold_patch}{exit_3}");
    let preds = tmp.path().join("exit3.jsonl");
    predictions(&preds, &[id], &patch);
    let preds = preds.to_str().unwrap();
    run(
        &args(&["eval", "--predictions", preds], &common, "gym-exit3"),
        tmp.path(),
    );
    let skipped = tmp.path().join("gym-exit3");
    assert_eq!(outcome_of(&records(&skipped), id), "resolved");
    run(
        &args(
            &["eval", "--predictions", preds, "--grader", "swebench-5"],
            &common,
            "gym-exit3-5",
        ),
        tmp.path(),
    );
    assert_ne!(
        outcome_of(&records(&tmp.path().join("gym-exit3-5")), id),
        "resolved"
    );
}
