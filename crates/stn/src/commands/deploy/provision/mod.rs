//! `--provision`: a database created for one deployment, recorded in its
//! state before every step that creates something, so a failure half-way is
//! resumed by the next deploy (creation answers "exists" and is reused; tokens
//! are minted again) or cleaned up by `destroy`. No database is ever left
//! without a record of it, and tokens can always be minted anew.

mod jwt;
mod sqld;
mod turso;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use super::state::{Deployment, Provisioned, State, Step};

/// `--provision SPEC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    Sqld { admin_url: String },
    Turso,
}

impl Spec {
    pub fn parse(text: &str) -> Result<Spec> {
        if text == "turso" {
            return Ok(Spec::Turso);
        }
        if let Some(url) = text.strip_prefix("sqld=")
            && (url.starts_with("http://") || url.starts_with("https://"))
        {
            return Ok(Spec::Sqld {
                admin_url: url.trim_end_matches('/').to_owned(),
            });
        }
        bail!(
            "--provision `{text}` is neither `sqld=ADMIN_URL` nor `turso`\nhint: e.g. --provision sqld=http://127.0.0.1:9090 --jwt-key key.pem, or --provision turso --org ORG"
        )
    }
}

/// What provisioning needs besides the spec.
#[derive(Debug, Clone)]
pub struct Options {
    pub jwt_key: Option<PathBuf>,
    pub sqld_url: Option<String>,
    pub org: Option<String>,
    pub group: String,
    pub token_expiration: String,
}

/// A provisioned database as the deployment uses it.
pub struct Database {
    pub url: String,
    /// Read-write, for the instance.
    pub token: String,
    /// Read-only, for dashboards.
    pub readonly_token: String,
}

/// Variable names in `secrets.env`.
pub const TOKEN_VAR: &str = "DATABASE_AUTH_TOKEN";
pub const READONLY_TOKEN_VAR: &str = "STN_READONLY_DATABASE_TOKEN";

/// Creates (or finds) the deployment's database and mints its tokens,
/// saving `state` after each step.
pub async fn ensure(
    dep: &Deployment,
    state: &mut State,
    spec: &Spec,
    options: &Options,
) -> Result<Database> {
    let http = client()?;
    let db = match spec {
        Spec::Sqld { admin_url } => sqld::ensure(&http, dep, state, admin_url, options).await?,
        Spec::Turso => turso::ensure(&http, dep, state, options).await?,
    };
    if let Some(p) = &mut state.provisioned {
        p.set_step(Step::Ready);
    }
    dep.save(state)?;
    Ok(db)
}

/// Deletes what `ensure` created (a database already gone is fine).
pub async fn delete(provisioned: &Provisioned) -> Result<()> {
    let http = client()?;
    match provisioned {
        Provisioned::Sqld {
            admin_url,
            namespace,
            ..
        } => sqld::delete(&http, admin_url, namespace).await,
        Provisioned::Turso { org, database, .. } => turso::delete(&http, org, database).await,
    }
}

/// Records `provisioned` (at `Step::Creating`) before the create call, so a
/// crash during the call still leaves a record `destroy` can act on.
fn record(dep: &Deployment, state: &mut State, provisioned: Provisioned) -> Result<()> {
    match &state.provisioned {
        Some(old) if !same_database(old, &provisioned) => bail!(
            "deployment {} already has a provisioned database ({old:?})\nhint: `stn deploy destroy {}` first, or pick another --name",
            state.name,
            state.name
        ),
        Some(_) => {}
        None => state.provisioned = Some(provisioned),
    }
    dep.save(state)
}

fn same_database(a: &Provisioned, b: &Provisioned) -> bool {
    match (a, b) {
        (
            Provisioned::Sqld {
                admin_url: a1,
                namespace: n1,
                ..
            },
            Provisioned::Sqld {
                admin_url: a2,
                namespace: n2,
                ..
            },
        ) => a1 == a2 && n1 == n2,
        (
            Provisioned::Turso {
                org: o1,
                database: d1,
                ..
            },
            Provisioned::Turso {
                org: o2,
                database: d2,
                ..
            },
        ) => o1 == o2 && d1 == d2,
        _ => false,
    }
}

fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build an HTTP client")
}

/// The `error` of a `{"error": "..."}` answer, or the raw body.
async fn error_text(response: reqwest::Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or(body);
    format!("{status}: {}", message.trim())
}
