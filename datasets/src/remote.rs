//! `--dataset verified|lite`: the public SWE-bench parquet, downloaded once into a cache and
//! verified, then used offline.
//!
//! The published parquet's own bytes are not pinned here (protege was written where the hub was
//! out of reach); what is pinned is the sha256 of the *decoded content* — every task, sorted by id,
//! in protege's canonical JSON line form — which the JSONL copies of the same splits also give.
//! So a download is accepted only when it holds exactly the pinned rows, whatever its encoding.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::load::load_tasks;
use crate::{DatasetError, TaskSet, sha256_hex};

/// A public split protege knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub name: &'static str,
    pub url: &'static str,
    /// sha256 of the canonical content (see the module docs).
    pub content_sha256: &'static str,
    /// The JSONL copy's file name and sha256, accepted as an offline source.
    pub jsonl_name: &'static str,
    pub jsonl_sha256: &'static str,
    pub rows: usize,
}

pub const VERIFIED: Known = Known {
    name: "verified",
    url: "https://huggingface.co/datasets/princeton-nlp/SWE-bench_Verified/resolve/main/data/test-00000-of-00001.parquet",
    content_sha256: "44a5ab5fee5aaa371476b2e0ea4485450efaa23bf9f8c0dee66de497c70da7d2",
    jsonl_name: "swe-bench-verified.jsonl",
    jsonl_sha256: "f61cd55ceb35b61ad592f645abcbfc8ea4d294c6c9f3c8f15e83211a8e8db98c",
    rows: 500,
};

pub const LITE: Known = Known {
    name: "lite",
    url: "https://huggingface.co/datasets/princeton-nlp/SWE-bench_Lite/resolve/main/data/test-00000-of-00001.parquet",
    content_sha256: "bd3630ec03aba46f9b6e4cb559b046128075de096424764fb79f0aabe3fde3cf",
    jsonl_name: "swe-bench-lite.jsonl",
    jsonl_sha256: "c8b7405cefc53d1a138956fcd791ed63003ac8fcd6a6b1c25988ad8e52f5d49f",
    rows: 300,
};

pub fn known(name: &str) -> Option<Known> {
    match name {
        "verified" => Some(VERIFIED),
        "lite" => Some(LITE),
        _ => None,
    }
}

/// sha256 of a task set's canonical content: one `serde_json` line per task, sorted by id.
pub fn content_sha256(set: &TaskSet) -> String {
    let mut tasks: Vec<_> = set.tasks.iter().collect();
    tasks.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    let mut text = String::new();
    for t in tasks {
        text.push_str(&serde_json::to_string(t).expect("tasks serialise"));
        text.push('\n');
    }
    sha256_hex(text.as_bytes())
}

/// Where a known split was loaded from, for the user and the manifest.
#[derive(Debug, Clone)]
pub enum Source {
    Cache(PathBuf),
    Downloaded(PathBuf),
    LocalCopy(PathBuf),
}

/// Loads a known split: from the cache if present and valid, else by download, else from a
/// verified JSONL copy found beside the project (`shared/datasets/`, `../shared/datasets/`).
pub fn fetch(k: Known) -> Result<(TaskSet, Source), DatasetError> {
    let cached = protege_fetch::cache_dir()
        .join("datasets")
        .join(format!("{}.parquet", k.name));
    if cached.exists()
        && let Ok(set) = load_verified(&cached, k)
    {
        return Ok((set, Source::Cache(cached)));
    }
    let download_error = match download(k.url, &cached) {
        Ok(()) => match load_verified(&cached, k) {
            Ok(set) => return Ok((set, Source::Downloaded(cached))),
            Err(e) => {
                let _ = fs::remove_file(&cached);
                e.to_string()
            }
        },
        Err(e) => e,
    };
    for dir in ["shared/datasets", "../shared/datasets"] {
        let p = Path::new(dir).join(k.jsonl_name);
        if p.exists() {
            let bytes = fs::read(&p).map_err(|source| DatasetError::Io {
                path: p.clone(),
                source,
            })?;
            let got = sha256_hex(&bytes);
            if got != k.jsonl_sha256 {
                return Err(DatasetError::File {
                    path: p,
                    message: format!(
                        "sha256 {got} does not match the pinned {} for SWE-bench {}",
                        k.jsonl_sha256, k.name
                    ),
                });
            }
            let mut set = load_tasks(&p)?;
            set.name = k.name.into();
            return Ok((set, Source::LocalCopy(p)));
        }
    }
    Err(DatasetError::Other(format!(
        "cannot download SWE-bench {} from {}: {download_error}\n\
         Use a local copy instead: --dataset PATH (JSONL, JSON or Parquet), e.g. \
         --dataset ../shared/datasets/{}",
        k.name, k.url, k.jsonl_name
    )))
}

fn load_verified(path: &Path, k: Known) -> Result<TaskSet, DatasetError> {
    let mut set = load_tasks(path)?;
    let got = content_sha256(&set);
    if got != k.content_sha256 || set.tasks.len() != k.rows {
        return Err(DatasetError::File {
            path: path.to_owned(),
            message: format!(
                "content sha256 {got} ({} rows) does not match the pinned {} ({} rows)",
                set.tasks.len(),
                k.content_sha256,
                k.rows
            ),
        });
    }
    set.name = k.name.into();
    Ok(set)
}

/// Streams to a temporary file beside `dest`, then renames it in place, so an interrupted
/// download never leaves a truncated cache entry (the content pin is checked on load).
fn download(url: &str, dest: &Path) -> Result<(), String> {
    protege_fetch::download_to(
        url,
        dest,
        None,
        Duration::from_secs(10),
        Duration::from_secs(600),
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pinned content digests are those of the JSONL copies in `../shared` (skipped, loudly,
    /// where that folder is absent).
    #[test]
    fn pinned_content_matches_shared_copies() {
        for k in [VERIFIED, LITE] {
            let p = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/datasets")
                .join(k.jsonl_name);
            if !p.exists() {
                eprintln!("SKIPPED: {} absent", p.display());
                continue;
            }
            let set = load_tasks(&p).unwrap();
            assert!(set.rejected.is_empty(), "{:?}", set.rejected);
            assert_eq!(set.tasks.len(), k.rows);
            assert_eq!(set.sha256, k.jsonl_sha256);
            assert_eq!(content_sha256(&set), k.content_sha256, "{}", k.name);
        }
    }
}
