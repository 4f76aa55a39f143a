//! `protege images build|pull|list|prune`, and the pull options of `run` and `eval`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use clap::{Args, Subcommand};
use futures_util::StreamExt;
use protege_datasets::mini;
use protege_harness::images;
use protege_harness::images::pipeline::{ImagePipeline, PullSettings};
use protege_harness::sets;
use protege_sandboxes::docker::DockerEngine;

use super::DatasetArgs;
use super::common::load_dataset;
use super::exit::Exit;

#[derive(Subcommand)]
pub enum ImagesCommand {
    /// Build the evaluation images protege makes itself (the mini set's; base from a Debian
    /// rootfs when no base image can be pulled).
    Build(BuildArgs),
    /// Pull the task set's prebuilt images (official SWE-bench ones, or --image-template's).
    Pull {
        #[command(flatten)]
        data: DatasetArgs,
        #[command(flatten)]
        limits: PullLimits,
    },
    /// Local images protege can use.
    List,
    /// Remove the task set's pulled instance images, least recently pulled first, until the
    /// rest fit --disk-budget (never one a container uses, one protege built, or a base or
    /// environment image).
    Prune(PruneArgs),
}

/// How pulls treat the registry (`run`, `eval`, `images pull`).
#[derive(Args, Clone)]
pub struct PullLimits {
    /// Pulls at once.
    #[arg(long, default_value_t = 2)]
    pub pull_concurrency: usize,
    /// Pull attempts in any 60 seconds (registries refuse bursts: Docker Hub answers 429).
    #[arg(long, default_value_t = 60)]
    pub pulls_per_minute: usize,
    /// Further attempts of a pull the registry answers with 429 or 5xx (waiting 1 s, 2 s, 4 s, …).
    #[arg(long, default_value_t = 5)]
    pub pull_retries: usize,
}

/// The image pipeline of `run` and `eval` (docs/images.md).
#[derive(Args, Clone)]
pub struct PipelineArgs {
    #[command(flatten)]
    pub limits: PullLimits,
    /// Pull the images of this many instances beyond those being worked on while they are
    /// graded (0: each worker pulls its own image when it gets to it).
    #[arg(long, default_value_t = 4)]
    pub image_lookahead: usize,
    /// GB (10^9 bytes) the run's pulled instance images may take at once: once graded, the
    /// least recently used are removed when a pull would go over. Unlimited by default.
    #[arg(long, value_name = "GB")]
    pub disk_budget: Option<f64>,
}

#[derive(Args)]
pub struct PruneArgs {
    #[command(flatten)]
    data: DatasetArgs,
    /// GB (10^9 bytes) the set's instance images may keep (0: remove them all).
    #[arg(long, value_name = "GB", default_value_t = 0.0)]
    disk_budget: f64,
    /// Say what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
}

/// `--disk-budget` in bytes.
fn budget_bytes(gb: f64) -> anyhow::Result<u64> {
    if !gb.is_finite() || gb < 0.0 {
        bail!("--disk-budget {gb}: expected a size in GB, 0 or more (e.g. 50 or 0.5)");
    }
    Ok((gb * 1e9).round() as u64)
}

impl PullLimits {
    fn settings(&self) -> anyhow::Result<PullSettings> {
        for (flag, v) in [
            ("--pull-concurrency", self.pull_concurrency),
            ("--pulls-per-minute", self.pulls_per_minute),
        ] {
            if v == 0 {
                bail!("{flag} 0: at least 1 is needed for any image to be pulled");
            }
        }
        Ok(PullSettings {
            concurrency: self.pull_concurrency,
            per_minute: self.pulls_per_minute,
            retries: self.pull_retries,
            ..Default::default()
        })
    }
}

impl PipelineArgs {
    pub fn settings(&self) -> anyhow::Result<PullSettings> {
        let budget = match self.disk_budget {
            Some(gb) if gb <= 0.0 => {
                bail!("--disk-budget {gb}: a budget must be more than 0 GB")
            }
            Some(gb) => Some(budget_bytes(gb)?),
            None => None,
        };
        Ok(PullSettings {
            lookahead: self.image_lookahead,
            disk_budget: budget,
            ..self.limits.settings()?
        })
    }
}

#[derive(Args)]
pub struct BuildArgs {
    #[command(flatten)]
    data: DatasetArgs,
    /// Rebuild images that already exist.
    #[arg(long)]
    force: bool,
}

