//! The WASI backend: CPython 3.12 compiled to WebAssembly (a pinned, sha256-checked file from a
//! PyPI package) under wasmtime, for pure-Python repositories' tests and an agent's tool calls.
//!
//! A `WasiSandbox` is a host directory that the guest sees at `/testbed`, plus a private
//! writable `/tmp`, a `/dev/null`, and pytest with its needs read-only at `/opt/site`. Nothing
//! else of the host is visible: the guest has no processes, threads, sockets or environment of
//! the host's. Each command starts a fresh instance with a deadline (`deadline`: its memory is
//! revoked, or epoch checks where that is not sound), a memory cap (store limits) and an output
//! cap. The instance starts from the start-up snapshot (`snapshot`: CPython with pytest
//! imported, a few milliseconds) or, where the snapshot cannot reproduce the command exactly,
//! cold (`_start`, 40–50 ms, and ~0.5 s more to import pytest).
//!
//! `exec` accepts a small command language, not a shell (see `command`): `python …`,
//! `pytest …`, and `cat` / `ls` / `grep` / `find`, which run in Rust on the host through cap-std
//! handles confined to the sandbox's directories.
//!
//! Files: `fetch` (pinned downloads), `runtime` (engine, module cache, one run), `spec` (what a
//! run is given and gives back), `deadline` (stopping a guest at its deadline), `snapshot` (the
//! start-up snapshot; its guest half is `snapshot_guest.py`), `wasm_binary` (the module
//! encoding both rewrite), `capture` (stdout/stderr), `command` (the command language),
//! `boundary` (the path boundary: every host-side file access) and `builtins` (the built-in
//! commands, on top of it).

pub mod boundary;
pub mod builtins;
pub mod capture;
pub mod command;
pub mod deadline;
pub mod fetch;
pub mod runtime;
pub mod snapshot;
pub mod spec;
pub mod wasm_binary;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use cap_std::fs::Dir;

use crate::exec::{ExecOptions, ExecOutput};
use crate::{Sandbox, SandboxError};
use boundary::{Mounts, TESTBED, TMP, normalize};
use builtins::Out;
use command::Program;
pub use runtime::{Runtime, SITE_GUEST_DIR, environment_id, runtime, runtime_async};
pub use spec::{Mount, RunResult, RunSpec};

/// Limits that hold for every command of a sandbox (the deadline and output cap come with each
/// command's `ExecOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WasiLimits {
    /// The most linear memory the guest may grow to, in bytes (wasm32 allows 4 GiB at most).
    pub memory: usize,
}

impl Default for WasiLimits {
    fn default() -> Self {
        WasiLimits { memory: 1 << 30 }
    }
}

/// One working copy under CPython-on-WASI.
pub struct WasiSandbox {
    rt: Arc<Runtime>,
    root: PathBuf,
    mounts: Mounts,
    tmp: PathBuf,
    dev: PathBuf,
    /// Holds `/tmp` and `/dev`; dropped on close.
    scratch: Mutex<Option<tempfile::TempDir>>,
    limits: WasiLimits,
    /// Start every interpreter cold instead of from the runtime's snapshot.
    cold_start: bool,
}

impl std::fmt::Debug for WasiSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasiSandbox")
            .field("root", &self.root)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Io(format!("{}: {e}", path.display()))
}

/// The sandbox's private directory (its `/tmp`, `/dev` and, for scratch sandboxes, the working
/// copy).
fn scratch_dir() -> Result<tempfile::TempDir, SandboxError> {
    tempfile::Builder::new()
        .prefix("protege-wasi-")
        .tempdir()
        .map_err(|e| SandboxError::Io(format!("scratch directory: {e}")))
}

impl WasiSandbox {
    /// A sandbox over the existing host directory `root` (it becomes `/testbed`), with default
    /// limits. The first sandbox of a process prepares the runtime (see `runtime`).
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, SandboxError> {
        Self::open_with(root, WasiLimits::default()).await
    }

    pub async fn open_with(
        root: impl Into<PathBuf>,
        limits: WasiLimits,
    ) -> Result<Self, SandboxError> {
        let rt = runtime_async().await?;
        Self::with_runtime(rt, root.into(), limits)
    }

    /// As `open_with`, with a runtime already at hand (no blocking work).
    pub fn with_runtime(
        rt: Arc<Runtime>,
        root: PathBuf,
        limits: WasiLimits,
    ) -> Result<Self, SandboxError> {
        let root = root.canonicalize().map_err(|e| io(&root, e))?;
        if !root.is_dir() {
            return Err(io(&root, "not a directory"));
        }
        Self::build(rt, root, scratch_dir()?, limits)
    }

