//! Start-up snapshots: CPython with pytest already imported, restored into each fresh instance
//! instead of starting the interpreter cold.
//!
//! A cold start of the pinned CPython costs 40–50 ms, and `import pytest` another ~550 ms under
//! WASI, which was three quarters of grading a task. So, once per cache, the interpreter runs
//! `_protege_snapshot.prepare()` (`snapshot_guest.py`): it imports pytest and runs it once,
//! then stops in `os._exit` with the wasm call stack about to unwind and all of its state in
//! linear memory and the `__stack_pointer` global. The host saves both. A command then gets a
//! fresh instance whose memory is that image, and the host calls the guest's `_entry()`
//! function object through the function table (its type's `tp_call` slot, a table index), as if
//! `os._exit` had called back into Python. Each command still has its own store, memory, WASI
//! context and directories: nothing carries over from one command to the next except the
//! immutable image.
//!
//! The image is baked into a second module (`image_module`): the pinned one with the stack
//! pointer and the function table exported (`add_exports`), its data segments replaced by the
//! snapshot's non-zero pages, its initial memory and stack pointer set to the snapshot's. So
//! wasmtime maps the image copy-on-write into each instance, and a restore costs no copying.
//!
//! Commands the snapshot cannot reproduce exactly (interpreter options other than `-u`/`-B`,
//! start-up variables that differ, other directory layouts, a module of the working directory
//! shadowing one the snapshot imported) start cold; `request` and the guest's `_fallback`
//! decide.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use wasmtime::{AsContextMut, Instance, Store, Val};
use wasmtime_wasi::HostMonotonicClock;

use super::fetch::{self, sha256_hex};
use super::spec::{RunResult, RunSpec};
use super::wasm_binary::{HEADER, leb, push_section, put_leb, put_sleb, sections, skip_sleb};
use crate::SandboxError;

/// The guest half, installed in the site directory as `_protege_snapshot.py`.
pub const GUEST_SOURCE: &str = include_str!("snapshot_guest.py");
pub const GUEST_MODULE: &str = "_protege_snapshot";
/// The command that makes a snapshot.
pub const PREPARE_CODE: &str = "import _protege_snapshot; _protege_snapshot.prepare()";
/// The export names `add_exports` gives the stack pointer and the function table.
pub const STACK_POINTER_EXPORT: &str = "protege.stack_pointer";
pub const TABLE_EXPORT: &str = "protege.table";
/// What the guest writes (alone) and exits with when a command needs a cold interpreter.
const FALLBACK: &[u8] = b"\0protege: this command needs a cold interpreter\n";
const FALLBACK_CODE: i32 = 125;
/// Bumped whenever the file format or the rewriting changes.
const FORMAT: &str = "protege-snapshot-1";
const PAGE: usize = 4096;
/// Offset of `tp_call` in CPython 3.12's `PyTypeObject` on wasm32 (16 pointer-sized fields
/// precede it: the object header and `tp_name` … `tp_hash`).
const TP_CALL_OFFSET: usize = 64;

fn bad(what: impl std::fmt::Display) -> SandboxError {
    SandboxError::EngineUnavailable(format!("start-up snapshot: {what}"))
}

/// The module with its first global (the C stack pointer, as wasm-ld lays it out) and its
/// first table (the indirect function table) exported, custom sections (debug info) dropped,
/// and a load at the start of each loop that could run without touching memory
/// (`deadline::probe_loops`). Every other section is copied byte for byte, so no index changes.
pub fn add_exports(wasm: &[u8]) -> Result<Vec<u8>, SandboxError> {
    let mut out = HEADER.to_vec();
    let (mut exports_seen, mut globals_imported) = (false, false);
    for (id, body) in sections(wasm).map_err(bad)? {
        match id {
            0 => {}
            2 => {
                globals_imported = imports_globals_or_tables(body)?;
                push_section(&mut out, id, body);
            }
            7 => {
                exports_seen = true;
                let mut j = 0;
                let n = leb(body, &mut j).map_err(bad)?;
                let mut sec = Vec::with_capacity(body.len() + 64);
                put_leb(&mut sec, n + 2);
                sec.extend_from_slice(&body[j..]);
                for (name, kind) in [(STACK_POINTER_EXPORT, 3u8), (TABLE_EXPORT, 1u8)] {
                    put_leb(&mut sec, name.len() as u32);
                    sec.extend_from_slice(name.as_bytes());
                    sec.push(kind);
                    put_leb(&mut sec, 0);
                }
                push_section(&mut out, id, &sec);
            }
            10 => push_section(
                &mut out,
                id,
                &super::deadline::probe_loops(body).map_err(bad)?,
            ),
            _ => push_section(&mut out, id, body),
        }
    }
    if !exports_seen {
        return Err(bad("the module has no export section"));
    }
    if globals_imported {
        return Err(bad(
            "the module imports globals or tables: index 0 is not its own",
        ));
    }
    Ok(out)
}

