//! The built-in commands (`cat`, `ls`, `grep`, `find`), implemented on the sandbox's directory
//! handles: every path they touch goes through the boundary (`boundary::Mounts`), so they can
//! reach nothing the guest could not.

use std::io;

use cap_std::fs::Dir;

use super::boundary::{Mounts, TESTBED, TMP, map_io};
use crate::SandboxError;
use crate::exec::push_capped;

/// Output of a built-in command, capped like a process's.
pub(crate) struct Out {
    pub buf: Vec<u8>,
    pub limit: usize,
    pub truncated: bool,
}

impl Out {
    pub fn new(limit: usize) -> Self {
        Out {
            buf: Vec::new(),
            limit,
            truncated: false,
        }
    }
    pub fn push(&mut self, bytes: &[u8]) {
        push_capped(&mut self.buf, bytes, self.limit, &mut self.truncated);
    }
    pub fn line(&mut self, s: &str) {
        self.push(s.as_bytes());
        self.push(b"\n");
    }
}

fn describe_err(prog: &str, arg: &str, e: &SandboxError) -> String {
    match e {
        SandboxError::PathEscape(_) => {
            format!("{prog}: {arg}: outside the sandbox (only {TESTBED} and {TMP} can be reached)")
        }
        SandboxError::Io(m) => {
            let m = m.strip_prefix(&format!("{arg}: ")).unwrap_or(m);
            format!("{prog}: {arg}: {}", friendly(m))
        }
        other => format!("{prog}: {arg}: {other}"),
    }
}

