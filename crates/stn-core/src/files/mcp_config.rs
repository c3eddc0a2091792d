//! MCP config files: the `*.json` files at the top of an environment directory (often
//! `template.json`; `stn mcp add` writes `<server>.json`), in the Go original's format:
//!
//! ```json
//! {
//!   "name": "filesystem",
//!   "description": "Local files",
//!   "mcpServers": {
//!     "fs": { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "{{.ROOT_PATH}}"] },
//!     "web": { "url": "https://{{ .HOST }}/mcp" }
//!   }
//! }
//! ```
//!
//! Values may hold `{{.NAME}}` placeholders (spaces inside the braces allowed), filled from
//! the environment's `variables.yml` by [`McpConfigFile::resolve`]. Only that form is
//! supported; other Go template syntax is rejected when the file is parsed.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::FileError;
use super::variables::Variables;
use crate::model::McpServerSpec;

/// An MCP config file as written, placeholders not yet filled.
#[derive(Debug, Clone, PartialEq)]
pub struct McpConfigFile {
    /// The file's stem (`template` for `template.json`). The stem names the config even
    /// when the file's `name` key says otherwise, so renaming the file renames the config.
    pub name: String,
    /// Free text from the `description` key.
    pub description: Option<String>,
    /// The servers, sorted by name, with `{{.NAME}}` placeholders left in place.
    pub servers: Vec<McpServerSpec>,
}

/// Keys a server entry may have besides the four Station uses. `type` ("stdio", "http",
/// …) is accepted for compatibility with other tools' files; `command`/`url` already say
/// how the server is reached.
const IGNORED_SERVER_KEYS: &[&str] = &["type"];

/// Parses the text of an MCP config file named `<file_stem>.json`.
///
/// Unknown top-level keys are ignored (they only describe the file), but unknown keys in
/// a server entry are errors: something like `headers` changes how the server is reached,
/// and silently dropping it would make the server fail in a confusing way later.
pub fn parse_mcp_config(text: &str, file_stem: &str) -> Result<McpConfigFile, FileError> {
    let file = file_name(file_stem);
    let root: Value = serde_json::from_str(text).map_err(|e| FileError::Syntax {
        file: file.clone(),
        problem: format!("invalid JSON: {e}"),
    })?;
    let Value::Object(mut root) = root else {
        return Err(invalid(
            &file,
            "expected a JSON object with an `mcpServers` object inside",
        ));
    };

    let description = match root.remove("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text),
        Some(_) => return Err(invalid(&file, "`description` must be a string")),
    };
    let entries = match root.remove("mcpServers") {
        Some(Value::Object(entries)) => entries,
        Some(_) => {
            return Err(invalid(
                &file,
                "`mcpServers` must be an object of name: server entries",
            ));
        }
        None => {
            return Err(invalid(
                &file,
                "no `mcpServers` object; add one, e.g. \"mcpServers\": {\"fs\": {\"command\": \"npx\", \"args\": []}}",
            ));
        }
    };

    let mut servers = Vec::with_capacity(entries.len());
    for (name, entry) in entries {
        let server = parse_server(&file, name, entry)?;
        check_server(&file, &server)?;
        servers.push(server);
    }
    servers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(McpConfigFile {
        name: file_stem.to_owned(),
        description,
        servers,
    })
}

/// Writes an MCP config file: pretty JSON with keys in a fixed order, so rewriting an
/// unchanged config gives the same bytes (and the same [`content_hash`]).
pub fn render_mcp_config(file: &McpConfigFile) -> String {
    let servers = file
        .servers
        .iter()
        .map(|server| {
            let entry = ServerEntry {
                command: server.command.as_deref(),
                args: &server.args,
                env: &server.env,
                url: server.url.as_deref(),
            };
            (server.name.as_str(), entry)
        })
        .collect();
    let out = FileOut {
        name: &file.name,
        description: file.description.as_deref(),
        mcp_servers: servers,
    };
    // Strings, lists and string-keyed maps always serialize to JSON; failure is impossible.
    let mut text = serde_json::to_string_pretty(&out).expect("MCP config serializes to JSON");
    text.push('\n');
    text
}

