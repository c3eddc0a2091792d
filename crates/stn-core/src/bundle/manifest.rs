//! `manifest.json`, the first entry of a bundle, in the Go original's shape.
//!
//! The Go original writes `null` for empty lists, so every list (and most
//! strings) reads `null` as empty. Station writes empty arrays, which Go reads
//! as empty slices.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::files::mcp_config::McpConfigFile;
use crate::files::prompt::PromptFile;

/// The manifest format version both implementations write.
pub const MANIFEST_VERSION: &str = "1.0";

/// The name of the manifest entry.
pub const MANIFEST_NAME: &str = "manifest.json";

/// What a bundle holds, as listed in its `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version, `1.0`.
    #[serde(default, deserialize_with = "or_default")]
    pub version: String,
    /// Name, description and origin.
    #[serde(default, deserialize_with = "or_default")]
    pub bundle: BundleInfo,
    /// The agents (`agents/*.prompt`).
    #[serde(default, deserialize_with = "or_default")]
    pub agents: Vec<ManifestAgent>,
    /// The MCP servers of every MCP config file, placeholders not filled.
    #[serde(default, deserialize_with = "or_default")]
    pub mcp_servers: Vec<ManifestMcpServer>,
    /// Tools the servers had when the bundle was made (from the last sync).
    #[serde(default, deserialize_with = "or_default")]
    pub tools: Vec<ManifestTool>,
    /// Go's workflows; Station has none and writes `[]`.
    #[serde(default, deserialize_with = "or_default")]
    pub workflows: Vec<Value>,
    /// Go's agent/server pairs; Station writes `[]` (each agent lists its servers).
    #[serde(default, deserialize_with = "or_default")]
    pub agent_mcp_relationships: Vec<Value>,
    /// Variables the MCP configs need (`{{ .NAME }}`); their values are never in a bundle.
    #[serde(default, deserialize_with = "or_default")]
    pub required_variables: Vec<RequiredVariable>,
    /// Go's exported reports; Station writes `[]`.
    #[serde(default, deserialize_with = "or_default")]
    pub reports: Vec<Value>,
    /// Go's datasets; Station writes `[]`.
    #[serde(default, deserialize_with = "or_default")]
    pub datasets: Vec<Value>,
}

/// The `bundle` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BundleInfo {
    /// The environment's name when the bundle was made.
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    /// Free text.
    #[serde(default, deserialize_with = "or_default")]
    pub description: String,
    /// Union of the agents' tags.
    #[serde(default, deserialize_with = "or_default")]
    pub tags: Vec<String>,
    /// When it was made (RFC 3339).
    #[serde(default, deserialize_with = "or_default")]
    pub created_at: String,
    /// The version of the Station that made it.
    #[serde(default, deserialize_with = "or_default")]
    pub station_version: String,
}

/// One agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ManifestAgent {
    /// Agent name (the file stem).
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    /// `metadata.description`.
    #[serde(default, deserialize_with = "or_default")]
    pub description: String,
    /// `model`, empty when the agent uses the default.
    #[serde(default, deserialize_with = "or_default")]
    pub model: String,
    /// `max_steps`.
    #[serde(default, deserialize_with = "or_default")]
    pub max_steps: u32,
    /// `metadata.tags`.
    #[serde(default, deserialize_with = "or_default")]
    pub tags: Vec<String>,
    /// `tools` as written (`__name`).
    #[serde(default, deserialize_with = "or_default")]
    pub tools: Vec<String>,
    /// Servers providing those tools (known after a sync).
    #[serde(default, deserialize_with = "or_default")]
    pub mcp_servers: Vec<String>,
}

/// One MCP server of an MCP config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ManifestMcpServer {
    /// Server name (key of `mcpServers`).
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    /// Command, empty for an HTTP server.
    #[serde(default, deserialize_with = "or_default")]
    pub command: String,
    /// Arguments, placeholders not filled.
    #[serde(default, deserialize_with = "or_default")]
    pub args: Vec<String>,
    /// Environment, placeholders not filled.
    #[serde(default, deserialize_with = "or_default")]
    pub env: BTreeMap<String, String>,
    /// Tool names (known after a sync).
    #[serde(default, deserialize_with = "or_default")]
    pub tools: Vec<String>,
    /// The config file's description.
    #[serde(default, deserialize_with = "or_default")]
    pub description: String,
    /// URL of an HTTP server (Go reads the file, not this field, so adding it is harmless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// One tool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ManifestTool {
    /// Tool name.
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    /// Server providing it.
    #[serde(default, deserialize_with = "or_default")]
    pub server: String,
    /// Description, when known.
    #[serde(default, deserialize_with = "or_default")]
    pub description: String,
}

