//! The command line: one module per command.

mod common;
mod compare;
mod datasets;
pub mod exit;
mod export;
#[cfg(feature = "docker")]
mod images;
mod lm;
mod regrade;
mod replay;
mod report;
mod run;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "protege",
    version,
    about = "Evaluate software-engineering agents on SWE-bench tasks, reproducibly"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate a policy on a task set and write results/<run_id>/ (the default command).
    Run(run::RunArgs),
    /// SWE-bench-compatible evaluation of a predictions file.
    Eval(run::EvalArgs),
    /// Tables of a finished (or interrupted) run.
    Report(report::ReportArgs),
    /// Regression gate between two runs: exit 1 on a significant drop.
    Compare(compare::CompareArgs),
    /// Re-grade an official-layout log folder without any sandbox.
    Regrade(regrade::RegradeArgs),
    /// Re-execute an agent trajectory in a fresh workspace and check it reproduces its patch.
    ReplayTrajectory(replay::ReplayArgs),
    /// Training data from a run: `export sft RUN` (docs/sft.md).
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// Episodes, grading and GRPO rollouts over HTTP/JSON, for RL trainers.
    Serve(serve::ServeArgs),
    /// Local and remote language models: serve, generate, fetch.
    #[command(subcommand)]
    Lm(lm::LmCommand),
    /// Build, pull and list evaluation images.
    #[cfg(feature = "docker")]
    #[command(subcommand)]
    Images(images::ImagesCommand),
    /// Fetch, verify and list task sets.
    #[command(subcommand)]
    Datasets(datasets::DatasetsCommand),
}

/// Options shared by commands that read a task set.
#[derive(Args, Clone)]
pub struct DatasetArgs {
    /// mini (built in), verified, lite, full, swe-gym, swe-gym-lite, swe-smith, swe-rebench,
    /// r2e-gym-lite (from the cache, else the Hugging Face hub), NAME:PATH (a local file in that
    /// set's schema), or a path to a JSONL, JSON or Parquet file (schema detected per row).
    #[arg(long, default_value = "mini")]
    pub dataset: String,
    /// Instance ids or globs, comma-separated or repeated (`django__*`).
    #[arg(long)]
    pub instances: Vec<String>,
    /// Image names for a private registry: `registry:5000/{image}`; placeholders {image} (the
    /// set's own name), {id} (`__` → `_1776_`, lower-case), {instance_id}, {owner}, {repo},
    /// {commit}, {commit8} (docs/datasets.md).
    #[arg(long)]
    pub image_template: Option<String>,
    /// How SWE-smith tasks reach their start state: `patch` (the default: the bug patch applied
    /// offline to the image's clean tree) or `branch` (the bug branch fetched from SWE-smith's
    /// GitHub mirror, as its harness does; needs the network, for the set-up only).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(protege_harness::sets::swe_smith::Start::NAMES))]
    pub swe_smith_start: Option<String>,
}

/// Where results go.
#[derive(Args, Clone)]
pub struct OutArgs {
    /// The parent folder of run folders.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
}

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None => run::run(run::RunArgs::default_job()).await,
        Some(Command::Run(a)) => run::run(a).await,
        Some(Command::Eval(a)) => run::eval(a).await,
        Some(Command::Report(a)) => report::report(a),
        Some(Command::Compare(a)) => compare::compare(a),
        Some(Command::Regrade(a)) => regrade::regrade(a),
        Some(Command::ReplayTrajectory(a)) => replay::replay(a).await,
        Some(Command::Export(c)) => export::export(c),
        Some(Command::Serve(a)) => serve::serve(a).await,
        Some(Command::Lm(c)) => lm::lm(c).await,
        #[cfg(feature = "docker")]
        Some(Command::Images(c)) => images::images(c).await,
        Some(Command::Datasets(c)) => datasets::datasets(c),
    }
}
