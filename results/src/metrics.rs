//! Pass@1 with a Wilson score interval, and counts by outcome and repository.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{Outcome, Record};

/// Wilson score interval for `k` successes out of `n` at the 95% level.
pub fn wilson95(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 0.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let n_f = n as f64;
    let p = k as f64 / n_f;
    let denom = 1.0 + z * z / n_f;
    let centre = (p + z * z / (2.0 * n_f)) / denom;
    let half = z * ((p * (1.0 - p) / n_f) + z * z / (4.0 * n_f * n_f)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Every task of the (filtered) set, finished or not.
    pub tasks: usize,
    /// Tasks with a record.
    pub finished: usize,
    pub resolved: usize,
    /// resolved / tasks: unfinished and errored tasks count as not resolved.
    pub pass_at_1: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
    pub unresolved: usize,
    pub empty_patch: usize,
    pub patch_not_applied: usize,
    pub timeout: usize,
    pub infra_error: usize,
    pub flaky_tests: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RepoRow {
    pub repo: String,
    pub tasks: usize,
    pub resolved: usize,
    pub pass_at_1: f64,
}

pub fn summarize<'a>(tasks: usize, records: impl IntoIterator<Item = &'a Record>) -> Summary {
    let mut s = Summary {
        tasks,
        finished: 0,
        resolved: 0,
        pass_at_1: 0.0,
        ci95_low: 0.0,
        ci95_high: 0.0,
        unresolved: 0,
        empty_patch: 0,
        patch_not_applied: 0,
        timeout: 0,
        infra_error: 0,
        flaky_tests: 0,
    };
    for r in records {
        s.finished += 1;
        s.flaky_tests += r.verdict.flaky.len();
        match r.verdict.outcome {
            Outcome::Resolved => s.resolved += 1,
            Outcome::Unresolved => s.unresolved += 1,
            Outcome::EmptyPatch => s.empty_patch += 1,
            Outcome::PatchNotApplied => s.patch_not_applied += 1,
            Outcome::Timeout => s.timeout += 1,
            Outcome::InfraError => s.infra_error += 1,
        }
    }
    if tasks > 0 {
        s.pass_at_1 = s.resolved as f64 / tasks as f64;
    }
    (s.ci95_low, s.ci95_high) = wilson95(s.resolved, tasks);
    s
}

/// Per-repository Pass@1, sorted by repository. `task_repos` lists every task's repository so
/// that unfinished tasks still count in their repository's denominator.
pub fn per_repo<'a>(
    task_repos: &[&str],
    records: impl IntoIterator<Item = &'a Record>,
) -> Vec<RepoRow> {
    let mut rows: BTreeMap<String, RepoRow> = BTreeMap::new();
    for repo in task_repos {
        rows.entry(repo.to_string())
            .or_insert_with(|| RepoRow {
                repo: repo.to_string(),
                tasks: 0,
                resolved: 0,
                pass_at_1: 0.0,
            })
            .tasks += 1;
    }
    for r in records {
        if r.verdict.outcome == Outcome::Resolved
            && let Some(row) = rows.get_mut(&r.repo)
        {
            row.resolved += 1;
        }
    }
    rows.into_values()
        .map(|mut r| {
            r.pass_at_1 = if r.tasks > 0 {
                r.resolved as f64 / r.tasks as f64
            } else {
                0.0
            };
            r
        })
        .collect()
}

/// The p-th percentile (0..=100) of a sample, nearest-rank; `None` for an empty sample.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    Some(v[rank.min(v.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_known_values() {
        // 42.4% of 500 (212/500): the SWE-Protégé headline.
        let (lo, hi) = wilson95(212, 500);
        assert!((lo - 0.3813).abs() < 5e-4, "{lo}");
        assert!((hi - 0.4678).abs() < 5e-4, "{hi}");
        let (lo, hi) = wilson95(0, 10);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.2775).abs() < 5e-4, "{hi}");
        let (lo, hi) = wilson95(10, 10);
        assert!((lo - 0.7225).abs() < 5e-4, "{lo}");
        assert!((hi - 1.0).abs() < 1e-12);
        assert_eq!(wilson95(0, 0), (0.0, 0.0));
    }

    #[test]
    fn percentiles() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&v, 50.0), Some(3.0));
        assert_eq!(percentile(&v, 90.0), Some(5.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
