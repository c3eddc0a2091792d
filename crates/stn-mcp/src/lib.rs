//! Station's MCP side, built on the official Rust SDK (`rmcp`, pinned exactly).
//!
//! - **Client:** [`discover`] lists a server's tools once (for `stn sync`);
//!   a [`Pool`] keeps connections per key (an environment) while `stn serve`
//!   runs, restarts servers that died, bounds calls with a timeout and never
//!   leaves a child process behind: stdio servers run in their own process
//!   group, killed as a group on close, shutdown and drop; [`reap_orphans`]
//!   cleans up after a SIGKILL of our own process.
//! - **Server:** Station's agents as MCP tools. The engine implements
//!   [`ToolProvider`]; [`serve_stdio`] serves it for `stn stdio`,
//!   [`http_router`] as streamable HTTP for `stn serve`'s `/mcp`.
//!
//! This crate knows nothing of Station's data: it takes [`ServerSpec`]s and
//! gives back [`ToolInfo`]s and [`ToolOutput`]s.

mod client;
mod error;
mod pidfile;
mod pool;
mod process;
mod server;
mod types;

pub use client::discover;
pub use error::McpError;
pub use pidfile::reap_orphans;
pub use pool::{DEFAULT_START_TIMEOUT, Pool, PoolOptions};
pub use server::{ToolProvider, http_router, http_router_for_hosts, serve_stdio};
pub use types::{DEFAULT_CALL_TIMEOUT, ServerSpec, ToolInfo, ToolOutput, Transport};
