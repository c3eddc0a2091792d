//! `stn runs …`.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::{Result, bail};
use serde::Serialize;
use stn_agent::{Origin, RunRequest};
use stn_core::config::Settings;
use stn_core::model::{Run, RunStatus};
use stn_core::store::{ModelPrice, RunFilter};

use super::agent::Foreground;
use crate::cli::RunsCommand;
use crate::transcript::{self, RunWithSteps};
use crate::{context, output, runner};

pub async fn run(settings: &Settings, cmd: RunsCommand) -> Result<ExitCode> {
    let station = context::open_migrated(settings).await?;
    runner::settle_orphaned_runs(&station).await?;
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
            let prices = station.store().model_prices().await?;
            print_list(&runs, &prices, json.json)?;
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
        RunsCommand::Delete { ids, yes, json } => {
            let question = format!(
                "delete {} with {} steps and logs?",
                output::count(ids.len() as u64, "run"),
                if ids.len() == 1 { "its" } else { "their" }
            );
            if !yes && !output::confirm(&question)? {
                println!("not deleted");
                return Ok(ExitCode::FAILURE);
            }
            let deleted = station.store().delete_runs(&ids).await?;
            if json.json {
                let ids: Vec<i64> = deleted.iter().map(|r| r.id).collect();
                output::json(&serde_json::json!({ "deleted": ids }))?;
            } else {
                for run in &deleted {
                    println!(
                        "deleted run {} ({} of {}/{})",
                        run.id,
                        run.status.as_str(),
                        run.environment,
                        run.agent
                    );
                }
            }
        }
        RunsCommand::Rerun { id, timeout, json } => {
            let old = station.store().run(id).await?;
            let variables = match old.variables {
                Some(serde_json::Value::Object(map)) => map,
                _ => serde_json::Map::new(),
            };
            let run = Foreground {
                timeout,
                json: json.json,
                rerun_of: Some(id),
            };
            let req = RunRequest {
                agent_id: old.agent_id,
                task: old.task,
                variables,
                origin: Origin::Cli,
            };
            return run.execute(settings, station, req).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A run as `runs list --json` prints it: the run plus its cost where the
/// model's price is in the `models` table.
#[derive(Serialize)]
struct ListedRun<'a> {
    #[serde(flatten)]
    run: &'a Run,
    #[serde(skip_serializing_if = "Option::is_none")]
    cost_usd: Option<f64>,
}

/// Longest task and error shown in the table; `runs show` has them whole.
const TASK_CHARS: usize = 40;
const ERROR_CHARS: usize = 50;

fn print_list(runs: &[Run], prices: &HashMap<String, ModelPrice>, json: bool) -> Result<()> {
    let cost = |run: &Run| {
        let price = prices.get(run.model_name.as_deref()?)?;
        price.cost_of(run)
    };
    if json {
        let listed: Vec<ListedRun> = runs
            .iter()
            .map(|run| ListedRun {
                run,
                cost_usd: cost(run),
            })
            .collect();
        return output::json(&listed);
    }
    // The cost column only when some model has a price: Station's own
    // catalog is empty unless a Go database was imported.
    let with_cost = runs.iter().any(|r| cost(r).is_some());
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let mut row = vec![
                r.id.to_string(),
                r.environment.clone(),
                r.agent.clone(),
                r.status.as_str().to_owned(),
                r.started_at.clone(),
                r.duration_seconds
                    .map(|d| format!("{d:.1}s"))
                    .unwrap_or_else(|| "-".to_owned()),
                match (r.input_tokens, r.output_tokens) {
                    (Some(i), Some(o)) => format!("{i}/{o}"),
                    _ => "-".to_owned(),
                },
            ];
            if with_cost {
                row.push(cost(r).map_or_else(|| "-".to_owned(), |c| format!("${c:.4}")));
            }
            row.push(output::shorten(&r.task, TASK_CHARS));
            row.push(
                r.error
                    .as_deref()
                    .map_or_else(String::new, |e| output::shorten(e, ERROR_CHARS)),
            );
            row
        })
        .collect();
    let mut header = vec![
        "ID",
        "ENVIRONMENT",
        "AGENT",
        "STATUS",
        "STARTED",
        "DURATION",
        "TOKENS IN/OUT",
    ];
    if with_cost {
        header.push("COST");
    }
    header.extend(["TASK", "ERROR"]);
    output::table(&header, &rows);
    Ok(())
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
