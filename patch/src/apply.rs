//! Applying a patch to a host directory without git: modify, create, delete and rename files,
//! byte for byte.
//!
//! With `fuzz: 0` the result is `git apply`'s: each hunk's context must match exactly; it is
//! looked for at its line first, then outward (one line after, one before, two after, …), and a
//! hunk that starts at line 1 (or adds to an empty file) must match at the start, one without
//! trailing context at the end, as git requires. With `fuzz: N` a hunk that does not match is
//! tried again with up to N context lines dropped at each end, anywhere, as `patch --fuzz=N`
//! does. `\ No newline at end of file` is respected on both sides.
//!
//! The patch is applied all or nothing: every result is computed in memory first, then written.
//! Paths are checked (`check::path_is_inside`: relative, no `..`, not into `.git`), and no file
//! is read or written through a symbolic link (git's "beyond a symbolic link"), so a patch cannot
//! reach outside the directory, nor create a symlink (mode 120000 is refused).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::check::{PatchProblem, check, path_is_inside};
use super::parse::{FilePatch, Hunk, HunkLine};

/// How strictly hunks must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplyOptions {
    /// Context lines that may be ignored at each end of a hunk that does not match as is
    /// (`patch --fuzz`); 0 is `git apply`.
    pub fuzz: usize,
}

impl ApplyOptions {
    /// `git apply`: exact context.
    pub const GIT: ApplyOptions = ApplyOptions { fuzz: 0 };
    /// The official harness's last resort, `patch --batch --fuzz=5`.
    pub const FUZZ5: ApplyOptions = ApplyOptions { fuzz: 5 };
}

/// Why a patch did not apply. The directory is left untouched in every case but `Io`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Refused(#[from] PatchProblem),
    #[error("{path}: patch does not apply: hunk #{hunk} (patch line {line}) {reason}")]
    Hunk {
        path: String,
        hunk: usize,
        line: usize,
        reason: String,
    },
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

impl ApplyError {
    /// The kind recorded in results: model failures except `io`.
    pub fn kind(&self) -> &'static str {
        match self {
            ApplyError::Refused(p) => p.kind(),
            ApplyError::Hunk { .. } => "hunk_failed",
            ApplyError::File { .. } => "patch_file",
            ApplyError::Io { .. } => "io",
        }
    }
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Modify,
    Create,
    Delete,
    Rename,
    Copy,
}

/// Where one hunk went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HunkReport {
    /// 1-based, within its file section.
    pub index: usize,
    /// 1-based line the hunk said it starts at (new side), and where it was applied.
    pub expected_line: usize,
    pub applied_line: usize,
    /// Context lines dropped at each end to make it match.
    pub fuzz: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub path: String,
    /// For renames, the old path.
    pub from: Option<String>,
    pub action: Action,
    pub hunks: Vec<HunkReport>,
}

/// A successful application.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub files: Vec<FileReport>,
}

impl Applied {
    /// A log in the manner of `git apply -v` / `patch`: one line per file, one per hunk that
    /// needed an offset or fuzz.
    pub fn log(&self) -> String {
        let mut s = String::new();
        for f in &self.files {
            let _ = match (f.action, &f.from) {
                (Action::Rename | Action::Copy, Some(from)) => {
                    writeln!(s, "Applied patch {from} => {} cleanly.", f.path)
                }
                (Action::Create, _) => writeln!(s, "Applied patch {} (new file) cleanly.", f.path),
                (Action::Delete, _) => writeln!(s, "Applied patch {} (deleted) cleanly.", f.path),
                _ => writeln!(s, "Applied patch {} cleanly.", f.path),
            };
            for h in &f.hunks {
                let offset = h.applied_line as i64 - h.expected_line as i64;
                if offset == 0 && h.fuzz == 0 {
                    continue;
                }
                let _ = write!(s, "Hunk #{} succeeded at {}", h.index, h.applied_line);
                if h.fuzz > 0 {
                    let _ = write!(s, " with fuzz {}", h.fuzz);
                }
                if offset != 0 {
                    let lines = if offset.abs() == 1 { "line" } else { "lines" };
                    let _ = write!(s, " (offset {offset} {lines})");
                }
                s.push_str(".\n");
            }
        }
        s
    }
}

/// A file's lines, each with whether it ends in `\n` (only the last may not).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Text {
    lines: Vec<(Vec<u8>, bool)>,
}

impl Text {
    fn from_bytes(b: &[u8]) -> Text {
        let mut lines = Vec::new();
        let mut rest = b;
        while !rest.is_empty() {
            match rest.iter().position(|c| *c == b'\n') {
                Some(i) => {
                    lines.push((rest[..i].to_vec(), true));
                    rest = &rest[i + 1..];
                }
                None => {
                    lines.push((rest.to_vec(), false));
                    rest = &[];
                }
            }
        }
        Text { lines }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (l, nl) in &self.lines {
            out.extend_from_slice(l);
            if *nl {
                out.push(b'\n');
            }
        }
        out
    }
}

