use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::body_full;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::engine::{DockerEngine, LABEL};
use crate::exec::push_capped;
pub use crate::limits::{ContainerLimits, Network};
use crate::{ExecOptions, ExecOutput, Sandbox, SandboxError};

/// One running container holding a repository at `/testbed`.
pub struct DockerSandbox {
    engine: DockerEngine,
    id: String,
    closed: AtomicBool,
}

/// Grace the engine gets beyond a command's own deadline before protege gives up on the exec
/// stream and removes the container.
const BACKSTOP: Duration = Duration::from_secs(30);

impl DockerSandbox {
    /// Creates and starts a container from `image`: no network (unless asked), memory and pid
    /// limits, all capabilities dropped but those file operations as root need, no privilege
    /// escalation.
    pub async fn start(
        engine: &DockerEngine,
        image: &str,
        run_id: &str,
        limits: &ContainerLimits,
    ) -> Result<DockerSandbox, SandboxError> {
        let host_config = HostConfig {
            memory: Some(limits.memory_bytes),
            memory_swap: Some(limits.memory_bytes),
            pids_limit: Some(limits.pids),
            network_mode: Some(
                match &limits.network {
                    Network::None => "none",
                    Network::Open => "bridge",
                    Network::Internal { name, .. } => name,
                }
                .into(),
            ),
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: Some(
                [
                    "CHOWN",
                    "DAC_OVERRIDE",
                    "FOWNER",
                    "FSETID",
                    "KILL",
                    "SETGID",
                    "SETUID",
                ]
                .map(String::from)
                .to_vec(),
            ),
            security_opt: Some(vec!["no-new-privileges".into()]),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(vec!["sleep".into(), "infinity".into()]),
            network_disabled: Some(limits.network == Network::None),
            env: match &limits.network {
                Network::Internal { env, .. } => Some(env.clone()),
                _ => None,
            },
            labels: Some(HashMap::from([(LABEL.to_string(), run_id.to_string())])),
            host_config: Some(host_config),
            ..Default::default()
        };
        let name = format!(
            "protege-{}-{}",
            sanitize(run_id),
            std::process::id() as u64 * 1_000_000 + next_serial()
        );
        let opts = CreateContainerOptionsBuilder::new().name(&name).build();
        let id = engine
            .create_tracked(opts, body)
            .await
            .map_err(|e| match e {
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                } => SandboxError::ImageMissing(image.to_string()),
                e => SandboxError::EngineUnavailable(format!(
                    "creating a container from {image}: {e}"
                )),
            })?;
        let sandbox = DockerSandbox {
            engine: engine.clone(),
            id,
            closed: AtomicBool::new(false),
        };
        if let Err(e) = engine
            .docker
            .start_container(
                &sandbox.id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
        {
            let _ = sandbox.close().await;
            return Err(SandboxError::Died(format!(
                "starting container from {image}: {e}"
            )));
        }
        Ok(sandbox)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The container's address on `network` (how a proxy on that network tells it apart).
    pub async fn ip_on(&self, network: &str) -> Option<std::net::IpAddr> {
        let info = self
            .engine
            .docker
            .inspect_container(
                &self.id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .ok()?;
        info.network_settings?
            .networks?
            .get(network)?
            .ip_address
            .as_deref()?
            .parse()
            .ok()
    }

    async fn running(&self) -> bool {
        self.state().await.and_then(|s| s.running).unwrap_or(false)
    }

    /// The engine's view of the container (`None` when it cannot be inspected).
    async fn state(&self) -> Option<bollard::models::ContainerState> {
        self.engine
            .docker
            .inspect_container(
                &self.id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .ok()
            .and_then(|info| info.state)
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect()
}

fn next_serial() -> u64 {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// `timeout` exits 124 when it had to stop the command (137 when it had to kill it after the
/// grace period).
fn wrap_with_deadline(command: &str, timeout: Duration) -> Vec<String> {
    vec![
        "timeout".into(),
        "--kill-after=5".into(),
        format!("{}", timeout.as_secs_f64().max(0.001)),
        "bash".into(),
        "-c".into(),
        command.into(),
    ]
}

#[async_trait]
impl Sandbox for DockerSandbox {
    async fn exec(&self, command: &str, opts: &ExecOptions) -> Result<ExecOutput, SandboxError> {
        let started = Instant::now();
        let env: Vec<String> = opts.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let exec = self
            .engine
            .docker
            .create_exec(
                &self.id,
                CreateExecOptions {
                    cmd: Some(wrap_with_deadline(command, opts.timeout)),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    working_dir: Some(opts.workdir.clone()),
                    env: Some(env),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| SandboxError::Died(format!("exec in {}: {e}", self.describe())))?;
        let mut out = Vec::new();
        let mut truncated = false;
        let mut backstop_hit = false;
        match self.engine.docker.start_exec(&exec.id, None).await {
            Ok(StartExecResults::Attached { mut output, .. }) => {
                let deadline = tokio::time::Instant::now() + opts.timeout + BACKSTOP;
                loop {
                    match tokio::time::timeout_at(deadline, output.next()).await {
                        Err(_) => {
                            backstop_hit = true;
                            break;
                        }
                        Ok(None) => break,
                        Ok(Some(Ok(
                            LogOutput::StdOut { message }
                            | LogOutput::StdErr { message }
                            | LogOutput::Console { message },
                        ))) => push_capped(&mut out, &message, opts.output_limit, &mut truncated),
                        Ok(Some(Ok(LogOutput::StdIn { .. }))) => {}
                        Ok(Some(Err(e))) => {
                            return Err(SandboxError::Died(format!(
                                "reading exec output in {}: {e}",
                                self.describe()
                            )));
                        }
                    }
                }
            }
            Ok(StartExecResults::Detached) => {}
            Err(e) => {
                return Err(SandboxError::Died(format!(
                    "exec in {}: {e}",
                    self.describe()
                )));
            }
        }
        let duration = started.elapsed();
        let output = String::from_utf8_lossy(&out).into_owned();
        if backstop_hit {
            // The engine did not end the command: the container is no longer trustworthy.
            let _ = self.close().await;
            return Ok(ExecOutput {
                exit_code: None,
                output,
                timed_out: true,
                truncated,
                duration,
            });
        }
        let code = self
            .engine
            .docker
            .inspect_exec(&exec.id)
            .await
            .ok()
            .and_then(|i| i.exit_code);
        let timed_out = matches!(code, Some(124) | Some(137)) && duration >= opts.timeout;
        if !timed_out && code == Some(137) && Box::pin(self.oom_killed()).await {
            return Err(SandboxError::OutOfMemory(format!(
                "a process in {} was killed at the container's memory limit",
                self.describe()
            )));
        }
        if code.is_none() && !self.running().await {
            return Err(SandboxError::Died(format!(
                "{} stopped during exec",
                self.describe()
            )));
        }
        Ok(ExecOutput {
            exit_code: if timed_out { None } else { code },
            output,
            timed_out,
            truncated,
            duration,
        })
    }

    /// Whether the kernel killed something in the container for exceeding its memory limit.
    /// The engine's `OOMKilled` flag covers the container's main process only, so the memory
    /// cgroup's own `oom_kill` counter is read too ([`crate::exec::oom_probe`]).
    async fn oom_killed(&self) -> bool {
        self.engine_saw_oom().await || crate::exec::oom_probe(self).await
    }

    async fn engine_saw_oom(&self) -> bool {
        self.state()
            .await
            .and_then(|s| s.oom_killed)
            .unwrap_or(false)
    }

    /// Cuts a container started with the network off it (the default `bridge` network): a task
    /// set's set-up may need the network, nothing after it gets it.
    async fn disconnect_network(&self) -> Result<(), SandboxError> {
        let req = bollard::models::NetworkDisconnectRequest {
            container: Some(self.id.clone()),
            force: Some(true),
        };
        self.engine
            .docker
            .disconnect_network("bridge", req)
            .await
            .map_err(|e| {
                SandboxError::Io(format!("disconnecting {} from the network: {e}", self.id))
            })
    }

    async fn write_file(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError> {
        let (dir, name) = path
            .strip_prefix('/')
            .and_then(|p| p.rsplit_once('/').or(Some(("", p))))
            .filter(|(_, name)| !name.is_empty())
            .ok_or_else(|| {
                SandboxError::Io(format!("write_file: `{path}` is not an absolute file path"))
            })?;
        let dir = format!("/{dir}");
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
        let opts = UploadToContainerOptionsBuilder::new().path(&dir).build();
        self.engine
            .docker
            .upload_to_container(&self.id, Some(opts), body_full(tarball.into()))
            .await
            .map_err(|e| SandboxError::Io(format!("writing {path} in {}: {e}", self.describe())))
    }

    async fn read_file(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        let opts = DownloadFromContainerOptionsBuilder::new()
            .path(path)
            .build();
        let mut stream = self
            .engine
            .docker
            .download_from_container(&self.id, Some(opts));
        let mut tarball = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                SandboxError::Io(format!("reading {path} in {}: {e}", self.describe()))
            })?;
            tarball.extend_from_slice(&chunk);
        }
        crate::tarball::first_file(&tarball, path)
    }

    async fn diff(&self, base_commit: &str) -> Result<String, SandboxError> {
        crate::tarball::git_diff(self, base_commit).await
    }

    fn describe(&self) -> String {
        format!("docker:{}", &self.id[..12.min(self.id.len())])
    }

    async fn close(&self) -> Result<(), SandboxError> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.engine.remove(&self.id).await
    }
}

impl Drop for DockerSandbox {
    /// A sandbox dropped without `close` (a panic, a cancelled task) is still removed.
    fn drop(&mut self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let engine = self.engine.clone();
        let id = self.id.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = engine.remove(&id).await;
            });
        }
    }
}
