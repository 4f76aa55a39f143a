//! End-to-end: the Kubernetes backend against a real cluster, the one `KUBECONFIG` names.
//! Without `KUBECONFIG` the cluster tests are skipped loudly (CI has no cluster); with it, an
//! unreachable cluster fails them. The mini images must be on the nodes (imported with
//! `docker save IMAGE | ctr -n k8s.io images import -`, or pullable); `PROTEGE_K8S_PULL_POLICY`
//! (default `IfNotPresent`) is the pods' `imagePullPolicy`.

mod common;

use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use protege_sandboxes::k8s::pod::PodResources;
use protege_sandboxes::k8s::{KubeEngine, PodSandbox, PodSettings, PullPolicy};
use protege_sandboxes::{ExecOptions, Sandbox, SandboxError};

fn pull_policy() -> String {
    std::env::var("PROTEGE_K8S_PULL_POLICY").unwrap_or_else(|_| "IfNotPresent".into())
}

/// The cluster `KUBECONFIG` names, or `None` (skipped, said on stderr) when it names none.
async fn cluster(start_timeout: Duration) -> Option<KubeEngine> {
    if std::env::var_os("KUBECONFIG").is_none() {
        eprintln!("SKIPPED: KUBECONFIG is not set; the Kubernetes tests need a cluster");
        return None;
    }
    let settings = PodSettings {
        pull_policy: PullPolicy::parse(&pull_policy()).unwrap(),
        start_timeout,
        ..Default::default()
    };
    Some(
        KubeEngine::connect(settings)
            .await
            .unwrap_or_else(|e| panic!("KUBECONFIG is set but: {e}")),
    )
}

/// A command printing how many processes run exactly `args` (the images have no `ps`).
fn running(args: &str) -> String {
    format!(
        "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done | grep -c '^{args} $' || true"
    )
}

fn has_cluster() -> bool {
    if std::env::var_os("KUBECONFIG").is_none() {
        eprintln!("SKIPPED: KUBECONFIG is not set; the Kubernetes tests need a cluster");
        return false;
    }
    true
}

fn mini_image(id: &str) -> String {
    common::sets::mini_image(id)
}

/// A pod of the first mini task's image, labelled with `run_id`, with the namespace's default
/// resources.
async fn mini_pod(engine: &KubeEngine, run_id: &str) -> PodSandbox {
    let id = &mini_ids()[0];
    PodSandbox::start(
        engine,
        &mini_image(id),
        run_id,
        id,
        &PodResources::default(),
    )
    .await
    .unwrap()
}

/// Pods (not being deleted) of a run, read through the backend's own label.
fn run_pods(run_id: &str) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine = KubeEngine::connect(PodSettings::default()).await.unwrap();
        engine.labelled(run_id).await.unwrap()
    })
}

fn k8s_run(args: &[&str], out: &Path, run_id: &str) -> std::process::Output {
    let policy = pull_policy();
    let mut all = vec![
        "--sandbox",
        "k8s",
        "--image-pull-policy",
        &policy,
        "--out",
        out.to_str().unwrap(),
        "--run-id",
        run_id,
    ];
    all.splice(0..0, args.iter().copied());
    protege(&all, out)
}

