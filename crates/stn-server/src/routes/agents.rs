//! `/api/v1/agents`: list, create, show, update and delete agents.
//!
//! Agents are addressed by id here (names are only unique per environment).
//! Changes go through [`Station`], which rewrites the agent's `.prompt` file.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use stn_core::Station;
use stn_core::model::{Agent, AgentSpec, DEFAULT_MAX_STEPS};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// The environment `POST /api/v1/agents` uses when the body names none.
const DEFAULT_ENVIRONMENT: &str = "default";

/// Query of `GET /api/v1/agents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    environment: Option<String>,
}

/// Body of `POST /api/v1/agents` and `PUT /api/v1/agents/{id}`: the
/// [`AgentSpec`] fields plus the environment, every one optional.
///
/// On create, `name` and `prompt` are required and absent fields get their
/// defaults; on update, absent fields keep their value. For fields that may be
/// empty (`model`, the schemas, …), an explicit `null` clears the value, which
/// is why they are `Option<Option<_>>`: outer `None` = absent, `Some(None)` = null.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentBody {
    environment: Option<String>,
    name: Option<String>,
    description: Option<String>,
    prompt: Option<String>,
    #[serde(default, deserialize_with = "present")]
    model: Option<Option<String>>,
    max_steps: Option<u32>,
    tools: Option<Vec<String>>,
    agents: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    input_schema: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    output_schema: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    output_schema_preset: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    app: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    app_subtype: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    memory_topic_key: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    memory_max_tokens: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    cron_schedule: Option<Option<String>>,
    schedule_enabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    schedule_variables: Option<Option<Value>>,
}

/// Marks a nullable field as given: `null` becomes `Some(None)`. Absent fields
/// never reach this function and stay `None` through `#[serde(default)]`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Overwrites `field` when the request gave a value.
fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

impl AgentBody {
    /// Copies the given fields into `spec`. `environment` and `name` are the
    /// caller's business: they choose the agent rather than describe it.
    fn apply_to(self, spec: &mut AgentSpec) {
        // Destructured in full so that a field added to the body cannot be
        // forgotten here without a compile error.
        let AgentBody {
            environment: _,
            name: _,
            description,
            prompt,
            model,
            max_steps,
            tools,
            agents,
            input_schema,
            output_schema,
            output_schema_preset,
            app,
            app_subtype,
            memory_topic_key,
            memory_max_tokens,
            cron_schedule,
            schedule_enabled,
            schedule_variables,
        } = self;
        set(&mut spec.description, description);
        set(&mut spec.prompt, prompt);
        set(&mut spec.model, model);
        set(&mut spec.max_steps, max_steps);
        set(&mut spec.tools, tools);
        set(&mut spec.agents, agents);
        set(&mut spec.input_schema, input_schema);
        set(&mut spec.output_schema, output_schema);
        set(&mut spec.output_schema_preset, output_schema_preset);
        set(&mut spec.app, app);
        set(&mut spec.app_subtype, app_subtype);
        set(&mut spec.memory_topic_key, memory_topic_key);
        set(&mut spec.memory_max_tokens, memory_max_tokens);
        set(&mut spec.cron_schedule, cron_schedule);
        set(&mut spec.schedule_enabled, schedule_enabled);
        set(&mut spec.schedule_variables, schedule_variables);
    }
}

/// `GET /api/v1/agents[?environment=ENV]`: the agents of one environment, or of all.
pub async fn list(
    State(station): State<Station>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<Agent>>> {
    let Query(query) = query?;
    let agents = station
        .store()
        .list_agents(query.environment.as_deref())
        .await?;
    Ok(Json(agents))
}

/// `POST /api/v1/agents`: creates an agent and its `.prompt` file; 201.
pub async fn create(
    State(station): State<Station>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<AgentBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Agent>)> {
    let Json(mut body) = body?;
    let environment = body
        .environment
        .take()
        .unwrap_or_else(|| DEFAULT_ENVIRONMENT.to_owned());
    let Some(name) = body.name.take() else {
        return Err(ApiError::InvalidRequest("`name` is required".to_owned()));
    };
    if body.prompt.is_none() {
        return Err(ApiError::InvalidRequest("`prompt` is required".to_owned()));
    }
    let mut spec = AgentSpec {
        name,
        max_steps: DEFAULT_MAX_STEPS,
        ..AgentSpec::default()
    };
    body.apply_to(&mut spec);
    let agent = station
        .acting_as(&caller.username)
        .create_agent(&environment, &spec)
        .await?;
    Ok((StatusCode::CREATED, Json(agent)))
}

/// `GET /api/v1/agents/{id}`.
pub async fn get(
    State(station): State<Station>,
    id: Result<Path<i64>, PathRejection>,
) -> ApiResult<Json<Agent>> {
    let Path(id) = id?;
    Ok(Json(station.store().agent_by_id(id).await?))
}

/// `PUT /api/v1/agents/{id}`: changes only the fields given. The name and the
/// environment identify the agent's `.prompt` file, so they cannot change here.
pub async fn update(
    State(station): State<Station>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Json<AgentBody>, JsonRejection>,
) -> ApiResult<Json<Agent>> {
    let Path(id) = id?;
    let Json(body) = body?;
    let current = station.store().agent_by_id(id).await?;
    if body
        .name
        .as_ref()
        .is_some_and(|name| *name != current.spec.name)
    {
        return Err(ApiError::InvalidRequest(format!(
            "an agent cannot be renamed (agent {id} is `{}`); create a new agent and delete this one",
            current.spec.name
        )));
    }
    if body
        .environment
        .as_ref()
        .is_some_and(|env| *env != current.environment)
    {
        return Err(ApiError::InvalidRequest(format!(
            "an agent cannot move to another environment (agent {id} is in `{}`)",
            current.environment
        )));
    }
    let mut spec = current.spec;
    body.apply_to(&mut spec);
    let agent = station
        .acting_as(&caller.username)
        .update_agent(&current.environment, &spec)
        .await?;
    Ok(Json(agent))
}

/// `DELETE /api/v1/agents/{id}`: deletes the agent, its runs and its `.prompt` file; 204.
pub async fn delete(
    State(station): State<Station>,
    id: Result<Path<i64>, PathRejection>,
) -> ApiResult<StatusCode> {
    let Path(id) = id?;
    let agent = station.store().agent_by_id(id).await?;
    station
        .delete_agent(&agent.environment, &agent.spec.name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
