//! `stn bundle create|inspect|install`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use stn_core::bundle::{
    BundleSource, InstallOptions, InstallReport, Limits, Manifest, inspect_bundle,
};
use stn_core::config::Settings;

use crate::cli::BundleCommand;
use crate::commands::sync::print_report;
use crate::{context, output};

pub async fn run(settings: &Settings, cmd: BundleCommand) -> Result<ExitCode> {
    match cmd {
        BundleCommand::Create { env, output } => {
            let station = context::open_migrated(settings).await?;
            let path = output.unwrap_or_else(|| PathBuf::from(format!("{env}.tar.gz")));
            let manifest = station.create_bundle_file(&env, &path).await?;
            println!(
                "wrote {}: {} agent(s), {} MCP server(s), {} required variable(s)",
                path.display(),
                manifest.agents.len(),
                manifest.mcp_servers.len(),
                manifest.required_variables.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        BundleCommand::Inspect { file, json } => {
            let name = file.display().to_string();
            let manifest = tokio::task::spawn_blocking(move || {
                let reader = std::fs::File::open(&file)
                    .map(std::io::BufReader::new)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
                Ok::<_, anyhow::Error>(inspect_bundle(reader, &name)?)
            })
            .await??;
            if json.json {
                output::json(&manifest)?;
            } else {
                print_manifest(&manifest);
            }
            Ok(ExitCode::SUCCESS)
        }
        BundleCommand::Install {
            src,
            env,
            force,
            json,
        } => {
            let station = context::open_migrated(settings).await?;
            let limits = Limits::default();
            let source = BundleSource::open(&src, &settings.config_dir, &limits).await?;
            let options = InstallOptions {
                force,
                limits,
                keep_agents_without_file: false,
            };
            let report = station.install_bundle(&source, &env, &options).await?;
            if json.json {
                output::json(&report)?;
            } else {
                print_install(&report);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_manifest(m: &Manifest) {
    println!("bundle:    {} (format {})", m.bundle.name, m.version);
    println!(
        "created:   {} by Station {}",
        m.bundle.created_at, m.bundle.station_version
    );
    if !m.bundle.tags.is_empty() {
        println!("tags:      {}", m.bundle.tags.join(", "));
    }
    let agents: Vec<Vec<String>> = m
        .agents
        .iter()
        .map(|a| {
            vec![
                a.name.clone(),
                if a.model.is_empty() {
                    "-".to_owned()
                } else {
                    a.model.clone()
                },
                a.max_steps.to_string(),
                a.tools.len().to_string(),
            ]
        })
        .collect();
    println!();
    output::table(&["AGENT", "MODEL", "MAX STEPS", "TOOLS"], &agents);
    let servers: Vec<Vec<String>> = m
        .mcp_servers
        .iter()
        .map(|s| {
            let how = match &s.url {
                Some(url) => url.clone(),
                None => std::iter::once(s.command.clone())
                    .chain(s.args.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            vec![s.name.clone(), how]
        })
        .collect();
    println!();
    output::table(&["MCP SERVER", "COMMAND / URL"], &servers);
    if !m.required_variables.is_empty() {
        println!();
        let vars: Vec<Vec<String>> = m
            .required_variables
            .iter()
            .map(|v| vec![v.name.clone(), v.description.clone()])
            .collect();
        output::table(&["REQUIRED VARIABLE", "USED BY"], &vars);
    }
}

fn print_install(report: &InstallReport) {
    println!(
        "installed {} into environment {} ({}){}",
        report.source,
        report.environment,
        report.directory,
        if report.replaced {
            ", replacing the old one"
        } else {
            ""
        }
    );
    print_report(&report.sync);
    if !report.mcp_servers.is_empty() {
        println!(
            "\nit adds these MCP servers; `stn sync {}` (and `stn serve`) start their commands on this machine:",
            report.environment
        );
        for s in &report.mcp_servers {
            println!(
                "  {}  ({}): {}",
                output::text(&s.name),
                output::text(&s.file),
                output::text(&s.runs)
            );
        }
    }
    if !report.missing_variables.is_empty() {
        println!(
            "\nthe MCP servers need these variables; add them to {} (NAME: value, one per line), then run `stn sync {}`:",
            report.variables_file, report.environment
        );
        for v in &report.missing_variables {
            println!("  {}  ({})", v.name, v.used_by);
        }
    }
}
