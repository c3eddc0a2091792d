//! Where things live in the config dir (the Go original's layout):
//!
//! ```text
//! <config dir>/config.yaml
//! <config dir>/station.db                         (the default database)
//! <config dir>/environments/<env>/agents/<agent>.prompt
//! <config dir>/environments/<env>/<config>.json   (MCP server configs)
//! <config dir>/environments/<env>/variables.yml   (values for {{.VAR}} placeholders)
//! ```

use std::path::{Path, PathBuf};

/// Paths inside one config dir.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout of `config_dir`.
    pub fn new(config_dir: impl Into<PathBuf>) -> Self {
        Self {
            root: config_dir.into(),
        }
    }

    /// The config dir itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `environments/`.
    pub fn environments_dir(&self) -> PathBuf {
        self.root.join("environments")
    }

    /// `environments/<env>/`.
    pub fn env_dir(&self, env: &str) -> PathBuf {
        self.environments_dir().join(env)
    }

    /// `environments/<env>/agents/`.
    pub fn agents_dir(&self, env: &str) -> PathBuf {
        self.env_dir(env).join("agents")
    }

    /// `environments/<env>/agents/<agent>.prompt`.
    pub fn agent_file(&self, env: &str, agent: &str) -> PathBuf {
        self.agents_dir(env).join(format!("{agent}.prompt"))
    }

    /// `environments/<env>/<name>.json`.
    pub fn mcp_file(&self, env: &str, name: &str) -> PathBuf {
        self.env_dir(env).join(format!("{name}.json"))
    }

    /// Names of the environment directories, sorted.
    pub fn environment_names(&self) -> std::io::Result<Vec<String>> {
        list_names(&self.environments_dir(), |p| p.is_dir(), None)
    }

    /// Agent names with a `.prompt` file in an environment, sorted.
    pub fn agent_names(&self, env: &str) -> std::io::Result<Vec<String>> {
        list_names(&self.agents_dir(env), Path::is_file, Some("prompt"))
    }

    /// MCP config names (`*.json` in the environment dir), sorted.
    pub fn mcp_config_names(&self, env: &str) -> std::io::Result<Vec<String>> {
        list_names(&self.env_dir(env), Path::is_file, Some("json"))
    }
}

/// File or dir names (stems when `ext` is given) in `dir`; a missing dir is empty.
fn list_names(
    dir: &Path,
    keep: impl Fn(&Path) -> bool,
    ext: Option<&str>,
) -> std::io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if !keep(&path) {
            continue;
        }
        let name = match ext {
            Some(ext) if path.extension().and_then(|e| e.to_str()) == Some(ext) => path.file_stem(),
            Some(_) => None,
            None => path.file_name(),
        };
        if let Some(name) = name
            .and_then(|n| n.to_str())
            .filter(|n| !n.starts_with('.'))
        {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}
