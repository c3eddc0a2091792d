//! Anthropic Messages: request body, streamed events, and a whole (non-streamed) answer.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::error::LlmError;
use crate::types::{ChatRequest, ChatResponse, Role, StreamEvent, ToolCall, Usage};
use crate::wire::{malformed, parse_arguments, provider_error};

/// The path below the base URL.
pub(crate) const PATH: &str = "messages";
/// Anthropic requires `max_tokens`; the Go original's default.
pub(crate) const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The JSON body of a streamed request. System messages go to the top-level `system`;
/// tool results become `tool_result` blocks of a user message (consecutive ones merged,
/// as the API wants all results of a turn in one message).
pub(crate) fn request_body(req: &ChatRequest) -> Value {
    let system: Vec<&str> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    let mut messages: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in req.messages.iter().filter(|m| m.role != Role::System) {
        let (role, blocks) = match m.role {
            Role::User | Role::System => ("user", text_block(&m.content)),
            Role::Tool => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
                    "content": m.content,
                })],
            ),
            Role::Assistant => {
                let mut blocks = text_block(&m.content);
                blocks.extend(m.tool_calls.iter().map(|c| {
                    json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments})
                }));
                ("assistant", blocks)
            }
        };
        match messages.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => messages.push((role, blocks)),
        }
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, mut content)| {
            if content.is_empty() {
                // The API refuses empty content; an empty turn stays a turn.
                content.push(json!({"type": "text", "text": "(empty)"}));
            }
            json!({"role": role, "content": content})
        })
        .collect();
    let mut body = json!({
        "model": req.model,
        "max_tokens": req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages,
        "stream": true,
    });
    if !system.is_empty() {
        body["system"] = system.join("\n\n").into();
    }
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.input_schema}))
            .collect();
    }
    if let Some(t) = req.temperature {
        body["temperature"] = t.into();
    }
    body
}

fn text_block(text: &str) -> Vec<Value> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![json!({"type": "text", "text": text})]
    }
}

#[derive(Debug)]
enum Block {
    Text,
    Tool {
        id: String,
        name: String,
        json: String,
    },
    Other,
}

/// Assembles one streamed answer from its events.
#[derive(Debug, Default)]
pub(crate) struct Stream {
    text: String,
    blocks: BTreeMap<u64, Block>,
    usage: Usage,
    model: String,
    stop_reason: Option<String>,
    done: bool,
}

impl Stream {
    /// Takes one event's data (the JSON carries its own `type`). Returns true at `message_stop`.
    pub fn push(&mut self, data: &str, emit: &dyn Fn(StreamEvent)) -> Result<bool, LlmError> {
        let ev: Value = serde_json::from_str(data)
            .map_err(|e| malformed(format!("stream event is not JSON ({e})")))?;
        let index = ev.get("index").and_then(Value::as_u64).unwrap_or(0);
        match ev.get("type").and_then(Value::as_str).unwrap_or("") {
            "message_start" => {
                let msg = ev.get("message").unwrap_or(&Value::Null);
                if let Some(m) = msg.get("model").and_then(Value::as_str) {
                    self.model = m.to_owned();
                }
                if let Some(u) = msg.get("usage") {
                    self.add_usage(u);
                }
            }
            "content_block_start" => {
                let block = ev.get("content_block").unwrap_or(&Value::Null);
                let b = match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        self.text_delta(block.get("text"), emit);
                        Block::Text
                    }
                    Some("tool_use") => {
                        let id = str_field(block, "id");
                        let name = str_field(block, "name");
                        emit(StreamEvent::ToolCallStarted {
                            id: id.clone(),
                            name: name.clone(),
                        });
                        Block::Tool {
                            id,
                            name,
                            json: String::new(),
                        }
                    }
                    _ => Block::Other,
                };
                self.blocks.insert(index, b);
            }
            "content_block_delta" => {
                let delta = ev.get("delta").unwrap_or(&Value::Null);
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => self.text_delta(delta.get("text"), emit),
                    Some("input_json_delta") => match self.blocks.get_mut(&index) {
                        Some(Block::Tool { json, .. }) => json.push_str(
                            delta
                                .get("partial_json")
                                .and_then(Value::as_str)
                                .unwrap_or(""),
                        ),
                        _ => {
                            return Err(malformed(format!(
                                "input_json_delta for block {index}, which is not a tool_use"
                            )));
                        }
                    },
                    // thinking, signatures, citations: not part of the answer text.
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(r) = ev
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str)
                {
                    self.stop_reason = Some(r.to_owned());
                }
                if let Some(u) = ev.get("usage") {
                    self.add_usage(u);
                }
            }
            "message_stop" => {
                self.done = true;
                return Ok(true);
            }
            "error" => return Err(provider_error(ev.get("error").unwrap_or(&ev))),
            // ping, content_block_stop, and event types added later.
            _ => {}
        }
        Ok(false)
    }

    fn text_delta(&mut self, text: Option<&Value>, emit: &dyn Fn(StreamEvent)) {
        if let Some(t) = text.and_then(Value::as_str)
            && !t.is_empty()
        {
            self.text.push_str(t);
            emit(StreamEvent::TextDelta(t.to_owned()));
        }
    }

    /// Usage arrives in `message_start` (input) and `message_delta` (output, cumulative);
    /// each field keeps its largest value.
    fn add_usage(&mut self, u: &Value) {
        let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
        let input =
            n("input_tokens") + n("cache_creation_input_tokens") + n("cache_read_input_tokens");
        self.usage.input_tokens = self.usage.input_tokens.max(input);
        self.usage.output_tokens = self.usage.output_tokens.max(n("output_tokens"));
        self.usage.total_tokens = self.usage.input_tokens + self.usage.output_tokens;
    }

    /// Whether the stream reached its end.
    pub fn complete(&self) -> bool {
        self.done
    }

    /// The whole turn.
    pub fn finish(self) -> Result<ChatResponse, LlmError> {
        let tool_calls = self
            .blocks
            .into_values()
            .filter_map(|b| match b {
                Block::Tool { id, name, json } => Some(ToolCall {
                    id,
                    name,
                    arguments: parse_arguments(&json),
                }),
                _ => None,
            })
            .collect();
        Ok(ChatResponse {
            text: self.text,
            tool_calls,
            usage: self.usage,
            model: self.model,
            finish_reason: self.stop_reason,
        })
    }
}

