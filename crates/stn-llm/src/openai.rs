//! OpenAI Chat Completions: request body, streamed chunks, and a whole (non-streamed)
//! answer for servers that ignore `stream: true`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::error::LlmError;
use crate::types::{ChatRequest, ChatResponse, Role, StreamEvent, ToolCall, Usage};
use crate::wire::{malformed, parse_arguments, provider_error};

/// The path below the base URL.
pub(crate) const PATH: &str = "chat/completions";

/// The JSON body of a streamed request.
pub(crate) fn request_body(req: &ChatRequest) -> Value {
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| match m.role {
            Role::Assistant if !m.tool_calls.is_empty() => json!({
                "role": "assistant",
                "content": if m.content.is_empty() { Value::Null } else { Value::from(m.content.clone()) },
                "tool_calls": m.tool_calls.iter().map(|c| json!({
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments.to_string()},
                })).collect::<Vec<_>>(),
            }),
            Role::Tool => json!({
                "role": "tool",
                "tool_call_id": m.tool_call_id.clone().unwrap_or_default(),
                "content": m.content,
            }),
            role => json!({"role": role, "content": m.content}),
        })
        .collect();
    let mut body = json!({
        "model": req.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.input_schema,
                }})
            })
            .collect();
    }
    if req.json_output {
        body["response_format"] = json!({"type": "json_object"});
    }
    if let Some(n) = req.max_tokens {
        body["max_tokens"] = n.into();
    }
    if let Some(t) = req.temperature {
        body["temperature"] = t.into();
    }
    body
}

/// A tool call whose pieces are still arriving.
#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
    announced: bool,
}

/// Assembles one streamed answer from its chunks.
#[derive(Debug, Default)]
pub(crate) struct Stream {
    text: String,
    calls: BTreeMap<u64, PartialCall>,
    usage: Option<Usage>,
    model: String,
    finish_reason: Option<String>,
    done: bool,
}

impl Stream {
    /// Takes one `data:` payload. Returns true when the stream says it is complete.
    pub fn push(&mut self, data: &str, emit: &dyn Fn(StreamEvent)) -> Result<bool, LlmError> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(true);
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| malformed(format!("stream chunk is not JSON ({e})")))?;
        if let Some(err) = chunk.get("error") {
            return Err(provider_error(err));
        }
        if let Some(m) = chunk.get("model").and_then(Value::as_str) {
            self.model = m.to_owned();
        }
        if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
            self.usage = Some(usage(u));
        }
        let choices = chunk.get("choices").and_then(Value::as_array);
        for choice in choices.into_iter().flatten() {
            if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish_reason = Some(r.to_owned());
            }
            let Some(delta) = choice.get("delta") else {
                continue;
            };
            if let Some(t) = delta.get("content").and_then(Value::as_str)
                && !t.is_empty()
            {
                self.text.push_str(t);
                emit(StreamEvent::TextDelta(t.to_owned()));
            }
            let calls = delta.get("tool_calls").and_then(Value::as_array);
            for (pos, c) in calls.into_iter().flatten().enumerate() {
                // Some compatible servers omit `index` when they send whole calls.
                let index = c.get("index").and_then(Value::as_u64).unwrap_or(pos as u64);
                let call = self.calls.entry(index).or_default();
                if let Some(id) = c.get("id").and_then(Value::as_str) {
                    call.id = id.to_owned();
                }
                let f = c.get("function");
                if let Some(n) = f.and_then(|f| f.get("name")).and_then(Value::as_str) {
                    call.name.push_str(n);
                }
                if let Some(a) = f.and_then(|f| f.get("arguments")) {
                    match a {
                        Value::String(s) => call.arguments.push_str(s),
                        Value::Null => {}
                        other => call.arguments.push_str(&other.to_string()),
                    }
                }
                if !call.announced && !call.name.is_empty() {
                    call.announced = true;
                    emit(StreamEvent::ToolCallStarted {
                        id: call.id.clone(),
                        name: call.name.clone(),
                    });
                }
            }
        }
        Ok(false)
    }

    /// Whether the stream reached its end (`[DONE]`, or a finish reason when the server
    /// closes without `[DONE]`).
    pub fn complete(&self) -> bool {
        self.done || self.finish_reason.is_some()
    }

    /// The whole turn.
    pub fn finish(self) -> Result<ChatResponse, LlmError> {
        let mut tool_calls = Vec::with_capacity(self.calls.len());
        for (index, c) in self.calls {
            if c.name.is_empty() {
                return Err(malformed(format!("tool call {index} has no function name")));
            }
            tool_calls.push(ToolCall {
                id: if c.id.is_empty() {
                    format!("call_{index}")
                } else {
                    c.id
                },
                name: c.name,
                arguments: parse_arguments(&c.arguments),
            });
        }
        Ok(ChatResponse {
            text: self.text,
            tool_calls,
            usage: self.usage.unwrap_or_default(),
            model: self.model,
            finish_reason: self.finish_reason,
        })
    }
}

