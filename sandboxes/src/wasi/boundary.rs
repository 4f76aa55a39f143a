//! The sandbox's path boundary, the security-critical part of its file access: guest paths
//! (`/testbed/x.py`, `/tmp/y`, or relative to the working directory) resolved through cap-std
//! directory handles, so that `..`, absolute host paths and symlinks that lead outside are
//! refused by construction. Everything the host does to the sandbox's files goes through here.

use std::io;

use cap_std::fs::Dir;

use crate::SandboxError;

/// Where the working copy appears in the guest.
pub const TESTBED: &str = "/testbed";
/// The private scratch directory.
pub const TMP: &str = "/tmp";

/// The directories the host-side operations can reach.
pub(crate) struct Mounts {
    pub testbed: Dir,
    pub tmp: Dir,
}

/// A guest path resolved to a directory handle and a path relative to it.
pub(crate) struct Resolved<'a> {
    pub dir: &'a Dir,
    /// Relative to `dir`; `.` for the mount point itself.
    pub rel: String,
}

/// The absolute guest path that `path` names when the working directory is `cwd`, with `.` and
/// `..` resolved lexically. Climbing above `/` is refused.
pub(crate) fn normalize(path: &str, cwd: &str) -> Result<String, SandboxError> {
    if path.contains('\0') {
        return Err(SandboxError::PathEscape(path.into()));
    }
    let full = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{cwd}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in full.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(SandboxError::PathEscape(path.into()));
                }
            }
            c => parts.push(c),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// Maps cap-std's refusal to follow a path out of its directory onto `PathEscape`.
pub(crate) fn map_io(guest: &str, e: io::Error) -> SandboxError {
    if is_escape(&e) {
        SandboxError::PathEscape(guest.into())
    } else {
        SandboxError::Io(format!("{guest}: {e}"))
    }
}

pub(crate) fn is_escape(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied
        && e.to_string().contains("outside of the filesystem")
        || e.raw_os_error() == Some(18) // EXDEV: openat2(RESOLVE_BENEATH) refused an escape
}

impl Mounts {
    pub fn resolve(&self, path: &str, cwd: &str) -> Result<Resolved<'_>, SandboxError> {
        let abs = normalize(path, cwd)?;
        for (mount, dir) in [(TESTBED, &self.testbed), (TMP, &self.tmp)] {
            if abs == mount {
                return Ok(Resolved {
                    dir,
                    rel: ".".into(),
                });
            }
            if let Some(rest) = abs.strip_prefix(mount).and_then(|r| r.strip_prefix('/')) {
                return Ok(Resolved {
                    dir,
                    rel: rest.to_string(),
                });
            }
        }
        Err(SandboxError::PathEscape(path.into()))
    }

    pub fn read(&self, path: &str, cwd: &str) -> Result<Vec<u8>, SandboxError> {
        let r = self.resolve(path, cwd)?;
        r.dir.read(&r.rel).map_err(|e| map_io(path, e))
    }

    /// Writes a file, creating its parent directories. A symlink on the way that leads outside
    /// the sandbox is refused (cap-std), as is writing through a final symlink at all.
    pub fn write(&self, path: &str, cwd: &str, contents: &[u8]) -> Result<(), SandboxError> {
        let r = self.resolve(path, cwd)?;
        if r.rel == "." {
            return Err(SandboxError::Io(format!("{path}: is a directory")));
        }
        if let Some((parent, _)) = r.rel.rsplit_once('/') {
            match r.dir.metadata(parent) {
                Ok(md) if md.is_dir() => {}
                Ok(_) => return Err(SandboxError::Io(format!("{path}: not a directory"))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    r.dir.create_dir_all(parent).map_err(|e| map_io(path, e))?
                }
                Err(e) => return Err(map_io(path, e)),
            }
        }
        if let Ok(md) = r.dir.symlink_metadata(&r.rel)
            && md.file_type().is_symlink()
        {
            // Following it would be confined by cap-std anyway; a refusal is clearer.
            return match r.dir.metadata(&r.rel) {
                Err(e) if is_escape(&e) => Err(SandboxError::PathEscape(path.into())),
                _ => Err(SandboxError::Io(format!(
                    "{path}: refusing to write through a symlink"
                ))),
            };
        }
        r.dir.write(&r.rel, contents).map_err(|e| map_io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_refuses_climbing_out() {
        assert_eq!(normalize("a/./b", "/testbed").unwrap(), "/testbed/a/b");
        assert_eq!(normalize("../x", "/testbed/sub").unwrap(), "/testbed/x");
        assert_eq!(
            normalize("/testbed/../etc/passwd", "/").unwrap(),
            "/etc/passwd"
        );
        assert!(normalize("../../..", "/testbed").is_err());
    }
}
