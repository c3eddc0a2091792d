//! `stn mcp …`: MCP server configs as JSON files in the environment dir.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use stn_core::config::Settings;
use stn_core::files::mcp_config::{McpConfigFile, render_mcp_config};
use stn_core::files::write_private;
use stn_core::model::McpServerSpec;
use stn_core::store::validate_name;

use crate::cli::{McpAddArgs, McpCommand};
use crate::{context, output};

pub async fn run(settings: &Settings, cmd: McpCommand) -> Result<ExitCode> {
    let station = context::open_migrated(settings).await?;
    match cmd {
        McpCommand::Add(args) => add(&station, args).await,
        McpCommand::List {
            env,
            show_values,
            json,
        } => {
            // Literal values typed into a config file are not shown unless
            // asked (any name may hold a secret); `{{.NAME}}` references are.
            let servers: Vec<_> = station
                .store()
                .list_mcp_servers(env.environment.as_deref())
                .await?
                .into_iter()
                .map(|mut server| {
                    if !show_values {
                        server.spec = server.spec.redacted();
                    }
                    server
                })
                .collect();
            output::list(
                json.json,
                &servers,
                &["ENVIRONMENT", "NAME", "CONFIG", "TOOLS", "COMMAND/URL"],
                |s| {
                    let target = match (&s.spec.command, &s.spec.url) {
                        (Some(cmd), _) => format!("{cmd} {}", s.spec.args.join(" ")),
                        (None, Some(url)) => url.clone(),
                        (None, None) => String::new(),
                    };
                    vec![
                        s.environment.clone(),
                        s.spec.name.clone(),
                        s.config_name.clone().unwrap_or_default(),
                        s.tools.len().to_string(),
                        target.trim().to_owned(),
                    ]
                },
            )?;
            Ok(ExitCode::SUCCESS)
        }
        McpCommand::Tools { env, server, json } => {
            super::mcp_tools::list(
                &station,
                env.environment.as_deref(),
                server.as_deref(),
                json.json,
            )
            .await
        }
        McpCommand::Remove { name, env } => {
            let env = env.environment;
            let path = station.layout().mcp_file(&env, &name);
            let had_file = match std::fs::remove_file(&path) {
                Ok(()) => true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot remove {}", path.display()));
                }
            };
            let had_rows = match station.store().remove_mcp_config(&env, &name).await {
                Ok(()) => true,
                Err(stn_core::CoreError::NotFound { .. }) => false,
                Err(e) => return Err(e.into()),
            };
            if !had_file && !had_rows {
                bail!(
                    "MCP config `{name}` not found in environment `{env}` ({} does not exist)",
                    path.display()
                );
            }
            println!("removed MCP config {name} from {env}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn add(station: &stn_core::Station, args: McpAddArgs) -> Result<ExitCode> {
    validate_name("MCP config", &args.name)?;
    let env = &args.env.environment;
    station.store().environment(env).await?;
    let path = station.layout().mcp_file(env, &args.name);
    if path.exists() && !args.force {
        bail!(
            "{} already exists; pass --force to replace it",
            path.display()
        );
    }
    let mut vars = BTreeMap::new();
    for pair in &args.env_vars {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("--env-var `{pair}` is not KEY=VALUE");
        };
        vars.insert(key.to_owned(), value.to_owned());
    }
    let file = McpConfigFile {
        name: args.name.clone(),
        description: args.description,
        servers: vec![McpServerSpec {
            name: args.name.clone(),
            command: args.command,
            args: args.args.into_iter().chain(args.trailing_args).collect(),
            env: vars,
            url: args.url,
        }],
    };
    write_private(&path, render_mcp_config(&file).as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    let placeholders = file.placeholders();
    if !placeholders.is_empty() {
        let names: Vec<&str> = placeholders.iter().map(String::as_str).collect();
        println!(
            "set {} in {}",
            names.join(", "),
            station
                .layout()
                .env_dir(env)
                .join("variables.yml")
                .display()
        );
    }
    println!("run `stn sync {env}` to load it");
    Ok(ExitCode::SUCCESS)
}
