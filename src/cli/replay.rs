//! `protege replay-trajectory TRAJ.json`: re-executes an agent's actions in a fresh workspace
//! and checks that they reproduce the patch it submitted.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use protege_harness::grader::{Engines, Grader, SandboxKind};
use protege_harness::stop::StopSignals;
use protege_policies::agent;
use protege_policies::trajectory::Trajectory;
use protege_sandboxes::ContainerLimits;

use super::DatasetArgs;
use super::common::{K8sArgs, load_dataset};
use super::exit::Exit;
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
    /// The workspace to replay in: docker, k8s, or wasi (built-in tasks).
    #[arg(long, default_value = "docker")]
    pub sandbox: String,
    #[command(flatten)]
    pub k8s: K8sArgs,
}

pub async fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    // A stop signal while the workspace container exists removes it before exiting; one that
    // arrives while it is being started is acted on once it has started.
    let mut signals = StopSignals::install().context("listening for stop signals")?;
    let text = std::fs::read_to_string(&args.trajectory)
        .with_context(|| format!("reading {}", args.trajectory.display()))?;
    let traj: Trajectory = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a protege trajectory", args.trajectory.display()))?;
    if !traj.stages.is_empty() {
        // A staged pipeline's model calls are not workspace actions: nothing to re-execute.
        bail!(
            "{}: a staged ({}) trajectory has no actions to replay; its patch is the trajectory's `patch`",
            args.trajectory.display(),
            traj.policy
        );
    }
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
    // The workspace the run's agent had, opened the way the runner opens it; its own label, so
    // that a stop signal removes exactly this replay's container.
    let kind = match SandboxKind::parse(&args.sandbox) {
        Ok(SandboxKind::Auto) | Err(_) => {
            bail!("--sandbox {}: expected docker, k8s or wasi", args.sandbox)
        }
        Ok(kind) => kind,
    };
    let k8s = args.k8s.options()?;
    let engines = Engines::connect(kind.backends(), &k8s).await;
    engines.check(kind.backends())?;
    let mut grader = Grader::new(
        engines,
        format!("replay-{}", std::process::id()),
        ContainerLimits::default(),
        std::time::Duration::from_secs(cfg.command_timeout_s),
        0,
    );
    grader.k8s = k8s;
    let env = grader.environment(task, kind).await;
    let ws = grader
        .open_workspace(task, &env)
        .await
        .with_context(|| format!("{}: no workspace", task.instance_id))?;
    let result = tokio::select! {
        r = agent::replay(&traj, task, ws.as_ref(), &cfg) => Ok(r),
        s = signals.recv() => Err(s),
    };
    ws.close().await?;
    let result = match result {
        Ok(r) => r,
        Err(signal) => {
            grader.remove_all().await;
            eprintln!("interrupted ({}): workspace removed", signal.name());
            return Ok(Exit::Stopped(signal).into());
        }
    };
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
        Ok(Exit::Success.into())
    } else {
        eprintln!(
            "{}: the replayed patch ({} bytes) differs from the submitted one ({} bytes)",
            traj.instance_id,
            patch.len(),
            traj.patch.len()
        );
        Ok(Exit::Failed.into())
    }
}
