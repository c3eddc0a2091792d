//! `stn sync [ENV]`.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use stn_core::config::Settings;
use stn_core::sync::SyncReport;

use crate::cli::SyncArgs;
use crate::{context, output};

pub async fn run(settings: &Settings, args: SyncArgs) -> Result<ExitCode> {
    let station = context::open_migrated(settings).await?;
    let envs = match args.environment {
        Some(env) => vec![env],
        None => station.layout().environment_names().with_context(|| {
            format!(
                "cannot list {}",
                station.layout().environments_dir().display()
            )
        })?,
    };
    let reports = station.sync_environments(&envs, args.prune).await?;
    if args.json.json {
        output::json(&reports)?;
    } else {
        reports.iter().for_each(print_report);
    }
    let failed = reports.iter().any(|r| !r.errors.is_empty());
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub(crate) fn print_report(report: &SyncReport) {
    println!(
        "environment {}{}",
        report.environment,
        if report.environment_created {
            " (created)"
        } else {
            ""
        }
    );
    for (name, change) in &report.mcp_configs {
        println!(
            "  mcp config {name}: {}",
            serde_json::to_value(change)
                .unwrap_or_default()
                .as_str()
                .unwrap_or("")
        );
    }
    for name in &report.mcp_configs_removed {
        println!("  mcp config {name}: removed (file gone)");
    }
    for (name, change) in &report.agents {
        println!(
            "  agent {name}: {}",
            serde_json::to_value(change)
                .unwrap_or_default()
                .as_str()
                .unwrap_or("")
        );
    }
    for name in &report.agents_removed {
        println!("  agent {name}: removed (file gone)");
    }
    for name in &report.agents_without_file {
        println!("  agent {name}: no .prompt file (kept; --prune removes it)");
    }
    for error in &report.errors {
        eprintln!("  error: {error}");
    }
    if !report.changed() && report.errors.is_empty() {
        println!("  up to date");
    }
}