    /// A sandbox over a fresh, empty working copy that it owns: the directory is removed on
    /// `close` (or drop). Fill it through `root()` or `write_file`.
    pub async fn open_scratch(limits: WasiLimits) -> Result<Self, SandboxError> {
        let rt = runtime_async().await?;
        let scratch = scratch_dir()?;
        let root = scratch.path().join("testbed");
        std::fs::create_dir(&root).map_err(|e| io(&root, e))?;
        let root = root.canonicalize().map_err(|e| io(&root, e))?;
        Self::build(rt, root, scratch, limits)
    }

    fn build(
        rt: Arc<Runtime>,
        root: PathBuf,
        scratch: tempfile::TempDir,
        limits: WasiLimits,
    ) -> Result<Self, SandboxError> {
        let tmp = scratch.path().join("tmp");
        let dev = scratch.path().join("dev");
        std::fs::create_dir(&tmp).map_err(|e| io(&tmp, e))?;
        std::fs::create_dir(&dev).map_err(|e| io(&dev, e))?;
        std::fs::write(dev.join("null"), b"").map_err(|e| io(&dev, e))?;
        let open =
            |p: &Path| Dir::open_ambient_dir(p, cap_std::ambient_authority()).map_err(|e| io(p, e));
        let mounts = Mounts {
            testbed: open(&root)?,
            tmp: open(&tmp)?,
        };
        Ok(WasiSandbox {
            rt,
            root,
            mounts,
            tmp,
            dev,
            scratch: Mutex::new(Some(scratch)),
            limits,
            cold_start: false,
        })
    }

    /// Starts every interpreter of this sandbox cold (`_start`, ~0.5 s more for pytest) rather
    /// than from the start-up snapshot: for comparisons, and for anyone who wants no snapshot.
    pub fn cold_start(mut self, yes: bool) -> Self {
        self.cold_start = yes;
        self
    }

    /// The host directory seen as `/testbed`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Module sha256 and site digest: what the commands run with.
    pub fn environment_id(&self) -> String {
        self.rt.environment_id()
    }

    fn guest_mounts(&self) -> Vec<Mount> {
        runtime::sandbox_layout()
            .into_iter()
            .map(|(guest, writable)| {
                let host = match guest.as_str() {
                    TESTBED => self.root.clone(),
                    TMP => self.tmp.clone(),
                    SITE_GUEST_DIR => self.rt.site_dir().to_owned(),
                    _ => self.dev.clone(),
                };
                Mount {
                    host,
                    guest,
                    writable,
                }
            })
            .collect()
    }

    /// Runs CPython with `args` (after `python`) in `cwd` (a guest path).
    pub async fn python(
        &self,
        args: &[String],
        cwd: &str,
        extra_env: &[(String, String)],
        opts: &ExecOptions,
    ) -> Result<ExecOutput, SandboxError> {
        let mut env = runtime::base_env(cwd);
        for (k, v) in extra_env {
            if k == "PROTEGE_CWD" {
                continue;
            }
            let v = if k == "PYTHONPATH" {
                format!("{v}:{SITE_GUEST_DIR}")
            } else {
                v.clone()
            };
            match env.iter_mut().find(|(ek, _)| ek == k) {
                Some(slot) => slot.1 = v,
                None => env.push((k.clone(), v)),
            }
        }
        let mut argv = vec!["python".to_string()];
        argv.extend(absolute_script(args, cwd));
        let spec = RunSpec {
            args: argv,
            env,
            mounts: self.guest_mounts(),
            timeout: opts.timeout,
            output_limit: opts.output_limit,
            memory_limit: self.limits.memory,
        };
        let rt = self.rt.clone();
        let cold = self.cold_start;
        let res = tokio::task::spawn_blocking(move || {
            let local = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .map_err(|e| SandboxError::EngineUnavailable(e.to_string()))?;
            if cold {
                local.block_on(rt.run_cold(&spec))
            } else {
                local.block_on(rt.run(&spec))
            }
        })
        .await
        .map_err(|e| SandboxError::Crash(format!("the sandbox thread panicked: {e}")))?;
        // Whatever was written to /dev/null is gone.
        let _ = std::fs::write(self.dev.join("null"), b"");
        let res = res?;
        let mut output = String::from_utf8_lossy(&res.output).into_owned();
        if res.memory_cap_hit {
            output.push_str(&format!(
                "\n[protege: the sandbox's memory cap of {} MiB was reached]\n",
                self.limits.memory >> 20
            ));
        }
        Ok(ExecOutput {
            exit_code: res.exit_code.map(i64::from),
            output,
            timed_out: res.timed_out,
            truncated: res.truncated,
            duration: res.duration,
        })
    }
}

