//! Localization: which files (the model's ranking fused with BM25), then which classes,
//! functions or line ranges inside them (the model reading tree-sitter skeletons, with BM25
//! over the elements where the model names none). Replies are parsed leniently; whatever does
//! not name a real file or element is ignored.

use super::repo::Repo;
use super::retrieval;
use super::skeleton::{self, Element, Kind};
use crate::lm::Message;

/// A region of a file to show the repair stage (1-based, inclusive lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: String,
    /// The element's qualified name, or `None` for a bare line range.
    pub name: Option<String>,
    pub start: usize,
    pub end: usize,
}

/// Source files ranked by BM25 against the problem statement, best first.
pub fn retrieval_ranking(problem: &str, repo: &Repo) -> Vec<(String, f32)> {
    let docs: Vec<String> = repo
        .sources
        .iter()
        // The path counts too: an issue naming `convert` points at `convert.py`.
        .map(|p| format!("{p}\n{}", repo.contents.get(p).map_or("", |s| s.as_str())))
        .collect();
    let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
    retrieval::rank(problem, &refs)
        .into_iter()
        .map(|(i, s)| (repo.sources[i].clone(), s))
        .collect()
}

pub fn files_prompt(problem: &str, tree: &str, top: usize) -> Vec<Message> {
    vec![
        Message::system(
            "You find the files that must be edited to fix a GitHub issue in a Python repository.",
        ),
        Message::user(format!(
            "<issue>\n{}\n</issue>\n\nRepository files:\n```\n{tree}```\n\nWhich files must be edited to fix the issue? List at most {top} full paths from the list above, most likely first, one per line inside a ``` block, and nothing else.",
            problem.trim()
        )),
    ]
}

/// The known files a reply names, in the order named: full paths, unique file names
/// (`convert.py`) and dotted module names (`romanum.convert`).
pub fn parse_files(reply: &str, known: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in reply.split(|c: char| c.is_whitespace() || "`'\",;:()[]<>*".contains(c)) {
        let w = word
            .trim_end_matches('.')
            .trim_start_matches("/testbed/")
            .trim_start_matches("./");
        if w.is_empty() {
            continue;
        }
        let found = if known.iter().any(|k| k == w) {
            Some(w.to_string())
        } else if w.ends_with(".py") {
            let mut m = known.iter().filter(|k| k.ends_with(&format!("/{w}")));
            match (m.next(), m.next()) {
                (Some(k), None) => Some(k.clone()),
                _ => None,
            }
        } else if w.contains('.') && w.chars().all(|c| c.is_alphanumeric() || "._".contains(c)) {
            // `pkg.mod.Class.method`: the longest prefix that is a module.
            let parts: Vec<&str> = w.split('.').collect();
            (1..=parts.len()).rev().find_map(|n| {
                let stem = parts[..n].join("/");
                let (as_path, as_pkg) = (format!("{stem}.py"), format!("{stem}/__init__.py"));
                known
                    .iter()
                    .find(|k| **k == as_path || (n > 1 && **k == as_pkg))
                    .cloned()
            })
        } else {
            None
        };
        if let Some(f) = found
            && !out.contains(&f)
        {
            out.push(f);
        }
    }
    out
}

/// Reciprocal-rank fusion of the model's ranking and the retrieval ranking: each list adds
/// `1 / (k + rank)`; ties keep the model's order first, then retrieval's.
pub fn fuse(model: &[String], retrieval: &[String], k: f64) -> Vec<String> {
    let mut all: Vec<&String> = Vec::new();
    for f in model.iter().chain(retrieval) {
        if !all.contains(&f) {
            all.push(f);
        }
    }
    let score = |f: &String| -> f64 {
        let r = |list: &[String]| {
            list.iter()
                .position(|x| x == f)
                .map_or(0.0, |i| 1.0 / (k + i as f64 + 1.0))
        };
        r(model) + r(retrieval)
    };
    let mut scored: Vec<(usize, f64, &String)> = all
        .iter()
        .enumerate()
        .map(|(i, f)| (i, score(f), *f))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.into_iter().map(|(_, _, f)| f.clone()).collect()
}

