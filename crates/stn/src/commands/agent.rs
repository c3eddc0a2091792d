//! `stn agent …`.

use std::process::ExitCode;

use anyhow::Result;
use stn_core::config::Settings;
use stn_core::model::{Agent, AgentSpec};

use crate::cli::{AgentCommand, AgentCreateArgs, AgentUpdateArgs};
use crate::{context, output};

pub async fn run(settings: &Settings, cmd: AgentCommand) -> Result<ExitCode> {
    let station = context::open_migrated(settings).await?;
    match cmd {
        AgentCommand::Create(args) => create(&station, args).await,
        AgentCommand::List { env, json } => {
            let agents = station
                .store()
                .list_agents(env.environment.as_deref())
                .await?;
            if json.json {
                output::json(&agents)?;
            } else {
                let rows: Vec<Vec<String>> = agents
                    .iter()
                    .map(|a| {
                        vec![
                            a.environment.clone(),
                            a.spec.name.clone(),
                            a.spec.model.clone().unwrap_or_else(|| "-".to_owned()),
                            a.spec.tools.len().to_string(),
                            a.spec.description.clone(),
                        ]
                    })
                    .collect();
                output::table(
                    &["ENVIRONMENT", "NAME", "MODEL", "TOOLS", "DESCRIPTION"],
                    &rows,
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AgentCommand::Show { name, env, json } => {
            let agent = station.store().agent(&env.environment, &name).await?;
            print_agent(&agent, json.json)
        }
        AgentCommand::Update(args) => update(&station, args).await,
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