/// A hunk's old and new sides as lines with their newline flags, and its context counts.
struct Sides<'a> {
    old: Vec<(&'a [u8], bool)>,
    new: Vec<(&'a [u8], bool)>,
    leading: usize,
    trailing: usize,
}

fn sides(h: &Hunk) -> Sides<'_> {
    let mut old = Vec::new();
    let mut new = Vec::new();
    for l in &h.lines {
        match l {
            HunkLine::Context(s) => {
                old.push((s.as_bytes(), true));
                new.push((s.as_bytes(), true));
            }
            HunkLine::Remove(s) => old.push((s.as_bytes(), true)),
            HunkLine::Add(s) => new.push((s.as_bytes(), true)),
        }
    }
    if h.old_no_newline
        && let Some(last) = old.last_mut()
    {
        last.1 = false;
    }
    if h.new_no_newline
        && let Some(last) = new.last_mut()
    {
        last.1 = false;
    }
    let leading = h
        .lines
        .iter()
        .take_while(|l| matches!(l, HunkLine::Context(_)))
        .count();
    // As git counts them: a hunk of context only has all its lines leading and trailing.
    let trailing = h
        .lines
        .iter()
        .rev()
        .take_while(|l| matches!(l, HunkLine::Context(_)))
        .count();
    Sides {
        old,
        new,
        leading,
        trailing,
    }
}

fn matches_at(text: &Text, old: &[(&[u8], bool)], at: usize, begin: bool, end: bool) -> bool {
    if begin && at != 0 {
        return false;
    }
    if end && at + old.len() != text.lines.len() {
        return false;
    }
    if at + old.len() > text.lines.len() {
        return false;
    }
    old.iter()
        .zip(&text.lines[at..])
        .all(|((o, onl), (t, tnl))| *o == t.as_slice() && onl == tnl)
}

/// git's `find_pos`: `line`, then one after, one before, two after, two before, …
fn find_pos(
    text: &Text,
    old: &[(&[u8], bool)],
    line: usize,
    begin: bool,
    end: bool,
) -> Option<usize> {
    let n = text.lines.len();
    if old.len() > n {
        return None;
    }
    let line = if begin {
        0
    } else if end {
        n - old.len()
    } else {
        line.min(n)
    };
    if matches_at(text, old, line, begin, end) {
        return Some(line);
    }
    let (mut back, mut fwd) = (line, line);
    while back > 0 || fwd < n {
        if fwd < n {
            fwd += 1;
            if matches_at(text, old, fwd, begin, end) {
                return Some(fwd);
            }
        }
        if back > 0 {
            back -= 1;
            if matches_at(text, old, back, begin, end) {
                return Some(back);
            }
        }
    }
    None
}

/// Applies a file's hunks in order to `text`; on failure, the 1-based hunk index and why.
fn apply_hunks(
    text: &mut Text,
    hunks: &[Hunk],
    fuzz: usize,
) -> Result<Vec<HunkReport>, (usize, String)> {
    let mut reports = Vec::new();
    for (i, h) in hunks.iter().enumerate() {
        let s = sides(h);
        let line = h.new_start.saturating_sub(1);
        let mut found = None;
        for f in 0..=fuzz {
            let lead = f.min(s.leading);
            // Never drop a line twice (a hunk of context only).
            let trail = f.min(s.trailing).min(s.old.len() - lead);
            if f > 0 && f > s.leading.max(s.trailing) {
                // Nothing more to drop: more fuzz cannot help.
                break;
            }
            let (begin, end) = if f == 0 {
                (h.old_start <= 1, s.trailing == 0)
            } else {
                (false, false)
            };
            let old = &s.old[lead..s.old.len() - trail];
            if let Some(at) = find_pos(text, old, line + lead, begin, end) {
                found = Some((at, f, lead, trail));
                break;
            }
        }
        let Some((at, f, lead, trail)) = found else {
            let reason = if s.old.len() > text.lines.len() {
                "expects more lines than the file has".to_string()
            } else {
                format!("does not match the file near line {}", h.old_start.max(1))
            };
            return Err((i + 1, reason));
        };
        let old_len = s.old.len() - lead - trail;
        let new: Vec<(Vec<u8>, bool)> = s.new[lead..s.new.len() - trail]
            .iter()
            .map(|(l, nl)| (l.to_vec(), *nl))
            .collect();
        text.lines.splice(at..at + old_len, new);
        // A line that lost its final newline in the middle of the file (a malformed patch)
        // would glue two lines together; git keeps the newline there, and so do we.
        let n = text.lines.len();
        for (_, nl) in text.lines.iter_mut().take(n.saturating_sub(1)) {
            *nl = true;
        }
        reports.push(HunkReport {
            index: i + 1,
            expected_line: h.new_start.max(1),
            applied_line: at - lead + 1,
            fuzz: f,
        });
    }
    Ok(reports)
}