pub fn elements_prompt(problem: &str, skeletons: &str) -> Vec<Message> {
    vec![
        Message::system(
            "You find the exact classes, functions and lines that must be edited to fix a GitHub issue.",
        ),
        Message::user(format!(
            "<issue>\n{}\n</issue>\n\nSkeletons of the suspicious files (each definition with its line range):\n{skeletons}\nWhich places must be edited to fix the issue? One per line inside a ``` block, written as\npath/to/file.py: function NAME\npath/to/file.py: class NAME\npath/to/file.py: lines START-END",
            problem.trim()
        )),
    ]
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `word` occurs in `line` as a whole identifier.
fn has_word(line: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    line.match_indices(word).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// `lines 12-30`, `line 12`, `lines 12 to 30`, `L12-L30`: the first range on a line.
fn line_range(line: &str) -> Option<(usize, usize)> {
    let lower = line.to_lowercase();
    // The numbers must follow the word at once (`lines: 12-30`), not somewhere later in prose.
    let at = lower
        .match_indices("line")
        .map(|(i, _)| i + 4)
        .find(|&i| {
            lower[i..]
                .trim_start_matches(|c: char| "s: \t#".contains(c))
                .starts_with(|c: char| c.is_ascii_digit())
        })
        .or_else(|| {
            lower
                .match_indices('l')
                .map(|(i, _)| i + 1)
                .find(|&i| lower[i..].starts_with(|c: char| c.is_ascii_digit()))
        })?;
    let rest = lower[at..].trim_start_matches(|c: char| "s: \t#".contains(c));
    let digits = |t: &str| -> (Option<usize>, usize) {
        let n = t.chars().take_while(|c| c.is_ascii_digit()).count();
        (t[..n].parse().ok(), n)
    };
    let (a, n) = digits(rest);
    let a = a?;
    // A second number only when a range separator joins it to the first.
    let tail = rest[n..].trim_start();
    let tail = ["-", "–", "to", ":"]
        .iter()
        .find_map(|sep| tail.strip_prefix(sep))
        .map(|t| t.trim_start().trim_start_matches('l'));
    match tail.map(digits) {
        Some((Some(b), _)) if b >= a => Some((a, b)),
        _ => Some((a, a)),
    }
}

/// The places a reply names in the given files: elements by (qualified or last) name and
/// line ranges, clamped to the file. Lines naming no known file apply to the last file named
/// (the first file before any is named).
pub fn parse_locations(
    reply: &str,
    files: &[(String, Vec<Element>, usize)],
    max: usize,
) -> Vec<Location> {
    let mut out: Vec<Location> = Vec::new();
    let Some(first) = files.first() else {
        return out;
    };
    let known: Vec<String> = files.iter().map(|f| f.0.clone()).collect();
    let mut current = &first.0;
    for line in reply.lines() {
        if let Some(p) = parse_files(line, &known).first() {
            current = files.iter().find(|f| &f.0 == p).map_or(current, |f| &f.0);
        }
        let Some((_, elements, len)) = files.iter().find(|f| &f.0 == current) else {
            continue;
        };
        let mut found: Vec<Location> = Vec::new();
        // The most specific name wins: `Reader.parse` before `parse`.
        let mut by_len: Vec<&Element> = elements.iter().collect();
        by_len.sort_by_key(|e| std::cmp::Reverse(e.name.len()));
        for e in by_len {
            let last = e.name.rsplit('.').next().unwrap_or(&e.name);
            let named = has_word(line, &e.name) || has_word(line, last);
            // A name already found shadows a shorter one it ends with, and its parent class.
            let shadowed = found.iter().any(|f| {
                f.name.as_deref().is_some_and(|n| {
                    n.ends_with(&format!(".{last}"))
                        || n == last
                        || n.starts_with(&format!("{}.", e.name))
                })
            });
            if named && !shadowed {
                found.push(Location {
                    path: current.clone(),
                    name: Some(e.name.clone()),
                    start: e.start_line,
                    end: e.end_line,
                });
            }
        }
        if found.is_empty()
            && let Some((a, b)) = line_range(line)
            && a >= 1
            && a <= *len
        {
            found.push(Location {
                path: current.clone(),
                name: None,
                start: a,
                end: b.min(*len),
            });
        }
        for f in found {
            if out.len() < max && !out.contains(&f) {
                out.push(f);
            }
        }
    }
    out
}

/// The elements of the given files that BM25 ranks highest against the problem statement
/// (functions and module-level names; classes only where they have no methods), or the start
/// of the first file when nothing matches.
pub fn retrieval_locations(
    problem: &str,
    repo: &Repo,
    files: &[(String, Vec<Element>, usize)],
    n: usize,
) -> Vec<Location> {
    let mut cands: Vec<(Location, String)> = Vec::new();
    for (path, elements, _) in files {
        let text = repo.contents.get(path).map_or("", |s| s.as_str());
        let lines: Vec<&str> = text.lines().collect();
        for e in elements {
            let has_methods = elements
                .iter()
                .any(|m| m.name.starts_with(&format!("{}.", e.name)));
            if e.kind == Kind::Class && has_methods {
                continue;
            }
            let body = lines
                .get(e.start_line.saturating_sub(1)..e.end_line.min(lines.len()))
                .map(|l| l.join("\n"))
                .unwrap_or_default();
            cands.push((
                Location {
                    path: path.clone(),
                    name: Some(e.name.clone()),
                    start: e.start_line,
                    end: e.end_line,
                },
                format!("{}\n{body}", e.name),
            ));
        }
    }
    let docs: Vec<&str> = cands.iter().map(|c| c.1.as_str()).collect();
    let mut out: Vec<Location> = retrieval::rank(problem, &docs)
        .into_iter()
        .filter(|(_, s)| *s > 0.0)
        .take(n)
        .map(|(i, _)| cands[i].0.clone())
        .collect();
    if out.is_empty()
        && let Some((path, _, len)) = files.first()
        && *len > 0
    {
        out.push(Location {
            path: path.clone(),
            name: None,
            start: 1,
            end: (*len).min(200),
        });
    }
    out
}

/// The skeletons of the given files, as the element prompt shows them, cut at `max_chars`.
pub fn skeletons(files: &[(String, Vec<Element>, usize)], max_chars: usize) -> String {
    let mut s = String::new();
    for (path, elements, _) in files {
        let r = skeleton::render(path, elements);
        if !s.is_empty() && s.len() + r.len() > max_chars {
            break;
        }
        s.push_str(&r);
    }
    s
}

/// The code the repair stage edits: each file's located regions widened by `context` lines
/// and merged where they overlap, fenced, under the file's path; cut at `max_chars`.
pub fn code_context(
    repo: &Repo,
    locations: &[Location],
    context: usize,
    max_chars: usize,
) -> String {
    let mut files: Vec<&str> = Vec::new();
    for l in locations {
        if !files.contains(&l.path.as_str()) {
            files.push(&l.path);
        }
    }
    let mut out = String::new();
    for path in files {
        let text = repo.contents.get(path).map_or("", |s| s.as_str());
        let lines: Vec<&str> = text.lines().collect();
        let mut ranges: Vec<(usize, usize)> = locations
            .iter()
            .filter(|l| l.path == path)
            .map(|l| {
                (
                    l.start.saturating_sub(context).max(1),
                    (l.end + context).min(lines.len()),
                )
            })
            .filter(|(a, b)| a <= b)
            .collect();
        ranges.sort();
        let mut merged: Vec<(usize, usize)> = Vec::new();
        for (a, b) in ranges {
            match merged.last_mut() {
                Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        let mut block = format!("### {path}\n");
        for (i, (a, b)) in merged.iter().enumerate() {
            if i > 0 {
                block.push_str("...\n");
            }
            block.push_str("```python\n");
            for l in &lines[a - 1..*b] {
                block.push_str(l);
                block.push('\n');
            }
            block.push_str("```\n");
        }
        if !out.is_empty() && out.len() + block.len() > max_chars {
            break;
        }
        out.push_str(&block);
    }
    if out.len() > max_chars {
        let mut cut = max_chars;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("\n[cut]\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        vec![
            "romanum/__init__.py".into(),
            "romanum/convert.py".into(),
            "romanum/arith.py".into(),
            "setup.py".into(),
        ]
    }

    #[test]
    fn file_replies_are_matched_to_known_files() {
        let k = known();
        assert_eq!(
            parse_files(
                "```\nromanum/convert.py\n/testbed/romanum/arith.py\nromanum/nope.py\n```",
                &k
            ),
            vec!["romanum/convert.py", "romanum/arith.py"]
        );
        assert_eq!(
            parse_files("Look at `convert.py`, then romanum.arith and romanum.", &k),
            vec!["romanum/convert.py", "romanum/arith.py"]
        );
        assert_eq!(
            parse_files("It raises romanum.arith.OutOfRange.__init__ here", &k),
            vec!["romanum/arith.py"],
            "a dotted name's longest module prefix"
        );
        assert_eq!(
            parse_files("arith.py convert.py arith.py", &k),
            vec!["romanum/arith.py", "romanum/convert.py"],
            "a unique file name matches, duplicates count once"
        );
        assert!(parse_files("", &k).is_empty());
        assert!(parse_files("I think the bug is in the code. ```\n\n```", &k).is_empty());
    }

    #[test]
    fn fusion_rewards_agreement() {
        let m: Vec<String> = vec!["a".into(), "b".into()];
        let r: Vec<String> = vec!["b".into(), "c".into(), "a".into()];
        assert_eq!(fuse(&m, &r, 10.0), vec!["b", "a", "c"]);
        assert_eq!(
            fuse(&[], &r, 10.0),
            r,
            "without the model, retrieval's order"
        );
        assert_eq!(fuse(&m, &[], 10.0), m);
    }

    const SRC: &str = "MAX_VALUE = 3999\n\n\ndef to_roman(number):\n    if not 1 <= number < MAX_VALUE:\n        raise OutOfRange(number)\n    return ''\n\n\nclass Reader:\n    def parse(self, text):\n        return text\n\n\ndef parse(text):\n    return Reader().parse(text)\n";

    fn files() -> (Repo, Vec<(String, Vec<Element>, usize)>) {
        let repo = Repo::from_files([("romanum/convert.py".to_string(), SRC.to_string())]);
        let f = vec![(
            "romanum/convert.py".to_string(),
            skeleton::elements(SRC),
            SRC.lines().count(),
        )];
        (repo, f)
    }

    #[test]
    fn element_replies_name_functions_classes_and_ranges() {
        let (_, f) = files();
        let l = parse_locations(
            "```\nromanum/convert.py: function to_roman\nromanum/convert.py: function Reader.parse\nromanum/convert.py: lines 1-2\nother.py: lines 100-200\n```",
            &f,
            10,
        );
        let got: Vec<(Option<&str>, usize, usize)> = l
            .iter()
            .map(|l| (l.name.as_deref(), l.start, l.end))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some("to_roman"), 4, 7),
                (Some("Reader.parse"), 11, 12),
                (None, 1, 2),
            ],
            "the qualified name shadows the module-level `parse`; unknown files and out-of-range lines are ignored"
        );
        assert_eq!(
            parse_locations("lines 15-900", &f, 10)[0].end,
            16,
            "clamped"
        );
        assert!(parse_locations("no idea, sorry", &f, 10).is_empty());
        assert!(parse_locations("", &f, 10).is_empty());
        assert!(parse_locations("to_roman", &[], 10).is_empty());
        assert_eq!(
            parse_locations("to_roman MAX_VALUE parse", &f, 2).len(),
            2,
            "capped"
        );
    }

    #[test]
    fn retrieval_falls_back_to_matching_elements() {
        let (repo, f) = files();
        let l = retrieval_locations("to_roman(3999) raises OutOfRange", &repo, &f, 2);
        assert_eq!(l[0].name.as_deref(), Some("to_roman"), "{l:?}");
        let l = retrieval_locations("zzz qqq", &repo, &f, 2);
        assert_eq!(
            l,
            vec![Location {
                path: "romanum/convert.py".into(),
                name: None,
                start: 1,
                end: 16
            }]
        );
    }

    #[test]
    fn code_context_merges_overlapping_regions() {
        let (repo, _) = files();
        let loc = |a, b| Location {
            path: "romanum/convert.py".into(),
            name: None,
            start: a,
            end: b,
        };
        let c = code_context(&repo, &[loc(4, 7), loc(5, 5), loc(15, 16)], 1, 10_000);
        assert_eq!(
            c,
            "### romanum/convert.py\n```python\n\ndef to_roman(number):\n    if not 1 <= number < MAX_VALUE:\n        raise OutOfRange(number)\n    return ''\n\n```\n...\n```python\n\ndef parse(text):\n    return Reader().parse(text)\n```\n"
        );
        assert!(code_context(&repo, &[loc(1, 16)], 0, 40).ends_with("\n[cut]\n"));
    }

    #[test]
    fn line_ranges() {
        assert_eq!(line_range("a.py: lines 12-30"), Some((12, 30)));
        assert_eq!(line_range("line 7"), Some((7, 7)));
        assert_eq!(line_range("Lines 3 to 9"), Some((3, 9)));
        assert_eq!(line_range("L12-L30"), Some((12, 30)));
        assert_eq!(line_range("lines 30-12"), Some((30, 30)));
        assert_eq!(line_range("function f"), None);
        assert_eq!(
            line_range("the line range is outside 1..3999"),
            None,
            "prose"
        );
        assert_eq!(line_range("see line 4, lines: 5-6"), Some((4, 4)));
    }
}
