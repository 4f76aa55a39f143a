//! SFT data from agent runs (`protege export sft`): a trajectory's conversation as one chat
//! line in OpenAI's fine-tuning shape — `messages` with the assistant's `tool_calls` and the
//! `tool` results, the expert's advice inside them exactly as the small model observed it — with
//! the tools that were offered.

use serde_json::{Value, json};

use super::AgentConfig;
use crate::lm::tool_calls;
use crate::trajectory::Trajectory;

/// The tools a run offered in `t` (none under the text protocol).
pub fn tools(cfg: &AgentConfig, t: &Trajectory) -> Vec<Value> {
    cfg.tools(t.expert.is_some())
}

/// One line: `instance_id`, `resolved`, `messages` and `tools`.
pub fn line(t: &Trajectory, resolved: bool, tools: &[Value]) -> Value {
    json!({
        "instance_id": t.instance_id,
        "resolved": resolved,
        "messages": tool_calls::openai_messages(&t.messages),
        "tools": tools,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Protocol;
    use crate::lm::{Message, Role, ToolCall};

    #[test]
    fn a_line_carries_calls_results_and_the_offered_tools() {
        let mut call = Message::assistant("look");
        call.tool_calls = vec![ToolCall {
            id: "call_1-0".into(),
            name: "bash".into(),
            arguments: r#"{"command": "ls"}"#.into(),
        }];
        let result = Message {
            tool_call_id: Some("call_1-0".into()),
            ..Message::new(Role::Tool, "a.py")
        };
        let t = Trajectory {
            instance_id: "x__y-1".into(),
            expert: Some("e".into()),
            messages: vec![Message::system("s"), Message::user("u"), call, result],
            ..Default::default()
        };
        let cfg = AgentConfig {
            protocol: Protocol::Tools,
            ..AgentConfig::default()
        };
        let tools = tools(&cfg, &t);
        assert_eq!(tools.len(), 4, "with the expert tool");
        let l = line(&t, true, &tools);
        let m = &l["messages"];
        assert_eq!(m[2]["tool_calls"][0]["function"]["name"], "bash");
        assert_eq!(
            m[2]["tool_calls"][0]["function"]["arguments"],
            r#"{"command": "ls"}"#
        );
        assert_eq!(m[3]["role"], "tool");
        assert_eq!(m[3]["tool_call_id"], "call_1-0");
        assert_eq!(l["tools"][3]["function"]["name"], "ask_expert");
        assert!(super::tools(&AgentConfig::default(), &Trajectory::default()).is_empty());
    }
}
