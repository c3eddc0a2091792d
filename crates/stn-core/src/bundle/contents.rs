//! The files of one environment directory as a bundle sees them: which files go
//! in, and the agents and MCP configs parsed with the same parsers `stn sync` uses.

use std::path::{Path, PathBuf};

use super::error::BundleError;
use super::manifest::MANIFEST_NAME;
use crate::error::{CoreError, Result};
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
            Err(e) => problems.push(format!("agents/{name}.prompt: {e}")),
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
            Err(e) => problems.push(format!("{name}.json: {e}")),
        }
    }
    if !problems.is_empty() {
        return Err(BundleError::InvalidFiles { problems }.into());
    }
    Ok(files)
}

/// Every file and directory a bundle of `env_dir` holds, relative, parents
/// before children, sorted: all but the variables files and an old manifest.
/// A symbolic link is an error: installing refuses links, so a bundle never has one.
pub fn bundle_paths(env_dir: &Path) -> Result<Vec<(PathBuf, bool)>> {
    let mut out = Vec::new();
    walk(env_dir, Path::new(""), &mut out)?;
    Ok(out)
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, bool)>) -> Result<()> {
    let dir = root.join(rel);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| CoreError::io(&dir, e))?
        .collect::<std::io::Result<_>>()
        .map_err(|e| CoreError::io(&dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let rel_path = rel.join(&name);
        let name = name.to_string_lossy();
        if VARIABLES_FILES.contains(&name.as_ref())
            || (rel.as_os_str().is_empty() && name == MANIFEST_NAME)
        {
            continue;
        }
        let kind = entry
            .file_type()
            .map_err(|e| CoreError::io(&entry.path(), e))?;
        if kind.is_dir() {
            out.push((rel_path.clone(), true));
            walk(root, &rel_path, out)?;
        } else if kind.is_file() {
            out.push((rel_path, false));
        } else {
            return Err(CoreError::Invalid(format!(
                "{} is not a regular file or directory (a link?); bundles hold only files: \
                 replace it with a copy of what it points to",
                entry.path().display()
            )));
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| CoreError::io(path, e))
}
