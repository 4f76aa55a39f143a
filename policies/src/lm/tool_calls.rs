//! Function calls written as text, in the format a chat template teaches its model. Qwen2.5's
//! template (and the Hermes format it follows) asks for one
//! `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>` block per call; the rest of the
//! reply is ordinary content.

use serde_json::Value;

use super::{LmError, Message, Role, ToolCall};

const OPEN: &str = "<tool_call>";
const CLOSE: &str = "</tool_call>";

/// Whether a chat template renders `tools`. Calls are read in the `<tool_call>` format (Qwen2.5,
/// Hermes), the one protege parses; a template that teaches another format gets text back.
pub fn template_supports_tools(template_source: &str) -> bool {
    template_source.contains("tools")
}

/// What a reply holds: its content with the call blocks removed, and the calls. A block whose
/// JSON does not parse, or lacks a string `name`, is an error naming it, so the caller can report
/// it to the model rather than drop it silently. `id_prefix` makes the call ids unique per reply.
pub fn parse(text: &str, id_prefix: &str) -> Result<(String, Vec<ToolCall>), String> {
    let mut content = String::new();
    let mut calls = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        content.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        // A reply cut off inside a block (max_tokens) still yields its call when the JSON is
        // complete.
        let (body, next) = match after.find(CLOSE) {
            Some(end) => (&after[..end], &after[end + CLOSE.len()..]),
            None => (after, ""),
        };
        let n = calls.len();
        let v: Value = serde_json::from_str(body.trim())
            .map_err(|e| format!("tool call {} is not JSON ({e}): {}", n + 1, body.trim()))?;
        let name = v.get("name").and_then(Value::as_str).ok_or_else(|| {
            format!(
                "tool call {} has no string \"name\": {}",
                n + 1,
                body.trim()
            )
        })?;
        // Arguments may come as an object (the template's own format) or as JSON text.
        let arguments = match v.get("arguments").or_else(|| v.get("parameters")) {
            None | Some(Value::Null) => "{}".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        calls.push(ToolCall {
            id: format!("{id_prefix}-{n}"),
            name: name.to_string(),
            arguments,
        });
        rest = next;
    }
    content.push_str(rest);
    let content = if calls.is_empty() {
        content
    } else {
        content.trim().to_string()
    };
    Ok((content, calls))
}

/// A reply written back as text in the same format: `content`, then one block per call (what
/// [`parse`] reads back into the same content and calls).
pub fn to_text(content: &str, calls: &[ToolCall]) -> String {
    let mut s = content.to_string();
    for c in calls {
        let args = serde_json::from_str::<Value>(&c.arguments)
            .unwrap_or_else(|_| Value::String(c.arguments.clone()));
        // Name first, as the template teaches; `<\/` is JSON for `</`, so that a closing tag
        // inside an argument cannot end the block.
        let block = format!(
            "{{\"name\": {}, \"arguments\": {args}}}",
            Value::from(c.name.as_str())
        )
        .replace("</", "<\\/");
        if !s.is_empty() {
            s.push('\n');
        }
        s.push_str(&format!("{OPEN}\n{block}\n{CLOSE}"));
    }
    s
}

/// The assistant message's `tool_calls` as a chat template expects them: OpenAI's shape with
/// `arguments` as an object, which is what Hugging Face templates render with `tojson`.
pub fn for_template(calls: &[ToolCall]) -> Value {
    Value::Array(
        calls
            .iter()
            .map(|c| {
                let args = serde_json::from_str::<Value>(&c.arguments)
                    .unwrap_or_else(|_| Value::String(c.arguments.clone()));
                serde_json::json!({
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": args},
                })
            })
            .collect(),
    )
}

/// `calls` on the wire (OpenAI's `tool_calls`, `arguments` as JSON text).
pub fn openai_calls(calls: &[ToolCall]) -> Value {
    Value::Array(
        calls
            .iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                })
            })
            .collect(),
    )
}

/// `messages` as an OpenAI chat-completions request carries them.
pub fn openai_messages(messages: &[Message]) -> Value {
    Value::Array(
        messages
            .iter()
            .map(|m| {
                let mut v = serde_json::json!({"role": m.role.as_str(), "content": m.content});
                if !m.tool_calls.is_empty() {
                    v["tool_calls"] = openai_calls(&m.tool_calls);
                }
                if let Some(id) = &m.tool_call_id {
                    v["tool_call_id"] = serde_json::json!(id);
                }
                v
            })
            .collect(),
    )
}

