//! Loading task sets by name or path, shared by every command.

use anyhow::Context;
use protege_datasets::{TaskSet, mini, remote, select};
use protege_harness::sets;
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
            // the task sets (SWE-Gym, SWE-smith, SWE-rebench, R2E-Gym, Full) and files
            None => {
                let (set, source) =
                    sets::load::load(name).with_context(|| format!("loading dataset `{name}`"))?;
                if let sets::load::Source::Downloaded(files) = &source {
                    eprintln!(
                        "note: downloaded {name} from the Hugging Face hub into {} ({} file(s), sha256 {})",
                        files[0]
                            .parent()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                        files.len(),
                        set.sha256
                    );
                }
                set
            }
        },
    };
    if let Some(template) = &args.image_template {
        sets::template::apply(&mut set, template).map_err(anyhow::Error::msg)?;
    }
    if let Some(start) = &args.swe_smith_start {
        let start = sets::swe_smith::Start::parse(start).map_err(anyhow::Error::msg)?;
        if sets::swe_smith::choose_start(&mut set, start) == 0 {
            eprintln!(
                "note: --swe-smith-start applies to SWE-smith tasks; `{}` has none",
                args.dataset
            );
        }
    }
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
