//! Starts one stdio MCP server in a pool that records process groups in a
//! pid dir, then waits forever: the tests SIGKILL it to simulate a crashed
//! `stn serve` and check that `reap_orphans` cleans up after it.
//!
//! `pool_holder PID_DIR COMMAND [ARGS...]`

use std::time::Duration;

use stn_mcp::{Pool, PoolOptions, ServerSpec};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [pid_dir, command, rest @ ..] = args.as_slice() else {
        eprintln!("usage: pool_holder PID_DIR COMMAND [ARGS...]");
        std::process::exit(2);
    };
    let pool = Pool::with_options(PoolOptions {
        pid_dir: Some(pid_dir.into()),
        start_timeout: Duration::from_secs(3600),
    });
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let spec = ServerSpec::stdio("held", command, &rest);
    match pool.tools("held", &[spec]).await {
        Ok(tools) => println!("connected: {} tools", tools.len()),
        Err(e) => println!("not connected: {e}"),
    }
    tokio::time::sleep(Duration::from_secs(3600)).await;
}
