use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{
    Capabilities, Container, Pod, PodSpec, ResourceRequirements, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Status};
use kube::api::AttachParams;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::engine::{KubeEngine, api_failure};
use super::labels::{INSTANCE_LABEL, RUN_LABEL, label_value, name_part};
use crate::exec::push_capped;
use crate::{ExecOptions, ExecOutput, Sandbox, SandboxError};

/// Requests and limits of a sandbox pod (`--memory-mib`, `--cpus`).
#[derive(Debug, Clone)]
pub struct PodResources {
    pub memory_bytes: i64,
    /// `None`: no CPU request or limit (the namespace's defaults apply).
    pub cpus: Option<f64>,
}

impl Default for PodResources {
    fn default() -> Self {
        PodResources {
            memory_bytes: 4 << 30,
            cpus: None,
        }
    }
}

/// One running pod holding a repository at `/testbed`.
pub struct PodSandbox {
    engine: KubeEngine,
    name: String,
    closed: AtomicBool,
}

const CONTAINER: &str = "sandbox";

/// Grace the cluster gets beyond a command's own deadline before protege gives up on the exec
/// stream and deletes the pod.
const BACKSTOP: Duration = Duration::from_secs(30);

/// Container waiting reasons that mean the image cannot be had.
const PULL_FAILURES: [&str; 4] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
];

/// The pod protege runs a sandbox in: the image's files kept alive by `sleep infinity`, never
/// privileged, no service-account token, no service links, no host paths, the Docker backend's
/// capability set, a backstop deadline.
pub fn pod_manifest(
    engine: &KubeEngine,
    name: &str,
    image: &str,
    run_id: &str,
    instance: &str,
    resources: &PodResources,
) -> Pod {
    let mut quantities = BTreeMap::from([(
        "memory".to_string(),
        Quantity(format!("{}", resources.memory_bytes)),
    )]);
    if let Some(cpus) = resources.cpus {
        quantities.insert(
            "cpu".into(),
            Quantity(format!("{}m", (cpus * 1000.0) as i64)),
        );
    }
    let caps = [
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
    ];
    let settings = engine.settings();
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(BTreeMap::from([
                (RUN_LABEL.into(), label_value(run_id)),
                (INSTANCE_LABEL.into(), label_value(instance)),
            ])),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: CONTAINER.into(),
                image: Some(image.to_string()),
                image_pull_policy: Some(settings.pull_policy.as_str().into()),
                command: Some(vec!["sleep".into(), "infinity".into()]),
                resources: Some(ResourceRequirements {
                    requests: Some(quantities.clone()),
                    limits: Some(quantities),
                    ..Default::default()
                }),
                security_context: Some(SecurityContext {
                    privileged: Some(false),
                    allow_privilege_escalation: Some(false),
                    capabilities: Some(Capabilities {
                        drop: Some(vec!["ALL".into()]),
                        add: Some(caps.map(String::from).to_vec()),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            restart_policy: Some("Never".into()),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            termination_grace_period_seconds: Some(0),
            active_deadline_seconds: Some(settings.active_deadline.as_secs().max(1) as i64),
            ..Default::default()
        }),
        status: None,
    }
}

fn next_serial() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// What a pod's status says is wrong with it: a failure that waiting will not cure, or `None`
/// while it may still become Ready.
fn pod_failure(pod: &Pod, image: &str) -> Option<SandboxError> {
    let status = pod.status.as_ref()?;
    let name = pod.metadata.name.as_deref().unwrap_or("?");
    for cs in status.container_statuses.iter().flatten() {
        let state = cs.state.as_ref();
        if let Some(w) = state.and_then(|s| s.waiting.as_ref()) {
            let reason = w.reason.as_deref().unwrap_or("");
            let message = w.message.as_deref().unwrap_or("");
            if PULL_FAILURES.contains(&reason) {
                return Some(SandboxError::ImagePull(format!(
                    "image `{image}` of pod {name}: {reason}: {message}"
                )));
            }
            if reason == "CreateContainerConfigError" || reason == "CreateContainerError" {
                return Some(SandboxError::Died(format!(
                    "pod {name}: {reason}: {message}"
                )));
            }
        }
        if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
            return Some(terminated(name, t));
        }
    }
    match status.phase.as_deref() {
        Some("Failed") | Some("Succeeded") => Some(SandboxError::Died(format!(
            "pod {name} {}: {} {}",
            status.phase.as_deref().unwrap_or(""),
            status.reason.as_deref().unwrap_or(""),
            status.message.as_deref().unwrap_or("")
        ))),
        _ => None,
    }
}