/// A whole (non-streamed) answer, as a server that ignores `stream: true` sends it.
pub(crate) fn parse_response(
    body: &Value,
    emit: &dyn Fn(StreamEvent),
) -> Result<ChatResponse, LlmError> {
    if let Some(err) = body.get("error") {
        return Err(provider_error(err));
    }
    let choice = body
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| malformed("answer has no `choices`"))?;
    let message = choice
        .get("message")
        .ok_or_else(|| malformed("answer has no `choices[0].message`"))?;
    // Reuse the chunk assembler: a whole message is one big delta.
    let mut stream = Stream::default();
    let chunk = json!({
        "model": body.get("model"),
        "usage": body.get("usage"),
        "choices": [{"delta": message, "finish_reason": choice.get("finish_reason")}],
    });
    stream.push(&chunk.to_string(), emit)?;
    stream.finish()
}

fn usage(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let mut usage = Usage::new(n("prompt_tokens"), n("completion_tokens"));
    if let Some(total) = u.get("total_tokens").and_then(Value::as_u64) {
        usage.total_tokens = total;
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Message, ToolSpec};

    #[test]
    fn request_carries_tools_tool_results_and_json_mode() {
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![
                Message::system("sys"),
                Message::user("hi"),
                Message::assistant(
                    "",
                    vec![ToolCall {
                        id: "c1".into(),
                        name: "t".into(),
                        arguments: json!({"a": 1}),
                    }],
                ),
                Message::tool_result("c1", "out"),
            ],
            tools: vec![ToolSpec {
                name: "t".into(),
                description: "d".into(),
                input_schema: json!({"type": "object"}),
            }],
            json_output: true,
            max_tokens: Some(10),
            temperature: None,
        };
        let body = request_body(&req);
        assert_eq!(
            body["messages"][0],
            json!({"role": "system", "content": "sys"})
        );
        assert_eq!(body["messages"][2]["content"], Value::Null);
        assert_eq!(
            body["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{\"a\":1}"
        );
        assert_eq!(
            body["messages"][3],
            json!({"role": "tool", "tool_call_id": "c1", "content": "out"})
        );
        assert_eq!(
            body["tools"][0]["function"]["parameters"],
            json!({"type": "object"})
        );
        assert_eq!(body["response_format"], json!({"type": "json_object"}));
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["max_tokens"], 10);
        assert!(body.get("temperature").is_none());
    }

    #[test]
    fn tool_call_deltas_are_assembled_by_index() {
        let mut s = Stream::default();
        let events = std::sync::Mutex::new(Vec::new());
        let emit = |e| events.lock().unwrap().push(e);
        for data in [
            r#"{"model":"gpt","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"read","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"list","arguments":"{\"p\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"x\": 1}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"\"/\"}"}}]},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#,
        ] {
            assert!(!s.push(data, &emit).unwrap());
        }
        assert!(s.push("[DONE]", &emit).unwrap());
        let r = s.finish().unwrap();
        assert_eq!(
            r.tool_calls[0],
            ToolCall {
                id: "a".into(),
                name: "read".into(),
                arguments: json!({"x": 1})
            }
        );
        assert_eq!(r.tool_calls[1].arguments, json!({"p": "/"}));
        assert_eq!(
            r.usage,
            Usage {
                input_tokens: 5,
                output_tokens: 7,
                total_tokens: 12
            }
        );
        assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(events.lock().unwrap().len(), 2);
    }

    #[test]
    fn an_error_chunk_is_the_providers_error() {
        let err = Stream::default()
            .push(
                r#"{"error":{"message":"upstream died","code":502}}"#,
                &|_| {},
            )
            .unwrap_err();
        assert!(
            matches!(err, LlmError::Server { status: 502, .. }),
            "{err:?}"
        );
    }
}