/// Whether an import section imports a table or a global (which would shift index 0).
fn imports_globals_or_tables(body: &[u8]) -> Result<bool, SandboxError> {
    let mut j = 0;
    let n = leb(body, &mut j).map_err(bad)?;
    for _ in 0..n {
        for _ in 0..2 {
            let len = leb(body, &mut j).map_err(bad)? as usize;
            j += len;
        }
        let kind = *body.get(j).ok_or_else(|| bad("truncated import"))?;
        j += 1;
        match kind {
            0 => {
                leb(body, &mut j).map_err(bad)?;
            }
            2 => {
                let flags = *body.get(j).ok_or_else(|| bad("truncated import"))?;
                j += 1;
                leb(body, &mut j).map_err(bad)?;
                if flags & 1 != 0 {
                    leb(body, &mut j).map_err(bad)?;
                }
            }
            _ => return Ok(true),
        }
    }
    Ok(false)
}

/// What the host needs to enter a snapshot (the memory itself is in its module).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    stack_pointer: i32,
    /// Table index of `tp_call` of the entry's type, the entry function and `()`.
    tp_call: u32,
    callable: i32,
    args: i32,
    /// The guest's monotonic clock at the snapshot; commands' clocks continue from it.
    monotonic_ns: u64,
    /// The environment the snapshot started with.
    env: Vec<(String, String)>,
    /// The preopened directories (guest path, writable) the guest's C library recorded.
    layout: Vec<(String, bool)>,
    /// Linear memory at the snapshot, and how much of it is not zero.
    memory_bytes: usize,
    stored_bytes: usize,
}

/// What `capture` reads from an instance that stopped in `prepare()`'s `os._exit(0)`.
pub struct Captured {
    image: Vec<u8>,
    stack_pointer: i32,
}

/// Reads memory and stack pointer of an instance that has just exited.
pub fn capture(store: &mut impl AsContextMut, instance: &Instance) -> Result<Captured, String> {
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or("no exported memory")?;
    let sp = instance
        .get_global(&mut *store, STACK_POINTER_EXPORT)
        .ok_or("no exported stack pointer")?;
    let Val::I32(stack_pointer) = sp.get(&mut *store) else {
        return Err("the stack pointer is not an i32".into());
    };
    Ok(Captured {
        image: memory.data(&*store).to_vec(),
        stack_pointer,
    })
}

