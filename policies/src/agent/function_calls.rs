//! The `tools` protocol: SWE-agent's function-calling tools (`bash`, `str_replace_editor`,
//! `submit`) plus the expert call, offered as OpenAI function schemas. A call is turned into
//! the same [`Action`] the text protocol parses, so both protocols share one executor
//! ([`super::tools::Tools`]) and one episode state machine.

use serde_json::{Value, json};

use super::AgentConfig;
use super::actions::{Action, ParseError};
use super::tools::WINDOW;
use crate::lm::{Completion, ToolCall, tool_calls};

fn function(name: &str, description: &str, properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        }
    })
}

/// The tools offered to the model, in SWE-agent's shape (`expert_action` names the expert
/// tool, offered only when there is an expert).
pub fn schema(expert_action: &str, has_expert: bool) -> Vec<Value> {
    let mut tools = vec![
        function(
            "bash",
            "Run a bash command in the repository (/testbed) and see its output.",
            json!({"command": {"type": "string", "description": "The command to run."}}),
            &["command"],
        ),
        function(
            "str_replace_editor",
            "View, create and edit files.\n\
             * `view` shows 100 numbered lines of a file, from `view_range[0]` (default 1).\n\
             * `create` writes a new file with `file_text`; it fails if the file exists.\n\
             * `str_replace` replaces `old_str`, which must occur exactly once in the file \
             (copy it exactly, whitespace included), with `new_str`.\n\
             * `insert` inserts `new_str` after line `insert_line` (0: at the top).\n\
             * `undo_edit` reverts the last edit of the file.",
            json!({
                "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "undo_edit"],
                            "description": "The command to run."},
                "path": {"type": "string", "description": "Absolute path of the file, e.g. /testbed/pkg/mod.py."},
                "file_text": {"type": "string", "description": "`create`: the file's content."},
                "old_str": {"type": "string", "description": "`str_replace`: the text to replace."},
                "new_str": {"type": "string", "description": "`str_replace`: the replacement; `insert`: the text to insert."},
                "insert_line": {"type": "integer", "description": "`insert`: the line after which to insert."},
                "view_range": {"type": "array", "items": {"type": "integer"},
                               "description": "`view`: the first (and last) line to show."},
            }),
            &["command", "path"],
        ),
        function(
            "submit",
            "Submit the current state of the repository as your fix; the episode ends.",
            json!({}),
            &[],
        ),
    ];
    if has_expert {
        tools.push(function(
            expert_action,
            "Ask a stronger expert model for advice when you are stuck. It sees your question and \
             your recent messages, not the repository; its advice comes back as the result.",
            json!({"question": {"type": "string", "description": "What you need to know, with the context the expert needs."}}),
            &["question"],
        ));
    }
    tools
}

/// The system prompt of the `tools` protocol: the tools themselves travel as `tools`.
pub fn system_prompt(cfg: &AgentConfig, has_expert: bool) -> String {
    let expert = if has_expert {
        format!(
            "When you are stuck, call `{}` with a question (at most {} times).\n",
            cfg.expert_action,
            cfg.expert_quota()
        )
    } else {
        String::new()
    };
    format!(
        "You are an autonomous programmer fixing an issue in a repository checked out at /testbed.\n\
         Each reply: a short thought, then exactly ONE tool call.\n\
         {expert}\
         Call `submit` when the fix is done.\n"
    )
}

/// The calls of a reply: those the backend parsed, or else the `<tool_call>` blocks of its text
/// (a trainer's raw reply in `serve`). Returns the reply's content without the blocks.
pub fn calls_of(reply: &Completion, id_prefix: &str) -> Result<(String, Vec<ToolCall>), String> {
    let (content, mut calls) = if reply.tool_calls.is_empty() {
        tool_calls::parse(&reply.text, id_prefix)?
    } else {
        (reply.text.clone(), reply.tool_calls.clone())
    };
    // Ids link each call to its `tool` message; some servers leave them out.
    for (i, c) in calls.iter_mut().enumerate() {
        if c.id.is_empty() {
            c.id = format!("{id_prefix}-{i}");
        }
    }
    Ok((content, calls))
}

fn args(call: &ToolCall) -> Result<serde_json::Map<String, Value>, ParseError> {
    match serde_json::from_str::<Value>(&call.arguments) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ParseError(format!(
            "the arguments of `{}` are not a JSON object: {}",
            call.name, call.arguments
        ))),
    }
}

fn string(m: &serde_json::Map<String, Value>, tool: &str, key: &str) -> Result<String, ParseError> {
    m.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ParseError(format!("`{tool}` needs a string `{key}`")))
}

fn number(m: &serde_json::Map<String, Value>, tool: &str, key: &str) -> Result<usize, ParseError> {
    match m.get(key) {
        Some(Value::Number(n)) => n.as_u64().map(|n| n as usize),
        // Small models often quote numbers.
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| ParseError(format!("`{tool}` needs a non-negative integer `{key}`")))
}

