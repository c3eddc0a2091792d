//! One client connection to one MCP server, and one-shot discovery.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ContentBlock,
    Implementation,
};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use crate::error::{McpError, secs};
use crate::pidfile::Registry;
use crate::process::{self, StdioChild};
use crate::types::{ServerSpec, ToolInfo, ToolOutput, Transport};

/// One-shot discovery for `stn sync`: starts the server, initializes, lists
/// every page of its tools and stops it again (a stdio server's whole
/// process group is gone when this returns). `timeout` bounds the start and
/// the listing.
pub async fn discover(spec: &ServerSpec, timeout: Duration) -> Result<Vec<ToolInfo>, McpError> {
    let registry = Arc::new(Registry::new(None));
    let connection = Connection::open(spec, timeout, &registry).await?;
    let tools = connection.tools.clone();
    connection.close().await;
    Ok(tools)
}

type Service = RunningService<RoleClient, ClientConfig>;

/// A connected, initialized server with the tools it listed at start.
pub(crate) struct Connection {
    server: String,
    service: Service,
    child: Option<StdioChild>,
    pub(crate) tools: Vec<ToolInfo>,
}

impl Connection {
    /// Starts (stdio) or reaches (HTTP) the server, initializes and lists its tools.
    pub(crate) async fn open(
        spec: &ServerSpec,
        timeout: Duration,
        registry: &Arc<Registry>,
    ) -> Result<Connection, McpError> {
        let failed = |reason: String| McpError::Start {
            server: spec.name.clone(),
            reason,
        };
        let no_answer = || format!("no answer to `initialize` within {}", secs(timeout));
        match &spec.transport {
            Transport::Stdio { .. } => {
                let spawned = process::spawn(&spec.name, &spec.transport, registry)?;
                let child = spawned.child;
                let start = handshake(
                    &spec.name,
                    client_info().serve((spawned.stdout, spawned.stdin)),
                );
                // Lines that are not JSON-RPC (a banner, a log line) are
                // left out of the stream and logged; only the start-up
                // timeout or an exit ends the wait.
                let outcome = tokio::select! {
                    started = tokio::time::timeout(timeout, start) => started.unwrap_or_else(|_| Err(no_answer())),
                    _ = child.exited() => Err(String::new()),
                };
                match outcome {
                    Ok((service, tools)) => Ok(Connection {
                        server: spec.name.clone(),
                        service,
                        child: Some(child),
                        tools,
                    }),
                    Err(reason) => {
                        let why = child.reason().await;
                        // A server that exited explains itself; the SDK's
                        // "broken pipe" on the handshake would only add noise.
                        let reason = if child.exit_status().is_some() {
                            why
                        } else {
                            join(&reason, &why)
                        };
                        child.terminate().await;
                        Err(failed(reason))
                    }
                }
            }
            Transport::Http { url, headers } => {
                let config = http_config(&spec.name, url, headers)?;
                let transport = StreamableHttpClientTransport::from_config(config);
                let start = handshake(&spec.name, client_info().serve(transport));
                let (service, tools) = tokio::time::timeout(timeout, start)
                    .await
                    .unwrap_or_else(|_| Err(no_answer()))
                    .map_err(|reason| failed(format!("{url}: {reason}")))?;
                Ok(Connection {
                    server: spec.name.clone(),
                    service,
                    child: None,
                    tools,
                })
            }
        }
    }

    /// Whether the server can still take calls.
    pub(crate) fn is_alive(&self) -> bool {
        let running = self
            .child
            .as_ref()
            .is_none_or(|c| c.exit_status().is_none());
        running && !self.service.is_closed() && !self.service.is_transport_closed()
    }

    /// Why the connection is unusable (for a stdio server: exit status, stderr).
    pub(crate) async fn death_reason(&self) -> String {
        match &self.child {
            Some(child) => child.reason().await,
            None => "the connection was closed".to_owned(),
        }
    }

