//! Runs the scripted model server by itself, for benchmarks (bench/agents.sh) and manual
//! tries. Prints its base URL (for `ai_base_url` / STN_AI_BASE_URL) and serves until killed.
//!
//! ```text
//! scripted-model [--addr 127.0.0.1:0] [--mode echo-tool|text] [--tool NAME] [--latency-ms N]
//! ```
//! - `echo-tool` (default): call `--tool` (default `echo`) with the user's text, then answer
//!   `done: <tool output>` once the results come back.
//! - `text`: always answer `ok`.
//! - `--latency-ms`: wait before every answer (a model taking that long per turn).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use stn_testkit::scripted_model::{ScriptedModel, Turn, echo_tool_loop};

struct Args {
    addr: SocketAddr,
    text_only: bool,
    tool: String,
    latency: Duration,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
        text_only: false,
        tool: "echo".into(),
        latency: Duration::ZERO,
    };
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--mode" => match value()?.as_str() {
                "echo-tool" => args.text_only = false,
                "text" => args.text_only = true,
                other => return Err(format!("--mode `{other}`: use echo-tool or text")),
            },
            "--tool" => args.tool = value()?,
            "--latency-ms" => {
                let ms: u64 = value()?.parse().map_err(|e| format!("--latency-ms: {e}"))?;
                args.latency = Duration::from_millis(ms);
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "error: {e}\nusage: scripted-model [--addr 127.0.0.1:0] [--mode echo-tool|text] [--tool NAME] [--latency-ms N]"
            );
            return ExitCode::from(2);
        }
    };
    let model = ScriptedModel::start_on(args.addr).await;
    let latency = args.latency;
    if args.text_only {
        model.set_fallback(move |_| Turn::text("ok").usage(10, 1).first_byte_after(latency));
    } else {
        let echo = echo_tool_loop(&args.tool);
        model.set_fallback(move |req| echo(req).first_byte_after(latency));
    }
    println!("{}", model.base_url());
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