pub async fn images(cmd: ImagesCommand) -> anyhow::Result<ExitCode> {
    let engine = DockerEngine::connect().await?;
    match cmd {
        ImagesCommand::Build(a) => {
            let set = load_dataset(&a.data)?;
            let (builtin, other): (Vec<_>, Vec<_>) = set
                .tasks
                .into_iter()
                .partition(|t| mini::is_mini(&t.instance_id));
            let progress = |line: &str| {
                if line.starts_with("Step ") || line.contains("cannot be pulled") {
                    eprintln!("  {line}");
                }
            };
            if !builtin.is_empty() {
                for (id, image) in images::build_mini(&engine, &builtin, a.force, &progress).await?
                {
                    println!("{id}\t{}", &image[..image.len().min(19)]);
                }
            }
            // Real SWE-bench instances: base, environment and instance layers from the specs.
            let (other, prebuilt): (Vec<_>, Vec<_>) =
                other.into_iter().partition(|t| t.set.is_empty());
            if !prebuilt.is_empty() {
                eprintln!(
                    "note: {} task(s) of {} run in images their set publishes prebuilt; protege does not build them (`protege images pull`, or --image-template for a registry that has them)",
                    prebuilt.len(),
                    sets::for_task(&prebuilt[0]).name()
                );
            }
            let mut failed = 0;
            for t in &other {
                match images::build_swebench(&engine, t, a.force, &progress).await {
                    Ok(image) => println!("{}\t{}", t.instance_id, &image[..image.len().min(19)]),
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: {}: {e}", t.instance_id);
                    }
                }
            }
            if failed > 0 {
                bail!(
                    "{failed} of {} image(s) could not be built (see the errors above)",
                    other.len()
                );
            }
            Ok(Exit::Success.into())
        }
        ImagesCommand::Pull { data, limits } => {
            let set = load_dataset(&data)?;
            let settings = limits.settings()?;
            let concurrency = settings.concurrency;
            let pulls = Arc::new(ImagePipeline::new(settings, None));
            let engine = &engine;
            let results: Vec<_> = futures_util::stream::iter(set.tasks.iter().map(|t| {
                let pulls = pulls.clone();
                async move {
                    let name = images::pullable_names(t)
                        .into_iter()
                        .next()
                        .unwrap_or_default();
                    let r = match engine.image_id(&name).await {
                        Ok(Some(id)) => Ok(id),
                        _ => pulls.pull(engine, &name, &t.instance_id).await,
                    };
                    (t, name, r)
                }
            }))
            .buffered(concurrency)
            .collect()
            .await;
            let mut failed = 0;
            for (t, name, r) in results {
                match r {
                    Ok(id) => println!("{}\t{name}\t{id}", t.instance_id),
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: {}: {e}", t.instance_id);
                    }
                }
            }
            let report = pulls.report();
            let retried = report
                .pulls
                .iter()
                .filter(|p| p.attempts_ms.len() > 1)
                .count();
            eprintln!(
                "{} pulled, {failed} failed, {retried} retried after 429/5xx; {:.1} s pulling",
                report.pulls.len() - failed.min(report.pulls.len()),
                report.pull_ms as f64 / 1000.0
            );
            Ok(if failed == 0 {
                Exit::Success.into()
            } else {
                Exit::Failed.into()
            })
        }
        ImagesCommand::Prune(a) => {
            let set = load_dataset(&a.data)?;
            let budget = budget_bytes(a.disk_budget)?;
            let p = images::prune::prune(&engine, &set.tasks, budget, a.dry_run).await?;
            let verb = if a.dry_run { "would remove" } else { "removed" };
            for (name, bytes) in &p.removed {
                println!("{verb}\t{name}\t{:.0} MB", *bytes as f64 / 1e6);
            }
            for name in &p.in_use {
                eprintln!("kept {name}: a container was made from it");
            }
            for (name, why) in &p.failed {
                eprintln!("error: {name}: {why}");
            }
            eprintln!(
                "{} image(s) {verb}; the set's images: {:.2} GB before, {:.2} GB after (budget {:.2} GB)",
                p.removed.len(),
                p.before as f64 / 1e9,
                p.after as f64 / 1e9,
                budget as f64 / 1e9
            );
            Ok(if p.failed.is_empty() {
                Exit::Success.into()
            } else {
                Exit::Failed.into()
            })
        }
        ImagesCommand::List => {
            for (name, id, size) in engine
                .list_images(&[
                    "protege/",
                    "swebench/",
                    "xingyaoww/",
                    "jyangballin/",
                    "swesmith.",
                    "swerebench/",
                    "namanjain12/",
                ])
                .await?
            {
                println!(
                    "{name}\t{}\t{:.0} MB",
                    &id[..id.len().min(19)],
                    size as f64 / 1e6
                );
            }
            Ok(Exit::Success.into())
        }
    }
}
