//! Images: naming, lookup, pulling with progress, removal, building from a context, importing a
//! rootfs.

use bollard::body_full;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, RemoveImageOptionsBuilder,
};
use futures_util::StreamExt;

use super::engine::DockerEngine;
use crate::SandboxError;

pub use crate::names::{official_name, protege_name};

/// A progress event while pulling or building (one line of the engine's output).
pub type Progress<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// An image present in the engine's store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImage {
    pub id: String,
    /// Bytes, as the engine reports the image (its layers shared with other images included).
    pub size: u64,
    /// When it was last pulled or tagged (else created), RFC 3339; empty when unknown.
    pub last_tagged: String,
}

/// Splits an image reference into what the pull API takes: the repository and the tag (or
/// `sha256:` digest). A `:` before the last `/` is a registry's port, not a tag:
/// `127.0.0.1:5000/x` is `x:latest` on the registry at port 5000.
pub fn split_reference(name: &str) -> (&str, &str) {
    if let Some((repo, digest)) = name.split_once('@') {
        return (repo, digest);
    }
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], &name[last_slash + i + 1..]),
        None => (name, "latest"),
    }
}

/// Whether a failed pull is worth another try: the registry said 429 (rate limit) or 5xx.
/// Docker and Podman pass the registry's words on in the message (`toomanyrequests: …`,
/// `received unexpected HTTP status: 503 Service Unavailable`); a status counts only as a
/// word of its own, so digits inside a digest never do.
pub fn transient_pull_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    if [
        "toomanyrequests",
        "too many requests",
        "service unavailable",
        "bad gateway",
        "gateway timeout",
        "internal server error",
    ]
    .iter()
    .any(|w| m.contains(w))
    {
        return true;
    }
    m.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| matches!(w, "429" | "500" | "502" | "503" | "504"))
}

impl DockerEngine {
    /// The image's id when it exists locally.
    pub async fn image_id(&self, name: &str) -> Result<Option<String>, SandboxError> {
        Ok(self.local_image(name).await?.map(|i| i.id))
    }

    /// The image when it exists locally.
    pub async fn local_image(&self, name: &str) -> Result<Option<LocalImage>, SandboxError> {
        match self.docker.inspect_image(name).await {
            Ok(info) => Ok(info.id.map(|id| LocalImage {
                id,
                size: info.size.unwrap_or(0).max(0) as u64,
                last_tagged: info
                    .metadata
                    .and_then(|m| m.last_tag_time)
                    .filter(|t| !t.starts_with("0001-"))
                    .or(info.created)
                    .unwrap_or_default(),
            })),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(SandboxError::EngineUnavailable(format!(
                "inspecting image {name}: {e}"
            ))),
        }
    }