/// One message of an OpenAI chat request (`messages[i]`, named in errors): content as text
/// (text parts joined), calls read by [`from_openai`]; the inverse of [`openai_messages`].
pub fn message_from_openai(i: usize, m: &Value) -> Result<Message, String> {
    let role: Role = m
        .get("role")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("messages[{i}].role is missing"))?
        .parse()
        .map_err(|e: LmError| format!("messages[{i}]: {e}"))?;
    let content = match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        Some(_) => return Err(format!("messages[{i}].content must be a string")),
    };
    let mut msg = Message::new(role, content);
    if let Some(calls) = m.get("tool_calls").filter(|v| !v.is_null()) {
        msg.tool_calls = from_openai(calls).map_err(|e| format!("messages[{i}]: {e}"))?;
    }
    if let Some(id) = m.get("tool_call_id").and_then(Value::as_str) {
        msg.tool_call_id = Some(id.to_string());
    }
    if role == Role::Tool && msg.tool_call_id.is_none() {
        return Err(format!(
            "messages[{i}]: a tool message needs `tool_call_id`"
        ));
    }
    Ok(msg)
}

/// The `tool_calls` of an OpenAI response message; a call without a function name is an error.
pub fn from_openai(v: &Value) -> Result<Vec<ToolCall>, String> {
    let Some(arr) = v.as_array() else {
        return Err(format!("tool_calls is not an array: {v}"));
    };
    arr.iter()
        .enumerate()
        .map(|(i, c)| {
            let name = c
                .pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("tool_calls[{i}] has no function name"))?;
            let arguments = match c.pointer("/function/arguments") {
                Some(Value::String(s)) => s.clone(),
                None | Some(Value::Null) => "{}".into(),
                Some(other) => other.to_string(),
            };
            Ok(ToolCall {
                id: c
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                name: name.to_string(),
                arguments,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_come_out_and_content_stays() {
        let text = "Let me look.\n<tool_call>\n{\"name\": \"bash\", \"arguments\": {\"command\": \"ls -a\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"submit\", \"arguments\": {}}\n</tool_call>";
        let (content, calls) = parse(text, "call_7").unwrap();
        assert_eq!(content, "Let me look.");
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].name, "bash");
        assert_eq!(calls[0].id, "call_7-0");
        let args: Value = serde_json::from_str(&calls[0].arguments).unwrap();
        assert_eq!(args["command"], "ls -a");
        assert_eq!(calls[1].arguments, "{}");
    }

    #[test]
    fn written_calls_parse_back() {
        let calls = vec![ToolCall {
            id: "r-0".into(),
            name: "str_replace_editor".into(),
            arguments:
                r#"{"command": "create", "path": "a.py", "file_text": "x = \"</tool_call>\"\n"}"#
                    .into(),
        }];
        let text = to_text("Make it.", &calls);
        let (content, back) = parse(&text, "r").unwrap();
        assert_eq!(content, "Make it.");
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].name, calls[0].name);
        let (a, b): (Value, Value) = (
            serde_json::from_str(&back[0].arguments).unwrap(),
            serde_json::from_str(&calls[0].arguments).unwrap(),
        );
        assert_eq!(a, b);
    }

    #[test]
    fn plain_text_is_untouched() {
        let (content, calls) = parse("  just words\n", "c").unwrap();
        assert_eq!(content, "  just words\n");
        assert!(calls.is_empty());
    }

    #[test]
    fn string_arguments_and_unclosed_blocks() {
        let text = "<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}";
        let (_, calls) = parse(text, "c").unwrap();
        assert_eq!(calls[0].arguments, "{\"a\": 1}");
    }

    #[test]
    fn bad_blocks_are_named() {
        let e = parse("<tool_call>{nope}</tool_call>", "c").unwrap_err();
        assert!(e.contains("tool call 1 is not JSON"), "{e}");
        let e = parse("<tool_call>{\"arguments\": {}}</tool_call>", "c").unwrap_err();
        assert!(e.contains("no string \"name\""), "{e}");
    }

    #[test]
    fn template_form_has_object_arguments() {
        let calls = [ToolCall {
            id: "x".into(),
            name: "bash".into(),
            arguments: "{\"command\": \"pwd\"}".into(),
        }];
        let v = for_template(&calls);
        assert_eq!(v[0]["function"]["arguments"]["command"], "pwd");
        assert_eq!(v[0]["type"], "function");
    }

    #[test]
    fn support_is_read_from_the_template() {
        assert!(template_supports_tools(
            "{% if tools %}<tools></tools>{% endif %}"
        ));
        assert!(!template_supports_tools(super::super::template::CHATML));
    }
}