fn terminated(
    name: &str,
    t: &k8s_openapi::api::core::v1::ContainerStateTerminated,
) -> SandboxError {
    let reason = t.reason.as_deref().unwrap_or("");
    let detail = format!(
        "pod {name}: container terminated ({reason}, exit {}) {}",
        t.exit_code,
        t.message.as_deref().unwrap_or("")
    );
    if reason == "OOMKilled" {
        SandboxError::OutOfMemory(detail)
    } else {
        SandboxError::Died(detail)
    }
}

/// Why a pod is not Ready yet, for the start-timeout error (Unschedulable and its message, a
/// waiting reason, or the phase).
fn pending_reason(pod: &Pod) -> String {
    let Some(status) = pod.status.as_ref() else {
        return "no status yet".into();
    };
    for c in status.conditions.iter().flatten() {
        if c.status == "False"
            && let Some(reason) = &c.reason
        {
            return format!("{reason}: {}", c.message.as_deref().unwrap_or(""));
        }
    }
    for cs in status.container_statuses.iter().flatten() {
        if let Some(w) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) {
            return format!(
                "{}: {}",
                w.reason.as_deref().unwrap_or("waiting"),
                w.message.as_deref().unwrap_or("")
            );
        }
    }
    format!("phase {}", status.phase.as_deref().unwrap_or("unknown"))
}

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The exit code in an exec's final `Status`: `Success` is 0, a failure carries an `ExitCode`
/// cause; `None` when the status says nothing about one (the stream broke).
fn exit_code(status: &Status) -> Option<i64> {
    if status.status.as_deref() == Some("Success") {
        return Some(0);
    }
    status
        .details
        .as_ref()?
        .causes
        .iter()
        .flatten()
        .find(|c| c.reason.as_deref() == Some("ExitCode"))
        .and_then(|c| c.message.as_deref()?.parse().ok())
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The command exec runs: into the working directory, the environment set, and `timeout`
/// (exit 124 when it stopped the command, 137 when it killed it after the grace period) —
/// exec itself has neither a working directory nor a deadline.
fn wrap(command: &str, opts: &ExecOptions) -> Vec<String> {
    let mut argv: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        "cd \"$0\" || exit 125; exec \"$@\"".into(),
        opts.workdir.clone(),
        "env".into(),
    ];
    argv.extend(opts.env.iter().map(|(k, v)| format!("{k}={v}")));
    argv.extend([
        "timeout".into(),
        "--kill-after=5".into(),
        format!("{}", opts.timeout.as_secs_f64().max(0.001)),
        "bash".into(),
        "-c".into(),
        command.into(),
    ]);
    argv
}

/// GNU tar reads whole 10 KiB records: an archive not padded to one leaves it waiting for more.
fn pad_to_record(mut tarball: Vec<u8>) -> Vec<u8> {
    let len = tarball.len().div_ceil(10240) * 10240;
    tarball.resize(len, 0);
    tarball
}

/// What one exec returned.
struct Raw {
    out: Vec<u8>,
    truncated: bool,
    code: Option<i64>,
    backstop_hit: bool,
}

impl PodSandbox {
    /// Creates a pod from `image` and waits until it is Ready; a pull failure, a failed pod, or
    /// a pod not Ready within the start timeout is an error carrying the pod's own reason (the
    /// pod is deleted).
    pub async fn start(
        engine: &KubeEngine,
        image: &str,
        run_id: &str,
        instance: &str,
        resources: &PodResources,
    ) -> Result<PodSandbox, SandboxError> {
        engine.ensure_network_policy(run_id).await?;
        let name = format!(
            "protege-{}-{}-{}",
            name_part(run_id),
            std::process::id(),
            next_serial()
        );
        let pod = pod_manifest(engine, &name, image, run_id, instance, resources);
        let name = engine.create_tracked(pod).await.map_err(|e| {
            api_failure(
                format!(
                    "creating a pod from {image} in namespace {}",
                    engine.namespace
                ),
                e,
            )
        })?;
        let sandbox = PodSandbox {
            engine: engine.clone(),
            name,
            closed: AtomicBool::new(false),
        };
        if let Err(e) = sandbox.wait_ready(image).await {
            let _ = sandbox.close().await;
            return Err(e);
        }
        Ok(sandbox)
    }