    /// Calls one tool. `isError` results are `Ok` with `is_error`; JSON-RPC
    /// errors, a dead server and the timeout are errors.
    pub(crate) async fn call(
        &self,
        tool: &str,
        args: serde_json::Value,
        timeout: Duration,
    ) -> Result<ToolOutput, McpError> {
        let arguments = match args {
            serde_json::Value::Object(map) => Some(map),
            serde_json::Value::Null => None,
            other => {
                // The model wrote the arguments: it gets to see its mistake.
                return Ok(ToolOutput {
                    text: format!("the arguments of `{tool}` must be a JSON object, not `{other}`"),
                    is_error: true,
                });
            }
        };
        let mut params = CallToolRequestParams::new(tool.to_owned());
        params.arguments = arguments;
        let what = format!("tools/call `{tool}`");
        let died = async {
            match &self.child {
                Some(child) => {
                    child.exited().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = tokio::time::timeout(timeout, self.service.call_tool(params)) => match result {
                Ok(Ok(result)) => Ok(tool_output(result)),
                Ok(Err(e)) => Err(self.service_error(e, what).await),
                Err(_) => Err(McpError::Timeout { server: self.server.clone(), what, after: timeout }),
            },
            () = died => Err(McpError::Died { server: self.server.clone(), reason: self.death_reason().await }),
        }
    }

    async fn service_error(&self, error: ServiceError, what: String) -> McpError {
        let server = self.server.clone();
        match error {
            ServiceError::McpError(data) => McpError::Protocol {
                server,
                what,
                message: data.message.into_owned(),
            },
            ServiceError::Timeout { timeout } => McpError::Timeout {
                server,
                what,
                after: timeout,
            },
            ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
                let transport = error.to_string();
                McpError::Died {
                    server,
                    reason: join(&transport, &self.death_reason().await),
                }
            }
            other => McpError::Protocol {
                server,
                what,
                message: other.to_string(),
            },
        }
    }

    /// Ends the session; a stdio server gets its stdin closed, then SIGTERM,
    /// then SIGKILL, each to its whole process group.
    pub(crate) async fn close(&self) {
        self.service.cancellation_token().cancel();
        if let Some(child) = &self.child {
            // A well-behaved server exits when its stdin closes.
            let _ = tokio::time::timeout(Duration::from_millis(100), child.exited()).await;
            child.terminate().await;
        }
    }
}

/// Initializes and lists the tools; errors are the reason text.
async fn handshake<E: std::fmt::Display>(
    server: &str,
    serve: impl Future<Output = Result<Service, E>>,
) -> Result<(Service, Vec<ToolInfo>), String> {
    let service = serve.await.map_err(|e| e.to_string())?;
    let tools = service
        .list_all_tools()
        .await
        .map_err(|e| format!("tools/list failed: {e}"))?;
    Ok((
        service,
        tools.into_iter().map(|t| tool_info(server, t)).collect(),
    ))
}

fn client_info() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("stn", env!("CARGO_PKG_VERSION")),
    )
}

fn http_config(
    server: &str,
    url: &url::Url,
    headers: &[(String, String)],
) -> Result<StreamableHttpClientTransportConfig, McpError> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
    let mut custom = HashMap::new();
    for (name, value) in headers {
        // Never put the value in the message: it is often a token.
        let bad = |what: &str| McpError::BadSpec {
            server: server.to_owned(),
            detail: format!("header `{name}` has an invalid {what}"),
        };
        let header = HeaderName::try_from(name.as_str()).map_err(|_| bad("name"))?;
        if header == AUTHORIZATION {
            // rmcp sends the token itself (and rejects it as a custom header).
            let token = value.strip_prefix("Bearer ").unwrap_or(value);
            config = config.auth_header(token.to_owned());
            continue;
        }
        custom.insert(
            header,
            HeaderValue::try_from(value.as_str()).map_err(|_| bad("value"))?,
        );
    }
    Ok(config.custom_headers(custom))
}

fn tool_output(result: CallToolResult) -> ToolOutput {
    let mut parts: Vec<String> = result
        .content
        .iter()
        .map(|block| match block {
            ContentBlock::Text(text) => text.text.clone(),
            other => serde_json::to_string(other).unwrap_or_default(),
        })
        .collect();
    if parts.is_empty()
        && let Some(structured) = &result.structured_content
    {
        parts.push(structured.to_string());
    }
    ToolOutput {
        text: parts.join("\n"),
        is_error: result.is_error.unwrap_or(false),
    }
}

fn tool_info(server: &str, tool: rmcp::model::Tool) -> ToolInfo {
    ToolInfo {
        server: server.to_owned(),
        name: tool.name.into_owned(),
        description: tool.description.map(|d| d.into_owned()).unwrap_or_default(),
        input_schema: serde_json::Value::Object((*tool.input_schema).clone()),
    }
}

fn join(first: &str, second: &str) -> String {
    match (first.is_empty(), second.is_empty()) {
        (true, _) => second.to_owned(),
        (_, true) => first.to_owned(),
        _ => format!("{first}; {second}"),
    }
}
