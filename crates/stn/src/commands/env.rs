//! `stn env …`.

use std::process::ExitCode;

use anyhow::Result;
use stn_core::config::Settings;

use crate::cli::EnvCommand;
use crate::{context, output};

pub async fn run(settings: &Settings, cmd: EnvCommand) -> Result<ExitCode> {
    let station = context::open_migrated(settings).await?;
    match cmd {
        EnvCommand::Create { name, description } => {
            let env = station
                .create_environment(&name, description.as_deref())
                .await?;
            println!(
                "created environment {} ({})",
                env.name,
                station.layout().env_dir(&env.name).display()
            );
        }
        EnvCommand::List { json } => {
            let envs = station.store().list_environments().await?;
            output::list(
                json.json,
                &envs,
                &["NAME", "AGENTS", "MCP SERVERS", "DESCRIPTION"],
                |e| {
                    vec![
                        e.name.clone(),
                        e.agent_count.to_string(),
                        e.mcp_server_count.to_string(),
                        e.description.clone().unwrap_or_default(),
                    ]
                },
            )?;
        }
        EnvCommand::Delete { name, yes } => {
            let env = station.store().environment(&name).await?;
            let question = format!(
                "delete environment `{name}` with its {} agent(s), their runs, {} MCP server(s) and the directory {}?",
                env.agent_count,
                env.mcp_server_count,
                station.layout().env_dir(&name).display()
            );
            if !yes && !output::confirm(&question)? {
                println!("not deleted");
                return Ok(ExitCode::FAILURE);
            }
            station.delete_environment(&name).await?;
            println!("deleted environment {name} ({} agent(s))", env.agent_count);
        }
    }
    Ok(ExitCode::SUCCESS)
}
