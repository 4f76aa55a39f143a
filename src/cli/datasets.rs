//! `protege datasets fetch|verify|list`.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use protege_datasets::remote;

use super::DatasetArgs;
use super::common::load_dataset;
use super::exit::Exit;

#[derive(Subcommand)]
pub enum DatasetsCommand {
    /// Download a public split (verified, lite) into the cache and verify it.
    Fetch { name: String },
    /// Load a task set and check it: row errors, and for known splits the pinned sha256.
    Verify {
        #[command(flatten)]
        data: DatasetArgs,
    },
    /// One instance id per line (id first, then the repository).
    List {
        #[command(flatten)]
        data: DatasetArgs,
    },
}

pub fn datasets(cmd: DatasetsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DatasetsCommand::Fetch { name } => {
            let Some(k) = remote::known(&name) else {
                bail!("unknown split `{name}`: expected verified or lite");
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
                println!("{}\t{}", t.instance_id, t.repo);
            }
            Ok(Exit::Success.into())
        }
    }
}
