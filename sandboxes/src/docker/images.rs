//! Images: naming, lookup, pulling with progress, building from a context, importing a rootfs.

use bollard::body_full;
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;

use super::engine::DockerEngine;
use crate::SandboxError;

/// The official SWE-bench instance image: `swebench/sweb.eval.x86_64.<id>:latest` with `__`
/// written `_1776_` and the name lower-cased.
pub fn official_name(instance_id: &str) -> String {
    format!(
        "swebench/sweb.eval.x86_64.{}:latest",
        instance_id.replace("__", "_1776_").to_lowercase()
    )
}

/// The instance image protege builds itself when no official one is available.
pub fn protege_name(instance_id: &str) -> String {
    format!(
        "protege/sweb.eval.x86_64.{}:latest",
        instance_id.replace("__", "_1776_").to_lowercase()
    )
}

/// A progress event while pulling or building (one line of the engine's output).
pub type Progress<'a> = &'a (dyn Fn(&str) + Send + Sync);

impl DockerEngine {
    /// The image's id when it exists locally.
    pub async fn image_id(&self, name: &str) -> Result<Option<String>, SandboxError> {
        match self.docker.inspect_image(name).await {
            Ok(info) => Ok(info.id),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(SandboxError::EngineUnavailable(format!(
                "inspecting image {name}: {e}"
            ))),
        }
    }

    /// Pulls an image, reporting progress; fails with the registry's message (Docker Hub
    /// unreachable answers at once, so this fails fast where there is no network).
    pub async fn pull(&self, name: &str, progress: Progress<'_>) -> Result<String, SandboxError> {
        let (image, tag) = name.rsplit_once(':').unwrap_or((name, "latest"));
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
        let (repo, t) = tag.rsplit_once(':').unwrap_or((tag, "latest"));
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
                if prefixes.iter().any(|p| tag.starts_with(p)) {
                    out.push((tag.clone(), img.id.clone(), img.size));
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