/// Applies hunks to a file's bytes (pure; used by `apply` and handy for tests).
pub fn apply_to_bytes(
    old: &[u8],
    hunks: &[Hunk],
    opts: &ApplyOptions,
) -> Result<(Vec<u8>, Vec<HunkReport>), (usize, String)> {
    let mut text = Text::from_bytes(old);
    let reports = apply_hunks(&mut text, hunks, opts.fuzz)?;
    Ok((text.to_bytes(), reports))
}

/// Checks and applies a patch text to `dir`.
pub fn apply_patch(dir: &Path, patch: &str, opts: &ApplyOptions) -> Result<Applied, ApplyError> {
    let files = check(patch)?;
    apply(dir, &files, opts)
}

/// A file's state during application: its bytes and executable bit, or gone.
#[derive(Debug, Clone)]
enum State {
    Present { bytes: Vec<u8>, exec: bool },
    Absent,
}

struct Tree<'a> {
    dir: &'a Path,
    /// Files already read or changed by earlier sections, by path.
    overlay: BTreeMap<String, State>,
}

fn io_err(path: &str, e: io::Error) -> ApplyError {
    ApplyError::Io {
        path: path.to_string(),
        message: e.to_string(),
    }
}

impl Tree<'_> {
    /// Refuses any path whose existing components include a symbolic link or a non-directory.
    fn check_path(&self, path: &str) -> Result<PathBuf, ApplyError> {
        if !path_is_inside(path) {
            return Err(PatchProblem::PathEscape(path.to_string()).into());
        }
        let mut p = self.dir.to_path_buf();
        let comps: Vec<&str> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        let full = comps.iter().fold(self.dir.to_path_buf(), |p, c| p.join(c));
        for (i, c) in comps.iter().enumerate() {
            p.push(c);
            match fs::symlink_metadata(&p) {
                Ok(md) if md.file_type().is_symlink() => {
                    return Err(ApplyError::File {
                        path: path.to_string(),
                        message: if i + 1 == comps.len() {
                            "is a symbolic link; protege does not patch through links".into()
                        } else {
                            "is beyond a symbolic link".into()
                        },
                    });
                }
                Ok(md) if i + 1 < comps.len() && !md.is_dir() => {
                    return Err(ApplyError::File {
                        path: path.to_string(),
                        message: format!("`{}` is not a directory", comps[..=i].join("/")),
                    });
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // Nothing below a missing component exists either.
                    break;
                }
                Err(e) => return Err(io_err(path, e)),
            }
        }
        Ok(full)
    }

    fn get(&mut self, path: &str) -> Result<State, ApplyError> {
        if let Some(s) = self.overlay.get(path) {
            return Ok(s.clone());
        }
        let p = self.check_path(path)?;
        let state = match fs::symlink_metadata(&p) {
            Ok(md) if md.is_dir() => {
                return Err(ApplyError::File {
                    path: path.to_string(),
                    message: "is a directory".into(),
                });
            }
            Ok(md) => State::Present {
                bytes: fs::read(&p).map_err(|e| io_err(path, e))?,
                exec: is_exec(&md),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => State::Absent,
            Err(e) => return Err(io_err(path, e)),
        };
        self.overlay.insert(path.to_string(), state.clone());
        Ok(state)
    }
}

#[cfg(unix)]
fn is_exec(md: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    md.permissions().mode() & 0o111 != 0
}
#[cfg(not(unix))]
fn is_exec(_: &fs::Metadata) -> bool {
    false
}

fn mode_exec(mode: Option<u32>, current: bool) -> Result<bool, String> {
    match mode {
        None => Ok(current),
        Some(m) if m & 0o170000 == 0o120000 => Err(
            "is a symbolic link in the patch (mode 120000); protege does not create links".into(),
        ),
        Some(m) if m & 0o170000 == 0o160000 => Err("is a submodule (mode 160000)".into()),
        Some(m) => Ok(m & 0o111 != 0),
    }
}

