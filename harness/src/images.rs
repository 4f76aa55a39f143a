//! Images for evaluation: which image an instance runs in, and building protege's own images
//! (a Debian base, an environment per spec, an image per instance) where no official one exists.
//! Pulls go through [`pipeline`] (look-ahead, rate caps, retries, the disk budget).

pub mod pipeline;
pub mod prune;

use std::path::PathBuf;
use std::process::Command;

use protege_datasets::{Task, mini};
use protege_sandboxes::SandboxError;
use protege_sandboxes::docker::DockerEngine;
use protege_sandboxes::docker::images::{Progress, protege_name};

use pipeline::ImagePipeline;

/// protege's Debian base, pulled or made from a debootstrap rootfs.
pub const BASE_IMAGE: &str = "protege/base:bookworm";
/// The environment of the mini set: Debian's python3 and pytest, git and patch.
pub const MINI_ENV_IMAGE: &str = "protege/sweb.env.py.mini:latest";
/// The upstream image tried before making a rootfs.
const UPSTREAM_BASE: &str = "debian:bookworm-slim";

/// The image an instance is evaluated in, with its id.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub name: String,
    pub id: String,
}

/// The names a task's image goes by in registries, in the order they are tried: a row's
/// `image` column (as swebench 5.x reads it), else the task set's names (`crate::sets`:
/// SWE-bench's official image, SWE-smith's per-repository one, …, or the `--image-template`
/// name). Images under these names can be pulled again, so the disk budget may remove them.
pub fn pullable_names(task: &Task) -> Vec<String> {
    match &task.image {
        Some(image) => vec![image.clone()],
        None => crate::sets::image_names(task),
    }
}

/// Finds the image for an instance: one of its [`pullable_names`] if present locally, else the
/// one protege built, else (for non-built-in tasks) the first pullable name, pulled through
/// `pulls`.
pub async fn resolve(
    engine: &DockerEngine,
    task: &Task,
    pulls: &ImagePipeline,
) -> Result<Resolved, SandboxError> {
    let resolved = find_or_pull(engine, task, pulls).await;
    pulls.resolved(&task.instance_id);
    resolved
}

async fn find_or_pull(
    engine: &DockerEngine,
    task: &Task,
    pulls: &ImagePipeline,
) -> Result<Resolved, SandboxError> {
    let names = pullable_names(task);
    let templated =
        task.image.is_some() || task.extra_str(crate::sets::template::IMAGE_KEY).is_some();
    let ours = protege_name(&task.instance_id);
    let builtin = mini::is_mini(&task.instance_id) && !templated;
    if !builtin {
        for name in &names {
            if let Some(local) = engine.local_image(name).await? {
                pulls.note_present(name, &local);
                return Ok(Resolved {
                    name: name.clone(),
                    id: local.id,
                });
            }
        }
    }
    if !templated && let Some(id) = engine.image_id(&ours).await? {
        return Ok(Resolved { name: ours, id });
    }
    if builtin {
        return Err(SandboxError::ImageMissing(format!(
            "{ours} (run `protege images build --dataset mini`)"
        )));
    }
    let Some(first) = names.first() else {
        return Err(SandboxError::ImageMissing(format!(
            "{}: the task names no image",
            task.instance_id
        )));
    };
    let id = pulls
        .pull(engine, first, &task.instance_id)
        .await
        .map_err(|e| {
            SandboxError::ImageMissing(format!(
                "{} could not be pulled and {ours} was not built ({e})",
                names.join(", ")
            ))
        })?;
    Ok(Resolved {
        name: first.clone(),
        id,
    })
}

/// The Debian mirror for debootstrap: `$PROTEGE_DEBIAN_MIRROR`, else the host's apt source,
/// else deb.debian.org.
pub fn debian_mirror() -> String {
    if let Ok(m) = std::env::var("PROTEGE_DEBIAN_MIRROR") {
        return m;
    }
    if let Ok(text) = std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources")
        && let Some(uri) = text
            .lines()
            .filter_map(|l| l.strip_prefix("URIs:"))
            .flat_map(|l| l.split_whitespace())
            .find(|u| u.ends_with("/debian") || u.ends_with("/debian/"))
    {
        return uri.to_string();
    }
    if let Ok(text) = std::fs::read_to_string("/etc/apt/sources.list") {
        for l in text.lines() {
            let parts: Vec<&str> = l.split_whitespace().collect();
            if parts.len() >= 3 && parts[0] == "deb" && parts[2].starts_with("bookworm") {
                return parts[1].to_string();
            }
        }
    }
    "http://deb.debian.org/debian".into()
}

