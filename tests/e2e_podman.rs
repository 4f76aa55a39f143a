//! End-to-end: protege against Podman's Docker-compatible API (`DOCKER_HOST` at the socket of
//! a `podman system service` the test starts): the mini gold and empty runs give the verdicts
//! the Docker engine gives, and a registry template pulls through Podman. The mini images are
//! copied into Podman's store once (`docker save | podman load`).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::registry::{Registry, registry_available};
use common::*;

/// True when Podman is installed; absent, the test is skipped loudly (a failure under CI,
/// where `scripts/setup.sh` installs it).
fn podman_available() -> bool {
    common::registry::tool_available("podman", "podman")
}

/// A `podman system service` on a socket of its own, stopped on drop.
struct Service {
    child: Child,
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Service {
    fn spawn(dir: &Path, socket: &Path, env: &[(&str, &Path)]) -> Child {
        let mut cmd = Command::new("podman");
        cmd.args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("service.log")).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start podman system service");
        // Readiness, not timing: the socket appears once the service listens.
        let ready = (0..200).any(|_| {
            let up = std::os::unix::net::UnixStream::connect(socket).is_ok();
            if !up {
                std::thread::sleep(Duration::from_millis(50));
            }
            up
        });
        if !ready {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "podman system service did not listen on {}",
                socket.display()
            );
        }
        child
    }

    /// Starts the service, letting plain HTTP to `insecure` (a loopback registry). Containers
    /// get the service's own open-file and process limits: rootful Podman otherwise asks for
    /// more than the host's hard limits, which fails inside a container without
    /// CAP_SYS_RESOURCE (as CI runners often are).
    fn start(insecure: &str) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("podman.sock");
        let mut probe = Service::spawn(dir.path(), &socket, &[]);
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", probe.id())).unwrap();
        let _ = probe.kill();
        let _ = probe.wait();
        let _ = std::fs::remove_file(&socket);
        let hard = |name: &str| -> String {
            let line = limits.lines().find(|l| l.starts_with(name)).unwrap();
            line[name.len()..]
                .split_whitespace()
                .nth(1)
                .unwrap()
                .to_string()
        };
        let conf = dir.path().join("containers.conf");
        std::fs::write(
            &conf,
            format!(
                "[containers]\ndefault_ulimits = [\"nofile={0}:{0}\", \"nproc={1}:{1}\"]\n",
                hard("Max open files"),
                hard("Max processes")
            ),
        )
        .unwrap();
        let registries = dir.path().join("registries.conf");
        std::fs::write(
            &registries,
            format!("[[registry]]\nlocation = \"{insecure}\"\ninsecure = true\n"),
        )
        .unwrap();
        let child = Service::spawn(
            dir.path(),
            &socket,
            &[
                ("CONTAINERS_CONF", &conf),
                ("CONTAINERS_REGISTRIES_CONF", &registries),
            ],
        );
        Service {
            child,
            socket,
            _dir: dir,
        }
    }

    fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mini_image(id: &str) -> String {
    format!(
        "protege/sweb.eval.x86_64.{}:latest",
        id.replace("__", "_1776_").to_lowercase()
    )
}

/// Copies the mini images (with their environment and base) from Docker into Podman's store,
/// unless all of them are there.
fn load_into_podman() {
    let mut names: Vec<String> = mini_ids().iter().map(|id| mini_image(id)).collect();
    names.push("protege/sweb.env.py.mini:latest".into());
    let missing = names.iter().any(|n| {
        !Command::new("podman")
            .args(["image", "exists", n])
            .status()
            .unwrap()
            .success()
    });
    if !missing {
        return;
    }
    let mut save = Command::new("docker")
        .arg("save")
        .args(&names)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let load = Command::new("podman")
        .args(["load", "-q"])
        .stdin(save.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(save.wait().unwrap().success());
    assert!(
        load.status.success(),
        "podman load: {}",
        String::from_utf8_lossy(&load.stderr)
    );
}

/// A mini run with `policy`, on the engine `docker_host` names (the default engine: `None`);
/// instance → verdict.
fn verdicts(
    tmp: &Path,
    run_id: &str,
    policy: &str,
    docker_host: Option<&str>,
    extra: &[&str],
) -> BTreeMap<String, serde_json::Value> {
    let mut cmd = Command::new(bin());
    cmd.args([
        "run",
        "--dataset",
        "mini",
        "--policy",
        policy,
        "--sandbox",
        "docker",
    ])
    .args([
        "--quiet",
        "--out",
        tmp.to_str().unwrap(),
        "--run-id",
        run_id,
    ])
    .args(extra)
    .current_dir(tmp);
    if let Some(host) = docker_host {
        cmd.env("DOCKER_HOST", host);
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{run_id}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    records(&tmp.join(run_id))
        .into_iter()
        .map(|r| {
            (
                r["instance_id"].as_str().unwrap().to_string(),
                r["verdict"].clone(),
            )
        })
        .collect()
}

#[test]
fn podman_gives_the_docker_verdicts_and_pulls_from_a_registry() {
    if !docker_available() || !podman_available() || !registry_available() {
        return;
    }
    ensure_mini_images();
    load_into_podman();
    let registry = Registry::start();
    let service = Service::start(&format!("127.0.0.1:{}", registry.port));
    let host = service.docker_host();
    let tmp = tempfile::tempdir().unwrap();
    let ids = mini_ids();
    for policy in ["gold", "empty"] {
        let docker = verdicts(tmp.path(), &format!("docker-{policy}"), policy, None, &[]);
        let podman = verdicts(
            tmp.path(),
            &format!("podman-{policy}"),
            policy,
            Some(&host),
            &[],
        );
        assert_eq!(docker.len(), ids.len());
        assert_eq!(
            podman, docker,
            "{policy}: Podman's verdicts differ from Docker's"
        );
        let want = if policy == "gold" {
            "resolved"
        } else {
            "empty_patch"
        };
        assert!(podman.values().all(|v| v["outcome"] == want), "{podman:?}");
    }
    // no container left behind in Podman's store
    let left = Command::new("podman")
        .args(["ps", "-aq", "--filter", "label=dev.protege.run=podman-gold"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&left.stdout).trim().is_empty());

    // a registry template pulls through Podman too (three instances keep it short)
    let pick: Vec<String> = ids.iter().take(3).cloned().collect();
    registry.push_mini("podman", &pick);
    let template = Registry::template(registry.port, "podman");
    let mut extra = vec!["--image-template", &template];
    for id in &pick {
        extra.extend(["--instances", id.as_str()]);
    }
    let pulled = verdicts(tmp.path(), "podman-pull", "gold", Some(&host), &extra);
    assert_eq!(pulled.len(), 3);
    assert!(
        pulled.values().all(|v| v["outcome"] == "resolved"),
        "{pulled:?}"
    );
    let m = common::registry::manifest(&tmp.path().join("podman-pull"));
    assert_eq!(m["images"]["pulls"].as_array().unwrap().len(), 3, "{m}");
    for id in &pick {
        let _ = Command::new("podman")
            .args(["rmi", &Registry::name(registry.port, "podman", id)])
            .output();
    }
}
