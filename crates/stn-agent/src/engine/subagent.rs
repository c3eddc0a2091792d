//! Sub-agent calls: each is a child run with `parent_run_id`, executed in a
//! spawned task so that it records its own end even when its parent is
//! dropped by a cancel or timeout.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;
use stn_core::model::{Agent, RunStatus};

use super::ctx::RunCtx;
use super::{Engine, Origin, RunRequest};
use crate::events;

/// What a sub-agent call gives back.
pub(super) struct SubAgentResult {
    /// The answer, or why there is none.
    pub text: String,
    pub is_error: bool,
    /// The child run, once one was queued.
    pub child_run_id: Option<i64>,
}

impl SubAgentResult {
    fn refused(text: String) -> Self {
        Self {
            text,
            is_error: true,
            child_run_id: None,
        }
    }
}

/// Boxed with `Send` spelled out: a run contains runs, and the compiler
/// cannot infer `Send` through that cycle.
type SubAgentCall<'a> = Pin<Box<dyn Future<Output = SubAgentResult> + Send + 'a>>;

impl Engine {
    /// A sub-agent call, refused past the depth limit or when it would call
    /// an agent already on the stack (the refusal goes back to the model).
    /// `seq` is the call's step, which learns the child run's id.
    pub(super) fn sub_agent<'a>(
        &'a self,
        ctx: &'a RunCtx,
        seq: i64,
        child: &'a Agent,
        args: &'a Value,
    ) -> SubAgentCall<'a> {
        Box::pin(self.sub_agent_run(ctx, seq, child, args))
    }

    async fn sub_agent_run(
        &self,
        ctx: &RunCtx,
        seq: i64,
        child: &Agent,
        args: &Value,
    ) -> SubAgentResult {
        let Some(task) = args.get("task").and_then(Value::as_str) else {
            return SubAgentResult::refused("the arguments need `task`, a string".to_owned());
        };
        if ctx.ancestors.contains(&child.id) {
            return SubAgentResult::refused(format!(
                "refused: agent `{}` is already running further up this chain of calls (a cycle)",
                child.spec.name
            ));
        }
        let max_depth = self.options().max_depth;
        if ctx.depth + 1 > max_depth {
            return SubAgentResult::refused(format!(
                "refused: sub-agents may nest {max_depth} deep, and this call would go deeper"
            ));
        }
        let req = RunRequest {
            agent_id: child.id,
            task: task.to_owned(),
            variables: serde_json::Map::new(),
            origin: Origin::Agent,
        };
        let child_id = match self.queue(&req, Some(ctx.run_id)).await {
            Ok(id) => id,
            Err(e) => return SubAgentResult::refused(e.to_string()),
        };
        if let Err(e) = self
            .station()
            .store()
            .set_step_child(ctx.run_id, seq, child_id)
            .await
        {
            tracing::warn!(run_id = ctx.run_id, seq, error = %e, "cannot note the sub-agent run on its step");
        }
        let mut ancestors = ctx.ancestors.clone();
        ancestors.push(child.id);
        let child_ctx = RunCtx::new(
            child_id,
            ctx.depth + 1,
            ancestors,
            ctx.scope.child_token(),
            events::channel(),
        );
        let run = {
            let engine = self.clone();
            async move { engine.execute_in(child_ctx, req).await }
        };
        let (text, is_error) = match self.children().spawn(run).await {
            Ok(outcome) => match outcome.final_response {
                Some(answer) if outcome.status == RunStatus::Completed => (answer, false),
                _ => (
                    format!(
                        "sub-agent run {child_id} ended {}: {}",
                        outcome.status.as_str(),
                        outcome.error.unwrap_or_default()
                    ),
                    true,
                ),
            },
            Err(e) => (
                format!("sub-agent run {child_id} stopped abnormally: {e}"),
                true,
            ),
        };
        SubAgentResult {
            text,
            is_error,
            child_run_id: Some(child_id),
        }
    }
}