/// Applies parsed file sections to `dir`, all or nothing.
pub fn apply(dir: &Path, files: &[FilePatch], opts: &ApplyOptions) -> Result<Applied, ApplyError> {
    let mut tree = Tree {
        dir,
        overlay: BTreeMap::new(),
    };
    let mut reports = Vec::new();
    let file_err = |path: &str, message: String| ApplyError::File {
        path: path.to_string(),
        message,
    };
    for f in files {
        for p in f.paths() {
            if !path_is_inside(p) {
                return Err(PatchProblem::PathEscape(p.to_string()).into());
            }
        }
        if f.binary {
            return Err(PatchProblem::Binary(f.paths().next().unwrap_or("?").to_string()).into());
        }
        let run = |path: &str, bytes: &[u8]| -> Result<(Vec<u8>, Vec<HunkReport>), ApplyError> {
            apply_to_bytes(bytes, &f.hunks, opts).map_err(|(hunk, reason)| ApplyError::Hunk {
                path: path.to_string(),
                hunk,
                line: f.line,
                reason,
            })
        };
        let (action, path, from, hunks) = match (&f.old_path, &f.new_path) {
            (None, Some(new)) => {
                if let State::Present { .. } = tree.get(new)? {
                    return Err(file_err(new, "already exists".into()));
                }
                let exec = mode_exec(f.new_mode, false).map_err(|m| file_err(new, m))?;
                let (bytes, hunks) = run(new, b"")?;
                tree.overlay
                    .insert(new.clone(), State::Present { bytes, exec });
                (Action::Create, new.clone(), None, hunks)
            }
            (Some(old), None) => {
                let State::Present { bytes, .. } = tree.get(old)? else {
                    return Err(file_err(
                        old,
                        "does not exist, so it cannot be deleted".into(),
                    ));
                };
                let (rest, hunks) = run(old, &bytes)?;
                if !rest.is_empty() {
                    return Err(file_err(
                        old,
                        "the deletion does not remove the whole file".into(),
                    ));
                }
                tree.overlay.insert(old.clone(), State::Absent);
                (Action::Delete, old.clone(), None, hunks)
            }
            (Some(old), Some(new)) if f.copy && old != new => {
                let State::Present { bytes, exec } = tree.get(old)? else {
                    return Err(file_err(
                        old,
                        "does not exist, so it cannot be copied".into(),
                    ));
                };
                if let State::Present { .. } = tree.get(new)? {
                    return Err(file_err(new, "already exists (copy target)".into()));
                }
                let exec = mode_exec(f.new_mode, exec).map_err(|m| file_err(new, m))?;
                let (bytes, hunks) = run(old, &bytes)?;
                tree.overlay
                    .insert(new.clone(), State::Present { bytes, exec });
                (Action::Copy, new.clone(), Some(old.clone()), hunks)
            }
            (Some(old), Some(new)) if f.rename && old != new => {
                let State::Present { bytes, exec } = tree.get(old)? else {
                    return Err(file_err(
                        old,
                        "does not exist, so it cannot be renamed".into(),
                    ));
                };
                if let State::Present { .. } = tree.get(new)? {
                    return Err(file_err(new, "already exists (rename target)".into()));
                }
                let exec = mode_exec(f.new_mode, exec).map_err(|m| file_err(new, m))?;
                let (bytes, hunks) = run(old, &bytes)?;
                tree.overlay.insert(old.clone(), State::Absent);
                tree.overlay
                    .insert(new.clone(), State::Present { bytes, exec });
                (Action::Rename, new.clone(), Some(old.clone()), hunks)
            }
            (Some(old), Some(new)) => {
                // A plain `diff -u` may name two different files; patch(1) takes the one that
                // exists, the old one first.
                let target = if old == new || matches!(tree.get(old)?, State::Present { .. }) {
                    old
                } else {
                    new
                };
                let State::Present { bytes, exec } = tree.get(target)? else {
                    return Err(file_err(target, "does not exist".into()));
                };
                let exec = mode_exec(f.new_mode, exec).map_err(|m| file_err(target, m))?;
                let (bytes, hunks) = run(target, &bytes)?;
                tree.overlay
                    .insert(target.clone(), State::Present { bytes, exec });
                (Action::Modify, target.clone(), None, hunks)
            }
            (None, None) => {
                return Err(file_err(
                    "?",
                    format!("patch line {}: a section with no file name", f.line),
                ));
            }
        };
        reports.push(FileReport {
            path,
            from,
            action,
            hunks,
        });
    }
    write_tree(&tree)?;
    Ok(Applied { files: reports })
}

fn write_tree(tree: &Tree<'_>) -> Result<(), ApplyError> {
    // Deletions first, so a file can replace a directory emptied by the same patch.
    for (path, state) in &tree.overlay {
        if let State::Absent = state {
            let p = tree.check_path(path)?;
            match fs::remove_file(&p) {
                Ok(()) => remove_empty_parents(tree.dir, &p),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(path, e)),
            }
        }
    }
    for (path, state) in &tree.overlay {
        if let State::Present { bytes, exec } = state {
            let p = tree.check_path(path)?;
            if let Some(parent) = p.parent() {
                fs::create_dir_all(parent).map_err(|e| io_err(path, e))?;
            }
            // Re-checked now that parents exist: none of them may be a link.
            tree.check_path(path)?;
            let unchanged = fs::read(&p).map(|b| b == *bytes).unwrap_or(false);
            if !unchanged {
                fs::write(&p, bytes).map_err(|e| io_err(path, e))?;
            }
            set_exec(&p, *exec).map_err(|e| io_err(path, e))?;
        }
    }
    Ok(())
}

/// git removes directories that a deletion leaves empty.
fn remove_empty_parents(root: &Path, file: &Path) {
    let mut p = file.parent();
    while let Some(d) = p {
        if d == root || !d.starts_with(root) || fs::remove_dir(d).is_err() {
            break;
        }
        p = d.parent();
    }
}