/// The SHA-256 of a file's text, as lowercase hex: sync compares it with the stored hash
/// to skip files that did not change.
pub fn content_hash(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

impl McpConfigFile {
    /// Every variable the servers need: the `NAME` of each `{{.NAME}}` in a command,
    /// argument, env value or URL.
    ///
    /// Values with malformed templates are skipped here; [`parse_mcp_config`] rejects them
    /// and [`McpConfigFile::resolve`] reports them.
    pub fn placeholders(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for server in &self.servers {
            for value in template_values(server) {
                let Ok(pieces) = split_placeholders(value) else {
                    continue;
                };
                for piece in pieces {
                    if let Piece::Placeholder(name) = piece {
                        names.insert(name.to_owned());
                    }
                }
            }
        }
        names
    }

    /// The servers with every placeholder replaced by its variable's value
    /// (see [`resolve_server`]). All missing names are reported at once.
    pub fn resolve(&self, vars: &Variables) -> Result<Vec<McpServerSpec>, FileError> {
        let file = file_name(&self.name);
        let mut missing = BTreeSet::new();
        let mut resolved = Vec::with_capacity(self.servers.len());
        for server in &self.servers {
            resolved.push(fill_server(&file, server, vars, &mut missing)?);
        }
        if !missing.is_empty() {
            return Err(FileError::MissingVariables {
                file,
                names: missing.into_iter().collect(),
            });
        }
        Ok(resolved)
    }
}

/// One server with every `{{.NAME}}` placeholder (command, args, env values,
/// URL) replaced by its value in `vars`: what starting or calling the server
/// uses. The database keeps the placeholders, never the values (they are
/// often secrets and the database is replicated), so whoever starts an MCP
/// server resolves it at that moment, usually through
/// [`Station::resolve_mcp_server`](crate::Station::resolve_mcp_server).
///
/// `file` names the config in errors; missing names are all reported, never a value.
pub fn resolve_server(
    file: &str,
    server: &McpServerSpec,
    vars: &Variables,
) -> Result<McpServerSpec, FileError> {
    let mut missing = BTreeSet::new();
    let resolved = fill_server(file, server, vars, &mut missing)?;
    if !missing.is_empty() {
        return Err(FileError::MissingVariables {
            file: file.to_owned(),
            names: missing.into_iter().collect(),
        });
    }
    Ok(resolved)
}

/// Fills one server's placeholders; names not in `vars` go into `missing`.
fn fill_server(
    file: &str,
    server: &McpServerSpec,
    vars: &Variables,
    missing: &mut BTreeSet<String>,
) -> Result<McpServerSpec, FileError> {
    check_server(file, server)?;
    let mut fill = |value: &str| {
        fill_placeholders(value, vars, missing)
            .map_err(|problem| invalid_server(file, &server.name, &problem))
    };
    let command = server.command.as_deref().map(&mut fill).transpose()?;
    let url = server.url.as_deref().map(&mut fill).transpose()?;
    let mut args = Vec::with_capacity(server.args.len());
    for arg in &server.args {
        args.push(fill(arg)?);
    }
    let mut env = BTreeMap::new();
    for (key, value) in &server.env {
        env.insert(key.clone(), fill(value)?);
    }
    Ok(McpServerSpec {
        name: server.name.clone(),
        command,
        args,
        env,
        url,
    })
}

/// The shape written by [`render_mcp_config`]; field order is the key order in the file.
#[derive(Serialize)]
struct FileOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(rename = "mcpServers")]
    mcp_servers: BTreeMap<&'a str, ServerEntry<'a>>,
}

/// One server entry as written.
#[derive(Serialize)]
struct ServerEntry<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    args: &'a [String],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    env: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
}

/// Reads one `"name": {...}` entry of `mcpServers`.
fn parse_server(file: &str, name: String, entry: Value) -> Result<McpServerSpec, FileError> {
    let Value::Object(mut entry) = entry else {
        return Err(invalid_server(
            file,
            &name,
            "must be an object with `command` or `url`",
        ));
    };
    let command =
        take_string(&mut entry, "command").map_err(|p| invalid_server(file, &name, &p))?;
    let url = take_string(&mut entry, "url").map_err(|p| invalid_server(file, &name, &p))?;
    let args = take_args(&mut entry).map_err(|p| invalid_server(file, &name, &p))?;
    let env = take_env(&mut entry).map_err(|p| invalid_server(file, &name, &p))?;
    entry.retain(|key, _| !IGNORED_SERVER_KEYS.contains(&key.as_str()));
    if let Some(key) = entry.keys().next() {
        let problem = format!(
            "has key `{key}`, which Station does not support; remove it \
             (a server entry may have `command`, `args`, `env` and `url`)"
        );
        return Err(invalid_server(file, &name, &problem));
    }
    Ok(McpServerSpec {
        name,
        command,
        args,
        env,
        url,
    })
}

