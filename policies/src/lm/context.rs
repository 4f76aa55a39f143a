//! The context-length policy: when a conversation outgrows the window, drop its oldest
//! non-system turns (never the system prompt, never the last message) and say so.

use super::{LmError, Message, Role};

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
                kept.remove(i);
                dropped += 1;
                // Keep the conversation starting with a user turn after the system prompt:
                // an orphaned assistant reply goes with the question it answered.
                while let Some(j) = first_droppable(&kept) {
                    if kept[j].role == Role::Assistant {
                        kept.remove(j);
                        dropped += 1;
                    } else {
                        break;
                    }
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

/// The oldest non-system message that is not the last message.
fn first_droppable(messages: &[Message]) -> Option<usize> {
    let last = messages.len().checked_sub(1)?;
    messages
        .iter()
        .enumerate()
        .find(|(i, m)| *i < last && m.role != Role::System)
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
