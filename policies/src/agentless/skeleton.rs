//! Python through tree-sitter: the skeleton of a file (classes, functions and module-level
//! names with their line ranges), syntax checks of edited files, and a token form of a file
//! with whitespace and comments left out (for voting on equivalent patches).

use tree_sitter::{Node, Parser, Tree};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Class,
    Function,
    /// A module-level assignment (`MAX_VALUE = 3999`).
    Variable,
}

/// One named element of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub kind: Kind,
    /// Qualified by the enclosing classes and functions: `Reader.parse`.
    pub name: String,
    /// 1-based, inclusive; decorators included.
    pub start_line: usize,
    pub end_line: usize,
    /// The first line of the definition, trimmed (`def to_roman(number):`).
    pub header: String,
}

fn parse(source: &str) -> Option<Tree> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .ok()?;
    parser.parse(source, None)
}

/// The classes, functions (methods and nested functions too) and module-level assignments of
/// a Python file, in source order. Files tree-sitter cannot parse at all give none; parts with
/// syntax errors are skipped.
pub fn elements(source: &str) -> Vec<Element> {
    let Some(tree) = parse(source) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    collect(tree.root_node(), source, "", true, &mut out);
    out
}

fn collect(node: Node, src: &str, prefix: &str, module_level: bool, out: &mut Vec<Element>) {
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        let (def, start) = if child.kind() == "decorated_definition" {
            match child.child_by_field_name("definition") {
                Some(d) => (d, child.start_position().row),
                None => continue,
            }
        } else {
            (child, child.start_position().row)
        };
        match def.kind() {
            "class_definition" | "function_definition" => {
                let Some(name) = def
                    .child_by_field_name("name")
                    .and_then(|n| n.utf8_text(src.as_bytes()).ok())
                else {
                    continue;
                };
                let qualified = if prefix.is_empty() {
                    name.to_string()
                } else {
                    format!("{prefix}.{name}")
                };
                let header = src
                    .lines()
                    .nth(def.start_position().row)
                    .unwrap_or("")
                    .trim()
                    .to_string();
                out.push(Element {
                    kind: if def.kind() == "class_definition" {
                        Kind::Class
                    } else {
                        Kind::Function
                    },
                    name: qualified.clone(),
                    start_line: start + 1,
                    end_line: def.end_position().row + 1,
                    header,
                });
                if let Some(body) = def.child_by_field_name("body") {
                    collect(body, src, &qualified, false, out);
                }
            }
            "expression_statement" if module_level => {
                let Some(assign) = def.named_child(0).filter(|n| n.kind() == "assignment") else {
                    continue;
                };
                let Some(left) = assign.child_by_field_name("left") else {
                    continue;
                };
                if left.kind() != "identifier" {
                    continue;
                }
                let name = left.utf8_text(src.as_bytes()).unwrap_or("").to_string();
                out.push(Element {
                    kind: Kind::Variable,
                    name,
                    start_line: start + 1,
                    end_line: def.end_position().row + 1,
                    header: src.lines().nth(start).unwrap_or("").trim().to_string(),
                });
            }
            // Definitions inside `if TYPE_CHECKING:` / `try:` blocks at module level.
            "if_statement" | "try_statement" | "block" | "else_clause" | "except_clause"
                if module_level =>
            {
                collect(def, src, prefix, true, out);
            }
            _ => {}
        }
    }
}

/// The skeleton shown to the model: one line per element, indented by nesting, with its lines.
pub fn render(path: &str, elements: &[Element]) -> String {
    let mut s = format!("### {path}\n");
    for e in elements {
        let depth = e.name.matches('.').count();
        s.push_str(&format!(
            "{}{}  # lines {}-{}\n",
            "    ".repeat(depth),
            e.header,
            e.start_line,
            e.end_line
        ));
    }
    s
}

/// The first syntax error of a Python file (`line N: …`), or `None` when it parses.
pub fn syntax_error(source: &str) -> Option<String> {
    let Some(tree) = parse(source) else {
        return Some("the parser gave up".into());
    };
    let root = tree.root_node();
    if !root.has_error() {
        // tree-sitter accepts statements at any indentation: CPython's indentation rules
        // are checked on the tree.
        return indentation_error(root, source);
    }
    first_error(root).map(|n| {
        let line = n.start_position().row + 1;
        let text = source
            .lines()
            .nth(n.start_position().row)
            .unwrap_or("")
            .trim();
        if n.is_missing() {
            format!("line {line}: missing `{}` in `{text}`", n.kind())
        } else {
            format!("line {line}: invalid syntax in `{text}`")
        }
    })
}

/// CPython's indentation errors, which tree-sitter does not report: an empty block, and a
/// statement starting a line at another column than the statements before it in its block
/// (module level: column 0).
fn indentation_error(node: Node, src: &str) -> Option<String> {
    let line_of = |n: Node| {
        let row = n.start_position().row;
        format!(
            "line {}: {{}} in `{}`",
            row + 1,
            src.lines().nth(row).unwrap_or("").trim()
        )
    };
    if matches!(node.kind(), "module" | "block") {
        let mut cursor = node.walk();
        let stmts: Vec<Node> = node
            .named_children(&mut cursor)
            .filter(|c| c.kind() != "comment")
            .collect();
        if node.kind() == "block" && stmts.is_empty() {
            let at = node.parent().unwrap_or(node);
            return Some(line_of(at).replace("{}", "expected an indented block"));
        }
        let mut expected = if node.kind() == "module" {
            Some(0)
        } else {
            None
        };
        let mut prev_end: Option<usize> = None;
        for s in &stmts {
            let starts_line = prev_end != Some(s.start_position().row);
            if starts_line {
                let col = s.start_position().column;
                match expected {
                    None => expected = Some(col),
                    Some(e) if e != col => {
                        return Some(line_of(*s).replace(
                            "{}",
                            &format!("indented to column {col} where its block is at {e}"),
                        ));
                    }
                    _ => {}
                }
            }
            prev_end = Some(s.end_position().row);
        }
    }
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        if let Some(e) = indentation_error(child, src) {
            return Some(e);
        }
    }
    None
}

