//! Chat templates: the Jinja template a model ships (`tokenizer_config.json`'s `chat_template`,
//! or a GGUF file's `tokenizer.chat_template`), rendered with minijinja the way Hugging Face
//! transformers renders it (`trim_blocks`, `lstrip_blocks`, Python string methods, `tojson` as
//! Python's `json.dumps`, `raise_exception`). Without a template, Qwen's ChatML format.

use std::fmt::Write as _;

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, ErrorKind};

use super::{LmError, Message};

/// Qwen's ChatML format, used when a model ships no template.
pub const CHATML: &str = "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

/// A compiled-and-checked chat template.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    source: String,
    bos_token: String,
    eos_token: String,
    /// Whether this is the ChatML fallback rather than the model's own template.
    pub fallback: bool,
}

impl ChatTemplate {
    /// Check and keep `source`. `bos_token` / `eos_token` are the strings the template may use.
    pub fn new(
        source: impl Into<String>,
        bos_token: Option<String>,
        eos_token: Option<String>,
    ) -> Result<Self, LmError> {
        let t = ChatTemplate {
            source: source.into(),
            bos_token: bos_token.unwrap_or_default(),
            eos_token: eos_token.unwrap_or_default(),
            fallback: false,
        };
        let env = environment();
        env.template_from_str(&t.source)
            .map_err(|e| LmError::Template(format!("does not compile: {}", describe(&e))))?;
        Ok(t)
    }

    /// Qwen's `<|im_start|>role\ncontent<|im_end|>\n` format.
    pub fn chatml() -> Self {
        ChatTemplate {
            source: CHATML.to_string(),
            bos_token: String::new(),
            eos_token: "<|im_end|>".to_string(),
            fallback: true,
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The prompt text for `messages`; with `add_generation_prompt`, ending where the
    /// assistant's reply begins.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String, LmError> {
        self.render_with_tools(messages, &[], add_generation_prompt)
    }

    /// Whether this template renders `tools` and teaches a call format protege parses.
    pub fn supports_tools(&self) -> bool {
        super::tool_calls::template_supports_tools(&self.source)
    }

    /// [`render`](Self::render) with OpenAI function schemas offered as `tools`, and the
    /// assistant messages' calls in the shape Hugging Face templates expect.
    pub fn render_with_tools(
        &self,
        messages: &[Message],
        tools: &[serde_json::Value],
        add_generation_prompt: bool,
    ) -> Result<String, LmError> {
        if !tools.is_empty() && !self.supports_tools() {
            return Err(LmError::Request(
                "this model's chat template does not render tools".into(),
            ));
        }
        let env = environment();
        let tmpl = env
            .template_from_str(&self.source)
            .map_err(|e| LmError::Template(format!("does not compile: {}", describe(&e))))?;
        let msgs: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| {
                let mut v = serde_json::json!({"role": m.role.as_str(), "content": m.content});
                if !m.tool_calls.is_empty() {
                    v["tool_calls"] = super::tool_calls::for_template(&m.tool_calls);
                }
                if let Some(id) = &m.tool_call_id {
                    v["tool_call_id"] = serde_json::json!(id);
                }
                v
            })
            .collect();
        // Templates test `tools` for truthiness: no tools must render as none at all.
        let tools = (!tools.is_empty()).then(|| Value::from_serialize(tools));
        let ctx = minijinja::context! {
            messages => Value::from_serialize(&msgs),
            tools => tools,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token.clone(),
            eos_token => self.eos_token.clone(),
        };
        tmpl.render(ctx)
            .map_err(|e| LmError::Template(format!("rendering failed: {}", describe(&e))))
    }
}

fn describe(e: &minijinja::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        let _ = write!(s, ": {inner}");
        src = inner.source();
    }
    s
}

/// A Jinja environment configured like transformers' `_compile_jinja_template`.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(false);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", strftime_now);
    env.add_filter("tojson", tojson);
    env
}

fn raise_exception(message: String) -> Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(
        ErrorKind::InvalidOperation,
        format!("the template raised: {message}"),
    ))
}