impl Snapshot {
    /// The snapshot's description from what `prepare()` printed, and the module holding its
    /// memory (`image_module` over `base`, the module with `add_exports`).
    pub fn from_prepared(
        captured: &Captured,
        output: &[u8],
        monotonic_ns: u64,
        env: Vec<(String, String)>,
        layout: Vec<(String, bool)>,
    ) -> Result<Snapshot, SandboxError> {
        let text = String::from_utf8_lossy(output);
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("PROTEGE-SNAPSHOT "))
            .ok_or_else(|| bad(format!("prepare() printed no addresses: {}", text.trim())))?;
        let nums: Vec<u32> = line
            .split_whitespace()
            .map(|w| w.parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|e| bad(format!("addresses `{line}`: {e}")))?;
        let [callable, ty, args] = nums[..] else {
            return Err(bad(format!("addresses `{line}`")));
        };
        let image = &captured.image;
        let at = ty as usize + TP_CALL_OFFSET;
        let slot = image
            .get(at..at + 4)
            .ok_or_else(|| bad("the function type lies outside memory"))?;
        let tp_call = u32::from_le_bytes(slot.try_into().expect("4 bytes"));
        Ok(Snapshot {
            stack_pointer: captured.stack_pointer,
            tp_call,
            callable: callable as i32,
            args: args as i32,
            monotonic_ns,
            env,
            layout,
            memory_bytes: image.len(),
            stored_bytes: nonzero_runs(image).iter().map(|(a, b)| b - a).sum(),
        })
    }

    /// Whether the snapshot was made for this environment and these directories.
    pub fn matches(&self, env: &[(String, String)], layout: &[(String, bool)]) -> bool {
        self.env == env && self.layout == layout
    }

    /// Bytes of memory the snapshot restores.
    pub fn memory_bytes(&self) -> usize {
        self.memory_bytes
    }

    /// Bytes of it that are not zero (the module's data segments).
    pub fn stored_bytes(&self) -> usize {
        self.stored_bytes
    }

    /// The command for the guest's `_entry`, or `None` when `spec` must start cold.
    pub fn request(&self, spec: &RunSpec) -> Option<Vec<u8>> {
        let layout: Vec<(String, bool)> = spec
            .mounts
            .iter()
            .map(|m| (m.guest.clone(), m.writable))
            .collect();
        if layout != self.layout || spec.memory_limit < self.memory_bytes {
            return None;
        }
        // Variables the interpreter reads while it starts must be as they were then.
        let startup = |k: &str| {
            (k.starts_with("PYTHON") && k != "PYTHONPATH") || k == "LANG" || k.starts_with("LC_")
        };
        let value = |env: &[(String, String)], k: &str| {
            env.iter()
                .rev()
                .find(|(ek, _)| ek == k)
                .map(|(_, v)| v.clone())
        };
        for k in spec.env.iter().chain(&self.env).map(|(k, _)| k.as_str()) {
            if startup(k) && value(&spec.env, k) != value(&self.env, k) {
                return None;
            }
        }
        let cwd = value(&spec.env, "PROTEGE_CWD").unwrap_or_else(|| "/".into());
        let args = spec.args.get(1..)?;
        let mut i = 0;
        while let Some(a) = args.get(i) {
            match a.as_str() {
                // Already in effect through PYTHONUNBUFFERED and PYTHONDONTWRITEBYTECODE.
                "-u" | "-B" | "-uB" | "-Bu" => i += 1,
                _ => break,
            }
        }
        let first = args.get(i)?;
        let (mode, target, rest) = if let Some(code) = first.strip_prefix("-c") {
            if code.is_empty() {
                ("c", args.get(i + 1)?.clone(), &args[i + 2..])
            } else {
                ("c", code.to_string(), &args[i + 1..])
            }
        } else if let Some(module) = first.strip_prefix("-m") {
            if module.is_empty() {
                ("m", args.get(i + 1)?.clone(), &args[i + 2..])
            } else {
                ("m", module.to_string(), &args[i + 1..])
            }
        } else if first.starts_with('-') {
            return None;
        } else {
            ("file", first.clone(), &args[i + 1..])
        };
        let env: serde_json::Map<String, serde_json::Value> = spec
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        let req = serde_json::json!({
            "mode": mode,
            "target": target,
            "args": rest,
            "orig_args": args,
            "cwd": cwd,
            "env": env,
        });
        Some(req.to_string().into_bytes())
    }

    /// The entry of a fresh instance of the image module: `tp_call` from the function table.
    pub fn entry<T: Send>(
        &self,
        store: &mut Store<T>,
        instance: &Instance,
    ) -> wasmtime::Result<wasmtime::TypedFunc<(i32, i32, i32), i32>> {
        let table = instance
            .get_table(&mut *store, TABLE_EXPORT)
            .ok_or_else(|| wasmtime::format_err!("no exported table"))?;
        let func = table
            .get(&mut *store, u64::from(self.tp_call))
            .and_then(|r| r.as_func().flatten().copied())
            .ok_or_else(|| {
                wasmtime::format_err!("table slot {} holds no function", self.tp_call)
            })?;
        func.typed::<(i32, i32, i32), i32>(&*store)
    }

    /// The arguments of `tp_call(entry, (), NULL)`.
    pub fn call_args(&self) -> (i32, i32, i32) {
        (self.callable, self.args, 0)
    }

    /// A monotonic clock that continues from the snapshot's.
    pub fn clock(&self) -> ContinuedClock {
        ContinuedClock::starting_at(self.monotonic_ns)
    }

    /// The description cached at `path`, if it is there and readable.
    pub fn load(path: &Path) -> Option<Snapshot> {
        serde_json::from_slice(&fs::read(path).ok()?).ok()
    }

    /// Writes the description to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), SandboxError> {
        let json = serde_json::to_vec_pretty(self).map_err(bad)?;
        fetch::write_atomic(path, &json)
    }
}

