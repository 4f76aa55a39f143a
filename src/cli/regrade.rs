//! `protege regrade --logs DIR --dataset PATH [--grader auto]`: official-layout logs re-graded
//! without a sandbox, under the rules of the official version that wrote them (or the chosen ones).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use protege_datasets::TaskSet;
use protege_harness::grading::rules::GraderChoice;
use protege_harness::regrade::{Summary, regrade_dir};
use protege_results::summary::{Category, RunSummary};

use super::DatasetArgs;
use super::common::load_dataset;
use super::exit::Exit;

#[derive(Args)]
pub struct RegradeArgs {
    /// A folder of `<instance_id>/test_output.txt` folders (the official log layout).
    #[arg(long)]
    pub logs: PathBuf,
    #[command(flatten)]
    pub data: DatasetArgs,
    /// Where the regenerated reports go.
    #[arg(long, default_value = "results/regrade")]
    pub out: PathBuf,
    /// The `<model>` of the run summary `<model>.<run_id>.json`. Default: the model folder of
    /// the official layout `run_evaluation/<run_id>/<model>/`, else `regrade`.
    #[arg(long)]
    pub model: Option<String>,
    /// The `<run_id>` of the run summary. Default: the run folder of the official layout, else
    /// `regrade`.
    #[arg(long)]
    pub run_id: Option<String>,
    /// The official harness version whose rules grade the logs: swebench-5, swebench-4,
    /// swebench-2 (whole-log parsing), or auto: each log's own (no start/end markers → 2.x,
    /// markers without a `>>>>> Test Exit Code` line → 4.x, with one → 5.x).
    #[arg(long, default_value = "auto")]
    pub grader: String,
}

/// `(run_id, model)` from the official layout `…/run_evaluation/<run_id>/<model>`.
fn official_layout(logs: &Path) -> Option<(String, String)> {
    let logs = logs.canonicalize().ok()?;
    let model = logs.file_name()?.to_str()?.to_string();
    let run = logs.parent()?;
    let run_id = run.file_name()?.to_str()?.to_string();
    (run.parent()?.file_name()? == "run_evaluation").then_some((run_id, model))
}

/// The official run summary of a regrade: every instance folder found is a submission; an
/// instance of the set without one is incomplete.
fn run_summary(s: &Summary, set: &TaskSet) -> RunSummary {
    let lists = [
        (&s.resolved_ids, Category::Resolved),
        (&s.unresolved_ids, Category::Unresolved),
        (&s.empty_patch_ids, Category::EmptyPatch),
        (&s.error_ids, Category::Error),
    ];
    let evaluated: BTreeMap<String, Category> = lists
        .iter()
        .flat_map(|(ids, c)| ids.iter().map(|id| (id.clone(), *c)))
        .collect();
    RunSummary::build(
        set.tasks.iter().map(|t| t.instance_id.as_str()),
        evaluated.keys().map(String::as_str),
        &evaluated,
    )
}

pub fn regrade(args: RegradeArgs) -> anyhow::Result<ExitCode> {
    let choice = GraderChoice::parse(&args.grader).map_err(|e| anyhow::anyhow!("--grader: {e}"))?;
    let set = load_dataset(&args.data)?;
    let summary = regrade_dir(&args.logs, &set, &args.out, choice)?;
    println!(
        "instances {}  completed {}  resolved {}  unresolved {}  errors {}  empty patches {}",
        summary.instances,
        summary.completed,
        summary.resolved,
        summary.unresolved,
        summary.error,
        summary.empty_patch
    );
    let used: Vec<String> = summary
        .rules_used
        .iter()
        .map(|(r, n)| format!("{r} ({n})"))
        .collect();
    println!("grading rules ({}): {}", summary.grader, used.join(", "));
    if !summary.failure_reasons.is_empty() {
        println!(
            "likely infrastructure failures {}, ambiguous failures {}",
            summary.infra_failure_ids.len(),
            summary.ambiguous_failure_ids.len()
        );
    }
    if summary.compared > 0 {
        println!(
            "compared with the official reports: {} of {} agree",
            summary.matches, summary.compared
        );
        for m in &summary.mismatches {
            println!(
                "  differs: {} ({})",
                m.instance_id,
                m.differences.join("; ")
            );
        }
    }
    println!("reports: {}", args.out.display());
    let layout = official_layout(&args.logs);
    let run_id = args
        .run_id
        .or_else(|| layout.as_ref().map(|l| l.0.clone()))
        .unwrap_or_else(|| "regrade".into());
    let model = args
        .model
        .or_else(|| layout.map(|l| l.1))
        .unwrap_or_else(|| "regrade".into());
    let path = run_summary(&summary, &set)
        .write(&args.out, &model, &run_id)
        .with_context(|| format!("writing the run summary into {}", args.out.display()))?;
    println!("run summary (official shape): {}", path.display());
    Ok(Exit::Success.into())
}