/// A whole (non-streamed) Messages answer.
pub(crate) fn parse_response(
    body: &Value,
    emit: &dyn Fn(StreamEvent),
) -> Result<ChatResponse, LlmError> {
    if body.get("type").and_then(Value::as_str) == Some("error") {
        return Err(provider_error(body.get("error").unwrap_or(body)));
    }
    let content = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("answer has no `content`"))?;
    let mut s = Stream::default();
    if let Some(m) = body.get("model").and_then(Value::as_str) {
        s.model = m.to_owned();
    }
    if let Some(u) = body.get("usage") {
        s.add_usage(u);
    }
    s.stop_reason = body
        .get("stop_reason")
        .and_then(Value::as_str)
        .map(str::to_owned);
    for (i, block) in content.iter().enumerate() {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => s.text_delta(block.get("text"), emit),
            Some("tool_use") => {
                let (id, name) = (str_field(block, "id"), str_field(block, "name"));
                emit(StreamEvent::ToolCallStarted {
                    id: id.clone(),
                    name: name.clone(),
                });
                let input = block.get("input").cloned().unwrap_or(json!({}));
                s.blocks.insert(
                    i as u64,
                    Block::Tool {
                        id,
                        name,
                        json: input.to_string(),
                    },
                );
            }
            _ => {}
        }
    }
    s.finish()
}

fn str_field(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Message;

    #[test]
    fn system_goes_top_level_and_tool_results_merge_into_one_user_message() {
        let call = |id: &str| ToolCall {
            id: id.into(),
            name: "t".into(),
            arguments: json!({"q": id}),
        };
        let req = ChatRequest {
            model: "claude".into(),
            messages: vec![
                Message::system("be brief"),
                Message::user("go"),
                Message::assistant("looking", vec![call("a"), call("b")]),
                Message::tool_result("a", "ra"),
                Message::tool_result("b", "rb"),
            ],
            ..Default::default()
        };
        let body = request_body(&req);
        assert_eq!(body["system"], "be brief");
        assert_eq!(body["max_tokens"], 4096);
        let msgs = body["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 3);
        assert_eq!(
            msgs[1]["content"][1],
            json!({"type": "tool_use", "id": "a", "name": "t", "input": {"q": "a"}})
        );
        assert_eq!(msgs[2]["role"], "user");
        assert_eq!(
            msgs[2]["content"][1],
            json!({"type": "tool_result", "tool_use_id": "b", "content": "rb"})
        );
    }

    #[test]
    fn streamed_events_assemble_text_tools_and_usage() {
        let mut s = Stream::default();
        for data in [
            r#"{"type":"message_start","message":{"model":"claude-x","usage":{"input_tokens":11,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"read","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"path\":"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"/tmp\"}"}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}"#,
        ] {
            assert!(!s.push(data, &|_| {}).unwrap());
        }
        assert!(s.push(r#"{"type":"message_stop"}"#, &|_| {}).unwrap());
        let r = s.finish().unwrap();
        assert_eq!(r.text, "Hi");
        assert_eq!(
            r.tool_calls,
            vec![ToolCall {
                id: "toolu_1".into(),
                name: "read".into(),
                arguments: json!({"path": "/tmp"})
            }]
        );
        assert_eq!(r.usage, Usage::new(11, 9));
        assert_eq!(r.finish_reason.as_deref(), Some("tool_use"));
    }

    #[test]
    fn an_overloaded_event_is_a_server_error() {
        let err = Stream::default()
            .push(
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                &|_| {},
            )
            .unwrap_err();
        assert!(
            matches!(err, LlmError::Server { status: 529, .. }),
            "{err:?}"
        );
    }
}
