//! The files of one environment directory as a bundle sees them: which files go
//! in, and the agents and MCP configs parsed with the same parsers `stn sync` uses.

use std::path::{Path, PathBuf};

use super::error::BundleError;
use super::manifest::MANIFEST_NAME;
use crate::error::{CoreError, Result, located};
use crate::files::mcp_config::{McpConfigFile, parse_mcp_config};
use crate::files::prompt::{PromptFile, parse_prompt};
use crate::layout::Layout;

/// Secrets stay on the machine: these names are never put in a bundle nor taken
/// from one, at any depth.
pub const VARIABLES_FILES: &[&str] = &["variables.yml", "variables.yaml"];

/// An environment's agents and MCP configs, parsed.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentFiles {
    /// `agents/*.prompt`, sorted by name.
    pub prompts: Vec<PromptFile>,
    /// Top-level `*.json` except `manifest.json`, sorted by name.
    pub mcp_configs: Vec<McpConfigFile>,
}

/// Parses every `.prompt` and MCP config of `env`; any broken file is an error
/// listing all of them, so a bundle never carries a file `stn sync` would reject.
pub fn read_environment(layout: &Layout, env: &str) -> Result<EnvironmentFiles> {
    let mut files = EnvironmentFiles::default();
    let mut problems = Vec::new();
    let env_dir = layout.env_dir(env);
    for name in layout
        .agent_names(env)
        .map_err(|e| CoreError::io(&layout.agents_dir(env), e))?
    {
        let path = layout.agent_file(env, &name);
        match read(&path).and_then(|text| Ok(parse_prompt(&text, &name)?)) {
            Ok(file) => files.prompts.push(file),
            Err(e) => problems.push(located(&format!("agents/{name}.prompt"), &e)),
        }
    }
    for name in layout
        .mcp_config_names(env)
        .map_err(|e| CoreError::io(&env_dir, e))?
    {
        // Go's installer leaves the manifest in the directory; it is not an MCP config.
        if format!("{name}.json") == MANIFEST_NAME {
            continue;
        }
        let path = layout.mcp_file(env, &name);
        match read(&path).and_then(|text| Ok(parse_mcp_config(&text, &name)?)) {
            Ok(file) => files.mcp_configs.push(file),
            Err(e) => problems.push(located(&format!("{name}.json"), &e)),
        }
    }
    if !problems.is_empty() {
        return Err(BundleError::InvalidFiles { problems }.into());
    }
    Ok(files)
}

/// Every file and directory a bundle of `env` holds, relative, parents
/// before children, sorted: only the kinds Station reads, `agents/*.prompt`
/// and the MCP configs (`*.json`), so an editor's backup of `variables.yml`
/// (`variables.yml~`, `.swp`, `#variables.yml#`), a `.bak` or anything else
/// lying in the directory never leaves the machine. A symbolic link is an
/// error: installing refuses links, so a bundle never has one.
pub fn bundle_paths(layout: &Layout, env: &str) -> Result<Vec<(PathBuf, bool)>> {
    let env_dir = layout.env_dir(env);
    let prompts = layout
        .agent_names(env)
        .map_err(|e| CoreError::io(&layout.agents_dir(env), e))?;
    let configs = layout
        .mcp_config_names(env)
        .map_err(|e| CoreError::io(&env_dir, e))?;
    let mut out = Vec::new();
    if !prompts.is_empty() {
        out.push((PathBuf::from("agents"), true));
    }
    let files = prompts
        .iter()
        .map(|name| PathBuf::from("agents").join(format!("{name}.prompt")))
        .chain(
            configs
                .iter()
                .map(|name| PathBuf::from(format!("{name}.json")))
                .filter(|rel| rel.as_os_str() != MANIFEST_NAME),
        );
    for rel in files {
        let path = env_dir.join(&rel);
        let kind = std::fs::symlink_metadata(&path)
            .map_err(|e| CoreError::io(&path, e))?
            .file_type();
        if !kind.is_file() {
            return Err(CoreError::Invalid(format!(
                "{} is not a regular file (a link?); bundles hold only files: \
                 replace it with a copy of what it points to",
                path.display()
            )));
        }
        out.push((rel, false));
    }
    out.sort();
    Ok(out)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| CoreError::io(path, e))
}
