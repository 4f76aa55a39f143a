//! Loading task sets by name or path, shared by every command.

use std::path::Path;

use anyhow::Context;
use protege_datasets::{TaskSet, load, mini, remote, select};
use protege_sandboxes::docker::ContainerLimits;

use super::DatasetArgs;

/// Loads `--dataset` and applies `--instances`. Rows that could not be loaded are reported on
/// stderr, naming file, line and field; the rest of the set is used.
pub fn load_dataset(args: &DatasetArgs) -> anyhow::Result<TaskSet> {
    let mut set = match args.dataset.as_str() {
        "mini" => mini::load()?,
        name => match remote::known(name) {
            Some(k) => {
                let (set, source) = remote::fetch(k)?;
                if let remote::Source::LocalCopy(p) = &source {
                    eprintln!(
                        "note: SWE-bench {name} could not be downloaded; using the verified local copy {}",
                        p.display()
                    );
                }
                set
            }
            None => load::load_tasks(Path::new(name)).with_context(|| {
                format!("loading dataset `{name}` (expected mini, verified, lite or a file path)")
            })?,
        },
    };
    for r in &set.rejected {
        eprintln!("warning: skipped dataset row: {r}");
    }
    select::filter(&mut set, &args.instances)?;
    Ok(set)
}

/// The limits of every container a command starts (`--memory-mib`, `--pids`); never a network.
pub fn container_limits(memory_mib: i64, pids: i64) -> ContainerLimits {
    ContainerLimits {
        memory_bytes: memory_mib << 20,
        pids,
        network: false,
    }
}
