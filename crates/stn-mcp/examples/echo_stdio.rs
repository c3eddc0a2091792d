//! Serves a fixed echo tool provider over stdio: what `stn stdio` does with
//! the engine's agents. Used by the tests with the official Python client.
//!
//! `cargo run -p stn-mcp --example echo_stdio`

use std::sync::Arc;

#[path = "../tests/common/echo.rs"]
mod echo;

#[tokio::main]
async fn main() {
    if let Err(e) = stn_mcp::serve_stdio(Arc::new(echo::Echo)).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
