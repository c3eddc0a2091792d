//! `stn runs …`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use stn_core::config::Settings;
use stn_core::model::RunStatus;
use stn_core::store::RunFilter;

use crate::cli::RunsCommand;
use crate::transcript::{self, RunWithSteps};
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
                ..RunFilter::default()
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
        RunsCommand::Show { id, follow, json } => {
            let run = if follow {
                follow_run(&station, id, json.json).await?
            } else {
                station.store().run(id).await?
            };
            let steps = station.store().run_steps(id).await?;
            if json.json {
                output::json(&RunWithSteps {
                    run: &run,
                    steps: &steps,
                })?;
            } else if !follow {
                transcript::print_header(&run);
                for step in &steps {
                    transcript::print_step(step);
                }
                transcript::print_end(&run);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the steps so far, then each new one until the run ends (read from
/// the database: the run may execute in another process); returns the ended run.
async fn follow_run(
    station: &stn_core::Station,
    id: i64,
    quiet: bool,
) -> Result<stn_core::model::Run> {
    let run = station.store().run(id).await?;
    if !quiet {
        transcript::print_header(&run);
    }
    let mut events = stn_agent::watch(station.clone(), None, id).await?;
    while let Some(event) = events.recv().await {
        if let stn_agent::RunEvent::StepFinished { step } = &event
            && !quiet
        {
            transcript::print_step(step);
        }
    }
    let run = station.store().run(id).await?;
    if !quiet {
        transcript::print_end(&run);
    }
    Ok(run)
}
