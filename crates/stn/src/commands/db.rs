//! `stn db status|migrate|copy`.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use serde::Serialize;
use stn_core::config::{AUTH_TOKEN_VARS, Settings, UrlSource};
use stn_core::copy::{CopyProgress, copy_database};
use stn_core::migrations::MIGRATIONS;
use stn_db::{AppliedMigration, AuthToken, Database, DatabaseUrl, OpenOptions};

use crate::cli::DbCommand;
use crate::{context, output};

#[derive(Serialize)]
struct Status {
    url: String,
    kind: &'static str,
    source: UrlSource,
    schema_version: u32,
    latest_version: u32,
    pending: Vec<String>,
    applied: Vec<AppliedMigration>,
    size_bytes: u64,
}

pub async fn run(settings: &Settings, cmd: DbCommand) -> Result<ExitCode> {
    match cmd {
        DbCommand::Status { json } => {
            let station = context::open(settings).await?;
            let db = station.store().db();
            let migration_status = db.migration_status(MIGRATIONS).await?;
            let status = Status {
                url: settings.database.redacted(),
                kind: if db.is_remote() { "remote" } else { "local" },
                source: settings.database_source.clone(),
                schema_version: migration_status.version(),
                latest_version: MIGRATIONS.last().map_or(0, |m| m.version),
                pending: migration_status
                    .pending
                    .iter()
                    .map(|m| format!("{:04}_{}", m.version, m.name))
                    .collect(),
                applied: migration_status.applied,
                size_bytes: db.size_bytes().await?,
            };
            if json.json {
                output::json(&status)?;
            } else {
                println!("database:  {} ({})", status.url, status.kind);
                println!(
                    "schema:    version {} of {}",
                    status.schema_version, status.latest_version
                );
                if status.pending.is_empty() {
                    println!("pending:   none");
                } else {
                    println!(
                        "pending:   {} (run `stn db migrate`)",
                        status.pending.join(", ")
                    );
                }
                println!("size:      {} bytes", status.size_bytes);
            }
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Migrate { json } => {
            let go_import = context::upgrade_go_database(settings).await?;
            let station = context::open_or_create(settings).await?;
            let applied = station.migrate().await?;
            if json.json {
                output::json(&serde_json::json!({
                    "database": settings.database.redacted(),
                    "applied": applied,
                    "go_import": go_import,
                }))?;
            } else if go_import.is_some() {
                println!("{}: converted from the Go original", settings.database);
            } else if applied.is_empty() {
                println!("{}: schema up to date", settings.database);
            } else {
                println!(
                    "{}: applied {} migration(s)",
                    settings.database,
                    applied.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Copy {
            src,
            dst,
            force,
            json,
        } => {
            // A mistyped source must not become a new, empty database; a
            // remote one gets the same deadlines as every other command.
            let src_options = OpenOptions {
                must_exist: true,
                ..settings.open_options()
            };
            let src = Database::open_with(&parse_url(&src)?, &src_options)
                .await
                .context("source")?;
            let dst = parse_url(&dst).context("destination")?;
            let bar = progress_bar();
            let mut on_progress = |p: CopyProgress<'_>| {
                if let Some(bar) = &bar {
                    bar.set_length(p.rows_total);
                    bar.set_position(p.rows_done);
                    bar.set_message(p.table.to_owned());
                }
            };
            let report = copy_database(
                &src,
                &dst,
                &settings.open_options(),
                force,
                &mut on_progress,
            )
            .await?;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            output::list(
                json.json,
                &report,
                &["TABLE", "SOURCE ROWS", "COPIED ROWS"],
                |t| {
                    vec![
                        t.table.clone(),
                        t.source_rows.to_string(),
                        t.destination_rows.to_string(),
                    ]
                },
            )?;
            if !json.json {
                println!("copied {} to {}: every table verified", src.url(), dst);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Parses a URL given on the command line; remote ones without a token take
/// it from DATABASE_AUTH_TOKEN / TURSO_AUTH_TOKEN.
fn parse_url(raw: &str) -> Result<DatabaseUrl> {
    let token = AUTH_TOKEN_VARS
        .iter()
        .find_map(|v| std::env::var(v).ok())
        .and_then(AuthToken::new);
    Ok(DatabaseUrl::parse(raw)?.with_fallback_token(token))
}

fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} copying {msg:<16} {bar:40} {pos}/{len} rows",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}