/// `base` (a module from `add_exports`) with the captured memory as its initial memory: the
/// non-zero pages become its only data segments, its initial size and stack pointer are the
/// snapshot's. Code, table, imports and exports are unchanged.
pub fn image_module(base: &[u8], captured: &Captured) -> Result<Vec<u8>, SandboxError> {
    let image = &captured.image;
    let pages = u32::try_from(image.len() / 65536).map_err(|_| bad("memory too large"))?;
    let mut out = HEADER.to_vec();
    let mut seen = [false; 3];
    for (id, body) in sections(base).map_err(bad)? {
        let sec = match id {
            5 => {
                seen[0] = true;
                // One memory, no maximum (as the pinned module declares it).
                if body.get(..2) != Some(&[1, 0]) {
                    return Err(bad("unexpected memory section"));
                }
                let mut sec = vec![1, 0];
                put_leb(&mut sec, pages);
                sec
            }
            6 => {
                seen[1] = true;
                // The first global must be `(mut i32) (i32.const …)`: the stack pointer.
                if body.len() < 4 || body[1..4] != [0x7f, 1, 0x41] {
                    return Err(bad("unexpected first global"));
                }
                let mut j = 4;
                skip_sleb(body, &mut j).map_err(bad)?;
                if body.get(j) != Some(&0x0b) {
                    return Err(bad("unexpected first global"));
                }
                let mut sec = body[..4].to_vec();
                put_sleb(&mut sec, i64::from(captured.stack_pointer));
                sec.extend_from_slice(&body[j..]);
                sec
            }
            11 => {
                seen[2] = true;
                let runs = nonzero_runs(image);
                let mut sec = Vec::with_capacity(image.len() / 2);
                put_leb(&mut sec, runs.len() as u32);
                for (a, b) in runs {
                    sec.extend_from_slice(&[0, 0x41]);
                    put_sleb(&mut sec, a as i64);
                    sec.push(0x0b);
                    put_leb(&mut sec, (b - a) as u32);
                    sec.extend_from_slice(&image[a..b]);
                }
                sec
            }
            // A data count section would no longer match.
            12 => return Err(bad("the module has a data count section")),
            _ => body.to_vec(),
        };
        push_section(&mut out, id, &sec);
    }
    if seen != [true; 3] {
        return Err(bad("the module lacks a memory, global or data section"));
    }
    Ok(out)
}

/// Where the snapshot made from these inputs is cached: its description (`.json`, written
/// last) and its module (compiled, beside it).
pub fn cache_key(inputs: &str) -> String {
    let key = sha256_hex(format!("{FORMAT}\n{inputs}").as_bytes());
    format!("snapshot-{}", &key[..32])
}

fn nonzero_runs(image: &[u8]) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (k, page) in image.chunks(PAGE).enumerate() {
        if page.iter().all(|&b| b == 0) {
            continue;
        }
        let (a, b) = (k * PAGE, k * PAGE + page.len());
        match runs.last_mut() {
            Some(last) if last.1 == a => last.1 = b,
            _ => runs.push((a, b)),
        }
    }
    runs
}

/// Whether a snapshot run ended in the guest's fallback, before any of the command ran (what
/// came before the marker, a failed `cd`, the cold start says again).
pub fn fell_back(res: &RunResult) -> bool {
    res.exit_code == Some(FALLBACK_CODE) && res.output.ends_with(FALLBACK)
}

