//! `protege report RUN`: tables from a run folder's records and manifest.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::exit::Exit;
use anyhow::{Context, bail};
use clap::Args;
use protege_results::html;
use protege_results::manifest::Manifest;
use protege_results::tables::{self, Table};
use protege_results::{Record, store};

#[derive(Args)]
pub struct ReportArgs {
    /// A run folder, `results/<run_id>`.
    pub run: PathBuf,
    /// Also write `report.html` in the run folder: one self-contained page.
    #[arg(long)]
    pub html: bool,
}

/// Writes `tables/*` under the run folder and returns them.
pub fn write_tables(
    run_dir: &Path,
    repos: &[&str],
    latest: &[&Record],
) -> anyhow::Result<Vec<Table>> {
    let t = tables::build(repos, latest);
    tables::write(&run_dir.join("tables"), &t)
        .with_context(|| format!("writing {}/tables", run_dir.display()))?;
    Ok(t)
}

/// The summary and per-repository tables, as markdown on stdout.
pub fn print_tables(t: &[Table]) {
    for table in t.iter().filter(|t| t.name != "instances") {
        println!("{}", table.markdown());
    }
}

/// [`print_tables`] on stderr, for when stdout carries something else (`--events -`).
pub fn eprint_tables(t: &[Table]) {
    for table in t.iter().filter(|t| t.name != "instances") {
        eprintln!("{}", table.markdown());
    }
}

pub fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let manifest_path = args.run.join("manifest.json");
    if !manifest_path.exists() {
        bail!(
            "{}: not a run folder (no manifest.json)",
            args.run.display()
        );
    }
    let manifest = Manifest::load(&manifest_path).map_err(anyhow::Error::msg)?;
    let loaded = store::load(&args.run.join("records.jsonl"));
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let repos: Vec<&str> = manifest.instances.values().map(String::as_str).collect();
    let latest: Vec<&Record> = manifest
        .instances
        .keys()
        .filter_map(|id| loaded.latest.get(id))
        .collect();
    let t = write_tables(&args.run, &repos, &latest)?;
    print_tables(&t);
    if args.html {
        let agent = html::agent_stats_from_jsonl(&args.run.join("records.jsonl"));
        let page = html::render(&manifest, &latest, &agent);
        let path = args.run.join("report.html");
        std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report: {}", path.display());
    }
    Ok(Exit::Success.into())
}
