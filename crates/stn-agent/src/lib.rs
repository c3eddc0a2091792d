//! Station's execution engine.
//!
//! - [`Engine`] executes one run: it renders the agent's dotprompt body
//!   (stn-llm), offers the model the agent's MCP tools (stn-mcp's pool, per
//!   environment) and its sub-agents (`__agent_<name>`, each call a child
//!   run), loops model turn → concurrent tool calls until the model answers,
//!   and appends every step to `agent_run_steps` as it happens.
//! - [`RunManager`] runs many: bounded concurrency with the rest `queued`, a
//!   live [`RunEvent`] stream per run, cancel by id, graceful shutdown.
//! - [`schedule`] starts agents on their cron schedule from `stn serve`.
//! - [`AgentTools`] serves the agents as MCP tools (`agent_<name>`).
//! - [`owner`] tells runs of a dead process from runs of a live one.
//!
//! A run's row is created first (`queued`), moves to `running`, and ends
//! `completed`, `failed`, `cancelled` or `timeout`, always written by the run
//! itself; a process that dies leaves its runs to the next `stn serve`, which
//! marks them failed ("interrupted").

#![warn(missing_docs)]

mod engine;
mod error;
mod events;
mod manager;
mod mcp_server;
mod models;
mod names;
mod output;
pub mod owner;
mod plan;
pub mod schedule;
mod secrets;
mod tool_result;
mod tools;
mod watch;

pub use engine::{Engine, EngineOptions, Origin, RunOutcome, RunRequest};
pub use error::AgentError;
pub use events::{EventSender, RunEvent};
pub use manager::{DEFAULT_MAX_CONCURRENT_RUNS, RunManager, Started};
pub use mcp_server::AgentTools;
pub use models::{Models, Resolve};
pub use names::{normalize, served_agent_tool, sub_agent_tool};
pub use tool_result::ResultLimits;
pub use tools::mcp_server_spec;
pub use watch::watch;
