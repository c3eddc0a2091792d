//! Structured output: an agent with an output schema is asked for JSON, and
//! its answer is checked against the schema.

use serde_json::Value;
use stn_llm::{Message, Role};

/// Tells the model to answer with JSON matching `schema` (on the last user
/// message, where every provider reads it).
pub(crate) fn ask_for_json(messages: &mut Vec<Message>, schema: &Value) {
    let instruction = format!(
        "\n\nAnswer with one JSON value only (no prose, no code fences) matching this JSON Schema:\n{schema}"
    );
    match messages.iter_mut().rev().find(|m| m.role == Role::User) {
        Some(last) => last.content.push_str(&instruction),
        None => messages.push(Message::user(instruction.trim_start())),
    }
}

/// Checks an answer: JSON (a code fence around it is tolerated) that matches `schema`.
pub(crate) fn check(schema: &Value, answer: &str) -> Result<(), Vec<String>> {
    let text = strip_fence(answer.trim());
    let value: Value =
        serde_json::from_str(text).map_err(|e| vec![format!("the answer is not JSON: {e}")])?;
    stn_llm::validate(schema, &value)
}

/// The one repair turn: what was wrong and the demand to answer again.
pub(crate) fn repair_request(problems: &[String]) -> Message {
    Message::user(format!(
        "Your answer does not match the required JSON Schema: {}. Answer again with corrected JSON only.",
        problems.join("; ")
    ))
}

fn strip_fence(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("```") else {
        return text;
    };
    let rest = rest.strip_prefix("json").unwrap_or(rest);
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerates_a_code_fence() {
        assert_eq!(strip_fence("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(strip_fence("{\"a\":1}"), "{\"a\":1}");
    }
}
