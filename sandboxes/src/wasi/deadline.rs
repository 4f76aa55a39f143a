//! Deadlines without epoch checks: when a command's time is up, its guest loses access to its
//! linear memory, and its next load or store traps.
//!
//! Epoch interruption puts a check at every function entry and loop back-edge; the pinned
//! CPython is built without optimisation (every C local lives in linear memory), so those checks
//! cost ~10% of every command. Instead, a watchdog thread revokes access to the memory of a
//! guest past its deadline (`mprotect(PROT_NONE)` over the whole reservation). wasmtime's
//! signal handler sees a fault at a load or store inside that memory and raises an
//! out-of-bounds trap, which the runtime reports as a timeout.
//!
//! Two things make this sound:
//! - Host code never touches a revoked memory. A call hook tracks whether the guest is in a
//!   host call; the memory is revoked only while it is not, and a guest past its deadline that
//!   calls or returns to the host traps there instead. A host call that blocks is ended by the
//!   async timeout around the whole run.
//! - The guest cannot run for ever without touching memory. CPython is built without
//!   optimisation, so its loops all load and store; the few optimised loops of its libc that
//!   do not (bit-twiddling in the maths functions) get a load at their start (`probe_loops`, when
//!   the module is rewritten), and `loops_touch_memory` checks the rewritten module, once per
//!   cache. A module that fails the check runs with epoch checks instead (`runtime`).

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use wasmparser::{
    BinaryReader, CodeSectionReader, Operator, OperatorsReader, Parser, Payload, Validator,
    WasmFeatures,
};
use wasmtime::CallHook;

use super::wasm_binary::put_leb;

/// How often the watchdog looks at deadlines (and, where deadlines use epochs, how often the
/// epoch advances): their granularity.
pub const TICK: Duration = Duration::from_millis(10);

/// One running command's deadline.
pub struct Watch {
    deadline: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// In a host call (or not yet in the guest): the memory must stay accessible.
    in_host: bool,
    expired: bool,
    /// The memory's reservation (base, length), once instantiated.
    memory: Option<(usize, usize)>,
}

/// The error a call hook returns for a guest past its deadline.
#[derive(Debug)]
pub struct DeadlinePassed;

impl std::fmt::Display for DeadlinePassed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the deadline passed")
    }
}

impl std::error::Error for DeadlinePassed {}

impl Watch {
    /// A watch for `deadline`, known to the watchdog until it is dropped.
    pub fn arm(deadline: Instant) -> Arc<Watch> {
        let w = Arc::new(Watch {
            deadline,
            state: Mutex::new(State {
                in_host: true,
                ..State::default()
            }),
        });
        let dog = watchdog();
        lock(&dog.watches).push(Arc::downgrade(&w));
        w
    }

    /// The guest's memory, `len` bytes of reservation from `base`: what the watchdog revokes.
    ///
    /// # Safety
    /// `[base, base + len)` must be the mapped reservation of a memory that no host code reads
    /// or writes outside host calls, and that stays mapped while this watch lives.
    pub unsafe fn set_memory(&self, base: *mut u8, len: usize) {
        let mut s = lock(&self.state);
        s.memory = Some((base as usize, len));
        if s.expired && !s.in_host {
            revoke(&s);
        }
    }

    /// The store's call hook.
    pub fn hook(&self, h: CallHook) -> wasmtime::Result<()> {
        let mut s = lock(&self.state);
        s.in_host = h.entering_host();
        // A guest about to run on past its deadline stops here. On its way out (a return
        // from wasm) it is left alone, so that an exit code already given is kept.
        if s.expired && !matches!(h, CallHook::ReturningFromWasm) {
            return Err(wasmtime::Error::new(DeadlinePassed));
        }
        Ok(())
    }

    /// Ends the watch: the memory is never revoked after this, so the host may read it and the
    /// store may unmap it. Returns whether the deadline had passed.
    pub fn disarm(&self) -> bool {
        let mut s = lock(&self.state);
        s.memory = None;
        let expired = s.expired;
        s.expired = true;
        expired
    }

    fn expire(&self) {
        let mut s = lock(&self.state);
        if s.expired {
            return;
        }
        s.expired = true;
        if !s.in_host {
            revoke(&s);
        }
    }
}