fn friendly(m: &str) -> &str {
    if m.contains("No such file") || m.contains("os error 2") {
        "No such file or directory"
    } else if m.contains("Is a directory") || m.contains("os error 21") {
        "Is a directory"
    } else if m.contains("Not a directory") || m.contains("os error 20") {
        "Not a directory"
    } else {
        m
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

fn kind_of(ft: cap_std::fs::FileType) -> Kind {
    if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File
    } else {
        Kind::Other
    }
}

fn join_rel(rel: &str, name: &str) -> String {
    if rel == "." {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

fn join_display(base: &str, name: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    }
}

/// Entries of a directory, sorted by name, without following symlinks.
fn list(dir: &Dir, rel: &str) -> io::Result<Vec<(String, Kind)>> {
    let mut out = Vec::new();
    for e in dir.read_dir(rel)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        out.push((name, kind_of(e.file_type()?)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// `cat [-n] FILE…`
pub(crate) fn cat(m: &Mounts, cwd: &str, args: &[String], out: &mut Out) -> i64 {
    let mut number = false;
    let mut files = Vec::new();
    for a in args {
        match a.as_str() {
            "-n" => number = true,
            "--" => {}
            f if f.starts_with('-') && f.len() > 1 => {
                out.line(&format!("cat: unsupported option {f} (supported: -n)"));
                return 2;
            }
            f => files.push(f.to_string()),
        }
    }
    if files.is_empty() {
        out.line("cat: no file given (there is no stdin in the sandbox)");
        return 2;
    }
    let mut code = 0;
    let mut n = 0;
    for f in &files {
        match m.read(f, cwd) {
            Ok(bytes) if number => {
                for line in bytes.split_inclusive(|b| *b == b'\n') {
                    n += 1;
                    out.push(format!("{n:6}\t").as_bytes());
                    out.push(line);
                }
            }
            Ok(bytes) => out.push(&bytes),
            Err(e) => {
                out.line(&describe_err("cat", f, &e));
                code = 1;
            }
        }
    }
    code
}

/// `ls [-a|-A] [-l] [-1] [PATH…]`
pub(crate) fn ls(m: &Mounts, cwd: &str, args: &[String], out: &mut Out) -> i64 {
    let (mut all, mut almost, mut long) = (false, false, false);
    let mut paths = Vec::new();
    for a in args {
        if let Some(flags) = a
            .strip_prefix('-')
            .filter(|f| !f.is_empty() && !a.starts_with("--"))
        {
            for c in flags.chars() {
                match c {
                    'a' => all = true,
                    'A' => almost = true,
                    'l' => long = true,
                    '1' => {}
                    _ => {
                        out.line(&format!(
                            "ls: unsupported option -{c} (supported: -a -A -l -1)"
                        ));
                        return 2;
                    }
                }
            }
        } else {
            paths.push(a.clone());
        }
    }
    if paths.is_empty() {
        paths.push(".".into());
    }
    let mut code = 0;
    let many = paths.len() > 1;
    for (i, p) in paths.iter().enumerate() {
        let r = match m.resolve(p, cwd) {
            Ok(r) => r,
            Err(e) => {
                out.line(&describe_err("ls", p, &e));
                code = 2;
                continue;
            }
        };
        let md = match r.dir.metadata(&r.rel) {
            Ok(md) => md,
            Err(e) => {
                out.line(&describe_err("ls", p, &map_io(p, e)));
                code = 2;
                continue;
            }
        };
        if !md.is_dir() {
            if long {
                out.line(&format!("-  {:>10}  {p}", md.len()));
            } else {
                out.line(p);
            }
            continue;
        }
        if many {
            if i > 0 {
                out.line("");
            }
            out.line(&format!("{p}:"));
        }
        let entries = match list(r.dir, &r.rel) {
            Ok(e) => e,
            Err(e) => {
                out.line(&describe_err("ls", p, &map_io(p, e)));
                code = 2;
                continue;
            }
        };
        if all {
            for dot in [".", ".."] {
                if long {
                    out.line(&format!("d  {:>10}  {dot}", ""));
                } else {
                    out.line(dot);
                }
            }
        }
        for (name, kind) in entries {
            if name.starts_with('.') && !all && !almost {
                continue;
            }
            if long {
                let rel = join_rel(&r.rel, &name);
                let size = r.dir.symlink_metadata(&rel).map(|m| m.len()).unwrap_or(0);
                let (t, suffix) = match kind {
                    Kind::Dir => ('d', String::new()),
                    Kind::Symlink => (
                        'l',
                        r.dir
                            .read_link_contents(&rel)
                            .map(|t| format!(" -> {}", t.display()))
                            .unwrap_or_default(),
                    ),
                    Kind::File => ('-', String::new()),
                    Kind::Other => ('?', String::new()),
                };
                out.line(&format!("{t}  {size:>10}  {name}{suffix}"));
            } else {
                out.line(&name);
            }
        }
    }
    code
}

/// Translates a POSIX basic regular expression into the `regex` crate's syntax.
fn bre_to_ere(p: &str) -> String {
    let mut out = String::new();
    let mut chars = p.chars().peekable();
    let mut in_bracket = false;
    while let Some(c) = chars.next() {
        if in_bracket {
            out.push(c);
            if c == ']' {
                in_bracket = false;
            }
            continue;
        }
        match c {
            '[' => {
                in_bracket = true;
                out.push(c);
                // `[]…]` and `[^]…]`: a leading `]` is literal.
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap());
                }
                if chars.peek() == Some(&']') {
                    chars.next();
                    out.push_str("\\]");
                }
            }
            '\\' => match chars.next() {
                Some(e @ ('|' | '(' | ')' | '{' | '}' | '+' | '?')) => out.push(e),
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push_str("\\\\"),
            },
            '(' | ')' | '|' | '+' | '?' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `grep [-rRnilLcFEwvHhIs] [-e PATTERN] [--include=GLOB] [--exclude=GLOB] [--exclude-dir=GLOB]
/// PATTERN [PATH…]`
pub(crate) fn grep(m: &Mounts, cwd: &str, args: &[String], out: &mut Out) -> i64 {
    #[derive(Default)]
    struct Opt {
        recursive: bool,
        number: bool,
        icase: bool,
        files_with: bool,
        files_without: bool,
        count: bool,
        fixed: bool,
        extended: bool,
        word: bool,
        invert: bool,
        with_name: Option<bool>,
        quiet: bool,
    }
    let mut o = Opt::default();
    let mut patterns: Vec<String> = Vec::new();
    let mut include: Vec<String> = Vec::new();
    let mut exclude: Vec<String> = Vec::new();
    let mut exclude_dir: Vec<String> = Vec::new();
    let mut rest: Vec<String> = Vec::new();
    let mut i = 0;
    let mut no_more_opts = false;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if no_more_opts || !a.starts_with('-') || a == "-" {
            rest.push(a.clone());
            continue;
        }
        if a == "--" {
            no_more_opts = true;
            continue;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, val) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let mut value = || {
                val.clone().or_else(|| {
                    let v = args.get(i).cloned();
                    i += 1;
                    v
                })
            };
            match name {
                "include" => include.extend(value()),
                "exclude" => exclude.extend(value()),
                "exclude-dir" => exclude_dir.extend(value()),
                "recursive" => o.recursive = true,
                "line-number" => o.number = true,
                "ignore-case" => o.icase = true,
                "files-with-matches" => o.files_with = true,
                "count" => o.count = true,
                "fixed-strings" => o.fixed = true,
                "extended-regexp" => o.extended = true,
                "word-regexp" => o.word = true,
                "invert-match" => o.invert = true,
                "regexp" => patterns.extend(value()),
                "color" | "colour" | "binary-files" => {}
                _ => {
                    out.line(&format!("grep: unsupported option --{name}"));
                    return 2;
                }
            }
            continue;
        }
        let flags: Vec<char> = a[1..].chars().collect();
        let mut k = 0;
        while k < flags.len() {
            match flags[k] {
                'r' | 'R' => o.recursive = true,
                'n' => o.number = true,
                'i' => o.icase = true,
                'l' => o.files_with = true,
                'L' => o.files_without = true,
                'c' => o.count = true,
                'F' => o.fixed = true,
                'E' => o.extended = true,
                'G' => o.extended = false,
                'w' => o.word = true,
                'v' => o.invert = true,
                'H' => o.with_name = Some(true),
                'h' => o.with_name = Some(false),
                'q' => o.quiet = true,
                'I' | 's' => {}
                'e' => {
                    let tail: String = flags[k + 1..].iter().collect();
                    if tail.is_empty() {
                        patterns.extend(args.get(i).cloned());
                        i += 1;
                    } else {
                        patterns.push(tail);
                    }
                    k = flags.len();
                    continue;
                }
                c => {
                    out.line(&format!(
                        "grep: unsupported option -{c} (supported: -r -R -n -i -l -L -c -F -E -w -v -H -h -q -e, --include, --exclude, --exclude-dir)"
                    ));
                    return 2;
                }
            }
            k += 1;
        }
    }
    if patterns.is_empty() {
        if rest.is_empty() {
            out.line("grep: no pattern given");
            return 2;
        }
        patterns.push(rest.remove(0));
    }
    let alternatives: Vec<String> = patterns
        .iter()
        .map(|p| {
            let p = if o.fixed {
                regex::escape(p)
            } else if o.extended {
                p.clone()
            } else {
                bre_to_ere(p)
            };
            if o.word {
                format!(r"\b(?:{p})\b")
            } else {
                format!("(?:{p})")
            }
        })
        .collect();
    let re = match regex::bytes::RegexBuilder::new(&alternatives.join("|"))
        .case_insensitive(o.icase)
        .size_limit(1 << 24)
        .build()
    {
        Ok(re) => re,
        Err(e) => {
            out.line(&format!("grep: bad pattern: {e}"));
            return 2;
        }
    };
    let globs = |list: &[String]| -> Option<globset::GlobSet> {
        let mut b = globset::GlobSetBuilder::new();
        for g in list {
            b.add(globset::Glob::new(g).ok()?);
        }
        b.build().ok()
    };
    let (Some(include), Some(exclude), Some(exclude_dir)) =
        (globs(&include), globs(&exclude), globs(&exclude_dir))
    else {
        out.line("grep: bad glob in --include/--exclude/--exclude-dir");
        return 2;
    };
    let implicit_dot = rest.is_empty();
    if implicit_dot {
        if !o.recursive {
            out.line("grep: no file given (there is no stdin in the sandbox)");
            return 2;
        }
        rest.push(".".into());
    }
    let show_name = o.with_name.unwrap_or(o.recursive || rest.len() > 1);
    let mut any = false;
    let mut error = false;
    // (display path, dir, rel)
    let mut files: Vec<(String, &Dir, String)> = Vec::new();
    for p in &rest {
        let r = match m.resolve(p, cwd) {
            Ok(r) => r,
            Err(e) => {
                out.line(&describe_err("grep", p, &e));
                error = true;
                continue;
            }
        };
        let md = match r.dir.metadata(&r.rel) {
            Ok(md) => md,
            Err(e) => {
                out.line(&describe_err("grep", p, &map_io(p, e)));
                error = true;
                continue;
            }
        };
        if md.is_dir() {
            if !o.recursive {
                out.line(&format!("grep: {p}: Is a directory"));
                error = true;
                continue;
            }
            let base = if implicit_dot {
                String::new()
            } else {
                p.clone()
            };
            walk(
                r.dir,
                &r.rel,
                &base,
                0,
                usize::MAX,
                &mut |disp, rel, kind, _| {
                    let name = disp.rsplit('/').next().unwrap_or(disp);
                    match kind {
                        Kind::Dir => !exclude_dir.is_match(name),
                        Kind::File => {
                            if (include.is_empty() || include.is_match(name))
                                && !exclude.is_match(name)
                            {
                                files.push((disp.to_string(), r.dir, rel.to_string()));
                            }
                            true
                        }
                        _ => true,
                    }
                },
            );
        } else {
            files.push((p.clone(), r.dir, r.rel.clone()));
        }
    }
    for (disp, dir, rel) in files {
        if out.truncated {
            break;
        }
        let bytes = match dir.read(&rel) {
            Ok(b) => b,
            Err(e) => {
                out.line(&describe_err("grep", &disp, &map_io(&disp, e)));
                error = true;
                continue;
            }
        };
        let binary = bytes[..bytes.len().min(8192)].contains(&0);
        let mut count = 0usize;
        let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let lines = body
            .split(|b| *b == b'\n')
            .take(if bytes.is_empty() { 0 } else { usize::MAX });
        for (n, line) in lines.enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if re.is_match(line) == o.invert {
                continue;
            }
            count += 1;
            if o.quiet || o.files_with || o.files_without || o.count || binary {
                continue;
            }
            let mut s = Vec::new();
            if show_name {
                s.extend_from_slice(disp.as_bytes());
                s.push(b':');
            }
            if o.number {
                s.extend_from_slice(format!("{}:", n + 1).as_bytes());
            }
            s.extend_from_slice(line);
            s.push(b'\n');
            out.push(&s);
        }
        if count > 0 {
            any = true;
        }
        if o.quiet {
            continue;
        }
        if o.count {
            if show_name {
                out.line(&format!("{disp}:{count}"));
            } else {
                out.line(&count.to_string());
            }
        } else if o.files_with {
            if count > 0 {
                out.line(&disp);
            }
        } else if o.files_without {
            if count == 0 {
                out.line(&disp);
            }
        } else if binary && count > 0 {
            out.line(&format!("Binary file {disp} matches"));
        }
    }
    if error && !(o.quiet && any) {
        2
    } else if any {
        0
    } else {
        1
    }
}

/// Depth-first walk below `rel` (not following symlinks), entries sorted. `visit(display, rel,
/// kind, depth)` returns false to skip a directory's contents.
fn walk(
    dir: &Dir,
    rel: &str,
    display: &str,
    depth: usize,
    max_depth: usize,
    visit: &mut dyn FnMut(&str, &str, Kind, usize) -> bool,
) {
    if depth >= max_depth {
        return;
    }
    let Ok(entries) = list(dir, rel) else { return };
    for (name, kind) in entries {
        let child_rel = join_rel(rel, &name);
        let child_disp = if display.is_empty() {
            name.clone()
        } else {
            join_display(display, &name)
        };
        let descend = visit(&child_disp, &child_rel, kind, depth + 1);
        if kind == Kind::Dir && descend {
            walk(dir, &child_rel, &child_disp, depth + 1, max_depth, visit);
        }
    }
}

/// `find [PATH…] [-name GLOB] [-iname GLOB] [-path GLOB] [-type f|d|l] [-maxdepth N]
/// [-mindepth N] [-not|! TEST] [-print]`; all tests must hold.
pub(crate) fn find(m: &Mounts, cwd: &str, args: &[String], out: &mut Out) -> i64 {
    enum Test {
        Name(globset::GlobMatcher),
        Path(globset::GlobMatcher),
        Type(Kind),
    }
    let usage = "find: supported: find [PATH…] [-name GLOB] [-iname GLOB] [-path GLOB] [-type f|d|l] [-maxdepth N] [-mindepth N] [-not TEST]";
    let mut paths = Vec::new();
    let mut i = 0;
    while i < args.len() && !args[i].starts_with('-') && args[i] != "!" && args[i] != "(" {
        paths.push(args[i].clone());
        i += 1;
    }
    if paths.is_empty() {
        paths.push(".".into());
    }
    let mut tests: Vec<(bool, Test)> = Vec::new();
    let (mut max_depth, mut min_depth) = (usize::MAX, 0usize);
    let mut negate = false;
    while i < args.len() {
        let a = args[i].as_str();
        let val = args.get(i + 1).cloned();
        i += 1;
        let mut need = |what: &str| -> Result<String, String> {
            i += 1;
            val.clone()
                .ok_or_else(|| format!("find: missing argument to `{what}`"))
        };
        let res: Result<(), String> = (|| {
            match a {
                "!" | "-not" => {
                    negate = !negate;
                    return Ok(());
                }
                "-print" | "-a" | "-and" => return Ok(()),
                "-name" | "-iname" | "-path" | "-wholename" => {
                    let g = need(a)?;
                    let glob = globset::GlobBuilder::new(&g)
                        .case_insensitive(a == "-iname")
                        .literal_separator(false)
                        .build()
                        .map_err(|e| format!("find: bad pattern {g}: {e}"))?
                        .compile_matcher();
                    let t = if a == "-name" || a == "-iname" {
                        Test::Name(glob)
                    } else {
                        Test::Path(glob)
                    };
                    tests.push((std::mem::take(&mut negate), t));
                }
                "-type" => {
                    let t = match need(a)?.as_str() {
                        "f" => Kind::File,
                        "d" => Kind::Dir,
                        "l" => Kind::Symlink,
                        other => return Err(format!("find: unsupported -type {other} (f, d, l)")),
                    };
                    tests.push((std::mem::take(&mut negate), Test::Type(t)));
                }
                "-maxdepth" | "-mindepth" => {
                    let v = need(a)?;
                    let n: usize = v.parse().map_err(|_| format!("find: bad number {v}"))?;
                    if a == "-maxdepth" {
                        max_depth = n;
                    } else {
                        min_depth = n;
                    }
                }
                other => return Err(format!("find: unsupported expression `{other}`\n{usage}")),
            }
            Ok(())
        })();
        if let Err(msg) = res {
            out.line(&msg);
            return 2;
        }
    }
    let matches = |disp: &str, kind: Kind| {
        let name = disp
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(disp);
        tests.iter().all(|(neg, t)| {
            let ok = match t {
                Test::Name(g) => g.is_match(name),
                Test::Path(g) => g.is_match(disp),
                Test::Type(k) => *k == kind,
            };
            ok != *neg
        })
    };
    let mut code = 0;
    for p in &paths {
        let r = match m.resolve(p, cwd) {
            Ok(r) => r,
            Err(e) => {
                out.line(&describe_err("find", p, &e));
                code = 1;
                continue;
            }
        };
        let kind = match r.dir.symlink_metadata(&r.rel) {
            Ok(md) => kind_of(md.file_type()),
            Err(e) => {
                out.line(&describe_err("find", p, &map_io(p, e)));
                code = 1;
                continue;
            }
        };
        if min_depth == 0 && matches(p, kind) {
            out.line(p);
        }
        if kind == Kind::Dir {
            walk(
                r.dir,
                &r.rel,
                p,
                0,
                max_depth,
                &mut |disp, _, kind, depth| {
                    if depth >= min_depth && matches(disp, kind) {
                        out.line(disp);
                    }
                    !out.truncated
                },
            );
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bre_translation() {
        assert_eq!(bre_to_ere(r"a\|b"), "a|b");
        assert_eq!(bre_to_ere(r"f(x)"), r"f\(x\)");
        assert_eq!(bre_to_ere(r"\(ab\)\+"), "(ab)+");
        assert_eq!(bre_to_ere(r"[(]x"), "[(]x");
        assert_eq!(bre_to_ere(r"a.b*"), "a.b*");
    }
}