#[test]
fn mini_on_pods_gives_the_docker_verdicts() {
    if !has_cluster() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ids = mini_ids();
    let o = k8s_run(
        &[
            "run",
            "--dataset",
            "mini",
            "--policy",
            "gold",
            "--workers",
            "4",
        ],
        tmp.path(),
        "k8s-gold",
    );
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    let recs = records(&tmp.path().join("k8s-gold"));
    assert_eq!(recs.len(), ids.len());
    for id in &ids {
        assert_eq!(outcome_of(&recs, id), "resolved", "{id}: {stderr}");
    }
    for r in &recs {
        assert_eq!(r["sandbox"], "k8s", "{r}");
    }
    assert!(
        stdout.contains(&format!("| {} | {} | 100.0% |", ids.len(), ids.len())),
        "{stdout}"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("k8s-gold/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["sandbox"], "k8s");
    let note = manifest["config"]["k8s"]["network"].as_str().unwrap();
    assert!(note.contains("CNI"), "{note}");

    // a no-op patch: every task's tests run on the buggy code and fail, as under Docker
    let noop = "diff --git a/NOTES.txt b/NOTES.txt\nnew file mode 100644\n--- /dev/null\n+++ b/NOTES.txt\n@@ -0,0 +1 @@\n+notes\n";
    let preds: Vec<String> = ids
        .iter()
        .map(|id| serde_json::json!({"instance_id": id, "model_name_or_path": "noop", "model_patch": noop}).to_string())
        .collect();
    let p = tmp.path().join("noop.jsonl");
    std::fs::write(&p, preds.join("\n")).unwrap();
    let o = k8s_run(
        &[
            "eval",
            "--predictions",
            p.to_str().unwrap(),
            "--workers",
            "4",
        ],
        tmp.path(),
        "k8s-noop",
    );
    assert!(o.status.success(), "{}", text(&o).1);
    let recs = records(&tmp.path().join("k8s-noop"));
    assert_eq!(recs.len(), ids.len());
    for id in &ids {
        assert_eq!(outcome_of(&recs, id), "unresolved", "{id}");
    }

    let o = k8s_run(&["run", "--policy", "empty"], tmp.path(), "k8s-empty");
    assert!(o.status.success(), "{}", text(&o).1);
    let recs = records(&tmp.path().join("k8s-empty"));
    for id in &ids {
        assert_eq!(outcome_of(&recs, id), "empty_patch");
    }
    for run in ["k8s-gold", "k8s-noop", "k8s-empty"] {
        assert!(run_pods(run).is_empty(), "pods of {run} left behind");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_image_is_an_infrastructure_error_naming_it() {
    let Some(engine) = cluster(Duration::from_secs(120)).await else {
        return;
    };
    let image = "protege.invalid/no-such-image:1";
    let started = Instant::now();
    let err = match PodSandbox::start(
        &engine,
        image,
        "k8s-missing",
        "none__none-1",
        &PodResources::default(),
    )
    .await
    {
        Ok(_) => panic!("a pod from {image} started"),
        Err(e) => e,
    };
    let message = err.to_string();
    assert!(matches!(err, SandboxError::ImagePull(_)), "{err:?}");
    assert!(message.contains(image), "{message}");
    assert!(
        ["ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull"]
            .iter()
            .any(|r| message.contains(r)),
        "{message}"
    );
    assert!(started.elapsed() < Duration::from_secs(120));
    assert!(engine.labelled("k8s-missing").await.unwrap().is_empty());
    engine.remove_all("k8s-missing").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unschedulable_pod_is_an_error_with_its_reason_at_the_start_timeout() {
    let Some(engine) = cluster(Duration::from_secs(8)).await else {
        return;
    };
    let id = &mini_ids()[0];
    // more memory than any test node has
    let huge = PodResources {
        memory_bytes: 1 << 50,
        cpus: None,
    };
    let err = match PodSandbox::start(&engine, &mini_image(id), "k8s-unsched", id, &huge).await {
        Ok(_) => panic!("a pod asking for 1 PiB was scheduled"),
        Err(e) => e,
    };
    let message = err.to_string();
    assert!(matches!(err, SandboxError::Died(_)), "{err:?}");
    assert!(message.contains("not ready within 8 s"), "{message}");
    assert!(message.contains("Unschedulable"), "{message}");
    assert!(engine.labelled("k8s-unsched").await.unwrap().is_empty());
    engine.remove_all("k8s-unsched").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_deadline_stops_a_long_command() {
    let Some(engine) = cluster(Duration::from_secs(120)).await else {
        return;
    };
    let pod = mini_pod(&engine, "k8s-deadline").await;
    let out = pod
        .exec(
            "echo started; sleep 1000",
            &ExecOptions::with_timeout(Duration::from_secs(2)),
        )
        .await
        .unwrap();
    assert!(out.timed_out, "{out:?}");
    assert_eq!(out.exit_code, None);
    assert!(out.output.contains("started"), "{out:?}");
    assert!(out.duration < Duration::from_secs(60), "{out:?}");
    // the command is gone, the pod still answers, exit codes and both streams come back
    let ps = pod
        .exec(&running("sleep 1000"), &ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(ps.output.trim(), "0", "{ps:?}");
    let out = pod
        .exec(
            "echo out; echo err >&2; cd; pwd; exit 3",
            &ExecOptions {
                env: vec![("X".into(), "y z".into())],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(3), "{out:?}");
    assert!(
        out.output.contains("out") && out.output.contains("err"),
        "{out:?}"
    );
    let env = pod
        .exec("echo \"$X\"; pwd", &ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(env.output, "\n/testbed\n");
    pod.close().await.unwrap();
    engine.remove_all("k8s-deadline").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tree_of_a_thousand_files_goes_in_and_out_intact() {
    let Some(engine) = cluster(Duration::from_secs(120)).await else {
        return;
    };
    let pod = mini_pod(&engine, "k8s-tree").await;
    // 1,000 files, 10 MB in all, of varied sizes and pseudo-random bytes, in nested folders
    let mut files = Vec::new();
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    for i in 0..1000 {
        let len = 10_000 + (i * 37 % 41) * 10 - 200;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        files.push((format!("tree/d{}/e{}/f{i}.bin", i % 10, i % 7), bytes));
    }
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    assert!(total >= 9_900_000, "{total}");
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in &files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        builder.append_data(&mut h, name, bytes.as_slice()).unwrap();
    }
    let tarball = builder.into_inner().unwrap();
    pod.put_tar("/tmp/in", tarball).await.unwrap();
    let count = pod
        .exec("find /tmp/in/tree -type f | wc -l", &ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(count.output.trim(), "1000");
    let back = pod.get_tar("/tmp/in/tree").await.unwrap();
    let mut archive = tar::Archive::new(back.as_slice());
    let mut seen = std::collections::BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut buf = Vec::new();
        entry.read_to_end(&mut buf).unwrap();
        seen.insert(path, buf);
    }
    assert_eq!(seen.len(), 1000);
    for (name, bytes) in &files {
        assert_eq!(seen.get(name), Some(bytes), "{name} differs");
    }
    // single files too, through the Sandbox trait
    pod.write_file("/tmp/x/one.txt", b"one\n").await.unwrap();
    assert_eq!(pod.read_file("/tmp/x/one.txt").await.unwrap(), b"one\n");
    assert!(pod.read_file("/tmp/x/absent").await.is_err());
    pod.close().await.unwrap();
    engine.remove_all("k8s-tree").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_deleted_during_exec_is_an_infrastructure_error() {
    let Some(engine) = cluster(Duration::from_secs(120)).await else {
        return;
    };
    let pod = mini_pod(&engine, "k8s-deleted").await;
    let name = pod.name().to_string();
    let opts = ExecOptions::default();
    let exec = pod.exec("sleep 600", &opts);
    let delete = async {
        // deleted once the command runs (polled through a second exec, not slept for)
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = pod
                .exec(&running("sleep 600"), &ExecOptions::default())
                .await;
            if out.is_ok_and(|o| o.output.trim() == "1") {
                break;
            }
            assert!(Instant::now() < deadline, "sleep never started");
        }
        engine.remove(&name).await.unwrap();
        std::future::pending::<()>().await
    };
    let res = tokio::select! {
        r = exec => r,
        _ = delete => unreachable!(),
    };
    let err = res.expect_err("exec in a deleted pod succeeded");
    assert!(
        matches!(
            err,
            SandboxError::Died(_) | SandboxError::EngineUnavailable(_)
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(&name), "{err}");
    engine.remove_all("k8s-deleted").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_process_killed_at_the_memory_limit_is_seen() {
    let Some(engine) = cluster(Duration::from_secs(120)).await else {
        return;
    };
    let id = &mini_ids()[0];
    let pod = PodSandbox::start(
        &engine,
        &mini_image(id),
        "k8s-oom",
        id,
        &PodResources {
            memory_bytes: 128 << 20,
            cpus: Some(0.5),
        },
    )
    .await
    .unwrap();
    assert!(!pod.oom_killed().await);
    let out = pod
        .exec(
            "python3 -c 'a = bytearray(512 << 20); print(len(a))'",
            &ExecOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(137), "{out:?}");
    assert!(pod.oom_killed().await, "the kill at the limit is not seen");
    pod.close().await.unwrap();
    engine.remove_all("k8s-oom").await;
}

/// A run whose pod is deleted mid-evaluation records an infrastructure error and goes on; the
/// rerun grades that instance again.
/// A predictions file whose patches add a conftest.py that waits 20 s before the tests: long
/// enough to break something under the eval script for certain.
fn waiting_predictions(dir: &Path, ids: &[String]) -> std::path::PathBuf {
    let wait_py =
        "import time\nt = time.time() + 20\nwhile time.time() < t:\n    time.sleep(0.1)\n";
    let patch = format!(
        "diff --git a/tests/conftest.py b/tests/conftest.py\nnew file mode 100644\n--- /dev/null\n+++ b/tests/conftest.py\n@@ -0,0 +1,4 @@\n{}",
        wait_py
            .lines()
            .map(|l| format!("+{l}\n"))
            .collect::<String>()
    );
    let preds = dir.join("wait.jsonl");
    let lines: Vec<String> = ids
        .iter()
        .map(|id| {
            serde_json::json!({"instance_id": id, "model_name_or_path": "wait", "model_patch": patch})
                .to_string()
        })
        .collect();
    std::fs::write(&preds, lines.join("\n") + "\n").unwrap();
    preds
}

/// The first pod of the run once its eval script is in place (the run must not end first).
fn pod_running_its_eval(run_id: &str, child: &mut std::process::Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(p) = run_pods(run_id).first() {
            let ok = std::process::Command::new("kubectl")
                .args(["exec", p, "--", "sh", "-c", "test -f /eval.sh"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ok {
                return p.clone();
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "run ended early");
        assert!(Instant::now() < deadline, "no pod of the run in time");
    }
}

#[test]
fn a_pod_deleted_mid_run_is_an_infrastructure_error_and_the_rerun_resumes() {
    if !has_cluster() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let id = mini_ids()[0].clone();
    let preds = waiting_predictions(tmp.path(), std::slice::from_ref(&id));
    let run_id = "k8s-midrun";
    let mut child = std::process::Command::new(bin())
        .args([
            "eval",
            "--predictions",
            preds.to_str().unwrap(),
            "--sandbox",
            "k8s",
            "--image-pull-policy",
            &pull_policy(),
            "--out",
            tmp.path().to_str().unwrap(),
            "--run-id",
            run_id,
            "--timeout",
            "120",
        ])
        .current_dir(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let p = pod_running_its_eval(run_id, &mut child);
    let o = std::process::Command::new("kubectl")
        .args(["delete", "pod", &p, "--grace-period=0", "--force"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let recs = records(&tmp.path().join(run_id));
    assert_eq!(recs.len(), 1, "{stderr}");
    assert_eq!(outcome_of(&recs, &id), "infra_error", "{stderr}");
    let message = recs[0]["verdict"]["infra_error"]["message"]
        .as_str()
        .unwrap_or("");
    assert!(message.contains("pod"), "{}", recs[0]);

    // the rerun, same predictions, grades the instance again: it was an infrastructure error
    let o = k8s_run(
        &["eval", "--predictions", preds.to_str().unwrap()],
        tmp.path(),
        run_id,
    );
    assert!(o.status.success(), "{}", text(&o).1);
    let recs = records(&tmp.path().join(run_id));
    assert_eq!(outcome_of(&recs, &id), "unresolved", "{}", text(&o).1);
    assert!(run_pods(run_id).is_empty(), "pods left behind");
}

/// A TCP relay standing between protege and the API server: stopping it is the API server going
/// away as a client sees it (its address refuses, open streams break) without touching the
/// cluster the other tests share.
struct Relay {
    port: u16,
    stop: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    /// Listens on 127.0.0.1:`port` (0: any) and forwards every connection to `upstream`.
    fn start(port: u16, upstream: String) -> Relay {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (stop2, open2) = (stop.clone(), open.clone());
        let accept = std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut open = open2.lock().unwrap();
                open.push(client.try_clone().unwrap());
                open.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Relay {
            port,
            stop,
            open,
            accept: Some(accept),
        }
    }

    /// Closes the listener and cuts every open connection.
    fn stop(mut self) -> u16 {
        self.stop.store(true, Ordering::SeqCst);
        // wakes the accept loop so that it sees the flag and drops the listener
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        self.accept.take().unwrap().join().unwrap();
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        self.port
    }
}

/// A copy of the test kubeconfig whose server is the relay; the API server's address it names.
fn kubeconfig_through_relay(dir: &Path) -> (std::path::PathBuf, String, Relay) {
    let original = std::fs::read_to_string(std::env::var("KUBECONFIG").unwrap()).unwrap();
    let server = original
        .lines()
        .find_map(|l| l.trim().strip_prefix("server:"))
        .expect("the kubeconfig names a server")
        .trim()
        .to_string();
    let upstream = server
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string();
    let relay = Relay::start(0, upstream.clone());
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        original.replace(&server, &format!("https://127.0.0.1:{}", relay.port)),
    )
    .unwrap();
    (path, upstream, relay)
}

/// The API server going away while an instance is graded makes that instance and the ones after
/// it infrastructure errors saying so (not failures of the patch); the run ends instead of
/// hanging, exits with the infrastructure code, and once the server is back a rerun grades them
/// and leaves no pod.
#[test]
fn the_api_server_going_away_mid_run_is_an_infrastructure_error_and_the_rerun_resumes() {
    if !has_cluster() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ids: Vec<String> = mini_ids().into_iter().take(2).collect();
    let preds = waiting_predictions(tmp.path(), &ids);
    let (kubeconfig, upstream, relay) = kubeconfig_through_relay(tmp.path());
    let run_id = "k8s-apiserver-gone";
    let eval = |stderr: std::fs::File| {
        std::process::Command::new(bin())
            .args([
                "eval",
                "--predictions",
                preds.to_str().unwrap(),
                "--sandbox",
                "k8s",
                "--image-pull-policy",
                &pull_policy(),
                "--workers",
                "1",
                "--out",
                tmp.path().to_str().unwrap(),
                "--run-id",
                run_id,
                "--timeout",
                "120",
            ])
            .env("KUBECONFIG", &kubeconfig)
            .current_dir(tmp.path())
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap()
    };
    let log = tmp.path().join("stderr.txt");
    let mut child = eval(std::fs::File::create(&log).unwrap());
    pod_running_its_eval(run_id, &mut child);
    let port = relay.stop();

    // bounded: a run that hangs on a vanished API server fails here instead of hanging the suite
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the run hung after the API server went away:\n{}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(3), "{stderr}");
    let recs = records(&tmp.path().join(run_id));
    assert_eq!(recs.len(), ids.len(), "{stderr}");
    for id in &ids {
        assert_eq!(outcome_of(&recs, id), "infra_error", "{stderr}");
    }
    for r in &recs {
        let message = r["verdict"]["infra_error"]["message"]
            .as_str()
            .unwrap_or("");
        assert!(message.contains("API server"), "{r}");
    }

    // the server back (same address): the rerun grades both and cleans up after itself
    let relay = Relay::start(port, upstream);
    let mut child = eval(std::fs::File::create(&log).unwrap());
    let status = child.wait().unwrap();
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{stderr}");
    let recs = records(&tmp.path().join(run_id));
    for id in &ids {
        assert_eq!(outcome_of(&recs, id), "unresolved", "{stderr}");
    }
    relay.stop();
    let left = run_pods(run_id);
    assert!(left.is_empty(), "pods left behind: {left:?}");
}

/// `replay-trajectory --sandbox k8s` replays in a pod to the patch Docker's replay gives, says it
/// reproduces the recorded patch once that is the one recorded, and leaves no pod.
#[test]
fn a_trajectory_replays_on_a_pod_to_the_docker_patch() {
    if !has_cluster() || !docker_available() {
        return;
    }
    ensure_mini_images();
    let tmp = tempfile::tempdir().unwrap();
    let mut traj = romanum_fix_trajectory();
    let path = tmp.path().join("t.json");
    std::fs::write(&path, traj.to_string()).unwrap();
    let docker = protege(
        &["replay-trajectory", path.to_str().unwrap(), "--print"],
        tmp.path(),
    );
    let (docker_patch, stderr) = text(&docker);
    assert_eq!(docker.status.code(), Some(1), "{stderr}");
    assert!(docker_patch.contains("+    if not MIN_VALUE <= number <= MAX_VALUE:"));
    let policy = pull_policy();
    let on_pod = |print: bool| {
        let mut args = vec![
            "replay-trajectory",
            path.to_str().unwrap(),
            "--sandbox",
            "k8s",
            "--image-pull-policy",
            &policy,
        ];
        if print {
            args.push("--print");
        }
        let child = std::process::Command::new(bin())
            .args(&args)
            .current_dir(tmp.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let run_id = format!("replay-{}", child.id());
        let out = child.wait_with_output().unwrap();
        let left = run_pods(&run_id);
        assert!(left.is_empty(), "pods left behind: {left:?}");
        out
    };
    let o = on_pod(true);
    let (pod_patch, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert_eq!(pod_patch, docker_patch, "{stderr}");

    traj["patch"] = docker_patch.into();
    std::fs::write(&path, traj.to_string()).unwrap();
    let o = on_pod(false);
    let stderr = text(&o).1;
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("reproduce the submitted patch"), "{stderr}");
}

#[test]
fn ctrl_c_deletes_every_pod_of_the_run() {
    if !has_cluster() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let run_id = "k8s-ctrl-c";
    let mut child = std::process::Command::new(bin())
        .args([
            "run",
            "--policy",
            "gold",
            "--sandbox",
            "k8s",
            "--image-pull-policy",
            &pull_policy(),
            "--workers",
            "4",
            "--out",
            tmp.path().to_str().unwrap(),
            "--run-id",
            run_id,
        ])
        .current_dir(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while run_pods(run_id).is_empty() {
        assert!(child.try_wait().unwrap().is_none(), "run ended early");
        assert!(Instant::now() < deadline, "no pod of the run in time");
    }
    // SAFETY: a plain kill(2) of our own child, which has not been waited for.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let left = run_pods(run_id);
    assert!(left.is_empty(), "pods left after Ctrl-C: {left:?}");
}

/// Runs without a cluster too: a kubeconfig naming nothing that answers is one clear error,
/// before any work.
#[test]
fn an_unreachable_cluster_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("kubeconfig");
    std::fs::write(
        &config,
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster: {server: 'https://127.0.0.1:9'}\n  name: c\ncontexts:\n- context: {cluster: c, user: u}\n  name: x\ncurrent-context: x\nusers:\n- name: u\n  user: {token: t}\n",
    )
    .unwrap();
    for kubeconfig in [config.clone(), tmp.path().join("absent")] {
        let o = std::process::Command::new(bin())
            .args([
                "run",
                "--policy",
                "gold",
                "--sandbox",
                "k8s",
                "--out",
                tmp.path().to_str().unwrap(),
                "--run-id",
                "k8s-unreachable",
            ])
            .env("KUBECONFIG", &kubeconfig)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let (_, stderr) = text(&o);
        assert!(!o.status.success(), "{stderr}");
        assert_eq!(
            stderr.matches("no reachable Kubernetes cluster").count(),
            1,
            "{stderr}"
        );
        assert!(stderr.contains("KUBECONFIG"), "{stderr}");
        assert!(records(&tmp.path().join("k8s-unreachable")).is_empty());
    }
}

/// A mixed predictions file (gold, a no-op patch, an empty patch, a patch that does not apply,
/// and an instance predicted twice: the last one counts) graded on pods and on Docker: every
/// instance gets the same outcome and the same per-test report from both.
#[test]
fn a_mixed_predictions_file_gets_the_docker_verdicts_on_pods() {
    if !has_cluster() || !docker_available() {
        return;
    }
    ensure_mini_images();
    let set = protege_datasets::mini::load().unwrap();
    let noop = "diff --git a/NOTES.txt b/NOTES.txt\nnew file mode 100644\n--- /dev/null\n+++ b/NOTES.txt\n@@ -0,0 +1 @@\n+notes\n";
    let broken =
        "diff --git a/nope.py b/nope.py\n--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-x\n+y\n";
    let mut preds = Vec::new();
    for (i, t) in set.tasks.iter().enumerate() {
        let patch = match i % 4 {
            0 | 1 => t.patch.as_str(),
            2 => noop,
            _ if i % 8 == 3 => "",
            _ => broken,
        };
        preds.push(serde_json::json!({"instance_id": t.instance_id, "model_name_or_path": "mixed", "model_patch": patch}));
    }
    // Predicted twice: a broken patch first, then gold (the last prediction is the one graded).
    let twice = &set.tasks[2];
    preds.insert(
        0,
        serde_json::json!({"instance_id": twice.instance_id, "model_name_or_path": "mixed", "model_patch": broken}),
    );
    preds.push(serde_json::json!({"instance_id": twice.instance_id, "model_name_or_path": "mixed", "model_patch": twice.patch}));
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("mixed.jsonl");
    let lines: Vec<String> = preds.iter().map(|v| v.to_string()).collect();
    std::fs::write(&p, lines.join("\n")).unwrap();
    let eval = [
        "eval",
        "--predictions",
        p.to_str().unwrap(),
        "--workers",
        "4",
    ];
    let o = k8s_run(&eval, tmp.path(), "k8s-mixed");
    assert!(o.status.success(), "{}", text(&o).1);
    let mut docker_args = eval.to_vec();
    docker_args.extend(["--sandbox", "docker", "--out", tmp.path().to_str().unwrap()]);
    docker_args.extend(["--run-id", "docker-mixed"]);
    let o = protege(&docker_args, tmp.path());
    assert!(o.status.success(), "{}", text(&o).1);
    let verdicts = |run: &str| -> std::collections::BTreeMap<String, serde_json::Value> {
        records(&tmp.path().join(run))
            .into_iter()
            .map(|r| {
                let v = &r["verdict"];
                (
                    r["instance_id"].as_str().unwrap().to_string(),
                    serde_json::json!([v["outcome"], v["report"]]),
                )
            })
            .collect()
    };
    let (pods, docker) = (verdicts("k8s-mixed"), verdicts("docker-mixed"));
    assert_eq!(pods.len(), set.tasks.len());
    assert_eq!(pods, docker);
    let outcomes: std::collections::BTreeSet<&str> =
        pods.values().map(|v| v[0].as_str().unwrap()).collect();
    for want in ["resolved", "unresolved", "empty_patch"] {
        assert!(outcomes.contains(want), "no {want} among {outcomes:?}");
    }
    assert_eq!(pods[&twice.instance_id][0], "resolved");
    assert!(run_pods("k8s-mixed").is_empty(), "pods left behind");
}
