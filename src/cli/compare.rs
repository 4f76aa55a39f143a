//! `protege compare BASE NEW`: a regression gate between two run folders. Exit 1 only when NEW is
//! worse by more than `--max-drop` percentage points and the exact McNemar test says the drop is
//! significant at `--alpha`; exit 0 otherwise; exit 2 on bad input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::exit::Exit;
use anyhow::bail;
use clap::Args;
use protege_results::compare::{self, Comparison, Options, Side, fmt_p, fmt_pp, signed_pp};
use protege_results::manifest::Manifest;
use protege_results::store;

#[derive(Args)]
pub struct CompareArgs {
    /// The baseline run folder, `results/<run_id>`.
    pub base: PathBuf,
    /// The run folder to check against the baseline.
    pub new: PathBuf,
    /// Percentage points NEW may lose against BASE before the gate can fail.
    #[arg(long, value_name = "PP", default_value_t = 0.0)]
    pub max_drop: f64,
    /// Significance level of the exact McNemar test.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Compare runs whose manifests name different datasets (dataset_sha256).
    #[arg(long)]
    pub allow_different_datasets: bool,
    /// Compare runs graded by different harness versions (config.harness).
    #[arg(long)]
    pub allow_different_harness: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Bootstrap resamples for the interval of the difference.
    #[arg(long, default_value_t = 10_000)]
    pub resamples: usize,
    /// Seed of the bootstrap (same seed, same interval).
    #[arg(long, default_value_t = compare::DEFAULT_SEED)]
    pub seed: u64,
}

fn load_run(dir: &Path, which: &str) -> anyhow::Result<(Manifest, store::Loaded)> {
    let manifest_path = dir.join("manifest.json");
    if !manifest_path.exists() {
        bail!(
            "{which} {}: not a run folder (no manifest.json)",
            dir.display()
        );
    }
    let manifest = Manifest::load(&manifest_path)
        .map_err(|e| anyhow::anyhow!("{which} manifest unreadable: {e}"))?;
    let loaded = store::load(&dir.join("records.jsonl"));
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    Ok((manifest, loaded))
}

pub fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let (mb, lb) = load_run(&args.base, "BASE")?;
    let (mn, ln) = load_run(&args.new, "NEW")?;
    compare::check_compatible(
        &mb,
        &mn,
        args.allow_different_datasets,
        args.allow_different_harness,
    )?;
    let c = compare::compare(
        Side {
            manifest: &mb,
            latest: &lb.latest,
        },
        Side {
            manifest: &mn,
            latest: &ln.latest,
        },
        Options {
            max_drop_pp: args.max_drop,
            alpha: args.alpha,
            resamples: args.resamples,
            seed: args.seed,
        },
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        print_human(&c, &args.base, &args.new);
    }
    Ok(if c.regression {
        Exit::Failed.into()
    } else {
        Exit::Success.into()
    })
}

fn print_human(c: &Comparison, base: &Path, new: &Path) {
    let pp = |x: f64| fmt_pp(100.0 * x);
    println!("BASE {} (run {})", base.display(), c.base_run);
    println!("NEW  {} (run {})", new.display(), c.new_run);
    print!("instances compared: {}", c.instances);
    if c.only_in_base + c.only_in_new > 0 {
        print!(
            " ({} only in BASE and {} only in NEW are left out)",
            c.only_in_base, c.only_in_new
        );
    }
    println!();
    println!(
        "Pass@1  BASE {}% ({}/{})  NEW {}% ({}/{})",
        pp(c.base_pass_at_1),
        c.base_resolved,
        c.instances,
        pp(c.new_pass_at_1),
        c.new_resolved,
        c.instances
    );
    println!(
        "difference (NEW - BASE): {} pp, 95% CI [{}, {}] pp (paired bootstrap, {} resamples)",
        signed_pp(100.0 * c.difference),
        signed_pp(100.0 * c.difference_ci95_low),
        signed_pp(100.0 * c.difference_ci95_high),
        c.resamples
    );
    println!(
        "discordant pairs: b = {} (resolved by BASE only), c = {} (resolved by NEW only); both {}, neither {}",
        c.base_only, c.new_only, c.both_resolved, c.neither
    );
    println!("McNemar exact p = {}", fmt_p(c.p_value));
    println!(
        "decision: {}: {}",
        if c.regression {
            "REGRESSION (exit 1)"
        } else {
            "pass (exit 0)"
        },
        c.reason
    );
    if c.discordant.is_empty() {
        println!("discordant instances: none");
    } else {
        println!("discordant instances (BASE → NEW):");
        let w = c
            .discordant
            .iter()
            .map(|d| d.instance_id.len())
            .max()
            .unwrap_or(0);
        for d in &c.discordant {
            println!("  {:w$}  {} → {}", d.instance_id, d.base, d.new);
        }
    }
}