/// Python makes a relative script path absolute before `sitecustomize` has moved to the working
/// directory, so the host does it: the first operand that is not an option (and not after
/// `-c` / `-m`) is resolved against `cwd`.
fn absolute_script(args: &[String], cwd: &str) -> Vec<String> {
    let mut out = args.to_vec();
    let mut i = 0;
    while i < out.len() {
        let a = out[i].as_str();
        if a.starts_with("-c") || a.starts_with("-m") || a == "-" || a == "--" {
            break;
        }
        if matches!(a, "-W" | "-X" | "--check-hash-based-pycs") {
            i += 2;
            continue;
        }
        if a.starts_with('-') {
            i += 1;
            continue;
        }
        if !a.starts_with('/')
            && let Ok(abs) = normalize(a, cwd)
        {
            out[i] = abs;
        }
        break;
    }
    out
}

/// pytest's options under WASI: capture through `sys` (fd capture needs `os.dup`), no
/// faulthandler (needs a real stderr fd), no cache directory.
pub const PYTEST_WASI_ARGS: &[&str] = &[
    "--capture=sys",
    "-p",
    "no:faulthandler",
    "-p",
    "no:cacheprovider",
];

#[async_trait]
impl Sandbox for WasiSandbox {
    async fn exec(&self, command: &str, opts: &ExecOptions) -> Result<ExecOutput, SandboxError> {
        let started = Instant::now();
        let parsed = command::parse(command).map_err(SandboxError::Unsupported)?;
        let base = normalize(&opts.workdir, "/")?;
        let cwd = match &parsed.cd {
            Some(d) => normalize(d, &base)?,
            None => base,
        };
        let r = self.mounts.resolve(&cwd, "/")?;
        if !r.dir.metadata(&r.rel).map(|m| m.is_dir()).unwrap_or(false) {
            return Err(SandboxError::Io(format!(
                "{cwd}: no such directory in the sandbox"
            )));
        }
        let mut env = opts.env.clone();
        env.extend(parsed.env.iter().cloned());
        let builtin = |f: fn(&Mounts, &str, &[String], &mut Out) -> i64| {
            let mut out = Out::new(opts.output_limit);
            let code = f(&self.mounts, &cwd, &parsed.args, &mut out);
            Ok(ExecOutput {
                exit_code: Some(code),
                output: String::from_utf8_lossy(&out.buf).into_owned(),
                timed_out: false,
                truncated: out.truncated,
                duration: started.elapsed(),
            })
        };
        match parsed.program {
            Program::Python => self.python(&parsed.args, &cwd, &env, opts).await,
            Program::Pytest => {
                let mut args: Vec<String> = ["-m", "pytest"]
                    .iter()
                    .chain(PYTEST_WASI_ARGS)
                    .map(|s| s.to_string())
                    .collect();
                args.extend(parsed.args.iter().cloned());
                self.python(&args, &cwd, &env, opts).await
            }
            Program::Cat => builtin(builtins::cat),
            Program::Ls => builtin(builtins::ls),
            Program::Grep => builtin(builtins::grep),
            Program::Find => builtin(builtins::find),
        }
    }

    async fn write_file(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError> {
        self.mounts.write(path, TESTBED, contents)
    }

    async fn read_file(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        self.mounts.read(path, TESTBED)
    }

    fn describe(&self) -> String {
        format!("wasi:{}", self.root.display())
    }

    async fn close(&self) -> Result<(), SandboxError> {
        let scratch = self
            .scratch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(s) = scratch {
            s.close()
                .map_err(|e| SandboxError::Io(format!("removing the scratch directory: {e}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshots_prebuilt_configuration_matches_the_pytest_arguments() {
        let blocked: Vec<String> = PYTEST_WASI_ARGS
            .iter()
            .filter(|a| a.starts_with("no:"))
            .map(|a| format!("\"{a}\""))
            .collect();
        let line = format!("PREBUILT_PLUGIN_ARGS = ({})", blocked.join(", "));
        assert!(snapshot::GUEST_SOURCE.contains(&line), "{line}");
    }

    #[test]
    fn script_paths_become_absolute() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            absolute_script(&s(&["-u", "t/x.py", "a"]), "/testbed"),
            s(&["-u", "/testbed/t/x.py", "a"])
        );
        assert_eq!(
            absolute_script(&s(&["-c", "x.py"]), "/testbed"),
            s(&["-c", "x.py"])
        );
        assert_eq!(
            absolute_script(&s(&["-m", "pytest", "x.py"]), "/testbed"),
            s(&["-m", "pytest", "x.py"])
        );
        assert_eq!(
            absolute_script(&s(&["-W", "ignore", "x.py"]), "/t"),
            s(&["-W", "ignore", "/t/x.py"])
        );
    }
}