/// A guest monotonic clock starting at `offset_ns`, so that times the snapshot holds stay in
/// the past.
#[derive(Debug, Clone)]
pub struct ContinuedClock {
    start: Instant,
    offset_ns: u64,
}

impl ContinuedClock {
    pub fn starting_at(offset_ns: u64) -> Self {
        ContinuedClock {
            start: Instant::now(),
            offset_ns,
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.offset_ns
            .saturating_add(u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
}

impl HostMonotonicClock for ContinuedClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        self.now_ns()
    }
}

/// How long preparing a snapshot may take.
pub const PREPARE_TIMEOUT: Duration = Duration::from_secs(300);

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> Snapshot {
        Snapshot {
            stack_pointer: 1,
            tp_call: 2,
            callable: 3,
            args: 4,
            monotonic_ns: 5,
            env: vec![
                ("PYTHONPATH".into(), "/opt/site".into()),
                ("PYTHONHASHSEED".into(), "0".into()),
                ("PROTEGE_CWD".into(), "/tmp".into()),
            ],
            layout: vec![("/testbed".into(), true), ("/opt/site".into(), false)],
            memory_bytes: 20 << 20,
            stored_bytes: 19 << 20,
        }
    }

    fn spec(args: &[&str], env: &[(&str, &str)]) -> RunSpec {
        let mount = |g: &str, w| super::super::spec::Mount {
            host: "/x".into(),
            guest: g.into(),
            writable: w,
        };
        RunSpec {
            args: args.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            mounts: vec![mount("/testbed", true), mount("/opt/site", false)],
            timeout: Duration::from_secs(1),
            output_limit: 100,
            memory_limit: 1 << 30,
        }
    }

    fn req(r: Option<Vec<u8>>) -> serde_json::Value {
        serde_json::from_slice(&r.expect("a snapshot request")).unwrap()
    }

    const ENV: &[(&str, &str)] = &[
        ("PYTHONPATH", "/opt/site"),
        ("PYTHONHASHSEED", "0"),
        ("PROTEGE_CWD", "/testbed/src"),
        ("X", "1"),
    ];

    #[test]
    fn requests_say_what_python_would_run() {
        let s = snap();
        let r = req(s.request(&spec(&["python", "-c", "print(1)", "a"], ENV)));
        assert_eq!(r["mode"], "c");
        assert_eq!(r["target"], "print(1)");
        assert_eq!(r["args"], serde_json::json!(["a"]));
        assert_eq!(r["cwd"], "/testbed/src");
        assert_eq!(r["env"]["X"], "1");
        let r = req(s.request(&spec(&["python", "-u", "-mpytest", "-q"], ENV)));
        assert_eq!(
            (r["mode"].as_str(), r["target"].as_str()),
            (Some("m"), Some("pytest"))
        );
        assert_eq!(r["args"], serde_json::json!(["-q"]));
        assert_eq!(r["orig_args"], serde_json::json!(["-u", "-mpytest", "-q"]));
        let r = req(s.request(&spec(&["python", "/testbed/t.py", "-x"], ENV)));
        assert_eq!(
            (r["mode"].as_str(), r["target"].as_str()),
            (Some("file"), Some("/testbed/t.py"))
        );
        // PYTHONPATH may differ: the guest rebuilds sys.path from it.
        let mut env = ENV.to_vec();
        env[0].1 = "/testbed/lib:/opt/site";
        assert!(s.request(&spec(&["python", "-c", "1"], &env)).is_some());
    }

