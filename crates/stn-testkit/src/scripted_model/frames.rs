//! What the scripted model sends, in each dialect: stream frames, whole answers, errors.
//! The shapes follow the providers' documented wire formats.

use serde_json::{Value, json};

use super::{Turn, WireDialect};

/// A whole (non-streamed) answer.
pub(super) fn whole(dialect: WireDialect, turn: &Turn, model: &str, serial: usize) -> Value {
    let text = turn.text.concat();
    let (input, output) = turn.usage.unwrap_or((0, 0));
    match dialect {
        WireDialect::OpenAi => {
            let calls: Vec<Value> = turn
                .tool_calls
                .iter()
                .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments.to_string()}}))
                .collect();
            let mut message = json!({"role": "assistant", "content": text});
            if !calls.is_empty() {
                message["tool_calls"] = calls.into();
            }
            json!({
                "id": format!("chatcmpl-{serial}"),
                "object": "chat.completion",
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": openai_finish(turn)}],
                "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output},
            })
        }
        WireDialect::Anthropic => {
            let mut content = Vec::new();
            if !text.is_empty() {
                content.push(json!({"type": "text", "text": text}));
            }
            for c in &turn.tool_calls {
                content.push(
                    json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}),
                );
            }
            json!({
                "id": format!("msg_{serial}"),
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": anthropic_stop(turn),
                "usage": {"input_tokens": input, "output_tokens": output},
            })
        }
    }
}

/// The SSE frames of a streamed answer (each ends with its blank line).
pub(super) fn stream(
    dialect: WireDialect,
    turn: &Turn,
    model: &str,
    serial: usize,
    include_usage: bool,
) -> Vec<String> {
    match dialect {
        WireDialect::OpenAi => openai_stream(turn, model, serial, include_usage),
        WireDialect::Anthropic => anthropic_stream(turn, model, serial),
    }
}

fn openai_stream(turn: &Turn, model: &str, serial: usize, include_usage: bool) -> Vec<String> {
    let id = format!("chatcmpl-{serial}");
    let chunk = |choices: Value| {
        let v = json!({"id": id, "object": "chat.completion.chunk", "model": model, "choices": choices});
        format!("data: {v}\n\n")
    };
    let mut frames = vec![chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
    )];
    for piece in &turn.text {
        frames.push(chunk(
            json!([{"index": 0, "delta": {"content": piece}, "finish_reason": null}]),
        ));
    }
    for (i, c) in turn.tool_calls.iter().enumerate() {
        let (a, b) = halves(&c.arguments.to_string());
        frames.push(chunk(json!([{"index": 0, "delta": {"tool_calls": [
            {"index": i, "id": c.id, "type": "function", "function": {"name": c.name, "arguments": a}}
        ]}, "finish_reason": null}])));
        frames.push(chunk(json!([{"index": 0, "delta": {"tool_calls": [
            {"index": i, "function": {"arguments": b}}
        ]}, "finish_reason": null}])));
    }
    frames.push(chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": openai_finish(turn)}]),
    ));
    if include_usage && let Some((input, output)) = turn.usage {
        let v = json!({"id": id, "object": "chat.completion.chunk", "model": model, "choices": [],
            "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output}});
        frames.push(format!("data: {v}\n\n"));
    }
    frames.push("data: [DONE]\n\n".to_owned());
    frames
}

fn anthropic_stream(turn: &Turn, model: &str, serial: usize) -> Vec<String> {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let (input, output) = turn.usage.unwrap_or((0, 0));
    let mut frames = vec![event(
        "message_start",
        json!({"type": "message_start", "message": {"id": format!("msg_{serial}"), "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": null, "usage": {"input_tokens": input, "output_tokens": 1}}}),
    )];
    let mut index = 0;
    if !turn.text.is_empty() {
        frames.push(event("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})));
        frames.push(": keep-alive comment\n\n".to_owned());
        for piece in &turn.text {
            frames.push(event("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}})));
        }
        frames.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    frames.push(event("ping", json!({"type": "ping"})));
    for c in &turn.tool_calls {
        let (a, b) = halves(&c.arguments.to_string());
        frames.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": c.id, "name": c.name, "input": {}}}),
        ));
        for part in [a, b] {
            frames.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": part}}),
            ));
        }
        frames.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    frames.push(event("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": anthropic_stop(turn), "stop_sequence": null},
        "usage": {"output_tokens": output}})));
    frames.push(event("message_stop", json!({"type": "message_stop"})));
    frames
}

/// The dialect's error JSON.
pub(super) fn error_body(dialect: WireDialect, status: u16, message: &str) -> Value {
    let kind = match status {
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    };
    match dialect {
        WireDialect::OpenAi => json!({"error": {"message": message, "type": kind, "code": null}}),
        WireDialect::Anthropic => {
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
    }
}

fn openai_finish(turn: &Turn) -> &'static str {
    if turn.tool_calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    }
}

fn anthropic_stop(turn: &Turn) -> &'static str {
    if turn.tool_calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    }
}

/// Splits at a character boundary near the middle.
fn halves(s: &str) -> (String, String) {
    let mut mid = s.len() / 2;
    while !s.is_char_boundary(mid) {
        mid -= 1;
    }
    (s[..mid].to_owned(), s[mid..].to_owned())
}
