//! Loading tasks from files: JSONL, a JSON list, or Parquet with the public SWE-bench schema.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::{DatasetError, Task, TaskSet, sha256_hex};

/// A row mapper: one JSON row of a set's public schema → a task, or what is wrong with it.
pub type RowMapper<'a> = &'a dyn Fn(&Value) -> Result<Task, String>;

/// Loads a task file in SWE-bench's schema. A row that fails to parse is rejected with its
/// file, line and field named; the remaining rows still load. A repeated instance id keeps the
/// first row and rejects the rest.
pub fn load_tasks(path: &Path) -> Result<TaskSet, DatasetError> {
    load_tasks_with(path, &Task::from_json)
}

/// As [`load_tasks`], with each row read by `map` (a task set's own schema).
pub fn load_tasks_with(path: &Path, map: RowMapper<'_>) -> Result<TaskSet, DatasetError> {
    load_files_with(&[path.to_owned()], &path.display().to_string(), map)
}

/// Loads several files of one set (the shards of a published split) as one task set named
/// `name`. Its sha256 is the file's for one file; for several, the sha256 of their
/// `sha256sum`-style listing (`<sha256>  <file name>` lines, in order).
pub fn load_files_with(
    paths: &[std::path::PathBuf],
    name: &str,
    map: RowMapper<'_>,
) -> Result<TaskSet, DatasetError> {
    let mut tasks = Vec::new();
    let mut rejected = Vec::new();
    let mut seen = HashSet::new();
    let mut digests = Vec::new();
    for path in paths {
        let bytes = fs::read(path).map_err(|source| DatasetError::Io {
            path: path.to_owned(),
            source,
        })?;
        digests.push(format!(
            "{}  {}\n",
            sha256_hex(&bytes),
            path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().to_string()
            )
        ));
        // rows are mapped as they are read, so a large file never holds every row as JSON
        each_row(path, bytes, &mut |line, row| {
            let row = match row {
                Ok(v) => v,
                Err(message) => {
                    rejected.push(format!("{}:{line}: {message}", path.display()));
                    return;
                }
            };
            match map(&row) {
                Ok(task) if !seen.insert(task.instance_id.clone()) => rejected.push(format!(
                    "{}:{line}: duplicate instance_id `{}` (the first row is kept)",
                    path.display(),
                    task.instance_id
                )),
                Ok(task) => tasks.push(task),
                Err(message) => rejected.push(format!("{}:{line}: {message}", path.display())),
            }
        })?;
    }
    if tasks.is_empty() && rejected.is_empty() {
        return Err(DatasetError::File {
            path: paths.first().cloned().unwrap_or_default(),
            message: "no tasks in file".into(),
        });
    }
    let sha256 = match digests.as_slice() {
        [one] => one[..64].to_string(),
        all => sha256_hex(all.concat().as_bytes()),
    };
    Ok(TaskSet {
        name: name.to_string(),
        sha256,
        tasks,
        rejected,
    })
}

fn is_parquet(path: &Path, bytes: &[u8]) -> bool {
    path.extension().is_some_and(|e| e == "parquet") || bytes.starts_with(b"PAR1")
}

type Row = (usize, Result<Value, String>);

/// JSON rows with their 1-based line numbers (for a JSON list: the list index + 1, called "row").
pub(crate) fn json_rows(path: &Path, bytes: &[u8]) -> Result<Vec<Row>, DatasetError> {
    let text = std::str::from_utf8(bytes).map_err(|e| DatasetError::File {
        path: path.to_owned(),
        message: format!("not UTF-8 text: {e}"),
    })?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let list: Vec<Value> = serde_json::from_str(text).map_err(|e| DatasetError::File {
            path: path.to_owned(),
            message: format!("not a JSON list: {e}"),
        })?;
        return Ok(list
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i + 1, Ok(v)))
            .collect());
    }
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            (
                i + 1,
                serde_json::from_str::<Value>(l).map_err(|e| format!("malformed JSON: {e}")),
            )
        })
        .collect())
}

