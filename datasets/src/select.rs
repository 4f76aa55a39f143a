//! `--instances`: filter a task set by exact ids or globs (`django__*`, `*-1`).

use globset::{Glob, GlobSetBuilder};

use crate::{DatasetError, TaskSet};

/// Keeps the tasks whose id matches any pattern. Patterns may be separated by commas. A pattern
/// that is neither a glob nor a known id is an error naming it, so a typo cannot silently select
/// nothing.
pub fn filter(set: &mut TaskSet, patterns: &[String]) -> Result<(), DatasetError> {
    let patterns: Vec<&str> = patterns
        .iter()
        .flat_map(|p| p.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if patterns.is_empty() {
        return Ok(());
    }
    let mut builder = GlobSetBuilder::new();
    for p in &patterns {
        let glob = Glob::new(p).map_err(|e| {
            DatasetError::Other(format!("--instances `{p}`: not a valid glob: {e}"))
        })?;
        builder.add(glob);
    }
    let globs = builder
        .build()
        .map_err(|e| DatasetError::Other(format!("--instances: {e}")))?;
    for p in &patterns {
        let is_glob = p.contains(['*', '?', '[', '{']);
        if !is_glob && set.get(p).is_none() {
            return Err(DatasetError::Other(format!(
                "--instances `{p}`: no such instance in dataset {}",
                set.name
            )));
        }
    }
    set.tasks.retain(|t| globs.is_match(&t.instance_id));
    Ok(())
}
