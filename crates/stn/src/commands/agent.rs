//! `stn agent …`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use stn_agent::{EngineOptions, Origin, RunEvent, RunManager, RunRequest};
use stn_core::Station;
use stn_core::config::Settings;
use stn_core::model::{Agent, AgentSpec};
use tokio::sync::broadcast;

use crate::cli::{AgentCommand, AgentCreateArgs, AgentRunArgs, AgentUpdateArgs};
use crate::transcript::{self, RunWithSteps};
use crate::{context, output, runner, signals};

pub async fn run(settings: &Settings, cmd: AgentCommand) -> Result<ExitCode> {
    let station = context::open_migrated(settings).await?;
    match cmd {
        AgentCommand::Create(args) => create(&station, args).await,
        AgentCommand::List { env, json } => {
            let agents = station
                .store()
                .list_agents(env.environment.as_deref())
                .await?;
            output::list(
                json.json,
                &agents,
                &["ENVIRONMENT", "NAME", "MODEL", "TOOLS", "DESCRIPTION"],
                |a| {
                    vec![
                        a.environment.clone(),
                        a.spec.name.clone(),
                        a.spec.model.clone().unwrap_or_else(|| "-".to_owned()),
                        a.spec.tools.len().to_string(),
                        a.spec.description.clone(),
                    ]
                },
            )?;
            Ok(ExitCode::SUCCESS)
        }
        AgentCommand::Show { name, env, json } => {
            let agent = station.store().agent(&env.environment, &name).await?;
            print_agent(&agent, json.json)
        }
        AgentCommand::Update(args) => update(&station, args).await,
        AgentCommand::Run(args) => run_agent(settings, station, args).await,
        AgentCommand::Delete { name, env, yes } => {
            // Look first, so a typo is "not found" and not a question.
            station.store().agent(&env.environment, &name).await?;
            let question = format!(
                "delete agent `{name}` in `{}` with its runs and .prompt file?",
                env.environment
            );
            if !yes && !output::confirm(&question)? {
                println!("not deleted");
                return Ok(ExitCode::FAILURE);
            }
            station.delete_agent(&env.environment, &name).await?;
            println!("deleted agent {name} from {}", env.environment);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn create(station: &stn_core::Station, args: AgentCreateArgs) -> Result<ExitCode> {
    let spec = AgentSpec {
        name: args.name,
        description: args.description,
        prompt: args.prompt,
        model: args.model,
        max_steps: args.max_steps,
        tools: args.tools.into_iter().filter(|t| !t.is_empty()).collect(),
        ..AgentSpec::default()
    };
    let agent = station.create_agent(&args.env.environment, &spec).await?;
    if args.json.json {
        return print_agent(&agent, true);
    }
    println!(
        "created agent {} in {} ({})",
        agent.spec.name,
        agent.environment,
        station
            .layout()
            .agent_file(&agent.environment, &agent.spec.name)
            .display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn update(station: &stn_core::Station, args: AgentUpdateArgs) -> Result<ExitCode> {
    let env = &args.env.environment;
    let mut spec = station.store().agent(env, &args.name).await?.spec;
    if let Some(prompt) = args.prompt {
        spec.prompt = prompt;
    }
    if let Some(description) = args.description {
        spec.description = description;
    }
    if let Some(model) = args.model {
        spec.model = Some(model).filter(|m| !m.is_empty());
    }
    if let Some(max_steps) = args.max_steps {
        spec.max_steps = max_steps;
    }
    if let Some(tools) = args.tools {
        spec.tools = tools.into_iter().filter(|t| !t.is_empty()).collect();
    }
    let agent = station.update_agent(env, &spec).await?;
    if args.json.json {
        return print_agent(&agent, true);
    }
    println!("updated agent {} in {}", agent.spec.name, agent.environment);
    Ok(ExitCode::SUCCESS)
}

fn print_agent(agent: &Agent, json: bool) -> Result<ExitCode> {
    if json {
        output::json(agent)?;
        return Ok(ExitCode::SUCCESS);
    }
    let s = &agent.spec;
    println!("name:         {}", s.name);
    println!("environment:  {}", agent.environment);
    println!("id:           {}", agent.id);
    println!("description:  {}", output::text(&s.description));
    println!(
        "model:        {}",
        output::text(s.model.as_deref().unwrap_or("(default)"))
    );
    println!("max steps:    {}", s.max_steps);
    println!(
        "tools:        {}",
        if s.tools.is_empty() {
            "-".to_owned()
        } else {
            output::text(&s.tools.join(", ")).into_owned()
        }
    );
    if !s.agents.is_empty() {
        println!("agents:       {}", output::text(&s.agents.join(", ")));
    }
    if let Some(cron) = &s.cron_schedule {
        println!(
            "schedule:     {} ({})",
            output::text(cron),
            if s.schedule_enabled {
                "enabled"
            } else {
                "disabled"
            }
        );
    }
    println!("created:      {}", agent.created_at);
    println!("updated:      {}", agent.updated_at);
    println!("prompt:\n{}", output::block(&s.prompt));
    Ok(ExitCode::SUCCESS)
}

/// `stn agent run NAME TASK`: runs in this process, prints each step as it
/// finishes, cancels on Ctrl-C (or SIGTERM) and exits by the run's status.
async fn run_agent(settings: &Settings, station: Station, args: AgentRunArgs) -> Result<ExitCode> {
    runner::settle_orphaned_runs(&station).await?;
    let agent = station
        .store()
        .agent(&args.env.environment, &args.name)
        .await?;
    let variables = parse_vars(&args.vars)?;
    let run = Foreground {
        timeout: args.timeout,
        json: args.json.json,
        rerun_of: None,
    };
    run.execute(
        settings,
        station,
        RunRequest {
            agent_id: agent.id,
            task: args.task,
            variables,
            origin: Origin::Cli,
        },
    )
    .await
}

/// How a run started from the command line is run and shown: in this
/// process, each step printed as it finishes (or the whole run as JSON at
/// the end), cancelled on Ctrl-C or SIGTERM.
pub(crate) struct Foreground {
    /// Seconds before the run is stopped with status `timeout`.
    pub timeout: u64,
    /// Print the finished run with its steps as JSON instead of a transcript.
    pub json: bool,
    /// The run this one repeats (`stn runs rerun`), said first.
    pub rerun_of: Option<i64>,
}

impl Foreground {
    /// Runs `req` and exits by the run's status.
    pub(crate) async fn execute(
        &self,
        settings: &Settings,
        station: Station,
        req: RunRequest,
    ) -> Result<ExitCode> {
        let options = EngineOptions {
            run_timeout: Duration::from_secs(self.timeout),
            ..EngineOptions::default()
        };
        let manager = RunManager::new(runner::engine(settings, station.clone(), options)?, 1);
        let started = manager.submit(req).await?;
        let run_id = started.run_id;
        if let Some(old) = self.rerun_of {
            // On stderr, so that `--json` output stays one document.
            eprintln!("run {run_id}: a rerun of run {old}");
        }
        self.follow(&station, &manager, started).await
    }

    async fn follow(
        &self,
        station: &Station,
        manager: &RunManager,
        started: stn_agent::Started,
    ) -> Result<ExitCode> {
        let run_id = started.run_id;
        let mut events = started.events;
        if !self.json {
            transcript::print_header(&station.store().run(run_id).await?);
        }
        let stop = signals::shutdown();
        tokio::pin!(stop);
        let mut cancelled = false;
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(RunEvent::StepFinished { step }) if !self.json => transcript::print_step(&step),
                    Ok(event) if event.is_final() => break,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                () = &mut stop, if !cancelled => {
                    cancelled = true;
                    eprintln!("cancelling run {run_id}…");
                    manager.cancel(run_id);
                }
            }
        }
        let outcome = started.outcome.await?;
        // Every MCP server this command started stops with it.
        manager.shutdown().await;
        let run = match station.store().run(run_id).await {
            Ok(run) => run,
            // The agent (and its runs) was deleted meanwhile: say so.
            Err(_) => anyhow::bail!(
                "{}",
                outcome
                    .error
                    .unwrap_or_else(|| format!("run {run_id} is gone"))
            ),
        };
        if self.json {
            let steps = station.store().run_steps(run_id).await?;
            output::json(&RunWithSteps {
                run: &run,
                steps: &steps,
            })?;
        } else {
            transcript::print_end(&run);
        }
        Ok(ExitCode::from(transcript::exit_code(run.status)))
    }
}

/// `--var KEY=VALUE`: a VALUE that parses as JSON is used as JSON, anything
/// else as a string.
fn parse_vars(vars: &[String]) -> Result<serde_json::Map<String, serde_json::Value>> {
    let mut map = serde_json::Map::new();
    for var in vars {
        let Some((key, value)) = var.split_once('=') else {
            anyhow::bail!("--var `{var}` is not KEY=VALUE");
        };
        let value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        map.insert(key.to_owned(), value);
    }
    Ok(map)
}