/// Makes sure `BASE_IMAGE` exists: pulled from upstream when reachable, else made from a
/// `debootstrap --variant=minbase bookworm` rootfs (needs root and the debootstrap package).
pub async fn ensure_base(
    engine: &DockerEngine,
    progress: Progress<'_>,
) -> Result<String, SandboxError> {
    if let Some(id) = engine.image_id(BASE_IMAGE).await? {
        return Ok(id);
    }
    if engine.pull(UPSTREAM_BASE, progress).await.is_ok() {
        let ctx = context(&format!("FROM {UPSTREAM_BASE}\n"), &[])?;
        return engine.build(BASE_IMAGE, ctx, progress).await;
    }
    progress(&format!(
        "{UPSTREAM_BASE} cannot be pulled; making a Debian rootfs with debootstrap"
    ));
    let dir = tempdir_in_var()?;
    let mirror = debian_mirror();
    let status = Command::new("debootstrap")
        .args(["--variant=minbase", "bookworm"])
        .arg(&dir)
        .arg(&mirror)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| {
            SandboxError::Io(format!(
                "cannot run debootstrap ({e}): install it with `apt-get install debootstrap` (needs root)"
            ))
        })?;
    if !status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(SandboxError::Io(format!(
            "debootstrap --variant=minbase bookworm {} {mirror} failed ({status})",
            dir.display()
        )));
    }
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .args(["--numeric-owner", "-c", "."])
        .output()
        .map_err(|e| SandboxError::Io(format!("tar of the rootfs: {e}")))?;
    let _ = std::fs::remove_dir_all(&dir);
    if !tar.status.success() {
        return Err(SandboxError::Io(format!(
            "tar of the rootfs failed: {}",
            String::from_utf8_lossy(&tar.stderr)
        )));
    }
    engine.import_rootfs(BASE_IMAGE, tar.stdout).await
}

fn tempdir_in_var() -> Result<PathBuf, SandboxError> {
    let dir = std::env::temp_dir().join(format!("protege-rootfs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .map_err(|e| SandboxError::Io(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

/// A build context: the Dockerfile plus files (path, contents), all mode 0644 and mtime 0 so
/// the same inputs make the same layers.
pub fn context(dockerfile: &str, files: &[(String, &[u8])]) -> Result<Vec<u8>, SandboxError> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| -> std::io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, path, data)
    };
    add("Dockerfile", dockerfile.as_bytes()).map_err(|e| SandboxError::Io(e.to_string()))?;
    for (p, d) in files {
        add(p, d).map_err(|e| SandboxError::Io(e.to_string()))?;
    }
    b.into_inner().map_err(|e| SandboxError::Io(e.to_string()))
}

/// The mini environment: Debian's python3 and pytest, git and patch, git's identity set.
pub fn mini_env_dockerfile() -> String {
    format!(
        "FROM {BASE_IMAGE}\n\
         RUN apt-get update \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\\n      python3 python3-pytest git patch ca-certificates \\\n && rm -rf /var/lib/apt/lists/*\n\
         ENV PYTHONDONTWRITEBYTECODE=1\n"
    )
}

/// A mini instance: the repository committed at `/testbed` with the fixed identity, checked
/// against the task's `base_commit`.
pub fn mini_instance_dockerfile(task: &Task) -> String {
    let env: Vec<String> = mini::GIT_IDENTITY
        .iter()
        .map(|(k, v)| format!("{k}='{v}'"))
        .collect();
    format!(
        "FROM {MINI_ENV_IMAGE}\n\
         COPY repo/ /testbed/\n\
         WORKDIR /testbed\n\
         RUN git init -q && git add -A && {} git commit -q -m '{}' \\\n \
         && test \"$(git rev-parse HEAD)\" = '{}' \\\n \
         || (echo 'base commit differs from task.json' >&2; git rev-parse HEAD >&2; exit 1)\n",
        env.join(" "),
        mini::BASE_COMMIT_MESSAGE,
        task.base_commit
    )
}

/// Builds every image the built-in tasks need; returns (instance, image id) pairs.
pub async fn build_mini(
    engine: &DockerEngine,
    tasks: &[Task],
    force: bool,
    progress: Progress<'_>,
) -> Result<Vec<(String, String)>, SandboxError> {
    ensure_base(engine, progress).await?;
    if force || engine.image_id(MINI_ENV_IMAGE).await?.is_none() {
        let ctx = context(&mini_env_dockerfile(), &[])?;
        engine.build(MINI_ENV_IMAGE, ctx, progress).await?;
    }
    let mut out = Vec::new();
    for task in tasks {
        let name = protege_name(&task.instance_id);
        if !force && let Some(id) = engine.image_id(&name).await? {
            out.push((task.instance_id.clone(), id));
            continue;
        }
        let files: Vec<(String, &[u8])> = mini::repo_files(&task.instance_id)
            .into_iter()
            .map(|f| (format!("repo/{}", f.path), f.contents))
            .collect();
        if files.is_empty() {
            return Err(SandboxError::Io(format!(
                "{}: not a built-in task",
                task.instance_id
            )));
        }
        let ctx = context(&mini_instance_dockerfile(task), &files)?;
        let id = engine.build(&name, ctx, progress).await?;
        out.push((task.instance_id.clone(), id));
    }
    Ok(out)
}

