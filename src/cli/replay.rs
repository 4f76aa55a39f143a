//! `protege replay-trajectory TRAJ.json`: re-executes an agent's actions in a fresh workspace
//! and checks that they reproduce the patch it submitted.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use protege_harness::images;
use protege_policies::agent;
use protege_policies::trajectory::Trajectory;
use protege_sandboxes::Sandbox;
use protege_sandboxes::docker::{ContainerLimits, DockerEngine, DockerSandbox};

use super::DatasetArgs;
use super::common::load_dataset;
use super::run::load_config;

#[derive(Args)]
pub struct ReplayArgs {
    /// A trajectory file, `results/<run>/trajectories/<instance>.json`.
    pub trajectory: PathBuf,
    #[command(flatten)]
    pub data: DatasetArgs,
    /// The run's `--config` file (the agent's action names must match).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the reproduced patch on stdout.
    #[arg(long)]
    pub print: bool,
}

pub async fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.trajectory)
        .with_context(|| format!("reading {}", args.trajectory.display()))?;
    let traj: Trajectory = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a protege trajectory", args.trajectory.display()))?;
    let set = load_dataset(&args.data)?;
    let Some(task) = set.get(&traj.instance_id) else {
        bail!(
            "{}: instance `{}` is not in dataset {}",
            args.trajectory.display(),
            traj.instance_id,
            set.name
        );
    };
    let cfg = load_config(args.config.as_deref())?.agent;
    let engine = DockerEngine::connect().await?;
    let image = images::resolve(&engine, task, &|l| eprintln!("  {l}")).await?;
    let ws =
        DockerSandbox::start(&engine, &image.name, "replay", &ContainerLimits::default()).await?;
    let result = agent::replay(&traj, task, &ws, &cfg).await;
    ws.close().await?;
    let patch = result.map_err(anyhow::Error::msg)?;
    if args.print {
        print!("{patch}");
    }
    if patch == traj.patch {
        eprintln!(
            "{}: the replayed actions reproduce the submitted patch ({} bytes)",
            traj.instance_id,
            patch.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{}: the replayed patch ({} bytes) differs from the submitted one ({} bytes)",
            traj.instance_id,
            patch.len(),
            traj.patch.len()
        );
        Ok(ExitCode::from(1))
    }
}
