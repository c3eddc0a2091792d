//! Station's application core: the schema and its migrations, the stores for
//! environments, agents, MCP servers, runs and users, the config dir with its
//! file formats, and the operations built on them (sync, copy).
//!
//! It talks to the database only through [`stn_db::Database`], so everything
//! here behaves the same on a local file and on a remote libSQL server.

#![warn(missing_docs)]

pub mod agent_check;
pub mod bundle;
pub mod config;
pub mod copy;
pub mod error;
pub mod files;
pub mod go_import;
pub mod layout;
pub mod migrations;
pub mod model;
pub mod names;
pub mod redact;
pub mod station;
pub mod store;
pub mod sync;

pub use error::{CoreError, Result};
pub use layout::Layout;
pub use station::Station;
pub use store::Store;
