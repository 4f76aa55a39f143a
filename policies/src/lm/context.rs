//! The context-length policy: when a conversation outgrows the window, drop its oldest
//! non-system turns (never the system prompt, never the last message, never a message holding
//! [`PINNED`]) and say so.

use super::{LmError, Message, Role};

/// Messages containing this are never dropped: the expert's advice under the paper's protocol
/// (`<expert_llm_guidance>…</expert_llm_guidance>`), which must outlive truncation.
pub const PINNED: &str = "<expert_llm_guidance>";

/// A prompt that fits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fitted {
    /// The prompt's tokens.
    pub tokens: Vec<u32>,
    /// How many messages were dropped from the front of the conversation.
    pub dropped: usize,
    /// At most this many new tokens fit after the prompt.
    pub max_new_tokens: usize,
    /// What happened, for the completion's note (`None` when nothing was dropped or clamped).
    pub note: Option<String>,
}

/// Fit `messages` into `context` tokens, keeping room for `max_new_tokens` new tokens where
/// possible (at least half the window is never reserved for the reply). `encode` renders the
/// chat template and tokenizes.
pub fn fit(
    messages: &[Message],
    context: usize,
    max_new_tokens: usize,
    mut encode: impl FnMut(&[Message]) -> Result<Vec<u32>, LmError>,
) -> Result<Fitted, LmError> {
    if messages.is_empty() {
        return Err(LmError::Request("no messages".into()));
    }
    let reserve = max_new_tokens.min(context / 2).max(1);
    let mut kept: Vec<Message> = messages.to_vec();
    let mut dropped = 0usize;
    let mut dropped_tokens_from = None;
    loop {
        let tokens = encode(&kept)?;
        if dropped_tokens_from.is_none() {
            dropped_tokens_from = Some(tokens.len());
        }
        let fits_with_reserve = tokens.len() + reserve <= context;
        let droppable = first_droppable(&kept);
        if fits_with_reserve || (droppable.is_none() && tokens.len() < context) {
            let room = context - tokens.len();
            let max_new = max_new_tokens.min(room);
            let mut notes = Vec::new();
            if dropped > 0 {
                notes.push(format!(
                    "context: dropped the {dropped} oldest non-system message(s) to fit the {context}-token window ({} → {} prompt tokens)",
                    dropped_tokens_from.unwrap_or(0),
                    tokens.len()
                ));
            }
            if max_new < max_new_tokens {
                notes.push(format!(
                    "context: only {room} tokens left for the reply (asked for {max_new_tokens})"
                ));
            }
            return Ok(Fitted {
                tokens,
                dropped,
                max_new_tokens: max_new,
                note: (!notes.is_empty()).then(|| notes.join("; ")),
            });
        }
        match droppable {
            Some(i) => {
                let mut prev = kept.remove(i).role;
                dropped += 1;
                // What the dropped message leaves orphaned goes with it: the reply to a dropped
                // question (so the conversation goes on with a user turn), the results of a
                // dropped call.
                while let Some(j) = first_droppable(&kept) {
                    let orphan = j == i
                        && match kept[j].role {
                            Role::Tool => true,
                            Role::Assistant => prev == Role::User,
                            _ => false,
                        };
                    if !orphan {
                        break;
                    }
                    prev = kept.remove(j).role;
                    dropped += 1;
                }
            }
            None => {
                return Err(LmError::PromptTooLong {
                    tokens: tokens.len(),
                    context,
                });
            }
        }
    }
}

/// The oldest non-system, unpinned message that is not the last message.
fn first_droppable(messages: &[Message]) -> Option<usize> {
    let last = messages.len().checked_sub(1)?;
    messages
        .iter()
        .enumerate()
        .find(|(i, m)| *i < last && m.role != Role::System && !m.content.contains(PINNED))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One token per character plus 2 per message.
    fn enc(ms: &[Message]) -> Result<Vec<u32>, LmError> {
        let n: usize = ms.iter().map(|m| m.content.len() + 2).sum();
        Ok(vec![0; n])
    }

    fn conv() -> Vec<Message> {
        vec![
            Message::system("sys"),         // 5
            Message::user("aaaaaaaa"),      // 10
            Message::assistant("bbbbbbbb"), // 10
            Message::user("cccccccc"),      // 10
            Message::assistant("dddddddd"), // 10
            Message::user("eeee"),          // 6
        ]
    }

    #[test]
    fn fits_untouched() {
        let f = fit(&conv(), 100, 10, enc).unwrap();
        assert_eq!((f.tokens.len(), f.dropped, f.max_new_tokens), (51, 0, 10));
        assert!(f.note.is_none());
    }

    #[test]
    fn drops_oldest_turns_keeping_system_and_last() {
        // 51 tokens + 10 reserved > 45: drop user+assistant (31 left).
        let f = fit(&conv(), 45, 10, enc).unwrap();
        assert_eq!(f.dropped, 2);
        assert_eq!(f.tokens.len(), 31);
        assert!(f.note.as_deref().unwrap().contains("dropped the 2 oldest"));
    }

    #[test]
    fn pinned_advice_outlives_truncation() {
        let mut ms = conv();
        ms[3] = Message::user(format!("{PINNED}\nlook at b\n</expert_llm_guidance>"));
        // 97 tokens for a 75-token window with 10 reserved: the question and reply before the
        // advice go, then the reply after it; the advice stays (the reply is clamped instead).
        let f = fit(&ms, 75, 10, enc).unwrap();
        assert_eq!(
            f.dropped, 3,
            "two turns before the advice, the reply after it"
        );
        let kept = |ms: &[Message]| {
            let mut k = ms.to_vec();
            for i in [4, 2, 1] {
                k.remove(i);
            }
            k
        };
        assert_eq!(f.tokens.len(), enc(&kept(&ms)).unwrap().len());
    }

    #[test]
    fn a_dropped_call_takes_its_results_and_no_more() {
        let call = |c: &str| Message {
            tool_calls: vec![crate::lm::ToolCall {
                id: c.into(),
                name: "bash".into(),
                arguments: "{}".into(),
            }],
            ..Message::assistant("aaaa")
        };
        let result = |c: &str| Message {
            tool_call_id: Some(c.into()),
            ..Message::new(Role::Tool, "rrrr")
        };
        let ms = vec![
            Message::system("sys"),
            Message::user("issue"),
            call("1"),
            result("1"),
            call("2"),
            result("2"),
            call("3"),
            result("3"),
        ];
        // 5 + 7 + 6·6 = 48 tokens; 40 with 5 reserved: the issue, its reply and that reply's
        // result go, and the next call stays with its result.
        let f = fit(&ms, 40, 5, enc).unwrap();
        assert_eq!(f.dropped, 3);
        assert_eq!(f.tokens.len(), 5 + 4 * 6);
    }

    #[test]
    fn too_long_even_alone() {
        let ms = vec![Message::system("s"), Message::user("x".repeat(100))];
        let e = fit(&ms, 50, 10, enc).unwrap_err();
        assert!(
            matches!(
                e,
                LmError::PromptTooLong {
                    tokens: 105,
                    context: 50
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn clamps_the_reply_when_nothing_can_go() {
        let ms = vec![Message::user("x".repeat(40))];
        let f = fit(&ms, 50, 20, enc).unwrap();
        assert_eq!(f.max_new_tokens, 8);
        assert!(f.note.unwrap().contains("only 8 tokens left"));
    }
}