/// Llama-3-style templates print today's date; only `%d %b %Y`-like formats are needed there.
fn strftime_now(format: String) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format
        .replace("%d", &format!("{d:02}"))
        .replace("%b", MONTHS[(m - 1) as usize])
        .replace("%m", &format!("{m:02}"))
        .replace("%Y", &y.to_string())
}

/// `tojson` as transformers defines it: `json.dumps(x, ensure_ascii=False, indent=…)`, so with
/// Python's `", "` / `": "` separators and no HTML escaping (minijinja's own escapes `<`).
fn tojson(value: Value, kwargs: Kwargs) -> Result<Value, minijinja::Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let _: Option<bool> = kwargs.get("ensure_ascii")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    dump(&value, indent, sort_keys.unwrap_or(false), 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

fn dump(
    v: &Value,
    indent: Option<usize>,
    sort_keys: bool,
    level: usize,
    out: &mut String,
) -> Result<(), minijinja::Error> {
    let newline = |out: &mut String, level: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * level));
        }
    };
    let item_sep = if indent.is_some() { "," } else { ", " };
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if let Some(i) = v.as_i64() {
                let _ = write!(out, "{i}");
            } else {
                let f = f64::try_from(v.clone()).unwrap_or(f64::NAN);
                if f.is_finite() {
                    // Python's repr: shortest round-trip, always with a '.' or exponent.
                    let s = format!("{f:?}");
                    out.push_str(&s);
                } else if f.is_nan() {
                    out.push_str("NaN");
                } else if f > 0.0 {
                    out.push_str("Infinity");
                } else {
                    out.push_str("-Infinity");
                }
            }
        }
        ValueKind::String | ValueKind::Bytes => push_json_string(v.as_str().unwrap_or(""), out),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, level + 1);
                dump(item, indent, sort_keys, level + 1, out)?;
            }
            newline(out, level);
            out.push(']');
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = v.try_iter()?.collect();
            if sort_keys {
                keys.sort_by_key(|a| a.to_string());
            }
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, level + 1);
                let key = match k.as_str() {
                    Some(s) => s.to_string(),
                    None => k.to_string(),
                };
                push_json_string(&key, out);
                out.push_str(": ");
                let item = v.get_item(k)?;
                dump(&item, indent, sort_keys, level + 1, out)?;
            }
            newline(out, level);
            out.push('}');
        }
        _ => push_json_string(&v.to_string(), out),
    }
    Ok(())
}

fn push_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_fallback() {
        let t = ChatTemplate::chatml();
        let s = t
            .render(&[Message::system("S"), Message::user("hi\nthere")], true)
            .unwrap();
        assert_eq!(
            s,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi\nthere<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn tojson_matches_python() {
        let t =
            ChatTemplate::new("{{ x | tojson }}|{{ x | tojson(indent=2) }}", None, None).unwrap();
        // Rendered through a message so that the value travels like template data does.
        let env = environment();
        let out = env
            .render_str(
                t.source(),
                minijinja::context! { x => Value::from_serialize(serde_json::json!({"a": [1, 2.5, "é<\n"], "b": null})) },
            )
            .unwrap();
        assert_eq!(
            out,
            "{\"a\": [1, 2.5, \"é<\\n\"], \"b\": null}|{\n  \"a\": [\n    1,\n    2.5,\n    \"é<\\n\"\n  ],\n  \"b\": null\n}"
        );
    }

    #[test]
    fn raise_exception_is_an_error() {
        let t =
            ChatTemplate::new("{{ raise_exception('roles must alternate') }}", None, None).unwrap();
        let e = t.render(&[Message::user("x")], true).unwrap_err();
        assert!(e.to_string().contains("roles must alternate"), "{e}");
    }

    #[test]
    fn syntax_error_is_reported_at_load() {
        let e = ChatTemplate::new("{% for m in messages %}", None, None).unwrap_err();
        assert!(matches!(e, LmError::Template(_)), "{e}");
    }
}