/// The action a call stands for; an unknown tool or missing argument is an error for the model.
pub fn action(call: &ToolCall, expert_action: &str) -> Result<Action, ParseError> {
    let name = call.name.as_str();
    let m = args(call)?;
    Ok(match name {
        "bash" => Action::Run(string(&m, name, "command")?),
        "submit" => Action::Submit,
        n if n == expert_action => {
            let q = string(&m, name, "question")?;
            if q.trim().is_empty() {
                return Err(ParseError(format!("`{name}` needs a question")));
            }
            Action::AskExpert(q.trim().to_string())
        }
        "str_replace_editor" => {
            let command = string(&m, name, "command")?;
            let path = string(&m, name, "path")?;
            match command.as_str() {
                "view" => {
                    let first = match m.get("view_range") {
                        Some(Value::Array(r)) => r.first().and_then(Value::as_u64).unwrap_or(1),
                        _ => 1,
                    }
                    .max(1) as usize;
                    // The viewer centres its line: this puts `first` at the top of the window.
                    Action::Open {
                        path,
                        line: if first == 1 { 1 } else { first + WINDOW / 2 },
                    }
                }
                "create" => Action::Create {
                    path,
                    text: string(&m, name, "file_text")?,
                },
                "str_replace" => Action::StrReplace {
                    path,
                    old: string(&m, name, "old_str")?,
                    new: m
                        .get("new_str")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                },
                "insert" => Action::Insert {
                    path,
                    line: number(&m, name, "insert_line")?,
                    text: string(&m, name, "new_str")?,
                },
                "undo_edit" => Action::UndoEdit { path },
                other => {
                    return Err(ParseError(format!(
                        "`str_replace_editor` has no command `{other}` (view, create, str_replace, insert, undo_edit)"
                    )));
                }
            }
        }
        other => {
            return Err(ParseError(format!(
                "there is no tool `{other}` (bash, str_replace_editor, submit{})",
                if expert_action.is_empty() {
                    String::new()
                } else {
                    format!(", {expert_action}")
                }
            )));
        }
    })
}

/// The call as one action line, SWE-agent's command first (`str_replace_editor view PATH`,
/// the shell command itself for `bash`), for loop measures and tables.
pub fn action_line(call: &ToolCall) -> String {
    let m = args(call).unwrap_or_default();
    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or_default();
    match call.name.as_str() {
        "bash" => s("command").to_string(),
        "str_replace_editor" => {
            let rest: serde_json::Map<String, Value> = m
                .iter()
                .filter(|(k, _)| *k != "command" && *k != "path")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let head = format!("str_replace_editor {} {}", s("command"), s("path"));
            if rest.is_empty() {
                head
            } else {
                format!("{head}\n{}", Value::Object(rest))
            }
        }
        "submit" => "submit".into(),
        name => match m.get("question").and_then(Value::as_str) {
            Some(q) => format!("{name} {q}"),
            None => format!("{name} {}", call.arguments),
        },
    }
}

/// The action of a recorded response (its first `<tool_call>` block), for replay.
pub fn from_response(response: &str, expert_action: &str) -> Result<Action, ParseError> {
    let (_, calls) = tool_calls::parse(response, "replay").map_err(ParseError)?;
    let call = calls
        .first()
        .ok_or_else(|| ParseError("no tool call".into()))?;
    action(call, expert_action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: Value) -> ToolCall {
        ToolCall {
            id: "c".into(),
            name: name.into(),
            arguments: args.to_string(),
        }
    }

    #[test]
    fn calls_become_the_text_protocols_actions() {
        let a = |n, v| action(&call(n, v), "ask_expert");
        assert_eq!(
            a("bash", json!({"command": "ls -a"})).unwrap(),
            Action::Run("ls -a".into())
        );
        assert_eq!(
            a(
                "str_replace_editor",
                json!({"command": "str_replace", "path": "/testbed/a.py", "old_str": "x", "new_str": "y"})
            )
            .unwrap(),
            Action::StrReplace {
                path: "/testbed/a.py".into(),
                old: "x".into(),
                new: "y".into()
            }
        );
        assert_eq!(
            a(
                "str_replace_editor",
                json!({"command": "insert", "path": "a.py", "insert_line": "3", "new_str": "z"})
            )
            .unwrap(),
            Action::Insert {
                path: "a.py".into(),
                line: 3,
                text: "z".into()
            }
        );
        assert_eq!(
            a(
                "str_replace_editor",
                json!({"command": "view", "path": "a.py", "view_range": [120, 140]})
            )
            .unwrap(),
            Action::Open {
                path: "a.py".into(),
                line: 170
            }
        );
        assert_eq!(a("submit", json!({})).unwrap(), Action::Submit);
        assert_eq!(
            a("ask_expert", json!({"question": " why? "})).unwrap(),
            Action::AskExpert("why?".into())
        );
    }

    #[test]
    fn bad_calls_are_named() {
        let e = |n, v: &str| {
            action(
                &ToolCall {
                    id: "c".into(),
                    name: n,
                    arguments: v.into(),
                },
                "ask_expert",
            )
            .unwrap_err()
            .0
        };
        assert!(e("grep".into(), "{}").contains("no tool `grep`"));
        assert!(e("bash".into(), "{}").contains("string `command`"));
        assert!(e("bash".into(), "ls").contains("not a JSON object"));
        assert!(
            e(
                "str_replace_editor".into(),
                r#"{"command": "delete", "path": "a"}"#
            )
            .contains("no command `delete`")
        );
    }

    #[test]
    fn schema_names_the_tools() {
        let names = |t: Vec<Value>| -> Vec<String> {
            t.iter()
                .map(|t| t["function"]["name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            names(schema("ask_expert", true)),
            ["bash", "str_replace_editor", "submit", "ask_expert"]
        );
        assert_eq!(
            names(schema("ask_expert", false)),
            ["bash", "str_replace_editor", "submit"]
        );
    }

    #[test]
    fn action_lines_lead_with_the_command() {
        assert_eq!(action_line(&call("bash", json!({"command": "ls"}))), "ls");
        assert_eq!(
            action_line(&call(
                "str_replace_editor",
                json!({"command": "view", "path": "/testbed/a.py"})
            )),
            "str_replace_editor view /testbed/a.py"
        );
        let l = action_line(&call(
            "str_replace_editor",
            json!({"command": "str_replace", "path": "a", "old_str": "x", "new_str": "y"}),
        ));
        assert!(l.starts_with("str_replace_editor str_replace a\n{"), "{l}");
    }
}
