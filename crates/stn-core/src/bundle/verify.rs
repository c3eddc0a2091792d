//! A manifest is its author's summary; what installing writes and `stn sync`
//! starts are the archive's own files. So inspect and install read those
//! files, show what they run, and refuse a bundle whose manifest says
//! otherwise (a harmless `npx …` in the manifest beside a config that runs
//! `sh -c …`), naming both.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::Serialize;

use super::contents::EnvironmentFiles;
use super::error::BundleError;
use super::extract::{Flow, Item, Limits, scan_bundle};
use super::manifest::{MANIFEST_NAME, Manifest};
use crate::error::{CoreError, Result, located};
use crate::files::mcp_config::parse_mcp_config;
use crate::files::prompt::parse_prompt;
use crate::model::McpServerSpec;
use crate::store::validate_name;

/// An MCP server of the archive that `stn sync` starts (stdio) or connects to (HTTP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerCommand {
    /// The server's name.
    pub name: String,
    /// The MCP config file that defines it, e.g. `time.json`.
    pub file: String,
    /// The command line with its arguments (placeholders not filled), or the URL.
    pub runs: String,
}

/// What a server runs, as one line.
fn runs(server: &McpServerSpec) -> String {
    match (&server.command, &server.url) {
        (Some(command), _) => std::iter::once(command.as_str())
            .chain(server.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        (None, Some(url)) => url.clone(),
        (None, None) => String::new(),
    }
}

/// Every server of the archive's MCP configs and what it runs.
pub fn server_commands(files: &EnvironmentFiles) -> Vec<ServerCommand> {
    files
        .mcp_configs
        .iter()
        .flat_map(|config| {
            config.servers.iter().map(|server| ServerCommand {
                name: server.name.clone(),
                file: format!("{}.json", config.name),
                runs: runs(server),
            })
        })
        .collect()
}

/// Checks the archive's files against its manifest: the names are usable, and
/// every agent and MCP server the manifest lists is in the files, running
/// what the manifest says (and no server runs unlisted). An agent the
/// manifest does not list is allowed: it runs nothing by itself and is shown.
pub fn check(source_name: &str, claimed: &Manifest, files: &EnvironmentFiles) -> Result<()> {
    let mut invalid = Vec::new();
    for prompt in &files.prompts {
        if let Err(e) = validate_name("agent", &prompt.spec.name) {
            invalid.push(format!("agents/{}.prompt: {}", prompt.spec.name, reason(e)));
        }
    }
    for config in &files.mcp_configs {
        if let Err(e) = validate_name("MCP config", &config.name) {
            invalid.push(format!("{}.json: {}", config.name, reason(e)));
        }
    }
    if !invalid.is_empty() {
        return Err(BundleError::InvalidFiles { problems: invalid }.into());
    }

    let mut problems = Vec::new();
    for agent in &claimed.agents {
        if !files.prompts.iter().any(|p| p.spec.name == agent.name) {
            problems.push(format!(
                "{MANIFEST_NAME} lists agent `{}`, but the archive has no agents/{}.prompt",
                agent.name, agent.name
            ));
        }
    }
    let in_files: BTreeMap<&str, (String, &McpServerSpec)> = files
        .mcp_configs
        .iter()
        .flat_map(|c| {
            c.servers
                .iter()
                .map(move |s| (s.name.as_str(), (format!("{}.json", c.name), s)))
        })
        .collect();
    for listed in &claimed.mcp_servers {
        let Some((file, actual)) = in_files.get(listed.name.as_str()) else {
            problems.push(format!(
                "{MANIFEST_NAME} lists MCP server `{}`, but no MCP config in the archive defines it",
                listed.name
            ));
            continue;
        };
        let said = McpServerSpec {
            name: listed.name.clone(),
            command: Some(listed.command.clone()).filter(|c| !c.is_empty()),
            args: listed.args.clone(),
            env: listed.env.clone(),
            url: listed.url.clone(),
        };
        if runs(&said) != runs(actual) {
            problems.push(format!(
                "{MANIFEST_NAME} says MCP server `{}` runs `{}`, but {file} runs `{}`",
                listed.name,
                runs(&said),
                runs(actual)
            ));
        } else if !listed.env.is_empty() && listed.env != actual.env {
            // The Go original may leave `env` out (null); a given one must be the file's.
            problems.push(format!(
                "{MANIFEST_NAME} gives MCP server `{}` the environment {:?}, but {file} gives it {:?}",
                listed.name,
                listed.env.keys().collect::<Vec<_>>(),
                actual.env.keys().collect::<Vec<_>>()
            ));
        }
    }
    for (name, (file, actual)) in &in_files {
        if !claimed.mcp_servers.iter().any(|s| s.name == *name) {
            problems.push(format!(
                "{file} defines MCP server `{name}` (runs `{}`), which {MANIFEST_NAME} does not list",
                runs(actual)
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(BundleError::ManifestMismatch {
            source_name: source_name.to_owned(),
            problems,
        }
        .into())
    }
}

fn reason(e: CoreError) -> String {
    match e {
        CoreError::Rejected(text) => text,
        other => other.to_string(),
    }
}

/// Reads a whole bundle without unpacking it: its manifest checked against
/// its files (see [`check`]), and the manifest as the files describe it, so
/// what is shown is what installing would run.
pub fn inspect_bundle(reader: impl Read, source_name: &str) -> Result<Manifest> {
    let mut claimed = None;
    let mut texts: Vec<(String, bool, String)> = Vec::new();
    scan_bundle(reader, source_name, &Limits::default(), |item| {
        match item {
            Item::Manifest(m) => claimed = Some(*m),
            Item::Dir(_) => {}
            Item::File(rel, data) => {
                if let Some((stem, is_prompt)) = station_file(&rel) {
                    let mut text = String::new();
                    data.read_to_string(&mut text)
                        .map_err(|e| CoreError::io(&rel, e))?;
                    texts.push((stem, is_prompt, text));
                }
            }
        }
        Ok(Flow::Continue)
    })?;
    let claimed = claimed.ok_or_else(|| BundleError::NotABundle {
        source_name: source_name.to_owned(),
        detail: "it has no manifest.json".to_owned(),
    })?;
    let mut files = EnvironmentFiles::default();
    let mut problems = Vec::new();
    texts.sort();
    for (stem, is_prompt, text) in texts {
        if is_prompt {
            match parse_prompt(&text, &stem) {
                Ok(file) => files.prompts.push(file),
                Err(e) => problems.push(located(&format!("agents/{stem}.prompt"), &e)),
            }
        } else {
            match parse_mcp_config(&text, &stem) {
                Ok(file) => files.mcp_configs.push(file),
                Err(e) => problems.push(located(&format!("{stem}.json"), &e)),
            }
        }
    }
    if !problems.is_empty() {
        return Err(BundleError::InvalidFiles { problems }.into());
    }
    check(source_name, &claimed, &files)?;
    let tools: BTreeMap<String, Vec<String>> = claimed
        .mcp_servers
        .iter()
        .map(|s| (s.name.clone(), s.tools.clone()))
        .collect();
    let mut shown = Manifest::describe(
        &claimed.bundle.name,
        &files.prompts,
        &files.mcp_configs,
        &tools,
        claimed.bundle.created_at.clone(),
    );
    shown.version = claimed.version;
    shown.bundle = claimed.bundle;
    Ok(shown)
}

/// The stem of a file Station reads (`agents/NAME.prompt`, a top-level
/// `NAME.json` other than the manifest) and whether it is a prompt.
fn station_file(rel: &Path) -> Option<(String, bool)> {
    let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
    let stem = |name: &str, ext: &str| name.strip_suffix(ext).map(str::to_owned);
    match parts.as_slice() {
        ["agents", name] => stem(name, ".prompt").map(|s| (s, true)),
        [name] if *name != MANIFEST_NAME => stem(name, ".json").map(|s| (s, false)),
        _ => None,
    }
}