fn first_error(node: Node) -> Option<Node> {
    if node.is_error() || node.is_missing() {
        return Some(node);
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        if child.has_error()
            && let Some(e) = first_error(child)
        {
            return Some(e);
        }
    }
    None
}

/// The file's tokens with comments dropped, one space apart: two files with the same form differ
/// only in whitespace and comments. Unparsable files fall back to their whitespace-split words.
pub fn normalized(source: &str) -> String {
    let Some(tree) = parse(source) else {
        return source.split_whitespace().collect::<Vec<_>>().join(" ");
    };
    let mut out = Vec::new();
    leaves(tree.root_node(), source, &mut out);
    out.join(" ")
}

fn leaves<'a>(node: Node, src: &'a str, out: &mut Vec<&'a str>) {
    if node.kind() == "comment" {
        return;
    }
    // A string's text is one token even where escape sequences split it into children.
    if node.child_count() == 0 || node.kind() == "string_content" {
        if let Ok(t) = node.utf8_text(src.as_bytes())
            && !t.is_empty()
        {
            out.push(t);
        }
        return;
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        leaves(child, src, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#""""Roman numerals."""
import functools

MAX_VALUE = 3999
_TABLE = [(1000, "M")]


class Converter:
    """Converts."""

    def __init__(self, strict=True):
        self.strict = strict

    @functools.lru_cache
    def to_roman(self, number):
        def helper(x):
            return x
        return helper(number)


def from_roman(text):
    return 0
"#;

    #[test]
    fn skeleton_lists_classes_methods_functions_and_globals() {
        let e = elements(SRC);
        let names: Vec<(&str, Kind, usize, usize)> = e
            .iter()
            .map(|e| (e.name.as_str(), e.kind, e.start_line, e.end_line))
            .collect();
        assert_eq!(
            names,
            vec![
                ("MAX_VALUE", Kind::Variable, 4, 4),
                ("_TABLE", Kind::Variable, 5, 5),
                ("Converter", Kind::Class, 8, 18),
                ("Converter.__init__", Kind::Function, 11, 12),
                ("Converter.to_roman", Kind::Function, 14, 18),
                ("Converter.to_roman.helper", Kind::Function, 16, 17),
                ("from_roman", Kind::Function, 21, 22),
            ]
        );
        assert_eq!(e[4].header, "def to_roman(self, number):");
        let r = render("romanum/convert.py", &e);
        assert!(r.starts_with("### romanum/convert.py\nMAX_VALUE = 3999  # lines 4-4\n"));
        assert!(
            r.contains("\n    def to_roman(self, number):  # lines 14-18\n"),
            "{r}"
        );
        assert!(
            r.contains("\n        def helper(x):  # lines 16-17\n"),
            "{r}"
        );
    }

    #[test]
    fn syntax_errors_are_found_with_their_line() {
        assert_eq!(syntax_error(SRC), None);
        assert_eq!(syntax_error(""), None);
        let bad = "def f(x):\n    return (x +\n\ny = 2\n";
        let e = syntax_error(bad).expect("unbalanced paren");
        assert!(e.starts_with("line "), "{e}");
        assert!(syntax_error("def f(:\n    pass\n").is_some());
        assert_eq!(
            syntax_error("if x:\nreturn 1\n").as_deref(),
            Some("line 1: expected an indented block in `if x:`")
        );
        assert_eq!(
            syntax_error("def f():\n    x = 1\n  y = 2\n").as_deref(),
            Some("line 3: indented to column 2 where its block is at 0 in `y = 2`")
        );
        assert_eq!(
            syntax_error("x = 1\n    y = 2\n").as_deref(),
            Some("line 2: indented to column 4 where its block is at 0 in `y = 2`")
        );
        assert_eq!(
            syntax_error("if x: a = 1; b = 2\nelse:\n    # c\n    pass\n"),
            None
        );
        assert_eq!(
            syntax_error("class A:\n    # only a comment\n"),
            Some("line 1: expected an indented block in `class A:`".into())
        );
        assert!(elements("def (:\n").is_empty() || syntax_error("def (:\n").is_some());
    }

    #[test]
    fn normalisation_ignores_whitespace_and_comments_only() {
        let a = "def f(x):\n    return x + 1  # add one\n";
        let b = "def f( x ):\n    # a comment\n    return x+1\n";
        let c = "def f(x):\n    return x + 2\n";
        assert_eq!(normalized(a), normalized(b));
        assert_ne!(normalized(a), normalized(c));
        assert_ne!(
            normalized("s = 'a  b'\n"),
            normalized("s = 'a b'\n"),
            "whitespace inside strings is kept"
        );
    }
}
