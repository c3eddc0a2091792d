//! This crate's errors. Every one names the server it is about.

use std::time::Duration;

/// What went wrong talking to (or serving) MCP.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// The server could not be started or did not complete the handshake.
    #[error("MCP server `{server}` failed to start: {reason}")]
    Start {
        /// The server's name.
        server: String,
        /// Why, with its exit status and the last lines of its stderr when known.
        reason: String,
    },
    /// The server went away while we were using it.
    #[error("MCP server `{server}` stopped: {reason}")]
    Died {
        /// The server's name.
        server: String,
        /// Exit status, the last lines of its stderr, or the transport error.
        reason: String,
    },
    /// A request took longer than allowed.
    #[error("MCP server `{server}`: {what} timed out after {}", crate::error::secs(*after))]
    Timeout {
        /// The server's name.
        server: String,
        /// The request, e.g. "tools/call `echo`".
        what: String,
        /// The limit that was hit.
        after: Duration,
    },
    /// The server answered a request with a JSON-RPC error (e.g. unknown tool).
    #[error("MCP server `{server}`: {what} failed: {message}")]
    Protocol {
        /// The server's name.
        server: String,
        /// The request.
        what: String,
        /// The server's error message.
        message: String,
    },
    /// A call named a server that is not in the pool under that key.
    #[error("MCP server `{server}` is not connected under `{key}`")]
    UnknownServer {
        /// The pool key.
        key: String,
        /// The server's name.
        server: String,
    },
    /// The spec itself is unusable (bad header, empty command).
    #[error("MCP server `{server}`: {detail}")]
    BadSpec {
        /// The server's name.
        server: String,
        /// What is wrong.
        detail: String,
    },
    /// Several servers of one set failed; each is named.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<McpError>),
    /// Serving Station's tools failed.
    #[error("MCP server side: {0}")]
    Serve(String),
}

impl McpError {
    /// A hint for the user, when there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            McpError::Start { .. } => Some(
                "check the server's command, args and variables in the environment's MCP config; run the command by hand to see its output".to_owned(),
            ),
            McpError::Died { .. } => {
                Some("the server is restarted on next use; its stderr above says why it stopped".to_owned())
            }
            McpError::Timeout { .. } => {
                Some("raise the call timeout or check that the server is not stuck".to_owned())
            }
            McpError::UnknownServer { .. } => {
                Some("connect the environment's servers with `Pool::tools` first".to_owned())
            }
            McpError::Several(errors) => errors.iter().find_map(McpError::hint),
            _ => None,
        }
    }

    /// The servers named by this error (one, or each of [`McpError::Several`]).
    pub fn servers(&self) -> Vec<&str> {
        match self {
            McpError::Start { server, .. }
            | McpError::Died { server, .. }
            | McpError::Timeout { server, .. }
            | McpError::Protocol { server, .. }
            | McpError::UnknownServer { server, .. }
            | McpError::BadSpec { server, .. } => vec![server.as_str()],
            McpError::Several(errors) => errors.iter().flat_map(McpError::servers).collect(),
            McpError::Serve(_) => Vec::new(),
        }
    }

    /// One error for a list of failures: the error itself when there is one.
    pub(crate) fn combine(mut errors: Vec<McpError>) -> Option<McpError> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(McpError::Several(errors)),
        }
    }
}

pub(crate) fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