#[cfg(unix)]
fn set_exec(p: &Path, exec: bool) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = fs::metadata(p)?.permissions();
    let mode = perms.mode();
    let want = if exec {
        mode | ((mode & 0o444) >> 2)
    } else {
        mode & !0o111
    };
    if want != mode {
        perms.set_mode(want);
        fs::set_permissions(p, perms)?;
    }
    Ok(())
}
#[cfg(not(unix))]
fn set_exec(_: &Path, _: bool) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    fn hunks(patch: &str) -> Vec<Hunk> {
        parse(patch).unwrap().remove(0).hunks
    }

    fn apply_str(old: &str, patch: &str, fuzz: usize) -> Result<String, (usize, String)> {
        apply_to_bytes(old.as_bytes(), &hunks(patch), &ApplyOptions { fuzz })
            .map(|(b, _)| String::from_utf8(b).unwrap())
    }

    const BASE: &str = "a\nb\nc\nd\ne\nf\ng\nh\n";

    #[test]
    fn exact_offset_and_failure() {
        let p = "--- a/x\n+++ b/x\n@@ -3,3 +3,3 @@\n c\n-d\n+D\n e\n";
        assert_eq!(apply_str(BASE, p, 0).unwrap(), "a\nb\nc\nD\ne\nf\ng\nh\n");
        // Two lines inserted above: found by searching outward.
        let shifted = format!("0\n1\n{BASE}");
        let (out, rep) = apply_to_bytes(shifted.as_bytes(), &hunks(p), &ApplyOptions::GIT).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "0\n1\na\nb\nc\nD\ne\nf\ng\nh\n"
        );
        assert_eq!((rep[0].expected_line, rep[0].applied_line), (3, 5));
        // Context changed: git refuses, fuzz 1 drops the first and last context lines.
        let changed = BASE.replace("c\n", "C\n");
        assert!(apply_str(&changed, p, 0).is_err());
        assert_eq!(
            apply_str(&changed, p, 1).unwrap(),
            "a\nb\nC\nD\ne\nf\ng\nh\n"
        );
        // A removed line that is not there never applies, whatever the fuzz.
        assert!(apply_str(&BASE.replace("d\n", "x\n"), p, 5).is_err());
    }

    #[test]
    fn beginning_and_end_anchors() {
        // Starts at line 1: git insists on the start of the file.
        let p = "--- a/x\n+++ b/x\n@@ -1,2 +1,3 @@\n a\n+A\n b\n";
        assert_eq!(
            apply_str(BASE, p, 0).unwrap(),
            "a\nA\nb\nc\nd\ne\nf\ng\nh\n"
        );
        assert!(apply_str(&format!("z\n{BASE}"), p, 0).is_err());
        assert!(apply_str(&format!("z\n{BASE}"), p, 1).is_ok());
        // No trailing context: must match at the end.
        let p = "--- a/x\n+++ b/x\n@@ -7,2 +7,3 @@\n g\n h\n+i\n";
        assert_eq!(apply_str(BASE, p, 0).unwrap(), format!("{BASE}i\n"));
        assert!(apply_str(&format!("{BASE}z\n"), p, 0).is_err());
    }

    #[test]
    fn no_newline_at_end_of_file() {
        let add_nl =
            "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n";
        assert_eq!(apply_str("a\nb", add_nl, 0).unwrap(), "a\nb\n");
        // The file already ends in a newline: the old side does not match.
        assert!(apply_str("a\nb\n", add_nl, 0).is_err());
        let drop_nl =
            "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n\\ No newline at end of file\n";
        assert_eq!(apply_str("a\nb\n", drop_nl, 0).unwrap(), "a\nc");
        let both = "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-a\n+z\n b\n\\ No newline at end of file\n";
        assert_eq!(apply_str("a\nb", both, 0).unwrap(), "z\nb");
    }

    #[test]
    fn utf8_and_crlf_are_byte_exact() {
        let old = "x = 'café'\r\ny = \"naïve — ü\"\r\nz = 1\r\n";
        let p = "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n x = 'café'\r\n-y = \"naïve — ü\"\r\n+y = \"日本語 ✓\"\r\n z = 1\r\n";
        assert_eq!(
            apply_str(old, p, 0).unwrap(),
            "x = 'café'\r\ny = \"日本語 ✓\"\r\nz = 1\r\n"
        );
    }

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, c) in files {
            let path = d.path().join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, c).unwrap();
        }
        d
    }

    #[test]
    fn create_delete_rename_modify() {
        let d = tree(&[
            ("pkg/a.py", "one\ntwo\n"),
            ("pkg/old.py", "x\n"),
            ("gone/g.py", "bye\n"),
        ]);
        let patch = "diff --git a/pkg/a.py b/pkg/a.py\n--- a/pkg/a.py\n+++ b/pkg/a.py\n@@ -1,2 +1,2 @@\n one\n-two\n+2\n\
diff --git a/new/n.py b/new/n.py\nnew file mode 100755\n--- /dev/null\n+++ b/new/n.py\n@@ -0,0 +1,2 @@\n+#!/x\n+n\n\
diff --git a/gone/g.py b/gone/g.py\ndeleted file mode 100644\n--- a/gone/g.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n\
diff --git a/pkg/old.py b/pkg/renamed.py\nsimilarity index 50%\nrename from pkg/old.py\nrename to pkg/renamed.py\n--- a/pkg/old.py\n+++ b/pkg/renamed.py\n@@ -1 +1 @@\n-x\n+y\n";
        let applied = apply_patch(d.path(), patch, &ApplyOptions::GIT).unwrap();
        assert_eq!(
            fs::read_to_string(d.path().join("pkg/a.py")).unwrap(),
            "one\n2\n"
        );
        assert_eq!(
            fs::read_to_string(d.path().join("new/n.py")).unwrap(),
            "#!/x\nn\n"
        );
        assert!(
            !d.path().join("gone").exists(),
            "emptied directories are removed, as git does"
        );
        assert!(!d.path().join("pkg/old.py").exists());
        assert_eq!(
            fs::read_to_string(d.path().join("pkg/renamed.py")).unwrap(),
            "y\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(d.path().join("new/n.py"))
                .unwrap()
                .permissions()
                .mode();
            assert_ne!(mode & 0o100, 0);
        }
        let log = applied.log();
        assert!(log.contains("pkg/old.py => pkg/renamed.py"), "{log}");
        assert_eq!(applied.files.len(), 4);
    }

    #[test]
    fn all_or_nothing() {
        let d = tree(&[("a.py", "1\n2\n"), ("b.py", "x\n")]);
        let patch = "--- a/a.py\n+++ b/a.py\n@@ -1,2 +1,2 @@\n 1\n-2\n+3\n--- a/b.py\n+++ b/b.py\n@@ -1 +1 @@\n-nope\n+y\n";
        let e = apply_patch(d.path(), patch, &ApplyOptions::GIT).unwrap_err();
        assert!(
            matches!(&e, ApplyError::Hunk { path, hunk: 1, .. } if path == "b.py"),
            "{e}"
        );
        assert_eq!(fs::read_to_string(d.path().join("a.py")).unwrap(), "1\n2\n");
        // Creating an existing file, deleting a missing one, modifying a missing one.
        let create = "--- /dev/null\n+++ b/a.py\n@@ -0,0 +1 @@\n+x\n";
        assert!(
            apply_patch(d.path(), create, &ApplyOptions::GIT)
                .unwrap_err()
                .to_string()
                .contains("already exists")
        );
        let delete = "--- a/zz.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n";
        assert!(apply_patch(d.path(), delete, &ApplyOptions::GIT).is_err());
        let partial_delete = "--- a/a.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-1\n";
        assert!(apply_patch(d.path(), partial_delete, &ApplyOptions::GIT).is_err());
    }

    #[test]
    fn two_sections_for_one_file_apply_in_turn() {
        let d = tree(&[("a.py", "1\n2\n3\n")]);
        let patch = "--- a/a.py\n+++ b/a.py\n@@ -1,3 +1,3 @@\n 1\n-2\n+two\n 3\n--- a/a.py\n+++ b/a.py\n@@ -1,3 +1,3 @@\n 1\n-two\n+TWO\n 3\n";
        apply_patch(d.path(), patch, &ApplyOptions::GIT).unwrap();
        assert_eq!(
            fs::read_to_string(d.path().join("a.py")).unwrap(),
            "1\nTWO\n3\n"
        );
    }

    #[test]
    fn refuses_paths_that_leave_the_directory() {
        let d = tree(&[("a.py", "x\n")]);
        for bad in [
            "../evil.py",
            "/etc/passwd",
            "x/../../evil.py",
            ".git/hooks/pre-commit",
        ] {
            let p = format!("--- /dev/null\n+++ {bad}\n@@ -0,0 +1 @@\n+x\n");
            let e = apply_patch(d.path(), &p, &ApplyOptions::GIT).unwrap_err();
            assert_eq!(e.kind(), "path_escape", "{bad}: {e}");
        }
        // Also when handed parsed sections directly, skipping `check`.
        let fp = FilePatch {
            old_path: None,
            new_path: Some("../evil.py".into()),
            ..Default::default()
        };
        assert_eq!(
            apply(d.path(), &[fp], &ApplyOptions::GIT)
                .unwrap_err()
                .kind(),
            "path_escape"
        );
    }

    #[cfg(unix)]
    #[test]
    fn refuses_symlinks_in_and_out() {
        let outside = tree(&[("secret.py", "s\n")]);
        let d = tree(&[("a.py", "x\n")]);
        std::os::unix::fs::symlink(outside.path(), d.path().join("link")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.py"), d.path().join("s.py"))
            .unwrap();
        let through_dir = "--- /dev/null\n+++ b/link/new.py\n@@ -0,0 +1 @@\n+x\n";
        let e = apply_patch(d.path(), through_dir, &ApplyOptions::GIT).unwrap_err();
        assert!(e.to_string().contains("beyond a symbolic link"), "{e}");
        assert!(!outside.path().join("new.py").exists());
        let through_file = "--- a/s.py\n+++ b/s.py\n@@ -1 +1 @@\n-s\n+pwned\n";
        let e = apply_patch(d.path(), through_file, &ApplyOptions::GIT).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(
            fs::read_to_string(outside.path().join("secret.py")).unwrap(),
            "s\n"
        );
        // A patch that would create a symlink.
        let mk_link = "diff --git a/l b/l\nnew file mode 120000\n--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n+/etc/passwd\n\\ No newline at end of file\n";
        let e = apply_patch(d.path(), mk_link, &ApplyOptions::GIT).unwrap_err();
        assert!(e.to_string().contains("120000"), "{e}");
        assert!(fs::symlink_metadata(d.path().join("l")).is_err());
    }

    // ---- equivalence with `git apply` ----

    fn git_available() -> bool {
        std::process::Command::new("git")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Every regular file under `root` (skipping `.git`) with its bytes and executable bit.
    fn snapshot(root: &Path) -> BTreeMap<String, (Vec<u8>, bool)> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (Vec<u8>, bool)>) {
            for e in fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let p = e.path();
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                if rel == ".git" {
                    continue;
                }
                let md = fs::symlink_metadata(&p).unwrap();
                if md.is_dir() {
                    walk(root, &p, out);
                } else {
                    out.insert(rel, (fs::read(&p).unwrap(), is_exec(&md)));
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(root, root, &mut out);
        out
    }

    fn git_apply(dir: &Path, patch: &str) -> bool {
        let pf = dir.join(".git").join("protege-test.patch");
        fs::write(&pf, patch).unwrap();
        let st = std::process::Command::new("git")
            .args(["apply", "--whitespace=nowarn"])
            .arg(&pf)
            .current_dir(dir)
            .output()
            .unwrap();
        st.status.success()
    }

    fn materialise(files: &[(String, Vec<u8>)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, c) in files {
            let path = d.path().join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, c).unwrap();
        }
        let ok = std::process::Command::new("git")
            .args(["init", "-q"])
            .current_dir(d.path())
            .status()
            .unwrap()
            .success();
        assert!(ok);
        d
    }

    /// Applies `patches` in turn with apply.rs in one copy and `git apply` in another, and
    /// compares: both fail at the same patch, or both trees are equal byte for byte.
    fn compare_with_git(files: &[(String, Vec<u8>)], patches: &[&str], what: &str) {
        let ours = materialise(files);
        let theirs = materialise(files);
        for (i, p) in patches.iter().enumerate() {
            let a = apply_patch(ours.path(), p, &ApplyOptions::GIT);
            let b = git_apply(theirs.path(), p);
            assert_eq!(
                a.is_ok(),
                b,
                "{what}: patch {i}: apply.rs {a:?}, git apply ok={b}"
            );
            if !b {
                return;
            }
        }
        assert_eq!(
            snapshot(ours.path()),
            snapshot(theirs.path()),
            "{what}: trees differ"
        );
    }

    fn mini_files(id: &str) -> Vec<(String, Vec<u8>)> {
        protege_datasets::mini::repo_files(id)
            .into_iter()
            .map(|f| (f.path, f.contents.to_vec()))
            .collect()
    }

    #[test]
    fn mini_set_matches_git_apply() {
        if !git_available() {
            eprintln!("SKIPPED: git is not installed");
            return;
        }
        let set = protege_datasets::mini::load().unwrap();
        assert_eq!(set.tasks.len(), 15);
        for t in &set.tasks {
            let files = mini_files(&t.instance_id);
            assert!(!files.is_empty());
            compare_with_git(&files, &[&t.patch, &t.test_patch], &t.instance_id);
            // And the result is not the base tree: the patches did something.
            let d = materialise(&files);
            apply_patch(d.path(), &t.patch, &ApplyOptions::GIT).unwrap();
            apply_patch(d.path(), &t.test_patch, &ApplyOptions::GIT).unwrap();
            assert_ne!(snapshot(d.path()), snapshot(materialise(&files).path()));
        }
    }

    /// Patches made by `git diff -M -C` with every kind of section (modify, rename and copy with
    /// edits, mode change, delete, create in a new directory, quoted non-ASCII name, CRLF, no
    /// newline at end of file) apply as `git apply` applies them.
    #[test]
    fn git_generated_patches_match_git_apply() {
        if !git_available() {
            eprintln!("SKIPPED: git is not installed");
            return;
        }
        let long: String = (1..=40).map(|i| format!("line {i}\n")).collect();
        let base: Vec<(String, Vec<u8>)> = [
            ("a.py", "1\n2\n3\n".to_string()),
            ("b.py", long.replace("line", "b")),
            ("big.py", long.clone()),
            ("run.sh", "echo hi\n".into()),
            ("café.py", "x = 'é'\ny = 1\n".into()),
            ("crlf.txt", "a\r\nb\r\nc\r\n".into()),
            ("nonl.txt", "first\nend".into()),
            ("dir/gone.py", "bye\n".into()),
        ]
        .into_iter()
        .map(|(p, c)| (p.to_string(), c.into_bytes()))
        .collect();
        let repo = materialise(&base);
        let git = |args: &[&str]| {
            let o = std::process::Command::new("git")
                .args([
                    "-c",
                    "user.name=t",
                    "-c",
                    "user.email=t@t",
                    "-c",
                    "core.quotePath=true",
                ])
                .args(args)
                .current_dir(repo.path())
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            String::from_utf8(o.stdout).unwrap()
        };
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "base"]);
        let w = |p: &str, c: &str| {
            let path = repo.path().join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, c).unwrap();
        };
        w("a.py", "1\ntwo\n3\n");
        fs::remove_file(repo.path().join("b.py")).unwrap();
        w(
            "moved/b2.py",
            &long.replace("line", "b").replace("b 20\n", "b twenty\n"),
        );
        w("big_copy.py", &long.replace("line 7\n", "line seven\n"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let p = repo.path().join("run.sh");
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        // (A mode change alone would be a section without hunks, which `check` refuses.)
        w("run.sh", "echo hello\n");
        w("café.py", "x = 'é'\ny = 'ü'\n");
        w("crlf.txt", "a\r\nB\r\nc\r\n");
        w("nonl.txt", "first\nend\n");
        fs::remove_file(repo.path().join("dir/gone.py")).unwrap();
        w("new/dir/n.py", "print('new')\n");
        git(&["add", "-A"]);
        let patch = git(&["diff", "--cached", "-M", "-C", "--find-copies-harder"]);
        for expected in [
            "rename from b.py",
            "copy from big.py",
            "new mode 100755",
            "\"a/caf\\303\\251.py\"",
            "deleted file mode",
            "new file mode",
            "\\ No newline at end of file",
        ] {
            assert!(
                patch.contains(expected),
                "{expected} missing from:\n{patch}"
            );
        }
        compare_with_git(&base, &[&patch], "git-generated patch");
        // And in reverse, from the patched tree back to the base.
        let reverse = git(&["diff", "--cached", "-R", "-M", "-C", "--find-copies-harder"]);
        let patched = materialise(&base);
        apply_patch(patched.path(), &patch, &ApplyOptions::GIT).unwrap();
        let files: Vec<(String, Vec<u8>)> = snapshot(patched.path())
            .into_iter()
            .map(|(p, (c, _))| (p, c))
            .collect();
        compare_with_git(&files, &[&reverse], "reversed git-generated patch");
    }

    /// A section that only changes the mode (no hunks) applies when handed to `apply` directly
    /// (`check` refuses sections without hunks).
    #[cfg(unix)]
    #[test]
    fn mode_only_change() {
        use std::os::unix::fs::PermissionsExt;
        let d = tree(&[("run.sh", "echo\n")]);
        let p = "diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n";
        let files = parse(p).unwrap();
        apply(d.path(), &files, &ApplyOptions::GIT).unwrap();
        let mode = fs::metadata(d.path().join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
        assert_eq!(
            fs::read_to_string(d.path().join("run.sh")).unwrap(),
            "echo\n"
        );
    }

    /// The same patches against perturbed trees (lines added at the top or the bottom of the
    /// files they touch, a context line changed): apply.rs and git agree on success and result.
    #[test]
    fn perturbed_mini_trees_match_git_apply() {
        if !git_available() {
            eprintln!("SKIPPED: git is not installed");
            return;
        }
        let set = protege_datasets::mini::load().unwrap();
        let mut failures_seen = 0;
        for t in &set.tasks {
            let touched: Vec<String> = parse(&t.patch)
                .unwrap()
                .iter()
                .chain(parse(&t.test_patch).unwrap().iter())
                .filter_map(|f| f.old_path.clone())
                .collect();
            type Perturb = fn(&[u8]) -> Vec<u8>;
            let perturbations: [(&str, Perturb); 4] = [
                ("top", |b| [b"# added\n# lines\n".as_slice(), b].concat()),
                ("bottom", |b| [b, b"\n# trailing\n".as_slice()].concat()),
                ("both", |b| {
                    [b"# x\n".as_slice(), b, b"# y\n".as_slice()].concat()
                }),
                ("no-final-newline", |b| {
                    b.strip_suffix(b"\n").unwrap_or(b).to_vec()
                }),
            ];
            for (name, f) in perturbations {
                let files: Vec<(String, Vec<u8>)> = mini_files(&t.instance_id)
                    .into_iter()
                    .map(|(p, c)| {
                        if touched.contains(&p) {
                            (p.clone(), f(&c))
                        } else {
                            (p, c)
                        }
                    })
                    .collect();
                let before = materialise(&files);
                let ok = git_apply(before.path(), &t.patch);
                failures_seen += usize::from(!ok);
                compare_with_git(
                    &files,
                    &[&t.patch, &t.test_patch],
                    &format!("{} ({name})", t.instance_id),
                );
            }
        }
        // Some perturbations must make git refuse, or the comparison would prove little.
        assert!(failures_seen > 0);
    }
}
