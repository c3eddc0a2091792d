//! A namespace per deployment on a self-hosted sqld (its admin API), with
//! tokens limited to it. sqld picks the namespace from the first label of the
//! Host header, so the deployment's URL is `http://NAMESPACE.<sqld host>`.

use anyhow::{Context as _, Result, bail};

use super::jwt::{self, Access};
use super::{Database, Options, error_text, record};
use crate::commands::deploy::state::{Deployment, Provisioned, State, Step};

pub async fn ensure(
    http: &reqwest::Client,
    dep: &Deployment,
    state: &mut State,
    admin_url: &str,
    options: &Options,
) -> Result<Database> {
    // Read the key first: a missing key must fail before anything is created.
    let Some(key_path) = &options.jwt_key else {
        bail!(
            "--provision sqld needs --jwt-key FILE: the Ed25519 private key whose public half sqld reads from --auth-jwt-key-file"
        );
    };
    let key = jwt::load_key(key_path)?;
    let namespace = state.name.clone();
    let url = namespace_url(options.sqld_url.as_deref(), admin_url, &namespace)?;
    record(
        dep,
        state,
        Provisioned::Sqld {
            admin_url: admin_url.to_owned(),
            namespace: namespace.clone(),
            url: url.clone(),
            step: Step::Creating,
        },
    )?;

    let response = admin(http.post(format!("{admin_url}/v1/namespaces/{namespace}/create")))
        .json(&serde_json::json!({}))
        .send()
        .await
        .with_context(|| format!("cannot reach the sqld admin API at {admin_url}"))?;
    if response.status().is_success() {
        tracing::info!(%namespace, "created the sqld namespace");
    } else {
        let unauthorized = response.status() == reqwest::StatusCode::UNAUTHORIZED;
        let error = error_text(response).await;
        // sqld answers 400 "Namespace `x` already exists": an earlier deploy made it.
        if !error.contains("already exists") {
            bail!(
                "sqld refused to create namespace {namespace}: {error}{}",
                auth_hint(unauthorized)
            );
        }
        tracing::info!(%namespace, "reusing the existing sqld namespace");
    }
    if let Some(p) = &mut state.provisioned {
        p.set_step(Step::Created);
    }
    dep.save(state)?;
    Ok(Database {
        url,
        token: jwt::mint(&key, &namespace, Access::ReadWrite),
        readonly_token: jwt::mint(&key, &namespace, Access::ReadOnly),
    })
}

pub async fn delete(http: &reqwest::Client, admin_url: &str, namespace: &str) -> Result<()> {
    let response = admin(http.delete(format!("{admin_url}/v1/namespaces/{namespace}")))
        .send()
        .await
        .with_context(|| format!("cannot reach the sqld admin API at {admin_url}"))?;
    if response.status().is_success() || response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(());
    }
    let unauthorized = response.status() == reqwest::StatusCode::UNAUTHORIZED;
    bail!(
        "sqld refused to delete namespace {namespace}: {}{}",
        error_text(response).await,
        auth_hint(unauthorized)
    )
}

/// What to do when the admin API answers 401.
fn auth_hint(unauthorized: bool) -> &'static str {
    if unauthorized {
        "\nhint: this sqld's admin API wants the key it was started with (--admin-auth-key): set LIBSQL_ADMIN_AUTH_KEY"
    } else {
        ""
    }
}

/// sqld's `--admin-auth-key` is sent raw after `basic`.
fn admin(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match std::env::var("LIBSQL_ADMIN_AUTH_KEY") {
        Ok(key) if !key.is_empty() => request.header("Authorization", format!("basic {key}")),
        _ => request,
    }
}

/// `http://NAMESPACE.HOST:PORT` from `--sqld-url` (default: the admin URL's
/// host on port 8080).
fn namespace_url(sqld_url: Option<&str>, admin_url: &str, namespace: &str) -> Result<String> {
    let mut url = match sqld_url {
        Some(text) => url::Url::parse(text).with_context(|| format!("--sqld-url `{text}`"))?,
        None => {
            let mut url = url::Url::parse(admin_url)
                .with_context(|| format!("--provision sqld=`{admin_url}`"))?;
            url.set_port(Some(8080))
                .map_err(|()| anyhow::anyhow!("{admin_url} cannot take a port"))?;
            url
        }
    };
    let host = match url.host() {
        Some(url::Host::Domain(host)) => host.to_owned(),
        _ => bail!(
            "sqld chooses the namespace by the first label of the host name, so {url} (no host name) cannot reach namespace {namespace}\nhint: pass --sqld-url http://db.example.com:8080 (a name that resolves to sqld)"
        ),
    };
    url.set_host(Some(&format!("{namespace}.{host}")))
        .with_context(|| format!("{namespace}.{host} is not a host name"))?;
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_url_prefixes_the_host() {
        assert_eq!(
            namespace_url(Some("http://db.example.com:8080"), "http://x:9090", "a").unwrap(),
            "http://a.db.example.com:8080"
        );
        assert_eq!(
            namespace_url(None, "http://sqld.internal:9090", "b").unwrap(),
            "http://b.sqld.internal:8080"
        );
        assert!(namespace_url(None, "http://127.0.0.1:9090", "b").is_err());
    }
}
