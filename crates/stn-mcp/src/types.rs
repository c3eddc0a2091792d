//! The plain data the engine exchanges with this crate.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How to reach one MCP server.
#[derive(Clone, PartialEq, Eq)]
pub enum Transport {
    /// A child process speaking JSON-RPC lines on stdin/stdout.
    Stdio {
        /// Program to run (looked up in `PATH` when it has no slash).
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Extra environment variables (added to ours).
        env: BTreeMap<String, String>,
        /// Working directory; ours when `None`.
        cwd: Option<PathBuf>,
    },
    /// A streamable-HTTP endpoint.
    Http {
        /// The endpoint, e.g. `http://127.0.0.1:3001/mcp`.
        url: url::Url,
        /// Headers sent with every request (e.g. `Authorization`).
        headers: Vec<(String, String)>,
    },
}

/// Values of `env` and `headers` may hold secrets: Debug shows names only.
impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Stdio {
                command,
                args,
                env,
                cwd,
            } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", args)
                .field("env", &env.keys().collect::<Vec<_>>())
                .field("cwd", cwd)
                .finish(),
            Transport::Http { url, headers } => f
                .debug_struct("Http")
                .field("url", &url.as_str())
                .field(
                    "headers",
                    &headers.iter().map(|(name, _)| name).collect::<Vec<_>>(),
                )
                .finish(),
        }
    }
}

/// One MCP server as the engine configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// The server's name in its config (unique within a pool key).
    pub name: String,
    /// How to reach it.
    pub transport: Transport,
    /// Longest time one `tools/call` may take.
    pub call_timeout: Duration,
}

impl ServerSpec {
    /// A stdio server with no extra environment, run in our working directory.
    pub fn stdio(name: &str, command: &str, args: &[&str]) -> Self {
        ServerSpec {
            name: name.to_owned(),
            transport: Transport::Stdio {
                command: command.to_owned(),
                args: args.iter().map(|a| (*a).to_owned()).collect(),
                env: BTreeMap::new(),
                cwd: None,
            },
            call_timeout: DEFAULT_CALL_TIMEOUT,
        }
    }

    /// A streamable-HTTP server without extra headers.
    pub fn http(name: &str, url: url::Url) -> Self {
        ServerSpec {
            name: name.to_owned(),
            transport: Transport::Http {
                url,
                headers: Vec::new(),
            },
            call_timeout: DEFAULT_CALL_TIMEOUT,
        }
    }
}

/// What [`ServerSpec::stdio`] and [`ServerSpec::http`] use for `call_timeout`.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// A tool offered by a server.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolInfo {
    /// The server offering it (its [`ServerSpec::name`]).
    pub server: String,
    /// The tool's name as the server spells it.
    pub name: String,
    /// What it does (empty when the server gave none).
    pub description: String,
    /// JSON Schema of its arguments.
    pub input_schema: serde_json::Value,
}

/// The result of one tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    /// The text content blocks joined by newlines; other blocks (images,
    /// resources, structured content without text) as their JSON.
    pub text: String,
    /// The tool reported a failure (`isError`): the model should see it.
    pub is_error: bool,
}