/// A variable an MCP config needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequiredVariable {
    /// `NAME` of `{{ .NAME }}`.
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    /// Where it is used.
    #[serde(default, deserialize_with = "or_default")]
    pub description: String,
    /// Always `string`.
    #[serde(rename = "type", default, deserialize_with = "or_default")]
    pub kind: String,
    /// Always true: a missing value stops the server from starting.
    #[serde(default, deserialize_with = "or_default")]
    pub required: bool,
    /// A default value, when the bundle's author gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// Reads `null` as the type's default, as the Go original writes nil slices.
fn or_default<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

impl Manifest {
    /// Builds the manifest of an environment from its parsed files. `tools_by_server`
    /// holds the tools the database knows for each server (empty before a sync).
    pub fn describe(
        env: &str,
        prompts: &[PromptFile],
        mcp_configs: &[McpConfigFile],
        tools_by_server: &BTreeMap<String, Vec<String>>,
        created_at: String,
    ) -> Manifest {
        let agents: Vec<ManifestAgent> = prompts
            .iter()
            .map(|file| agent_entry(file, tools_by_server))
            .collect();
        let tags: BTreeSet<String> = agents.iter().flat_map(|a| a.tags.clone()).collect();
        let mut mcp_servers = Vec::new();
        let mut tools = Vec::new();
        for config in mcp_configs {
            for server in &config.servers {
                let server_tools = tools_by_server
                    .get(&server.name)
                    .cloned()
                    .unwrap_or_default();
                tools.extend(server_tools.iter().map(|tool| ManifestTool {
                    name: tool.clone(),
                    server: server.name.clone(),
                    description: String::new(),
                }));
                mcp_servers.push(ManifestMcpServer {
                    name: server.name.clone(),
                    command: server.command.clone().unwrap_or_default(),
                    args: server.args.clone(),
                    env: server.env.clone(),
                    tools: server_tools,
                    description: config.description.clone().unwrap_or_default(),
                    url: server.url.clone(),
                });
            }
        }
        Manifest {
            version: MANIFEST_VERSION.to_owned(),
            bundle: BundleInfo {
                name: env.to_owned(),
                description: format!("Station environment `{env}`"),
                tags: tags.into_iter().collect(),
                created_at,
                station_version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            agents,
            mcp_servers,
            tools,
            workflows: Vec::new(),
            agent_mcp_relationships: Vec::new(),
            required_variables: required_variables(mcp_configs),
            reports: Vec::new(),
            datasets: Vec::new(),
        }
    }

    /// The manifest as written into a bundle: 2-space indented JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain structs of strings and numbers cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

/// Every `{{ .NAME }}` of the MCP configs, once, naming the files that use it.
pub fn required_variables(mcp_configs: &[McpConfigFile]) -> Vec<RequiredVariable> {
    let mut used_in: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for config in mcp_configs {
        for name in config.placeholders() {
            used_in
                .entry(name)
                .or_default()
                .push(format!("{}.json", config.name));
        }
    }
    used_in
        .into_iter()
        .map(|(name, files)| RequiredVariable {
            name,
            description: format!("used by {}", files.join(", ")),
            kind: "string".to_owned(),
            required: true,
            default: None,
        })
        .collect()
}

fn agent_entry(
    file: &PromptFile,
    tools_by_server: &BTreeMap<String, Vec<String>>,
) -> ManifestAgent {
    let spec = &file.spec;
    let tags = file
        .extra()
        .get("metadata")
        .and_then(|m| m.get("tags"))
        .and_then(|t| t.as_sequence())
        .map(|seq| {
            seq.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    // Agents name tools `__<tool>`; servers list them without the prefix.
    let mcp_servers = tools_by_server
        .iter()
        .filter(|(_, tools)| {
            spec.tools.iter().any(|t| {
                tools
                    .iter()
                    .any(|known| known == t.trim_start_matches("__"))
            })
        })
        .map(|(server, _)| server.clone())
        .collect();
    ManifestAgent {
        name: spec.name.clone(),
        description: spec.description.clone(),
        model: spec.model.clone().unwrap_or_default(),
        max_steps: spec.max_steps,
        tags,
        tools: spec.tools.clone(),
        mcp_servers,
    }
}
