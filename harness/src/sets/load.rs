//! `--dataset` for the task sets: `NAME` (a published set: from the cache, else downloaded from
//! the Hugging Face hub), `NAME:PATH` (a local JSONL, JSON or Parquet file in NAME's schema) or
//! `PATH` (each row's schema detected: SWE-smith by `image_name`, SWE-rebench by
//! `install_config`, R2E-Gym by `expected_output_json`, SWE-bench otherwise).

use std::path::{Path, PathBuf};

use protege_datasets::hub::{self, Fetched};
use protege_datasets::load::load_files_with;
use protege_datasets::{DatasetError, TaskSet};
use protege_fetch::cache_dir;

use super::{ALL, TaskSetRules, by_name, detect};

/// Where a set was read from, for the user and the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The cached download, read offline.
    Cache(Vec<PathBuf>),
    /// Downloaded from the hub just now.
    Downloaded(Vec<PathBuf>),
    /// A file the user named.
    File(PathBuf),
}

/// Loads `--dataset ARG` (anything but the names `mini`, `verified`, `lite`, which
/// `protege_datasets` knows itself).
pub fn load(arg: &str) -> Result<(TaskSet, Source), DatasetError> {
    load_with(arg, &cache_dir(), &hub::endpoint())
}

/// [`load`] with the cache and hub given.
pub fn load_with(
    arg: &str,
    cache: &Path,
    endpoint: &str,
) -> Result<(TaskSet, Source), DatasetError> {
    if let Some(rules) = by_name(arg) {
        return load_published(rules, cache, endpoint);
    }
    if let Some((name, path)) = arg.split_once(':')
        && let Some(rules) = by_name(name)
    {
        let path = PathBuf::from(path);
        let set = load_files_with(std::slice::from_ref(&path), rules.name(), &|row| {
            rules.task_from_row(row)
        })?;
        return Ok((set, Source::File(path)));
    }
    let path = PathBuf::from(arg);
    if !path.exists() && !arg.contains('/') && !arg.contains('.') {
        return Err(DatasetError::Other(format!(
            "unknown dataset `{arg}`: expected mini, verified, lite, {}, NAME:PATH or a file path",
            names()
        )));
    }
    let set = load_files_with(std::slice::from_ref(&path), arg, &|row| {
        detect(row).task_from_row(row)
    })?;
    Ok((set, Source::File(path)))
}

/// Every published set's name, for messages.
pub fn names() -> String {
    ALL.iter()
        .filter(|s| s.hub().is_some())
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn load_published(
    rules: &'static dyn TaskSetRules,
    cache: &Path,
    endpoint: &str,
) -> Result<(TaskSet, Source), DatasetError> {
    let Some(split) = rules.hub() else {
        return Err(DatasetError::Other(format!(
            "`{}` is not published as one split: use --dataset verified, lite, full, or {}:PATH",
            rules.name(),
            rules.name()
        )));
    };
    let fetched = hub::fetch(cache, endpoint, rules.name(), split).map_err(|e| {
        DatasetError::Other(format!(
            "cannot download {name} from the Hugging Face hub ({endpoint}/datasets/{dataset}, split {split}): {e}\n\
             The hub could not be reached and no complete download is cached in {cache}.\n\
             Pass a local copy of the split instead (Parquet or JSONL, as published): \
             --dataset {name}:PATH (or --dataset PATH, whose schema is detected). \
             $HF_ENDPOINT names a mirror of the hub.",
            name = rules.name(),
            dataset = split.dataset,
            split = split.split,
            cache = cache.join("datasets").join(rules.name()).display(),
        ))
    })?;
    let set = load_files_with(fetched.files(), rules.name(), &|row| {
        rules.task_from_row(row)
    })?;
    let source = match fetched {
        Fetched::Cache(f) => Source::Cache(f),
        Fetched::Downloaded(f) => Source::Downloaded(f),
    };
    Ok((set, source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const SMITH: &str = r#"{"instance_id":"o__r.1234abcd.pr_1","repo":"swesmith/o__r.1234abcd","patch":"diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+y\n","FAIL_TO_PASS":["t.py::a"],"PASS_TO_PASS":[],"image_name":"swesmith.x86_64.o__r.1234abcd","problem_statement":"p"}"#;
    const BENCH: &str = r#"{"instance_id":"a__b-1","repo":"a/b","base_commit":"c","version":"1.0","problem_statement":"p","patch":"x","test_patch":"y","FAIL_TO_PASS":"[\"t\"]","PASS_TO_PASS":"[]"}"#;

    #[test]
    fn unreachable_hub_says_how_to_pass_a_file() {
        let cache = tempfile::tempdir().unwrap();
        let e = load_with("swe-smith", cache.path(), "http://127.0.0.1:1")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cannot download swe-smith from the Hugging Face hub (http://127.0.0.1:1/datasets/SWE-bench/SWE-smith, split train)"), "{e}");
        assert!(e.contains("--dataset swe-smith:PATH"), "{e}");
    }

    #[test]
    fn cached_download_loads_offline() {
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("datasets/swe-smith");
        fs::create_dir_all(&dir).unwrap();
        // the cache holds what the hub served (here a JSONL shard: the loader reads either)
        fs::write(dir.join("00000.parquet.jsonl"), format!("{SMITH}\n")).unwrap();
        fs::write(dir.join("files.txt"), "00000.parquet.jsonl\n").unwrap();
        let (set, source) = load_with("swe-smith", cache.path(), "http://127.0.0.1:1").unwrap();
        assert!(matches!(source, Source::Cache(_)));
        assert_eq!(set.name, "swe-smith");
        assert_eq!(set.tasks[0].set, "swe-smith");
        assert_eq!(
            set.sha256,
            protege_datasets::sha256_hex(format!("{SMITH}\n").as_bytes())
        );
    }

    #[test]
    fn named_and_detected_files() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("mixed.jsonl");
        fs::write(&p, format!("{SMITH}\n{BENCH}\n")).unwrap();
        let (set, _) = load_with(p.to_str().unwrap(), tmp.path(), "http://127.0.0.1:1").unwrap();
        let sets: Vec<&str> = set.tasks.iter().map(|t| t.set.as_str()).collect();
        assert_eq!(sets, ["swe-smith", ""]);
        let arg = format!("swe-gym:{}", p.display());
        let (set, _) = load_with(&arg, tmp.path(), "http://127.0.0.1:1").unwrap();
        // the SWE-smith row is no SWE-bench row: rejected with its line and field
        assert_eq!(set.tasks.len(), 1);
        assert_eq!(set.tasks[0].set, "swe-gym");
        assert!(
            set.rejected[0].ends_with("mixed.jsonl:1: missing field `base_commit`"),
            "{:?}",
            set.rejected
        );
        let e = load_with("nonesuch", tmp.path(), "x")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("unknown dataset `nonesuch`"), "{e}");
    }
}
