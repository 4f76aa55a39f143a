//! Paired comparison of two runs over the instances both cover: an exact McNemar test on the
//! discordant pairs and a paired bootstrap interval for the Pass@1 difference. This is the
//! regression gate behind `protege compare BASE NEW`.
//!
//! Every instance both manifests list is one pair; the latest record of each side decides whether
//! it was resolved, and an instance with no record counts as not resolved (as in Pass@1).

use std::collections::HashMap;

use serde::Serialize;

use crate::manifest::Manifest;
use crate::metrics::percentile;
use crate::{Outcome, Record};

/// How the gate decides and how the interval is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// NEW may be this many percentage points worse than BASE before it can fail the gate.
    pub max_drop_pp: f64,
    /// Significance level for the McNemar test.
    pub alpha: f64,
    /// Bootstrap resamples of the instances.
    pub resamples: usize,
    /// Seed of the bootstrap's generator: same runs, same seed ⇒ same interval.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_drop_pp: 0.0,
            alpha: 0.05,
            resamples: 10_000,
            seed: DEFAULT_SEED,
        }
    }
}

pub const DEFAULT_SEED: u64 = 0x5eed_0f9e_3779_b97f;

/// Why two runs cannot be compared.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompareError {
    #[error(
        "the runs were made over different datasets (BASE dataset_sha256 {base}, NEW dataset_sha256 {new}); pass --allow-different-datasets to compare them anyway"
    )]
    DifferentDatasets { base: String, new: String },
    #[error(
        "the runs were graded by different harness versions (BASE harness {base}, NEW harness {new}); pass --allow-different-harness to compare them anyway"
    )]
    DifferentHarness { base: String, new: String },
    #[error("the runs share no instance, so there is nothing to compare")]
    NoCommonInstances,
    #[error("{0}")]
    BadOption(String),
}

/// One side of the comparison: a run's manifest and its latest record per instance.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub manifest: &'a Manifest,
    pub latest: &'a HashMap<String, Record>,
}

/// An instance resolved on one side only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Discordant {
    pub instance_id: String,
    pub repo: String,
    /// `resolved`, `unresolved`, … or `not_finished` when the run has no record for it.
    pub base: String,
    pub new: String,
}

/// What `protege compare` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub base_run: String,
    pub new_run: String,
    /// Instances both runs cover: the denominator of both Pass@1 values below.
    pub instances: usize,
    /// Instances only one manifest lists, left out of the comparison.
    pub only_in_base: usize,
    pub only_in_new: usize,
    pub base_resolved: usize,
    pub new_resolved: usize,
    pub base_pass_at_1: f64,
    pub new_pass_at_1: f64,
    /// NEW − BASE, as a fraction (−0.05 is five percentage points worse).
    pub difference: f64,
    /// Paired bootstrap 95% interval of the difference (percentile method).
    pub difference_ci95_low: f64,
    pub difference_ci95_high: f64,
    pub resamples: usize,
    pub seed: u64,
    pub both_resolved: usize,
    /// b: resolved by BASE only.
    pub base_only: usize,
    /// c: resolved by NEW only.
    pub new_only: usize,
    pub neither: usize,
    /// Exact two-sided McNemar p-value (binomial, p = 0.5, on b + c discordant pairs).
    pub p_value: f64,
    pub max_drop_pp: f64,
    pub alpha: f64,
    /// True when NEW is worse by more than `max_drop_pp` and `p_value < alpha`: the gate fails.
    pub regression: bool,
    /// One sentence on why the gate decided as it did.
    pub reason: String,
    /// Instances resolved on one side only, by id.
    pub discordant: Vec<Discordant>,
}

