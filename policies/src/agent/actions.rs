//! Reading an action out of a model's reply.
//!
//! The reply holds a thought and one action in a fenced code block (the last block wins). The
//! action's first line is the command; editor commands take their text from the lines after it.

/// One action of the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A shell command (Docker) or an allowed command (WASI), run in `/testbed`.
    Run(String),
    /// Show a file from a line (`open path [line]`, `view path [start [end]]`).
    Open {
        path: String,
        line: usize,
    },
    Goto(usize),
    ScrollDown,
    ScrollUp,
    SearchDir {
        term: String,
        dir: String,
    },
    SearchFile {
        term: String,
        file: String,
    },
    FindFile {
        name: String,
        dir: String,
    },
    Create {
        path: String,
        text: String,
    },
    StrReplace {
        path: String,
        old: String,
        new: String,
    },
    Insert {
        path: String,
        line: usize,
        text: String,
    },
    UndoEdit {
        path: String,
    },
    AskExpert(String),
    Submit,
}

/// The reply contained no usable action; the message goes back to the model as an observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

/// Commands recognised without a fenced block around them.
const BARE: &[&str] = &[
    "submit",
    "open",
    "view",
    "goto",
    "scroll_down",
    "scroll_up",
    "search_dir",
    "search_file",
    "find_file",
    "create",
    "str_replace",
    "edit",
    "insert",
    "undo_edit",
];

/// The text of the action block: the last fenced block (an unterminated last block counts, as
/// replies are often cut at the token limit), or a bare reply that starts with a known command.
pub fn action_text(reply: &str) -> Option<String> {
    let mut blocks = Vec::new();
    let mut inside: Option<Vec<&str>> = None;
    for line in reply.lines() {
        if line.trim_start().starts_with("```") {
            match inside.take() {
                Some(lines) => blocks.push(lines.join("\n")),
                None => inside = Some(Vec::new()),
            }
        } else if let Some(lines) = inside.as_mut() {
            lines.push(line);
        }
    }
    if let Some(open) = inside.filter(|l| l.iter().any(|x| !x.trim().is_empty())) {
        blocks.push(open.join("\n"));
    }
    if let Some(b) = blocks.into_iter().rev().find(|b| !b.trim().is_empty()) {
        return Some(b);
    }
    let t = reply.trim();
    let first = t.split_whitespace().next()?;
    BARE.contains(&first).then(|| t.to_string())
}

fn search_replace(body: &str) -> Option<(String, String)> {
    let (_, rest) = body.split_once("<<<<<<< SEARCH\n")?;
    let (old, rest) = rest.split_once("\n=======\n").or_else(|| {
        // An empty SEARCH part.
        rest.strip_prefix("=======\n").map(|r| ("", r))
    })?;
    let (new, _) = rest.split_once(">>>>>>> REPLACE").unwrap_or((rest, ""));
    Some((
        old.to_string(),
        new.strip_suffix('\n').unwrap_or(new).to_string(),
    ))
}