/// Checks what both parsing and resolving rely on: a usable name, exactly one way to reach
/// the server, and placeholders of the supported form.
fn check_server(file: &str, server: &McpServerSpec) -> Result<(), FileError> {
    if server.name.trim().is_empty() {
        return Err(invalid(
            file,
            "a server in `mcpServers` has an empty name; give it one",
        ));
    }
    match (&server.command, &server.url) {
        (Some(_), Some(_)) => {
            return Err(invalid_server(
                file,
                &server.name,
                "has both `command` and `url`; keep `command` for a local (stdio) server \
                 or `url` for a remote (HTTP) one",
            ));
        }
        (None, None) => {
            return Err(invalid_server(
                file,
                &server.name,
                "has neither `command` nor `url`; add `command` to start a local (stdio) \
                 server or `url` to reach a remote (HTTP) one",
            ));
        }
        _ => {}
    }
    for value in template_values(server) {
        split_placeholders(value)
            .map_err(|problem| invalid_server(file, &server.name, &problem))?;
    }
    Ok(())
}

/// The values that may hold placeholders: command, args, env values and URL.
fn template_values(server: &McpServerSpec) -> impl Iterator<Item = &str> {
    server
        .command
        .iter()
        .chain(&server.args)
        .chain(server.env.values())
        .chain(&server.url)
        .map(String::as_str)
}

/// Removes an optional string key.
fn take_string(entry: &mut Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match entry.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

/// Removes the optional `args` list.
fn take_args(entry: &mut Map<String, Value>) -> Result<Vec<String>, String> {
    let items = match entry.remove("args") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("`args` must be a list of strings".to_owned()),
    };
    let mut args = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let Value::String(arg) = item else {
            return Err(format!(
                "`args[{index}]` must be a string; put quotes around it"
            ));
        };
        args.push(arg);
    }
    Ok(args)
}

/// Removes the optional `env` object.
fn take_env(entry: &mut Map<String, Value>) -> Result<BTreeMap<String, String>, String> {
    let pairs = match entry.remove("env") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(pairs)) => pairs,
        Some(_) => return Err("`env` must be an object of NAME: \"value\" pairs".to_owned()),
    };
    let mut env = BTreeMap::new();
    for (key, value) in pairs {
        let Value::String(value) = value else {
            return Err(format!(
                "`env.{key}` must be a string; put quotes around it"
            ));
        };
        env.insert(key, value);
    }
    Ok(env)
}

/// A part of a value: literal text, or the name inside a `{{.NAME}}` placeholder.
enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

/// Splits a value into text and placeholders, or says what is wrong with a template in it.
fn split_placeholders(value: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        pieces.push(Piece::Text(&rest[..start]));
        let after_open = &rest[start + 2..];
        let Some(end) = after_open.find("}}") else {
            return Err(
                "has `{{` without a closing `}}`; write placeholders as {{.NAME}}".to_owned(),
            );
        };
        let inside = &after_open[..end];
        let name = inside
            .trim()
            .strip_prefix('.')
            .filter(|name| is_variable_name(name));
        let Some(name) = name else {
            return Err(format!(
                "has the template `{{{{{inside}}}}}`, which Station cannot fill; \
                 only {{{{.NAME}}}} placeholders (letters, digits, _) are supported"
            ));
        };
        pieces.push(Piece::Placeholder(name));
        rest = &after_open[end + 2..];
    }
    pieces.push(Piece::Text(rest));
    Ok(pieces)
}

/// Whether `value` refers to a variable (`{{.NAME}}`) rather than holding a literal.
pub fn has_placeholder(value: &str) -> bool {
    split_placeholders(value)
        .is_ok_and(|pieces| pieces.iter().any(|p| matches!(p, Piece::Placeholder(_))))
}

/// Whether `name` can be a variable: a letter or `_`, then letters, digits or `_`.
fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Replaces the placeholders of one value; names not in `vars` go into `missing`.
fn fill_placeholders(
    value: &str,
    vars: &Variables,
    missing: &mut BTreeSet<String>,
) -> Result<String, String> {
    let mut filled = String::with_capacity(value.len());
    for piece in split_placeholders(value)? {
        match piece {
            Piece::Text(text) => filled.push_str(text),
            Piece::Placeholder(name) => match vars.get(name) {
                Some(found) => filled.push_str(found),
                None => {
                    missing.insert(name.to_owned());
                }
            },
        }
    }
    Ok(filled)
}

/// The name errors use for the file.
fn file_name(stem: &str) -> String {
    format!("{stem}.json")
}

fn invalid(file: &str, problem: &str) -> FileError {
    FileError::Invalid {
        file: file.to_owned(),
        problem: problem.to_owned(),
    }
}

fn invalid_server(file: &str, server: &str, problem: &str) -> FileError {
    invalid(file, &format!("MCP server `{server}` {problem}"))
}

#[cfg(test)]
mod tests;
