//! `protege images prune`: the disk budget by hand. A task set's pullable instance images
//! (those its names or `--image-template` give, which can be pulled again) are removed least
//! recently pulled first until they fit the budget; images a container was made from, images
//! protege built itself, and base and environment images are never touched.

use protege_datasets::Task;
use protege_sandboxes::SandboxError;
use protege_sandboxes::docker::DockerEngine;
use protege_sandboxes::docker::images::LocalImage;

#[derive(Debug, Default)]
pub struct Pruned {
    /// (name, bytes), in the order removed (or, dry, that would be).
    pub removed: Vec<(String, u64)>,
    /// Images left because a container was made from them.
    pub in_use: Vec<String>,
    /// Bytes the set's images held before and after.
    pub before: u64,
    pub after: u64,
    /// Removals the engine refused: (name, why).
    pub failed: Vec<(String, String)>,
}

/// Removes (unless `dry_run`) the set's instance images, oldest first, until the rest take at
/// most `budget` bytes (engine-reported sizes). Never forced: the engine refuses an image a
/// container still needs.
pub async fn prune(
    engine: &DockerEngine,
    tasks: &[Task],
    budget: u64,
    dry_run: bool,
) -> Result<Pruned, SandboxError> {
    let mut names: Vec<String> = tasks.iter().flat_map(super::pullable_names).collect();
    names.sort();
    names.dedup();
    let in_use = engine.images_in_use().await?;
    let mut out = Pruned::default();
    let mut present: Vec<(String, LocalImage)> = Vec::new();
    for name in names {
        if let Some(local) = engine.local_image(&name).await? {
            out.before += local.size;
            // By name only: removing one name of an image that has others just untags it, which
            // the engine allows under a container too; the last name it refuses to remove.
            if in_use.contains(&name) {
                out.in_use.push(name);
            } else {
                present.push((name, local));
            }
        }
    }
    present.sort_by(|a, b| (&a.1.last_tagged, &a.0).cmp(&(&b.1.last_tagged, &b.0)));
    out.after = out.before;
    for (name, local) in present {
        if out.after <= budget {
            break;
        }
        if !dry_run && let Err(e) = engine.remove_image(&name).await {
            out.failed.push((name, e.to_string()));
            continue;
        }
        out.after -= local.size;
        out.removed.push((name, local.size));
    }
    Ok(out)
}
