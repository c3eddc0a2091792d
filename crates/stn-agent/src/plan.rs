//! The next move of a run, computed from its stored steps alone.
//!
//! A run's conversation is never kept anywhere but in its step rows: the
//! executing loop and a resumed run both ask [`next`] what to do, given the
//! request the run was set up with (rendered prompt, tools) and the steps so
//! far. That keeps one path for a live run and one resumed after a crash.

use std::collections::HashMap;

use serde_json::{Value, json};
use stn_core::model::{RunStep, StepKind};
use stn_llm::{ChatRequest, Message, ToolCall};

use crate::error::AgentError;
use crate::output;
use crate::tool_result::{self, ResultLimits};

/// What a run was set up with before its first model call.
pub(crate) struct Setup {
    /// The agent's name, for errors.
    pub agent: String,
    /// The rendered prompt, the tools offered and the model.
    pub request: ChatRequest,
    /// The agent's output schema, if it has one.
    pub output_schema: Option<Value>,
    /// Model turns allowed.
    pub max_steps: u32,
    /// How much of each tool result the model is sent.
    pub tool_results: ResultLimits,
}

/// A tool call of the last model turn that has no finished step yet.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PendingCall {
    /// The step it is recorded as: the model turn's seq plus its place in the turn.
    pub seq: i64,
    /// The call as the model made it.
    pub call: ToolCall,
}

/// What the run does next.
#[derive(Debug)]
pub(crate) enum Action {
    /// Ask the model; its step is `seq`.
    Model { request: ChatRequest, seq: i64 },
    /// Execute these calls of the last model turn (concurrently).
    Tools(Vec<PendingCall>),
    /// The run's answer.
    Answer(String),
    /// The run stops with this error.
    Fail(AgentError),
}

/// The tool calls a model step asked for, as stored in its `input`.
pub(crate) fn calls_of(step: &RunStep) -> Vec<ToolCall> {
    let Some(Value::Array(calls)) = &step.input else {
        return Vec::new();
    };
    calls
        .iter()
        .map(|c| ToolCall {
            id: c["id"].as_str().unwrap_or_default().to_owned(),
            name: c["name"].as_str().unwrap_or_default().to_owned(),
            arguments: c.get("arguments").cloned().unwrap_or(Value::Null),
        })
        .collect()
}

/// The stored form of a model turn's tool calls (a step's `input`).
pub(crate) fn calls_input(calls: &[ToolCall]) -> Option<Value> {
    (!calls.is_empty()).then(|| {
        Value::Array(
            calls
                .iter()
                .map(|c| json!({"id": c.id, "name": c.name, "arguments": c.arguments}))
                .collect(),
        )
    })
}

/// Whether the tool calls of the model turn after `steps` will be executed
/// (not past `max_steps`), so that only those are written ahead.
pub(crate) fn calls_allowed(setup: &Setup, steps: &[RunStep]) -> bool {
    let turns = steps
        .iter()
        .filter(|s| s.kind == StepKind::Model && !s.is_error)
        .count();
    u32::try_from(turns + 1).is_ok_and(|t| t < setup.max_steps)
}

/// The next action of a run set up as `setup` whose steps so far are `steps`
/// (any order). A model turn that failed is not part of the conversation: a
/// live run stops on it, and a resumed run asks the model again.
pub(crate) fn next(setup: &Setup, steps: &[RunStep]) -> Action {
    let mut ordered: Vec<&RunStep> = steps.iter().collect();
    ordered.sort_by_key(|s| s.seq);
    let by_seq: HashMap<i64, &RunStep> = ordered.iter().map(|s| (s.seq, *s)).collect();
    let mut messages = setup.request.messages.clone();
    let mut repaired = false;
    let mut turns = 0u32;
    let mut last_seq = 0;
    for step in &ordered {
        last_seq = last_seq.max(step.seq);
        if step.kind != StepKind::Model || step.is_error {
            continue;
        }
        turns += 1;
        let text = step.output.clone().unwrap_or_default();
        let calls = calls_of(step);
        messages.push(Message::assistant(text.clone(), calls.clone()));
        if calls.is_empty() {
            let Some(schema) = &setup.output_schema else {
                return Action::Answer(text);
            };
            match output::check(schema, &text) {
                Ok(()) => return Action::Answer(text),
                Err(problems) if !repaired => {
                    repaired = true;
                    messages.push(output::repair_request(&problems));
                }
                Err(problems) => {
                    return Action::Fail(AgentError::InvalidOutput {
                        agent: setup.agent.clone(),
                        problems,
                    });
                }
            }
            continue;
        }
        if turns >= setup.max_steps {
            let pending: Vec<String> = calls.iter().map(|c| format!("`{}`", c.name)).collect();
            return Action::Fail(AgentError::MaxSteps {
                max_steps: setup.max_steps,
                pending: pending.join(", "),
            });
        }
        let mut pending = Vec::new();
        for (i, call) in calls.into_iter().enumerate() {
            let seq = step.seq + 1 + i64::try_from(i).unwrap_or(i64::MAX);
            last_seq = last_seq.max(seq);
            match by_seq.get(&seq).filter(|s| s.is_finished()) {
                Some(done) => messages.push(Message::tool_result(
                    call.id.clone(),
                    tool_result::for_model(
                        done.output.as_deref().unwrap_or_default(),
                        &setup.tool_results,
                    ),
                )),
                None => pending.push(PendingCall { seq, call }),
            }
        }
        if !pending.is_empty() {
            return Action::Tools(pending);
        }
    }
    Action::Model {
        request: ChatRequest {
            messages,
            ..setup.request.clone()
        },
        seq: last_seq + 1,
    }
}

