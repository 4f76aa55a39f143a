//! Task sets published on the Hugging Face hub (SWE-Gym, SWE-smith, SWE-rebench, R2E-Gym,
//! SWE-bench Full): the split's Parquet files, listed by the hub's API, downloaded once into the
//! cache and read offline from there afterwards.
//!
//! Unlike Verified and Lite (`remote`), these splits are not pinned: they grow (SWE-rebench) or
//! were never seen by protege's authors. What protege records instead is the sha256 of the files
//! a run read (the run manifest's `dataset_sha256`, see [`crate::load::load_files_with`]), so a
//! later run can tell whether it saw the same rows.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One published split: `https://huggingface.co/datasets/<dataset>`, its config and split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubSplit {
    pub dataset: &'static str,
    pub config: &'static str,
    pub split: &'static str,
}

/// The hub protege asks: `$HF_ENDPOINT` (the variable the hub's own clients read, for mirrors),
/// else `https://huggingface.co`.
pub fn endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "https://huggingface.co".into())
}

/// Where a split came from this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// Read from the cache, without asking the hub.
    Cache(Vec<PathBuf>),
    /// Downloaded into the cache just now.
    Downloaded(Vec<PathBuf>),
}

impl Fetched {
    pub fn files(&self) -> &[PathBuf] {
        match self {
            Fetched::Cache(f) | Fetched::Downloaded(f) => f,
        }
    }
}

/// The file listing the shards of a complete download, written last so that an interrupted
/// download is never taken for a complete one.
const LISTING: &str = "files.txt";

/// The split's files: from `<cache>/datasets/<name>/` when a complete download is there, else
/// downloaded from `endpoint` (the hub's Parquet listing, `/api/datasets/<dataset>/parquet/
/// <config>/<split>`, then each file). Errors say what could not be reached.
pub fn fetch(cache: &Path, endpoint: &str, name: &str, split: HubSplit) -> Result<Fetched, String> {
    let dir = cache.join("datasets").join(name);
    if let Some(files) = cached(&dir) {
        return Ok(Fetched::Cache(files));
    }
    let list_url = format!(
        "{}/api/datasets/{}/parquet/{}/{}",
        endpoint.trim_end_matches('/'),
        split.dataset,
        split.config,
        split.split
    );
    let body = protege_fetch::get(
        &list_url,
        Duration::from_secs(10),
        Duration::from_secs(60),
        1 << 20,
    )
    .map_err(|e| format!("{list_url}: {e}"))?;
    let urls: Vec<String> = serde_json::from_slice(&body)
        .map_err(|e| format!("{list_url}: not a JSON list of file URLs: {e}"))?;
    if urls.is_empty() {
        return Err(format!("{list_url}: the hub lists no Parquet file"));
    }
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        let file = format!("{i:05}.parquet");
        let dest = dir.join(&file);
        let data = protege_fetch::get(
            url,
            Duration::from_secs(10),
            Duration::from_secs(1800),
            4 << 30,
        )
        .map_err(|e| format!("{url}: {e}"))?;
        write_atomically(&dest, &data)?;
        names.push(file);
    }
    write_atomically(&dir.join(LISTING), (names.join("\n") + "\n").as_bytes())?;
    Ok(Fetched::Downloaded(
        names.iter().map(|n| dir.join(n)).collect(),
    ))
}

/// The files of a complete download, when every one of them is there.
fn cached(dir: &Path) -> Option<Vec<PathBuf>> {
    let listing = fs::read_to_string(dir.join(LISTING)).ok()?;
    let files: Vec<PathBuf> = listing
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| dir.join(l.trim()))
        .collect();
    (!files.is_empty() && files.iter().all(|f| f.is_file())).then_some(files)
}

fn write_atomically(dest: &Path, data: &[u8]) -> Result<(), String> {
    let tmp = dest.with_extension("part");
    fs::write(&tmp, data).map_err(|e| format!("{}: {e}", tmp.display()))?;
    fs::rename(&tmp, dest).map_err(|e| format!("{}: {e}", dest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    const SPLIT: HubSplit = HubSplit {
        dataset: "org/set",
        config: "default",
        split: "train",
    };

    /// A one-thread HTTP server answering `requests` GETs from the routes `routes(base)` gives
    /// (path → body; 404 otherwise), so the download path runs for real without the hub.
    fn serve(routes: impl FnOnce(&str) -> Vec<(String, Vec<u8>)>, requests: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let routes = routes(&base);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(requests) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                reader.read_line(&mut first).unwrap();
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l).unwrap() == 0 || l == "\r\n" {
                        break;
                    }
                }
                let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
                let (status, body) = match routes.iter().find(|(p, _)| *p == path) {
                    Some((_, b)) => ("200 OK", b.clone()),
                    None => ("404 Not Found", b"no".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(&body).unwrap();
            }
        });
        base
    }

    #[test]
    fn downloads_once_then_reads_the_cache() {
        let cache = tempfile::tempdir().unwrap();
        let server = serve(
            |base| {
                let listing =
                    serde_json::to_vec(&[format!("{base}/a.parquet"), format!("{base}/b.parquet")])
                        .unwrap();
                vec![
                    (
                        "/api/datasets/org/set/parquet/default/train".into(),
                        listing,
                    ),
                    ("/a.parquet".into(), b"PAR1 first".to_vec()),
                    ("/b.parquet".into(), b"PAR1 second".to_vec()),
                ]
            },
            3,
        );
        let got = fetch(cache.path(), &server, "set", SPLIT).unwrap();
        let Fetched::Downloaded(files) = got else {
            panic!("{got:?}")
        };
        assert_eq!(fs::read(&files[0]).unwrap(), b"PAR1 first");
        assert_eq!(fs::read(&files[1]).unwrap(), b"PAR1 second");
        // offline now: nothing answers at this address
        let again = fetch(cache.path(), "http://127.0.0.1:1", "set", SPLIT).unwrap();
        assert_eq!(again, Fetched::Cache(files));
    }

    #[test]
    fn unreachable_hub_names_the_url() {
        let cache = tempfile::tempdir().unwrap();
        let e = fetch(cache.path(), "http://127.0.0.1:1", "set", SPLIT).unwrap_err();
        assert!(
            e.starts_with("http://127.0.0.1:1/api/datasets/org/set/parquet/default/train: "),
            "{e}"
        );
        assert!(!cache.path().join("datasets/set").join(LISTING).exists());
    }

    #[test]
    fn missing_shard_is_not_a_cache_hit() {
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("datasets/set");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(LISTING), "00000.parquet\n00001.parquet\n").unwrap();
        fs::write(dir.join("00000.parquet"), "x").unwrap();
        assert!(cached(&dir).is_none());
        fs::write(dir.join("00001.parquet"), "y").unwrap();
        assert_eq!(cached(&dir).unwrap().len(), 2);
    }
}
