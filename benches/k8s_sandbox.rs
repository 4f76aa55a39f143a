//! The Kubernetes backend against Docker: sandbox create → ready and an exec of `true` (p50,
//! p90), Kubernetes API requests per graded instance, and the wall time of `protege run
//! --policy gold --sandbox k8s|docker --workers 1|2|4` on the mini set (every run must resolve
//! all 15). Needs the cluster `KUBECONFIG` names with the mini images on its nodes, and Docker
//! with the mini images; without a cluster it says so and stops.
//!
//! Run: `KUBECONFIG=… cargo bench --profile dev --bench k8s_sandbox` (`K8S_BENCH_STARTS`,
//! default 10; `K8S_BENCH_EXECS`, default 30; `K8S_BENCH_ROUNDS` of the mini runs, default 1;
//! `PROTEGE_K8S_PULL_POLICY`, default `IfNotPresent`).

use std::process::Command;
use std::time::{Duration, Instant};

use protege_datasets::mini;
use protege_harness::grader::{Engines, Grader, K8sOptions, SandboxKind};
use protege_results::metrics::percentile;
use protege_sandboxes::docker::images::protege_name;
use protege_sandboxes::docker::{ContainerLimits, DockerEngine, DockerSandbox};
use protege_sandboxes::k8s::pod::PodResources;
use protege_sandboxes::k8s::{KubeEngine, PodSandbox, PodSettings, PullPolicy};
use protege_sandboxes::{ExecOptions, Sandbox};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn row(what: &str, backend: &str, secs: &[f64]) {
    let p = |q| percentile(secs, q).unwrap_or(f64::NAN) * 1000.0;
    println!(
        "| {what} | {backend} | {} | {:.0} | {:.0} |",
        secs.len(),
        p(50.0),
        p(90.0)
    );
}

fn main() {
    if std::env::var_os("KUBECONFIG").is_none() {
        println!("KUBECONFIG is not set: no cluster to measure");
        return;
    }
    let starts = env_usize("K8S_BENCH_STARTS", 10);
    let execs = env_usize("K8S_BENCH_EXECS", 30);
    let rounds = env_usize("K8S_BENCH_ROUNDS", 1);
    let policy = std::env::var("PROTEGE_K8S_PULL_POLICY").unwrap_or_else(|_| "IfNotPresent".into());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let set = mini::load().expect("mini set");
    let image = protege_name(&set.tasks[0].instance_id);
    let settings = PodSettings {
        pull_policy: PullPolicy::parse(&policy).unwrap(),
        ..Default::default()
    };
    let kube = rt
        .block_on(KubeEngine::connect(settings))
        .expect("the cluster KUBECONFIG names");
    let docker = rt.block_on(DockerEngine::connect()).expect("Docker");

    println!("| what | backend | n | p50 (ms) | p90 (ms) |");
    println!("|---|---|---|---|---|");
    let (mut k_start, mut k_exec, mut d_start, mut d_exec) = (vec![], vec![], vec![], vec![]);
    rt.block_on(async {
        let instance = &set.tasks[0].instance_id;
        for _ in 0..starts {
            let t = Instant::now();
            let pod = PodSandbox::start(
                &kube,
                &image,
                "bench-k8s",
                instance,
                &PodResources::default(),
            )
            .await
            .unwrap();
            k_start.push(t.elapsed().as_secs_f64());
            pod.close().await.unwrap();
            let t = Instant::now();
            let c = DockerSandbox::start(&docker, &image, "bench-k8s", &ContainerLimits::default())
                .await
                .unwrap();
            d_start.push(t.elapsed().as_secs_f64());
            c.close().await.unwrap();
        }
        let pod = PodSandbox::start(&kube, &image, "bench-k8s", instance, &Default::default())
            .await
            .unwrap();
        let c = DockerSandbox::start(&docker, &image, "bench-k8s", &ContainerLimits::default())
            .await
            .unwrap();
        let opts = ExecOptions::with_timeout(Duration::from_secs(30));
        for _ in 0..execs {
            let t = Instant::now();
            assert!(pod.exec("true", &opts).await.unwrap().success());
            k_exec.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            assert!(c.exec("true", &opts).await.unwrap().success());
            d_exec.push(t.elapsed().as_secs_f64());
        }
        pod.close().await.unwrap();
        c.close().await.unwrap();
        kube.remove_all("bench-k8s").await;
    });
    row("create → ready", "k8s (pod)", &k_start);
    row("create → ready", "docker (container)", &d_start);
    row("exec `true`", "k8s (WebSocket)", &k_exec);
    row("exec `true`", "docker (`docker exec`)", &d_exec);

    // API requests per graded instance: the gold patch of every mini task, graded in turn
    let calls = rt.block_on(async {
        let opts = K8sOptions {
            pull_policy: policy.clone(),
            ..Default::default()
        };
        let engines = Engines::connect([protege_harness::grader::Backend::K8s], &opts).await;
        let grader = Grader::new(
            engines,
            "bench-k8s-calls".into(),
            ContainerLimits::default(),
            Duration::from_secs(600),
            0,
        );
        let counter = grader.engines().k8s_engine().unwrap().clone();
        let before = counter.api_calls();
        for task in &set.tasks {
            let env = grader.environment(task, SandboxKind::K8s).await;
            let (v, _) = grader.grade(task, &env, Some(&task.patch)).await;
            assert_eq!(
                v.outcome,
                protege_results::Outcome::Resolved,
                "{}",
                task.instance_id
            );
        }
        (counter.api_calls() - before) as f64 / set.tasks.len() as f64
    });
    println!("\nKubernetes API requests per graded instance (gold, mini): {calls:.1}\n");

    let bin = env!("CARGO_BIN_EXE_protege");
    let tmp = tempfile::tempdir().unwrap();
    println!("| sandbox | workers | median wall (s) | runs |");
    println!("|---|---|---|---|");
    for sandbox in ["k8s", "docker"] {
        for workers in [1, 2, 4] {
            let mut walls = Vec::new();
            for round in 0..rounds {
                let out = tmp.path().join(format!("{sandbox}-{workers}-{round}"));
                let t = Instant::now();
                let st = Command::new(bin)
                    .args(["run", "--policy", "gold", "--quiet", "--sandbox", sandbox])
                    .args(["--image-pull-policy", &policy])
                    .args(["--workers", &workers.to_string()])
                    .args(["--out", out.to_str().unwrap(), "--run-id", "r"])
                    .stdout(std::process::Stdio::null())
                    .status()
                    .unwrap();
                walls.push(t.elapsed().as_secs_f64());
                assert!(st.success(), "protege run --sandbox {sandbox} failed");
                let summary: serde_json::Value = serde_json::from_str(
                    &std::fs::read_to_string(out.join("r/tables/summary.json")).unwrap(),
                )
                .unwrap();
                assert_eq!(
                    (summary["resolved"].as_u64(), summary["tasks"].as_u64()),
                    (Some(15), Some(15)),
                    "{sandbox}: every gold patch must resolve"
                );
            }
            println!(
                "| {sandbox} | {workers} | {:.1} | {} |",
                percentile(&walls, 50.0).unwrap(),
                walls.len()
            );
        }
    }
}