#[cfg(test)]
mod tests {
    use stn_core::model::StepState;

    use super::*;

    fn setup(schema: Option<Value>, max_steps: u32) -> Setup {
        Setup {
            agent: "a".into(),
            request: ChatRequest {
                model: "m".into(),
                messages: vec![Message::user("task")],
                ..Default::default()
            },
            output_schema: schema,
            max_steps,
            tool_results: ResultLimits::default(),
        }
    }

    fn step(seq: i64, kind: StepKind, input: Option<Value>, output: &str) -> RunStep {
        RunStep {
            run_id: 1,
            seq,
            kind,
            name: "n".into(),
            input,
            output: Some(output.into()),
            is_error: false,
            input_tokens: None,
            output_tokens: None,
            total_tokens: None,
            child_run_id: None,
            started_at: String::new(),
            duration_ms: 0,
            state: StepState::Finished,
            call_id: None,
            server: None,
        }
    }

    fn two_calls() -> Option<Value> {
        Some(json!([
            {"id": "a", "name": "x", "arguments": {"n": 1}},
            {"id": "b", "name": "y", "arguments": {}}
        ]))
    }

    #[test]
    fn a_fresh_run_asks_the_model_with_the_prompt() {
        match next(&setup(None, 4), &[]) {
            Action::Model { request, seq } => {
                assert_eq!(seq, 1);
                assert_eq!(request.messages, vec![Message::user("task")]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn calls_without_a_finished_step_are_pending_and_results_feed_the_next_turn() {
        let model = step(1, StepKind::Model, two_calls(), "");
        let first = step(2, StepKind::Tool, Some(json!({"n": 1})), "one");
        match next(&setup(None, 4), &[model.clone(), first.clone()]) {
            Action::Tools(pending) => {
                assert_eq!(pending.len(), 1);
                assert_eq!((pending[0].seq, pending[0].call.id.as_str()), (3, "b"));
            }
            other => panic!("{other:?}"),
        }
        // Stored out of order (concurrent calls): the same conversation.
        let second = step(3, StepKind::Tool, Some(json!({})), "two");
        match next(&setup(None, 4), &[second, model, first]) {
            Action::Model { request, seq } => {
                assert_eq!(seq, 4);
                let m = &request.messages;
                assert_eq!(m.len(), 4);
                assert_eq!(m[1].tool_calls.len(), 2);
                assert_eq!(m[2], Message::tool_result("a", "one"));
                assert_eq!(m[3], Message::tool_result("b", "two"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_answer_ends_and_a_failed_model_turn_is_asked_again() {
        let mut failed = step(1, StepKind::Model, None, "503");
        failed.is_error = true;
        assert!(matches!(
            next(&setup(None, 4), std::slice::from_ref(&failed)),
            Action::Model { seq: 2, .. }
        ));
        let answer = step(2, StepKind::Model, None, "done");
        assert!(
            matches!(next(&setup(None, 4), &[failed, answer]), Action::Answer(t) if t == "done")
        );
    }

    #[test]
    fn max_steps_and_one_repair_turn() {
        let model = step(1, StepKind::Model, two_calls(), "");
        assert!(matches!(
            next(&setup(None, 1), &[model]),
            Action::Fail(AgentError::MaxSteps { max_steps: 1, .. })
        ));
        let schema = Some(json!({"type": "object"}));
        let bad = step(1, StepKind::Model, None, "prose");
        match next(&setup(schema.clone(), 4), std::slice::from_ref(&bad)) {
            Action::Model { request, .. } => assert_eq!(request.messages.len(), 3),
            other => panic!("{other:?}"),
        }
        let again = step(2, StepKind::Model, None, "still prose");
        assert!(matches!(
            next(&setup(schema.clone(), 4), &[bad.clone(), again]),
            Action::Fail(AgentError::InvalidOutput { .. })
        ));
        let good = step(2, StepKind::Model, None, "{\"a\": 1}");
        assert!(matches!(
            next(&setup(schema, 4), &[bad, good]),
            Action::Answer(_)
        ));
    }
}
