//! What the `stn deploy` tests share: the environment they deploy, the
//! deployment's env files, and the API calls made on a deployed instance.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::Stn;

/// `stn deploy default --target TARGET --name NAME` followed by `rest`.
pub fn deploy_args<'a>(target: &'a str, name: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["deploy", "default", "--target", target, "--name", name];
    args.extend_from_slice(rest);
    args
}

/// The value of the variable the environment's MCP config uses: a secret.
pub const VARIABLE: &str = "variable-value-that-is-a-secret";

/// `stn init`, then `default` with the agent `helper` and an MCP config
/// using `FILES_TOKEN` from `variables.yml`: what a deployment's bundle
/// must carry (and the secret it must not).
pub fn environment(stn: &Stn) {
    stn.ok(&["init"]);
    stn.ok(&["agent", "create", "helper", "-p", "Help.", "-d", "deployed"]);
    let env = stn.config_dir().join("environments/default");
    std::fs::write(
        env.join("files.json"),
        r#"{"name": "files", "mcpServers": {"files": {"command": "mcp-files", "args": ["{{ .FILES_TOKEN }}"]}}}"#,
    )
    .unwrap();
    std::fs::write(
        env.join("variables.yml"),
        format!("FILES_TOKEN: {VARIABLE}\n"),
    )
    .unwrap();
}

/// `KEY=VALUE` lines of an env file.
pub fn env_file(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Creates an agent through the API of the instance at `base`.
pub async fn create_agent(base: &str, key: Option<&str>, name: &str) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/api/v1/agents"))
        .json(&serde_json::json!({"name": name, "prompt": "You help.", "description": "made through the API"}));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

/// `GET /api/v1/agents` of the instance at `base`.
pub async fn get_agents(base: &str, key: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{base}/api/v1/agents"));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap()
}

/// The names of the agents the instance at `base` serves, sorted.
pub async fn agent_names(base: &str, key: Option<&str>) -> Vec<String> {
    let agents: serde_json::Value = get_agents(base, key).await.json().await.unwrap();
    let mut names: Vec<String> = agents
        .as_array()
        .unwrap_or_else(|| panic!("not a list of agents: {agents}"))
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}
