//! A unified-diff parser for `git diff` and plain `diff -u` output.

/// One line of a hunk body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HunkLine {
    Context(String),
    Remove(String),
    Add(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
    pub lines: Vec<HunkLine>,
    /// `\ No newline at end of file` after the old / new side's last line.
    pub old_no_newline: bool,
    pub new_no_newline: bool,
}

/// One file's part of a patch. Paths have their `a/` / `b/` prefix removed; `None` is /dev/null.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FilePatch {
    pub old_path: Option<String>,
    pub new_path: Option<String>,
    pub hunks: Vec<Hunk>,
    pub binary: bool,
    pub rename: bool,
    /// `copy from` / `copy to` (`git diff -C`): the old file stays, the new one is made from it.
    pub copy: bool,
    /// `new file mode 100755`, `new mode 100755` and the like.
    pub new_mode: Option<u32>,
    /// The 1-based line of the patch where this file's section starts.
    pub line: usize,
}

impl FilePatch {
    pub fn is_create(&self) -> bool {
        self.old_path.is_none() && self.new_path.is_some()
    }
    pub fn is_delete(&self) -> bool {
        self.new_path.is_none() && self.old_path.is_some()
    }
    /// Every path the section names.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.old_path
            .iter()
            .chain(self.new_path.iter())
            .map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// git writes a path with unusual bytes (non-ASCII, quotes, control characters) C-style quoted:
/// `"caf\303\251.py"`. Unquoted paths are returned as they are.
fn unquote(path: &str) -> String {
    let Some(inner) = path.strip_prefix('"').and_then(|p| p.strip_suffix('"')) else {
        return path.to_string();
    };
    let mut out = Vec::new();
    let b = inner.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = b[i + 1];
        i += 2;
        out.push(match c {
            b'a' => 7,
            b'b' => 8,
            b't' => b'\t',
            b'n' => b'\n',
            b'v' => 11,
            b'f' => 12,
            b'r' => b'\r',
            b'0'..=b'3'
                if b.len() >= i + 2 && b[i..i + 2].iter().all(|d| (b'0'..=b'7').contains(d)) =>
            {
                let oct = &inner[i - 1..i + 2];
                i += 2;
                u8::from_str_radix(oct, 8).unwrap_or(b'?')
            }
            other => other,
        });
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits the `a/X b/Y` of a `diff --git` line, either side possibly quoted.
fn split_git_header(rest: &str) -> Option<(String, String)> {
    if rest.starts_with('"') {
        // The closing quote is the first `"` not escaped by a backslash.
        let b = rest.as_bytes();
        let mut i = 1;
        while i < b.len() && b[i] != b'"' {
            i += if b[i] == b'\\' { 2 } else { 1 };
        }
        let (a, tail) = rest.split_at((i + 1).min(rest.len()));
        return Some((a.to_string(), tail.strip_prefix(' ')?.to_string()));
    }
    if let Some(q) = rest.find(" \"b/") {
        return Some((rest[..q].to_string(), rest[q + 1..].to_string()));
    }
    let (a, b) = rest.split_once(" b/")?;
    Some((a.to_string(), format!("b/{b}")))
}

fn strip_prefix(path: &str) -> Option<String> {
    // `--- a/x.py\t2024-01-01 …` (diff -u puts a timestamp after a tab).
    let path = path.split('\t').next().unwrap_or(path).trim_end();
    if path == "/dev/null" {
        return None;
    }
    let path = &unquote(path);
    let path = path
        .strip_prefix("a/")
        .or_else(|| path.strip_prefix("b/"))
        .unwrap_or(path);
    Some(path.to_string())
}

fn parse_range(s: &str) -> Option<(usize, usize)> {
    match s.split_once(',') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => Some((s.parse().ok()?, 1)),
    }
}

fn parse_hunk_header(line: &str) -> Option<(usize, usize, usize, usize)> {
    let rest = line.strip_prefix("@@ -")?;
    let (old, rest) = rest.split_once(" +")?;
    let (new, _) = rest.split_once(" @@")?;
    let (os, ol) = parse_range(old)?;
    let (ns, nl) = parse_range(new)?;
    Some((os, ol, ns, nl))
}

/// Parses every file section of a patch. Text before the first section (a commit message) is
/// ignored. A patch with no file section at all is an error.
pub fn parse(patch: &str) -> Result<Vec<FilePatch>, ParseError> {
    let lines: Vec<&str> = patch.split('\n').collect();
    let mut files: Vec<FilePatch> = Vec::new();
    let mut i = 0;
    // True between a `diff --git` header and its `---`/`+++` lines or first hunk.
    let mut git_header_open = false;
    let err = |line: usize, message: String| ParseError { line, message };
    while i < lines.len() {
        let line = lines[i];
        if let Some(rest) = line.strip_prefix("diff --git ") {
            let mut fp = FilePatch {
                line: i + 1,
                ..Default::default()
            };
            // Paths from the `diff --git a/X b/Y` header, used when no ---/+++ lines follow
            // (pure renames, mode changes, binary files).
            if let Some((a, b)) = split_git_header(rest) {
                fp.old_path = strip_prefix(&a);
                fp.new_path = strip_prefix(&b);
            }
            i += 1;
            while i < lines.len()
                && !lines[i].starts_with("diff --git ")
                && !lines[i].starts_with("--- ")
                && !lines[i].starts_with("@@ ")
            {
                let l = lines[i];
                if l.starts_with("new file mode") {
                    fp.old_path = None;
                    fp.new_mode = l
                        .rsplit(' ')
                        .next()
                        .and_then(|m| u32::from_str_radix(m, 8).ok());
                } else if let Some(m) = l.strip_prefix("new mode ") {
                    // A mode change (`old mode 100644` / `new mode 100755`).
                    fp.new_mode = u32::from_str_radix(m.trim(), 8).ok();
                } else if l.starts_with("deleted file mode") {
                    fp.new_path = None;
                } else if let Some(p) = l.strip_prefix("rename from ") {
                    fp.rename = true;
                    fp.old_path = Some(unquote(p));
                } else if let Some(p) = l.strip_prefix("rename to ") {
                    fp.rename = true;
                    fp.new_path = Some(unquote(p));
                } else if let Some(p) = l.strip_prefix("copy from ") {
                    fp.copy = true;
                    fp.old_path = Some(unquote(p));
                } else if let Some(p) = l.strip_prefix("copy to ") {
                    fp.copy = true;
                    fp.new_path = Some(unquote(p));
                } else if l.starts_with("Binary files ") || l.starts_with("GIT binary patch") {
                    fp.binary = true;
                }
                i += 1;
            }
            files.push(fp);
            git_header_open = true;
            continue;
        }
        if let Some(old) = line.strip_prefix("--- ") {
            let Some(new) = lines.get(i + 1).and_then(|l| l.strip_prefix("+++ ")) else {
                i += 1;
                continue;
            };
            // A `---` directly after a `diff --git` header belongs to it; otherwise it opens a
            // plain `diff -u` section.
            if !std::mem::take(&mut git_header_open) {
                files.push(FilePatch {
                    line: i + 1,
                    ..Default::default()
                });
            }
            let fp = files.last_mut().expect("pushed");
            fp.old_path = strip_prefix(old);
            fp.new_path = strip_prefix(new);
            i += 2;
            continue;
        }
        if line.starts_with("@@ ") {
            git_header_open = false;
            let (os, ol, ns, nl) = parse_hunk_header(line)
                .ok_or_else(|| err(i + 1, format!("malformed hunk header `{line}`")))?;
            let fp = files
                .last_mut()
                .ok_or_else(|| err(i + 1, "hunk before any file header".into()))?;
            let mut hunk = Hunk {
                old_start: os,
                old_len: ol,
                new_start: ns,
                new_len: nl,
                lines: Vec::new(),
                old_no_newline: false,
                new_no_newline: false,
            };
            let (mut old_seen, mut new_seen) = (0, 0);
            i += 1;
            while i < lines.len() && (old_seen < ol || new_seen < nl) {
                let l = lines[i];
                if l.starts_with('\\') {
                    mark_no_newline(&mut hunk);
                    i += 1;
                    continue;
                }
                match l.chars().next() {
                    Some('+') => {
                        hunk.lines.push(HunkLine::Add(l[1..].to_string()));
                        new_seen += 1;
                    }
                    Some('-') => {
                        hunk.lines.push(HunkLine::Remove(l[1..].to_string()));
                        old_seen += 1;
                    }
                    Some(' ') => {
                        hunk.lines.push(HunkLine::Context(l[1..].to_string()));
                        old_seen += 1;
                        new_seen += 1;
                    }
                    // Some tools drop the space of an empty context line.
                    None if i + 1 < lines.len() => {
                        hunk.lines.push(HunkLine::Context(String::new()));
                        old_seen += 1;
                        new_seen += 1;
                    }
                    _ => {
                        return Err(err(
                            i + 1,
                            format!("hunk ends early: expected {ol} old and {nl} new lines"),
                        ));
                    }
                }
                i += 1;
            }
            if old_seen != ol || new_seen != nl {
                return Err(err(
                    i,
                    format!("hunk ends early: expected {ol} old and {nl} new lines"),
                ));
            }
            // `\ No newline at end of file` markers following the hunk's last lines.
            while i < lines.len() && lines[i].starts_with('\\') {
                mark_no_newline(&mut hunk);
                i += 1;
            }
            fp.hunks.push(hunk);
            continue;
        }
        i += 1;
    }
    if files.is_empty() {
        return Err(err(
            1,
            "no file sections (`diff --git` or `---`/`+++` lines)".into(),
        ));
    }
    Ok(files)
}

/// `\ No newline at end of file` applies to the line just read: the old side's after a removed
/// line, the new side's after an added one, both after context.
fn mark_no_newline(hunk: &mut Hunk) {
    match hunk.lines.last() {
        Some(HunkLine::Remove(_)) => hunk.old_no_newline = true,
        Some(HunkLine::Add(_)) => hunk.new_no_newline = true,
        _ => {
            hunk.old_no_newline = true;
            hunk.new_no_newline = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIT: &str = "diff --git a/pkg/mod.py b/pkg/mod.py\nindex 1..2 100644\n--- a/pkg/mod.py\n+++ b/pkg/mod.py\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\ndiff --git a/new.py b/new.py\nnew file mode 100644\nindex 0000000..1\n--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+x\ndiff --git a/old.py b/gone.py\nsimilarity index 100%\nrename from old.py\nrename to gone.py\n";

    #[test]
    fn parses_modify_create_rename() {
        let f = parse(GIT).unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].old_path.as_deref(), Some("pkg/mod.py"));
        assert_eq!(f[0].hunks[0].lines.len(), 4);
        assert!(f[1].is_create());
        assert_eq!(f[1].new_mode, Some(0o100644));
        assert_eq!(f[1].hunks[0].new_len, 1);
        assert!(f[2].rename);
        assert_eq!(f[2].old_path.as_deref(), Some("old.py"));
        assert_eq!(f[2].new_path.as_deref(), Some("gone.py"));
    }

    #[test]
    fn plain_diff_u_and_errors() {
        let p = "--- x.py\t2024-01-01\n+++ x.py\t2024-01-02\n@@ -1 +1 @@\n-a\n+b\n";
        let f = parse(p).unwrap();
        assert_eq!(f[0].new_path.as_deref(), Some("x.py"));
        assert!(parse("hello\n").is_err());
        let e = parse("--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n").unwrap_err();
        assert!(e.message.contains("hunk ends early"), "{e}");
        assert!(
            parse("--- a/x\n+++ b/x\n@@ bogus @@\n")
                .unwrap_err()
                .message
                .contains("malformed hunk header")
        );
    }

    #[test]
    fn no_newline_markers() {
        let p = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n\\ No newline at end of file\n";
        let h = &parse(p).unwrap()[0].hunks[0];
        assert!(h.old_no_newline && h.new_no_newline);
    }

    #[test]
    fn quoted_paths_and_mode_changes() {
        let p = "diff --git \"a/caf\\303\\251 x.py\" \"b/caf\\303\\251 x.py\"\nindex 1..2 100644\n--- \"a/caf\\303\\251 x.py\"\n+++ \"b/caf\\303\\251 x.py\"\n@@ -1 +1 @@\n-a\n+b\n";
        let f = parse(p).unwrap();
        assert_eq!(f[0].old_path.as_deref(), Some("café x.py"));
        assert_eq!(f[0].new_path.as_deref(), Some("café x.py"));
        let p = "diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n--- a/run.sh\n+++ b/run.sh\n@@ -1 +1 @@\n-a\n+b\n";
        assert_eq!(parse(p).unwrap()[0].new_mode, Some(0o100755));
        let p = "diff --git \"a/t\\tab\" \"b/t\\tab\"\nsimilarity index 100%\nrename from \"t\\tab\"\nrename to \"new\\\"q\"\n";
        let f = parse(p).unwrap();
        assert_eq!(f[0].old_path.as_deref(), Some("t\tab"));
        assert_eq!(f[0].new_path.as_deref(), Some("new\"q"));
    }

    #[test]
    fn binary_sections_are_flagged() {
        let p = "diff --git a/img.png b/img.png\nindex 1..2\nBinary files a/img.png and b/img.png differ\n";
        assert!(parse(p).unwrap()[0].binary);
    }
}