    /// Removes the name `name` (the image itself once no other name holds it); never forced,
    /// so the engine refuses while a container uses it. `Ok(false)`: it was not there.
    pub async fn remove_image(&self, name: &str) -> Result<bool, SandboxError> {
        let opts = RemoveImageOptionsBuilder::new().force(false).build();
        match self.docker.remove_image(name, Some(opts), None).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(SandboxError::Io(format!("removing image {name}: {e}"))),
        }
    }

    /// Pulls an image once, reporting progress; fails with the registry's message (Docker Hub
    /// unreachable answers at once, so this fails fast where there is no network). Retries,
    /// rate caps and disk budgets are the caller's (`protege_harness::images::pipeline`).
    pub async fn pull(&self, name: &str, progress: Progress<'_>) -> Result<String, SandboxError> {
        let (image, tag) = split_reference(name);
        let opts = CreateImageOptionsBuilder::new()
            .from_image(image)
            .tag(tag)
            .build();
        let mut stream = self.docker.create_image(Some(opts), None, None);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| SandboxError::ImageMissing(format!("{name} ({e})")))?;
            if let Some(err) = info.error {
                return Err(SandboxError::ImageMissing(format!("{name} ({err})")));
            }
            let line = [info.id, info.status, info.progress]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            if !line.is_empty() {
                progress(&line);
            }
        }
        self.image_id(name)
            .await?
            .ok_or_else(|| SandboxError::ImageMissing(name.to_string()))
    }

    /// Builds `tag` from a tar build context holding a `Dockerfile`; returns the image id.
    /// The build gets network (package installs) even though test containers never do.
    pub async fn build(
        &self,
        tag: &str,
        context_tar: Vec<u8>,
        progress: Progress<'_>,
    ) -> Result<String, SandboxError> {
        let opts = BuildImageOptionsBuilder::new()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .forcerm(true)
            .build();
        let mut stream = self
            .docker
            .build_image(opts, None, Some(body_full(context_tar.into())));
        let mut tail: Vec<String> = Vec::new();
        while let Some(item) = stream.next().await {
            let info = item
                .map_err(|e| SandboxError::Io(format!("building {tag}: {e}\n{}", tail.join(""))))?;
            if let Some(err) = info.error {
                return Err(SandboxError::Io(format!(
                    "building {tag}: {err}\n{}",
                    tail.join("")
                )));
            }
            if let Some(line) = info.stream {
                progress(line.trim_end());
                tail.push(line);
                if tail.len() > 40 {
                    tail.remove(0);
                }
            }
        }
        self.image_id(tag)
            .await?
            .ok_or_else(|| SandboxError::Io(format!("building {tag}: no image after build")))
    }

    /// Imports a root filesystem tarball as an image (`docker import`).
    pub async fn import_rootfs(
        &self,
        tag: &str,
        rootfs_tar: Vec<u8>,
    ) -> Result<String, SandboxError> {
        let (repo, t) = split_reference(tag);
        let opts = CreateImageOptionsBuilder::new()
            .from_src("-")
            .repo(repo)
            .tag(t)
            .build();
        let mut stream =
            self.docker
                .create_image(Some(opts), Some(body_full(rootfs_tar.into())), None);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| SandboxError::Io(format!("importing {tag}: {e}")))?;
            if let Some(err) = info.error {
                return Err(SandboxError::Io(format!("importing {tag}: {err}")));
            }
        }
        self.image_id(tag)
            .await?
            .ok_or_else(|| SandboxError::Io(format!("importing {tag}: no image after import")))
    }

    /// The image names (or ids) every container, running or not, was made from.
    pub async fn images_in_use(&self) -> Result<Vec<String>, SandboxError> {
        let opts = bollard::query_parameters::ListContainersOptionsBuilder::new()
            .all(true)
            .build();
        let list = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(|e| SandboxError::EngineUnavailable(format!("listing containers: {e}")))?;
        Ok(list
            .into_iter()
            .flat_map(|c| [c.image, c.image_id])
            .flatten()
            .map(|n| short_name(&n).to_string())
            .collect())
    }

    /// Local images whose repository starts with one of `prefixes`, as `(name, id, size)`.
    pub async fn list_images(
        &self,
        prefixes: &[&str],
    ) -> Result<Vec<(String, String, i64)>, SandboxError> {
        let images = self
            .docker
            .list_images(None::<bollard::query_parameters::ListImagesOptions>)
            .await
            .map_err(|e| SandboxError::EngineUnavailable(format!("listing images: {e}")))?;
        let mut out = Vec::new();
        for img in images {
            for tag in &img.repo_tags {
                // Podman names what it stores in full (`localhost/protege/…`, `docker.io/…`).
                let short = short_name(tag);
                if prefixes.iter().any(|p| short.starts_with(p)) {
                    out.push((short.to_string(), img.id.clone(), img.size));
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// An image name without the registry Podman writes for names that had none (`localhost/`
/// for local builds and loads, `docker.io/` and `docker.io/library/` for Docker Hub's).
pub fn short_name(name: &str) -> &str {
    ["localhost/", "docker.io/library/", "docker.io/"]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_at_the_tag_not_the_port() {
        assert_eq!(
            split_reference("127.0.0.1:5000/sweb.eval.x86_64.a_1776_b-1:latest"),
            ("127.0.0.1:5000/sweb.eval.x86_64.a_1776_b-1", "latest")
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/ns/img"),
            ("127.0.0.1:5000/ns/img", "latest")
        );
        assert_eq!(
            split_reference("debian:bookworm-slim"),
            ("debian", "bookworm-slim")
        );
        assert_eq!(split_reference("ghcr.io/o/i"), ("ghcr.io/o/i", "latest"));
        assert_eq!(
            split_reference("r:1/i@sha256:0123abcd"),
            ("r:1/i", "sha256:0123abcd")
        );
    }

    #[test]
    fn only_rate_limits_and_server_errors_are_transient() {
        assert!(transient_pull_error(
            "toomanyrequests: You have reached your pull rate limit"
        ));
        assert!(transient_pull_error(
            "received unexpected HTTP status: 503 Service Unavailable"
        ));
        assert!(transient_pull_error("Error response from daemon: 502"));
        assert!(!transient_pull_error(
            "manifest for x:latest not found: manifest unknown"
        ));
        assert!(!transient_pull_error(
            "dial tcp 127.0.0.1:5000: connect: connection refused"
        ));
        // a digest holding the digits of a status is not a status
        assert!(!transient_pull_error("sha256:4295003a not found"));
    }

    #[test]
    fn podman_names_lose_their_implied_registry() {
        assert_eq!(short_name("localhost/protege/x:latest"), "protege/x:latest");
        assert_eq!(
            short_name("docker.io/library/debian:bookworm"),
            "debian:bookworm"
        );
        assert_eq!(
            short_name("docker.io/swebench/x:latest"),
            "swebench/x:latest"
        );
        assert_eq!(
            short_name("127.0.0.1:5000/x:latest"),
            "127.0.0.1:5000/x:latest"
        );
    }

    #[test]
    fn official_names_follow_swebench() {
        assert_eq!(
            official_name("django__django-11099"),
            "swebench/sweb.eval.x86_64.django_1776_django-11099:latest"
        );
        assert_eq!(
            official_name("sympy__sympy-20590"),
            "swebench/sweb.eval.x86_64.sympy_1776_sympy-20590:latest"
        );
        assert_eq!(
            protege_name("protege-mini__calcexpr-1"),
            "protege/sweb.eval.x86_64.protege-mini_1776_calcexpr-1:latest"
        );
    }
}