/// Calls `f` with each row of a file and its 1-based line (JSONL), list index + 1 (a JSON
/// list) or row number (Parquet). Parquet rows go through arrow's JSON writer one batch at a
/// time, so every column type (plain, large or view strings, numbers, lists) reaches the row
/// mapper the same way JSONL rows do.
fn each_row(
    path: &Path,
    bytes: Vec<u8>,
    f: &mut dyn FnMut(usize, Result<Value, String>),
) -> Result<(), DatasetError> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let err = |message: String| DatasetError::File {
        path: path.to_owned(),
        message,
    };
    if !is_parquet(path, &bytes) {
        let text = std::str::from_utf8(&bytes).map_err(|e| err(format!("not UTF-8 text: {e}")))?;
        if text.trim_start().starts_with('[') {
            for (line, row) in json_rows(path, &bytes)? {
                f(line, row);
            }
            return Ok(());
        }
        for (i, l) in text.lines().enumerate() {
            if !l.trim().is_empty() {
                f(
                    i + 1,
                    serde_json::from_str::<Value>(l).map_err(|e| format!("malformed JSON: {e}")),
                );
            }
        }
        return Ok(());
    }
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(|e| err(format!("not a readable Parquet file: {e}")))?
        .build()
        .map_err(|e| err(format!("cannot read Parquet: {e}")))?;
    let mut n = 0;
    for batch in reader {
        let batch = batch.map_err(|e| err(format!("cannot read Parquet batch: {e}")))?;
        let mut out = Vec::new();
        {
            let mut writer = arrow_json::ArrayWriter::new(&mut out);
            writer
                .write(&batch)
                .map_err(|e| err(format!("cannot convert Parquet rows: {e}")))?;
            writer
                .finish()
                .map_err(|e| err(format!("cannot convert Parquet rows: {e}")))?;
        }
        let values: Vec<Value> = if out.is_empty() {
            Vec::new()
        } else {
            serde_json::from_slice(&out).map_err(|e| err(format!("internal JSON error: {e}")))?
        };
        drop(out);
        for v in values {
            n += 1;
            f(n, Ok(v));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const ROW: &str = r#"{"instance_id":"a__b-1","repo":"a/b","base_commit":"c","version":"1.0","problem_statement":"p","hints_text":"","patch":"x","test_patch":"y","FAIL_TO_PASS":"[\"t\"]","PASS_TO_PASS":"[]","environment_setup_commit":"","created_at":""}"#;

    #[test]
    fn jsonl_with_bad_lines_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.jsonl");
        let missing = ROW.replace(r#""patch":"x","#, "");
        let dup = ROW.to_string();
        let other = ROW.replace("a__b-1", "a__b-2");
        fs::write(&p, format!("{ROW}\n{{oops\n{missing}\n\n{dup}\n{other}\n")).unwrap();
        let set = load_tasks(&p).unwrap();
        let ids: Vec<_> = set.tasks.iter().map(|t| t.instance_id.as_str()).collect();
        assert_eq!(ids, ["a__b-1", "a__b-2"]);
        assert_eq!(set.rejected.len(), 3, "{:?}", set.rejected);
        assert!(
            set.rejected[0]
                .ends_with("d.jsonl:2: malformed JSON: key must be a string at line 1 column 2"),
            "{}",
            set.rejected[0]
        );
        assert!(set.rejected[1].ends_with("d.jsonl:3: missing field `patch`"));
        assert!(set.rejected[2].contains(":5: duplicate instance_id `a__b-1`"));
    }

    #[test]
    fn json_list_loads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.json");
        fs::write(&p, format!("[{ROW}]")).unwrap();
        assert_eq!(load_tasks(&p).unwrap().tasks.len(), 1);
    }

    #[test]
    fn parquet_loads_like_jsonl() {
        use arrow_array::{ArrayRef, RecordBatch, StringArray};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.parquet");
        let row: Value = serde_json::from_str(ROW).unwrap();
        let obj = row.as_object().unwrap();
        let cols: Vec<(String, ArrayRef)> = obj
            .iter()
            .map(|(k, v)| {
                let a: ArrayRef = Arc::new(StringArray::from(vec![v.as_str().unwrap()]));
                (k.clone(), a)
            })
            .collect();
        let batch = RecordBatch::try_from_iter(cols).unwrap();
        let file = fs::File::create(&p).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let set = load_tasks(&p).unwrap();
        assert_eq!(set.tasks.len(), 1, "{:?}", set.rejected);
        assert_eq!(set.tasks[0], Task::from_json(&row).unwrap());
    }

    #[test]
    fn unreadable_file_names_path() {
        let e = load_tasks(Path::new("/nonexistent/x.jsonl")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/x.jsonl: cannot read")
        );
    }
}
