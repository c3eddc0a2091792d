//! `stn runs …`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use stn_core::config::Settings;
use stn_core::model::RunStatus;
use stn_core::store::RunFilter;

use crate::cli::RunsCommand;
use crate::{context, output};

pub async fn run(settings: &Settings, cmd: RunsCommand) -> Result<ExitCode> {
    let station = context::open_migrated(settings).await?;
    match cmd {
        RunsCommand::List {
            env,
            agent,
            status,
            limit,
            json,
        } => {
            let status = match status.as_deref() {
                None => None,
                Some(s) => match RunStatus::parse(s) {
                    Some(st) => Some(st),
                    None => bail!(
                        "unknown status `{s}`; use queued, running, completed, failed, cancelled or timeout"
                    ),
                },
            };
            let filter = RunFilter {
                environment: env.environment,
                agent,
                status,
                limit,
            };
            let runs = station.store().list_runs(&filter).await?;
            if json.json {
                output::json(&runs)?;
            } else {
                let rows: Vec<Vec<String>> = runs
                    .iter()
                    .map(|r| {
                        vec![
                            r.id.to_string(),
                            r.environment.clone(),
                            r.agent.clone(),
                            r.status.as_str().to_owned(),
                            r.started_at.clone(),
                            r.task.chars().take(60).collect(),
                        ]
                    })
                    .collect();
                output::table(
                    &["ID", "ENVIRONMENT", "AGENT", "STATUS", "STARTED", "TASK"],
                    &rows,
                );
            }
        }
        RunsCommand::Show { id, json } => {
            let run = station.store().run(id).await?;
            if json.json {
                output::json(&run)?;
            } else {
                println!("run:       {}", run.id);
                println!("agent:     {} ({})", run.agent, run.environment);
                println!("status:    {}", run.status.as_str());
                println!("started:   {}", run.started_at);
                println!("completed: {}", run.completed_at.as_deref().unwrap_or("-"));
                println!("steps:     {}", run.steps_taken);
                println!(
                    "model:     {}",
                    output::text(run.model_name.as_deref().unwrap_or("-"))
                );
                println!("task:\n{}", output::block(&run.task));
                if let Some(response) = &run.final_response {
                    println!("response:\n{}", output::block(response));
                }
                if let Some(error) = &run.error {
                    println!("error:\n{}", output::block(error));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
