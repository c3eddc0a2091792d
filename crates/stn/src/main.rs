//! `stn`: Station's command line. Parses arguments, sets up logging, runs one
//! command and turns its outcome into an exit code: 0 ok, 1 error, 2 usage.

mod cli;
mod commands;
mod context;
mod listen;
mod metrics;
mod output;
mod replication;
mod runner;
mod signals;
mod transcript;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // Every HTTPS client (object stores, remote libSQL, models, MCP, bundle
    // downloads) uses the process's rustls provider; reqwest is built
    // without one of its own (decision 0021). An error means one is set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    exit_quietly_on_closed_stdout();
    let serving = matches!(cli.command, cli::Command::Serve(_));
    if let Err(e) = context::init_logging(&cli.global, serving) {
        output::print_error(&e);
        return ExitCode::from(2);
    }
    let runtime = match runtime_for(&cli.command) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = cli::json_requested(std::env::args_os());
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            if json {
                output::print_json_error(&e);
            }
            output::print_error(&e);
            output::exit_code(&e)
        }
    }
}

/// `stn replicate` is a long-running sidecar next to the application, and
/// its work is waiting on I/O: one thread drives it, and SQLite and file
/// work runs on a small blocking pool. Every extra thread costs a stack
/// and a malloc arena (memory held for the life of the process) and
/// competes with the application for cores. Other commands get the
/// default multi-threaded runtime.
fn runtime_for(command: &cli::Command) -> std::io::Result<tokio::runtime::Runtime> {
    match command {
        cli::Command::Replicate(_) => tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(4)
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
}

/// `println!` panics when stdout is a pipe whose reader has gone
/// (`stn agent list | head -1`). The reader had what it wanted: end quietly
/// with success, as `ripgrep` does, instead of a panic and exit 101.
fn exit_quietly_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map_or("", String::as_str);
        // std's message for a failed `print!`: "failed printing to stdout:
        // Broken pipe (os error 32)" (EPIPE is 32 on Linux and macOS).
        if message.starts_with("failed printing to stdout") && message.contains("(os error 32)") {
            std::process::exit(0);
        }
        report(info);
    }));
}
