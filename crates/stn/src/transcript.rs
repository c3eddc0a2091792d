//! A run as people read it in a terminal: a header, one block per step, the
//! outcome. `stn agent run` prints steps as they finish; `stn runs show`
//! prints the stored ones (and follows with `--follow`).

use serde::Serialize;
use stn_core::model::{Run, RunStatus, RunStep, StepKind};

use crate::output::{block, text};

/// Longest tool output or argument text shown per step; `--json` has it all.
const SHOWN: usize = 2000;

/// A run with its steps, as `--json` prints it (also the API's `GET /runs/{id}`).
#[derive(Serialize)]
pub struct RunWithSteps<'a> {
    #[serde(flatten)]
    pub run: &'a Run,
    pub steps: &'a [RunStep],
}

pub fn print_header(run: &Run) {
    println!("run:       {}", run.id);
    println!(
        "agent:     {} ({})",
        text(&run.agent),
        text(&run.environment)
    );
    if let Some(parent) = run.parent_run_id {
        println!("parent:    run {parent}");
    }
    println!("started:   {}", run.started_at);
    println!("task:      {}", text(&run.task));
    if let Some(vars) = &run.variables {
        println!("variables: {}", text(&vars.to_string()));
    }
}

pub fn print_step(step: &RunStep) {
    let mark = if !step.is_finished() {
        " (started, no result yet)"
    } else if step.is_error {
        " (error)"
    } else {
        ""
    };
    match step.kind {
        StepKind::Model => {
            let tokens = step
                .total_tokens
                .map(|t| format!(", {t} tokens"))
                .unwrap_or_default();
            println!(
                "[{}] model {} ({} ms{tokens}){mark}",
                step.seq,
                text(&step.name),
                step.duration_ms
            );
            if let Some(out) = step.output.as_deref().filter(|t| !t.trim().is_empty()) {
                println!("{}", indent(&block(&clip(out))));
            }
            if let Some(serde_json::Value::Array(calls)) = &step.input {
                for call in calls {
                    println!(
                        "    -> {} {}",
                        text(call["name"].as_str().unwrap_or("?")),
                        text(&clip(&call["arguments"].to_string()))
                    );
                }
            }
        }
        StepKind::Tool | StepKind::Agent => {
            let what = if step.kind == StepKind::Agent {
                "agent"
            } else {
                "tool"
            };
            let child = step
                .child_run_id
                .map(|id| format!(", run {id}"))
                .unwrap_or_default();
            println!(
                "[{}] {what} {} ({} ms{child}){mark}",
                step.seq,
                text(&step.name),
                step.duration_ms
            );
            if let Some(input) = &step.input {
                println!("    args: {}", text(&clip(&input.to_string())));
            }
            if let Some(output) = &step.output {
                println!("{}", indent(&block(&clip(output))));
            }
        }
    }
}

pub fn print_end(run: &Run) {
    println!(
        "status:    {}{}",
        run.status.as_str(),
        run.duration_seconds
            .map(|d| format!(" after {d:.2} s"))
            .unwrap_or_default()
    );
    println!("steps:     {}", run.steps_summary());
    println!(
        "model:     {}",
        text(run.model_name.as_deref().unwrap_or("-"))
    );
    if let (Some(i), Some(o), Some(t)) = (run.input_tokens, run.output_tokens, run.total_tokens) {
        println!("tokens:    {i} in, {o} out, {t} total");
    }
    if let Some(error) = &run.error {
        println!("error:     {}", block(error));
    }
    if let Some(response) = &run.final_response {
        println!("response:\n{}", block(response));
    }
}

/// `stn agent run`'s exit code for a run's final status.
pub fn exit_code(status: RunStatus) -> u8 {
    match status {
        RunStatus::Completed => 0,
        RunStatus::Cancelled => 3,
        RunStatus::Timeout => 4,
        _ => 1,
    }
}

fn clip(text: &str) -> String {
    if text.chars().count() <= SHOWN {
        return text.to_owned();
    }
    let kept: String = text.chars().take(SHOWN).collect();
    format!("{kept}… ({} characters)", text.chars().count())
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