    async fn wait_ready(&self, image: &str) -> Result<(), SandboxError> {
        let started = Instant::now();
        let timeout = self.engine.settings.start_timeout;
        let mut pause = Duration::from_millis(100);
        loop {
            self.engine.count_call();
            let pod = match self.engine.pods().get_opt(&self.name).await {
                Ok(Some(p)) => p,
                Ok(None) => {
                    return Err(SandboxError::Died(format!(
                        "pod {} was deleted before it was ready",
                        self.name
                    )));
                }
                Err(e) => return Err(api_failure(format!("reading pod {}", self.name), e)),
            };
            if ready(&pod) {
                return Ok(());
            }
            if let Some(e) = pod_failure(&pod, image) {
                return Err(e);
            }
            if started.elapsed() >= timeout {
                return Err(SandboxError::Died(format!(
                    "pod {} from {image} not ready within {} s ({})",
                    self.name,
                    timeout.as_secs(),
                    pending_reason(&pod)
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// What ended the pod, if it has ended: deleted (or being deleted), evicted, OOM-killed.
    async fn lost(&self) -> Result<Option<SandboxError>, kube::Error> {
        self.engine.count_call();
        Ok(match self.engine.pods().get_opt(&self.name).await? {
            None => Some(SandboxError::Died(format!("pod {} was deleted", self.name))),
            Some(p) if p.metadata.deletion_timestamp.is_some() => {
                Some(SandboxError::Died(format!("pod {} was deleted", self.name)))
            }
            Some(p) => pod_failure(&p, ""),
        })
    }

    /// Why an exec stream broke off (the pod lost, or the API server gone).
    async fn gone(&self) -> SandboxError {
        match self.lost().await {
            Ok(Some(e)) => e,
            Ok(None) => SandboxError::Died(format!("exec in pod {} broke off", self.name)),
            Err(e) => SandboxError::EngineUnavailable(format!(
                "the API server went away during exec in pod {}: {e}",
                self.name
            )),
        }
    }

    /// Runs `argv`, feeding `stdin` (never closed before the command ends: see the module note),
    /// with stdout and stderr interleaved in arrival order.
    async fn run(
        &self,
        argv: Vec<String>,
        stdin: Option<Vec<u8>>,
        limit: usize,
        backstop: Duration,
    ) -> Result<Raw, SandboxError> {
        let ap = AttachParams::default()
            .container(CONTAINER)
            .stdin(stdin.is_some())
            .stdout(true)
            .stderr(true);
        self.engine.count_call();
        let mut attached = match self.engine.pods().exec(&self.name, argv, &ap).await {
            Ok(a) => a,
            Err(_) => return Err(self.gone().await),
        };
        let status = attached.take_status().expect("status taken once");
        let mut stdout = attached.stdout().expect("stdout attached");
        let mut stderr = attached.stderr().expect("stderr attached");
        // the writer stays alive until the command has ended: dropping it closes the socket
        let mut writer = attached.stdin();
        let feed = async {
            if let (Some(w), Some(data)) = (writer.as_mut(), stdin) {
                let _ = w.write_all(&data).await;
                let _ = w.flush().await;
            }
            std::future::pending::<()>().await
        };
        let mut raw = Raw {
            out: Vec::new(),
            truncated: false,
            code: None,
            backstop_hit: false,
        };
        // The status is watched alongside the output: when the stream breaks (the API server
        // gone), kube's message loop returns early without ending stdout and stderr, so their
        // reads would wait forever; the status sender it drops is the one sign.
        let collect = async {
            let (mut a, mut b) = ([0u8; 16384], [0u8; 16384]);
            let (mut out_open, mut err_open) = (true, true);
            let mut status = std::pin::pin!(status);
            let mut ended = None;
            while out_open || err_open || ended.is_none() {
                tokio::select! {
                    n = stdout.read(&mut a), if out_open => match n {
                        Ok(0) | Err(_) => out_open = false,
                        Ok(n) => push_capped(&mut raw.out, &a[..n], limit, &mut raw.truncated),
                    },
                    n = stderr.read(&mut b), if err_open => match n {
                        Ok(0) | Err(_) => err_open = false,
                        Ok(n) => push_capped(&mut raw.out, &b[..n], limit, &mut raw.truncated),
                    },
                    s = &mut status, if ended.is_none() => match s {
                        // the loop ends stdout and stderr after the status: read them out
                        Some(s) => ended = Some(s),
                        None => return None,
                    },
                }
            }
            ended
        };
        let finished = tokio::time::timeout(backstop, async {
            tokio::select! {
                s = collect => s,
                _ = feed => unreachable!("feeding stdin never finishes"),
            }
        })
        .await;
        drop(writer);
        match finished {
            Err(_) => {
                raw.backstop_hit = true;
                attached.abort();
            }
            Ok(Some(s)) => raw.code = exit_code(&s),
            Ok(None) => {}
        }
        if !raw.backstop_hit && raw.code.is_none() {
            return Err(self.gone().await);
        }
        Ok(raw)
    }

    /// Unpacks a tar archive into `dir` (created when missing) by exec: `head -c N` ends the
    /// input where the archive ends, so nothing waits for EOF on stdin.
    pub async fn put_tar(&self, dir: &str, tarball: Vec<u8>) -> Result<(), SandboxError> {
        let tarball = pad_to_record(tarball);
        let script = format!(
            "mkdir -p {d} && head -c {n} | tar -x -f - -C {d}",
            d = quote(dir),
            n = tarball.len()
        );
        let argv = vec!["sh".into(), "-c".into(), script];
        let raw = self
            .run(argv, Some(tarball), 1 << 20, Duration::from_secs(600))
            .await?;
        if raw.code == Some(0) {
            Ok(())
        } else {
            Err(SandboxError::Io(format!(
                "unpacking into {dir} in {}: exit {:?}: {}",
                self.describe(),
                raw.code,
                String::from_utf8_lossy(&raw.out)
            )))
        }
    }

    /// `path` (a file or a directory tree) as a tar archive, read by exec (`tar -c`).
    pub async fn get_tar(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        let (dir, name) = match path.trim_end_matches('/').rsplit_once('/') {
            Some(("", name)) => ("/", name),
            Some((dir, name)) => (dir, name),
            None => (".", path),
        };
        // stderr goes to a file so that it cannot interleave with the archive on the stream
        let script = format!(
            "tar -c -f - -C {} -- {} 2>/tmp/.protege-tar.err || {{ cat /tmp/.protege-tar.err >&2; exit 3; }}",
            quote(dir),
            quote(name)
        );
        let argv = vec!["sh".into(), "-c".into(), script];
        let raw = self
            .run(argv, None, usize::MAX, Duration::from_secs(600))
            .await?;
        if raw.code == Some(0) {
            Ok(raw.out)
        } else {
            Err(SandboxError::Io(format!(
                "reading {path} in {}: {}",
                self.describe(),
                String::from_utf8_lossy(&raw.out).trim()
            )))
        }
    }
}

#[async_trait]
impl Sandbox for PodSandbox {
    async fn exec(&self, command: &str, opts: &ExecOptions) -> Result<ExecOutput, SandboxError> {
        let started = Instant::now();
        let raw = self
            .run(
                wrap(command, opts),
                None,
                opts.output_limit,
                opts.timeout + BACKSTOP,
            )
            .await?;
        let duration = started.elapsed();
        let output = String::from_utf8_lossy(&raw.out).into_owned();
        if raw.backstop_hit {
            // the cluster did not end the command: the pod is no longer trustworthy
            let _ = self.close().await;
            return Ok(ExecOutput {
                exit_code: None,
                output,
                timed_out: true,
                truncated: raw.truncated,
                duration,
            });
        }
        let timed_out = matches!(raw.code, Some(124) | Some(137)) && duration >= opts.timeout;
        // a kill that was not the deadline's: the memory limit, or the pod deleted or evicted
        // under the command (whose output is then no test's verdict)
        if !timed_out
            && matches!(raw.code, Some(137) | Some(143))
            && let Ok(Some(e)) = self.lost().await
        {
            return Err(e);
        }
        Ok(ExecOutput {
            exit_code: if timed_out { None } else { raw.code },
            output,
            timed_out,
            truncated: raw.truncated,
            duration,
        })
    }

    async fn oom_killed(&self) -> bool {
        self.engine_saw_oom().await || crate::exec::oom_probe(self).await
    }

    async fn engine_saw_oom(&self) -> bool {
        self.engine.count_call();
        matches!(
            self.engine.pods().get_opt(&self.name).await,
            Ok(Some(p)) if matches!(pod_failure(&p, ""), Some(SandboxError::OutOfMemory(_)))
        )
    }

    async fn write_file(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError> {
        let (dir, name) = path
            .strip_prefix('/')
            .and_then(|p| p.rsplit_once('/').or(Some(("", p))))
            .filter(|(_, name)| !name.is_empty())
            .ok_or_else(|| {
                SandboxError::Io(format!("write_file: `{path}` is not an absolute file path"))
            })?;
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, name, contents)
            .map_err(|e| SandboxError::Io(e.to_string()))?;
        let tarball = builder
            .into_inner()
            .map_err(|e| SandboxError::Io(e.to_string()))?;
        self.put_tar(&format!("/{dir}"), tarball)
            .await
            .map_err(|e| match e {
                SandboxError::Io(m) => SandboxError::Io(format!("writing {path}: {m}")),
                e => e,
            })
    }

    async fn read_file(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        let tarball = self.get_tar(path).await?;
        crate::tarball::first_file(&tarball, path)
    }

    async fn diff(&self, base_commit: &str) -> Result<String, SandboxError> {
        crate::tarball::git_diff(self, base_commit).await
    }

    fn describe(&self) -> String {
        format!("k8s:{}/{}", self.engine.namespace, self.name)
    }

    async fn close(&self) -> Result<(), SandboxError> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.engine.remove(&self.name).await
    }
}

impl Drop for PodSandbox {
    /// A sandbox dropped without `close` (a panic, a cancelled task) is still deleted.
    fn drop(&mut self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let engine = self.engine.clone();
        let name = self.name.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = engine.remove(&name).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{StatusCause, StatusDetails};

    #[test]
    fn exit_codes_from_status() {
        let ok = Status {
            status: Some("Success".into()),
            ..Default::default()
        };
        assert_eq!(exit_code(&ok), Some(0));
        let failed = Status {
            status: Some("Failure".into()),
            reason: Some("NonZeroExitCode".into()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause {
                    reason: Some("ExitCode".into()),
                    message: Some("124".into()),
                    field: None,
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(exit_code(&failed), Some(124));
        let broken = Status {
            status: Some("Failure".into()),
            message: Some("container not found".into()),
            ..Default::default()
        };
        assert_eq!(exit_code(&broken), None);
    }

    #[test]
    fn archives_padded_to_whole_records() {
        assert_eq!(pad_to_record(vec![1; 1024]).len(), 10240);
        assert_eq!(pad_to_record(vec![1; 10240]).len(), 10240);
        assert_eq!(pad_to_record(vec![1; 10241]).len(), 20480);
    }

    #[test]
    fn wrapped_command_keeps_workdir_env_and_deadline() {
        let opts = ExecOptions {
            env: vec![("A".into(), "b c".into())],
            workdir: "/testbed".into(),
            timeout: Duration::from_secs(7),
            ..Default::default()
        };
        let argv = wrap("echo $A", &opts);
        assert_eq!(argv[3], "/testbed");
        assert!(argv.contains(&"A=b c".to_string()));
        assert_eq!(argv.last().unwrap(), "echo $A");
        assert!(argv.contains(&"7".to_string()));
    }
}
