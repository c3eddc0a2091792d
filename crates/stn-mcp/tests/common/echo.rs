//! A fixed tool provider: `echo` returns its `text`, anything else is a tool error.
//! Shared by the tests and the `echo_stdio` example.

use stn_mcp::{ToolInfo, ToolOutput, ToolProvider};

pub struct Echo;

#[async_trait::async_trait]
impl ToolProvider for Echo {
    async fn list_tools(&self) -> Vec<ToolInfo> {
        let text_arg = serde_json::json!({
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        });
        ["echo", "fail"]
            .into_iter()
            .map(|name| ToolInfo {
                server: String::new(),
                name: name.to_owned(),
                description: format!("the {name} tool"),
                input_schema: text_arg.clone(),
            })
            .collect()
    }

    async fn call_tool(&self, name: &str, args: serde_json::Value) -> ToolOutput {
        let text = args["text"].as_str().unwrap_or_default();
        match name {
            "echo" => ToolOutput {
                text: format!("echo: {text}"),
                is_error: false,
            },
            _ => ToolOutput {
                text: format!("`{name}` failed on purpose ({text})"),
                is_error: true,
            },
        }
    }
}