/// Called once at most per watch: by `expire` (once, it returns early when already expired)
/// or by `set_memory` (once, after instantiation), whichever sees both the memory and the
/// expiry. `mprotect` of a mapped range does not fail; if it did, the guest would be stopped
/// at its next host call instead.
fn revoke(s: &State) {
    if let Some((base, len)) = s.memory {
        // SAFETY: `set_memory`'s contract: a mapped range that host code does not touch while
        // the guest runs (and the guest is running: `in_host` is false).
        unsafe { libc::mprotect(base as *mut libc::c_void, len, libc::PROT_NONE) };
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Watchdog {
    watches: Mutex<Vec<Weak<Watch>>>,
}

/// The process's watchdog thread, started on first use.
fn watchdog() -> &'static Watchdog {
    static DOG: OnceLock<&'static Watchdog> = OnceLock::new();
    DOG.get_or_init(|| {
        let dog: &'static Watchdog = Box::leak(Box::new(Watchdog {
            watches: Mutex::new(Vec::new()),
        }));
        std::thread::Builder::new()
            .name("protege-wasi-deadlines".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(TICK);
                    let now = Instant::now();
                    let due: Vec<Arc<Watch>> = {
                        let mut ws = lock(&dog.watches);
                        ws.retain(|w| w.strong_count() > 0);
                        ws.iter()
                            .filter_map(Weak::upgrade)
                            .filter(|w| w.deadline <= now)
                            .collect()
                    };
                    for w in due {
                        w.expire();
                    }
                }
            })
            .expect("spawn the deadline thread");
        dog
    })
}

/// Names the rules of `probe_loops` and `loops_touch_memory`, for caches of their verdict.
pub const CHECK_VERSION: u32 = 1;

/// What `probe_loops` puts at the start of a loop that could run without touching memory:
/// `i32.const 0; i32.load; drop`. Address 0 is always in bounds, and wasmtime never drops a
/// load that may trap, so every iteration touches memory.
const PROBE: &[u8] = &[0x41, 0x00, 0x28, 0x02, 0x00, 0x1a];

/// Whether revoking the memory stops `wasm` for sure: it validates with only the features
/// whose instructions run inline (no bulk memory, whose copies run in host code; no atomics,
/// tail calls or exceptions), and in every function, every path from a loop's start back to
/// it executes a load or a store. The first loop that may spin without touching memory is
/// named in the error.
pub fn loops_touch_memory(wasm: &[u8]) -> Result<(), String> {
    let features =
        WasmFeatures::WASM1 | WasmFeatures::SIGN_EXTENSION | WasmFeatures::SATURATING_FLOAT_TO_INT;
    Validator::new_with_features(features)
        .validate_all(wasm)
        .map_err(|e| format!("not a plain WebAssembly 1.0 module: {e}"))?;
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::CodeSectionEntry(body) = payload.map_err(|e| e.to_string())? {
            let ops = body.get_operators_reader().map_err(|e| e.to_string())?;
            if let Some(l) = untouched_loops(ops).map_err(|e| e.to_string())?.first() {
                return Err(format!(
                    "the loop at byte {} may run without touching memory",
                    l.start
                ));
            }
        }
    }
    Ok(())
}

/// The code section `section` (its contents) with `PROBE` at the start of every loop that
/// may run without touching memory. Nothing else changes, so no index or offset that matters
/// moves (custom sections, which hold code offsets, are dropped by the caller).
pub fn probe_loops(section: &[u8]) -> Result<Vec<u8>, String> {
    let reader =
        CodeSectionReader::new(BinaryReader::new(section, 0)).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(section.len() + 4096);
    put_leb(&mut out, reader.count());
    for body in reader {
        let body = body.map_err(|e| e.to_string())?;
        let range = body.range();
        let ops = body.get_operators_reader().map_err(|e| e.to_string())?;
        let loops = untouched_loops(ops).map_err(|e| e.to_string())?;
        let mut code = Vec::with_capacity(range.len() + loops.len() * PROBE.len());
        let mut from = range.start;
        for l in &loops {
            code.extend_from_slice(&section[from..l.body]);
            code.extend_from_slice(PROBE);
            from = l.body;
        }
        code.extend_from_slice(&section[from..range.end]);
        put_leb(&mut out, code.len() as u32);
        out.extend_from_slice(&code);
    }
    Ok(out)
}

