//! The few llama.cpp C calls the engine makes, wrapped so each unsafe block states what it
//! relies on. Everything here lives on the engine thread: nothing is `Send`.

use std::ffi::{CStr, CString, c_char, c_void};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Once;

use llama_cpp_sys_2 as sys;

/// llama.cpp's messages at warning level and above, sent to `tracing` (its load-time chatter
/// is dropped).
unsafe extern "C" fn log(level: sys::ggml_log_level, text: *const c_char, _: *mut c_void) {
    if level != sys::GGML_LOG_LEVEL_WARN && level != sys::GGML_LOG_LEVEL_ERROR || text.is_null() {
        return;
    }
    // SAFETY: llama.cpp passes a NUL-terminated string valid for the call.
    let t = unsafe { CStr::from_ptr(text) }.to_string_lossy();
    tracing::warn!(target: "llama.cpp", "{}", t.trim_end());
}

/// Initialise llama.cpp once per process.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // SAFETY: called once, before any other llama.cpp call; the callback is a plain fn.
        unsafe {
            sys::llama_log_set(Some(log), std::ptr::null_mut());
            sys::llama_backend_init();
        }
    });
}

/// `llama_print_system_info`: the CPU features llama.cpp was built with and uses.
pub fn system_info() -> String {
    init();
    // SAFETY: returns a pointer to a static NUL-terminated buffer owned by llama.cpp.
    let p = unsafe { sys::llama_print_system_info() };
    if p.is_null() {
        return String::new();
    }
    // SAFETY: non-null, NUL-terminated (above).
    unsafe { CStr::from_ptr(p) }
        .to_string_lossy()
        .trim()
        .to_string()
}

pub struct Model(NonNull<sys::llama_model>);

impl Model {
    pub fn load(path: &Path) -> Result<Model, String> {
        init();
        let c = CString::new(path.to_string_lossy().as_bytes())
            .map_err(|_| "the path holds a NUL byte".to_string())?;
        // SAFETY: default parameters; `c` outlives the call.
        let m = unsafe {
            let params = sys::llama_model_default_params();
            sys::llama_model_load_from_file(c.as_ptr(), params)
        };
        NonNull::new(m)
            .map(Model)
            .ok_or_else(|| "llama.cpp cannot load it (see the warnings logged)".to_string())
    }

    pub fn n_vocab(&self) -> usize {
        // SAFETY: the model is alive; the vocabulary belongs to it.
        let n = unsafe { sys::llama_vocab_n_tokens(sys::llama_model_get_vocab(self.0.as_ptr())) };
        n.max(0) as usize
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: created by llama_model_load_from_file, freed once; contexts borrow the model
        // (`Context<'m>`), so none outlives it.
        unsafe { sys::llama_model_free(self.0.as_ptr()) }
    }
}

/// How to make a context.
pub struct ContextParams {
    pub n_ctx: u32,
    pub n_batch: u32,
    pub n_seq_max: u32,
    pub threads: i32,
    pub kv_unified: bool,
}

pub struct Context<'m> {
    ptr: NonNull<sys::llama_context>,
    n_vocab: usize,
    _model: std::marker::PhantomData<&'m Model>,
}

impl<'m> Context<'m> {
    pub fn new(model: &'m Model, p: &ContextParams) -> Result<Context<'m>, String> {
        // SAFETY: default parameters with plain fields set; the model outlives the context.
        let c = unsafe {
            let mut params = sys::llama_context_default_params();
            params.n_ctx = p.n_ctx;
            params.n_batch = p.n_batch;
            params.n_ubatch = p.n_batch;
            params.n_seq_max = p.n_seq_max;
            params.n_threads = p.threads;
            params.n_threads_batch = p.threads;
            params.kv_unified = p.kv_unified;
            sys::llama_init_from_model(model.0.as_ptr(), params)
        };
        let ptr = NonNull::new(c).ok_or_else(|| {
            "llama.cpp cannot make a context (see the warnings logged)".to_string()
        })?;
        Ok(Context {
            ptr,
            n_vocab: model.n_vocab(),
            _model: std::marker::PhantomData,
        })
    }

    /// Drop the cells of sequence `seq` from position `from` on.
    pub fn seq_rm(&mut self, seq: i32, from: i32) -> bool {
        // SAFETY: the context is alive; its memory belongs to it.
        unsafe {
            let mem = sys::llama_get_memory(self.ptr.as_ptr());
            sys::llama_memory_seq_rm(mem, seq, from, -1)
        }
    }

    /// Run the batch; llama.cpp's status on failure.
    pub fn decode(&mut self, batch: &Batch) -> Result<(), i32> {
        if batch.len == 0 {
            return Ok(());
        }
        // SAFETY: the batch's arrays hold `n_tokens` initialised entries (Batch::add).
        let rc = unsafe { sys::llama_decode(self.ptr.as_ptr(), batch.raw_with_len()) };
        if rc == 0 { Ok(()) } else { Err(rc) }
    }

    /// The logits after batch row `row` of the last decode (a row added with `logits: true`).
    pub fn logits(&self, row: i32) -> Option<&[f32]> {
        // SAFETY: the context is alive; llama.cpp returns null for a row without logits.
        let p = unsafe { sys::llama_get_logits_ith(self.ptr.as_ptr(), row) };
        if p.is_null() {
            return None;
        }
        // SAFETY: non-null rows hold n_vocab floats, valid until the next decode (which needs
        // `&mut self`, so not while this borrow lives).
        Some(unsafe { std::slice::from_raw_parts(p, self.n_vocab) })
    }
}

impl Drop for Context<'_> {
    fn drop(&mut self) {
        // SAFETY: created by llama_init_from_model, freed once.
        unsafe { sys::llama_free(self.ptr.as_ptr()) }
    }
}

/// A `llama_batch` of up to `cap` tokens, each in one sequence.
pub struct Batch {
    raw: sys::llama_batch,
    cap: usize,
    len: usize,
}

impl Batch {
    pub fn new(cap: usize) -> Batch {
        // SAFETY: allocates arrays for `cap` tokens with one sequence id each.
        let raw = unsafe { sys::llama_batch_init(cap as i32, 0, 1) };
        Batch { raw, cap, len: 0 }
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Tokens added since the last clear.
    pub fn n_tokens(&self) -> usize {
        self.len
    }

    /// Add `token` at `pos` of sequence `seq`; false when the batch is full.
    pub fn add(&mut self, token: u32, pos: usize, seq: i32, logits: bool) -> bool {
        if self.len >= self.cap {
            return false;
        }
        let i = self.len;
        // SAFETY: i < cap, the arrays llama_batch_init allocated hold cap entries, and each
        // seq_id entry has room for one id.
        unsafe {
            *self.raw.token.add(i) = token as sys::llama_token;
            *self.raw.pos.add(i) = pos as sys::llama_pos;
            *self.raw.n_seq_id.add(i) = 1;
            *(*self.raw.seq_id.add(i)) = seq;
            *self.raw.logits.add(i) = i8::from(logits);
        }
        self.len += 1;
        true
    }

    fn raw_with_len(&self) -> sys::llama_batch {
        let mut b = self.raw;
        b.n_tokens = self.len as i32;
        b
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // SAFETY: allocated by llama_batch_init, freed once.
        unsafe { sys::llama_batch_free(self.raw) }
    }
}
