//! `protege regrade --logs DIR --dataset PATH`: official-layout logs re-graded without a sandbox.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
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
}

pub fn regrade(args: RegradeArgs) -> anyhow::Result<ExitCode> {
    let set = load_dataset(&args.data)?;
    let summary = regrade_dir(&args.logs, &set, &args.out)?;
    println!(
        "instances {}  completed {}  resolved {}  unresolved {}  errors {}  empty patches {}",
        summary.instances,
        summary.completed,
        summary.resolved,
        summary.unresolved,
        summary.error,
        summary.empty_patch
    );
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