    #[test]
    fn what_the_snapshot_cannot_reproduce_starts_cold() {
        let s = snap();
        for args in [
            &["python"][..],
            &["python", "-"],
            &["python", "-c"],
            &["python", "-W", "error", "-c", "1"],
            &["python", "-X", "dev", "-c", "1"],
            &["python", "-I", "x.py"],
            &["python", "-O", "-c", "1"],
        ] {
            assert!(s.request(&spec(args, ENV)).is_none(), "{args:?}");
        }
        // Variables read at start-up: changed, removed or added.
        for (k, v) in [
            ("PYTHONHASHSEED", "1"),
            ("PYTHONWARNINGS", "error"),
            ("LC_ALL", "C"),
        ] {
            let mut env: Vec<_> = ENV.iter().filter(|(ek, _)| *ek != k).copied().collect();
            env.push((k, v));
            assert!(
                s.request(&spec(&["python", "-c", "1"], &env)).is_none(),
                "{k}={v}"
            );
        }
        let env: Vec<_> = ENV
            .iter()
            .filter(|(k, _)| *k != "PYTHONHASHSEED")
            .copied()
            .collect();
        assert!(s.request(&spec(&["python", "-c", "1"], &env)).is_none());
        // Other directories, or a memory cap below the snapshot's memory.
        let mut sp = spec(&["python", "-c", "1"], ENV);
        sp.mounts.pop();
        assert!(s.request(&sp).is_none());
        let mut sp = spec(&["python", "-c", "1"], ENV);
        sp.memory_limit = 16 << 20;
        assert!(s.request(&sp).is_none());
    }

    #[test]
    fn the_description_round_trips() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.json");
        snap().save(&p).unwrap();
        assert_eq!(Snapshot::load(&p), Some(snap()));
        std::fs::write(&p, b"{").unwrap();
        assert_eq!(Snapshot::load(&p), None);
    }

    #[test]
    fn runs_skip_zero_pages() {
        let mut image = vec![0u8; PAGE * 5];
        image[10] = 1;
        image[PAGE + 3] = 1;
        image[PAGE * 4] = 7;
        assert_eq!(nonzero_runs(&image), [(0, 2 * PAGE), (4 * PAGE, 5 * PAGE)]);
    }

    /// A hand-assembled module shaped like wasm-ld's output: a table, one memory page, the stack
    /// pointer global, the memory exported, "hi" at address 0.
    const TINY: &[u8] = &[
        0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, // header
        4, 4, 1, 0x70, 0, 1, // table: funcref, min 1
        5, 3, 1, 0, 1, // memory: 1 page
        6, 8, 1, 0x7f, 1, 0x41, 0x80, 0x80, 4, 0x0b, // global: (mut i32) (i32.const 65536)
        7, 10, 1, 6, b'm', b'e', b'm', b'o', b'r', b'y', 2, 0, // export "memory"
        0, 4, 3, b'd', b'b', b'g', // a custom section, dropped
        11, 8, 1, 0, 0x41, 0, 0x0b, 2, b'h', b'i', // data: "hi" at 0
    ];

    #[test]
    fn image_modules_start_where_the_snapshot_stopped() {
        use wasmtime::{Engine, Instance, Module, Store};
        let base = add_exports(TINY).unwrap();
        assert!(!base.windows(3).any(|w| w == b"dbg"));
        let mut image = vec![0u8; 2 * 65536];
        image[..2].copy_from_slice(b"HO");
        image[70000..70003].copy_from_slice(b"abc");
        let captured = Captured {
            image,
            stack_pointer: -8,
        };
        let wasm = image_module(&base, &captured).unwrap();
        let engine = Engine::default();
        let module = Module::new(&engine, &wasm).unwrap();
        let mut store = Store::new(&engine, ());
        let inst = Instance::new(&mut store, &module, &[]).unwrap();
        let mem = inst.get_memory(&mut store, "memory").unwrap();
        assert_eq!(mem.data_size(&store), 2 * 65536);
        assert_eq!(&mem.data(&store)[..2], b"HO");
        assert_eq!(&mem.data(&store)[70000..70003], b"abc");
        let sp = inst.get_global(&mut store, STACK_POINTER_EXPORT).unwrap();
        assert_eq!(sp.get(&mut store).i32(), Some(-8));
        assert!(inst.get_table(&mut store, TABLE_EXPORT).is_some());
        // And what `capture` reads back is what went in.
        let back = capture(&mut store, &inst).unwrap();
        assert_eq!(back.stack_pointer, -8);
        assert_eq!(back.image, captured.image);
    }

    #[test]
    fn add_exports_refuses_what_is_not_a_module() {
        assert!(add_exports(b"not wasm").is_err());
        // A module with no export section.
        assert!(add_exports(b"\0asm\x01\0\0\0").is_err());
    }
}
