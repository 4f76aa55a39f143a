//! `protege datasets fetch|verify|list`.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use protege_datasets::{hub, remote};
use protege_harness::sets;

use super::DatasetArgs;
use super::common::load_dataset;
use super::exit::Exit;

#[derive(Subcommand)]
pub enum DatasetsCommand {
    /// Download a public split into the cache (verified and lite are verified against their
    /// pinned content; full, swe-gym, swe-gym-lite, swe-smith, swe-rebench, r2e-gym-lite are
    /// recorded by sha256).
    Fetch { name: String },
    /// The task sets protege knows: name, where they are published, what differs.
    Sets,
    /// Load a task set and check it: row errors, and for known splits the pinned sha256.
    Verify {
        #[command(flatten)]
        data: DatasetArgs,
    },
    /// One instance per line: id, repository, task set (`swe-bench` for SWE-bench's schema).
    List {
        #[command(flatten)]
        data: DatasetArgs,
    },
}

pub fn datasets(cmd: DatasetsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DatasetsCommand::Fetch { name } => {
            let Some(k) = remote::known(&name) else {
                if sets::by_name(&name).is_some_and(|s| s.hub().is_some()) {
                    let (set, source) = sets::load::load(&name)?;
                    println!(
                        "{name}: {} tasks, sha256 {} ({source:?})",
                        set.tasks.len(),
                        set.sha256
                    );
                    return Ok(ExitCode::SUCCESS);
                }
                bail!(
                    "unknown split `{name}`: expected verified, lite, {}",
                    sets::load::names()
                );
            };
            let (set, source) = remote::fetch(k)?;
            println!(
                "{}: {} tasks, content sha256 {} ({source:?})",
                k.name,
                set.tasks.len(),
                remote::content_sha256(&set)
            );
            Ok(Exit::Success.into())
        }
        DatasetsCommand::Verify { data } => {
            let set = load_dataset(&data)?;
            println!(
                "{}: {} tasks, sha256 {}, content sha256 {}",
                set.name,
                set.tasks.len(),
                set.sha256,
                remote::content_sha256(&set)
            );
            if set.rejected.is_empty() {
                Ok(Exit::Success.into())
            } else {
                eprintln!("{} row(s) rejected", set.rejected.len());
                Ok(Exit::Failed.into())
            }
        }
        DatasetsCommand::List { data } => {
            let set = load_dataset(&data)?;
            for t in &set.tasks {
                println!(
                    "{}\t{}\t{}",
                    t.instance_id,
                    t.repo,
                    sets::for_task(t).name()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        DatasetsCommand::Sets => {
            for s in sets::ALL {
                let hub = s
                    .hub()
                    .map(|h| format!("{}/datasets/{} ({})", hub::endpoint(), h.dataset, h.split))
                    .unwrap_or_else(|| "-".into());
                println!("{}\t{hub}\t{}", s.name(), s.about());
            }
            Ok(Exit::Success.into())
        }
    }
}