/// Parses a reply. `expert_action` is the name of the expert call (default `ask_expert`) and
/// `collaborate_token`, when set, marks an expert call anywhere in the reply.
pub fn parse(
    reply: &str,
    expert_action: &str,
    collaborate_token: Option<&str>,
) -> Result<Action, ParseError> {
    if let Some(tok) = collaborate_token.filter(|t| !t.is_empty())
        && let Some((_, after)) = reply.split_once(tok)
    {
        let q = after.trim();
        return Ok(Action::AskExpert(if q.is_empty() {
            reply.replace(tok, "").trim().to_string()
        } else {
            q.to_string()
        }));
    }
    if reply.trim().is_empty() {
        return Err(ParseError("the reply is empty".into()));
    }
    let text = action_text(reply)
        .ok_or_else(|| ParseError("no fenced code block with an action".into()))?;
    let (first, body) = text.split_once('\n').unwrap_or((&text, ""));
    let first = first.trim();
    let mut words = first.split_whitespace();
    let cmd = words
        .next()
        .ok_or_else(|| ParseError("the action block is empty".into()))?;
    // Tool arguments split like a shell would, so `search_dir "def foo" src` keeps its phrase
    // together and `find_file "*.py"` loses its quotes; unbalanced quotes fall back to words.
    let rest = words.collect::<Vec<_>>().join(" ");
    let split =
        shlex::split(&rest).unwrap_or_else(|| rest.split_whitespace().map(String::from).collect());
    let args: Vec<&str> = split.iter().map(String::as_str).collect();
    let num = |s: Option<&&str>, what: &str| -> Result<usize, ParseError> {
        s.ok_or_else(|| ParseError(format!("`{cmd}` needs {what}")))?
            .parse()
            .map_err(|_| ParseError(format!("`{cmd}`: {what} must be a number")))
    };
    let path = |what: &str| -> Result<String, ParseError> {
        args.first()
            .map(|s| s.to_string())
            .ok_or_else(|| ParseError(format!("`{cmd}` needs {what}")))
    };
    let rest_of_line = first[cmd.len()..].trim().to_string();
    Ok(match cmd {
        "submit" => Action::Submit,
        c if c == expert_action => {
            let q = format!("{rest_of_line}\n{body}").trim().to_string();
            if q.is_empty() {
                return Err(ParseError(format!("`{expert_action}` needs a question")));
            }
            Action::AskExpert(q)
        }
        "open" | "view" => Action::Open {
            path: path("a file path")?,
            line: if args.len() > 1 {
                num(args.get(1), "a line number")?
            } else {
                1
            },
        },
        "goto" => Action::Goto(num(args.first(), "a line number")?),
        "scroll_down" => Action::ScrollDown,
        "scroll_up" => Action::ScrollUp,
        "search_dir" => Action::SearchDir {
            term: path("a search term")?,
            dir: args.get(1).unwrap_or(&".").to_string(),
        },
        "search_file" => Action::SearchFile {
            term: path("a search term")?,
            file: args
                .get(1)
                .map(|s| s.to_string())
                .ok_or_else(|| ParseError("`search_file` needs a file".into()))?,
        },
        "find_file" => Action::FindFile {
            name: path("a file name")?,
            dir: args.get(1).unwrap_or(&".").to_string(),
        },
        "create" => Action::Create {
            path: path("a file path")?,
            text: body.to_string(),
        },
        "str_replace" | "edit" => {
            let (old, new) = search_replace(body).ok_or_else(|| {
                ParseError(format!(
                    "`{cmd}` needs a block after the command line:\n<<<<<<< SEARCH\nold lines\n=======\nnew lines\n>>>>>>> REPLACE"
                ))
            })?;
            Action::StrReplace {
                path: path("a file path")?,
                old,
                new,
            }
        }
        "insert" => Action::Insert {
            path: path("a file path")?,
            line: num(args.get(1), "a line number")?,
            text: body.to_string(),
        },
        "undo_edit" => Action::UndoEdit {
            path: path("a file path")?,
        },
        _ => Action::Run(text.trim().to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Action, ParseError> {
        parse(s, "ask_expert", Some("<<collaborate>>"))
    }

    #[test]
    fn last_fenced_block_wins() {
        let r = "I will look.\n```\nls -la\n```\nthen\n```\nopen src/a.py 20\n```\n";
        assert_eq!(
            p(r).unwrap(),
            Action::Open {
                path: "src/a.py".into(),
                line: 20
            }
        );
        assert_eq!(p("```bash\nsubmit\n```").unwrap(), Action::Submit);
    }

    #[test]
    fn editor_commands_take_their_text() {
        let r = "```\nstr_replace pkg/m.py\n<<<<<<< SEARCH\n    return a\n=======\n    return b\n>>>>>>> REPLACE\n```";
        assert_eq!(
            p(r).unwrap(),
            Action::StrReplace {
                path: "pkg/m.py".into(),
                old: "    return a".into(),
                new: "    return b".into()
            }
        );
        let r = "```\ncreate t.py\nprint(1)\n```";
        assert_eq!(
            p(r).unwrap(),
            Action::Create {
                path: "t.py".into(),
                text: "print(1)".into()
            }
        );
        assert!(
            p("```\nstr_replace x.py\nno block\n```")
                .unwrap_err()
                .0
                .contains("<<<<<<< SEARCH")
        );
        assert!(
            p("```\ninsert x.py\nz\n```")
                .unwrap_err()
                .0
                .contains("line number")
        );
    }

    #[test]
    fn expert_calls_by_action_and_by_token() {
        assert_eq!(
            p("```\nask_expert why does X fail?\n```").unwrap(),
            Action::AskExpert("why does X fail?".into())
        );
        assert_eq!(
            p("I am stuck <<collaborate>> where is the parser?").unwrap(),
            Action::AskExpert("where is the parser?".into())
        );
        assert_eq!(
            parse("```\nhelp_me now\n```", "help_me", None).unwrap(),
            Action::AskExpert("now".into())
        );
        assert!(p("```\nask_expert\n```").is_err());
    }

    #[test]
    fn tool_arguments_are_split_like_a_shell() {
        assert_eq!(
            p("```\nsearch_dir \"def parse\" src\n```").unwrap(),
            Action::SearchDir {
                term: "def parse".into(),
                dir: "src".into()
            }
        );
        assert_eq!(
            p("```\nfind_file \"*.py\"\n```").unwrap(),
            Action::FindFile {
                name: "*.py".into(),
                dir: ".".into()
            }
        );
        // Unbalanced quotes: plain words, not an error.
        assert_eq!(
            p("```\nsearch_file don't a.py\n```").unwrap(),
            Action::SearchFile {
                term: "don't".into(),
                file: "a.py".into()
            }
        );
    }

    #[test]
    fn anything_else_is_a_command_and_empty_is_an_error() {
        assert_eq!(
            p("```\npython -m pytest -x\n```").unwrap(),
            Action::Run("python -m pytest -x".into())
        );
        assert_eq!(
            p("  \n").unwrap_err(),
            ParseError("the reply is empty".into())
        );
        assert_eq!(
            p("```\n```").unwrap_err(),
            ParseError("no fenced code block with an action".into())
        );
        assert_eq!(
            p("I think we should fix it").unwrap_err(),
            ParseError("no fenced code block with an action".into())
        );
        assert_eq!(p("submit").unwrap(), Action::Submit);
        assert_eq!(
            p("Let me look\n```\nls src").unwrap(),
            Action::Run("ls src".into()),
            "unterminated block"
        );
    }
}
