//! `stn`: Station's command line. Parses arguments, sets up logging, runs one
//! command and turns its outcome into an exit code: 0 ok, 1 error, 2 usage.

mod cli;
mod commands;
mod context;
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
    if let Err(e) = context::init_logging(&cli.global) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            output::print_error(&e);
            ExitCode::FAILURE
        }
    }
}
