//! A Turso database per deployment through the Turso Platform API
//! (`TURSO_API_TOKEN`; `TURSO_API_URL` points elsewhere, e.g. a test server).

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

use super::{Database, Options, error_text, record};
use crate::commands::deploy::state::{Deployment, Provisioned, State, Step};

const DEFAULT_API: &str = "https://api.turso.tech/v1";

#[derive(Deserialize)]
struct DatabaseAnswer {
    database: DatabaseInfo,
}

/// Turso answers with capitalised keys.
#[derive(Deserialize)]
struct DatabaseInfo {
    #[serde(rename = "Hostname")]
    hostname: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    jwt: String,
}

struct Api<'a> {
    http: &'a reqwest::Client,
    base: String,
    token: String,
    org: String,
}

impl Api<'_> {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(
                method,
                format!("{}/organizations/{}{path}", self.base, self.org),
            )
            .bearer_auth(&self.token)
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<reqwest::Response> {
        request
            .send()
            .await
            .with_context(|| format!("cannot reach the Turso API at {} to {what}", self.base))
    }
}

fn api<'a>(http: &'a reqwest::Client, org: &str) -> Result<Api<'a>> {
    let token = match std::env::var("TURSO_API_TOKEN") {
        Ok(token) if !token.is_empty() => token,
        _ => bail!(
            "--provision turso needs TURSO_API_TOKEN (a Turso platform API token)\nhint: create one with `turso auth api-tokens mint stn-deploy`"
        ),
    };
    let base = std::env::var("TURSO_API_URL").unwrap_or_else(|_| DEFAULT_API.to_owned());
    Ok(Api {
        http,
        base: base.trim_end_matches('/').to_owned(),
        token,
        org: org.to_owned(),
    })
}

pub async fn ensure(
    http: &reqwest::Client,
    dep: &Deployment,
    state: &mut State,
    options: &Options,
) -> Result<Database> {
    let Some(org) = &options.org else {
        bail!("--provision turso needs --org ORG (your Turso organization)");
    };
    let api = api(http, org)?;
    let name = state.name.clone();
    record(
        dep,
        state,
        Provisioned::Turso {
            org: org.clone(),
            database: name.clone(),
            url: None,
            step: Step::Creating,
        },
    )?;

    let create = api
        .request(reqwest::Method::POST, "/databases")
        .json(&serde_json::json!({
            "name": name,
            "group": options.group,
        }));
    let response = api.send(create, "create the database").await?;
    let info: DatabaseAnswer = if response.status() == reqwest::StatusCode::CONFLICT {
        tracing::info!(database = %name, "reusing the existing Turso database");
        let get = api.request(reqwest::Method::GET, &format!("/databases/{name}"));
        let response = api.send(get, "look the database up").await?;
        if !response.status().is_success() {
            bail!(
                "Turso did not show database {name}: {}",
                error_text(response).await
            );
        }
        response.json().await.context("Turso's database answer")?
    } else if response.status().is_success() {
        response.json().await.context("Turso's create answer")?
    } else {
        bail!(
            "Turso refused to create database {name}: {}",
            error_text(response).await
        );
    };
    let url = format!("libsql://{}", info.database.hostname);
    if let Some(Provisioned::Turso { url: u, step, .. }) = &mut state.provisioned {
        *u = Some(url.clone());
        *step = Step::Created;
    }
    dep.save(state)?;

    Ok(Database {
        url,
        token: mint(&api, &name, "full-access", &options.token_expiration).await?,
        readonly_token: mint(&api, &name, "read-only", &options.token_expiration).await?,
    })
}

async fn mint(api: &Api<'_>, name: &str, authorization: &str, expiration: &str) -> Result<String> {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("expiration", expiration)
        .append_pair("authorization", authorization)
        .finish();
    let request = api.request(
        reqwest::Method::POST,
        &format!("/databases/{name}/auth/tokens?{query}"),
    );
    let response = api.send(request, "create a token").await?;
    if !response.status().is_success() {
        bail!(
            "Turso refused a {authorization} token for database {name}: {}\nhint: run the deploy again, it reuses the database",
            error_text(response).await
        );
    }
    let answer: TokenAnswer = response.json().await.context("Turso's token answer")?;
    Ok(answer.jwt)
}

pub async fn delete(http: &reqwest::Client, org: &str, database: &str) -> Result<()> {
    let api = api(http, org)?;
    let request = api.request(reqwest::Method::DELETE, &format!("/databases/{database}"));
    let response = api.send(request, "delete the database").await?;
    if response.status().is_success() || response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(());
    }
    bail!(
        "Turso refused to delete database {database}: {}",
        error_text(response).await
    )
}
