//! `stn user …` and `stn apikey …`.

use std::process::ExitCode;

use anyhow::Result;
use stn_core::config::Settings;

use crate::cli::{ApikeyCommand, UserCommand};
use crate::{context, output};

pub async fn run_user(settings: &Settings, cmd: UserCommand) -> Result<ExitCode> {
    let station = context::open_migrated(settings).await?;
    match cmd {
        UserCommand::Create { name, admin } => {
            let user = station.store().create_user(&name, admin).await?;
            println!(
                "created user {}{}",
                user.username,
                if user.is_admin { " (admin)" } else { "" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn run_apikey(settings: &Settings, cmd: ApikeyCommand) -> Result<ExitCode> {
    let station = context::open_migrated(settings).await?;
    match cmd {
        ApikeyCommand::Create { user, name, json } => {
            let (record, key) = station.store().create_api_key(&user, &name).await?;
            if json.json {
                output::json(
                    &serde_json::json!({"key": key, "prefix": record.prefix, "user": record.username, "name": record.name}),
                )?;
            } else {
                println!("{key}");
                eprintln!(
                    "API key for {} created; it is shown only this once (prefix {}).",
                    record.username, record.prefix
                );
                eprintln!(
                    "Use it as `Authorization: Bearer <key>`; `stn serve` now requires a key."
                );
            }
        }
        ApikeyCommand::Revoke { prefix } => {
            station.store().revoke_api_key(&prefix).await?;
            println!("revoked {prefix}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
