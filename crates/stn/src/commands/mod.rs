//! One module per command group; each has a `run` taking its parsed arguments.

mod agent;
mod bundle;
mod db;
mod deploy;
mod env;
mod init;
mod mcp;
mod mcp_tools;
mod replicate;
mod restore;
mod runs;
mod serve;
mod stdio;
mod sync;
mod user;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::context;

/// Runs the command the user asked for.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let settings = context::settings(&cli.global)?;
    let database_flag = cli.global.database.clone();
    match cli.command {
        Command::Init(args) => init::run(&settings, args).await,
        Command::Serve(args) => serve::run(&settings, args).await,
        Command::Agent(cmd) => agent::run(&settings, cmd).await,
        Command::Env(cmd) => env::run(&settings, cmd).await,
        Command::Mcp(cmd) => mcp::run(&settings, cmd).await,
        Command::Sync(args) => sync::run(&settings, args).await,
        Command::Runs(cmd) => runs::run(&settings, cmd).await,
        Command::Stdio(args) => stdio::run(&settings, args).await,
        Command::User(cmd) => user::run_user(&settings, cmd).await,
        Command::Apikey(cmd) => user::run_apikey(&settings, cmd).await,
        Command::Db(cmd) => db::run(&settings, cmd).await,
        Command::Bundle(cmd) => bundle::run(&settings, cmd).await,
        Command::Replicate(args) => replicate::run(&settings, args).await,
        Command::Restore(args) => restore::run_restore(&settings, args).await,
        Command::Ltx(args) => restore::run_ltx(&settings, args).await,
        Command::Deploy(cmd) => deploy::run(&settings, database_flag, *cmd).await,
    }
}
