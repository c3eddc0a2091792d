//! Station as an MCP server: the engine's agents, offered as tools.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, ServiceExt};

use crate::error::McpError;
use crate::types::{ToolInfo, ToolOutput};

/// The tools Station offers to MCP clients; implemented by the engine.
/// `ToolInfo::server` is ignored here.
#[async_trait::async_trait]
pub trait ToolProvider: Send + Sync + 'static {
    /// The tools, listed on every `tools/list`.
    async fn list_tools(&self) -> Vec<ToolInfo>;
    /// Runs one tool. A failure the client should see is `is_error: true`.
    async fn call_tool(&self, name: &str, args: serde_json::Value) -> ToolOutput;
}

/// Serves `provider` on our stdin/stdout until the client closes stdin
/// (`stn stdio`). Nothing else may write to stdout meanwhile.
pub async fn serve_stdio(provider: Arc<dyn ToolProvider>) -> Result<(), McpError> {
    let running = Handler { provider }
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| McpError::Serve(format!("stdio handshake failed: {e}")))?;
    running
        .waiting()
        .await
        .map_err(|e| McpError::Serve(format!("stdio service ended abnormally: {e}")))?;
    Ok(())
}

/// The streamable-HTTP endpoint for `provider`, answering at the router's
/// root: nest it where it belongs (`Router::nest("/mcp", http_router(p))`).
/// Stateless (no `Mcp-Session-Id`): any request can reach any replica and
/// nothing is kept per client. Accepts only loopback `Host` headers (DNS
/// rebinding); a server reached by name uses [`http_router_for_hosts`].
pub fn http_router(provider: Arc<dyn ToolProvider>) -> axum::Router {
    http_router_with(provider, StreamableHttpServerConfig::default())
}

/// [`http_router`] accepting the given `Host` names (`name` or `name:port`);
/// an empty list accepts any host (authentication must then guard it).
pub fn http_router_for_hosts(provider: Arc<dyn ToolProvider>, hosts: Vec<String>) -> axum::Router {
    http_router_with(
        provider,
        StreamableHttpServerConfig::default().with_allowed_hosts(hosts),
    )
}

fn http_router_with(
    provider: Arc<dyn ToolProvider>,
    config: StreamableHttpServerConfig,
) -> axum::Router {
    let service = StreamableHttpService::new(
        move || {
            Ok(Handler {
                provider: provider.clone(),
            })
        },
        Arc::new(NeverSessionManager::default()),
        config.with_legacy_session_mode(false),
    );
    axum::Router::new().route_service("/", service)
}

#[derive(Clone)]
struct Handler {
    provider: Arc<dyn ToolProvider>,
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("stn", env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = self.provider.list_tools().await;
        Ok(ListToolsResult::with_all_items(
            tools.into_iter().map(to_tool).collect(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request
            .arguments
            .map_or(serde_json::Value::Null, serde_json::Value::Object);
        let output = self.provider.call_tool(&request.name, args).await;
        let content = vec![ContentBlock::text(output.text)];
        Ok(if output.is_error {
            CallToolResult::error(content)
        } else {
            CallToolResult::success(content)
        }
        .into())
    }
}

fn to_tool(info: ToolInfo) -> Tool {
    let schema = match info.input_schema {
        serde_json::Value::Object(map) => map,
        // MCP requires an object schema; a provider without one takes anything.
        _ => serde_json::Map::from_iter([("type".to_owned(), "object".into())]),
    };
    Tool::new(info.name, info.description, Arc::new(schema))
}