/// The value of the manifest's `config.harness`, as shown to people (`unknown` when absent).
pub fn harness_version(m: &Manifest) -> String {
    match m.config.get("harness") {
        None | Some(serde_json::Value::Null) => "unknown".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// Refuses runs over different datasets or harness versions unless allowed.
pub fn check_compatible(
    base: &Manifest,
    new: &Manifest,
    allow_different_datasets: bool,
    allow_different_harness: bool,
) -> Result<(), CompareError> {
    if !allow_different_datasets && base.dataset_sha256 != new.dataset_sha256 {
        return Err(CompareError::DifferentDatasets {
            base: base.dataset_sha256.clone(),
            new: new.dataset_sha256.clone(),
        });
    }
    if !allow_different_harness && base.config.get("harness") != new.config.get("harness") {
        return Err(CompareError::DifferentHarness {
            base: harness_version(base),
            new: harness_version(new),
        });
    }
    // Runs graded under different official rules (`--grader`) differ as much as two harnesses.
    if !allow_different_harness && grader(base) != grader(new) {
        return Err(CompareError::DifferentHarness {
            base: format!("{}, grading rules {}", harness_version(base), grader(base)),
            new: format!("{}, grading rules {}", harness_version(new), grader(new)),
        });
    }
    Ok(())
}

/// The grading rules a run followed; manifests from before the choice existed followed 4.x.
fn grader(m: &Manifest) -> &str {
    if m.grader.is_empty() {
        "swebench-4"
    } else {
        &m.grader
    }
}

fn outcome_name(r: Option<&Record>) -> &'static str {
    r.map(|r| r.verdict.outcome.as_str())
        .unwrap_or("not_finished")
}

fn resolved(r: Option<&Record>) -> bool {
    r.is_some_and(|r| r.verdict.outcome == Outcome::Resolved)
}

/// Compares NEW against BASE over the instances both manifests list. Does not check datasets or
/// harness versions: call [`check_compatible`] first.
pub fn compare(base: Side, new: Side, opts: Options) -> Result<Comparison, CompareError> {
    if !(opts.alpha > 0.0 && opts.alpha <= 1.0) {
        return Err(CompareError::BadOption(format!(
            "--alpha must be in (0, 1], not {}",
            opts.alpha
        )));
    }
    if !opts.max_drop_pp.is_finite() || opts.max_drop_pp < 0.0 {
        return Err(CompareError::BadOption(format!(
            "--max-drop must be a non-negative number of percentage points, not {}",
            opts.max_drop_pp
        )));
    }
    if opts.resamples == 0 {
        return Err(CompareError::BadOption(
            "the bootstrap needs at least one resample".into(),
        ));
    }
    let common: Vec<(&String, &String)> = base
        .manifest
        .instances
        .iter()
        .filter(|(id, _)| new.manifest.instances.contains_key(*id))
        .collect();
    if common.is_empty() {
        return Err(CompareError::NoCommonInstances);
    }
    let n = common.len();
    let (mut both, mut b, mut c, mut neither) = (0, 0, 0, 0);
    // Per instance: new − base ∈ {−1, 0, +1}.
    let mut deltas: Vec<i8> = Vec::with_capacity(n);
    let mut discordant = Vec::new();
    for (id, repo) in &common {
        let rb = base.latest.get(*id);
        let rn = new.latest.get(*id);
        match (resolved(rb), resolved(rn)) {
            (true, true) => both += 1,
            (false, false) => neither += 1,
            (true, false) => b += 1,
            (false, true) => c += 1,
        }
        let d = resolved(rn) as i8 - resolved(rb) as i8;
        deltas.push(d);
        if d != 0 {
            discordant.push(Discordant {
                instance_id: (*id).clone(),
                repo: (*repo).clone(),
                base: outcome_name(rb).into(),
                new: outcome_name(rn).into(),
            });
        }
    }
    let base_resolved = both + b;
    let new_resolved = both + c;
    let difference = (c as f64 - b as f64) / n as f64;
    let (lo, hi) = paired_bootstrap95(&deltas, opts.resamples, opts.seed);
    let p_value = mcnemar_exact(b, c);
    // The drop in percentage points, computed from counts so that 15/40 − 30/40 is exactly 37.5.
    let drop_pp = 100.0 * (b as f64 - c as f64) / n as f64;
    let worse_beyond = drop_pp > opts.max_drop_pp + 1e-9;
    let significant = p_value < opts.alpha;
    let regression = worse_beyond && significant;
    let reason = if regression {
        format!(
            "NEW is {} pp worse than BASE, more than the allowed {} pp, and the drop is significant (McNemar p = {} < alpha = {})",
            fmt_pp(drop_pp),
            fmt_pp(opts.max_drop_pp),
            fmt_p(p_value),
            opts.alpha
        )
    } else if drop_pp <= 0.0 {
        format!("NEW is not worse than BASE ({} pp)", signed_pp(-drop_pp))
    } else if !worse_beyond {
        format!(
            "NEW is {} pp worse than BASE, within the allowed {} pp",
            fmt_pp(drop_pp),
            fmt_pp(opts.max_drop_pp)
        )
    } else {
        format!(
            "NEW is {} pp worse than BASE, but the drop is not significant (McNemar p = {} ≥ alpha = {}): it may be noise",
            fmt_pp(drop_pp),
            fmt_p(p_value),
            opts.alpha
        )
    };
    Ok(Comparison {
        base_run: base.manifest.run_id.clone(),
        new_run: new.manifest.run_id.clone(),
        instances: n,
        only_in_base: base.manifest.instances.len() - n,
        only_in_new: new.manifest.instances.len() - n,
        base_resolved,
        new_resolved,
        base_pass_at_1: base_resolved as f64 / n as f64,
        new_pass_at_1: new_resolved as f64 / n as f64,
        difference,
        difference_ci95_low: lo,
        difference_ci95_high: hi,
        resamples: opts.resamples,
        seed: opts.seed,
        both_resolved: both,
        base_only: b,
        new_only: c,
        neither,
        p_value,
        max_drop_pp: opts.max_drop_pp,
        alpha: opts.alpha,
        regression,
        reason,
        discordant,
    })
}

/// Percentage points with at most two decimals and no trailing zeros (`37.5`, `2`, `0.25`).
pub fn fmt_pp(pp: f64) -> String {
    let s = format!("{pp:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// Percentage points with a sign when positive (`+2.5`, `0`, `-37.5`).
pub fn signed_pp(pp: f64) -> String {
    let s = fmt_pp(pp);
    if s != "0" && !s.starts_with('-') {
        format!("+{s}")
    } else {
        s
    }
}

/// A p-value for people: four decimals, or scientific notation below 0.0001.
pub fn fmt_p(p: f64) -> String {
    if p == 0.0 || p >= 1e-4 {
        format!("{p:.4}")
    } else {
        format!("{p:.2e}")
    }
}

/// `ln(k!)` for k = 0..=n.
fn ln_factorials(n: usize) -> Vec<f64> {
    let mut v = Vec::with_capacity(n + 1);
    let mut acc = 0.0f64;
    v.push(0.0);
    for k in 1..=n {
        acc += (k as f64).ln();
        v.push(acc);
    }
    v
}

/// Exact two-sided McNemar test: `min(1, 2·P(X ≤ min(b, c)))` for X ~ Binomial(b + c, 1/2),
/// summed in log space so that thousands of discordant pairs neither overflow nor underflow.
pub fn mcnemar_exact(b: usize, c: usize) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    let lf = ln_factorials(n);
    let ln_half_n = n as f64 * std::f64::consts::LN_2;
    let terms: Vec<f64> = (0..=k)
        .map(|i| lf[n] - lf[i] - lf[n - i] - ln_half_n)
        .collect();
    let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let ln_tail = m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln();
    (2.0 * ln_tail.exp()).min(1.0)
}

/// splitmix64: small, fast and fully determined by its seed.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2⁻³² for any n we meet).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// Paired bootstrap 95% interval (percentile method) of the mean of per-instance differences:
/// resample instances with replacement, `resamples` times.
pub fn paired_bootstrap95(deltas: &[i8], resamples: usize, seed: u64) -> (f64, f64) {
    let n = deltas.len();
    if n == 0 || resamples == 0 {
        return (0.0, 0.0);
    }
    let mut rng = SplitMix64::new(seed);
    let means: Vec<f64> = (0..resamples)
        .map(|_| {
            let sum: i64 = (0..n).map(|_| deltas[rng.below(n)] as i64).sum();
            sum as f64 / n as f64
        })
        .collect();
    (
        percentile(&means, 2.5).unwrap_or(0.0),
        percentile(&means, 97.5).unwrap_or(0.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Report, Verdict};

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn mcnemar_matches_exact_binomial_values() {
        // Values from exact rational arithmetic (Python fractions / scipy.stats.binomtest).
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert_eq!(mcnemar_exact(1, 0), 1.0);
        assert_eq!(mcnemar_exact(5, 5), 1.0);
        assert!(close(mcnemar_exact(10, 0), 0.001953125, 1e-12));
        assert!(close(mcnemar_exact(0, 10), 0.001953125, 1e-12));
        // n = 15, k = 3: 2·(1 + 15 + 105 + 455)/2^15.
        assert!(close(mcnemar_exact(3, 12), 0.03515625, 1e-12));
        assert!(close(mcnemar_exact(12, 3), 0.03515625, 1e-12));
        // n = 20, k = 6: 2·60460/2^20.
        assert!(close(mcnemar_exact(6, 14), 0.115318298339844, 1e-12));
        // b = 16, c = 1: 2·(1 + 17)/2^17.
        assert!(close(mcnemar_exact(16, 1), 0.000274658203125, 1e-12));
        // A large table: n = 2000, k = 950.
        assert!(close(mcnemar_exact(950, 1050), 0.026824146240280695, 1e-9));
        // Tiny p-values stay finite and positive: 2/2^3000 ≈ 1.62e-903 underflows f64, so 0.
        let p = mcnemar_exact(1500, 0);
        assert!((0.0..1e-300).contains(&p));
        let p = mcnemar_exact(500, 0);
        assert!(close(p, 2.0 * 0.5f64.powi(500), 1e-9), "{p}");
    }

    #[test]
    fn splitmix_is_the_reference_sequence() {
        // Reference outputs of splitmix64 seeded with 0 (Vigna's C implementation).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(r.next_u64(), 0x06c4_5d18_8009_454f);
        let mut r = SplitMix64::new(7);
        for _ in 0..1000 {
            assert!(r.below(13) < 13);
        }
    }

    #[test]
    fn bootstrap_is_deterministic_and_brackets_the_difference() {
        let mut d = vec![0i8; 40];
        for x in d.iter_mut().take(16) {
            *x = -1;
        }
        d[39] = 1;
        let a = paired_bootstrap95(&d, 10_000, 1);
        let b = paired_bootstrap95(&d, 10_000, 1);
        assert_eq!(a, b);
        let mean = -15.0 / 40.0;
        assert!(a.0 < mean && mean < a.1, "{a:?}");
        assert!(a.1 < 0.0, "{a:?}");
        // No discordant pair: no spread at all.
        assert_eq!(paired_bootstrap95(&[0; 10], 1000, 3), (0.0, 0.0));
    }

    fn manifest(id: &str, n: usize, ds: &str, harness: &str) -> Manifest {
        Manifest {
            run_id: id.into(),
            dataset_sha256: ds.into(),
            config: serde_json::json!({ "harness": harness }),
            instances: (0..n)
                .map(|i| (format!("r__x-{i:03}"), "r/x".to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn records(n: usize, resolved: impl Fn(usize) -> Option<bool>) -> HashMap<String, Record> {
        (0..n)
            .filter_map(|i| {
                let res = resolved(i)?;
                let verdict = Verdict {
                    outcome: if res {
                        Outcome::Resolved
                    } else {
                        Outcome::Unresolved
                    },
                    report: Report::default(),
                    infra_error: None,
                    patch_problem: None,
                    flaky: vec![],
                };
                let r: Record = serde_json::from_value(serde_json::json!({
                    "instance_id": format!("r__x-{i:03}"),
                    "repo": "r/x",
                    "policy": "p",
                    "patch_sha256": "",
                    "cache_key": "",
                    "sandbox": "docker",
                    "verdict": verdict,
                    "stats": crate::Stats::default(),
                }))
                .unwrap();
                Some((r.instance_id.clone(), r))
            })
            .collect()
    }

    #[test]
    fn a_real_drop_fails_the_gate() {
        let mb = manifest("base", 40, "d", "1");
        let mn = manifest("new", 40, "d", "1");
        let rb = records(40, |i| Some(i < 30));
        // New resolves 0..14 and 39: b = 16 (14..30), c = 1 (39).
        let rn = records(40, |i| Some(i < 14 || i == 39));
        let c = compare(
            Side {
                manifest: &mb,
                latest: &rb,
            },
            Side {
                manifest: &mn,
                latest: &rn,
            },
            Options::default(),
        )
        .unwrap();
        assert_eq!((c.base_resolved, c.new_resolved), (30, 15));
        assert_eq!((c.base_only, c.new_only, c.both_resolved), (16, 1, 14));
        assert_eq!(c.neither, 9);
        assert!(close(c.difference, -0.375, 1e-12));
        assert!(close(c.p_value, 0.000274658203125, 1e-12));
        assert!(c.regression, "{}", c.reason);
        assert!(c.difference_ci95_low < -0.375 && c.difference_ci95_high < 0.0);
        assert_eq!(c.discordant.len(), 17);
        assert_eq!(c.discordant[0].base, "resolved");
        assert_eq!(c.discordant[0].new, "unresolved");
        // A generous threshold lets the same drop pass.
        let c = compare(
            Side {
                manifest: &mb,
                latest: &rb,
            },
            Side {
                manifest: &mn,
                latest: &rn,
            },
            Options {
                max_drop_pp: 40.0,
                ..Options::default()
            },
        )
        .unwrap();
        assert!(!c.regression);
        assert!(
            c.reason.contains("within the allowed 40 pp"),
            "{}",
            c.reason
        );
    }

    #[test]
    fn noise_and_missing_records_pass() {
        let mb = manifest("base", 40, "d", "1");
        // NEW lists two more instances; they are left out.
        let mn = manifest("new", 42, "d", "1");
        let rb = records(40, |i| Some(i < 20));
        // New: resolves 0..17 and 20; 18, 19 missing records (not resolved). b = 2, c = 1.
        let rn = records(42, |i| match i {
            18 | 19 => None,
            _ => Some(i < 18 || i == 20),
        });
        let c = compare(
            Side {
                manifest: &mb,
                latest: &rb,
            },
            Side {
                manifest: &mn,
                latest: &rn,
            },
            Options::default(),
        )
        .unwrap();
        assert_eq!(c.instances, 40);
        assert_eq!((c.only_in_base, c.only_in_new), (0, 2));
        assert_eq!((c.base_resolved, c.new_resolved), (20, 19));
        assert_eq!((c.base_only, c.new_only), (2, 1));
        assert_eq!(c.p_value, 1.0);
        assert!(!c.regression);
        assert!(c.reason.contains("not significant"), "{}", c.reason);
        assert!(
            c.discordant
                .iter()
                .any(|d| d.instance_id == "r__x-018" && d.new == "not_finished")
        );
    }

    #[test]
    fn improvements_pass() {
        let m = manifest("m", 10, "d", "1");
        let rb = records(10, |_| Some(false));
        let rn = records(10, |_| Some(true));
        let c = compare(
            Side {
                manifest: &m,
                latest: &rb,
            },
            Side {
                manifest: &m,
                latest: &rn,
            },
            Options::default(),
        )
        .unwrap();
        assert!(!c.regression);
        assert!(c.reason.contains("not worse"), "{}", c.reason);
        assert!(close(c.difference, 1.0, 1e-12));
        assert_eq!((c.difference_ci95_low, c.difference_ci95_high), (1.0, 1.0));
    }

    #[test]
    fn runs_graded_under_different_rules_are_refused_unless_allowed() {
        let a = manifest("a", 3, "d", "1");
        let mut b = manifest("b", 3, "d", "1");
        b.grader = "swebench-5".into();
        let msg = check_compatible(&a, &b, false, false)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("grading rules swebench-4") && msg.contains("grading rules swebench-5"),
            "{msg}"
        );
        assert!(check_compatible(&a, &b, false, true).is_ok());
        b.grader = "swebench-4".into();
        assert!(check_compatible(&a, &b, false, false).is_ok());
    }

    #[test]
    fn different_datasets_and_harnesses_are_refused_unless_allowed() {
        let a = manifest("a", 3, "aaa", "1");
        let b = manifest("b", 3, "bbb", "1");
        let e = check_compatible(&a, &b, false, false).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("aaa") && msg.contains("bbb"), "{msg}");
        assert!(check_compatible(&a, &b, true, false).is_ok());
        let c = manifest("c", 3, "aaa", "2");
        let msg = check_compatible(&a, &c, false, false)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("harness 1") && msg.contains("harness 2"),
            "{msg}"
        );
        assert!(check_compatible(&a, &c, false, true).is_ok());
        let mut d = manifest("d", 3, "aaa", "1");
        d.config = serde_json::json!({});
        let msg = check_compatible(&a, &d, false, false)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("harness unknown"), "{msg}");
    }

    #[test]
    fn bad_options_and_disjoint_runs_are_errors() {
        let a = manifest("a", 3, "d", "1");
        let r = records(3, |_| Some(true));
        let side = Side {
            manifest: &a,
            latest: &r,
        };
        let bad = |o: Options| compare(side, side, o).unwrap_err();
        assert!(matches!(
            bad(Options {
                alpha: 0.0,
                ..Options::default()
            }),
            CompareError::BadOption(_)
        ));
        assert!(matches!(
            bad(Options {
                max_drop_pp: -1.0,
                ..Options::default()
            }),
            CompareError::BadOption(_)
        ));
        let mut other = manifest("o", 0, "d", "1");
        other.instances.insert("zzz".into(), "r/x".into());
        assert_eq!(
            compare(
                side,
                Side {
                    manifest: &other,
                    latest: &r
                },
                Options::default()
            )
            .unwrap_err(),
            CompareError::NoCommonInstances
        );
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_pp(37.5), "37.5");
        assert_eq!(fmt_pp(2.0), "2");
        assert_eq!(fmt_pp(0.25), "0.25");
        assert_eq!(fmt_pp(-0.0), "0");
        assert_eq!(fmt_p(1.0), "1.0000");
        assert_eq!(fmt_p(0.000274658), "0.0003");
        assert_eq!(fmt_p(0.0000123), "1.23e-5");
    }
}
