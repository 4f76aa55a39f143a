//! `records.jsonl`: one JSON line per finished instance, appended atomically (one `write` of a
//! whole line, flushed to disk before the next), read back tolerantly (a line cut short by a
//! crash is reported and skipped, never fatal).

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::Record;

pub struct RecordStore {
    path: PathBuf,
    lock: Mutex<()>,
}

/// Records read back from a file, the latest per instance, with any unreadable lines.
#[derive(Debug, Default)]
pub struct Loaded {
    pub latest: HashMap<String, Record>,
    /// In file order, every record (several per instance when it was re-graded).
    pub all: Vec<Record>,
    pub warnings: Vec<String>,
}

impl RecordStore {
    pub fn open(path: &Path) -> std::io::Result<RecordStore> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        Ok(RecordStore {
            path: path.to_owned(),
            lock: Mutex::new(()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as a single line. Safe to call from several workers at once.
    pub fn append(&self, record: &Record) -> std::io::Result<()> {
        let _guard = self.lock.lock().expect("record lock");
        append_line(&self.path, record)
    }

    pub fn load(&self) -> Loaded {
        load(&self.path)
    }
}

/// Appends one JSON value as one line with a single write, flushed to disk. Callers that write
/// from several threads hold a lock around it.
pub fn append_line<T: serde::Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let mut line = serde_json::to_string(value).map_err(std::io::Error::other)?;
    line.push('\n');
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    // A previous crash may have left a partial last line; start on a fresh line.
    if needs_newline(path)? {
        f.write_all(b"\n")?;
    }
    f.write_all(line.as_bytes())?;
    f.sync_data()
}

fn needs_newline(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::Start(len - 1))?;
    let mut b = [0u8; 1];
    f.read_exact(&mut b)?;
    Ok(b[0] != b'\n')
}

pub fn load(path: &Path) -> Loaded {
    let mut out = Loaded::default();
    let Ok(text) = fs::read_to_string(path) else {
        return out;
    };
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(r) => {
                out.latest.insert(r.instance_id.clone(), r.clone());
                out.all.push(r);
            }
            Err(e) => out.warnings.push(format!(
                "{}:{}: unreadable record skipped ({e})",
                path.display(),
                i + 1
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Outcome, Report, Stats, Verdict};

    fn rec(id: &str, key: &str) -> Record {
        Record {
            instance_id: id.into(),
            repo: "a/b".into(),
            policy: "gold".into(),
            patch_sha256: String::new(),
            cache_key: key.into(),
            sandbox: "docker".into(),
            verdict: Verdict {
                outcome: Outcome::Resolved,
                report: Report::default(),
                infra_error: None,
                patch_problem: None,
                flaky: vec![],
            },
            stats: Stats::default(),
            agent: None,
            reward: None,
            network: None,
        }
    }

    #[test]
    fn appends_and_survives_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let store = RecordStore::open(&dir.path().join("r/records.jsonl")).unwrap();
        store.append(&rec("a", "1")).unwrap();
        // Simulate a crash mid-write.
        let mut f = OpenOptions::new().append(true).open(store.path()).unwrap();
        f.write_all(b"{\"instance_id\":\"b\",\"rep").unwrap();
        drop(f);
        store.append(&rec("c", "1")).unwrap();
        store.append(&rec("a", "2")).unwrap();
        let l = store.load();
        assert_eq!(l.all.len(), 3);
        assert_eq!(l.latest["a"].cache_key, "2");
        assert_eq!(l.warnings.len(), 1);
        assert!(l.warnings[0].contains("records.jsonl:2: unreadable record"));
    }
}
