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
        UserCommand::List { json } => {
            let users = station.store().list_users().await?;
            output::list(
                json.json,
                &users,
                &["NAME", "ADMIN", "API KEYS", "CREATED"],
                |u| {
                    vec![
                        u.user.username.clone(),
                        if u.user.is_admin { "yes" } else { "no" }.to_owned(),
                        u.api_keys.to_string(),
                        u.user.created_at.clone(),
                    ]
                },
            )?;
        }
        UserCommand::Delete { name, yes } => {
            // Named first, so a typo is "not found" rather than a question.
            station.store().user(&name).await?;
            let question = format!("delete user `{}` and its API keys?", output::text(&name));
            if !yes && !output::confirm(&question)? {
                println!("not deleted");
                return Ok(ExitCode::FAILURE);
            }
            station.store().delete_user(&name).await?;
            println!("deleted user {}", output::text(&name));
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
        ApikeyCommand::List { json } => {
            let keys = station.store().list_api_keys().await?;
            output::list(
                json.json,
                &keys,
                &["ID", "NAME", "USER", "PREFIX", "CREATED", "REVOKED"],
                |k| {
                    vec![
                        k.id.to_string(),
                        k.name.clone(),
                        k.user.clone(),
                        k.prefix.clone(),
                        k.created_at.clone(),
                        k.revoked_at.clone().unwrap_or_else(|| "-".to_owned()),
                    ]
                },
            )?;
        }
        ApikeyCommand::Revoke { prefix } => {
            station.store().revoke_api_key(&prefix).await?;
            println!("revoked {prefix}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