/// A loop of a function body, by position in the reader's bytes.
#[derive(Clone, Copy, PartialEq)]
struct Loop {
    /// The `loop` instruction.
    start: usize,
    /// Its first instruction, after the block type.
    body: usize,
}

/// One control frame of a function body.
struct Frame {
    kind: Kind,
    /// For a block or an if: the state on arrival at its end, over every branch there so far.
    end: Option<usize>,
    /// The state on entry: for an if, that of its `else` (written or not).
    entry: Option<usize>,
}

enum Kind {
    Block,
    Loop(Loop),
    If { has_else: bool },
}

/// The loops of one function body (in order) that a path can go around without a load or a
/// store.
///
/// A must-analysis over the structured control flow. The state is `Some(t)`: on this path,
/// every loop at a frame depth below `t` has touched memory since its start (a load or a store
/// touches every loop open at that point, so the touched loops are always the outermost ones);
/// `None` where the code cannot be reached. A branch back to a loop needs that loop touched.
fn untouched_loops(mut ops: OperatorsReader<'_>) -> wasmparser::Result<Vec<Loop>> {
    fn meet(a: Option<usize>, b: Option<usize>) -> Option<usize> {
        match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, None) | (None, x) => x,
        }
    }
    fn branch(frames: &mut [Frame], state: Option<usize>, depth: u32, found: &mut Vec<Loop>) {
        let Some(t) = state else { return };
        let i = frames.len() - 1 - depth as usize;
        let f = &mut frames[i];
        match f.kind {
            Kind::Loop(l) if t <= i && !found.contains(&l) => found.push(l),
            Kind::Loop(_) => {}
            _ => f.end = meet(f.end, Some(t)),
        }
    }
    let mut found = Vec::new();
    // The function body is a block.
    let mut frames = vec![Frame {
        kind: Kind::Block,
        end: None,
        entry: None,
    }];
    let mut state = Some(0);
    while !ops.eof() {
        let start = ops.original_position();
        let op = ops.read()?;
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                let kind = match op {
                    Operator::Loop { .. } => Kind::Loop(Loop {
                        start,
                        body: ops.original_position(),
                    }),
                    Operator::If { .. } => Kind::If { has_else: false },
                    _ => Kind::Block,
                };
                frames.push(Frame {
                    kind,
                    end: None,
                    entry: state,
                });
            }
            Operator::Else => {
                if let Some(f) = frames.last_mut() {
                    f.end = meet(f.end, state);
                    f.kind = Kind::If { has_else: true };
                    state = f.entry;
                }
            }
            Operator::End => {
                let Some(f) = frames.pop() else { break };
                state = match f.kind {
                    // Leaving a loop is falling out of its body.
                    Kind::Loop(_) => state,
                    Kind::Block | Kind::If { has_else: true } => meet(f.end, state),
                    // Without an `else`, a false condition goes straight to the end.
                    Kind::If { has_else: false } => meet(meet(f.end, state), f.entry),
                };
                state = state.map(|t| t.min(frames.len()));
            }
            Operator::Br { relative_depth } => {
                branch(&mut frames, state, relative_depth, &mut found);
                state = None;
            }
            Operator::BrIf { relative_depth } => {
                branch(&mut frames, state, relative_depth, &mut found)
            }
            Operator::BrTable { targets } => {
                for d in targets.targets() {
                    branch(&mut frames, state, d?, &mut found);
                }
                branch(&mut frames, state, targets.default(), &mut found);
                state = None;
            }
            Operator::Return | Operator::Unreachable => state = None,
            Operator::I32Load { .. }
            | Operator::I64Load { .. }
            | Operator::F32Load { .. }
            | Operator::F64Load { .. }
            | Operator::I32Load8S { .. }
            | Operator::I32Load8U { .. }
            | Operator::I32Load16S { .. }
            | Operator::I32Load16U { .. }
            | Operator::I64Load8S { .. }
            | Operator::I64Load8U { .. }
            | Operator::I64Load16S { .. }
            | Operator::I64Load16U { .. }
            | Operator::I64Load32S { .. }
            | Operator::I64Load32U { .. }
            | Operator::I32Store { .. }
            | Operator::I64Store { .. }
            | Operator::F32Store { .. }
            | Operator::F64Store { .. }
            | Operator::I32Store8 { .. }
            | Operator::I32Store16 { .. }
            | Operator::I64Store8 { .. }
            | Operator::I64Store16 { .. }
            | Operator::I64Store32 { .. }
                if state.is_some() =>
            {
                state = Some(frames.len());
            }
            _ => {}
        }
    }
    found.sort_by_key(|l| l.start);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module with one memory page and one function `f: [] -> []` whose code is `code`.
    fn module(code: &[u8]) -> Vec<u8> {
        let mut body = vec![0]; // no locals
        body.extend_from_slice(code);
        body.push(0x0b);
        let mut code_sec = vec![1];
        put_leb(&mut code_sec, body.len() as u32);
        code_sec.extend_from_slice(&body);
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        for (id, sec) in [
            (1u8, vec![1, 0x60, 0, 0]),                 // type: [] -> []
            (3, vec![1, 0]),                            // function 0: type 0
            (5, vec![1, 0, 1]),                         // memory: 1 page
            (7, vec![2, 1, b'f', 0, 0, 1, b'm', 2, 0]), // export f, m
            (10, code_sec),
        ] {
            m.push(id);
            put_leb(&mut m, sec.len() as u32);
            m.extend_from_slice(&sec);
        }
        m
    }

    /// The code section's contents of a module built by `module`.
    fn code_section(m: &[u8]) -> &[u8] {
        let i = m.iter().rposition(|&b| b == 10).unwrap();
        // The code section is last; its size fits one LEB byte in these tests.
        &m[i + 2..]
    }

    const LOAD: &[u8] = &[0x41, 0, 0x28, 2, 0, 0x1a]; // i32.const 0; i32.load; drop
    const STORE: &[u8] = &[0x41, 0, 0x41, 0, 0x36, 2, 0]; // i32.store 0 at 0

    fn looped(parts: &[&[u8]]) -> Vec<u8> {
        let mut c = vec![0x03, 0x40]; // loop
        for p in parts {
            c.extend_from_slice(p);
        }
        c.extend_from_slice(&[0x0c, 0, 0x0b]); // br 0; end
        c
    }

    #[test]
    fn loops_that_touch_memory_on_every_path_pass() {
        assert_eq!(loops_touch_memory(&module(&looped(&[LOAD]))), Ok(()));
        assert_eq!(loops_touch_memory(&module(&looped(&[STORE]))), Ok(()));
        // if/else, both arms touching.
        let both = [&[0x41, 1, 0x04, 0x40][..], LOAD, &[0x05], STORE, &[0x0b]].concat();
        assert_eq!(loops_touch_memory(&module(&looped(&[&both]))), Ok(()));
        // A branch out of the loop needs nothing; code after `br` is unreachable.
        let out = [&[0x02, 0x40, 0x03, 0x40, 0x0c, 1, 0x0c, 0, 0x0b, 0x0b][..]].concat();
        assert_eq!(loops_touch_memory(&module(&out)), Ok(()));
        // No loop at all.
        assert_eq!(loops_touch_memory(&module(&[0x01])), Ok(()));
    }

    #[test]
    fn loops_that_may_spin_without_memory_are_found() {
        let spins = |code: Vec<u8>| {
            let e = loops_touch_memory(&module(&code)).unwrap_err();
            assert!(e.contains("may run without touching memory"), "{e}");
        };
        spins(looped(&[]));
        // Touching only when a condition holds.
        spins(looped(&[&[0x41, 1, 0x04, 0x40][..], LOAD, &[0x0b]]));
        // An inner loop opened after the touch.
        spins(looped(&[LOAD, &[0x03, 0x40, 0x0c, 0, 0x0b]]));
        // A block left early (br_if to its end) skips the touch.
        spins(looped(&[
            &[0x02, 0x40, 0x41, 0, 0x0d, 0][..],
            LOAD,
            &[0x0b],
        ]));
        // br_table back to the loop.
        spins(looped(&[&[0x41, 0, 0x0e, 0, 0]]));
    }

    #[test]
    fn modules_with_out_of_line_memory_instructions_are_refused() {
        // memory.fill runs in host code, which a revoked memory would crash.
        let fill = [0x41, 0, 0x41, 0, 0x41, 0, 0xfc, 0x0b, 0];
        let e = loops_touch_memory(&module(&fill)).unwrap_err();
        assert!(e.contains("not a plain WebAssembly 1.0 module"), "{e}");
    }

    #[test]
    fn probes_make_every_loop_touch_memory() {
        let m = module(&looped(&[
            &[0x41, 1, 0x04, 0x40][..],
            LOAD,
            &[0x0b, 0x03, 0x40, 0x41, 0, 0x0d, 0, 0x0b],
        ]));
        let code = code_section(&m);
        let probed = probe_loops(code).unwrap();
        // Two loops lacked a touch: two probes, nothing else changed.
        assert_eq!(probed.len(), code.len() + 2 * PROBE.len());
        let mut fixed = m[..m.len() - code.len() - 2].to_vec();
        fixed.push(10);
        put_leb(&mut fixed, probed.len() as u32);
        fixed.extend_from_slice(&probed);
        assert_eq!(loops_touch_memory(&fixed), Ok(()));
        // A module whose loops all touch memory is left as it is.
        let ok = module(&looped(&[LOAD]));
        assert_eq!(probe_loops(code_section(&ok)).unwrap(), code_section(&ok));
    }

    /// The whole mechanism on a probed `loop br 0`: the watchdog revokes the memory at the
    /// deadline and the guest traps out of its loop.
    #[test]
    fn a_spinning_guest_stops_when_its_memory_is_revoked() {
        use wasmtime::{Config, Engine, Instance, Module, Store};
        let m = module(&looped(&[]));
        let probed = probe_loops(code_section(&m)).unwrap();
        let mut wasm = m[..m.len() - code_section(&m).len() - 2].to_vec();
        wasm.push(10);
        put_leb(&mut wasm, probed.len() as u32);
        wasm.extend_from_slice(&probed);
        let mut c = Config::new();
        c.memory_reservation(1 << 32);
        c.memory_may_move(false);
        let engine = Engine::new(&c).unwrap();
        let module = Module::new(&engine, &wasm).unwrap();
        let mut store = Store::new(&engine, ());
        let watch = Watch::arm(Instant::now() + Duration::from_millis(30));
        let hook = watch.clone();
        store.call_hook(move |_, h| hook.hook(h));
        let inst = Instance::new(&mut store, &module, &[]).unwrap();
        let mem = inst.get_memory(&mut store, "m").unwrap();
        // SAFETY: the memory's reservation, mapped until `store` is dropped, after `disarm`.
        unsafe { watch.set_memory(mem.data_ptr(&store), 1 << 32) };
        let f = inst.get_typed_func::<(), ()>(&mut store, "f").unwrap();
        let err = f.call(&mut store, ()).unwrap_err();
        assert!(watch.disarm(), "stopped before its deadline: {err:?}");
        assert_eq!(
            err.downcast_ref::<wasmtime::Trap>(),
            Some(&wasmtime::Trap::MemoryOutOfBounds)
        );
    }

    #[test]
    fn past_the_deadline_the_guest_cannot_call_the_host_or_go_on() {
        let w = Watch::arm(Instant::now() + Duration::from_secs(3600));
        assert!(w.hook(CallHook::CallingWasm).is_ok());
        assert!(w.hook(CallHook::CallingHost).is_ok());
        w.expire();
        // In a host call: nothing revoked, the return into the guest traps.
        assert!(w.hook(CallHook::ReturningFromHost).is_err());
        assert!(w.hook(CallHook::CallingHost).is_err());
        // Leaving the guest (an exit already given) is let through.
        assert!(w.hook(CallHook::ReturningFromWasm).is_ok());
        assert!(w.disarm());
        let fresh = Watch::arm(Instant::now() + Duration::from_secs(3600));
        assert!(!fresh.disarm());
    }
}
