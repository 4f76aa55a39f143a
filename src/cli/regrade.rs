//! `protege regrade --logs DIR --dataset PATH [--grader auto]`: official-layout logs re-graded
//! without a sandbox, under the rules of the official version that wrote them (or the chosen ones).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use protege_harness::grading::rules::GraderChoice;
use protege_harness::regrade::regrade_dir;

use super::DatasetArgs;
use super::common::load_dataset;

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
    /// The official harness version whose rules grade the logs: swebench-5, swebench-4,
    /// swebench-2 (whole-log parsing), or auto: each log's own (no start/end markers → 2.x,
    /// markers without a `>>>>> Test Exit Code` line → 4.x, with one → 5.x).
    #[arg(long, default_value = "auto")]
    pub grader: String,
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
    Ok(ExitCode::SUCCESS)
}
