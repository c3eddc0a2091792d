//! Small pieces both dialects share: error bodies, tool arguments.

use serde_json::Value;

use crate::error::{LlmError, short};

pub(crate) fn malformed(message: impl Into<String>) -> LlmError {
    LlmError::Malformed {
        message: message.into(),
    }
}

/// Tool arguments as the model sent them: JSON text, empty for "no arguments". Text that
/// is not a JSON object is kept as `{"_raw": text}` so the tool (and then the model) sees
/// what went wrong instead of the run failing.
pub(crate) fn parse_arguments(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Object(Default::default());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => serde_json::json!({ "_raw": text }),
    }
}

/// An `error` object sent inside a 200 answer (mid-stream): retried like a 5xx.
pub(crate) fn provider_error(err: &Value) -> LlmError {
    let status = err
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c))
        .unwrap_or(500);
    let message = error_message(err).unwrap_or_else(|| short(&err.to_string()));
    let kind = err.get("type").and_then(Value::as_str).unwrap_or("");
    if status == 429 || kind == "rate_limit_error" {
        return LlmError::RateLimited {
            message,
            attempts: 1,
        };
    }
    let status = if kind == "overloaded_error" {
        529
    } else {
        status
    };
    LlmError::Server {
        status,
        message,
        attempts: 1,
    }
}

/// The message of an error object: `message`, or `error.message`, or `error` as text.
fn error_message(v: &Value) -> Option<String> {
    let text = v
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| {
            v.get("error")
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
        })
        .or_else(|| v.get("error").and_then(Value::as_str))
        .or_else(|| v.get("detail").and_then(Value::as_str))?;
    Some(short(text))
}

/// What to show of a failed response's body: the provider's JSON message, a short text,
/// never a whole HTML page.
pub(crate) fn body_message(content_type: &str, body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body)
        && let Some(m) = error_message(&v)
    {
        return m;
    }
    let text = String::from_utf8_lossy(body);
    if content_type.contains("html") || text.trim_start().starts_with('<') {
        return format!(
            "an HTML page ({} bytes) instead of an API answer",
            body.len()
        );
    }
    if text.trim().is_empty() {
        return "(empty body)".to_owned();
    }
    short(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_from_the_json_error_or_a_short_text() {
        let b =
            br#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#;
        assert_eq!(
            body_message("application/json", b),
            "Incorrect API key provided"
        );
        let anthropic =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(body_message("application/json", anthropic), "Overloaded");
        let html = format!("<html>{}</html>", "x\n".repeat(60));
        let m = body_message("text/html", html.as_bytes());
        assert!(m.starts_with("an HTML page") && !m.contains("x\nx"), "{m}");
        assert_eq!(
            body_message("text/plain", &[b'y'; 5000]).chars().count(),
            301
        );
    }

    #[test]
    fn arguments_that_are_not_an_object_are_kept_raw() {
        assert_eq!(parse_arguments(""), serde_json::json!({}));
        assert_eq!(parse_arguments("{\"a\":1}"), serde_json::json!({"a": 1}));
        assert_eq!(
            parse_arguments("{\"a\":"),
            serde_json::json!({"_raw": "{\"a\":"})
        );
    }
}