/// The base layer of real SWE-bench instances (build tools, locales, Miniconda).
pub const SWEBENCH_BASE_IMAGE: &str = "protege/sweb.base.x86_64:latest";

/// Fetches the first reachable of `urls` (the environment file a spec needs).
fn fetch_first(urls: &[String]) -> Result<String, SandboxError> {
    use std::time::Duration;
    let mut errors = Vec::new();
    for url in urls {
        match protege_datasets::http::get(
            url,
            Duration::from_secs(60),
            Duration::from_secs(60),
            10 << 20,
        ) {
            Ok(body) => {
                return String::from_utf8(body)
                    .map_err(|e| SandboxError::Io(format!("{url}: {e}")));
            }
            Err(e) => errors.push(format!("{url}: {e}")),
        }
    }
    Err(SandboxError::Io(format!(
        "cannot fetch the environment file (GitHub must be reachable):\n  {}",
        errors.join("\n  ")
    )))
}

/// Builds the three layers the official harness uses for one real SWE-bench task — base,
/// environment (per repository/version and environment file), instance — from protege's specs.
/// Needs GitHub (the environment file, the clone) and the package registries (conda, PyPI);
/// returns the instance image id.
pub async fn build_swebench(
    engine: &DockerEngine,
    task: &Task,
    force: bool,
    progress: Progress<'_>,
) -> Result<String, SandboxError> {
    use crate::specs::dockerfiles::{
        EnvFile, base_dockerfile, clean_environment_yml, clean_requirements, env_dockerfile,
        env_file_urls, env_key, env_setup_script, instance_dockerfile, repo_setup_script,
    };
    use crate::specs::{Packages, for_task};
    let spec = for_task(task).map_err(|e| SandboxError::Unsupported(e.to_string()))?;
    let name = protege_name(&task.instance_id);
    if !force && let Some(id) = engine.image_id(&name).await? {
        return Ok(id);
    }
    ensure_base(engine, progress).await?;
    if force || engine.image_id(SWEBENCH_BASE_IMAGE).await?.is_none() {
        let ctx = context(&base_dockerfile(BASE_IMAGE, "x86_64"), &[])?;
        engine.build(SWEBENCH_BASE_IMAGE, ctx, progress).await?;
    }
    let commit = if task.environment_setup_commit.is_empty() {
        &task.base_commit
    } else {
        &task.environment_setup_commit
    };
    let urls = env_file_urls(&spec, commit);
    let fetched = if urls.is_empty() {
        None
    } else {
        Some(fetch_first(&urls)?)
    };
    let file = match (&spec.packages, &fetched) {
        (Packages::Requirements, Some(text)) => {
            // `-r other.txt` lines name files beside the requirements file at the same commit.
            let base_url = urls[0]
                .rsplit_once('/')
                .map(|(b, _)| b.to_string())
                .unwrap_or_default();
            Some(clean_requirements(text, |other| {
                fetch_first(&[format!("{base_url}/{other}")]).ok()
            }))
        }
        (Packages::EnvironmentYml, Some(text)) => Some(clean_environment_yml(text)),
        _ => None,
    };
    let env_file = match (&spec.packages, &file) {
        (Packages::Requirements, Some(t)) => EnvFile::Requirements(t),
        (Packages::EnvironmentYml, Some(t)) => EnvFile::EnvironmentYml(t),
        _ => EnvFile::None,
    };
    let env_script = env_setup_script(&spec, env_file);
    let env_image = format!("protege/sweb.env.x86_64.{}:latest", env_key(&env_script));
    if force || engine.image_id(&env_image).await?.is_none() {
        let ctx = context(
            &env_dockerfile(SWEBENCH_BASE_IMAGE),
            &[("setup_env.sh".into(), env_script.as_bytes())],
        )?;
        engine.build(&env_image, ctx, progress).await?;
    }
    let repo_script = repo_setup_script(task, &spec);
    let ctx = context(
        &instance_dockerfile(&env_image),
        &[("setup_repo.sh".into(), repo_script.as_bytes())],
    )?;
    engine.build(&name, ctx, progress).await
}
