//! `protege images build|pull|list`.

use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use protege_datasets::mini;
use protege_harness::images;
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
    /// Pull the official prebuilt SWE-bench images.
    Pull {
        #[command(flatten)]
        data: DatasetArgs,
    },
    /// Local images protege can use.
    List,
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
        ImagesCommand::Pull { data } => {
            let set = load_dataset(&data)?;
            let mut failed = 0;
            for t in &set.tasks {
                let name = sets::image_names(t).into_iter().next().unwrap_or_default();
                let progress = |line: &str| eprintln!("  {line}");
                match engine.pull(&name, &progress).await {
                    Ok(id) => println!("{}\t{name}\t{id}", t.instance_id),
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: {}: {e}", t.instance_id);
                        if failed == 1 && set.tasks.len() > 1 {
                            // The registry is the same for every image: one refusal says it all.
                            bail!(
                                "the registry cannot be reached; no image was pulled (Docker Hub is needed for official images)"
                            );
                        }
                    }
                }
            }
            Ok(if failed == 0 {
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
